// The SQL archive's read side against each real database: a resume from older than Redis
// keeps (COMET_HISTORY_SIZE=5) is served from the archive and continues live on every
// transport, with no loss, no duplicate and no truncated; GET /history pages back and forth
// across Redis and the archive; Redis emptied (FLUSHALL), both still serve from the archive;
// the archive down: /history beyond Redis answers 503 and a resume says truncated, and the
// server goes on; bad parameters are 400; private channels need credentials; comet.fcgi
// loads the database library only when a request needs the archive. SQLite runs under
// every web server (no server to start); MariaDB and PostgreSQL under the one COMET_IT_ONCE
// names (tests/run.sh), as the write side does.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jwt as signJwt, now } from '../lib/jwt.mjs';
import { ROOT, SERVER, WAIT_MS, channelName, openSse, query, request, startStack, until } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';
import { backend, exec, untilArchived } from '../lib/archive.mjs';

const ONCE = process.env.COMET_IT_ONCE;
const ALL = (process.env.COMET_ARCHIVE_BACKENDS || 'sqlite mariadb postgresql').split(/[\s,]+/).filter(Boolean);
const BACKENDS = ONCE && ONCE !== SERVER ? ALL.filter((b) => b === 'sqlite') : ALL;
const BIN = path.resolve(ROOT, process.env.COMET_BIN_DIR || 'build');
const JWT_SECRET = 'history-secret';
const LONG = 120000;

/** A JWT (HS256) that lets its bearer subscribe to patterns for a minute. */
const jwt = (patterns) => signJwt({ exp: now() + 60, comet: { subscribe: patterns } }, { key: JWT_SECRET });

/** The JSON inside a JSONP answer /∗∗/NAME(JSON); */
function jsonp(r, cb) {
    const m = new RegExp(`^/\\*\\*/${cb}\\((.*)\\);\\n?$`, 's').exec(r.text);
    assert.ok(m, `not JSONP for ${cb}: ${r.text.slice(0, 300)}`);
    return JSON.parse(m[1]);
}

/** The JSON frames of a /stream or /iframe body (heartbeats and the prelude left out). */
function frames(ep, raw) {
    const lines = raw.split('\n').slice(1).filter((l) => l !== '' && l !== '<!---->');
    if (!raw.endsWith('\n')) lines.pop();
    return lines.map((l) => JSON.parse(ep === 'iframe' ? /^<script>parent\.cb\((.*)\);<\/script>$/.exec(l)[1] : l));
}

const ids = (events) => events.map((e) => e.id);

