// The transports for browsers that cannot use SSE or long-poll (XHR streaming, forever
// iframe, JSONP), cross-origin pages (CORS) and keyless publishing to public channels, at
// the HTTP level: frames, escaping, heartbeats, resuming, headers, including when a waiting
// request is answered later (in external mode that is the hub's own writing, not the
// accept threads'). COMET_SSE_LIFETIME=6 and COMET_SSE_HEARTBEAT=1 keep streams short (and
// long enough for a stream to open and get a live event on a busy machine).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, request, query, openSse, SERVER, WAIT_MS } from '../lib/stack.mjs';
import { assertError, assertEnvelope } from '../lib/checks.mjs';

const ORIGIN = 'https://app.example';
const LIFETIME = 6;
const RATE = 3;
let s;
before(async () => {
    s = await startStack({
        env: {
            COMET_SSE_LIFETIME: String(LIFETIME), COMET_SSE_HEARTBEAT: '1', COMET_HISTORY_SIZE: '5',
            COMET_CORS_ORIGINS: ORIGIN, COMET_PUBLIC_CHANNELS: 'pub-*', COMET_PUBLIC_RATE: String(RATE),
        },
    });
});
after(async () => {
    await s?.stop();
});

// Data that would break out of a script element or a JavaScript string if not escaped.
const NASTY = { s: '</script><script>alert(1)</script>', ls: 'a\u2028b\u2029c', q: '"\'\\' };

/** Opens a streaming endpoint (ep: stream or iframe) and reads it as it arrives (r.raw). */
const open = (ep, params, headers = {}) => openSse(`${s.url()}/${ep}${query(params)}`, { headers });

/** /stream's body: the 2048-space first line, then frames (parsed JSON) and heartbeats (''). */
function streamLines(raw) {
    const lines = raw.split('\n');
    const rest = lines.slice(1, raw.endsWith('\n') ? -1 : lines.length - 1);
    return { first: lines[0], items: rest.map((l) => (l === '' ? '' : JSON.parse(l))) };
}

/** /iframe's body: the prelude, then per line a frame {json} or a heartbeat ''. */
function iframeLines(raw, cb) {
    const i = raw.indexOf('\n');
    const lines = raw.slice(i + 1).split('\n');
    if (raw.endsWith('\n')) lines.pop();
    const re = new RegExp(`^<script>parent\\.${cb.replace(/[.$]/g, '\\$&')}\\((.*)\\);</script>$`);
    return {
        prelude: raw.slice(0, i),
        items: lines.map((l) => {
            if (l === '<!---->') return '';
            const m = re.exec(l);
            if (!m) throw new Error(`not an iframe frame: ${JSON.stringify(l.slice(0, 200))}`);
            return { text: m[1], json: JSON.parse(m[1]) };
        }),
    };
}

/** The script text carries no raw <, U+2028 or U+2029 (they are written as \u escapes). */
function assertScriptSafe(text, what) {
    assert.ok(!text.includes('<'), `${what}: a raw < in script: ${text.slice(0, 200)}`);
    assert.ok(!/[\u2028\u2029]/.test(text), `${what}: a raw U+2028/U+2029 in script`);
}

/** JSONP's content type; lighttpd rewrites application/javascript to text/javascript (RFC 9239). */
function assertJavascript(r, what) {
    const want = SERVER === 'lighttpd' ? /^(application|text)\/javascript\b/ : /^application\/javascript\b/;
    assert.match(String(r.headers['content-type']), want, `${what}: content-type`);
}

test('XHR streaming /stream: 2048 spaces, replay, the open frame, live events, heartbeats, truncated, ' +
    'the end after COMET_SSE_LIFETIME', { timeout: 60000 }, async () => {
    const ch = channelName('xs');
    const ids = [];
    for (let seq = 0; seq < 7; seq++) ids.push(...(await s.publishIds({ channel: ch, data: { seq } })));
    const r = open('stream', { channel: ch, since: ids[0] });
    try {
        await r.opened;
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8$/i);
        assert.match(String(r.headers['cache-control']), /\bno-cache\b/);
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        await r.waitFor(() => streamLines(r.raw).items.some((x) => x.open), WAIT_MS, 'the open frame');
        const [id7] = await s.publishIds({ channel: ch, event: 'score', data: NASTY });
        await r.waitFor(() => r.raw.includes(id7), WAIT_MS, 'the live event');
        await r.waitEnd();
        const { first, items } = streamLines(r.raw);
        assert.equal(first, ' '.repeat(2048), 'the first line is 2048 spaces');
        const frames = items.filter((x) => x !== '');
        // History keeps 5 of 7: since the first, the server says it may have missed some.
        assert.deepEqual(frames[0], { truncated: true });
        assert.deepEqual(frames.slice(1, 6).map((e) => e.id), ids.slice(2));
        frames.slice(1, 6).forEach((e, i) => assertEnvelope(e, { channel: ch, data: { seq: i + 2 } }));
        assert.deepEqual(frames[6], { cursor: ids[6], open: true });
        assertEnvelope(frames[7], { channel: ch, event: 'score', data: NASTY });
        assert.equal(frames.length, 8, `extra frames: ${JSON.stringify(frames.slice(8))}`);
        assert.ok(items.filter((x) => x === '').length >= 1, `no heartbeat (empty line) in a ${LIFETIME} s stream`);
        assert.ok(r.endedAt - r.startedAt >= LIFETIME * 1000 - 500,
            `the stream ended after ${r.endedAt - r.startedAt} ms, before COMET_SSE_LIFETIME`);
        assert.equal(r.error, null);
    } finally {
        r.close();
    }
    // Resuming from the last id by lastEventId: nothing again, only what is new.
    const again = open('stream', { channel: ch, lastEventId: ids[6] });
    try {
        await again.waitFor(() => streamLines(again.raw).items.some((x) => x.open), WAIT_MS, 'the open frame');
        const frames = streamLines(again.raw).items.filter((x) => x !== '');
        assert.equal(frames[0].id, (await s.poll({ channel: ch, since: ids[6], timeout: 1 })).json.events[0].id);
        assert.equal(frames.length, 2, JSON.stringify(frames));
    } finally {
        again.close();
    }
});

