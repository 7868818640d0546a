// COMET_MAX_WAITING_PER_ADDR: one client address holds at most N waiting requests, counted
// in Redis (so across nodes and processes); one more gets 429 with Retry-After and a JSON
// error at once, and takes no place. A place whose process died (killed, so it never left)
// is freed once its deadline passed, on the next admission: a count cannot leak.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, until, request, query, sleep, SERVER, WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';

const MAX = 2;
const ADDR_KEY = 'comet:wa:127.0.0.1';
let s;
before(async () => {
    s = await startStack({ env: { COMET_MAX_WAITING_PER_ADDR: String(MAX), COMET_SSE_HEARTBEAT: '1' } });
});
after(async () => {
    await s?.stop();
});

const places = async () => Number(await s.redis('ZCARD', ADDR_KEY));

/** Every waiting endpoint refuses one more: 429, Retry-After 1..30, a JSON error, at once. */
async function assertRefused(ch, what) {
    for (const [name, params] of [['poll', { timeout: 20 }], ['poll', { timeout: 20, callback: 'cb' }],
        ['sse', {}], ['stream', {}], ['iframe', { callback: 'cb' }]]) {
        const t = Date.now();
        const r = await request(`${s.url()}/${name}${query({ channel: ch, ...params })}`, { timeoutMs: WAIT_MS });
        assertError(r, 429, `${what}: ${name}`);
        const retry = Number(r.headers['retry-after']);
        assert.ok(retry >= 1 && retry <= 30, `${what}: ${name}: Retry-After ${r.headers['retry-after']}`);
        assert.ok(Date.now() - t < PROMPT_MS, `${what}: ${name} took ${Date.now() - t} ms`);
    }
}

test(`one waiting request more than COMET_MAX_WAITING_PER_ADDR=${MAX} from one address → 429; publish still works; a freed place is taken`,
    { timeout: 60000 }, async () => {
        const ch = channelName('addr');
        const streams = [s.sse({ channel: ch }), s.sse({ channel: ch })];
        try {
            await Promise.all(streams.map((r) => r.waitOpen()));
            assert.equal(await places(), MAX);
            await assertRefused(ch, 'full');
            assert.equal(await places(), MAX, 'a refused request took a place');
            assert.equal((await s.stats()).waiting, MAX);
            const pub = await s.publish({ channel: ch, data: 'still' });
            assert.equal(pub.status, 202, pub.text);
            await until(() => streams.every((r) => r.envelopes.length === 1), WAIT_MS,
                () => `both streams to get it (they have ${streams.map((r) => r.envelopes.length)})`);
            streams.pop().close();
            await until(async () => (await places()) === MAX - 1, WAIT_MS, 'the closed stream to leave');
            const p = await s.poll({ channel: ch, timeout: 1 }, { timeoutMs: WAIT_MS });
            assert.equal(p.status, 200, p.text);
        } finally {
            streams.forEach((r) => r.close());
        }
        await until(async () => (await places()) === 0, WAIT_MS, 'every place to be given back');
    });

test('places left by a dead process (their members stay in Redis) are freed after their deadline',
    { timeout: 60000 }, async () => {
        const ch = channelName('stale');
        // Deadlines far enough on for the five refusals below on a busy machine.
        const soon = Date.now() + 8000;
        // What a process SIGKILLed while waiting leaves behind: members nobody will remove.
        await s.redis('ZADD', ADDR_KEY, soon, 'dead:1:1', soon + 500, 'dead:1:2');
        await assertRefused(ch, 'stale places');
        assert.ok(Date.now() < soon, `the refusals took until ${Date.now() - soon} ms past the deadline`);
        // Past both deadlines (the scenario: time passes).
        await sleep(soon + 600 - Date.now());
        const p = await s.poll({ channel: ch, timeout: 1 }, { timeoutMs: WAIT_MS });
        assert.equal(p.status, 200, p.text);
        assert.equal(await s.redis('ZSCORE', ADDR_KEY, 'dead:1:1'), '', 'the expired member is still there');
    });

test('a comet.fcgi killed while a poll waits leaks no place (mod_fcgid: one process per request)',
    { timeout: 60000, skip: SERVER !== 'apache' && 'a killed external process takes its listener down' },
    async () => {
        const ch = channelName('kill');
        const { req } = await s.whenWaiting(() => s.poll({ channel: ch, timeout: 1 }, { timeoutMs: WAIT_MS }));
        req.catch(() => {});
        assert.equal(await places(), 1);
        const [, deadline] = (await s.redis('ZRANGE', ADDR_KEY, 0, -1, 'WITHSCORES')).split('\n');
        for (const pid of s.fcgiPids()) process.kill(pid, 'SIGKILL');
        await req.catch(() => {});
        // The member outlives the process until its deadline (timeout + 5 s), then goes: time passes.
        assert.ok(Number(deadline) > 0, `the place's deadline: ${deadline}`);
        await sleep(Math.max(0, Number(deadline) + 100 - Date.now()));
        const polls = [s.poll({ channel: ch, timeout: 2 }), s.poll({ channel: ch, timeout: 2 })];
        const rs = await Promise.all(polls);
        for (const r of rs) assert.equal(r.status, 200, r.text);
    });
