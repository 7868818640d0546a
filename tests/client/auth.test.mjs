// Credentials: the token option (a string, or a function returning one or a Promise of one)
// and the signed option ({expires, sig}) go on every request as query parameters; the
// function is called again when the server ends a stream for expiry (comet-expired) or
// refuses the credentials (401/403, or an EventSource that fails before opening), and
// the client resumes from its cursor on the same transport. publish() sends the token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}) {
    const w = new World();
    const tab = w.tab();
    const calls = [];
    const tokens = ['t1', 't2', 't3', 't4'];
    const token = () => {
        calls.push(w.clock.now);
        return Promise.resolve(tokens[calls.length - 1]);
    };
    const c = tab.client('/comet', { shared: false, token, ...opts });
    const got = [];
    const log = { errors: [], states: [] };
    c.on('error', (e) => log.errors.push(e));
    c.on('state', (s) => log.states.push(s));
    return { w, tab, c, got, log, calls, clock: w.clock };
}
const liveES = (tab) => tab.eventSources.filter((e) => !e.closed);

test('SSE: the token goes as ?token=; comet-expired closes the stream, asks for a new token and resumes', async () => {
    const { tab, c, got, log, calls, clock } = setup({ transports: ['sse'] });
    c.subscribe('private/a', (d, e) => got.push(e.id));
    await clock.tick(0);
    assert.equal(calls.length, 1, 'the token function is called before connecting');
    let es = tab.eventSources[0];
    assert.equal(es.params.get('token'), 't1');
    es.emit('comet-open', { cursor: '5-0', open: true }, '5-0');
    es.emit('message', env('5-1', 'private/a', 1), '5-1');
    es.emit('comet-expired', { expired: true });
    assert.equal(es.closed, true, 'EventSource must not reconnect with the old token');
    await clock.tick(1000);
    assert.equal(calls.length, 2, 'a new token was asked for');
    assert.equal(liveES(tab).length, 1);
    es = liveES(tab)[0];
    assert.equal(es.params.get('token'), 't2');
    assert.equal(es.params.get('lastEventId'), '5-1', 'resumes from the cursor');
    assert.equal(log.errors.length, 0, 'an expiry is not an error');
    assert.deepEqual(plain(got), ['5-1']);
    c.close();
});

test('long-poll: a 401 asks for a new token and retries on the same transport', async () => {
    const { tab, c, log, calls, clock } = setup({ transports: ['longpoll', 'jsonp'] });
    c.subscribe('private/a', () => {});
    await clock.tick(0);
    let [r] = tab.open('/poll');
    assert.equal(r.param('token'), 't1');
    r.json({ events: [], cursor: '7-0' });
    await clock.tick(0);
    [r] = tab.open('/poll');
    r.json({ error: 'the token expired: get a new one' }, 401);
    await clock.tick(0);
    assert.equal(log.errors.length, 1);
    assert.equal(log.errors[0].kind, 'auth');
    assert.equal(log.errors[0].status, 401);
    assert.equal(log.errors[0].fallback, undefined, 'a refused token is no reason to change transports');
    await clock.tick(log.errors[0].retryIn + 10);
    assert.equal(calls.length, 2);
    [r] = tab.open('/poll');
    assert.ok(r, 'polled again');
    assert.equal(r.param('token'), 't2');
    assert.equal(r.param('since'), '7-0');
    assert.equal(c.transport, 'longpoll');
    c.close();
});

test('an expired frame on XHR streaming refreshes the token too', async () => {
    const { tab, c, calls, clock } = setup({ transports: ['stream'] });
    c.subscribe('private/a', () => {});
    await clock.tick(0);
    const r = tab.last('/stream');
    assert.equal(r.param('token'), 't1');
    const body = r.stream();
    body.push(' '.repeat(2048) + '\n{"cursor":"9-0","open":true}\n{"expired":true}\n');
    await clock.tick(1000);
    assert.equal(calls.length, 2);
    assert.equal(tab.last('/stream').param('token'), 't2');
    assert.equal(tab.last('/stream').param('since'), '9-0');
    c.close();
});

test('an EventSource that fails before opening (it cannot see a 401) gets a new token first', async () => {
    const { tab, c, calls, clock } = setup({ transports: ['sse', 'longpoll'] });
    c.subscribe('private/a', () => {});
    await clock.tick(0);
    tab.eventSources[0].error();
    await clock.tick(2000);
    assert.equal(calls.length, 2);
    assert.equal(liveES(tab)[0].params.get('token'), 't2');
    c.close();
});

test('a token function that throws or rejects is reported and tried again later', async () => {
    const w = new World();
    const tab = w.tab();
    let n = 0;
    const c = tab.client('/comet', { shared: false, transports: ['longpoll'],
        token: () => (++n === 1 ? Promise.reject(new Error('backend down')) : 'ok') });
    const errors = [];
    c.on('error', (e) => errors.push(e));
    c.subscribe('private/a', () => {});
    await w.clock.tick(0);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].kind, 'auth');
    assert.match(errors[0].message, /backend down/);
    assert.equal(tab.open('/poll').length, 0, 'no request without credentials');
    await w.clock.tick(errors[0].retryIn + 10);
    assert.equal(tab.open('/poll')[0].param('token'), 'ok');
    c.close();
});

test('a plain string token and signed-URL parameters go on the query string', async () => {
    const w = new World();
    const tab = w.tab();
    const a = tab.client('/comet', { shared: false, transports: ['longpoll'], token: 'static' });
    a.subscribe('private/a', () => {});
    const b = tab.client('/comet', { shared: false, transports: ['jsonp', 'longpoll'],
        signed: { expires: 1700000060, sig: 'ab'.repeat(32) } });
    b.subscribe('private/b', () => {});
    await w.clock.tick(0);
    const poll = tab.open('/poll')[0];
    assert.equal(poll.param('token'), 'static');
    const script = tab.elements.filter((e) => e.tagName === 'SCRIPT').at(-1);
    const u = new URL(script.src, 'http://x');
    assert.equal(u.searchParams.get('expires'), '1700000060');
    assert.equal(u.searchParams.get('sig'), 'ab'.repeat(32));
    assert.equal(u.searchParams.get('token'), null);
    a.close();
    b.close();
});

test('publish() sends the token as Authorization: Bearer', async () => {
    const { tab, c, clock } = setup();
    const p = c.publish('chat.1', { hi: 1 });
    await clock.tick(0);
    const r = tab.last('/publish');
    assert.equal(r.init.headers.Authorization, 'Bearer t1');
    r.json({ accepted: 1 }, 202);
    assert.deepEqual(plain(await p), { accepted: 1 });
});