test('forever iframe /iframe: the padded prelude, <script>parent.NAME(FRAME)</script> per frame, ' +
    'escaped data, heartbeats', { timeout: 60000 }, async () => {
    const ch = channelName('if');
    const cb = 'Comet._cb3';
    const [id0] = await s.publishIds({ channel: ch, data: NASTY });
    const r = open('iframe', { channel: ch, since: 0, callback: cb });
    try {
        await r.opened;
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^text\/html\b/);
        await r.waitFor(() => r.raw.includes('"open":true'), WAIT_MS, 'the open frame');
        const [id1] = await s.publishIds({ channel: ch, event: 'x', data: { seq: 1, ...NASTY } });
        await r.waitFor(() => r.raw.includes(id1), WAIT_MS, 'the live event');
        await r.waitEnd();
        const { prelude, items } = iframeLines(r.raw, cb);
        assert.ok(prelude.length >= 1024, `prelude of ${prelude.length} bytes (1 KiB of padding)`);
        assert.ok(!/<script/i.test(prelude), 'a script in the prelude');
        const frames = items.filter((x) => x !== '');
        for (const f of frames) assertScriptSafe(f.text, 'iframe frame');
        assert.deepEqual(frames.map((f) => f.json.id ?? f.json.cursor), [id0, id0, id1]);
        assertEnvelope(frames[0].json, { channel: ch, data: NASTY });
        assert.deepEqual(frames[1].json, { cursor: id0, open: true });
        assertEnvelope(frames[2].json, { channel: ch, event: 'x', data: { seq: 1, ...NASTY } });
        assert.ok(items.includes(''), `no <!----> heartbeat in a ${LIFETIME} s stream`);
    } finally {
        r.close();
    }
});

test('JSONP long-poll: /**/NAME(ANSWER); at once and when a waiting poll is woken; escaped data',
    { timeout: 60000 }, async () => {
        const ch = channelName('jp');
        const [id0] = await s.publishIds({ channel: ch, data: NASTY });
        const now = await request(`${s.url()}/poll${query({ channel: ch, since: 0, timeout: 5, callback: 'cb' })}`);
        assert.equal(now.status, 200, now.text);
        assertJavascript(now, 'JSONP');
        const m = /^\/\*\*\/cb\((.*)\);\n?$/s.exec(now.text);
        assert.ok(m, `not /**/cb(...);: ${now.text.slice(0, 200)}`);
        assertScriptSafe(m[1], 'JSONP');
        assert.deepEqual(JSON.parse(m[1]), { events: [(await s.poll({ channel: ch, since: 0, timeout: 1 })).json
            .events[0]], cursor: id0 });

        const { req: waiting } = await s.whenWaiting(() => request(`${s.url()}/poll${query({ channel: ch, since: id0,
            timeout: 20, callback: 'Comet.jp.x_1' })}`));
        const [id1] = await s.publishIds({ channel: ch, data: { seq: 1, ...NASTY } });
        const r = await waiting;
        assert.equal(r.status, 200, r.text);
        assertJavascript(r, 'woken JSONP');
        const w = /^\/\*\*\/Comet\.jp\.x_1\((.*)\);\n?$/s.exec(r.text);
        assert.ok(w, `not /**/Comet.jp.x_1(...);: ${r.text.slice(0, 200)}`);
        assertScriptSafe(w[1], 'woken JSONP');
        const answer = JSON.parse(w[1]);
        assert.equal(answer.cursor, id1);
        assert.deepEqual(answer.events.map((e) => e.id), [id1]);
        assertEnvelope(answer.events[0], { channel: ch, data: { seq: 1, ...NASTY } });
    });

