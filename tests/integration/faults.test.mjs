// Faults and honest answers: an answer says what happened to a publish. 503 means nothing
// was queued (a retry cannot duplicate it); 504 with "outcome":"unknown" means Redis took it
// and stopped answering; ?wait=1 never answers 202 for a publish whose fate it cannot know;
// a slow worker or a frozen Redis holds no one else up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, until, request, EXTERNAL } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';

const WAIT = 3; // COMET_PUBLISH_WAIT
let s;
before(async () => {
    s = await startStack({ env: { COMET_PUBLISH_WAIT: String(WAIT), COMET_MAX_WAITING_PER_ADDR: '0' } });
});
after(async () => {
    await s?.stop();
});

/** Runs fn with process pid stopped (SIGSTOP), and continues it (SIGCONT) whatever happens. */
async function frozen(pid, fn) {
    process.kill(pid, 'SIGSTOP');
    try {
        return await fn();
    } finally {
        process.kill(pid, 'SIGCONT');
    }
}

/** Every event of channel ch from the start, by their data. */
async function stored(ch) {
    return (await s.collect(ch, 0, { timeoutMs: 30000 })).events.map((e) => e.data);
}

test('Redis frozen: publishes answer 503 (not queued) or 504 (outcome unknown) instead of hanging; ' +
    'a 503 publish is never stored, a 504 one at most once; /stats answers 503', { timeout: 120000 }, async () => {
    const ch = channelName('frozen');
    await s.publishIds({ channel: ch, data: 'before' });
    const answers = await frozen(s.pid('redis'), async () => {
        const pubs = [...Array(6)].map((_, i) => s.publish({ channel: ch, data: `p${i}` }, { timeoutMs: 60000 }));
        const stats = request(`${s.url()}/stats`, { timeoutMs: 60000 });
        const all = await Promise.all([...pubs, stats]);
        return { pubs: all.slice(0, 6), stats: all[6] };
    });
    for (const [i, r] of answers.pubs.entries()) {
        assert.ok([503, 504].includes(r.status), `publish p${i} with Redis frozen: ${r.status} ${r.text}`);
        if (r.status === 504) assert.equal(r.json?.outcome, 'unknown', `publish p${i}: ${r.text}`);
        else assertError(r, 503, `publish p${i}`);
    }
    assertError(answers.stats, 503, '/stats with Redis frozen');
    // Redis resumes: what it had taken is stored once, what was refused never.
    await until(async () => (await s.stats()).worker.alive, 30000, 'the worker alive again');
    await s.publishIds({ channel: ch, data: 'after' }, { timeoutMs: 30000 });
    const got = await stored(ch);
    assert.equal(got[0], 'before');
    assert.equal(got.at(-1), 'after');
    answers.pubs.forEach((r, i) => {
        const n = got.filter((d) => d === `p${i}`).length;
        if (r.status === 503) assert.equal(n, 0, `p${i} was answered 503 but is stored: ${JSON.stringify(got)}`);
        else assert.ok(n <= 1, `p${i} stored ${n} times`);
    });
});

test('worker stopped: ?wait=1 publishes wait for it without holding up publishes, polls or /stats, ' +
    `and answer 202 "confirmed":false after COMET_PUBLISH_WAIT`, { timeout: 120000 }, async () => {
    const ch = channelName('slowworker');
    const [cur] = await s.publishIds({ channel: ch, data: 0 });
    const results = await frozen(s.pid('worker'), async () => {
        // More waiting publishes than external mode has accept threads (COMET_THREADS, 4).
        const waiting = [...Array(12)].map((_, i) => s.publish({ channel: ch, data: `w${i}` },
            { wait: true, timeoutMs: 60000 }));
        await until(async () => Number(await s.redis('XLEN', 'comet:inbox')) >= 12, 30000,
            'the 12 waiting publishes queued');
        // Meanwhile everything else is answered at once.
        const plain = await s.publish({ channel: ch, data: 'plain' });
        assert.equal(plain.status, 202, plain.text);
        const poll = await s.poll({ channel: ch, since: cur, timeout: 1 });
        assert.equal(poll.status, 200, poll.text);
        assert.deepEqual(poll.json.events, [], 'the worker is stopped: nothing is stored');
        assert.equal((await s.stats()).worker.alive !== undefined, true);
        return Promise.all(waiting);
    });
    results.forEach((r, i) => {
        assert.equal(r.status, 202, `w${i}: ${r.status} ${r.text}`);
        assert.deepEqual(r.json, { accepted: 1, confirmed: false }, `w${i}`);
    });
    // Queued means queued: the worker, back, stores every one of them.
    const got = await s.collect(ch, cur, { count: 13, timeoutMs: 30000 });
    assert.deepEqual(got.events.map((e) => e.data).sort(), [...[...Array(12)].map((_, i) => `w${i}`), 'plain'].sort());
});

