// External mode (COMET_IT_SERVER=lighttpd or proxy): one comet.fcgi process holds every
// waiting request in its event loop (fcgi/hub.c) with one Redis subscription. Hundreds of
// SSE and long-poll clients on a few channels each get every event once, in order, while
// the process count, the Redis subscriber count and the threads stay as they are; clients
// that come and go at any moment of their life disturb neither the process nor the others
// (the sanitizer build watches the hub's bookkeeping); channels nobody waits on are let go;
// a SIGTERM answers every waiting request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startStack, channelName, sleep, until, alive, cmpId, assertIncreasing, openSse, query, SERVER, EXTERNAL, APART,
    WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';
import { assertComplete, assertSseEnvelopes, assertJsonHeaders } from '../lib/checks.mjs';

const SKIP = !EXTERNAL && 'external mode only (COMET_IT_SERVER=lighttpd or proxy): under mod_fcgid every ' +
    'waiting request is a process with a subscription of its own';
// Clients of each kind. Behind mod_proxy_fcgi each waiting client also holds one of the
// private Apache's 400 threads (apache-conf/private.sh), so fewer there.
const N = SERVER === 'proxy' ? 150 : 300;

let s;
before(async () => {
    if (!EXTERNAL) return;
    // Every client here is 127.0.0.1: the per-address limit (peraddr.test.mjs) is off.
    s = await startStack({ env: { COMET_MAX_WAITING_PER_ADDR: '0', COMET_SSE_HEARTBEAT: '5' } });
});
after(async () => {
    await s?.stop();
});

const key = (ch) => `comet:c:${ch}`;

/** Connections with a subscription (SUBSCRIBE or PSUBSCRIBE) on the test Redis. */
async function subscribers() {
    return (await s.redisClients()).filter((c) => Number(c.sub) > 0 || Number(c.psub) > 0);
}

/** Threads of process pid, or 0. */
function threads(pid) {
    try {
        return Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    } catch {
        return 0;
    }
}

/** Samples, every ms until stop(), the comet.fcgi pids and Redis's subscribers and clients. */
function sampler(ms = 300) {
    const seen = { pids: new Set(), maxPids: 0, maxSubs: 0, maxClients: 0, maxThreads: 0, samples: 0, errors: [] };
    let on = true;
    const done = (async () => {
        for (let i = 0; on && i < 100000; i++) {
            try {
                const pids = s.fcgiPids();
                pids.forEach((p) => seen.pids.add(p));
                seen.maxPids = Math.max(seen.maxPids, pids.length);
                for (const p of pids) seen.maxThreads = Math.max(seen.maxThreads, threads(p));
                const clients = await s.redisClients();
                seen.maxClients = Math.max(seen.maxClients, clients.length);
                seen.maxSubs = Math.max(seen.maxSubs,
                    clients.filter((c) => Number(c.sub) > 0 || Number(c.psub) > 0).length);
                seen.samples++;
            } catch (e) {
                seen.errors.push(e.message);
            }
            await sleep(ms);
        }
    })();
    seen.stop = async () => {
        on = false;
        await done;
        return seen;
    };
    return seen;
}