test('a callback that is not a JavaScript name path → 400 (JSONP, iframe); the iframe needs one',
    { timeout: 30000 }, async () => {
        const bad = ['alert(1)//', 'a..b', '1a', 'a.b.c.d.e', 'a-b', 'a.', `${'a'.repeat(129)}`, 'a b', '<x>'];
        for (const cb of bad) {
            assertError(await request(`${s.url()}/poll${query({ channel: 'x', timeout: 1, callback: cb })}`, {
                timeoutMs: 10000 }), 400, `JSONP callback=${cb}`);
            assertError(await request(`${s.url()}/iframe${query({ channel: 'x', callback: cb })}`, {
                timeoutMs: 10000 }), 400, `iframe callback=${cb}`);
        }
        assertError(await request(`${s.url()}/iframe${query({ channel: 'x' })}`, { timeoutMs: 10000 }), 400,
            'iframe without callback');
        const ok = await request(`${s.url()}/poll${query({ channel: 'x', timeout: 1, callback: `$a.${'b'.repeat(120)}` })}`);
        assert.equal(ok.status, 200, ok.text);
    });

test(`CORS: ${ORIGIN} gets Access-Control-Allow-Origin and credentials on every endpoint, also on a ` +
    'waiting poll answered later and on streams; other origins get none; preflight 204',
{ timeout: 60000 }, async () => {
    const ch = channelName('cors');
    const check = (r, what, allowed = true) => {
        if (allowed) {
            assert.equal(r.headers['access-control-allow-origin'], ORIGIN, `${what}: Allow-Origin`);
            assert.equal(r.headers['access-control-allow-credentials'], 'true', `${what}: Allow-Credentials`);
            assert.match(String(r.headers.vary), /\bOrigin\b/, `${what}: Vary`);
        } else {
            assert.equal(r.headers['access-control-allow-origin'], undefined, `${what}: Allow-Origin for a stranger`);
            assert.equal(r.headers['access-control-allow-credentials'], undefined, `${what}: credentials`);
        }
    };
    for (const [origin, allowed] of [[ORIGIN, true], ['https://evil.example', false], [`${ORIGIN}.evil`, false]]) {
        const h = { Origin: origin };
        const what = `Origin ${origin}`;
        const pub = await s.publish({ channel: ch, data: 1 }, { headers: h, wait: true });
        assert.equal(pub.status, 200, pub.text);
        check(pub, `${what}: publish`, allowed);
        check(await request(`${s.url()}/stats`, { headers: h }), `${what}: stats`, allowed);
        check(await s.poll({ channel: ch, since: 0, timeout: 1 }, { headers: h }), `${what}: poll at once`, allowed);
        // Answered later: by the hub in external mode.
        const { req: waiting } = await s.whenWaiting(() => s.poll({ channel: ch, timeout: 20 }, { headers: h }));
        await s.publishIds({ channel: ch, data: 2 });
        const w = await waiting;
        assert.equal(w.json.events.length, 1);
        check(w, `${what}: a waiting poll`, allowed);
        for (const ep of ['sse', 'stream']) {
            const r = open(ep, { channel: ch }, h);
            try {
                await r.opened;
                assert.equal(r.status, 200);
                check(r, `${what}: ${ep}`, allowed);
            } finally {
                r.close();
            }
        }
        // An error answer too.
        check(await s.publish({ channel: 'bad ch', data: 1 }, { headers: h }), `${what}: a 400`, allowed);
    }
    const pre = await request(`${s.url()}/publish`, { method: 'OPTIONS', headers: { Origin: ORIGIN,
        'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type' } });
    assert.equal(pre.status, 204, pre.text);
    check(pre, 'preflight');
    assert.match(String(pre.headers['access-control-allow-methods']), /\bPOST\b/);
    const allowHeaders = String(pre.headers['access-control-allow-headers']).toLowerCase();
    for (const hd of ['authorization', 'content-type']) assert.ok(allowHeaders.includes(hd), `preflight: ${hd}`);
});

test(`public channels: keyless publishes to pub-* are accepted, ${RATE} a minute per address, counted ` +
    'exactly under concurrency; other channels still need the key', { timeout: 30000 }, async () => {
    const ch = `pub-${channelName('p')}`;
    const mixed = await s.publish({ channels: [ch, 'private'], data: 1 }, { key: null });
    assertError(mixed, 401, 'keyless publish naming a non-public channel');
    assert.match(String(mixed.headers['www-authenticate']), /^Bearer\b/);
    // At once, so that in external mode several accept threads count at the same time.
    const answers = await Promise.all(Array.from({ length: 3 * RATE }, (_, i) =>
        s.publish({ channel: ch, data: i }, { key: null })));
    const ok = answers.filter((r) => r.status === 202);
    const limited = answers.filter((r) => r.status === 429);
    assert.equal(ok.length, RATE, `accepted: ${answers.map((r) => r.status)}`);
    assert.equal(limited.length, 2 * RATE, `429s: ${answers.map((r) => r.status)}`);
    for (const r of limited) {
        assertError(r, 429, 'over the public rate');
        assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/, 'Retry-After');
    }
    const keyed = await s.publish({ channel: ch, data: 'with key' }, { wait: true });
    assert.equal(keyed.status, 200, `a keyed publish is not rate-limited: ${keyed.text}`);
    const got = await s.collect(ch, 0, { count: RATE + 1 });
    assert.equal(got.events.length, RATE + 1);
});
