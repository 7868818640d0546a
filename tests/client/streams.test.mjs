// SSE (EventSource), XHR streaming (fetch + ReadableStream) and their frames: open, envelopes,
// truncated, heartbeats, the prelude; ends and errors; stalls and fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}, tabOpts = {}) {
    const w = new World();
    const tab = w.tab(tabOpts);
    const c = tab.client('/comet', { shared: false, ...opts });
    const got = [];
    const log = { states: [], errors: [], missed: 0, transports: [] };
    c.on('state', (s) => log.states.push(s));
    c.on('error', (e) => log.errors.push(e));
    c.on('missed', () => log.missed++);
    c.on('transport', (t) => log.transports.push(t));
    return { w, tab, c, got, log, clock: w.clock };
}
const liveES = (tab) => tab.eventSources.filter((e) => !e.closed);

test('SSE: lastEventId carries the cursor, typed=0 asks for unnamed events; comet-open opens; events of every type, truncated', async () => {
    const { tab, c, got, log, clock } = setup({ cursor: '10-0', transports: ['sse', 'longpoll'] });
    c.subscribe('news', (d, e) => got.push([e.id, e.event, d]));
    c.subscribe('alerts', (d, e) => got.push([e.id, e.event, d]));
    await clock.tick(0);
    assert.equal(tab.eventSources.length, 1, 'one connection for both channels');
    const es = tab.eventSources[0];
    assert.equal(es.url.split('?')[0], '/comet/sse');
    assert.deepEqual(es.params.getAll('channel').sort(), ['alerts', 'news']);
    assert.equal(es.params.get('lastEventId'), '10-0');
    assert.equal(es.params.get('typed'), '0', 'a typed event would reach only listeners of its name');
    assert.equal(es.init.withCredentials, false);
    assert.equal(c.state, 'connecting');
    es.emit('message', env('10-5', 'news', 1), '10-5'); // replayed before the open frame
    es.emit('comet-truncated', { truncated: true });
    es.emit('comet-open', { cursor: '10-5', open: true }, '10-5');
    assert.equal(c.state, 'open');
    es.emit('message', env('11-0', 'alerts', 2));
    es.emit('message', env('11-1', 'news', 3, 'score')); // typed=0: the type is in the envelope only
    es.emit('message', env('11-0', 'alerts', 2)); // duplicate
    es.emit('message', 'not json');
    assert.deepEqual(plain(got), [['10-5', 'message', 1], ['11-0', 'message', 2], ['11-1', 'score', 3]]);
    assert.equal(log.missed, 1);
    assert.equal(log.errors.length, 1, 'a broken frame is reported');
    assert.equal(log.errors[0].kind, 'bad');
    assert.equal(c.cursor, '11-1');
    c.close();
    assert.equal(es.closed, true);
});

test('SSE: a first connect without cursor sends no lastEventId; an error closes the EventSource and we reconnect from the cursor', async () => {
    const { tab, c, log, clock } = setup({ transports: ['sse'] });
    c.subscribe('news', () => {});
    await clock.tick(0);
    let es = tab.eventSources[0];
    assert.equal(es.params.get('lastEventId'), null);
    es.emit('comet-open', { cursor: '20-0', open: true });
    es.emit('message', env('20-1'));
    es.error(); // the stream ended (lifetime) or dropped
    assert.equal(es.closed, true, 'closed by us: EventSource must not reconnect by itself');
    assert.equal(c.state, 'open', 'an end after open reconnects quietly');
    assert.equal(log.errors.length, 0);
    await clock.tick(250);
    assert.equal(liveES(tab).length, 1);
    es = liveES(tab)[0];
    assert.equal(es.params.get('lastEventId'), '20-1');
    es.error(); // fails before opening: now it is an error, with backoff
    assert.equal(c.state, 'reconnecting');
    assert.equal(log.errors.length, 1);
    await clock.tick(500);
    assert.equal(liveES(tab).length, 1);
    assert.equal(liveES(tab)[0].params.get('lastEventId'), '20-1');
    c.close();
});

test('SSE that never says comet-open (a buffering proxy) falls back to stream, then long-poll, for good', async () => {
    const { tab, c, log, clock } = setup({ stallTimeout: 8000, transports: ['sse', 'stream', 'longpoll', 'jsonp'] });
    c.subscribe('news', () => {});
    await clock.tick(0);
    assert.equal(c.transport, 'sse');
    await clock.tick(7999);
    assert.equal(tab.eventSources[0].closed, false);
    await clock.tick(1);
    assert.equal(tab.eventSources[0].closed, true, 'stalled: closed');
    assert.equal(log.errors[0].kind, 'stall');
    assert.equal(log.errors[0].fallback, 'stream');
    await clock.tick(0);
    assert.equal(c.transport, 'stream');
    const [r] = tab.open('/stream');
    const body = r.stream();
    body.push(' '.repeat(2048) + '\n'); // the prelude comes through, but nothing else
    await clock.tick(8000);
    assert.equal(c.transport, 'longpoll');
    const [p] = tab.open('/poll');
    p.json({ events: [], cursor: '3-0' });
    await clock.tick(0);
    assert.equal(c.state, 'open');
    assert.deepEqual(log.transports, ['sse', 'stream', 'longpoll']);
    // Long-poll stays, whatever happens next.
    for (let i = 0; i < 4; i++) {
        tab.open('/poll')[0].fail();
        await clock.tick(0);
        await clock.tick(clock.pending());
    }
    assert.equal(c.transport, 'longpoll');
    assert.equal(tab.eventSources.length, 1, 'SSE never tried again');
    c.close();
});

