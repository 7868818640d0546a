// Presence (issue 15, README: Presence): on channels matching COMET_PRESENCE_CHANNELS every
// transport, on either of two web nodes, makes its client present; an identity (the JWT's
// sub, with comet.info) joins once however many connections it has, and leaves once when
// its last one is gone for COMET_LEAVE_GRACE seconds: comet-join / comet-leave events on
// the channel (read here from /history), member_added / member_removed webhooks, and
// GET /presence. Disconnects are abrupt (the socket destroyed), as when a tab dies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, channelName, request, query, openSse, until, SERVER, EXTERNAL, WAIT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';
import { openWs } from '../lib/ws.mjs';
import { jwt, now } from '../lib/jwt.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const HOOK_SECRET = crypto.randomBytes(24).toString('hex');
const GRACE_S = 1;
const POLL_S = 3; // a poll's timeout: under mod_fcgid a vanished poller is noticed when it ends
// The stated bound on a leave after the client vanished: noticing it (a heartbeat, 1 s here;
// a poll's end) plus the grace plus the sweep's second; kept wide for a loaded machine.
const LEAVE_MS = (POLL_S + GRACE_S + 1) * 1000 + 12000;

const hooks = []; // webhook events received
let receiver;
let s;
before(async () => {
    receiver = http.createServer((req, res) => {
        let text = '';
        req.on('data', (d) => (text += d));
        req.on('end', () => {
            const ts = req.headers['x-comet-timestamp'];
            const mac = crypto.createHmac('sha256', HOOK_SECRET).update(`${ts}.${text}`).digest('hex');
            if (req.headers['x-comet-signature'] === `sha256=${mac}`) hooks.push(...JSON.parse(text).events);
            res.writeHead(200).end();
        });
    });
    await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
    s = await startStack({
        env: {
            COMET_PRESENCE_CHANNELS: 'room.*', COMET_PRIVATE_CHANNELS: 'room.priv.*', COMET_JWT_SECRET: SECRET,
            COMET_LEAVE_GRACE: String(GRACE_S), COMET_SSE_HEARTBEAT: '1',
            COMET_WEBHOOK_URL: `http://127.0.0.1:${receiver.address().port}/hook`, COMET_WEBHOOK_SECRET: HOOK_SECRET,
        },
        web: [{}, {}],
    });
});
after(async () => {
    await s?.stop();
    receiver?.close();
});

/** A token naming sub (with comet.info info when given) that may subscribe to room.*. */
const token = (sub, info) => jwt({ exp: now() + 600, sub, comet: { subscribe: ['room.*'], ...(info && { info }) } },
    { key: SECRET });

/** The server's presence events on ch, in order, read from its history (through node 1:
 * the kill test kills node 0's processes). */
async function signals(ch) {
    const r = await request(`${s.url(1)}/history${query({ channel: ch, limit: 1000 })}`);
    assert.equal(r.status, 200, r.text);
    return r.json.events.filter((e) => e.event === 'comet-join' || e.event === 'comet-leave')
        .map((e) => ({ event: e.event, ...e.data }));
}
const untilSignals = (ch, pred, what, ms = WAIT_MS) =>
    until(async () => { const v = await signals(ch); return pred(v) && v; }, ms, what);
const presence = (ch, params = {}, instance = 0) =>
    request(`${s.url(instance)}/presence${query({ channel: ch, ...params })}`);

/** A client that polls ch again as soon as each poll answers, until stop() (which aborts
 * the poll in flight); polls counts the answered ones. */
function poller(params, instance) {
    const p = { polls: 0, stopped: false, ctl: null };
    let since = '';
    p.done = (async () => {
        while (!p.stopped) {
            p.ctl = new AbortController();
            try {
                const r = await s.poll({ ...params, timeout: POLL_S, ...(since && { since }) },
                    { instance, signal: p.ctl.signal });
                if (r.json?.cursor) since = r.json.cursor;
                p.polls++;
            } catch {
                // aborted by stop()
            }
        }
    })();
    p.stop = () => {
        p.stopped = true;
        p.ctl?.abort();
        return p.done;
    };
    return p;
}

/** Opens transport t on ch for params on web node instance; resolves {close()} once it waits. */
async function connect(t, ch, params, instance) {
    const q = { channel: ch, ...params };
    if (t === 'poll') {
        const p = poller(q, instance);
        return { close: () => p.stop() };
    }
    if (t === 'ws') {
        const c = await openWs(`${s.url(instance)}/ws${query(q)}`);
        assert.equal(c.status, 101, JSON.stringify(c.body));
        return { close: () => c.ws.terminate() };
    }
    const url = `${s.url(instance)}/${t}${query(t === 'iframe' ? { ...q, callback: 'cb' } : q)}`;
    const r = openSse(url);
    const { status } = await r.opened;
    assert.equal(status, 200, `${t} answered ${status}`);
    return { close: () => r.close() };
}

