// apache-conf/htaccess.example as a shared host uses it: a private Apache with mod_fcgid's
// defaults (no Fcgid* tuning, which .htaccess cannot set) and a site whose comet/ folder holds the
// file as .htaccess, comet.fcgi, the comet-env.sh wrapper and the client (apache-conf/private.sh).
// Every endpoint of the HTTP contract answers through it (not Apache's HTML 404), the waiting
// ones in the wait class and the rest in the short class, a name comet.fcgi does not know gets its
// JSON 404, the client's files their types, and the wrapper with the keys is never served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, channelName, request, openSse, query, ROOT, SERVER, WAIT_MS } from '../lib/stack.mjs';

const SKIP = SERVER !== 'apache' && '.htaccess is for Apache + mod_fcgid: run once, behind apache';
let s;
before(async () => {
    if (SKIP) return;
    // The padding htaccess.example sets: mod_fcgid's default 64 KiB output buffer holds back SSE
    // otherwise. The short lifetime ends the streams of this test.
    s = await startStack({ server: 'htaccess', env: { COMET_SSE_PADDING: '65536', COMET_SSE_HEARTBEAT: '2',
        COMET_SSE_LIFETIME: '20' } });
});
after(async () => {
    await s?.stop();
});

/** The command line of the comet.fcgi process holding each waiting request (members HOST:PID:N). */
async function waitingCommands() {
    return [...(await s.waitingSet())].map((m) => {
        const pid = m.split(':').at(-2);
        try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
        } catch {
            return `${pid} (gone)`;
        }
    });
}

/** Opens a stream endpoint, waits until it holds a process, publishes one event, and resolves
 * with what the stream had once the event's id arrived. */
async function streamGets(ep, params) {
    const ch = channelName(ep);
    const { req: r } = await s.whenWaiting(() => openSse(`${s.url()}/${ep}${query({ channel: ch, ...params })}`));
    try {
        assert.equal(r.status, 200, `${ep}: ${r.raw.slice(0, 300)}`);
        const cmds = await waitingCommands();
        assert.ok(cmds.length && cmds.every((c) => / -L wait$/.test(c)), `${ep} waits outside the wait class: ${cmds}`);
        const [id] = await s.publishIds({ channel: ch, data: { ep } });
        await r.waitFor(() => r.raw.includes(`"id":"${id}"`), WAIT_MS, `event ${id} on /${ep}`);
        return r;
    } finally {
        r.close();
    }
}

test('through .htaccess: /sse, /stream and /iframe stream an event (the wait class), not Apache\'s 404',
    { timeout: 120000, skip: SKIP }, async () => {
        const sse = await streamGets('sse');
        assert.match(String(sse.headers['content-type']), /^text\/event-stream/);
        const lines = await streamGets('stream');
        assert.match(String(lines.headers['content-type']), /^text\/plain; charset=utf-8/);
        const iframe = await streamGets('iframe', { callback: 'cb' });
        assert.match(String(iframe.headers['content-type']), /^text\/html/);
        assert.match(iframe.raw, /<script>parent\.cb\(\{"id":/);
    });

test('through .htaccess: /poll, JSONP, /publish and /stats answer; publish runs in the short class',
    { timeout: 60000, skip: SKIP }, async () => {
        const ch = channelName('poll');
        const { req } = await s.whenWaiting(() => s.poll({ channel: ch, timeout: 25 }));
        assert.ok((await waitingCommands()).every((c) => / -L wait$/.test(c)));
        const pub = await s.publish({ channel: ch, data: 1 });
        assert.equal(pub.status, 202, pub.text);
        const r = await req;
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.events.length, 1);
        const shorts = s.fcgiPids().map((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' '))
            .filter((c) => / -L short $/.test(c));
        assert.ok(shorts.length >= 1, 'no comet.fcgi -L short process answered the publish');
        const jsonp = await request(`${s.url()}/poll${query({ channel: ch, since: 0, callback: 'cb' })}`);
        assert.equal(jsonp.status, 200, jsonp.text);
        assert.match(jsonp.text, /^\/\*\*\/cb\(\{"events":\[\{"id":/);
        assert.equal((await s.stats()).published >= 1, true);
    });

test('through .htaccess: an unknown name is comet.fcgi\'s JSON 404; an oversized publish the JSON 413',
    { timeout: 60000, skip: SKIP }, async () => {
        for (const name of ['no-such-endpoint', 'a/b/unknown', '']) {
            const r = await request(`${s.url()}/${name}`);
            assert.equal(r.status, 404, `/comet/${name}: ${r.text}`);
            assert.match(String(r.headers['content-type']), /^application\/json/, `/comet/${name}: ${r.text}`);
            assert.match(r.json?.error ?? '', /no such endpoint/);
        }
        const big = await request(`${s.url()}/publish`, { method: 'POST', body: 'x',
            headers: { 'Content-Length': '200000', 'Content-Type': 'application/json' }, timeoutMs: 15000 })
            .catch((e) => ({ status: 0, text: e.message }));
        assert.equal(big.status, 413, big.text);
        assert.match(big.text, /"error"/);
    });

test('through .htaccess: the client\'s files with their types; comet-env.sh (the keys) refused',
    { timeout: 30000, skip: SKIP }, async () => {
        for (const [file, type] of [['comet.js', /^text\/javascript; charset=utf-8$/],
            ['comet.mjs', /^text\/javascript; charset=utf-8$/], ['comet.d.ts', /^text\/plain; charset=utf-8$/]]) {
            const r = await request(`${s.url()}/${file}`);
            assert.equal(r.status, 200, `${file}: ${r.text.slice(0, 200)}`);
            assert.match(String(r.headers['content-type']), type, file);
            assert.equal(r.text, fs.readFileSync(path.join(ROOT, 'www', file), 'utf8'), file);
        }
        const env = await request(`${s.url()}/comet-env.sh`);
        assert.equal(env.status, 403);
        assert.ok(!env.text.includes(s.key), 'comet-env.sh served with the publish key');
    });
