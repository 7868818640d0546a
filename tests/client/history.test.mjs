// client.history() and subscribe(channel, fn, {history: N}): the page as the server sends it,
// and the last N events then the live ones, with live events that race the history reads
// held and merged by id: no gap, no duplicate, whatever order the answers come in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}) {
    const w = new World();
    const tab = w.tab();
    const c = tab.client('/comet', { transports: ['longpoll'], shared: false, ...opts });
    return { w, tab, c, clock: w.clock };
}

test('history() asks /history with the channels, limit, before/after and credentials; resolves the page',
    async () => {
        const { tab, c, clock } = setup({ token: 'tok' });
        const p = c.history(['a', 'b'], { limit: 5, before: '9-0' });
        await clock.tick(0);
        const [r] = tab.open('/history');
        assert.deepEqual(r.channels(), ['a', 'b']);
        assert.equal(r.param('limit'), '5');
        assert.equal(r.param('before'), '9-0');
        assert.equal(r.param('after'), null);
        assert.equal(r.param('token'), 'tok');
        r.json({ events: [env('8-0', 'a')], more: false, cursor: '8-0' });
        assert.deepEqual(plain((await p).events.map((e) => e.id)), ['8-0']);
        const bad = c.history('a');
        await clock.tick(0);
        tab.open('/history')[0].json({ error: 'the SQL archive is unreachable' }, 503, { 'Retry-After': '5' });
        await assert.rejects(bad, (e) => e.status === 503 && /archive/.test(e.message));
        await assert.rejects(c.history('bad name'), (e) => e.name === 'TypeError');
        c.close();
    });

test('subscribe with {history: N}: the last N, then what came after them, then live; a client with no ' +
    'cursor joins the connection from the page\'s live cursor; events racing the reads are given once, in order',
async () => {
    const { tab, c, clock } = setup();
    const got = [];
    c.subscribe('a', (d, e) => got.push(e.id), { history: 2 });
    await clock.tick(0);
    const [h] = tab.open('/history');
    assert.equal(h.param('limit'), '2');
    // Connecting from "now" could start after the history read and miss what came between.
    assert.deepEqual(tab.open('/poll'), [], 'no connection before the first page');
    h.json({ events: [env('38-0', 'a'), env('39-0', 'a')], more: true, cursor: '38-0', live: '40-5' });
    await clock.tick(0);
    const [next] = tab.open('/history');
    assert.equal(next.param('after'), '40-5', 'then what came after the page');
    const [p] = tab.open('/poll');
    assert.equal(p.param('since'), '40-5', 'the connection replays from where the page ends');
    // A live event comes before the page after: held.
    p.json({ events: [env('41-0', 'a')], cursor: '41-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['38-0', '39-0'], 'held while the pages after are read');
    next.json({ events: [env('40-6', 'a'), env('41-0', 'a')], more: false, cursor: '41-0', live: '41-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['38-0', '39-0', '40-6', '41-0'], 'the held 41-0 is not given twice');
    // The connection, replaying from 40-5, may still bring what the pages gave: not given again.
    tab.open('/poll')[0].json({ events: [env('40-6', 'a'), env('42-0', 'a')], cursor: '42-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['38-0', '39-0', '40-6', '41-0', '42-0']);
    c.close();
});

test('subscribe with {history: N}: what the connection brings late, that the pages gave already, is not ' +
    'given twice', async () => {
    const { tab, c, clock } = setup();
    const got = [];
    c.subscribe('a', (d, e) => got.push(e.id), { history: 1 });
    await clock.tick(0);
    tab.open('/history')[0].json({ events: [env('5-0', 'a')], more: false, cursor: '5-0', live: '5-0' });
    await clock.tick(0);
    const [p] = tab.open('/poll');
    tab.open('/history')[0].json({ events: [env('6-0', 'a'), env('7-0', 'a')], more: false, cursor: '7-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['5-0', '6-0', '7-0']);
    p.json({ events: [env('6-0', 'a'), env('7-0', 'a'), env('8-0', 'a')], cursor: '8-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['5-0', '6-0', '7-0', '8-0']);
    c.close();
});

test('subscribe with {history: N} when the history fails: an error event, then the live events', async () => {
    const { tab, c, clock } = setup();
    const got = [], errors = [];
    c.on('error', (e) => errors.push(e.kind));
    c.subscribe('a', (d, e) => got.push(e.id), { history: 3 });
    await clock.tick(0);
    tab.open('/history')[0].json({ error: 'no' }, 503);
    await clock.tick(0);
    assert.deepEqual(errors, ['history']);
    tab.open('/poll')[0].json({ events: [env('5-0', 'a')], cursor: '5-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['5-0']);
    assert.throws(() => c.subscribe('a', () => {}, { history: 0 }), (e) => e.name === 'TypeError');
    c.close();
});
