// The SQL archive's write side against each real database (SQLite, MariaDB, PostgreSQL,
// the servers started privately by tests/stack.sh in the run folder): every stored event
// lands in the table exactly once, through a writer killed with SIGKILL and a database
// stopped mid-traffic; the backlog's bound drops and says so; bad settings stop start-up.
// The archive does not depend on the web server: tests/run.sh runs this file under one
// deployment only (COMET_IT_ONCE); COMET_ARCHIVE_BACKENDS picks backends (all three).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, SERVER, WAIT_MS, channelName, startStack, until } from '../lib/stack.mjs';
import { backend, exec, untilArchived } from '../lib/archive.mjs';

const ONCE = process.env.COMET_IT_ONCE;
const SKIP = ONCE && ONCE !== SERVER ? `the archive is tested under ${ONCE} only` : false;
const BACKENDS = (process.env.COMET_ARCHIVE_BACKENDS || 'sqlite mariadb postgresql').split(/[\s,]+/).filter(Boolean);
const BIN = path.resolve(ROOT, process.env.COMET_BIN_DIR || 'build');
const LONG = 120000;

/** One publish of n events on channel (data.seq from `from`), answered with their ids. */
const publishMany = (s, channel, n, from = 0) =>
    s.publishIds(Array.from({ length: n }, (_, i) => ({ channel, data: { seq: from + i } })));

for (const name of BACKENDS) {
    describe(`archive on ${name}`, { skip: SKIP, timeout: 10 * LONG }, () => {
        const db = backend(name);
        let s;
        const writerLog = () => fs.readFileSync(path.join(s.dir, 'archive.log'), 'utf8');
        const init = () => exec(path.join(BIN, 'comet-worker'), ['--archive-init'], s.env());

        before(async () => {
            s = await startStack({
                name: `archive-${name}`,
                env: { COMET_ARCHIVE_CHANNELS: 'keep-*,multi-*', COMET_WORKER_LEASE: '2' },
                afterRedis: async (st) => {
                    db.dir = st.dir;
                    await db.start(st);
                    return { COMET_ARCHIVE: db.url() };
                },
            });
            const r = await init();
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stderr, /schema version 1 applied/);
            await s.sh(['archive', s.dir]);
        }, { timeout: LONG });
        after(async () => s && s.stop());

        test('--archive-init is idempotent', async () => {
            for (let i = 0; i < 2; i++) {
                const r = await init();
                assert.equal(r.code, 0, r.stderr);
                assert.match(r.stderr, /schema version 1 already there/);
            }
            assert.deepEqual(await db.query('SELECT version FROM comet_schema'), [['1']]);
        });

        test('every stored event of an archived channel lands in the table once, with its envelope', async () => {
            const keep = channelName('keep'), skip = channelName('skip'), multi = channelName('multi');
            // A publish to two channels stores one event per channel; only one is archived.
            const [multiId, skipId] = await s.publishIds({ channels: [multi, skip], data: 'both' });
            const ids = [...await publishMany(s, keep, 30), multiId];
            const skipped = [skipId, ...await publishMany(s, skip, 5)];
            const rows = await untilArchived(db, ids);
            for (const id of ids) {
                const env = JSON.parse(rows.get(id).envelope);
                assert.equal(env.id, id);
                assert.equal(env.channel, rows.get(id).channel);
            }
            assert.deepEqual([...rows.values()].filter((r) => r.channel === keep).map((r) => JSON.parse(r.envelope).data.seq),
                Array.from({ length: 30 }, (_, i) => i), 'each event once, in order');
            assert.equal([...rows.values()].filter((r) => r.channel === skip).length, 0,
                'a channel outside COMET_ARCHIVE_CHANNELS is not archived');
            assert.ok(skipped.every((id) => !rows.has(id)));
            await until(async () => (await s.stats()).archive.backlog === 0, WAIT_MS, 'an empty backlog');
            assert.ok((await s.stats()).archive.archived >= ids.length);
        });

        test('the writer killed with SIGKILL mid-batch, then restarted: every event once', { timeout: LONG }, async () => {
            const ch = channelName('keep');
            await s.stopComponent('archive');
            const ids = [];
            for (let k = 0; k < 20; k++) ids.push(...await publishMany(s, ch, 100, k * 100));
            const before0 = (await s.stats()).archive.archived;
            await s.sh(['archive', s.dir]);
            // Killed as soon as it has archived something: part-way through 2,000 queued
            // events, in whatever step of a batch it is then.
            await until(async () => (await s.stats()).archive.archived > before0, WAIT_MS,
                'the writer to archive its first batch', 5);
            await s.stopComponent('archive', { signal: 'SIGKILL' });
            const mid = (await db.events()).size;
            await s.sh(['archive', s.dir]);
            const rows = await untilArchived(db, ids);
            const seqs = [...rows.values()].filter((r) => r.channel === ch).map((r) => JSON.parse(r.envelope).data.seq);
            assert.equal(seqs.length, ids.length, `each event once (${mid} rows when killed)`);
            assert.deepEqual(seqs.sort((a, b) => a - b), Array.from({ length: ids.length }, (_, i) => i));
        });

        test('the backlog bound drops the oldest queued events, counts them and says so', { timeout: LONG }, async () => {
            const ch = channelName('keep');
            await s.stopComponent('archive');
            await s.stopComponent('worker');
            await s.startWorker('worker', { COMET_ARCHIVE_BACKLOG: '5' });
            // A writer whose database refuses connections: it runs, and watches the counter.
            await s.sh(['archive', s.dir, 'archive-nodb'], { COMET_ARCHIVE: 'mysql://x:y@127.0.0.1:1/none',
                COMET_ARCHIVE_BACKLOG: '5' });
            const nodbLog = () => fs.readFileSync(path.join(s.dir, 'archive-nodb.log'), 'utf8');
            await until(() => /unreachable/.test(nodbLog()), WAIT_MS, 'the writer to find no database');
            const before0 = (await s.stats()).archive;
            const ids = await publishMany(s, ch, 12);
            const st = (await s.stats()).archive;
            assert.equal(st.backlog, 5);
            assert.equal(st.dropped - before0.dropped, 7);
            await until(() => /archive backlog full \(COMET_ARCHIVE_BACKLOG=5\): 7 events dropped, never archived/
                .test(nodbLog()), WAIT_MS, 'the writer\'s log line about the dropped events');
            await s.stopComponent('archive-nodb');
            await s.stopComponent('worker');
            await s.startWorker('worker');
            await s.sh(['archive', s.dir]);
            const rows = await untilArchived(db, ids.slice(7));
            assert.ok(ids.slice(0, 7).every((id) => !rows.has(id)), 'the oldest 7 were dropped');
        });

        test('COMET_ARCHIVE_AGE prunes old events in batches, and keeps the rest', { timeout: LONG }, async () => {
            const ch = channelName('keep');
            const ids = await publishMany(s, ch, 3);
            await untilArchived(db, ids);
            await db.query(`INSERT INTO comet_events (channel, ms, seq, envelope) VALUES ('${ch}', 1000, 0, '{}')`);
            await s.stopComponent('archive');
            await s.sh(['archive', s.dir], { COMET_ARCHIVE_AGE: '1' });
            await until(async () => !(await db.events()).has('1000-0'), WAIT_MS, 'the old event pruned', 200);
            const rows = await db.events();
            assert.ok(ids.every((id) => rows.has(id)), 'recent events are kept');
            await s.stopComponent('archive');
            await s.sh(['archive', s.dir]);
        });

        test('the database down mid-traffic: publishing and delivery go on, the writer catches up',
            { skip: !db.component && 'SQLite has no server to stop', timeout: LONG }, async () => {
                const ch = channelName('keep');
                const sse = s.sse({ channel: ch });
                await sse.waitOpen();
                const ids = await publishMany(s, ch, 10);
                await db.stop(s);
                for (let k = 1; k <= 5; k++) ids.push(...await publishMany(s, ch, 10, k * 10));
                await sse.waitEnvelopes(60);
                assert.deepEqual(sse.envelopes.map((e) => e.id), ids, 'delivered while the archive was down');
                await until(() => /archive \(\w+\) unreachable/.test(writerLog()), WAIT_MS, 'the writer to log the outage');
                assert.ok((await s.stats()).archive.backlog > 0, 'events wait in Redis');
                await db.start(s);
                const rows = await untilArchived(db, ids);
                assert.equal([...rows.values()].filter((r) => r.channel === ch).length, ids.length);
                assert.match(writerLog(), /archive reachable again/);
                assert.equal(writerLog().match(/unreachable/g).length, 1, 'the outage is logged once');
                sse.close();
            });
    });
}

