// SSE stream lifetime and heartbeats (COMET_SSE_LIFETIME=6, COMET_SSE_HEARTBEAT=1), resuming
// across the gap, and padding on a second web node with COMET_SSE_PADDING=1000. The lifetime
// is short, and long enough for a stream to open and get a live event on a busy machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, PROMPT_MS } from '../lib/stack.mjs';
import { assertSseEnvelopes } from '../lib/checks.mjs';

const LIFETIME = 6;
let s;
before(async () => {
    s = await startStack({
        env: { COMET_SSE_LIFETIME: String(LIFETIME), COMET_SSE_HEARTBEAT: '1' },
        web: [{}, { env: { COMET_SSE_PADDING: '1000' } }],
    });
});
after(async () => {
    await s?.stop();
});

function assertClean(r, what) {
    assert.equal(r.status, 200, what);
    assert.equal(r.error, null, `${what}: ${r.error && r.error.message}`);
    assert.ok(!/<html|<!DOCTYPE/i.test(r.raw), `${what}: HTML in the stream`);
    assert.equal(r.items.filter((x) => x.type === 'other').length, 0, `${what}: junk lines`);
}

test('a stream sends : ping comments and ends by itself after COMET_SSE_LIFETIME; resuming loses nothing',
    { timeout: 60000 }, async () => {
        const ch = channelName('life');
        const r = s.sse({ channel: ch });
        let r2;
        try {
            await r.waitOpen();
            const [id0] = await s.publishIds({ channel: ch, data: { seq: 0 } });
            await r.waitEnvelopes(1);
            await r.waitEnd();
            const life = r.endedAt - r.startedAt;
            assert.ok(life >= LIFETIME * 1000 - 500 && life < LIFETIME * 1000 + PROMPT_MS,
                `the stream lived ${life} ms (COMET_SSE_LIFETIME=${LIFETIME})`);
            assertClean(r, 'first stream');
            const pings = r.comments.filter((c) => c.text.trim() === 'ping');
            assert.ok(pings.length >= 1, `no ': ping' in ${JSON.stringify(r.raw)}`);
            assert.equal(r.envelopes.length, 1);
            assert.equal(r.envelopes[0].id, id0);

            // Published while no stream is open.
            const gap = [];
            for (let seq = 1; seq <= 3; seq++) gap.push(...(await s.publishIds({ channel: ch, data: { seq } })));
            r2 = s.sse({ channel: ch }, { lastEventId: r.lastEventId });
            const evs = await r2.waitEnvelopes(3);
            assertSseEnvelopes(evs);
            assert.deepEqual(evs.map((e) => e.id), gap);
            const [id4] = await s.publishIds({ channel: ch, data: { seq: 4 } });
            await r2.waitEnvelopes(4);
            await r2.waitEnd();
            assertClean(r2, 'second stream');
            assert.deepEqual(r2.envelopes.map((e) => e.id), [...gap, id4], 'duplicates or losses on the second stream');
        } finally {
            r.close();
            r2?.close();
        }
    });

test('heartbeats keep coming on an idle stream (about one per second)', { timeout: 60000 }, async () => {
    const r = s.sse({ channel: channelName('hb') });
    try {
        await r.waitEnd();
        const pings = r.comments.filter((c) => c.text.trim() === 'ping');
        assert.ok(pings.length >= LIFETIME - 2, `${pings.length} pings in a ${LIFETIME} s stream with a 1 s heartbeat`);
        assertClean(r, 'idle stream');
    } finally {
        r.close();
    }
});

/** Bytes of comment (with their line ends and blank lines) directly after each item that pred selects. */
function paddingAfter(items, pred) {
    const out = [];
    items.forEach((x, i) => {
        if (!pred(x, i)) return;
        let n = 0;
        for (let k = i + 1; k < items.length && items[k].type === 'comment' && items[k].text.trim() !== 'ping'; k++)
            n += items[k].bytes + 1;
        out.push(n);
    });
    return out;
}

test('COMET_SSE_PADDING=1000: each write is followed by a comment of at least 1000 bytes', { timeout: 60000 },
    async () => {
        const ch = channelName('pad');
        await s.publishIds([{ channel: ch, data: { seq: 0 } }, { channel: ch, data: { seq: 1 } }]);
        const r = s.sse({ channel: ch, since: 0 }, { instance: 1 });
        const plain = s.sse({ channel: ch, since: 0 }, { instance: 0 });
        try {
            await r.waitEnvelopes(2);
            await plain.waitEnvelopes(2);
            await s.publishIds({ channel: ch, event: 'x', data: { seq: 2 } });
            await r.waitEnvelopes(3);
            await plain.waitEnvelopes(3);
            await r.waitEnd();
            await plain.waitEnd();
            assertClean(r, 'padded stream');
            assertSseEnvelopes(r.envelopes);
            assert.deepEqual(r.envelopes.map((e) => e.json.data.seq), [0, 1, 2]);
            // "after each write": a write may carry several events (a replay, in external
            // mode), so what must be padded is the end of each run of events.
            const pads = paddingAfter(r.items, (x, i) => x.type === 'event' && r.items[i + 1]?.type !== 'event');
            assert.ok(pads.length >= 2, `runs of events: ${pads.length}`);
            assert.ok(pads.every((n) => n >= 1000), `comment bytes after each run of events: ${pads}`);
            const afterPings = paddingAfter(r.items, (x) => x.type === 'comment' && x.text.trim() === 'ping');
            assert.ok(afterPings.length >= 1, 'no ping on the padded stream');
            assert.ok(afterPings.every((n) => n >= 1000), `comment bytes after each ping: ${afterPings}`);
            // Without the setting, no padding.
            assert.ok(plain.comments.every((c) => c.bytes < 100), 'padding on the instance without it');
        } finally {
            r.close();
            plain.close();
        }
    });

test('typed events: raw EventSource users get `event: score`; typed=0 (what comet.js asks for) sends the ' +
    'same events unnamed, the type in the envelope; the server\'s comet-* signals keep their names',
{ timeout: 60000 }, async () => {
    const ch = channelName('typed');
    const ids = await s.publishIds([{ channel: ch, event: 'score', data: 1 }, { channel: ch, data: 2 }]);
    const typed = s.sse({ channel: ch, since: 0 });
    const untyped = s.sse({ channel: ch, since: 0, typed: 0 });
    try {
        for (const r of [typed, untyped]) {
            await r.waitOpen();
            await r.waitEnvelopes(2);
        }
        // Replayed history, then a live typed event (framed once per kind for every stream).
        const [live] = await s.publishIds({ channel: ch, event: 'goal.home', data: 3 });
        for (const r of [typed, untyped]) await r.waitEnvelopes(3);
        const shape = (r) => r.envelopes.map((e) => [e.id, e.event, e.hasEventField, e.json?.event]);
        assert.deepEqual(shape(typed), [[ids[0], 'score', true, 'score'], [ids[1], 'message', false, 'message'],
            [live, 'goal.home', true, 'goal.home']]);
        assert.deepEqual(shape(untyped), [[ids[0], 'message', false, 'score'], [ids[1], 'message', false, 'message'],
            [live, 'message', false, 'goal.home']]);
        assert.equal(untyped.opens.length, 1, 'comet-open keeps its name');
        assertClean(untyped, 'typed=0');
    } finally {
        typed.close();
        untyped.close();
    }
    const bad = await s.poll({ channel: ch, typed: 'no' });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json?.error ?? '', /typed/);
});
