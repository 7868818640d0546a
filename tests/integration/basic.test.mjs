// The core of the contract on one stack: publish → poll and SSE, envelopes, several
// channels, resuming, timed-out polls, ?wait=1, the subscribe/read race, and stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, sleep, until, assertIncreasing, request, SERVER, WAIT_MS, PROMPT_MS }
    from '../lib/stack.mjs';
import { assertJsonHeaders, assertEnvelope, assertSseEnvelopes } from '../lib/checks.mjs';

let s;
before(async () => {
    s = await startStack();
});
after(async () => {
    await s?.stop();
});

// First, while no stream from another test can still count as waiting.
test('stats: published counts events, waiting counts a waiting poll, worker alive, inbox empty',
    { timeout: 40000 }, async () => {
        const ch = channelName('st');
        const s0 = await until(async () => {
            const x = await s.stats();
            return x.inbox === 0 && x;
        }, WAIT_MS, 'inbox 0');
        // The first release's fields stay (added ones are allowed: /stats stays compatible).
        for (const k of ['archive', 'inbox', 'published', 'version', 'waiting', 'worker'])
            assert.ok(k in s0, `/stats lost ${k}`);
        assert.deepEqual(Object.keys(s0).sort(), ['accepted', 'accepted_events', 'archive', 'delivered', 'inbox',
            'published', 'version', 'waiting', 'waiting_by', 'webhook', 'worker']);
        assert.deepEqual(Object.keys(s0.archive).sort(), ['archived', 'backlog', 'dropped']);
        assert.deepEqual(Object.keys(s0.waiting_by).sort(), ['iframe', 'poll', 'sse', 'stream']);
        assert.match(s0.version, /^\d+\.\d+\.\d+$/);
        assert.equal(s0.worker.alive, true);
        assert.ok(Math.abs(Date.now() - s0.worker.last_heartbeat) < 60000,
            `last_heartbeat ${s0.worker.last_heartbeat}`);
        const r = await request(`${s.url()}/stats`);
        assertJsonHeaders(r, 'stats');

        await s.publishIds([{ channel: ch, data: 1 }, { channels: [ch, `${ch}-2`], data: 2 }]);
        const s1 = await s.stats();
        assert.equal(s1.published, s0.published + 3, 'published counts events, not requests');

        const base = s1.waiting;
        const p = s.poll({ channel: ch, timeout: 20 });
        const w = await s.untilWaiting(base + 1, { what: 'waiting to count the poll', requests: [p] });
        assert.ok(w);
        await s.publishIds({ channel: ch, data: 3 });
        assert.equal((await p).status, 200);
        await s.untilWaiting((n) => n <= base, { what: `waiting to drop back to ${base} after the answer` });
    });

test('publish → poll: a waiting poll gets the event at once; envelope is exactly {id, channel, event, data}',
    { timeout: 30000 }, async () => {
        const ch = channelName('pp');
        let answered = false;
        const { req: p } = await s.whenWaiting(() =>
            s.poll({ channel: ch, timeout: 20 }).finally(() => (answered = true)));
        await sleep(500);
        assert.equal(answered, false, 'the poll answered before anything was published');
        const data = { title: 'hello', n: 1, list: [1, 'ü', null, true, 2.5], s: 'line1\nline2 "q" \\ </script>' };
        const t = Date.now();
        const pub = await s.publish({ channel: ch, data });
        assert.equal(pub.status, 202, pub.text);
        assert.deepEqual(pub.json, { accepted: 1 });
        assertJsonHeaders(pub, 'publish');
        const r = await p;
        const ms = Date.now() - t;
        assert.equal(r.status, 200, r.text);
        assertJsonHeaders(r, 'poll');
        assert.ok(ms < PROMPT_MS, `poll answered ${ms} ms after the publish (its timeout is 20 s)`);
        assert.deepEqual(Object.keys(r.json).sort(), ['cursor', 'events']);
        assert.equal(r.json.events.length, 1);
        assertEnvelope(r.json.events[0], { channel: ch, data });
        assert.equal(r.json.cursor, r.json.events[0].id);
        assert.ok(!r.text.trim().includes('\n'), 'a poll answer is one line');
    });

