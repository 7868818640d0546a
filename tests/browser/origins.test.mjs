// A page on another origin than the server, with no CORS (README "Cross-origin pages"): the
// client does not try the forever iframe (its frames could not call the page) and gets its
// events over JSONP; a raw iframe's scripts really are cut off from the page (SecurityError).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startStack, channelName, ROOT, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser, testPageHtml, waitForEvents, waitForState } from './browser.mjs';

let s;
let browser;
let site; // the page's own server: another origin (port) than the stack's
before(async () => {
    s = await startStack({ name: 'browser-origins' });
    browser = await launchBrowser();
    // Served for real, not by Playwright's routes: Chromium counts a routed page as public and
    // then refuses it any request to 127.0.0.1 (local network access), which real sites never meet.
    const files = { '/page.html': ['text/html', testPageHtml('/comet.js')],
        '/comet.js': ['application/javascript', fs.readFileSync(path.join(ROOT, 'www/comet.js'))] };
    site = http.createServer((req, res) => {
        const f = files[req.url];
        res.writeHead(f ? 200 : 404, { 'Content-Type': f ? f[0] : 'text/plain' });
        res.end(f ? f[1] : 'not found');
    });
    await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
});
after(async () => {
    await browser?.close();
    await s?.stop();
    site?.close();
});

async function foreignPage(ctx) {
    const page = await ctx.newPage();
    await page.goto(`http://127.0.0.1:${site.address().port}/page.html`, { timeout: 30000 });
    await page.waitForFunction(() => !!window.Comet && !!window.T, null, { timeout: 10000 });
    return page;
}

test('across origins the client skips the iframe as unsupported and receives over JSONP', { timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const page = await foreignPage(ctx);
        const ch = channelName('xo');
        await page.evaluate(([url, c]) => listen(track(new Comet.Client(url, { transports: ['iframe', 'jsonp'], shared: false })), c),
            [s.url(), ch]);
        await waitForState(page, 'open');
        const info = await page.evaluate(() => ({ transport: T.clients[0].transport, errors: T.errors }));
        assert.equal(info.transport, 'jsonp');
        assert.equal(info.errors[0]?.kind, 'unsupported', JSON.stringify(info.errors));
        assert.equal(info.errors[0].transport, 'iframe');
        assert.equal((await s.publish({ channel: ch, data: 'over jsonp' })).status, 202);
        const [env] = await waitForEvents(page, ch, 1);
        assert.equal(env.data, 'over jsonp');
        assert.equal(await page.evaluate(() => document.querySelectorAll('iframe').length), 0, 'no iframe was made');
    } finally {
        await ctx.close();
    }
});

test('a raw forever iframe from the server cannot reach the page: parent.NAME throws SecurityError', { timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const page = await foreignPage(ctx);
        const src = `${s.url()}/iframe?channel=${channelName('xo-raw')}&callback=cb`;
        const loaded = page.waitForEvent('framenavigated', { predicate: (f) => f.url() === src, timeout: WAIT_MS });
        await page.evaluate((u) => {
            window.cb = function () {};
            const f = document.createElement('iframe');
            f.src = u;
            document.body.appendChild(f);
        }, src);
        const frame = await loaded;
        const outcome = await frame.evaluate(() => {
            try {
                return typeof parent.cb;
            } catch (e) {
                return e.name;
            }
        });
        assert.equal(outcome, 'SecurityError');
    } finally {
        await ctx.close();
    }
});
