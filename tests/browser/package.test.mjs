// The browser client as an npm package (www/package.json). `npm pack` (which builds first:
// make client) carries exactly the files it should, at the top-level VERSION; the tarball,
// installed offline into a scratch project, works through require() (UMD), import() (ES
// module) and tsc (its types); its minified build and the README's React hook
// (www/examples/useComet.js, bundled with esbuild) receive events in Chromium from a real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { startStack, channelName, run, until, ROOT, WAIT_MS } from '../lib/stack.mjs';
import { readmeBlock } from '../lib/readme.mjs';
import { launchBrowser, openTestPage, waitForEvents, waitForState } from './browser.mjs';

const WWW = path.join(ROOT, 'www');
const TSC = path.join(ROOT, 'node_modules/.bin/tsc');
let tmp;
let app; // the scratch project the tarball is installed into
let packed; // npm pack's JSON for the tarball
let s;
let browser;

async function sh(cmd, args, cwd) {
    const r = await run(cmd, args, { cwd, env: process.env, timeoutMs: 180000 });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'comet-npm-'));
    [packed] = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', tmp], WWW));
    app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{"name":"scratch","private":true}\n');
    await sh('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], app);
    s = await startStack({ name: 'browser-package' });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const installed = (f) => path.join(app, 'node_modules/comet-fcgi-client', f);

test('npm pack carries the client, its types, the minified build and map, README and LICENSE, at VERSION', () => {
    assert.equal(packed.name, 'comet-fcgi-client');
    assert.equal(packed.version, fs.readFileSync(path.join(ROOT, 'VERSION'), 'utf8').trim(), 'www/package.json vs VERSION');
    assert.deepEqual(packed.files.map((f) => f.path).sort(), ['LICENSE', 'README.md', 'comet.d.cts', 'comet.d.mts',
        'comet.d.ts', 'comet.js', 'comet.mjs', 'dist/comet.min.js', 'dist/comet.min.js.map', 'package.json']);
    assert.equal(fs.readFileSync(installed('LICENSE'), 'utf8'), fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'));
    const min = fs.readFileSync(installed('dist/comet.min.js'), 'utf8');
    assert.ok(min.length < fs.readFileSync(installed('comet.js'), 'utf8').length / 1.5, 'minified');
    assert.match(min, /\/\/# sourceMappingURL=comet\.min\.js\.map\s*$/);
    const map = JSON.parse(fs.readFileSync(installed('dist/comet.min.js.map'), 'utf8'));
    assert.deepEqual(map.sources, ['../comet.js']);
    assert.equal(map.sourcesContent[0], fs.readFileSync(path.join(WWW, 'comet.js'), 'utf8'));
});

test('the installed package: require() gives the UMD client, import() the same client as an ES module', async () => {
    fs.writeFileSync(path.join(app, 'check.mjs'), `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const cjs = require('comet-fcgi-client');
const esm = await import('comet-fcgi-client');
const out = { require: typeof cjs.Client, global: globalThis.Comet === cjs,
    esm: esm.default === cjs && esm.Client === cjs.Client && esm.compareIds === cjs.compareIds,
    order: esm.compareIds('10-0', '9-5') };
const min = require('comet-fcgi-client/min');
out.min = typeof min.Client === 'function' && min !== cjs && min.version === cjs.version;
console.log(JSON.stringify(out));
`);
    const out = JSON.parse(await sh('node', ['check.mjs'], app));
    assert.deepEqual(out, { require: 'function', global: true, esm: true, order: 1, min: true });
});

test('the types: tsc accepts a typed use through import and require, and refuses a wrong one', async () => {
    fs.writeFileSync(path.join(app, 'use.mts'), `
import Comet, { Client, compareIds } from 'comet-fcgi-client';
const c: Client = new Client('/comet', { transports: ['sse', 'longpoll'], token: () => Promise.resolve('t') });
const sub: Comet.Subscription = c.subscribe<{ title: string }>('news', (data, env) => console.log(env.id, data.title));
sub.unsubscribe();
export const later: boolean = compareIds('2-0', '1-0') > 0 && typeof Comet.version === 'string';
`);
    fs.writeFileSync(path.join(app, 'use.cts'), `
import Comet = require('comet-fcgi-client');
const c = new Comet.Client('/comet');
c.on('state', (now: Comet.State, before: Comet.State) => console.log(before, now));
`);
    fs.writeFileSync(path.join(app, 'wrong.mts'), `
import { Client } from 'comet-fcgi-client';
new Client('/comet', { transports: ['carrier-pigeon'] });
`);
    const opts = ['--ignoreConfig', '--module', 'nodenext', '--strict', '--noEmit', '--lib', 'es2020,dom', '--types', ''];
    await sh(TSC, [...opts, 'use.mts', 'use.cts'], app);
    const r = await run(TSC, [...opts, 'wrong.mts'], { cwd: app, env: process.env });
    assert.notEqual(r.code, 0, 'tsc accepted a transport that does not exist');
    assert.match(r.stdout, /carrier-pigeon/);
});

test('dist/comet.min.js in Chromium: a page loading it subscribes and receives an event', { timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const origin = `http://127.0.0.1:${s.port()}`;
        await ctx.route(`${origin}/__comet.min.js`, (route) => route.fulfill({ status: 200,
            contentType: 'application/javascript', body: fs.readFileSync(installed('dist/comet.min.js')) }));
        const page = await openTestPage(ctx, origin, { src: '/__comet.min.js' });
        const ch = channelName('min');
        await page.evaluate((c) => listen(track(new Comet.Client('/comet', { shared: false })), c), ch);
        await waitForState(page, 'open');
        assert.equal((await s.publish({ channel: ch, data: { text: 'minified' } })).status, 202);
        const [env] = await waitForEvents(page, ch, 1);
        assert.deepEqual(env.data, { text: 'minified' });
        assert.deepEqual(page.__errors || [], []);
    } finally {
        await ctx.close();
    }
});

// A page whose component shows useComet(channel) and lets the test change the channel.
const HOOK_PAGE = (hook) => `
import { createElement as h, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useComet } from ${JSON.stringify(hook)};
function Feed() {
    const [channel, setChannel] = useState(window.FIRST);
    window.setChannel = setChannel;
    const events = useComet(channel);
    return h('ul', { id: 'feed', 'data-channel': channel }, events.map((e, i) => h('li', { key: i }, e.text)));
}
createRoot(document.getElementById('root')).render(h(Feed));
`;

test('the React hook (README = www/examples/useComet.js) shows events, and leaves the channel it switched from', { timeout: 90000 }, async () => {
    const hook = path.join(WWW, 'examples/useComet.js');
    assert.equal(readmeBlock('react-hook'), fs.readFileSync(hook, 'utf8'), 'the README prints the tested example');
    const out = await esbuild.build({ stdin: { contents: HOOK_PAGE(hook), resolveDir: tmp }, bundle: true, write: false,
        format: 'iife', logLevel: 'silent', define: { 'process.env.NODE_ENV': '"production"' },
        nodePaths: [path.join(app, 'node_modules'), path.join(ROOT, 'node_modules')] });
    const [a, b] = [channelName('react-a'), channelName('react-b')];
    const origin = `http://127.0.0.1:${s.port()}`;
    const ctx = await browser.newContext();
    try {
        await ctx.route(`${origin}/__react.html`, (route) => route.fulfill({ status: 200, contentType: 'text/html',
            body: `<!doctype html><div id="root"></div><script>window.FIRST = ${JSON.stringify(a)};</script>` +
                `<script>${out.outputFiles[0].text.replace(/<\/script/g, '<\\/script')}</script>` }));
        const page = await ctx.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.goto(`${origin}/__react.html`);
        const shown = () => page.evaluate(() => [...document.querySelectorAll('#feed li')].map((li) => li.textContent));
        // The hook subscribes in an effect, once the page has rendered: publish until it shows.
        let n = 0;
        await until(async () => (await s.publish({ channel: a, data: { text: `a${n++}` } })).status === 202 &&
            (await shown()).length > 0, WAIT_MS, 'the first event on the page', 300);
        assert.match((await shown())[0], /^a\d+$/);
        await page.evaluate((c) => window.setChannel(c), b);
        await page.waitForFunction((c) => document.getElementById('feed').dataset.channel === c &&
            document.querySelectorAll('#feed li').length === 0, b, { timeout: WAIT_MS });
        // The list is empty once the effect ran, so b is subscribed: the client resumes from its
        // cursor, in id order, so b0 comes first, unless a (and its "stale") were still subscribed.
        assert.equal((await s.publish({ channel: a, data: { text: 'stale' } })).status, 202);
        n = 0;
        await until(async () => (await s.publish({ channel: b, data: { text: `b${n++}` } })).status === 202 &&
            (await shown()).length > 0, WAIT_MS, 'the first event on b', 300);
        assert.equal((await shown())[0], 'b0', 'only b after the switch (the effect cleanup unsubscribed a)');
        assert.deepEqual(errors, []);
    } finally {
        await ctx.close();
    }
});