test('data passes through unchanged: 64-bit integers, doubles, unicode, null', { timeout: 20000 }, async () => {
    const ch = channelName('data');
    const raw = `{"channel":"${ch}","data":{"big":9223372036854775807,"neg":-9223372036854775808,` +
        `"f":1.5,"u":"\\u00e9\\ud83d\\ude00","z":null}}`;
    const pub = await s.publish(null, { rawBody: raw, wait: true });
    assert.equal(pub.status, 200, pub.text);
    const nul = await s.publish({ channel: ch, data: null }, { wait: true });
    assert.equal(nul.status, 200, `data null is a JSON value: ${nul.text}`);
    const r = await s.poll({ channel: ch, since: 0, timeout: 1 });
    assert.equal(r.status, 200);
    assert.match(r.text, /"big":\s*9223372036854775807\b/, 'big integer changed');
    assert.match(r.text, /"neg":\s*-9223372036854775808\b/, 'negative big integer changed');
    assert.equal(r.json.events.length, 2);
    assert.equal(r.json.events[0].data.f, 1.5);
    assert.equal(r.json.events[0].data.u, 'é😀');
    assert.equal(r.json.events[0].data.z, null);
    assertEnvelope(r.json.events[1], { channel: ch, data: null });
});

test('publish → SSE: retry first, a comet-open frame with the cursor, then events with id: = envelope id, ' +
    'event: only when not message',
    { timeout: 30000 }, async () => {
        const ch = channelName('sse');
        const r = s.sse({ channel: ch });
        try {
            await r.opened;
            assert.equal(r.status, 200);
            assert.match(String(r.headers['content-type']), /^text\/event-stream\b/);
            assert.match(String(r.headers['cache-control']), /\bno-cache\b/);
            assert.equal(r.headers['x-content-type-options'], 'nosniff');
            // nginx takes X-Accel-Buffering as the instruction it is and does not pass it on.
            if (SERVER !== 'nginx') assert.equal(r.headers['x-accel-buffering'], 'no');
            await r.waitFor(() => r.items.length >= 2, WAIT_MS, 'retry and the open frame');
            assert.deepEqual(r.items[0], { type: 'retry', value: 2000 },
                'the first thing on the stream is retry: 2000');
            const open = r.items[1];
            assert.equal(open.type === 'event' && open.event, 'comet-open',
                `then the open frame: ${JSON.stringify(open)}`);
            assert.deepEqual(Object.keys(open.json).sort(), ['cursor', 'open']);
            assert.equal(open.json.open, true);
            assert.match(open.json.cursor, /^(0|\d+-\d+)$/);
            assert.equal(open.id, open.json.cursor, 'the open frame\'s id: is its cursor');
            const pubs = [
                await s.publishIds({ channel: ch, data: { n: 1 } }),
                await s.publishIds({ channel: ch, event: 'score', data: [2, 3] }),
                await s.publishIds({ channel: ch, event: 'message', data: 'three' }),
            ].flat();
            const evs = await r.waitEnvelopes(3);
            assertSseEnvelopes(evs);
            assert.deepEqual(evs.map((e) => e.id), pubs);
            assertEnvelope(evs[0].json, { channel: ch, data: { n: 1 } });
            assertEnvelope(evs[1].json, { channel: ch, event: 'score', data: [2, 3] });
            assertEnvelope(evs[2].json, { channel: ch, data: 'three' });
            assert.equal(evs[1].hasEventField, true);
            assert.equal(evs[0].hasEventField, false);
            assert.equal(evs[2].hasEventField, false);
            // The same envelopes as a poll from the oldest.
            const p = await s.poll({ channel: ch, since: 0, timeout: 1 });
            assert.deepEqual(p.json.events, evs.map((e) => e.json));
            assert.equal(r.items.filter((x) => x.type === 'other').length, 0, 'junk lines in the stream');
            assert.equal(r.opens.length, 1, 'one open frame');
            assert.equal(r.lastEventId, pubs[2], 'EventSource would resume from the last event');
        } finally {
            r.close();
        }
    });