test(`${N} SSE and ${N} long-poll clients in one comet.fcgi: every event once, in order; one process, ` +
    'one Redis subscriber, no thread or Redis connection per client', { timeout: 240000, skip: SKIP },
async (t) => {
    const chs = [channelName('ha'), channelName('hb'), channelName('hc')];
    const [A, B, C] = chs;
    // Subscriptions: one channel each, and every fourth client all three.
    const subsOf = (i) => (i % 4 === 3 ? chs : [chs[i % 4]]);
    const [start] = await s.publishIds({ channel: channelName('hstart'), data: 0 });
    const pids0 = s.fcgiPids();
    assert.equal(pids0.length, 1, `comet.fcgi processes: ${pids0}`);
    const threads0 = threads(pids0[0]);
    const watch = sampler();
    const base = (await s.stats()).waiting;

    // The events, planned first so that a client knows when it has them all: single
    // publishes, batches of two, and batches to all three channels; data.seq is the event's
    // number within its channel.
    const counts = { [A]: 0, [B]: 0, [C]: 0 };
    const ev = (c, event) => ({ channel: c, ...(event ? { event } : {}), data: { seq: counts[c]++ } });
    const plan = Array.from({ length: 30 }, (_, k) => {
        if (k % 10 === 9) return chs.map((c) => ev(c));
        if (k % 5 === 2) return [ev(chs[k % 3]), ev(chs[(k + 1) % 3], 'x')];
        return ev(chs[k % 3]);
    });
    const state = { failures: [], over: false };
    const deadline = Date.now() + 150000;
    const complete = (got, subs) => subs.every((c) => got.filter((e) => e.channel === c).length >= counts[c]);

    // SSE clients, opened in groups so that the listen queues are not the test.
    const streams = [];
    try {
        for (let i = 0; i < N; i += 50) {
            const group = [];
            for (let k = i; k < Math.min(N, i + 50); k++) {
                const r = s.sse({ channel: subsOf(k), since: start });
                streams.push(r);
                group.push(r);
            }
            await Promise.all(group.map((r) => r.waitOpen(30000)));
        }

        // Long-poll clients: each polls on from its cursor until it has everything.
        const pollers = Array.from({ length: N }, async (_, i) => {
            const me = { subs: subsOf(i), got: [], polls: 0 };
            let cursor = start;
            for (let k = 0; k < 10000 && !complete(me.got, me.subs) && Date.now() < deadline && !state.over; k++) {
                try {
                    const r = await s.poll({ channel: me.subs, since: cursor, timeout: 25 }, { timeoutMs: 60000 });
                    me.polls++;
                    if (r.status !== 200 || !r.json) throw new Error(`poll answered ${r.status} ${r.text.slice(0, 200)}`);
                    me.got.push(...r.json.events);
                    cursor = r.json.cursor;
                } catch (e) {
                    state.failures.push(`poller ${i}: ${e.message}`);
                    await sleep(200);
                }
            }
            return me;
        });

        // Everyone waits in the one process.
        const waiting = await until(async () => {
            const w = (await s.stats()).waiting;
            return w >= base + 2 * N && w;
        }, 60000, `${2 * N} requests waiting`, 200);
        const numsub = (await s.redis('PUBSUB', 'NUMSUB', ...chs.map(key))).split('\n');
        assert.deepEqual(numsub, chs.flatMap((c) => [key(c), '1']),
            `PUBSUB NUMSUB with ${2 * N} clients waiting: one subscription per channel`);
        const subs = await subscribers();
        assert.equal(subs.length, 1, `Redis connections with a subscription: ${JSON.stringify(subs)}`);

        for (const [k, body] of plan.entries()) {
            const r = await s.publish(body);
            assert.equal(r.status, 202, `publish ${k}: ${r.text}`);
            await sleep(100);
        }

        // Every client gets everything.
        for (const [i, r] of streams.entries()) {
            await r.waitFor(() => complete(r.envelopes.map((e) => e.json), subsOf(i)),
                Math.max(1000, deadline - Date.now()), `every event on stream ${i}`);
        }
        const polled = await Promise.all(pollers);
        const seen = await watch.stop();

        assert.deepEqual(state.failures.slice(0, 5), [], 'poll failures');
        streams.forEach((r, i) => {
            assert.equal(r.status, 200);
            assertSseEnvelopes(r.envelopes, `stream ${i}`);
            const want = Object.fromEntries(subsOf(i).map((c) => [c, counts[c]]));
            assertComplete(r.envelopes.map((e) => e.json), want, `stream ${i}`);
        });
        polled.forEach((m, i) => {
            const want = Object.fromEntries(m.subs.map((c) => [c, counts[c]]));
            assertComplete(m.got, want, `poller ${i} (${m.polls} polls)`);
        });
        // The same ids for everyone on the same channels.
        assert.deepEqual(streams[3].envelopes.map((e) => e.id), polled[3].got.map((e) => e.id));

        assert.deepEqual(seen.errors.slice(0, 3), [], 'sampling failed');
        assert.ok(seen.samples >= 5, `only ${seen.samples} samples`);
        assert.deepEqual([...seen.pids], pids0, 'the comet.fcgi process changed or another one started');
        assert.equal(seen.maxPids, 1, 'more than one comet.fcgi process at a time');
        assert.equal(seen.maxSubs, 1, 'more than one Redis connection with a subscription at a time');
        // comet.fcgi: the subscription, the command connection and one per accept thread
        // (COMET_THREADS=4); the worker and redis-cli add a few.
        assert.ok(seen.maxClients <= 12, `${seen.maxClients} Redis connections with ${2 * N} clients waiting`);
        // main, 4 accept threads, the hub (and the sanitizer's own).
        assert.ok(seen.maxThreads <= threads0 + 2 && seen.maxThreads < 16,
            `comet.fcgi ran ${seen.maxThreads} threads (idle: ${threads0})`);
        t.diagnostic(`${waiting - base} waiting at once; ${polled.reduce((n, m) => n + m.polls, 0)} polls; ` +
            `events per channel ${chs.map((c) => counts[c]).join('/')}; at most ${seen.maxClients} Redis ` +
            `connections and ${seen.maxThreads} threads (idle ${threads0})`);
    } finally {
        state.over = true;
        for (const r of streams) r.close();
        await watch.stop();
    }
});

