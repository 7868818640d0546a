// The WebSocket transport (README: WebSocket) through each deployment that tunnels it
// (lighttpd's mod_proxy, nginx's proxy_pass, Apache's mod_proxy_http in the mod_proxy_fcgi
// deployment) to comet.fcgi -w, with node's `ws` package as an independent client: replay
// and live, the ops, the bad frames and their close codes, the origin check, private
// channels and expiry, and a SIGTERM's close that the client resumes from. Under Apache +
// mod_fcgid there is no tunnel: /comet/ws answers a JSON 404, and that is all this checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { jwt as signJwt, now } from '../lib/jwt.mjs';
import { startStack, channelName, request, until, alive, assertIncreasing, EXTERNAL, WAIT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';
import { openWs, rawWs } from '../lib/ws.mjs';

const JWT_SECRET = crypto.randomBytes(24).toString('hex');
const MAX_BODY = 4096;
const RATE = 8;
const LIFETIME = 4;
const PER_ADDR = 12;
let s;

before(async () => {
    s = await startStack({
        env: {
            COMET_PUBLIC_CHANNELS: 'pub*', COMET_PRIVATE_CHANNELS: 'priv*', COMET_JWT_SECRET: JWT_SECRET,
            COMET_MAX_BODY: String(MAX_BODY), COMET_WS_RATE: String(RATE), COMET_SSE_HEARTBEAT: '1',
            COMET_CORS_ORIGINS: 'https://app.example', COMET_SSE_LIFETIME: String(LIFETIME),
            COMET_MAX_WAITING_PER_ADDR: String(PER_ADDR),
        },
    });
});
after(async () => {
    await s?.stop();
});

const jwt = (claims) => signJwt(claims, { key: JWT_SECRET });

const wsUrl = (params) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of [].concat(v)) q.append(k, x);
    return `${s.url()}/ws?${q}`;
};

/** The open frame, once it came: {cursor, open: true}. */
const opened = (c, what = 'the open frame') => c.waitFor((x) => x.messages.find((m) => m.open), WAIT_MS, what);

test('Apache + mod_fcgid: /comet/ws answers a JSON 404 and the client falls back', { skip: EXTERNAL }, async () => {
    const r = await request(`${s.url()}/ws?channel=pub-a`);
    assertError(r, 404, '/comet/ws under mod_fcgid');
    const c = await openWs(wsUrl({ channel: 'pub-a' }));
    assert.equal(c.status, 404, 'the upgrade under mod_fcgid');
});

test('replay from since, the open frame, then live events, one JSON object per text message',
    { skip: !EXTERNAL }, async () => {
        const ch = channelName('pub-replay');
        const ids = await s.publishIds([1, 2, 3].map((n) => ({ channel: ch, data: n })));
        const c = await openWs(wsUrl({ channel: ch, since: ids[0] }));
        assert.equal(c.status, 101, JSON.stringify(c.body));
        const open = await opened(c);
        assert.deepEqual(c.envelopes.map((e) => e.id), ids.slice(1), 'the replay after since');
        assert.equal(open.cursor, ids[2], 'the open frame carries the cursor');
        const [live] = await s.publishIds({ channel: ch, data: 'live' });
        await c.waitFor((x) => x.envelopes.some((e) => e.id === live), WAIT_MS, 'the live event');
        assert.deepEqual(c.envelopes.map((e) => e.data), [2, 3, 'live']);
        await c.waitFor((x) => x.pings >= 2, WAIT_MS, 'pings every COMET_SSE_HEARTBEAT s');
        c.ws.close(1000);
        await c.waitClose();
    });