const TRANSPORTS = ['poll', 'sse', 'stream', 'iframe', ...(EXTERNAL ? ['ws'] : [])];

test(`every transport (${TRANSPORTS.join(', ')}), on either node: one join, then one leave after an abrupt ` +
    'disconnect, within the stated bound', { timeout: 240000 }, async () => {
    for (const [i, t] of TRANSPORTS.entries()) {
        const ch = channelName(`room.${t}`);
        const id = `user-${t}`;
        const conn = await connect(t, ch, { token: token(id, { name: t }) }, i % 2);
        const joined = await untilSignals(ch, (v) => v.length >= 1, `${t}: the join`);
        assert.deepEqual(joined, [{ event: 'comet-join', id, info: { name: t }, count: 1 }], t);
        const p = await presence(ch, {}, (i + 1) % 2);
        assert.equal(p.status, 200, p.text);
        assert.deepEqual(p.json, { channel: ch, count: 1, members: [{ id, info: { name: t } }], more: false }, t);
        const gone = Date.now();
        await conn.close();
        const all = await untilSignals(ch, (v) => v.length >= 2, `${t}: the leave`, LEAVE_MS);
        assert.ok(Date.now() - gone >= GRACE_S * 1000 - 300, `${t}: left only after the grace`);
        assert.deepEqual(all, [joined[0], { event: 'comet-leave', id, info: { name: t }, count: 0 }], t);
        assert.deepEqual((await presence(ch)).json, { channel: ch, count: 0, members: [], more: false });
    }
});

test('one join per identity across tabs, transports and nodes; a long-poll between polls does not flicker; ' +
    'anonymous clients are counted, not listed; webhooks say the same', { timeout: 120000 }, async () => {
    const ch = channelName('room.lobby');
    const alice = token('alice', { name: 'Alice' });
    const tabs = [
        await connect('sse', ch, { token: alice }, 0),
        await connect('stream', ch, { token: alice }, 1),
        await connect('sse', ch, { token: token('bob') }, 1),
        await connect('sse', ch, { pid: 'tab-1' }, 0), // one anonymous page with two connections
        await connect('stream', ch, { pid: 'tab-1' }, 1),
        await connect('sse', ch, {}, 0), // one without a pid: counted per connection
    ];
    const polls = poller({ channel: ch, token: alice }, 1);
    await untilSignals(ch, (v) => v.length >= 2, 'alice and bob joined');
    await until(async () => (await presence(ch)).json.count === 4, WAIT_MS, 'a count of 4');
    const p = (await presence(ch)).json;
    assert.deepEqual(p.members.sort((a, b) => a.id.localeCompare(b.id)),
        [{ id: 'alice', info: { name: 'Alice' } }, { id: 'bob' }]);
    assert.deepEqual((await presence(ch, { limit: 1 })).json.more, true);

    // Alice closes two tabs; her polls go on, answered by events and polled again at once,
    // each gap between two polls shorter than the grace.
    await tabs[0].close();
    await tabs[1].close();
    const from = polls.polls;
    for (let k = 0; k < 4; k++) {
        await s.publishIds({ channel: ch, data: k });
        await until(() => polls.polls > from + k, WAIT_MS, `poll ${k} answered`);
    }
    await until(() => polls.polls > from + 4, WAIT_MS, 'polled again');
    assert.deepEqual((await signals(ch)).map((e) => `${e.event} ${e.id}`).sort(), ['comet-join alice', 'comet-join bob'],
        'no leave while a poll of alice comes back within the grace');

    await polls.stop();
    const all = await untilSignals(ch, (v) => v.length >= 3, 'alice left', LEAVE_MS);
    assert.deepEqual(all.slice(2), [{ event: 'comet-leave', id: 'alice', info: { name: 'Alice' }, count: 3 }]);
    for (const t of tabs.slice(2)) await t.close();
    const last = await untilSignals(ch, (v) => v.length >= 4, 'bob left', LEAVE_MS);
    assert.deepEqual(last.map((e) => `${e.event} ${e.id}`).sort(),
        ['comet-join alice', 'comet-join bob', 'comet-leave alice', 'comet-leave bob']);
    await until(async () => (await presence(ch)).json.count === 0, LEAVE_MS, 'the anonymous ones gone too');

    const names = () => hooks.filter((e) => e.channel === ch && e.name.startsWith('member_'));
    await until(() => names().length >= 4, WAIT_MS, 'four member webhooks');
    assert.deepEqual(names().map((e) => `${e.name} ${e.member.id}`).sort(),
        ['member_added alice', 'member_added bob', 'member_removed alice', 'member_removed bob']);
    assert.deepEqual(names().find((e) => e.member.id === 'alice').member, { id: 'alice', info: { name: 'Alice' } });
});

