// The worker: the queue survives a SIGKILL mid-stream (nothing lost, nothing twice), a
// standby takes over from a killed active worker, and stats follow the worker's life.
// COMET_WORKER_LEASE=2 keeps every takeover within a few seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, until, alive, WAIT_MS } from '../lib/stack.mjs';
import { assertComplete, assertSseEnvelopes } from '../lib/checks.mjs';

let s;
before(async () => {
    s = await startStack({ env: { COMET_WORKER_LEASE: '2', COMET_PUBLISH_WAIT: '3' } });
});
after(async () => {
    await s?.stop();
});

test('a worker SIGKILLed while 300 publishes are sent loses nothing and duplicates nothing',
    { timeout: 90000 }, async () => {
        // Three publishers at once, each in order on its own channel, keep the worker busy.
        const chs = [channelName('killa'), channelName('killb'), channelName('killc')];
        await until(async () => (await s.stats()).worker.alive, WAIT_MS, 'worker alive');
        const sub = s.sse({ channel: chs, since: 0 });
        try {
            await sub.waitOpen();
            let accepted = 0;
            let killed = null;
            await Promise.all(chs.map(async (ch) => {
                for (let seq = 0; seq < 100; seq++) {
                    const r = await s.publish({ channel: ch, data: { seq } });
                    assert.equal(r.status, 202, `publish ${ch} ${seq}: ${r.text}`);
                    if (++accepted === 120) killed = s.stopComponent('worker', { signal: 'SIGKILL' });
                }
            }));
            const pid = await killed;
            assert.ok(pid && !alive(pid), 'the worker was not killed');
            await s.startWorker('worker-b');
            const counts = Object.fromEntries(chs.map((c) => [c, 100]));
            const got = await s.collect(chs, 0, { count: 300, timeoutMs: 40000 });
            assertComplete(got.events, counts, 'since=0 poll');
            await sub.waitEnvelopes(300, 2 * WAIT_MS);
            const before = await s.drain(sub, chs[0]);
            assertSseEnvelopes(sub.envelopes);
            assertComplete(before.map((e) => e.json), counts, 'SSE subscriber');
            const st = await until(async () => {
                const x = await s.stats();
                return x.inbox === 0 && x;
            }, WAIT_MS, 'an empty inbox');
            assert.equal(st.published, 300 + 1, 'published counts each event once (the 300 and the marker)');
        } finally {
            sub.close();
        }
    });

test('two workers: the standby takes over when the active one is killed', { timeout: 60000 }, async () => {
    const ch = channelName('standby');
    const active = s.pid('worker-b');
    assert.ok(active && alive(active));
    await s.startWorker('worker-c');
    const standby = s.pid('worker-c');
    // Both run; events keep flowing through the active one.
    const [c0] = await s.publishIds({ channel: ch, data: { seq: 0 } });
    const lease = await s.redis('GET', 'comet:lease');
    const m = /:(\d+):[0-9a-f]+$/.exec(lease);
    if (m) assert.equal(Number(m[1]), active, `the lease (${lease}) is not held by the first worker`);
    await s.stopComponent('worker-b', { signal: 'SIGKILL' });
    assert.ok(alive(standby), 'the standby died with the active worker');
    const t = Date.now();
    for (let seq = 1; seq <= 10; seq++) {
        const r = await s.publish({ channel: ch, data: { seq } });
        assert.equal(r.status, 202);
    }
    const got = await s.collect(ch, c0, { count: 10, timeoutMs: 20000 });
    assert.deepEqual(got.events.map((e) => e.data.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const ms = Date.now() - t;
    assert.ok(ms < 15000, `takeover took ${ms} ms with a 2 s lease`);
    const after = await s.redis('GET', 'comet:lease');
    const m2 = /:(\d+):[0-9a-f]+$/.exec(after);
    if (m2) assert.equal(Number(m2[1]), standby, `the lease (${after}) is not held by the standby`);
    assert.equal((await s.stats()).worker.alive, true);
});

test('stats: worker.alive turns false once no worker runs, and inbox grows until one does',
    { timeout: 60000 }, async () => {
        const ch = channelName('nowork');
        assert.equal((await s.stats()).worker.alive, true);
        await s.stopComponent('worker-c');
        await until(async () => (await s.stats()).worker.alive === false, WAIT_MS,
            'worker.alive false after the lease (2 s) lapsed');
        const before0 = await s.stats();
        for (let seq = 0; seq < 3; seq++) {
            const r = await s.publish({ channel: ch, data: { seq } });
            assert.equal(r.status, 202);
        }
        const mid = await s.stats();
        assert.equal(mid.inbox, before0.inbox + 3, 'inbox counts the queued publishes');
        assert.equal(mid.published, before0.published, 'nothing is published without a worker');
        const none = await s.poll({ channel: ch, since: 0, timeout: 1 });
        assert.deepEqual(none.json.events, [], 'events visible without a worker');
        const unconfirmed = await s.publish({ channel: ch, data: { seq: 3 } }, { wait: true, timeoutMs: 20000 });
        assert.equal(unconfirmed.status, 202, unconfirmed.text);
        // Queued while no worker held the lease: the answer says so.
        assert.deepEqual(unconfirmed.json, { accepted: 1, confirmed: false, worker: 'absent' });
        assert.equal(unconfirmed.headers['comet-worker'], 'absent');

        await s.startWorker('worker-d');
        const got = await s.collect(ch, 0, { count: 4, timeoutMs: 20000 });
        assert.deepEqual(got.events.map((e) => e.data.seq), [0, 1, 2, 3]);
        await until(async () => {
            const x = await s.stats();
            return x.inbox === 0 && x.worker.alive && x.published === before0.published + 4;
        }, WAIT_MS, 'inbox 0, worker alive, published +4');
    });