for (const name of BACKENDS) {
    describe(`reading the archive on ${name}`, { timeout: 10 * LONG }, () => {
        const db = backend(name);
        let s;
        const history = (params, headers = {}) => request(`${s.url()}/history${query(params)}`, { headers,
            timeoutMs: 20000 });
        /** n events on a fresh archived channel, each its own publish (so ids are far apart), archived. */
        const archived = async (n, tag = 'keep') => {
            const ch = channelName(tag);
            const got = [];
            for (let i = 0; i < n; i++) got.push(...await s.publishIds({ channel: ch, data: { seq: i } }));
            await untilArchived(db, got);
            return { ch, ids: got };
        };

        before(async () => {
            s = await startStack({
                name: `archive-read-${name}`,
                env: {
                    COMET_ARCHIVE_CHANNELS: 'keep-*,priv-*', COMET_HISTORY_SIZE: '5', COMET_POLL_MAX_EVENTS: '4',
                    COMET_SSE_HEARTBEAT: '1', COMET_PRIVATE_CHANNELS: 'priv-*', COMET_JWT_SECRET: JWT_SECRET,
                },
                afterRedis: async (st) => {
                    db.dir = st.dir;
                    await db.start(st);
                    return { COMET_ARCHIVE: db.url() };
                },
            });
            const r = await exec(path.join(BIN, 'comet-worker'), ['--archive-init'], s.env());
            assert.equal(r.code, 0, r.stderr);
            await s.sh(['archive', s.dir]);
        }, { timeout: LONG });
        after(async () => s && s.stop());

        // Runs first: no request of this stack has needed the archive yet.
        test('comet.fcgi loads the database library only once a request needs the archive',
            { skip: name !== 'sqlite' && 'checked once, with SQLite' }, async () => {
                const mapped = () => s.fcgiPids().filter((pid) => {
                    try {
                        return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libsqlite3');
                    } catch {
                        return false;
                    }
                });
                const { ch, ids: all } = await archived(7);
                const live = await s.poll({ channel: ch, since: all[3], timeout: 1 });
                assert.equal(live.status, 200, live.text);
                assert.ok(s.fcgiPids().length > 0, 'no comet.fcgi process found');
                assert.deepEqual(mapped(), [], 'libsqlite3 loaded by a resume Redis alone served');
                // Redis trimmed all[0] and all[1]: the poll answers with the archive's part.
                const old = await s.poll({ channel: ch, since: all[0], timeout: 1 });
                assert.deepEqual(ids(old.json.events), [all[1]], old.text);
                assert.ok(mapped().length > 0, 'no process loaded libsqlite3 to read the archive');
            });

        test('poll and JSONP resume from older than Redis keeps: the archive, then Redis, then live; ' +
            'no loss, no duplicate, no truncated', async () => {
            const { ch, ids: all } = await archived(12);
            const got = await s.collect(ch, all[0], { count: 11 });
            assert.deepEqual(ids(got.events), all.slice(1));
            assert.equal(got.truncated, false, JSON.stringify(got.answers));
            // A poll answers with the archive's part at once, the most it takes (4) at a time.
            const page = jsonp(await s.poll({ channel: ch, since: all[0], timeout: 1, callback: 'cb' }), 'cb');
            assert.deepEqual(ids(page.events), all.slice(1, 5));
            assert.equal(page.truncated, undefined);
            const waiting = s.poll({ channel: ch, since: all.at(-1), timeout: 20 });
            const [next] = await s.publishIds({ channel: ch, data: 'live' });
            assert.deepEqual(ids((await waiting).json.events), [next]);
        });

        test('SSE (Last-Event-ID), XHR streaming and the iframe resume from the archive, then go live', async () => {
            const { ch, ids: all } = await archived(9);
            const sse = s.sse({ channel: ch }, { lastEventId: all[0] });
            const stream = openSse(`${s.url()}/stream${query({ channel: ch, since: all[0] })}`);
            const iframe = openSse(`${s.url()}/iframe${query({ channel: ch, since: all[0], callback: 'cb' })}`);
            try {
                await sse.waitOpen();
                for (const r of [stream, iframe])
                    await r.waitFor(() => frames(r === stream ? 'stream' : 'iframe', r.raw).some((f) => f.open),
                        WAIT_MS, 'the open frame');
                const [next] = await s.publishIds({ channel: ch, data: 'live' });
                const want = [...all.slice(1), next];
                await sse.waitEnvelopes(want.length);
                assert.deepEqual(ids(sse.envelopes), want);
                assert.ok(!sse.events.some((e) => e.event === 'comet-truncated'), sse.raw.slice(0, 500));
                for (const [ep, r] of [['stream', stream], ['iframe', iframe]]) {
                    await r.waitFor(() => frames(ep, r.raw).filter((f) => f.id).length >= want.length, WAIT_MS,
                        `${ep}: ${want.length} events`);
                    const fr = frames(ep, r.raw);
                    assert.deepEqual(ids(fr.filter((f) => f.id)), want, ep);
                    assert.ok(!fr.some((f) => f.truncated), `${ep}: ${r.raw.slice(0, 500)}`);
                }
            } finally {
                for (const r of [sse, stream, iframe]) r.close();
            }
        });

        test('/history: the newest N, paging back with before and forward with after, across Redis and ' +
            'the archive, several channels merged by id, JSONP', async () => {
            const a = await archived(8);
            const b = await archived(3);
            const newest = await history({ channel: a.ch, limit: 3 });
            assert.equal(newest.status, 200, newest.text);
            assert.deepEqual(ids(newest.json.events), a.ids.slice(5));
            assert.equal(newest.json.more, true);
            assert.equal(newest.json.cursor, a.ids[5]);
            assert.ok(newest.json.live, 'the latest page says where to subscribe from');
            const back = [];
            for (let cursor = null, more = true; more;) {
                const r = await history({ channel: a.ch, limit: 3, ...(cursor ? { before: cursor } : {}) });
                assert.equal(r.status, 200, r.text);
                back.unshift(...r.json.events);
                ({ cursor, more } = r.json);
            }
            assert.deepEqual(ids(back), a.ids, 'before= pages back to the first event, from the archive');
            const fwd = [];
            for (let cursor = '0', more = true; more;) {
                const r = await history({ channel: a.ch, limit: 3, after: cursor });
                assert.equal(r.status, 200, r.text);
                fwd.push(...r.json.events);
                ({ cursor, more } = r.json);
            }
            assert.deepEqual(ids(fwd), a.ids, 'after= pages forward from the first event');
            const both = await history({ channel: [a.ch, b.ch], limit: 100 });
            assert.deepEqual(ids(both.json.events), [...a.ids, ...b.ids]);
            assert.equal(both.json.more, false);
            const p = jsonp(await history({ channel: a.ch, limit: 2, callback: 'Comet._h1' }), 'Comet\\._h1');
            assert.deepEqual(ids(p.events), a.ids.slice(6));
            // Subscribing from live gets what came after the page, once.
            const [next] = await s.publishIds({ channel: a.ch, data: 'after' });
            const got = await s.collect(a.ch, newest.json.live, { count: 1 });
            assert.deepEqual(ids(got.events), [next]);
        });

        test('bad /history parameters → JSON 400; a private channel needs credentials', async () => {
            for (const params of [{}, { channel: 'x', limit: 0 }, { channel: 'x', limit: 1001 }, { channel: 'x', limit: 'a' },
                { channel: 'x', before: '1-1', after: '1-1' }, { channel: 'x', before: 'nope' }, { channel: 'x', after: '-1' },
                { channel: 'x', callback: 'alert(1)' }, { channel: 'bad name' }])
                assertError(await history(params), 400, `history ${JSON.stringify(params)}`);
            const post = await request(`${s.url()}/history${query({ channel: 'x' })}`, { method: 'POST', body: '{}' });
            assertError(post, 405, 'POST /history');
            const { ch, ids: all } = await archived(2, 'priv');
            assertError(await history({ channel: ch }), 401, 'private history without credentials');
            assertError(await history({ channel: ch, token: jwt(['priv-other*']) }), 403, 'a token for other channels');
            const ok = await history({ channel: ch, token: jwt(['priv-*']) });
            assert.equal(ok.status, 200, ok.text);
            assert.deepEqual(ids(ok.json.events), all);
        });

        test('Redis emptied (FLUSHALL): /history and a resume are served from the archive; the resume ' +
            'then says truncated once, where Redis lost what it had not archived', async () => {
            const { ch, ids: all } = await archived(6);
            await s.redis('FLUSHALL');
            const h = await history({ channel: ch, limit: 10 });
            assert.equal(h.status, 200, h.text);
            assert.deepEqual(ids(h.json.events), all);
            const [fresh] = await s.publishIds({ channel: ch, data: 'new' });
            const got = await s.collect(ch, all[0], { count: all.length });
            assert.deepEqual(ids(got.events), [...all.slice(1), fresh]);
            const flagged = got.answers.filter((a) => a.truncated);
            assert.equal(flagged.length, 1, JSON.stringify(got.answers));
            assert.deepEqual(ids(flagged[0].events), [fresh], 'said where the gap is: before Redis\'s events');
            const sse = s.sse({ channel: ch }, { lastEventId: all[0] });
            try {
                await sse.waitOpen();
                const kinds = sse.events.map((e) => e.event === 'comet-truncated' ? 'T' : e.event === 'comet-open' ? 'O'
                    : e.data && JSON.parse(e.data).id);
                assert.deepEqual(kinds, [...all.slice(1), 'T', fresh, 'O']);
            } finally {
                sse.close();
            }
        });

        test('the archive down: /history beyond Redis answers 503, a resume says truncated, the rest goes on',
            { skip: !db.component && 'SQLite has no server to stop', timeout: LONG }, async () => {
                const { ch, ids: all } = await archived(8);
                await db.stop(s);
                try {
                    const h = await history({ channel: ch, limit: 7 });
                    assertError(h, 503, 'history beyond Redis, the archive down');
                    assert.match(h.json.error, /archive/);
                    const inRedis = await history({ channel: ch, limit: 3 });
                    assert.equal(inRedis.status, 200, 'a page Redis alone serves');
                    const r = await s.poll({ channel: ch, since: all[0], timeout: 1 });
                    assert.equal(r.status, 200, r.text);
                    assert.equal(r.json.truncated, true, r.text);
                    assert.deepEqual(ids(r.json.events), all.slice(3, 7), 'what Redis keeps');
                    const [next] = await s.publishIds({ channel: ch, data: 'still' });
                    assert.deepEqual(ids((await s.collect(ch, all.at(-1), { count: 1 })).events), [next]);
                } finally {
                    await db.start(s);
                }
                await until(async () => (await history({ channel: ch, limit: 7 })).status === 200, WAIT_MS,
                    'history served again once the database is back');
            });
    });
}