test('subscribe, unsubscribe and publish ops on an open socket', { skip: !EXTERNAL }, async () => {
    const a = channelName('pub-a');
    const b = channelName('pub-b');
    const [b0] = await s.publishIds({ channel: b, data: 'b before' });
    const [start] = await s.publishIds({ channel: a, data: 'a before' });
    const c = await openWs(wsUrl({ channel: a, since: start }));
    await opened(c);
    const [b1] = await s.publishIds({ channel: b, data: 'b after' });
    c.send({ op: 'subscribe', ref: 1, channels: [b], since: b0 });
    const sub = await c.waitFor((x) => x.messages.find((m) => m.op === 'subscribed'), WAIT_MS, 'subscribed');
    assert.deepEqual(sub, { op: 'subscribed', ref: 1, channels: [b], cursor: b0 });
    await c.waitFor((x) => x.envelopes.some((e) => e.id === b1), WAIT_MS, 'the new channel replayed from since');

    c.send({ op: 'publish', ref: 'p1', channel: a, event: 'note', data: { x: 1 } });
    const ack = await c.waitFor((x) => x.messages.find((m) => m.op === 'ack'), WAIT_MS, 'the publish ack');
    assert.equal(ack.ref, 'p1');
    assert.equal(ack.ids.length, 1);
    await c.waitFor((x) => x.envelopes.some((e) => e.id === ack.ids[0] && e.event === 'note'), WAIT_MS,
        'the published event');

    c.send({ op: 'unsubscribe', ref: 2, channels: [a] });
    await c.waitFor((x) => x.messages.find((m) => m.op === 'unsubscribed'), WAIT_MS, 'unsubscribed');
    const [na] = await s.publishIds({ channel: a, data: 'not for it' });
    const [mark] = await s.publishIds({ channel: b, data: 'marker' });
    await c.waitFor((x) => x.envelopes.some((e) => e.id === mark), WAIT_MS, 'the marker on b');
    assert.ok(!c.envelopes.some((e) => e.id === na), 'an event of an unsubscribed channel arrived');
    const ids = c.envelopes.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `duplicates: ${ids}`);

    c.send({ op: 'publish', ref: 3, channel: 'secret-x', data: 1 });
    const e401 = await c.waitFor((x) => x.messages.find((m) => m.op === 'error' && m.ref === 3), WAIT_MS, '401');
    assert.equal(e401.status, 401, JSON.stringify(e401));
    c.send({ op: 'publish', ref: 4, channel: a, event: 'comet-x', data: 1 });
    const e400 = await c.waitFor((x) => x.messages.find((m) => m.op === 'error' && m.ref === 4), WAIT_MS, '400');
    assert.equal(e400.status, 400, JSON.stringify(e400));
    c.send('not json');
    c.send({ op: 'subscribe', ref: 5, channels: ['bad name'] });
    await c.waitFor((x) => x.messages.filter((m) => m.op === 'error' && m.status === 400).length >= 3, WAIT_MS,
        'errors for bad messages');
    const [still] = await s.publishIds({ channel: b, data: 'still open' });
    await c.waitFor((x) => x.envelopes.some((e) => e.id === still), WAIT_MS, 'the socket stays open after errors');
    c.ws.close(1000);
});