test('stream: prelude and heartbeats skipped, frames split across chunks, truncated, end → resume with since', async () => {
    const { tab, c, got, log, clock } = setup({ transports: ['stream'] });
    c.subscribe('news', (d, e) => got.push(e.id));
    await clock.tick(0);
    let [r] = tab.open('/stream');
    assert.equal(r.param('since'), null);
    let body = r.stream();
    body.push(' '.repeat(1000));
    body.push(' '.repeat(1048) + '\n{"truncated":true}\n{"id":"5-1","chan');
    body.push('nel":"news","event":"message","data":1}\n\n{"cursor":"5-1","open":true}\n');
    await clock.tick(0);
    assert.equal(c.state, 'open');
    assert.equal(log.missed, 1);
    body.push('\n{"id":"6-0","channel":"news","event":"message","data":{"x":"\\u003c/script>"}}\n');
    body.push('{"id":"6-0","channel":"news","event":"message","data":2}\n');
    await clock.tick(0);
    assert.deepEqual(got, ['5-1', '6-0']);
    body.end();
    await clock.tick(0);
    await clock.tick(250);
    [r] = tab.open('/stream');
    assert.equal(r.param('since'), '6-0', 'the next stream resumes from the cursor');
    assert.equal(log.errors.length, 0);
    body = r.stream();
    body.push('{"cursor":"7-0","open":true}\n');
    await clock.tick(0);
    assert.equal(c.cursor, '7-0');
    c.close();
    assert.equal(r.aborted, true);
});

test('stream: silence beyond idleTimeout after open reconnects; heartbeats keep it alive', async () => {
    const { tab, c, log, clock } = setup({ transports: ['stream'], idleTimeout: 45000 });
    c.subscribe('news', () => {});
    await clock.tick(0);
    const body = tab.open('/stream')[0].stream();
    body.push('{"cursor":"1-0","open":true}\n');
    await clock.tick(0);
    for (let i = 0; i < 5; i++) {
        await clock.tick(15000);
        body.push('\n');
    }
    assert.equal(log.errors.length, 0, 'heartbeats every 15 s keep it');
    await clock.tick(45010);
    assert.equal(log.errors.length, 1);
    assert.equal(log.errors[0].kind, 'idle');
    assert.equal(c.state, 'reconnecting');
    c.close();
});

test('a 404 for /stream (an older server) refuses that transport: long-poll at once', async () => {
    const { tab, c, log, clock } = setup({ transports: ['stream', 'longpoll'] });
    c.subscribe('news', () => {});
    await clock.tick(0);
    tab.open('/stream')[0].json({ error: 'no such endpoint' }, 404);
    await clock.tick(0);
    assert.equal(log.errors[0].kind, 'refused');
    assert.equal(c.transport, 'longpoll');
    assert.equal(tab.open('/poll').length, 1);
    c.close();
});

test('a transport that never opened is given up after failuresBeforeFallback opaque errors; one that worked never is', async () => {
    const { tab, c, log, clock } = setup({ transports: ['sse', 'longpoll'], failuresBeforeFallback: 2 });
    c.subscribe('news', () => {});
    await clock.tick(0);
    liveES(tab)[0].error();
    await clock.tick(500);
    assert.equal(c.transport, 'sse', 'one error: retried');
    liveES(tab)[0].error();
    await clock.tick(0);
    assert.equal(c.transport, 'longpoll', 'two: fallback');
    assert.equal(log.errors[1].fallback, 'longpoll');
    c.close();

    const b = setup({ transports: ['sse', 'longpoll'] });
    b.c.subscribe('news', () => {});
    await b.clock.tick(0);
    liveES(b.tab)[0].emit('comet-open', { cursor: '1-0', open: true });
    for (let i = 0; i < 6; i++) {
        liveES(b.tab)[0].error();
        await b.clock.tick(0);
        await b.clock.tick(b.clock.pending());
    }
    assert.equal(b.c.transport, 'sse', 'SSE worked once: a server outage does not make it fall back');
    assert.equal(b.tab.requests.length, 0);
    b.c.close();
});

test('no EventSource in this browser: SSE is skipped without an attempt', async () => {
    const { tab, c, log, clock } = setup({}, { eventSource: false });
    c.subscribe('news', () => {});
    await clock.tick(0);
    assert.equal(c.transport, 'stream');
    assert.equal(log.errors[0].kind, 'unsupported');
    assert.equal(tab.open('/stream').length, 1);
    c.close();
});

test('stallTimeout: 0 turns stall detection off', async () => {
    const { tab, c, clock } = setup({ transports: ['sse', 'longpoll'], stallTimeout: 0 });
    c.subscribe('news', () => {});
    await clock.tick(60000);
    assert.equal(c.transport, 'sse');
    assert.equal(tab.eventSources[0].closed, false);
    c.close();
});
