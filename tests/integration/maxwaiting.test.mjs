// External mode's bound: with COMET_MAX_WAITING=5 one comet.fcgi holds at most 5 waiting
// requests; the 6th (poll, SSE, stream or iframe) gets 503 with Retry-After and a JSON
// error at once, publishes and stats still work, and once some leave new ones are taken.
// A refused request takes no place: the bound holds exactly, however many were refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, request, query, EXTERNAL, WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';

const SKIP = !EXTERNAL && 'external mode only (COMET_IT_SERVER=lighttpd or proxy): under mod_fcgid the ' +
    'bound is the number of processes (FcgidMaxProcesses)';
const MAX = 5;

let s;
before(async () => {
    if (!EXTERNAL) return;
    s = await startStack({ env: { COMET_MAX_WAITING: String(MAX), COMET_SSE_HEARTBEAT: '1' } });
});
after(async () => {
    await s?.stop();
});

const waiting = async () => (await s.stats()).waiting;

/** Every waiting endpoint refuses one more request: 503, Retry-After, a JSON error, at once. */
async function assertFull(ch, what) {
    const urls = [
        ['poll', `${s.url()}/poll${query({ channel: ch, timeout: 20 })}`],
        ['jsonp poll', `${s.url()}/poll${query({ channel: ch, timeout: 20, callback: 'cb' })}`],
        ['sse', `${s.url()}/sse${query({ channel: ch })}`],
        ['stream', `${s.url()}/stream${query({ channel: ch })}`],
        ['iframe', `${s.url()}/iframe${query({ channel: ch, callback: 'cb' })}`],
    ];
    for (const [name, url] of urls) {
        const t = Date.now();
        const r = await request(url, { timeoutMs: WAIT_MS }).catch((e) => {
            throw new Error(`${what}: ${name} was not refused: ${e.message}`);
        });
        assertError(r, 503, `${what}: ${name}`);
        assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/, `${what}: ${name}: Retry-After`);
        assert.ok(Date.now() - t < PROMPT_MS, `${what}: ${name} took ${Date.now() - t} ms to be refused`);
    }
}

test(`COMET_MAX_WAITING=${MAX}: the ${MAX + 1}th waiting request gets 503 with Retry-After; publish and stats ` +
    'still work; after some leave, new ones are taken', { timeout: 90000, skip: SKIP }, async () => {
    const ch = channelName('full');
    const other = channelName('free');
    assert.equal(await waiting(), 0);
    const streams = [];
    const polls = [];
    try {
        for (let i = 0; i < 3; i++) streams.push(s.sse({ channel: ch }));
        await Promise.all(streams.map((r) => r.waitOpen()));
        for (let i = 0; i < 2; i++) {
            const p = s.poll({ channel: ch, timeout: 25 });
            p.catch(() => {});
            polls.push(p);
        }
        await s.untilWaiting((n) => n === MAX, { what: `${MAX} requests waiting`, requests: polls });

        await assertFull(ch, 'full');
        await assertFull(ch, 'still full after refusals');
        const pub = await s.publish({ channel: other, data: 'while full' });
        assert.equal(pub.status, 202, `publish while full: ${pub.text}`);
        assert.equal(await waiting(), MAX, 'the refused requests changed the waiting count');

        // The two polls leave with an event; the streams get it too and stay.
        const [id] = await s.publishIds({ channel: ch, data: 'leave' });
        for (const p of polls) {
            const r = await p;
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.json.events.map((e) => e.id), [id]);
        }
        for (const r of streams) await r.waitEnvelopes(1);
        // One stream's client goes (noticed at a heartbeat: 1 s).
        streams.shift().close();
        await s.untilWaiting((n) => n === 2, { what: 'the waiting count down to 2' });

        // Three places: taken by a poll, a stream and a poll; then full again.
        const p1 = s.poll({ channel: ch, timeout: 25 });
        p1.catch(() => {});
        streams.push(s.sse({ channel: ch }));
        await streams.at(-1).waitOpen();
        assert.equal(streams.at(-1).status, 200);
        const p2 = s.poll({ channel: ch, timeout: 25 });
        p2.catch(() => {});
        await s.untilWaiting((n) => n === MAX, { what: `${MAX} requests waiting again`, requests: [p1, p2] });
        await assertFull(ch, 'full again');
        const [id2] = await s.publishIds({ channel: ch, data: 'again' });
        for (const p of [p1, p2]) {
            const r = await p;
            assert.equal(r.status, 200, `a poll taken after others left: ${r.text}`);
            assert.deepEqual(r.json.events.map((e) => e.id), [id2]);
        }
    } finally {
        for (const r of streams) r.close();
    }
    // All gone: the whole bound is free again, whatever was refused on the way.
    await s.untilWaiting((n) => n === 0, { what: 'no request waiting' });
    const again = Array.from({ length: MAX }, () => s.sse({ channel: ch }));
    try {
        await Promise.all(again.map((r) => r.waitOpen()));
        assert.deepEqual(again.map((r) => r.status), Array(MAX).fill(200));
        await assertFull(ch, `full with ${MAX} new streams`);
    } finally {
        for (const r of again) r.close();
    }
});