test('?wait=1 publishes queued, then Redis gone before the worker stored them: 504 "outcome":"unknown" ' +
    'with "accepted", never 202', { timeout: 120000 }, async () => {
    const ch = channelName('waitgone');
    await s.publishIds({ channel: ch, data: 0 });
    const worker = s.pid('worker');
    process.kill(worker, 'SIGSTOP');
    let answers;
    try {
        const base = Number(await s.redis('XLEN', 'comet:inbox'));
        const waiting = [...Array(3)].map((_, i) => s.publish({ channel: ch, data: `g${i}` },
            { wait: true, timeoutMs: 60000 }));
        await until(async () => Number(await s.redis('XLEN', 'comet:inbox')) >= base + 3, 30000,
            'the 3 publishes queued');
        await s.stopComponent('redis', { signal: 'SIGKILL' });
        answers = await Promise.all(waiting);
    } finally {
        process.kill(worker, 'SIGCONT');
    }
    answers.forEach((r, i) => {
        assert.equal(r.status, 504, `g${i}: ${r.status} ${r.text}`);
        assert.equal(r.json.outcome, 'unknown', `g${i}: ${r.text}`);
        assert.equal(r.json.accepted, 1, `g${i}: ${r.text}`);
        assert.equal(r.json.confirmed, false, `g${i}: ${r.text}`);
    });
    await s.startRedis();
    // Back: served again at once (the processes reconnect for the next request).
    const r = await s.publish({ channel: ch, data: 'back' });
    assert.equal(r.status, 202, r.text);
});

test('external mode: a frozen Redis holds no accept thread: with more publishes stuck on it than there ' +
    'are threads, a request that needs no Redis is answered before any of them', { timeout: 120000,
    skip: !EXTERNAL && 'external mode only (under mod_fcgid each request has a process of its own)' }, async () => {
    const ch = channelName('threads');
    const order = [];
    await frozen(s.pid('redis'), async () => {
        const stuck = [...Array(10)].map((_, i) => s.publish({ channel: ch, data: `s${i}` }, { timeoutMs: 60000 })
            .then((r) => { order.push(`publish ${r.status}`); return r; }));
        const bad = await s.publish({ channel: ch }, { timeoutMs: 60000 }); // no data: 400, no Redis needed
        order.push(`bad ${bad.status}`);
        const answers = await Promise.all(stuck);
        answers.forEach((r, i) => assert.ok([503, 504].includes(r.status), `publish ${i}: ${r.status} ${r.text}`));
    });
    assert.equal(order[0], 'bad 400', `answered in this order: ${order.join(', ')}`);
});

