// Clean stops: on a graceful restart of Apache, or SIGTERM to comet.fcgi, a waiting poll
// answers 200 with its cursor at once and a stream ends cleanly, with no mod_fcgid 500
// page glued to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, sleep, until, alive } from '../lib/stack.mjs';
import { assertJsonHeaders } from '../lib/checks.mjs';

let s;
before(async () => {
    s = await startStack();
});
after(async () => {
    await s?.stop();
});

/** A waiting poll and a waiting stream on a fresh channel, both known to be waiting. */
async function waiters() {
    const ch = channelName('sig');
    const [cursor] = await s.publishIds({ channel: ch, data: 0 });
    const base = (await s.stats()).waiting;
    const t = Date.now();
    const poll = s.poll({ channel: ch, since: cursor, timeout: 30 }, { timeoutMs: 60000 });
    const sse = s.sse({ channel: ch, since: cursor });
    await sse.waitOpen(10000);
    await until(async () => (await s.stats()).waiting >= base + 2, 10000, 'the poll and the stream waiting');
    return { ch, cursor, poll, sse, t };
}

function assertCleanStream(sse, what) {
    assert.equal(sse.status, 200, what);
    assert.equal(sse.error, null, `${what}: the stream failed: ${sse.error && sse.error.message}`);
    assert.ok(!/<html|<!DOCTYPE/i.test(sse.raw), `${what}: HTML glued to the stream: ${sse.raw.slice(-300)}`);
    assert.equal(sse.items.filter((x) => x.type === 'other').length, 0,
        `${what}: junk lines: ${JSON.stringify(sse.items.filter((x) => x.type === 'other')).slice(0, 300)}`);
    assert.ok(/\n\n$/.test(sse.raw), `${what}: the stream did not end on a finished block: ` +
        `${JSON.stringify(sse.raw.slice(-100))}`);
}

async function assertStillServes(what) {
    await until(async () => {
        try {
            return (await s.stats()).worker.alive;
        } catch {
            return false;
        }
    }, 20000, `${what}: the server answering again`);
    const ch = channelName('after');
    const p = s.poll({ channel: ch, since: 0, timeout: 20 });
    const pub = await s.publish({ channel: ch, data: 'after' });
    assert.equal(pub.status, 202, `${what}: ${pub.text}`);
    const r = await p;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.events.map((e) => e.data), ['after']);
}

test('graceful restart (USR1 to Apache): a waiting poll answers 200 with its cursor, a stream ends cleanly',
    { timeout: 90000 }, async () => {
        const { cursor, poll, sse } = await waiters();
        const apache = s.pid('apache');
        const t = Date.now();
        process.kill(apache, 'SIGUSR1');
        try {
            const r = await poll;
            const ms = Date.now() - t;
            assert.equal(r.status, 200, `${r.status} ${r.text.slice(0, 300)}`);
            assertJsonHeaders(r, 'poll answered on a graceful restart');
            assert.deepEqual(r.json.events, []);
            assert.equal(r.json.cursor, cursor, 'the poll did not answer with its cursor');
            assert.ok(ms < 25000, `the poll answered ${ms} ms after the graceful restart (its timeout: 30 s)`);
            await sse.waitEnd(25000);
            assertCleanStream(sse, 'stream on a graceful restart');
        } finally {
            sse.close();
        }
        assert.ok(alive(apache), 'Apache died on a graceful restart');
        await assertStillServes('after the graceful restart');
    });

test('SIGTERM to comet.fcgi: a waiting poll answers 200 with its cursor, a stream ends cleanly',
    { timeout: 90000 }, async () => {
        const { cursor, poll, sse } = await waiters();
        const pids = s.fcgiPids();
        assert.ok(pids.length >= 2, `comet.fcgi processes under our Apache: ${pids}`);
        const t = Date.now();
        for (const pid of pids) process.kill(pid, 'SIGTERM');
        try {
            const r = await poll;
            const ms = Date.now() - t;
            assert.equal(r.status, 200, `${r.status} ${r.text.slice(0, 300)}`);
            assert.deepEqual(r.json.events, []);
            assert.equal(r.json.cursor, cursor, 'the poll did not answer with its cursor');
            assert.ok(ms < 10000, `the poll answered ${ms} ms after SIGTERM`);
            await sse.waitEnd(10000);
            assertCleanStream(sse, 'stream on SIGTERM');
        } finally {
            sse.close();
        }
        await until(() => pids.every((p) => !alive(p)), 10000, 'the signalled comet.fcgi processes to exit');
        await assertStillServes('after SIGTERM');
    });

test('an idle comet.fcgi exits on SIGTERM and the next request is served', { timeout: 60000 }, async () => {
    await sleep(200);
    const pids = s.fcgiPids();
    assert.ok(pids.length >= 1, 'no comet.fcgi process under our Apache');
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    await until(() => pids.every((p) => !alive(p)), 10000, 'idle comet.fcgi processes to exit');
    await assertStillServes('after SIGTERM to idle processes');
});
