// Presence in the browser (README: Presence, The browser client): the demo page, opened as
// Alice, as Bob (tokens after #token=, made by what make run prints its links with) and anonymously in three
// separate browsers, lists who is here through client.presence() and updates on the client's
// 'join' and 'leave' events; a page that closes leaves the others' lists; presence events
// reach on('join'|'leave'), not the channel's subscribe functions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startStack, ROOT, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser } from './browser.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
let s;
let browser;
before(async () => {
    s = await startStack({
        name: 'browser-presence',
        env: { COMET_PUBLIC_CHANNELS: 'demo*', COMET_PRESENCE_CHANNELS: 'demo', COMET_JWT_SECRET: SECRET,
            COMET_LEAVE_GRACE: '1' },
    });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
});

/** The token `make run` prints a link with (tests/stack.sh demo-token), signed with this stack's secret. */
const token = (sub, name) => {
    const r = spawnSync(path.join(ROOT, 'tests/stack.sh'), ['demo-token', sub, name],
        { env: { ...process.env, COMET_JWT_SECRET: SECRET }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
};

/** Opens the demo page in a browser of its own (no shared tabs) as token's holder (or anonymously). */
async function visit(t) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${s.port()}/${t ? `#token=${t}` : ''}`, { timeout: 30000 });
    await page.waitForFunction(() => document.getElementById('state').textContent === 'open', null, { timeout: WAIT_MS });
    return { ctx, page };
}

/** The names page lists under "Here now", and its count. */
const here = (page) => page.evaluate(() => ({
    count: document.getElementById('here-count').textContent,
    names: [...document.querySelectorAll('#here li')].map((li) => li.textContent).sort(),
}));

test('the demo page lists who is here and follows joins and leaves', { timeout: 120000 }, async () => {
    const alice = await visit(token('alice', 'Alice'));
    try {
        await alice.page.evaluate(() => {
            window.subscribed = [];
            window.demoClient.subscribe('demo', (data, env) => window.subscribed.push(env.event));
        });
        const bob = await visit(token('bob', 'Bob'));
        const anon = await visit();
        const want = { count: '3', names: ['1 anonymous', 'Alice', 'Bob'] };
        for (const p of [alice.page, bob.page, anon.page])
            await p.waitForFunction((w) => {
                const names = [...document.querySelectorAll('#here li')].map((li) => li.textContent).sort();
                return document.getElementById('here-count').textContent === w.count && names.join() === w.names.join();
            }, want, { timeout: WAIT_MS });
        assert.deepEqual(await here(anon.page), want);
        const p = await alice.page.evaluate(() => window.demoClient.presence('demo'));
        assert.equal(p.count, 3);
        assert.deepEqual(p.members.map((m) => m.info.name).sort(), ['Alice', 'Bob']);

        await bob.ctx.close();
        // The leave's count shows at once; the list follows with the /presence read it triggers.
        await alice.page.waitForFunction(() => document.getElementById('log').textContent.includes('Bob left') &&
            document.getElementById('here-count').textContent === '2' &&
            [...document.querySelectorAll('#here li')].map((li) => li.textContent).sort().join() === '1 anonymous,Alice',
        null, { timeout: 30000 });
        assert.deepEqual(await here(alice.page), { count: '2', names: ['1 anonymous', 'Alice'] });
        assert.ok((await alice.page.textContent('#log')).includes('Bob joined'));
        assert.deepEqual(await alice.page.evaluate(() => window.subscribed), [],
            'presence events went to the channel\'s subscribe function');
        await anon.ctx.close();
        assert.deepEqual([...alice.page.errors, ...anon.page.errors], []);
    } finally {
        await alice.ctx.close();
    }
});