describe('bad archive settings stop start-up, naming the variable', { skip: SKIP }, () => {
    const cases = [
        ['COMET_ARCHIVE', 'nosuch:thing'],
        ['COMET_ARCHIVE', 'sqlite:'],
        ['COMET_ARCHIVE', 'mysql://user@host/db'],
        ['COMET_ARCHIVE', 'mysql://user:sekret@host:99999/db'],
        ['COMET_ARCHIVE', 'mysql://user:sekret@host/'],
        ['COMET_ARCHIVE', 'mysql://user:sekret@host/db?sock=/tmp/x'],
        ['COMET_ARCHIVE', 'postgresql://user:sekret@host/db?nosuchoption=1'],
        ['COMET_ARCHIVE_AGE', '-1'],
        ['COMET_ARCHIVE_BACKLOG', '0'],
    ];
    for (const [name, value] of cases) {
        test(`${name}=${value}`, async () => {
            for (const args of [['-n'], ['--archive'], []]) {
                const r = await exec(path.join(BIN, 'comet-worker'), args,
                    { ...process.env, COMET_REDIS_PORT: '1', [name]: value });
                assert.equal(r.code, 1, `comet-worker ${args.join(' ')}: exit ${r.code} ${r.stderr}`);
                assert.match(r.stderr, new RegExp(`^comet-worker: ${name}\\b`), r.stderr);
                assert.ok(!r.stderr.includes('sekret'), `the password is not repeated: ${r.stderr}`);
            }
        });
    }
});