test('Redis lost its data (FLUSHALL): a subscriber resuming from its cursor is told truncated, by poll and ' +
    'by SSE, instead of a silent gap; new events flow', { timeout: 60000 }, async () => {
    const ch = channelName('lost');
    const [cur] = await s.publishIds({ channel: ch, data: 'old' });
    await s.redis('FLUSHALL');
    const poll = await s.poll({ channel: ch, since: cur, timeout: 1 });
    assert.equal(poll.status, 200, poll.text);
    assert.equal(poll.json.truncated, true, `poll after FLUSHALL: ${poll.text}`);
    const sse = s.sse({ channel: ch }, { lastEventId: cur });
    try {
        await sse.waitOpen(20000);
        assert.ok(sse.items.some((x) => x.event === 'comet-truncated'), `stream: ${sse.raw.slice(0, 400)}`);
    } finally {
        sse.close();
    }
    // The new data set's events come to a client that resumes from what it was told.
    const [id] = await s.publishIds({ channel: ch, data: 'new' });
    const got = await s.collect(ch, poll.json.cursor, { count: 1 });
    assert.deepEqual(got.events.map((e) => e.id), [id]);
    // A cursor from the new data set is not truncated.
    const again = await s.poll({ channel: ch, since: id, timeout: 1 });
    assert.equal(again.json.truncated, undefined, again.text);
});

test('Redis lost acknowledged events (a stale replica promoted: the last id went back): the worker ' +
    'notices on its next store and resuming subscribers are told truncated', { timeout: 60000 }, async () => {
    const ch = channelName('stale');
    const [a] = await s.publishIds({ channel: ch, data: 'a' });
    const [b] = await s.publishIds({ channel: ch, data: 'b' });
    // What a replica that missed b would hold: b gone, the last id a.
    await s.redis('XDEL', `comet:h:${ch}`, b);
    await s.redis('SET', 'comet:last', a);
    await s.publishIds({ channel: ch, data: 'c' });
    const r = await s.poll({ channel: ch, since: b, timeout: 1 });
    assert.equal(r.json.truncated, true, `a subscriber that had b: ${r.text}`);
});

test('Redis killed (SIGKILL) and restarted with the append-only file: every acknowledged event is still ' +
    'there, in order, and a resuming subscriber is not told truncated', { timeout: 90000 }, async () => {
    const ch = channelName('aof');
    const [start] = await s.publishIds({ channel: ch, data: -1 });
    const acked = [];
    for (let i = 0; i < 20; i++) {
        const r = await s.publish({ channel: ch, data: i }, { wait: i % 2 === 0 });
        assert.ok([200, 202].includes(r.status), r.text);
        acked.push(i);
    }
    await until(async () => Number(await s.redis('XLEN', 'comet:inbox')) === 0, 30000, 'the inbox stored');
    await s.stopComponent('redis', { signal: 'SIGKILL' });
    await s.startRedis();
    const got = await s.collect(ch, start, { count: 20, timeoutMs: 30000 });
    assert.deepEqual(got.events.map((e) => e.data), acked);
    assert.equal(got.truncated, false);
});

test('a publish body far over every limit (12 MiB) gets the contract\'s JSON 413 from whoever refuses it ' +
    '(the web server or comet.fcgi), never an HTML page or a 500', { timeout: 60000 }, async () => {
    const body = `{"channel":"big","data":"${'x'.repeat(12 << 20)}"}`;
    const r = await s.publish(null, { rawBody: body, timeoutMs: 30000 });
    assertError(r, 413, '12 MiB publish');
    const ok = await s.publish({ channel: channelName('afterbig'), data: 1 });
    assert.equal(ok.status, 202, ok.text);
});

test('the active worker killed (SIGKILL): a standby takes over at once, not when the lease ' +
    '(COMET_WORKER_LEASE, 10 s) lapses', { timeout: 90000 }, async () => {
    const ch = channelName('takeover');
    await s.startWorker('worker-b');
    await s.publishIds({ channel: ch, data: 0 });
    await s.stopComponent('worker', { signal: 'SIGKILL' });
    // Within 6 s of the kill (the lease would hold 10 s): a ?wait=1 publish is stored.
    const end = Date.now() + 6000;
    let r;
    do r = await s.publish({ channel: ch, data: 1 }, { wait: true });
    while (r.status !== 200 && Date.now() < end);
    assert.equal(r.status, 200, `no worker stored a publish within 6 s of the kill: ${r.status} ${r.text}`);
    const got = await s.collect(ch, 0, { timeoutMs: 20000 });
    assert.deepEqual([...new Set(got.events.map((e) => e.data))], [0, 1]);
});
