// Clients that leave while they wait (README, Disconnects): a stream whose client has gone
// is dropped at the next heartbeat the web server fails to deliver; a long-poll whose client
// has gone, at its timeout at the latest (neither Apache nor lighttpd 1.4 reliably tells its
// backend that a client left while nothing is written). "Dropped": /stats no longer counts
// it and, in external mode, the web server closed the backend connection and comet.fcgi no
// longer holds it. And a client that stops reading holds up nobody else (in external mode
// one process writes to every client).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startStack, channelName, until, query, resetSocket, EXTERNAL, WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';

const HEARTBEAT = 1;
let s;
before(async () => {
    // Every client here is 127.0.0.1: the per-address limit (peraddr.test.mjs) is off.
    s = await startStack({ env: { COMET_MAX_WAITING_PER_ADDR: '0', COMET_SSE_HEARTBEAT: String(HEARTBEAT) } });
});
after(async () => {
    await s?.stop();
});

/** A raw GET on its own connection: close() ends it with FIN, reset() with RST. */
function rawGet(pathAndQuery) {
    const sock = net.connect({ host: '127.0.0.1', port: s.port() });
    const c = { data: '', sock };
    sock.setEncoding('utf8');
    sock.on('data', (d) => (c.data += d));
    sock.on('error', () => {});
    sock.write(`GET /comet/${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    c.close = () => sock.destroy();
    c.reset = () => resetSocket(sock);
    return c;
}

/** Waiting count, and (external mode) comet.fcgi's descriptors, before anything is opened. */
async function baseline() {
    // Every accept thread has its Redis connection by now, so descriptors move only with waiters.
    for (let i = 0; i < 8; i++) await s.stats();
    const [pid] = EXTERNAL ? s.fcgiPids() : [];
    const waiting = (await s.stats()).waiting;
    // The last answer's connection may still be closing: the count once it has stayed the
    // same for five readings in a row.
    const seen = [];
    const fds = !EXTERNAL ? 0 : await until(() => {
        seen.push(s.fdCount(pid));
        const last = seen.slice(-5);
        return last.length === 5 && last.every((n) => n === last[0]) && last[0];
    }, WAIT_MS, () => `comet.fcgi's descriptors to settle (readings: ${seen.slice(-20)})`, 100);
    return { waiting, pid, fds };
}

/** Opens n clients with open(i); resolves once they all wait (stats and, external, descriptors). */
async function openWaiting(b, n, open) {
    const clients = Array.from({ length: n }, (_, i) => open(i));
    await s.untilWaiting(b.waiting + n, { what: `${n} clients waiting` });
    if (EXTERNAL) assert.ok(s.fdCount(b.pid) >= b.fds + n, `comet.fcgi holds ${s.fdCount(b.pid)} descriptors ` +
        `with ${n} clients waiting (${b.fds} before)`);
    return clients;
}

/** Resolves with ms until the waiting count (and external, the descriptors) are back to b. */
async function dropped(b, ms, what) {
    const t = Date.now();
    await until(async () => (await s.stats()).waiting <= b.waiting, ms, `${what}: /stats waiting back to ` +
        `${b.waiting}`, 100);
    if (EXTERNAL) {
        await until(() => s.fdCount(b.pid) <= b.fds, Math.max(1000, ms - (Date.now() - t)),
            `${what}: comet.fcgi's descriptors back to ${b.fds} (now ${s.fdCount(b.pid)}): the web server ` +
            'kept the backend connection', 100);
    }
    return Date.now() - t;
}

test('streams whose clients left (sse, stream, iframe) are dropped within a few heartbeats',
    { timeout: 60000 }, async (t) => {
        const ch = channelName('gone');
        const b = await baseline();
        const kinds = ['sse', 'stream', 'iframe'];
        const clients = await openWaiting(b, 12, (i) => rawGet(`${kinds[i % 3]}${query({ channel: ch,
            callback: kinds[i % 3] === 'iframe' ? 'cb' : undefined })}`));
        // Every stream has started (its head is in) before its client goes.
        await until(() => clients.every((c) => /^HTTP\/1\.1 /.test(c.data)), WAIT_MS,
            () => `every stream's head (got ${clients.filter((c) => c.data).length} of ${clients.length})`);
        for (const c of clients) assert.match(c.data, /^HTTP\/1\.1 200 /, 'a stream did not start');
        for (const c of clients) c.close();
        const ms = await dropped(b, 6000 * HEARTBEAT + PROMPT_MS, 'streams');
        t.diagnostic(`12 streams dropped ${ms} ms after their clients left (heartbeat ${HEARTBEAT} s)`);
        // Whatever is left in the process still serves. (since=0: the channel has no other
        // event, and a poll without since could reach the hub after the publish.)
        const p = s.poll({ channel: ch, since: 0, timeout: 10 });
        const [id] = await s.publishIds({ channel: ch, data: 'after' });
        assert.deepEqual((await p).json.events.map((e) => e.id), [id]);
    });

test('long-polls whose clients left are dropped at their timeout at the latest', { timeout: 60000 },
    async (t) => {
        const ch = channelName('left');
        const b = await baseline();
        const clients = await openWaiting(b, 10, () => rawGet(`poll${query({ channel: ch, timeout: 3 })}`));
        const t0 = Date.now();
        for (const c of clients) c.close();
        const ms = await dropped(b, 3000 + PROMPT_MS, 'long-polls that timed out');
        t.diagnostic(`10 long-polls (timeout 3 s) dropped ${ms} ms after their clients closed`);
        assert.ok(Date.now() - t0 < 3000 + PROMPT_MS, `dropped ${Date.now() - t0} ms after their clients closed`);
    });

test('a client that stops reading does not hold up the others; the server stays well', { timeout: 90000 },
    async (t) => {
        const ch = channelName('stall');
        const [start] = await s.publishIds({ channel: ch, data: { seq: -1 } });
        // The stalled client: its request is sent, its answer never read.
        const stalled = rawGet(`sse${query({ channel: ch, since: start })}`);
        stalled.sock.pause();
        const healthy = s.sse({ channel: ch, since: start });
        try {
            await healthy.waitOpen();
            // 8 MB of events, more than the web server's and the kernel's buffers hold for one client.
            const pad = 'x'.repeat(8000);
            const N = 1000;
            const t0 = Date.now();
            for (let k = 0; k < N; k += 5) {
                const r = await s.publish(Array.from({ length: 5 }, (_, i) => ({ channel: ch, data: { seq: k + i, pad } })));
                assert.equal(r.status, 202, r.text);
            }
            // Held up, it would not get the rest: it has them soon after the last publish
            // (how long the publishing took is the machine's business).
            const tLast = Date.now();
            const got = await healthy.waitEnvelopes(N, WAIT_MS);
            const ms = Date.now() - t0;
            assert.deepEqual(got.map((e) => e.json.data.seq), Array.from({ length: N }, (_, i) => i));
            assert.ok(Date.now() - tLast < WAIT_MS, `the healthy client took ${Date.now() - tLast} ms after the last publish`);
            // And a newcomer is served at once.
            const p = s.poll({ channel: ch, since: got.at(-1).id, timeout: 10 });
            const [id] = await s.publishIds({ channel: ch, data: 'late' });
            assert.deepEqual((await p).json.events.map((e) => e.id), [id]);
            t.diagnostic(`${N} events of 8 KB reached the healthy client in ${ms} ms`);
        } finally {
            healthy.close();
            stalled.reset();
        }
        if (EXTERNAL) assert.equal(s.fcgiPids().length, 1, 'comet.fcgi died');
    });
