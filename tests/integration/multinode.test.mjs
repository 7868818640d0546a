// Stateless web nodes and key prefixes: two web nodes (COMET_IT_SERVER) on one Redis serve
// each other's events; a third node and a worker under another COMET_PREFIX share that
// Redis without seeing, or being seen by, the first two.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, until, EXTERNAL, WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';
import { assertSseEnvelopes } from '../lib/checks.mjs';

const OTHER = 'other-site:';
let s;
before(async () => {
    s = await startStack({
        // The per-address limit (off by default) on, so that its sets are seen per site.
        env: { COMET_MAX_WAITING_PER_ADDR: '100' },
        web: [{}, {}, { env: { COMET_PREFIX: OTHER } }],
        workers: [{}, { name: 'worker-other', env: { COMET_PREFIX: OTHER } }],
    });
});
after(async () => {
    await s?.stop();
});

test('publish through one web node, receive through the other (poll and SSE), both ways', { timeout: 60000 },
    async () => {
        assert.notEqual(s.port(0), s.port(1));
        for (const [from, to] of [[0, 1], [1, 0]]) {
            const ch = channelName(`n${from}${to}`);
            const sse = s.sse({ channel: ch }, { instance: to });
            try {
                await sse.waitOpen();
                let answered = false;
                const { req: p } = await s.whenWaiting(() => s.poll({ channel: ch, timeout: 20 }, { instance: to })
                    .finally(() => (answered = true)), { instance: to });
                assert.equal(answered, false);
                const t = Date.now();
                const pub = await s.publish({ channel: ch, event: 'hop', data: { from, to } }, { instance: from });
                assert.equal(pub.status, 202, pub.text);
                const r = await p;
                assert.ok(Date.now() - t < PROMPT_MS,
                    `node ${to} answered ${Date.now() - t} ms after the publish on ${from}`);
                assert.equal(r.status, 200);
                assert.deepEqual(r.json.events.map((e) => e.data), [{ from, to }]);
                const evs = await sse.waitEnvelopes(1);
                assertSseEnvelopes(evs);
                assert.deepEqual(evs[0].json, r.json.events[0]);
                // And the history is the same from both nodes.
                const h0 = await s.poll({ channel: ch, since: 0, timeout: 1 }, { instance: 0 });
                const h1 = await s.poll({ channel: ch, since: 0, timeout: 1 }, { instance: 1 });
                assert.deepEqual(h0.json, h1.json);
            } finally {
                sse.close();
            }
        }
    });

test('external mode: each node\'s one comet.fcgi holds one subscription per channel, however many of its ' +
    'clients wait on it; one publish reaches the clients of both nodes', { timeout: 60000,
    skip: !EXTERNAL && 'external mode only: under mod_fcgid each waiting client subscribes on its own' },
async () => {
    const ch = channelName('nodes');
    const streams = [0, 1].flatMap((node) => Array.from({ length: 20 }, () => s.sse({ channel: ch }, { instance: node })));
    try {
        await Promise.all(streams.map((r) => r.waitOpen()));
        assert.equal(s.fcgiPids(0).length, 1);
        assert.equal(s.fcgiPids(1).length, 1);
        assert.notDeepEqual(s.fcgiPids(0), s.fcgiPids(1));
        const numsub = await s.redis('PUBSUB', 'NUMSUB', `comet:c:${ch}`);
        assert.equal(numsub.split('\n')[1], '2', `subscriptions to ${ch} with 40 clients on two nodes`);
        const [id] = await s.publishIds({ channel: ch, data: 'both' });
        for (const r of streams) assert.equal((await r.waitEnvelopes(1))[0].id, id);
    } finally {
        for (const r of streams) r.close();
    }
    // The other site's node (another prefix) subscribes under its own prefix only.
    const other = s.sse({ channel: ch }, { instance: 2 });
    try {
        await other.waitOpen();
        await until(async () => (await s.redis('PUBSUB', 'NUMSUB', `${OTHER}c:${ch}`)).split('\n')[1] === '1',
            WAIT_MS, 'the other site\'s subscription');
    } finally {
        other.close();
    }
});

