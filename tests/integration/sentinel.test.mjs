// Redis Sentinel: a master, two replicas and three Sentinels on loopback (two replicas, so that
// one is left to acknowledge writes once the other was promoted). comet.fcgi (both process
// models) and the worker find the master through the Sentinels and follow a failover without
// a restart; with COMET_REDIS_WAIT_REPLICAS=1 no event confirmed before the master died is lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startStack, channelName, freePort, until, sleep } from '../lib/stack.mjs';

const MASTER = 'comet';
let s;
let replicas;

/** redis-cli against port; resolves its output (trimmed), or '' when it failed. */
function cli(port, ...args) {
    return new Promise((resolve) => execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args.map(String)],
        { timeout: 5000 }, (err, out) => resolve(err ? '' : out.trim())));
}

before(async () => {
    s = await startStack({
        env: { COMET_REDIS_MASTER: MASTER, COMET_REDIS_WAIT_REPLICAS: '1', COMET_REDIS_WAIT_TIMEOUT: '2000',
            COMET_PUBLISH_WAIT: '5', COMET_WORKER_LEASE: '3' },
        afterRedis: async (st) => {
            replicas = [await freePort(), await freePort()];
            for (const r of replicas) {
                await st.sh(['replica', st.dir, String(r), String(st.redisPort)]);
                await until(async () => /master_link_status:up/.test(await cli(r, 'INFO', 'replication')), 20000,
                    `the replica on ${r} in sync`);
            }
            const ports = [];
            for (let k = 1; k <= 3; k++) {
                const p = await freePort();
                await st.sh(['sentinel', st.dir, `sentinel${k}`, String(p), String(st.redisPort), MASTER]);
                ports.push(p);
            }
            // Each Sentinel has found both replicas (it learns them from the master's INFO).
            for (const p of ports)
                await until(async () => (await cli(p, 'SENTINEL', 'REPLICAS', MASTER)).split('\n')
                    .filter((l) => /^name$/.test(l)).length === 2, 20000, `sentinel on ${p} to know the replicas`);
            // Where nothing else points: COMET_REDIS_HOST/PORT name a port with no Redis.
            return { COMET_REDIS_SENTINELS: ports.map((p) => `127.0.0.1:${p}`).join(','), COMET_REDIS_PORT: '1' };
        },
    });
});
after(async () => {
    await s?.stop();
});

test('comet.fcgi and the worker find the master through the Sentinels', { timeout: 60000 }, async () => {
    const ch = channelName('found');
    const [id] = await s.publishIds({ channel: ch, data: 'hello' });
    const got = await s.collect(ch, 0, { count: 1 });
    assert.deepEqual(got.events.map((e) => e.id), [id]);
    // A publish acknowledged under COMET_REDIS_WAIT_REPLICAS=1 is on a replica too.
    await until(async () => (await Promise.all(replicas.map((r) => cli(r, 'XLEN', `comet:h:${ch}`))))
        .includes('1'), 10000, 'the event on a replica');
});

test('the master killed during traffic: the Sentinels promote the replica, comet.fcgi and the worker ' +
    'follow without a restart, and every event confirmed (200) is delivered, once', { timeout: 180000 }, async () => {
    const ch = channelName('failover');
    const [start] = await s.publishIds({ channel: ch, data: -1 });
    const confirmed = [];
    const other = [];
    let stop = false;
    let killed = false;
    // One publisher, ?wait=1 with an Idempotency-Key, retrying each event until it has an answer.
    const publisher = (async () => {
        for (let seq = 0; !stop && seq < 2000; seq++) {
            const key = `${ch}-${seq}`;
            for (let attempt = 0; attempt < 200 && !stop; attempt++) {
                const r = await s.publish({ channel: ch, data: seq }, { wait: true, timeoutMs: 20000,
                    headers: { 'Idempotency-Key': key } }).catch((e) => ({ status: 0, text: e.message }));
                if (r.status === 200) {
                    confirmed.push(seq);
                    break;
                }
                other.push(`${seq}: ${r.status}`);
                await sleep(100);
            }
        }
    })();
    try {
        await until(() => confirmed.length >= 20, 30000, '20 events confirmed before the fault');
        await s.stopComponent('redis', { signal: 'SIGKILL' });
        killed = true;
        await until(async () => (await Promise.all(replicas.map((r) => cli(r, 'ROLE'))))
            .some((x) => x.startsWith('master')), 60000, 'a replica promoted');
        const before = confirmed.length;
        await until(() => confirmed.length >= before + 20, 90000, '20 more events confirmed after the failover');
    } finally {
        stop = true;
        await publisher;
    }
    assert.ok(killed);
    // Everything confirmed is there, in order, each once, read through comet.fcgi from the new master.
    const got = await s.collect(ch, start, { count: confirmed.length, timeoutMs: 60000 });
    const seqs = got.events.map((e) => e.data);
    assert.equal(new Set(got.events.map((e) => e.id)).size, got.events.length, 'an event came twice');
    const missing = confirmed.filter((q) => !seqs.includes(q));
    assert.deepEqual(missing, [], `confirmed but lost; other answers: ${other.slice(0, 20).join(', ')}`);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `out of order at ${i}: ${seqs}`);
});
