// Bounded history: with COMET_HISTORY_SIZE=5 a subscriber resuming from before what is
// retained learns it (poll "truncated":true, SSE comet-truncated) and still gets the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName } from '../lib/stack.mjs';
import { assertSseEnvelopes } from '../lib/checks.mjs';

let s;
let ch;
let ids = [];
before(async () => {
    s = await startStack({ env: { COMET_HISTORY_SIZE: '5' } });
    ch = channelName('tr');
    for (let seq = 0; seq < 10; seq++) ids.push(...(await s.publishIds({ channel: ch, data: { seq } })));
});
after(async () => {
    await s?.stop();
});

test('poll since the first of 10 ids → truncated:true and the last 5 events', { timeout: 20000 }, async () => {
    const r = await s.poll({ channel: ch, since: ids[0], timeout: 5 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.truncated, true, r.text);
    assert.deepEqual(r.json.events.map((e) => e.id), ids.slice(5));
    assert.deepEqual(r.json.events.map((e) => e.data.seq), [5, 6, 7, 8, 9]);
    assert.equal(r.json.cursor, ids[9]);
});

test('since=0 returns the 5 retained events, oldest first', { timeout: 20000 }, async () => {
    const r = await s.poll({ channel: ch, since: 0, timeout: 5 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.events.map((e) => e.id), ids.slice(5));
});

test('since the last trimmed id: nothing was missed, so no truncated', { timeout: 20000 }, async () => {
    const r = await s.poll({ channel: ch, since: ids[4], timeout: 5 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.truncated, undefined, r.text);
    assert.deepEqual(r.json.events.map((e) => e.id), ids.slice(5));
});

test('a poll with a current cursor has no truncated field', { timeout: 20000 }, async () => {
    const r = await s.poll({ channel: ch, since: ids[9], timeout: 1 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.events, []);
    assert.equal('truncated' in r.json, false, r.text);
    const mid = await s.poll({ channel: ch, since: ids[7], timeout: 1 });
    assert.equal('truncated' in mid.json, false, mid.text);
    assert.deepEqual(mid.json.events.map((e) => e.id), ids.slice(8));
});

test('several channels: one trimmed → truncated, and the retained events of both', { timeout: 20000 },
    async () => {
        const other = channelName('tr2');
        const [id2] = await s.publishIds({ channel: other, data: { seq: 0 } });
        const r = await s.poll({ channel: [ch, other], since: ids[0], timeout: 5 });
        assert.equal(r.json.truncated, true);
        assert.deepEqual(r.json.events.map((e) => e.id), [...ids.slice(5), id2]);
        const ok = await s.poll({ channel: [ch, other], since: ids[9], timeout: 5 });
        assert.equal('truncated' in ok.json, false);
        assert.deepEqual(ok.json.events.map((e) => e.id), [id2]);
    });

test('SSE with an older Last-Event-ID: event comet-truncated before the retained events', { timeout: 60000 },
    async () => {
        const r = s.sse({ channel: ch }, { lastEventId: ids[0] });
        try {
            const open = await r.waitOpen();
            const evs = r.events.slice(0, r.events.indexOf(open));
            assert.equal(evs[0]?.event, 'comet-truncated', `first: ${JSON.stringify(evs[0])}`);
            assert.deepEqual(evs[0].json, { truncated: true });
            assertSseEnvelopes(evs.slice(1));
            assert.deepEqual(evs.slice(1).map((e) => e.id), ids.slice(5));
            // The cursor is the newest id overall: another test here published on another channel.
            const [ms, n] = open.json.cursor.split('-').map(BigInt), [ms9, n9] = ids[9].split('-').map(BigInt);
            assert.ok(ms > ms9 || (ms === ms9 && n >= n9), `open cursor ${open.json.cursor} before ${ids[9]}`);
            assert.equal(r.items[0].type, 'retry');
            // comet-truncated belongs to the replay, which the open frame ends: all of it is in by now.
            assert.equal(r.events.filter((e) => e.event === 'comet-truncated').length, 1);
        } finally {
            r.close();
        }
        // lastEventId and since take the same path.
        const q = s.sse({ channel: ch, since: ids[1] });
        try {
            const open = await q.waitOpen();
            const evs = q.events.slice(0, q.events.indexOf(open));
            assert.equal(evs[0]?.event, 'comet-truncated');
            assert.deepEqual(evs.slice(1).map((e) => e.id), ids.slice(5));
        } finally {
            q.close();
        }
    });

test('SSE from a current id: no comet-truncated', { timeout: 60000 }, async () => {
    const r = s.sse({ channel: ch }, { lastEventId: ids[7] });
    try {
        const evs = await r.waitEnvelopes(2);
        assert.deepEqual(evs.map((e) => e.id), ids.slice(8));
        // comet-truncated belongs to the replay, which the open frame ends: all of it is in by now.
        await r.waitOpen();
        assert.equal(r.events.some((e) => e.event === 'comet-truncated'), false);
    } finally {
        r.close();
    }
});
