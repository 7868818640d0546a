// The page keeps every event, in order and once, while the server side restarts under it:
// Apache stopped and started, Apache restarted gracefully (USR1), the worker restarted, all
// while events keep being published (through a second Apache instance when the first is down).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, sleep } from '../lib/stack.mjs';
import { launchBrowser, openTestPage, waitForEvents, waitForState, assertAllOnce } from './browser.mjs';

let s;
let browser;
before(async () => {
    // Heartbeats every 3 s, so that a page notices a cut stream (idleTimeout) within the test's waits.
    s = await startStack({ name: 'browser-resilience', apache: 2, env: { COMET_SSE_HEARTBEAT: '3' } });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
});

/** Publishes seq from..to-1 on channel every `every` ms through instance; resolves when done. */
async function publishing(channel, from, to, { instance = 1, every = 40 } = {}) {
    for (let i = from; i < to; i++) {
        const r = await s.publish({ channel, data: { seq: i } }, { instance });
        if (r.status !== 202) throw new Error(`publish ${i} answered ${r.status} ${r.text}`);
        await sleep(every);
    }
}

/** How many events the page has on channel. */
const count = (page, ch) => page.evaluate((c) => (T.got[c] || []).length, ch);

async function withPage(transport, fn) {
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, `http://127.0.0.1:${s.port(0)}`);
        const ch = channelName(`r-${transport}`);
        await page.evaluate(([t, c]) => listen(track(new Comet.Client('/comet', { transports: [t], shared: false, idleTimeout: 10000 })), c),
            [transport, ch]);
        await waitForState(page, 'open');
        await fn(page, ch);
        // Open again in the end. The events after an outage come as a replay that the open
        // frame ends: a page may count them all a moment before it reads that frame (on a
        // busy machine, more than a moment).
        await waitForState(page, 'open');
        const info = await page.evaluate(() => ({ transports: T.transports, states: T.states, timeline: T.timeline }));
        assert.deepEqual(info.transports, [transport], 'it never fell back');
        assert.equal(info.states.at(-1), 'open', `the client's last state; timeline: ${info.timeline.join('; ')}`);
    } finally {
        await ctx.close();
    }
}

for (const t of ['sse', 'stream', 'longpoll', 'jsonp', 'iframe']) {
    test(`${t}: Apache stopped and started mid-stream: nothing lost, nothing twice`, { timeout: 120000 }, async () => {
        await withPage(t, async (page, ch) => {
            const pub = publishing(ch, 0, 60);
            // Mid-stream: some events have arrived.
            await waitForEvents(page, ch, 5);
            await s.stopComponent('apache', { instance: 0 });
            try {
                await page.waitForFunction(() => T.clients[0].state !== 'open', null, { timeout: 30000, polling: 50 });
                // Down a while, as the client retries.
                await sleep(1000);
            } finally {
                await s.startApache(0);
            }
            await pub;
            await assertAllOnce(page, s, ch, 60, { instance: 1 });
            const states = await page.evaluate(() => T.states);
            assert.ok(states.includes('reconnecting'), `states ${states}`);
        });
    });
}

for (const t of ['sse', 'stream', 'longpoll']) {
    test(`${t}: graceful Apache restart (USR1) mid-stream: nothing lost, nothing twice`, { timeout: 120000 }, async () => {
        await withPage(t, async (page, ch) => {
            const pub = publishing(ch, 0, 50);
            await waitForEvents(page, ch, 5);
            await s.reloadWeb(0);
            // Events keep coming after the first restart, then a second one.
            const n = await count(page, ch);
            await waitForEvents(page, ch, Math.min(n + 5, 50));
            await s.reloadWeb(0);
            await pub;
            await assertAllOnce(page, s, ch, 50, { instance: 1 });
        });
    });
}

for (const t of ['sse', 'longpoll']) {
    test(`${t}: worker restarted mid-stream: the queued events arrive after it, in order, once`, { timeout: 120000 }, async () => {
        await withPage(t, async (page, ch) => {
            const pub = publishing(ch, 0, 50, { instance: 0 });
            await waitForEvents(page, ch, 5);
            await s.stopComponent('worker');
            try {
                // Down a while, as events queue up.
                await sleep(1500);
            } finally {
                await s.startWorker();
            }
            await pub;
            await assertAllOnce(page, s, ch, 50);
        });
    });
}
