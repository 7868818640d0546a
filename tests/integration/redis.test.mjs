// Redis down: every endpoint answers 503 with Retry-After and a JSON error; open requests
// end instead of hanging; once Redis is back on the same port, everything works again
// without restarting the web server (nor, in external mode, comet.fcgi).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, until, request, EXTERNAL, WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';

let s;
before(async () => {
    s = await startStack({ env: { COMET_PUBLISH_WAIT: '3' } });
});
after(async () => {
    await s?.stop();
});

test('baseline: publish → poll', { timeout: 20000 }, async () => {
    const ch = channelName('base');
    const ids = await s.publishIds({ channel: ch, data: 1 });
    const r = await s.poll({ channel: ch, since: 0, timeout: 1 });
    assert.deepEqual(r.json.events.map((e) => e.id), ids);
});

let ch;
let cur;

test('Redis stopped: a waiting poll and an open stream end at once, without an HTML 500',
    { timeout: 60000 }, async () => {
        ch = channelName('down');
        [cur] = await s.publishIds({ channel: ch, data: 0 });
        const poll = s.poll({ channel: ch, since: cur, timeout: 25 });
        const sse = s.sse({ channel: ch, since: cur });
        await sse.waitOpen();
        await s.untilWaiting(2, { what: 'both requests waiting', requests: [poll] });
        const t = Date.now();
        await s.stopComponent('redis');
        try {
            const p = await poll;
            assert.ok(Date.now() - t < 20000, 'the waiting poll hung until its timeout');
            assert.ok([200, 503].includes(p.status), `waiting poll answered ${p.status} ${p.text}`);
            assert.ok(!/<html|<!DOCTYPE/i.test(p.text), `HTML in the poll answer: ${p.text.slice(0, 200)}`);
            if (p.status === 200) assert.deepEqual(p.json.events, []);
            else assertError(p, 503, 'waiting poll');
            await sse.waitEnd();
            assert.ok(!/<html|<!DOCTYPE/i.test(sse.raw), `HTML in the stream: ${sse.raw.slice(-300)}`);
            assert.equal(sse.envelopes.length, 0);
        } finally {
            sse.close();
        }
    });

test('Redis down: every endpoint answers 503 with Retry-After: 1 and a JSON error', { timeout: 90000 },
    async () => {
        if (s.pid('redis')) await s.stopComponent('redis');
        ch ??= channelName('down');
        cur ??= '0';
        const checks = [
            ['publish', () => s.publish({ channel: ch, data: 1 })],
            ['publish ?wait=1', () => s.publish({ channel: ch, data: 1 }, { wait: true })],
            ['poll', () => s.poll({ channel: ch, timeout: 5 }, { timeoutMs: 20000 })],
            ['poll since', () => s.poll({ channel: ch, since: cur, timeout: 5 }, { timeoutMs: 20000 })],
            ['poll since=0', () => s.poll({ channel: ch, since: 0, timeout: 5 }, { timeoutMs: 20000 })],
            ['stats', () => request(`${s.url()}/stats`, { timeoutMs: 20000 })],
            ['sse', () => request(`${s.url()}/sse?channel=${ch}`, { timeoutMs: 20000 })],
            ['stream', () => request(`${s.url()}/stream?channel=${ch}`, { timeoutMs: 20000 })],
            ['iframe', () => request(`${s.url()}/iframe?channel=${ch}&callback=cb`, { timeoutMs: 20000 })],
            ['jsonp poll', () => s.poll({ channel: ch, timeout: 5, callback: 'cb' }, { timeoutMs: 20000 })],
        ];
        // Every endpoint is tried, and every difference reported together.
        const failures = [];
        for (const [what, f] of checks) {
            try {
                const t0 = Date.now();
                const r = await f();
                assertError(r, 503, `${what} with Redis down`);
                assert.equal(r.headers['retry-after'], '1', `${what}: Retry-After`);
                assert.ok(Date.now() - t0 < PROMPT_MS, `${what}: took ${Date.now() - t0} ms to say 503`);
            } catch (e) {
                failures.push(`${what}: ${e.message.split('\n')[0]} (${JSON.stringify(e.actual)})`);
            }
        }
        assert.deepEqual(failures, [], 'endpoints that did not answer 503 as every error answers');
    });

