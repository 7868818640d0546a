// A proxy that buffers text/event-stream (as some do) between the page and Apache: SSE never
// says comet-open, so the client falls back on its own, and keeps its choice for the page's life.
// (It passes no WebSocket either: with the default order the client starts there.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, sleep, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser, openTestPage, waitForEvents, waitForState, startProxy, publishSeq, assertAllOnce } from './browser.mjs';

// How long a stream may take to say it is open before the client takes it for buffered: the
// client's default, which a stream that is not held back meets on a busy machine too.
const STALL = 8000;

let s;
let browser;
let proxy;
before(async () => {
    s = await startStack({ name: 'browser-fallback' });
    proxy = await startProxy(`http://127.0.0.1:${s.port()}`, { bufferSse: true });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await proxy?.close();
    await s?.stop();
});

async function fallsBack(transports, expected) {
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, proxy.origin, { src: '/comet.js' });
        const ch = channelName('fb');
        const sse0 = proxy.counts['/comet/sse'] || 0;
        const t0 = Date.now();
        await page.evaluate(([t, c, stall]) => listen(track(new Comet.Client('/comet', { transports: t || undefined,
            shared: false, stallTimeout: stall })), c), [transports, ch, STALL]);
        await waitForState(page, 'open', STALL + WAIT_MS);
        const ms = Date.now() - t0;
        const info = await page.evaluate(() => ({ transport: T.clients[0].transport, transports: T.transports, errors: T.errors }));
        assert.equal(info.transport, expected);
        // The default order tries WebSocket first, which this proxy does not pass: refused at once.
        const tried = transports ? ['sse'] : ['websocket', 'sse'];
        assert.deepEqual(info.transports, [...tried, expected]);
        const stall = info.errors.find((e) => e.transport === 'sse');
        assert.equal(stall.kind, 'stall');
        if (!transports) assert.equal(info.errors[0].kind, 'refused', JSON.stringify(info.errors));
        assert.ok(ms >= STALL - 500 && ms < STALL + WAIT_MS, `open after ${ms} ms (stallTimeout ${STALL})`);
        await publishSeq(s, ch, 0, 10, { batch: 2 });
        await waitForEvents(page, ch, 10);
        // The choice holds: reconnects go straight to the fallback, never to SSE again.
        await page.evaluate(() => T.clients[0].reconnect());
        await sleep(300);
        await page.evaluate(() => T.clients[0].reconnect());
        await waitForState(page, 'open');
        await publishSeq(s, ch, 10, 5);
        await assertAllOnce(page, s, ch, 15);
        assert.equal(proxy.counts['/comet/sse'] - sse0, 1, 'SSE was tried once only');
        assert.equal(await page.evaluate(() => T.clients[0].transport), expected);
    } finally {
        await ctx.close();
    }
}

test('a buffered SSE stalls and falls back to long-poll (sse, longpoll)', { timeout: 60000 }, async () => {
    await fallsBack(['sse', 'longpoll'], 'longpoll');
});

test('with the default order, a buffered SSE falls back to XHR streaming, which the proxy passes', { timeout: 60000 }, async () => {
    await fallsBack(null, 'stream');
});