test('a client whose process is killed leaves by its deadline, and its channel is vacated', { timeout: 90000, skip: SERVER !== 'apache' &&
    'mod_fcgid only: there one process holds one client, so killing it loses no one else' }, async () => {
    const ch = channelName('room.kill');
    const poll = s.poll({ channel: ch, token: token('carol'), timeout: POLL_S }).catch(() => null);
    await untilSignals(ch, (v) => v.length >= 1, 'carol joined');
    for (const pid of s.fcgiPids(0)) process.kill(pid, 'SIGKILL');
    await poll;
    // Its deadline is its wait plus 5 s; then the grace and the sweep.
    const all = await untilSignals(ch, (v) => v.length >= 2, 'carol left', (POLL_S + 5 + GRACE_S + 1) * 1000 + 15000);
    assert.deepEqual(all.map((e) => `${e.event} ${e.id}`), ['comet-join carol', 'comet-leave carol']);
    // The channel is vacated by the same bound (README: Webhooks), once.
    const vacated = () => hooks.filter((e) => e.channel === ch && e.name === 'channel_vacated');
    await until(() => vacated().length, WAIT_MS, 'channel_vacated after the kill');
    assert.equal(vacated().length, 1);
});

test('GET /presence: the subscriber\'s credentials, one presence channel, clear errors', async () => {
    assertError(await presence(channelName('plain')), 404, 'not a presence channel');
    assertError(await request(`${s.url()}/presence${query({ channel: ['room.a', 'room.b'] })}`), 400, 'two channels');
    assertError(await request(`${s.url()}/presence`), 400, 'no channel');
    const priv = channelName('room.priv.x');
    assertError(await presence(priv), 401, 'a private presence channel without credentials');
    const r = await presence(priv, { token: token('dave') });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { channel: priv, count: 0, members: [], more: false });
    assertError(await request(`${s.url()}/presence${query({ channel: 'room.a' })}`, { method: 'POST' }), 405, 'POST');
});

test('identities presence cannot list are refused with 401, and publishers cannot forge presence events',
    async () => {
        const ch = channelName('room.bad');
        const bad = [
            jwt({ exp: now() + 60, sub: 'a\nb', comet: { subscribe: ['room.*'] } }, { key: SECRET }),
            jwt({ exp: now() + 60, sub: 'x'.repeat(129), comet: { subscribe: ['room.*'] } }, { key: SECRET }),
            jwt({ exp: now() + 60, sub: 'e', comet: { subscribe: ['room.*'], info: { pad: 'x'.repeat(1100) } } },
                { key: SECRET }),
            jwt({ exp: now() + 60, sub: 'e', comet: { subscribe: ['room.*'], info: 'a string' } }, { key: SECRET }),
            jwt({ exp: now() + 60, sub: 'e' }, { key: 'not the secret' }),
        ];
        for (const t of bad) assertError(await s.poll({ channel: ch, token: t, timeout: 1 }), 401, t);
        const numeric = await s.poll({ channel: ch, token: jwt({ exp: now() + 60, sub: 42 }, { key: SECRET }), timeout: 1 });
        assert.equal(numeric.status, 200, 'a numeric sub is listed as its decimal string');
        assert.deepEqual((await untilSignals(ch, (v) => v.length >= 1, 'the join of 42'))[0].id, '42');
        assertError(await s.publish({ channel: ch, event: 'comet-join', data: { id: 'mallory' } }), 400, 'forged join');
    });

test('a WebSocket that changes its channels with ops stays one client (its pid), on the channels it keeps',
    { timeout: 60000, skip: !EXTERNAL && 'external mode only: mod_fcgid has no WebSocket' }, async () => {
        const a = channelName('room.ws-a');
        const b = channelName('room.ws-b');
        const c = await openWs(`${s.url()}/ws${query({ channel: a, pid: 'ws-tab' })}`);
        assert.equal(c.status, 101, JSON.stringify(c.body));
        try {
            await until(async () => (await presence(a)).json.count === 1, WAIT_MS, 'the socket counted on a');
            c.send({ op: 'subscribe', channels: [b] });
            await c.waitFor((x) => x.messages.find((m) => m.op === 'subscribed'), WAIT_MS, 'subscribed');
            await until(async () => (await presence(b)).json.count === 1, WAIT_MS, 'the socket counted on b');
            // Within the grace the session it left would still count, were it another client.
            assert.equal((await presence(a)).json.count, 1, 'one client on a across the socket\'s two sessions');
        } finally {
            c.ws.terminate();
        }
    });