test('several channels: poll and SSE merge them in id order', { timeout: 30000 }, async () => {
    const a = channelName('ma');
    const b = channelName('mb');
    const c = channelName('mc');
    const ids = await s.publishIds([
        { channel: a, data: { seq: 0 } },
        { channel: b, data: { seq: 0 } },
        { channel: a, event: 'x', data: { seq: 1 } },
        { channels: [a, b], data: { seq: 2 } },
    ]);
    assert.equal(ids.length, 5, 'a channels item is one event per channel');
    assertIncreasing(ids);
    const r = await s.poll({ channel: [a, b, c], since: 0, timeout: 1 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.events.map((e) => e.id), ids);
    assert.deepEqual(r.json.events.map((e) => e.channel), [a, b, a, a, b]);
    assert.deepEqual(r.json.events[3].data, r.json.events[4].data);
    const onlyB = await s.poll({ channel: b, since: 0, timeout: 1 });
    assert.deepEqual(onlyB.json.events.map((e) => e.id), [ids[1], ids[4]]);

    // A waiting poll on several channels wakes for any of them.
    const { req: p } = await s.whenWaiting(() => s.poll({ channel: [a, b, c], since: r.json.cursor, timeout: 20 }));
    const t = Date.now();
    const [idc] = await s.publishIds({ channel: c, data: { seq: 0 } });
    const w = await p;
    assert.ok(Date.now() - t < PROMPT_MS, `the multi-channel poll answered ${Date.now() - t} ms after the publish ` +
        '(its timeout is 20 s)');
    assert.deepEqual(w.json.events.map((e) => e.id), [idc]);

    const sse = s.sse({ channel: [a, b, c], since: 0 });
    try {
        const evs = await sse.waitEnvelopes(6);
        assertSseEnvelopes(evs);
        assert.deepEqual(evs.map((e) => e.id), [...ids, idc]);
        const [idb] = await s.publishIds({ channel: b, data: { seq: 1 } });
        const more = await sse.waitEnvelopes(7);
        assert.equal(more[6].id, idb);
        assert.equal((await s.drain(sse, a)).length, 7, 'extra events on the stream');
    } finally {
        sse.close();
    }
});

test('resume by since, Last-Event-ID and lastEventId: no loss, no duplicate; since=0 from the oldest',
    { timeout: 40000 }, async () => {
        const ch = channelName('res');
        const ids = await s.publishIds([0, 1, 2].map((seq) => ({ channel: ch, data: { seq } })));
        const p = await s.poll({ channel: ch, since: ids[0], timeout: 5 });
        assert.deepEqual(p.json.events.map((e) => e.id), ids.slice(1));
        assert.equal(p.json.cursor, ids[2]);
        assert.equal(p.json.truncated, undefined, 'nothing was trimmed');
        const all = await s.poll({ channel: ch, since: 0, timeout: 5 });
        assert.deepEqual(all.json.events.map((e) => e.id), ids, 'since=0 starts from the oldest retained');

        const cases = [
            ['Last-Event-ID header', {}, { lastEventId: ids[0] }, ids.slice(1)],
            ['lastEventId parameter', { lastEventId: ids[0] }, {}, ids.slice(1)],
            ['since parameter', { since: ids[1] }, {}, ids.slice(2)],
            ['header wins over lastEventId', { lastEventId: ids[0] }, { lastEventId: ids[1] }, ids.slice(2)],
            ['lastEventId wins over since', { lastEventId: ids[1], since: ids[0] }, {}, ids.slice(2)],
        ];
        const streams = cases.map(([, params, o]) => s.sse({ channel: ch, ...params }, o));
        try {
            for (let i = 0; i < cases.length; i++) {
                const evs = await streams[i].waitEnvelopes(cases[i][3].length);
                assert.deepEqual(evs.map((e) => e.id), cases[i][3], cases[i][0]);
                const open = await streams[i].waitOpen();
                const at = streams[i].events.indexOf(open);
                assert.deepEqual(streams[i].events.slice(0, at).map((e) => e.id), cases[i][3],
                    `${cases[i][0]}: the open frame comes after the replay`);
                assert.equal(open.json.cursor, cases[i][3].at(-1), `${cases[i][0]}: open frame cursor`);
                assert.equal(open.id, open.json.cursor);
            }
            const [id3] = await s.publishIds({ channel: ch, data: { seq: 3 } });
            for (let i = 0; i < cases.length; i++) {
                const want = [...cases[i][3], id3];
                const evs = await streams[i].waitEnvelopes(want.length);
                assert.deepEqual(evs.map((e) => e.id), want, `${cases[i][0]}: then the new event`);
            }
            // Resume again from the last id seen: nothing is replayed.
            const again = s.sse({ channel: ch }, { lastEventId: streams[0].lastEventId });
            try {
                const open = await again.waitOpen();
                assert.equal(open.json.cursor, streams[0].lastEventId);
                // One more event, which every stream waits for: nothing came twice before it.
                const [id4] = await s.publishIds({ channel: ch, data: { seq: 4 } });
                for (let i = 0; i < cases.length; i++) {
                    const want = [...cases[i][3], id3, id4];
                    const evs = await streams[i].waitFor(() => streams[i].envelopes.some((e) => e.id === id4) &&
                        streams[i].envelopes, WAIT_MS, `${id4} on ${cases[i][0]}`);
                    assert.deepEqual(evs.map((e) => e.id), want, `${cases[i][0]}: duplicates`);
                }
                const seen = await again.waitFor(() => again.envelopes.some((e) => e.id === id4) && again.envelopes,
                    WAIT_MS, `${id4} on the resumed stream`);
                assert.deepEqual(seen.map((e) => e.id), [id4], 'a resumed stream replayed events already seen');
            } finally {
                again.close();
            }
        } finally {
            for (const r of streams) r.close();
        }
    });

test('a timed-out poll answers 200 events:[] with a cursor; polling on from it gets what came between',
    { timeout: 30000 }, async () => {
        const ch = channelName('to');
        const t = Date.now();
        const r = await s.poll({ channel: ch, timeout: 1 });
        const ms = Date.now() - t;
        assert.equal(r.status, 200, r.text);
        assertJsonHeaders(r, 'timed-out poll');
        assert.deepEqual(r.json.events, []);
        assert.match(String(r.json.cursor), /^(0|\d+-\d+)$/);
        assert.equal(r.json.truncated, undefined);
        assert.ok(ms >= 800 && ms < 1000 + PROMPT_MS, `timeout=1 answered after ${ms} ms`);
        const [id] = await s.publishIds({ channel: ch, data: 'between' });
        const t2 = Date.now();
        const r2 = await s.poll({ channel: ch, since: r.json.cursor, timeout: 20 });
        assert.ok(Date.now() - t2 < PROMPT_MS, `the event published in between came after ${Date.now() - t2} ms ` +
            '(timeout 20 s), not at once');
        assert.deepEqual(r2.json.events.map((e) => e.id), [id]);
        // With a current cursor: waits, then an empty answer with a cursor, no truncated.
        const r3 = await s.poll({ channel: ch, since: r2.json.cursor, timeout: 1 });
        assert.deepEqual(r3.json.events, []);
        assert.equal(r3.json.truncated, undefined);
        assert.equal(r3.json.cursor, r2.json.cursor);
    });

test('race: an event published as a poll starts is neither missed nor left waiting (30 times)',
    { timeout: 120000 }, async () => {
        const ch = channelName('race');
        let [cursor] = await s.publishIds({ channel: ch, data: -1 });
        for (let i = 0; i < 30; i++) {
            const t = Date.now();
            const p = s.poll({ channel: ch, since: cursor, timeout: 20 });
            if (i % 3 === 1) await new Promise((r) => setImmediate(r));
            else if (i % 3 === 2) await sleep(i % 11);
            const pub = await s.publish({ channel: ch, data: i });
            assert.equal(pub.status, 202, pub.text);
            const r = await p;
            const ms = Date.now() - t;
            assert.equal(r.status, 200, `iteration ${i}: ${r.text}`);
            assert.ok(ms < PROMPT_MS, `iteration ${i}: the poll answered after ${ms} ms (timeout 20 s): the event waited`);
            assert.deepEqual(r.json.events.map((e) => e.data), [i], `iteration ${i}`);
            cursor = r.json.cursor;
        }
    });

test('?wait=1 answers 200 {ids} in request order, visible at once to a since=0 poll', { timeout: 30000 },
    async () => {
        const a = channelName('wa');
        const b = channelName('wb');
        const body = [
            { channel: a, data: { seq: 0 } },
            { channel: b, event: 'x', data: { seq: 1 } },
            { channel: a, data: { seq: 2 } },
        ];
        const r = await s.publish(body, { wait: true });
        assert.equal(r.status, 200, r.text);
        assertJsonHeaders(r, 'publish ?wait=1');
        assert.deepEqual(Object.keys(r.json), ['ids']);
        assert.equal(r.json.ids.length, 3);
        assertIncreasing(r.json.ids, 'ids in request order');
        const p = await s.poll({ channel: [a, b], since: 0, timeout: 1 });
        assert.deepEqual(p.json.events.map((e) => e.id), r.json.ids);
        assert.deepEqual(p.json.events.map((e) => e.data.seq), [0, 1, 2]);
        assert.deepEqual(p.json.events.map((e) => e.event), ['message', 'x', 'message']);
        const single = await s.publish({ channels: [a, b], data: 'two' }, { wait: true });
        assert.equal(single.status, 200);
        assert.equal(single.json.ids.length, 2);
    });

// Last: a batch of 100 (COMET_MAX_BATCH) is the largest publish here.
test('a poll answers at most COMET_POLL_MAX_EVENTS (100); the rest come with its cursor', { timeout: 30000 },
    async () => {
        const ch = channelName('cap');
        const ids = [
            ...(await s.publishIds(Array.from({ length: 100 }, (_, seq) => ({ channel: ch, data: { seq } })))),
            ...(await s.publishIds(Array.from({ length: 20 }, (_, i) => ({ channel: ch, data: { seq: 100 + i } })))),
        ];
        const r1 = await s.poll({ channel: ch, since: 0, timeout: 1 });
        assert.equal(r1.json.events.length, 100);
        assert.deepEqual(r1.json.events.map((e) => e.id), ids.slice(0, 100));
        assert.equal(r1.json.cursor, ids[99]);
        const r2 = await s.poll({ channel: ch, since: r1.json.cursor, timeout: 1 });
        assert.deepEqual(r2.json.events.map((e) => e.id), ids.slice(100));
    });