/** Sanitizer reports (or a crash) that comet.fcgi wrote to its log so far. */
function sanitizerReports() {
    const log = s.tail(s.fcgiLog(), 1 << 20);
    return log.split('\n').filter((l) => /ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(l));
}

test('churn: 1000 clients that come and go at random moments (before, during and after their history ' +
    'read; closed or reset) while 10 publishers publish: the process lives on and the survivors miss nothing',
{ timeout: 120000, skip: SKIP }, async () => {
    const chs = Array.from({ length: 4 }, (_, i) => channelName(`churn${i}`));
    const pids = s.fcgiPids();
    const [start] = await s.publishIds({ channel: chs[0], data: { seq: -1 } });
    const counts = Object.fromEntries(chs.map((c) => [c, 0]));
    let publishing = true;
    const publishers = Array.from({ length: 10 }, async (_, p) => {
        for (let k = 0; publishing && k < 1000; k++) {
            const c = chs[(p + k) % chs.length];
            // Each publisher waits for its answer, so per channel the order is the seq order
            // only within a publisher: data carries both.
            const r = await s.publish({ channel: c, data: { p, k } });
            assert.equal(r.status, 202, r.text);
            counts[c]++;
            await sleep(20);
        }
    });
    // A steady subscriber on every channel, twice (a duplicated channel must not double events).
    const steady = s.sse({ channel: [...chs, chs[0]], since: start });
    const rand = (n) => Math.floor(Math.random() * n);
    let opened = 0;
    try {
        await steady.waitOpen();
        for (let round = 0; round < 20; round++) {
            const batch = Array.from({ length: 50 }, (_, i) => {
                const sub = [chs[rand(chs.length)], ...(i % 3 ? [] : [chs[rand(chs.length)]])];
                const kind = ['sse', 'stream', 'poll'][i % 3];
                const params = { channel: sub, since: i % 2 ? start : undefined, timeout: kind === 'poll' ? 2 : undefined };
                opened++;
                const r = openSse(`${s.url()}/${kind}${query(params)}`);
                r.opened.catch(() => {});
                return r;
            });
            // Gone at once, after a few ms, or once something arrived; half of them reset.
            await Promise.all(batch.map(async (r, i) => {
                const wait = [0, 2, 10, 40, 150][i % 5];
                if (wait) await sleep(wait + rand(10));
                if (i % 5 === 4) await r.waitFor(() => r.raw.length > 0, 3000).catch(() => {});
                if (i % 2) r.reset();
                else r.close();
            }));
        }
        publishing = false;
        await Promise.all(publishers);
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        await steady.waitFor(() => steady.envelopes.length >= total, WAIT_MS, `all ${total} events on the steady stream`);
        const got = await s.drain(steady, chs[0]);
        assert.equal(got.length, total, 'events twice on the steady stream');
        assertSseEnvelopes(got);
        assertIncreasing(got.map((e) => e.id), 'steady stream ids');
        for (let p = 0; p < 10; p++) {
            const ks = got.map((e) => e.json.data).filter((d) => d.p === p).map((d) => d.k);
            assert.deepEqual(ks, ks.slice().sort((a, b) => a - b), `publisher ${p}'s events out of order`);
        }
    } finally {
        publishing = false;
        steady.close();
    }
    assert.deepEqual(sanitizerReports(), [], 'sanitizer reports in comet.fcgi\'s log');
    assert.deepEqual(s.fcgiPids(), pids, 'comet.fcgi died or was restarted during the churn');
    // Everything left goes: streams at a heartbeat (5 s), polls at their timeout (2 s).
    await until(async () => (await s.stats()).waiting === 0, 30000, 'no request waiting after the churn', 250);
    const ch = channelName('after-churn');
    const { req: p } = await s.whenWaiting(() => s.poll({ channel: ch, timeout: 10 }));
    const t = Date.now();
    const [id] = await s.publishIds({ channel: ch, data: 1 });
    const r = await p;
    assert.deepEqual(r.json.events.map((e) => e.id), [id], `a new poll after the churn, woken or not: ` +
        `${r.status} ${r.text} after ${Date.now() - t} ms (timeout 10 s)`);
    assert.equal(opened, 1000);
});

