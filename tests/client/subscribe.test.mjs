// One connection for all of a page's channels: subscribing and unsubscribing reopen it from
// the cursor with no loss; events of channels no longer wanted are dropped; handlers are isolated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}) {
    const w = new World();
    const tab = w.tab();
    const c = tab.client('/comet', { transports: ['longpoll'], shared: false, ...opts });
    return { w, tab, c, clock: w.clock };
}
async function opened(tab, clock, cursor) {
    tab.open('/poll')[0].json({ events: [], cursor });
    await clock.tick(0);
}

test('subscribing to more channels reopens one connection with all of them, from the cursor', async () => {
    const { tab, c, clock } = setup();
    const got = [];
    c.subscribe('a', (d, e) => got.push(e.channel + ':' + e.id));
    c.subscribe('b', (d, e) => got.push(e.channel + ':' + e.id));
    await clock.tick(0);
    assert.equal(tab.requests.length, 1, 'two subscribes in a row: one request');
    assert.deepEqual(tab.requests[0].channels(), ['a', 'b']);
    await opened(tab, clock, '40-0');
    const waiting = tab.open('/poll')[0];
    c.subscribe('c', (d, e) => got.push(e.channel + ':' + e.id));
    c.subscribe('a', (d, e) => got.push('a2:' + e.id)); // a second handler on a: no reopen for it
    await clock.tick(0);
    assert.equal(waiting.aborted, true, 'the old poll is dropped');
    const [r] = tab.open('/poll');
    assert.deepEqual(r.channels(), ['a', 'b', 'c']);
    assert.equal(r.param('since'), '40-0', 'reopened from the cursor: nothing lost in between');
    assert.equal(r.param('timeout'), '0');
    r.json({ events: [env('40-1', 'c'), env('40-2', 'a')], cursor: '40-2' });
    await clock.tick(0);
    assert.deepEqual(got, ['c:40-1', 'a:40-2', 'a2:40-2']);
    c.close();
});

test('unsubscribe: events for channels no longer subscribed are dropped; the last one closes the connection', async () => {
    const { tab, c, clock } = setup();
    const got = [];
    const sa = c.subscribe('a', (d, e) => got.push(e.channel + ':' + e.id));
    const sb = c.subscribe('b', (d, e) => got.push(e.channel + ':' + e.id));
    await clock.tick(0);
    await opened(tab, clock, '1-0');
    const waiting = tab.open('/poll')[0];
    sb.unsubscribe();
    sb.unsubscribe(); // twice is harmless
    // An answer already on its way with b's events: b is no longer delivered.
    waiting.json({ events: [env('1-1', 'b'), env('1-2', 'a')], cursor: '1-2' });
    await clock.tick(0);
    assert.deepEqual(got, ['a:1-2']);
    const [r] = tab.open('/poll');
    assert.deepEqual(r.channels(), ['a']);
    assert.equal(r.param('since'), '1-2');
    sa.unsubscribe();
    await clock.tick(0);
    assert.equal(r.aborted, true);
    assert.equal(tab.open('/poll').length, 0, 'nothing subscribed: no connection');
    assert.equal(c.transport, null);
    c.close();
});

test('an event published right after subscribe is not lost while another channel races the reopen', async () => {
    // A new channel starts at the cursor the client had when subscribe() was called, even if the
    // old connection delivers newer events on other channels before the reopen.
    const { tab, c, clock } = setup();
    const got = [];
    c.subscribe('a', (d, e) => got.push(e.channel + ':' + e.id));
    await clock.tick(0);
    await opened(tab, clock, '10-0');
    const waiting = tab.open('/poll')[0];
    c.subscribe('b', (d, e) => got.push(e.channel + ':' + e.id));
    waiting.json({ events: [env('12-0', 'a')], cursor: '12-0' });
    await clock.tick(0);
    const [r] = tab.open('/poll');
    assert.equal(r.param('since'), '10-0', 'replays from where b was subscribed');
    r.json({ events: [env('11-0', 'b'), env('12-0', 'a'), env('13-0', 'b')], cursor: '13-0' });
    await clock.tick(0);
    assert.deepEqual(got, ['a:12-0', 'b:11-0', 'b:13-0'], 'b gets 11-0; a does not get 12-0 twice');
    c.close();
});

