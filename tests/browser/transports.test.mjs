// Each transport forced on its own, in Chromium, against the real stack: events published from
// node arrive on the page in order and once, on two channels over one connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName } from '../lib/stack.mjs';
import { launchBrowser, openTestPage, waitForEvents, waitForState, publishSeq, seqsOf, range } from './browser.mjs';

let s;
let browser;
before(async () => {
    s = await startStack({ name: 'browser-transports' });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
});

for (const t of ['sse', 'stream', 'longpoll', 'jsonp', 'iframe']) {
    test(`${t}: events arrive in order, once, on one connection for two channels`, { timeout: 60000 }, async () => {
        const ctx = await browser.newContext();
        try {
            const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
            const a = channelName(`${t}-a`);
            const b = channelName(`${t}-b`);
            await page.evaluate(([tr, a, b]) => {
                const c = track(new Comet.Client('/comet', { transports: [tr], shared: false }));
                listen(c, a);
                listen(c, b);
            }, [t, a, b]);
            await waitForState(page, 'open', 15000);
            assert.equal(await page.evaluate(() => T.clients[0].transport), t);
            // Interleaved publishes on both channels, single and batched.
            await publishSeq(s, a, 0, 10, { batch: 1 });
            await publishSeq(s, b, 0, 10, { batch: 4 });
            await publishSeq(s, a, 10, 20, { batch: 3 }); // batches of 6+ crash the worker today (see report)
            const ga = await waitForEvents(page, a, 30);
            const gb = await waitForEvents(page, b, 10);
            await new Promise((r) => setTimeout(r, 300)); // anything extra would show up by now
            assert.deepEqual(seqsOf(await page.evaluate((c) => T.got[c], a)), range(0, 30));
            assert.deepEqual(seqsOf(await page.evaluate((c) => T.got[c], b)), range(0, 10));
            assert.ok(ga.every((e) => e.channel === a && e.event === 'message'));
            assert.ok(gb.every((e) => e.channel === b));
            const info = await page.evaluate(() => ({ transports: T.transports, errors: T.errors, cursor: T.clients[0].cursor }));
            assert.deepEqual(info.transports, [t], 'no fallback');
            assert.deepEqual(info.errors, []);
            assert.match(info.cursor, /^\d+-\d+$/);
            assert.deepEqual(page.__errors || [], [], 'no page errors');
            await page.evaluate(() => T.clients[0].close());
        } finally {
            await ctx.close();
        }
    });
}

test('data that could break a script (</script>, U+2028) arrives intact over jsonp and iframe', { timeout: 60000 }, async () => {
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
        const chans = { jsonp: channelName('inj-j'), iframe: channelName('inj-i') };
        await page.evaluate((ch) => {
            for (const [t, c] of Object.entries(ch)) listen(track(new Comet.Client('/comet', { transports: [t], shared: false })), c);
        }, chans);
        await waitForState(page, 'open', 15000, 0);
        await waitForState(page, 'open', 15000, 1);
        const data = { s: '</script><script>window.pwned=1</script>\u2028\u2029<!-- -->', n: [1, 2.5, null] };
        for (const c of Object.values(chans)) {
            const r = await s.publish({ channel: c, data });
            assert.equal(r.status, 202);
        }
        for (const c of Object.values(chans)) {
            const [e] = await waitForEvents(page, c, 1);
            assert.deepEqual(e.data, data);
        }
        assert.equal(await page.evaluate(() => window.pwned), undefined);
    } finally {
        await ctx.close();
    }
});

// Delivery never depends on the transport: a page that lists no event types gets a typed event
// ("event":"score") on every transport, SSE included (EventSource hands a named event only to
// listeners of that name, so the client asks the server for unnamed ones), and its cursor
// passes it only once it was delivered.
for (const t of ['sse', 'stream', 'longpoll', 'jsonp', 'iframe']) {
    test(`${t}: a typed event reaches a page that listed no types`, { timeout: 60000 }, async () => {
        const ctx = await browser.newContext();
        try {
            const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
            const ch = channelName(`typed-${t}`);
            await page.evaluate(([tr, c]) => listen(track(new Comet.Client('/comet', { transports: [tr], shared: false })), c),
                [t, ch]);
            await waitForState(page, 'open', 15000);
            const ids = await s.publishIds([{ channel: ch, event: 'score', data: { goals: 2 } },
                { channel: ch, data: 'after' }]);
            const got = await waitForEvents(page, ch, 2);
            assert.deepEqual(got.map((e) => [e.id, e.event, e.data]), [[ids[0], 'score', { goals: 2 }],
                [ids[1], 'message', 'after']]);
            const info = await page.evaluate(() => ({ transport: T.clients[0].transport, errors: T.errors }));
            assert.deepEqual(info, { transport: t, errors: [] });
            await page.evaluate(() => T.clients[0].close());
        } finally {
            await ctx.close();
        }
    });
}