test('channels nobody waits on any more are unsubscribed: the subscription does not keep every channel ' +
    'ever used', { timeout: 90000, skip: SKIP }, async () => {
    const chs = [channelName('idle1'), channelName('idle2')];
    const sse = s.sse({ channel: chs });
    try {
        await sse.waitOpen();
        const numsub = (await s.redis('PUBSUB', 'NUMSUB', ...chs.map(key))).split('\n');
        assert.deepEqual(numsub, chs.flatMap((c) => [key(c), '1']));
    } finally {
        sse.close();
    }
    // The hub keeps an unused channel a while (fcgi/hub.c: 10 s), in case a client comes back.
    await until(async () => {
        const n = (await s.redis('PUBSUB', 'NUMSUB', ...chs.map(key))).split('\n');
        return n[1] === '0' && n[3] === '0';
    }, 60000, 'the idle channels to be unsubscribed', 500);
    // And a channel used again is subscribed again.
    // (Waiting, not only subscribed: a poll without since starts from what its first read finds.)
    const { req: p } = await s.whenWaiting(() => s.poll({ channel: chs[0], timeout: 20 }));
    await until(async () => (await s.redis('PUBSUB', 'NUMSUB', key(chs[0]))).split('\n')[1] === '1', WAIT_MS,
        'the channel subscribed again');
    const [id] = await s.publishIds({ channel: chs[0], data: 'again' });
    const r = await p;
    assert.deepEqual(r.json.events.map((e) => e.id), [id]);
});

/** Redis's MONITOR on a connection of its own: lines() is every command Redis ran since it began. */
async function monitor() {
    const sock = net.connect({ host: '127.0.0.1', port: s.redisPort });
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { text += d; });
    sock.on('error', () => {});
    sock.write('MONITOR\r\n');
    await until(() => text.startsWith('+OK'), WAIT_MS, 'MONITOR to begin');
    return { lines: () => text.split('\r\n').slice(1), stop: () => sock.destroy() };
}