test('Redis back on the same port: publish → poll and SSE work again without restarting the web server',
    { timeout: 60000 }, async () => {
        const web = s.pid('web');
        // External mode: the one comet.fcgi rides the outage out and reconnects by itself.
        const fcgi = EXTERNAL ? s.fcgiPids() : [];
        if (!s.pid('redis')) await s.startRedis();
        const ch = channelName('back');
        const pub = await s.publish({ channel: ch, data: { seq: 0 } });
        assert.equal(pub.status, 202, `first publish after the restart: ${pub.status} ${pub.text}`);
        // The worker reconnects by itself (backoff ≤ 5 s) and stores what was queued.
        const got = await s.collect(ch, 0, { count: 1, timeoutMs: 20000 });
        assert.deepEqual(got.events.map((e) => e.data), [{ seq: 0 }]);

        const sse = s.sse({ channel: ch, since: got.cursor });
        try {
            await sse.waitOpen();
            const { req: p } = await s.whenWaiting(() => s.poll({ channel: ch, since: got.cursor, timeout: 20 }));
            const t = Date.now();
            const [id] = await s.publishIds({ channel: ch, data: { seq: 1 } });
            const r = await p;
            assert.equal(r.status, 200, r.text);
            assert.ok(Date.now() - t < PROMPT_MS, `the poll answered ${Date.now() - t} ms after the publish (timeout 20 s)`);
            assert.deepEqual(r.json.events.map((e) => e.id), [id]);
            const evs = await sse.waitEnvelopes(1);
            assert.equal(evs[0].id, id);
        } finally {
            sse.close();
        }
        const st = await until(async () => {
            const x = await s.stats();
            return x.worker.alive && x;
        }, WAIT_MS, 'worker alive');
        assert.ok(st.published >= 2);
        assert.equal(s.pid('web'), web, 'the web server was restarted');
        if (EXTERNAL) {
            assert.equal(fcgi.length, 1, `comet.fcgi processes before: ${fcgi}`);
            assert.deepEqual(s.fcgiPids(), fcgi, 'comet.fcgi exited or was restarted during the outage');
        }
    });

test('SCRIPT FLUSH: waiting requests work again at once (the event loop loads its scripts on each new ' +
    'connection and runs them by SHA-1; NOSCRIPT makes it reconnect)', { timeout: 90000 }, async () => {
    if (!s.pid('redis')) await s.startRedis();
    const ch = channelName('flush');
    const [first] = await s.publishIds({ channel: ch, data: 0 });
    // Requests before the flush: the scripts are loaded and in use.
    assert.equal((await s.poll({ channel: ch, since: 0, timeout: 1 })).status, 200);
    await s.redis('SCRIPT', 'FLUSH');
    // The first request after it may fail (503) where it meets NOSCRIPT; a client retrying gets its events.
    const [id] = await s.publishIds({ channel: ch, data: 1 });
    const r = await until(async () => {
        const x = await s.poll({ channel: ch, since: first, timeout: 5 });
        return x.status === 200 && x.json.events.length && x;
    }, WAIT_MS, 'a poll answered after the flush');
    assert.deepEqual(r.json.events.map((e) => e.id), [id]);
    // And a waiting request is counted and answered live, as before the flush.
    const sse = s.sse({ channel: ch, since: id });
    try {
        await sse.waitOpen();
        await s.untilWaiting(1, { what: 'the stream counted among the waiting' });
        const [live] = await s.publishIds({ channel: ch, data: 2 });
        assert.equal((await sse.waitEnvelopes(1))[0].id, live);
    } finally {
        sse.close();
    }
    if (EXTERNAL) {
        const stats = await s.redis('INFO', 'commandstats');
        assert.match(stats, /cmdstat_evalsha:calls=[1-9]/, 'the event loop ran its scripts by SHA-1');
    }
});
