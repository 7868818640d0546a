// Two tabs (pages of one browser context) share one connection through a leader tab; when the
// leader tab closes, the other takes over from its cursor while events keep coming.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, sleep, until, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser, openTestPage, waitForEvents, waitForState, startProxy, assertAllOnce } from './browser.mjs';

let s;
let browser;
let proxy;
before(async () => {
    // Short heartbeats: the server notices a stream the page closed (a reopen) at the next one.
    s = await startStack({ name: 'browser-shared', env: { COMET_SSE_HEARTBEAT: '2' } });
    proxy = await startProxy(`http://127.0.0.1:${s.port()}`); // counts the connections, buffers nothing
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await proxy?.close();
    await s?.stop();
});

test('two tabs: one SSE connection for both; the leader closes, the follower takes over with no loss or duplicate',
    { timeout: 90000 }, async () => {
        const ctx = await browser.newContext();
        try {
            const a = await openTestPage(ctx, proxy.origin, { src: '/comet.js' });
            const b = await openTestPage(ctx, proxy.origin, { src: '/comet.js' });
            const chA = channelName('tab-a');
            const chB = channelName('tab-b');
            await a.evaluate((c) => listen(track(new Comet.Client('/comet')), c), chA);
            await waitForState(a, 'open');
            await b.evaluate((c) => listen(track(new Comet.Client('/comet')), c), chB);
            await waitForState(b, 'open');
            // Settled: a leads, b follows, and one stream serves both.
            const roles = async () => ({ a: await a.evaluate(() => T.clients[0].role),
                b: await b.evaluate(() => T.clients[0].role), open: proxy.open['/comet/sse'] });
            let seen;
            await until(async () => {
                seen = await roles();
                return seen.a === 'leader' && seen.b === 'follower' && seen.open === 1;
            }, WAIT_MS, () => `a leader, a follower and one stream (${JSON.stringify(seen)})`);
            assert.equal(await a.evaluate(() => T.clients[0].role), 'leader');
            assert.equal(await b.evaluate(() => T.clients[0].role), 'follower');
            assert.equal(await b.evaluate(() => T.clients[0].transport), 'sse');
            assert.equal(proxy.open['/comet/sse'], 1, 'one open stream for the two tabs');
            await s.untilWaiting((n) => n === 1, { what: 'the server to count one waiting request' });

            // Events keep coming on both channels while the leader tab goes away.
            const N = 40;
            const pub = (async () => {
                for (let i = 0; i < N; i++) {
                    for (const ch of [chA, chB]) {
                        const r = await s.publish({ channel: ch, data: { seq: i } });
                        if (r.status !== 202) throw new Error(`publish: ${r.status}`);
                    }
                    await sleep(40);
                }
            })();
            await waitForEvents(b, chB, 8);
            await waitForEvents(a, chA, 8);
            await a.close({ runBeforeUnload: true });
            await until(() => b.evaluate(() => T.clients[0].role === 'leader'), WAIT_MS, 'b to lead');
            await pub;
            await assertAllOnce(b, s, chB, N);
            await until(() => proxy.open['/comet/sse'] === 1, WAIT_MS, () => `one stream again (${proxy.open['/comet/sse']})`);
            // Leading, b tries WebSocket first, which this proxy does not pass: refused, then SSE.
            assert.deepEqual(await b.evaluate(() => T.errors.filter((e) => e.kind !== 'end' &&
                !(e.kind === 'refused' && e.transport === 'websocket'))), []);
        } finally {
            await ctx.close();
        }
    });

test('shared: false gives a tab its own connection', { timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const a = await openTestPage(ctx, proxy.origin, { src: '/comet.js' });
        const b = await openTestPage(ctx, proxy.origin, { src: '/comet.js' });
        const before = proxy.open['/comet/sse'] || 0;
        for (const p of [a, b]) await p.evaluate(() => listen(track(new Comet.Client('/comet', { shared: false })), 'solo'));
        await waitForState(a, 'open');
        await waitForState(b, 'open');
        assert.equal(proxy.open['/comet/sse'] - before, 2);
    } finally {
        await ctx.close();
    }
});