test('a poll resuming from the event it was just answered with waits without reading history (the hub ' +
    'saw that event on its subscription); one resuming from further back reads it, and both get every ' +
    'event once', { timeout: 60000, skip: SKIP }, async () => {
    const ch = channelName('caughtup');
    const { req: first } = await s.whenWaiting(() => s.poll({ channel: ch, since: '0', timeout: 20 }));
    const [a] = await s.publishIds({ channel: ch, data: 'a' });
    assert.deepEqual((await first).json.events.map((e) => e.id), [a]);
    const mon = await monitor();
    let resumed;
    try {
        ({ req: resumed } = await s.whenWaiting(() => s.poll({ channel: ch, since: a, timeout: 20 })));
    } finally {
        mon.stop();
    }
    const reads = mon.lines().filter((l) => l.includes(`"comet:h:${ch}"`));
    assert.deepEqual(reads, [], 'commands on the history of a channel whose newest event the poll had');
    const [b] = await s.publishIds({ channel: ch, data: 'b' });
    assert.deepEqual((await resumed).json.events.map((e) => e.id), [b]);
    // Further back than what the subscription saw: from history, and nothing twice.
    const back = await s.poll({ channel: ch, since: '0', timeout: 1 });
    assert.deepEqual(back.json.events.map((e) => e.id), [a, b]);
});

test('SIGTERM with 100 polls and 100 streams waiting: every poll answers 200 with its cursor, every stream ' +
    'ends cleanly, the process exits', { timeout: 120000, skip: SKIP }, async () => {
    const chs = [channelName('t1'), channelName('t2')];
    const cursors = await s.publishIds(chs.map((c) => ({ channel: c, data: 0 })));
    const base = (await s.stats()).waiting;
    const polls = [];
    const streams = [];
    for (let i = 0; i < 100; i++) {
        const since = cursors[i % 2];
        const p = s.poll({ channel: chs[i % 2], since, timeout: 30 }, { timeoutMs: 60000 });
        p.catch(() => {});
        polls.push({ p, since });
        streams.push(s.sse({ channel: chs[i % 2], since }));
    }
    try {
        await Promise.all(streams.map((r) => r.waitOpen(30000)));
        await until(async () => (await s.stats()).waiting >= base + 200, 30000, '200 requests waiting', 200);
        const pids = s.fcgiPids();
        assert.equal(pids.length, 1);
        const t = Date.now();
        process.kill(pids[0], 'SIGTERM');
        const answers = await Promise.all(polls.map(({ p }) => p.catch((e) => ({ status: 0, text: e.message }))));
        const ms = Date.now() - t;
        answers.forEach((r, i) => {
            assert.equal(r.status, 200, `poll ${i}: ${r.status} ${r.text.slice(0, 200)}`);
            assertJsonHeaders(r, `poll ${i}`);
            // Its cursor, or a newer one that skips nothing of its channel (the newest id).
            assert.deepEqual(r.json.events, [], `poll ${i}`);
            assert.ok(cmpId(r.json.cursor, polls[i].since) >= 0 && cmpId(r.json.cursor, cursors[1]) <= 0,
                `poll ${i}: cursor ${r.json.cursor}, given ${polls[i].since}, newest ${cursors[1]}`);
        });
        assert.ok(ms < PROMPT_MS, `the polls answered within ${ms} ms of SIGTERM`);
        await Promise.all(streams.map((r) => r.waitEnd()));
        streams.forEach((r, i) => {
            assert.equal(r.error, null, `stream ${i}: ${r.error && r.error.message}`);
            assert.ok(!/<html|<!DOCTYPE/i.test(r.raw), `stream ${i}: HTML glued to it`);
            assert.equal(r.items.filter((x) => x.type === 'other').length, 0, `stream ${i}: junk lines`);
            assert.ok(/\n\n$/.test(r.raw), `stream ${i} did not end on a finished block`);
            assert.equal(r.opens.length, 1, `stream ${i}: open frames`);
        });
        await until(() => !alive(pids[0]), WAIT_MS, 'comet.fcgi to exit');
    } finally {
        for (const r of streams) r.close();
    }
    if (APART) await s.restartWeb();
    const ch = channelName('after');
    const p = s.poll({ channel: ch, since: 0, timeout: 20 });
    await s.publishIds({ channel: ch, data: 'after' });
    assert.deepEqual((await p).json.events.map((e) => e.data), ['after']);
});