test('bad input closes the socket with its code: 1002, 1009, 1007, 1003, 1008', { skip: !EXTERNAL }, async () => {
    const ch = channelName('pub-bad');
    const path = `/comet/ws?channel=${ch}`;
    const unmasked = await rawWs('127.0.0.1', s.port(), path);
    assert.equal(unmasked.status, 101, unmasked.head);
    unmasked.frame(1, '{"op":"subscribe"}', { mask: false });
    assert.equal(await unmasked.waitClose(), 1002, 'an unmasked frame');
    unmasked.sock.destroy();

    const utf8 = await rawWs('127.0.0.1', s.port(), path);
    utf8.frame(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    assert.equal(await utf8.waitClose(), 1007, 'invalid UTF-8 text');
    utf8.sock.destroy();

    const big = await openWs(wsUrl({ channel: ch }));
    big.send(JSON.stringify({ op: 'publish', channel: ch, data: 'x'.repeat(MAX_BODY) }));
    assert.equal((await big.waitClose()).code, 1009, 'a message over COMET_MAX_BODY');

    const binary = await openWs(wsUrl({ channel: ch }));
    binary.ws.send(Buffer.from('{"op":"subscribe"}'), { binary: true });
    assert.equal((await binary.waitClose()).code, 1003, 'a binary message');

    const fast = await openWs(wsUrl({ channel: ch }));
    await opened(fast);
    for (let i = 0; i <= RATE * 2; i++) fast.send({ op: 'unsubscribe', channels: ['pub-none'] });
    assert.equal((await fast.waitClose()).code, 1008, `more than COMET_WS_RATE=${RATE} messages a second`);
});

test('a client that answers no ping is dropped after two', { skip: !EXTERNAL }, async () => {
    const c = await rawWs('127.0.0.1', s.port(), `/comet/ws?channel=${channelName('pub-mute')}`);
    assert.equal(c.status, 101);
    const t = Date.now();
    assert.equal(await c.waitClose(10000), 'gone', 'the server closed without a close frame');
    assert.ok(c.frames.filter((f) => f.op === 9).length >= 2, 'it was pinged twice first');
    assert.ok(Date.now() - t >= 1500, `dropped after ${Date.now() - t} ms, before two heartbeats`);
});

test('the Origin check: the own host and COMET_CORS_ORIGINS pass, others get 403', { skip: !EXTERNAL }, async () => {
    const url = wsUrl({ channel: channelName('pub-origin') });
    const evil = await openWs(url, { origin: 'https://evil.example' });
    assert.equal(evil.status, 403, 'a foreign origin');
    assert.match(evil.body.error, /Origin/);
    for (const origin of [`http://127.0.0.1:${s.port()}`, 'https://app.example']) {
        const ok = await openWs(url, { origin });
        assert.equal(ok.status, 101, `${origin}: ${JSON.stringify(ok.body)}`);
        ok.ws.close();
    }
});

test('private channels: 401 without credentials, 403 with others, and the expiry closes the socket',
    { skip: !EXTERNAL }, async () => {
        const ch = channelName('priv');
        const none = await openWs(wsUrl({ channel: ch }));
        assert.equal(none.status, 401, JSON.stringify(none.body));
        const other = await openWs(wsUrl({ channel: ch, token: jwt({ exp: now() + 60, comet: { subscribe: ['priv-else*'] } }) }));
        assert.equal(other.status, 403, JSON.stringify(other.body));
        const token = jwt({ exp: now() + 2, comet: { subscribe: [ch], publish: [ch] } });
        const c = await openWs(wsUrl({ channel: ch }), { headers: { Cookie: `comet_token=${token}` } });
        assert.equal(c.status, 101, JSON.stringify(c.body));
        await opened(c);
        c.send({ op: 'publish', ref: 1, channel: ch, data: 'by token' });
        const ack = await c.waitFor((x) => x.messages.find((m) => m.op === 'ack'), WAIT_MS, 'a publish by the token');
        await c.waitFor((x) => x.envelopes.some((e) => e.id === ack.ids[0]), WAIT_MS, 'the event');
        c.send({ op: 'subscribe', ref: 2, channels: [channelName('priv-other')] });
        const e = await c.waitFor((x) => x.messages.find((m) => m.op === 'error' && m.ref === 2), WAIT_MS, 'a 403 op');
        assert.equal(e.status, 403, JSON.stringify(e));
        const close = await c.waitClose(10000);
        assert.ok(c.messages.some((m) => m.expired === true), 'no {"expired":true} before the close');
        assert.equal(close.code, 1000, JSON.stringify(close));
    });

test('SIGTERM of comet.fcgi closes sockets with 1001, and the client resumes from its cursor with no loss',
    { skip: !EXTERNAL }, async () => {
        const ch = channelName('pub-term');
        const [first] = await s.publishIds({ channel: ch, data: 0 });
        const c = await openWs(wsUrl({ channel: ch, since: first }));
        const open = await opened(c);
        const [pid] = s.fcgiPids();
        assert.ok(pid, 'no comet.fcgi to stop');
        process.kill(pid, 'SIGTERM');
        const close = await c.waitClose();
        assert.equal(close.code, 1001, JSON.stringify(close));
        await until(() => !alive(pid), WAIT_MS, 'comet.fcgi to exit');
        await s.restartWeb();
        // Published after the close and before the client is back: the resume must bring them.
        const missed = await s.publishIds([1, 2, 3].map((n) => ({ channel: ch, data: n })));
        const again = await openWs(wsUrl({ channel: ch, since: open.cursor }));
        assert.equal(again.status, 101, JSON.stringify(again.body));
        await opened(again);
        assert.deepEqual(again.envelopes.map((e) => e.id), missed, 'the events published meanwhile, once each');
        assertIncreasing(again.envelopes.map((e) => e.id));
        again.ws.close();
    });

test(`no end at COMET_SSE_LIFETIME (${LIFETIME} s): the session renews itself unseen, with no loss or duplicate`,
    { skip: !EXTERNAL }, async () => {
        const ch = channelName('pub-life');
        const c = await openWs(wsUrl({ channel: ch }));
        await opened(c);
        const t = Date.now();
        const ids = [];
        while (Date.now() - t < (LIFETIME + 2) * 1000) {
            ids.push(...await s.publishIds({ channel: ch, data: ids.length }));
            await c.waitFor((x) => x.envelopes.length === ids.length, WAIT_MS, `event ${ids.length}`);
        }
        assert.equal(c.close, null, 'the socket closed');
        assert.deepEqual(c.envelopes.map((e) => e.id), ids, 'every event once, in order, across the renewal');
        assert.ok(c.messages.filter((m) => m.open).length >= 2, 'the renewal sends an open frame of its own');
        c.ws.close();
    });

test(`the per-address limit (COMET_MAX_WAITING_PER_ADDR=${PER_ADDR}) refuses the upgrade with 429`,
    { skip: !EXTERNAL }, async () => {
        // The sockets of the tests before have left the address's set (they leave asynchronously).
        await until(async () => Number(await s.redis('ZCARD', 'comet:wa:127.0.0.1')) === 0, WAIT_MS,
            "the address's set to empty");
        const ch = channelName('pub-addr');
        const open = [];
        for (let i = 0; i < PER_ADDR; i++) {
            const c = await openWs(wsUrl({ channel: ch }));
            assert.equal(c.status, 101, `socket ${i}: ${JSON.stringify(c.body)}`);
            open.push(c);
        }
        const over = await openWs(wsUrl({ channel: ch }));
        assert.equal(over.status, 429, JSON.stringify(over.body));
        assert.ok(over.headers['retry-after'], 'Retry-After');
        for (const c of open) c.ws.close();
    });

test('a reader that lets 1 MiB pile up is dropped, like a slow stream', { skip: !EXTERNAL }, async () => {
    // On comet.fcgi's own socket: a web server in front would buffer megabytes first.
    const ch = channelName('pub-slow');
    const c = await rawWs(path.join(s.dir, 'ws.sock'), null, `/comet/ws?channel=${ch}`);
    assert.equal(c.status, 101, c.head);
    c.sock.pause(); // reads nothing more
    const data = 'x'.repeat(MAX_BODY - 200);
    for (let i = 0; i < 40 && !/reads too slowly/.test(s.tail(s.fcgiLog(), 20000)); i++)
        await Promise.all(Array.from({ length: 20 }, () => s.publish({ channel: ch, data })));
    await until(() => /reads too slowly/.test(s.tail(s.fcgiLog(), 20000)), WAIT_MS, 'the slow reader to be dropped');
    c.sock.destroy();
});