test('a throwing handler does not stop the others or the stream; it is reported as an error', async () => {
    const { tab, c, clock } = setup();
    const got = [];
    const errors = [];
    c.on('error', (e) => errors.push(e));
    c.subscribe('a', () => {
        throw new Error('boom');
    });
    c.subscribe('a', (d) => got.push(d));
    await clock.tick(0);
    await opened(tab, clock, '1-0');
    tab.open('/poll')[0].json({ events: [env('1-1', 'a', 1), env('1-2', 'a', 2)], cursor: '1-2' });
    await clock.tick(0);
    assert.deepEqual(got, [1, 2]);
    assert.equal(errors.length, 2);
    assert.equal(errors[0].kind, 'handler');
    assert.equal(tab.open('/poll').length, 1, 'the loop goes on');
    c.close();
});

test('on() returns off(); events: state, transport, open, event; close() is final', async () => {
    const { tab, c, clock } = setup();
    const seen = [];
    const off = c.on('state', (s, prev) => seen.push(`state:${prev}->${s}`));
    c.on('transport', (t) => seen.push(`transport:${t}`));
    c.on('open', (t) => seen.push(`open:${t}`));
    c.on('event', (e) => seen.push(`event:${e.id}`));
    c.subscribe('a', () => {});
    await clock.tick(0);
    await opened(tab, clock, '1-0');
    tab.open('/poll')[0].json({ events: [env('1-1', 'a')], cursor: '1-1' });
    await clock.tick(0);
    off();
    c.close();
    assert.deepEqual(seen, ['transport:longpoll', 'state:connecting->open', 'open:longpoll', 'event:1-1', 'transport:null']);
    assert.equal(c.state, 'closed');
    const late = c.subscribe('a', () => {});
    assert.equal(late.active, false, 'subscribing after close does nothing');
    await clock.tick(1000);
    assert.equal(tab.open('/poll').length, 0);
});

test('publish: POST /publish without key, JSON body; errors carry status and Retry-After', async () => {
    const { tab, c, clock } = setup();
    let p = c.publish('demo', { text: 'hi' });
    await clock.tick(0);
    let r = tab.last('/publish');
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/comet/publish');
    assert.equal(r.init.headers['Content-Type'], 'application/json');
    assert.equal(r.init.headers.Authorization, undefined);
    assert.deepEqual(JSON.parse(r.init.body), { channel: 'demo', data: { text: 'hi' } });
    r.json({ accepted: 1 }, 202);
    assert.deepEqual(plain(await p), { accepted: 1 });

    p = c.publish(['a', 'b'], [1], { event: 'score', wait: true });
    await clock.tick(0);
    r = tab.last('/publish');
    assert.equal(r.url, '/comet/publish?wait=1');
    assert.deepEqual(JSON.parse(r.init.body), { channels: ['a', 'b'], event: 'score', data: [1] });
    r.json({ ids: ['1-0', '1-1'] });
    assert.deepEqual(plain(await p), { ids: ['1-0', '1-1'] });

    p = c.publish('demo', 1);
    await clock.tick(0);
    tab.last('/publish').json({ error: 'too many publishes' }, 429, { 'Retry-After': '12' });
    await assert.rejects(p, (e) => e.status === 429 && e.retryAfter === 12000 && /too many publishes/.test(e.message));

    await assert.rejects(c.publish('bad name', 1), /bad channel/);
    await assert.rejects(c.publish('demo', 1, { event: 'comet-open' }), /bad event/);
    await assert.rejects(c.publish('demo'), /needs data/);
    c.close();
});
