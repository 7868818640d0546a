// WebSocket (the first transport by default): its URL and frames, ops on the open socket
// instead of reconnecting (subscribe replays the new channel from the cursor, nothing twice),
// publish over it, the fallback for good when it closes before opening, and resume by cursor
// after an end. The server side is played by the test (fakes.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}) {
    const w = new World();
    const tab = w.tab({ webSocket: true });
    const c = tab.client('/comet', { shared: false, ...opts });
    const got = [];
    const log = { errors: [], transports: [] };
    c.on('error', (e) => log.errors.push(e));
    c.on('transport', (t) => log.transports.push(t));
    return { tab, c, got, log, clock: w.clock };
}
const live = (tab) => tab.sockets.filter((s) => !s.closed);

test('websocket is the default: ws:// URL with the channels and since, frames as on /stream', async () => {
    const { tab, c, got, clock } = setup({ cursor: '10-0' });
    c.subscribe('news', (d, e) => got.push([e.id, d]));
    await clock.tick(0);
    assert.equal(c.transport, 'websocket');
    const [ws] = tab.sockets;
    assert.match(ws.url, /^ws:\/\/[^/]+\/comet\/ws\?/);
    assert.deepEqual(ws.params.getAll('channel'), ['news']);
    assert.equal(ws.params.get('since'), '10-0');
    ws.accept();
    ws.message(env('10-5', 'news', 1));
    assert.equal(c.state, 'connecting', 'open only with the open frame');
    ws.message({ cursor: '10-5', open: true });
    assert.equal(c.state, 'open');
    ws.message(env('11-0', 'news', 2));
    ws.message(env('11-0', 'news', 2));
    assert.deepEqual(plain(got), [['10-5', 1], ['11-0', 2]]);
    c.close();
    assert.equal(ws.closed, true);
});

test('subscribe and unsubscribe on an open socket send ops; the new channel replays from the cursor, nothing twice',
    async () => {
        const { tab, c, got, clock } = setup();
        c.subscribe('a', (d, e) => got.push([e.channel, e.id]));
        await clock.tick(0);
        const [ws] = tab.sockets;
        ws.accept();
        ws.message({ cursor: '5-0', open: true });
        ws.message(env('6-0', 'a'));
        const b = c.subscribe('b', (d, e) => got.push([e.channel, e.id]));
        await clock.tick(0);
        assert.equal(tab.sockets.length, 1, 'no reconnect');
        assert.deepEqual(ws.sent, [{ op: 'subscribe', channels: ['b'], since: '6-0' }]);
        ws.message(env('7-0', 'a')); // in flight before the answer
        ws.message({ op: 'subscribed', channels: ['b'], cursor: '6-0' });
        ws.message(env('6-5', 'b')); // the replay of the union from since
        ws.message(env('7-0', 'a'));
        ws.message({ cursor: '7-0', open: true });
        ws.message(env('8-0', 'b'));
        assert.deepEqual(plain(got), [['a', '6-0'], ['a', '7-0'], ['b', '6-5'], ['b', '8-0']]);
        b.unsubscribe();
        await clock.tick(0);
        assert.deepEqual(ws.sent[1], { op: 'unsubscribe', channels: ['b'] });
        assert.equal(tab.sockets.length, 1);
        c.close();
    });

test('publish goes over the open socket and resolves with the ids; an error rejects with its status', async () => {
    const { tab, c, clock } = setup();
    c.subscribe('a', () => {});
    await clock.tick(0);
    const [ws] = tab.sockets;
    ws.accept();
    ws.message({ cursor: '5-0', open: true });
    const p = c.publish('a', { x: 1 }, { event: 'note' });
    assert.deepEqual(ws.sent[0], { channel: 'a', event: 'note', data: { x: 1 }, op: 'publish', ref: 1 });
    assert.equal(tab.requests.length, 0, 'no POST');
    ws.message({ op: 'ack', ref: 1, ids: ['6-0'] });
    assert.deepEqual(plain(await p), { ids: ['6-0'] });
    const q = c.publish('a', 2);
    ws.message({ op: 'error', ref: 2, status: 403, error: 'no' });
    await assert.rejects(q, (e) => e.status === 403 && /no/.test(e.message));
    const r = c.publish('a', 3);
    ws.end(1001);
    await assert.rejects(r, (e) => e.status === 0, 'a publish in flight when the socket closes');
    c.close();
});

test('a socket that closes before it opens (no tunnel, a 404) makes the client fall back to SSE for good', async () => {
    const { tab, c, log, clock } = setup();
    c.subscribe('a', () => {});
    await clock.tick(0);
    tab.sockets[0].end(1006);
    await clock.tick(0);
    assert.equal(c.transport, 'sse');
    assert.equal(log.errors[0].kind, 'refused');
    assert.equal(log.errors[0].fallback, 'sse');
    const es = tab.eventSources[0];
    es.emit('comet-open', { cursor: '1-0', open: true });
    es.error();
    await clock.tick(1000);
    assert.equal(c.transport, 'sse', 'not tried again on this page');
    assert.equal(tab.sockets.length, 1);
    c.close();
});

test('a socket silent before its open frame (a proxy that breaks upgrades) falls back after stallTimeout', async () => {
    const { tab, c, clock } = setup({ stallTimeout: 8000 });
    c.subscribe('a', () => {});
    await clock.tick(0);
    tab.sockets[0].accept();
    await clock.tick(8000);
    assert.equal(tab.sockets[0].closed, true);
    await clock.tick(0);
    assert.equal(c.transport, 'sse');
    c.close();
});

test('an end after open (a stop, the credentials) reconnects on websocket from the cursor', async () => {
    const { tab, c, clock } = setup();
    c.subscribe('a', () => {});
    await clock.tick(0);
    let ws = tab.sockets[0];
    ws.accept();
    ws.message({ cursor: '5-0', open: true });
    ws.message(env('6-0', 'a'));
    ws.end(1001);
    await clock.tick(1000);
    assert.equal(live(tab).length, 1);
    ws = live(tab)[0];
    assert.equal(c.transport, 'websocket');
    assert.equal(ws.params.get('since'), '6-0');
    c.close();
});
