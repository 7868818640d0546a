// WebSocket in real Chromium, behind nginx (comet.fcgi -w, the tunnel of nginx-conf/comet.conf)
// whatever deployment the rest of the browser tests use: the default transport is websocket,
// subscribe and publish go over the open socket, and a proxy that strips Upgrade makes the
// client fall back to SSE at once, with every event once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser, openTestPage, waitForEvents, waitForState, startProxy, publishSeq, assertAllOnce, seqsOf,
    range } from './browser.mjs';

let s;
let browser;
let proxy;
before(async () => {
    s = await startStack({ name: 'browser-websocket', server: 'nginx', env: { COMET_PUBLIC_CHANNELS: 'ws*' } });
    proxy = await startProxy(`http://127.0.0.1:${s.port()}`);
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await proxy?.close();
    await s?.stop();
});

test('the default transport is websocket; subscribe and publish go over the open socket', { timeout: 90000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
        const a = channelName('ws-a');
        const b = channelName('ws-b');
        await page.evaluate((c) => listen(track(new Comet.Client('/comet', { shared: false })), c), a);
        await waitForState(page, 'open');
        assert.equal(await page.evaluate(() => T.clients[0].transport), 'websocket',
            JSON.stringify(await page.evaluate(() => T.timeline)));
        await publishSeq(s, a, 0, 5);
        await waitForEvents(page, a, 5);
        // Events on b before the page subscribes to it are replayed from the page's cursor.
        await publishSeq(s, b, 0, 3);
        await page.evaluate((c) => listen(T.clients[0], c), b);
        await waitForEvents(page, b, 3);
        const ids = await page.evaluate(async (c) => (await T.clients[0].publish(c, { seq: 3 })).ids, b);
        assert.equal(ids.length, 1, 'publish over the socket answers with the ids');
        await waitForEvents(page, b, 4);
        await assertAllOnce(page, s, b, 4);
        await assertAllOnce(page, s, a, 5);
        const info = await page.evaluate(() => ({ transports: T.transports, errors: T.errors }));
        assert.deepEqual(info.transports, ['websocket'], JSON.stringify(info));
        assert.deepEqual(info.errors, []);
    } finally {
        await ctx.close();
    }
});

test('a proxy that strips Upgrade: the client falls back to SSE at once, with no loss', { timeout: 90000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, proxy.origin);
        const ch = channelName('ws-strip');
        // Events before the page starts, replayed from its cursor across the fallback.
        await publishSeq(s, ch, 0, 1);
        const [cursor] = await s.publishIds({ channel: 'ws-other', data: 0 });
        await publishSeq(s, ch, 1, 4);
        await page.evaluate(([c, from]) => listen(track(new Comet.Client('/comet', { shared: false, cursor: from })), c),
            [ch, cursor]);
        await waitForState(page, 'open', WAIT_MS);
        const info = await page.evaluate(() => ({ transport: T.clients[0].transport, transports: T.transports,
            errors: T.errors }));
        assert.equal(info.transport, 'sse');
        assert.deepEqual(info.transports, ['websocket', 'sse']);
        assert.equal(info.errors[0].kind, 'refused', JSON.stringify(info.errors));
        assert.ok(proxy.counts['/comet/ws'] >= 1, 'the upgrade went through the proxy');
        const got = await waitForEvents(page, ch, 4);
        assert.deepEqual(seqsOf(got), range(1, 5), 'the events after the cursor, once each');
        await publishSeq(s, ch, 5, 3);
        await waitForEvents(page, ch, 7);
        const all = await page.evaluate((c) => T.got[c].map((e) => e.data.seq), ch);
        assert.deepEqual(all, range(1, 8));
    } finally {
        await ctx.close();
    }
});