test('a different COMET_PREFIX on the same Redis sees none of the other site\'s events', { timeout: 60000 },
    async () => {
        const ch = channelName('shared-name');
        const mine = await s.publishIds({ channel: ch, data: 'comet' }, { instance: 0 });
        const theirs = await s.publishIds({ channel: ch, data: 'other' }, { instance: 2 });
        const a = await s.poll({ channel: ch, since: 0, timeout: 1 }, { instance: 0 });
        const b = await s.poll({ channel: ch, since: 0, timeout: 1 }, { instance: 2 });
        assert.deepEqual(a.json.events.map((e) => [e.id, e.data]), [[mine[0], 'comet']]);
        assert.deepEqual(b.json.events.map((e) => [e.id, e.data]), [[theirs[0], 'other']]);

        // Live: a stream under one prefix gets nothing published under the other.
        const sseOther = s.sse({ channel: ch, since: theirs[0] }, { instance: 2 });
        const sseMine = s.sse({ channel: ch, since: mine[0] }, { instance: 1 });
        try {
            await sseOther.waitOpen();
            await sseMine.waitOpen();
            const [m2] = await s.publishIds({ channel: ch, data: 'comet 2' }, { instance: 0 });
            const [t2] = await s.publishIds({ channel: ch, data: 'other 2' }, { instance: 2 });
            assert.deepEqual((await sseMine.waitEnvelopes(1)).map((e) => e.id), [m2]);
            assert.deepEqual((await sseOther.waitEnvelopes(1)).map((e) => e.id), [t2]);
            // A marker published after both, on each site: what would leak has come before it.
            assert.deepEqual((await s.drain(sseMine, ch, { instance: 0 })).map((e) => e.id), [m2],
                'the other prefix\'s event reached this site');
            assert.deepEqual((await s.drain(sseOther, ch, { instance: 2 })).map((e) => e.id), [t2],
                'this site\'s event reached the other prefix');
        } finally {
            sseOther.close();
            sseMine.close();
        }

        // Keys: everything of the other site is under its prefix.
        const otherKeys = (await s.redis('--scan', '--pattern', `${OTHER}*`)).split('\n').filter(Boolean);
        const mineKeys = (await s.redis('--scan', '--pattern', 'comet:*')).split('\n').filter(Boolean);
        assert.ok(otherKeys.includes(`${OTHER}h:${ch}`), `keys under ${OTHER}: ${otherKeys}`);
        assert.ok(mineKeys.includes(`comet:h:${ch}`), `keys under comet:: ${mineKeys}`);
        const all = (await s.redis('--scan')).split('\n').filter(Boolean);
        const stray = all.filter((k) => !k.startsWith(OTHER) && !k.startsWith('comet:'));
        assert.deepEqual(stray, [], 'keys outside both prefixes');

        // Stats are per site too.
        const s0 = await s.stats(0);
        const s2 = await s.stats(2);
        assert.equal(s2.published, 3, 'the other site counted events it did not publish (its own: two and a marker)');
        assert.ok(s0.published >= 2);
        assert.equal(s2.worker.alive, true);
    });

test('prefixes also separate waiting counts (all and per address) and Idempotency-Keys', { timeout: 60000 },
    async () => {
        const ch = channelName('sep');
        const members = async (key) => new Set((await s.redis('ZRANGE', key, 0, -1)).split('\n').filter(Boolean));
        const keys = ['comet:waiting', 'comet:wa:127.0.0.1', `${OTHER}waiting`, `${OTHER}wa:127.0.0.1`];
        const before = await Promise.all(keys.map(members));
        const sse = s.sse({ channel: ch }, { instance: 0 });
        try {
            await sse.waitOpen();
            const added = async () => (await Promise.all(keys.map(members)))
                .map((now, i) => [...now].filter((m) => !before[i].has(m)).length);
            await until(async () => (await added())[0] === 1, WAIT_MS, 'the stream counted');
            assert.deepEqual(await added(), [1, 1, 0, 0], 'new members of this site\'s and the other\'s sets');
        } finally {
            sse.close();
        }
        const key = `sep-${ch}`;
        for (const instance of [0, 2]) {
            const r = await s.publish({ channel: ch, data: instance }, { instance, headers: { 'Idempotency-Key': key } });
            assert.equal(r.status, 202, r.text);
            assert.equal(r.headers['idempotent-replayed'], undefined, `site ${instance} saw the other's key`);
        }
        assert.equal(await s.redis('EXISTS', `comet:idem:${key}`, `${OTHER}idem:${key}`), '2');
    });
