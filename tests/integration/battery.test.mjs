// The bad-input battery (issue 5), beside errors.test.mjs (bodies, keys, 405/411/413/415):
// the limits added for hardening (nesting depth, query length, Idempotency-Key), bad
// cursors, Last-Event-ID garbage and callbacks on every waiting endpoint, every method on
// every endpoint, input never reflected in an error, nosniff on every answer, CORS only for
// an exact origin. Each bad request: its status, a JSON error, nothing queued or published,
// nothing written under the prefix; the server keeps serving. Runs against build/san.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, request, query, until, SERVER, WAIT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';

const ORIGIN = 'https://app.example';
const MARK = 'ZZmarkZZ';
let s;
let baseline;
const ch = channelName('bat');

before(async () => {
    // COMET_MAX_QUERY below the web servers' own request-line limits (Apache: 8190 bytes).
    s = await startStack({ env: { COMET_CORS_ORIGINS: ORIGIN, COMET_MAX_QUERY: '1024' } });
    baseline = await settled();
});
after(async () => {
    await s?.stop();
});

async function settled() {
    return until(async () => {
        const st = await s.stats();
        return st.inbox === 0 && { published: st.published, keys: await keys() };
    }, WAIT_MS, 'an empty inbox');
}
/** Keys under the prefix that a publish or an Idempotency-Key would have written. */
async function keys() {
    return (await s.redis('--scan', '--pattern', 'comet:*')).split('\n')
        .filter((k) => k.startsWith('comet:h:') || k.startsWith('comet:idem:')).sort();
}
async function assertNothingChanged(what) {
    const now = await settled();
    assert.deepEqual(now, baseline, `${what}: something was published or stored`);
}
/**
 * A bad answer: the status, a JSON error, and none of the input (MARK) reflected. lighttpd
 * refuses a URL with an encoded CR or LF itself (its own HTML 400) before comet.fcgi sees it.
 */
function assertBad(r, status, what, urlHasCtl = false) {
    if (SERVER === 'lighttpd' && urlHasCtl && !r.json) {
        assert.equal(r.status, 400, what);
        return;
    }
    assertError(r, status, what);
    assert.ok(!r.text.includes(MARK), `${what}: the input is reflected: ${r.text}`);
}

const nest = (n) => `${'['.repeat(n)}1${']'.repeat(n)}`;
const publishBodies = [
    ['nesting 33 deep (COMET_MAX_DEPTH=32)', `{"channel":"${ch}","data":${nest(32)}}`],
    ['nesting 20000 deep', `{"channel":"${ch}","data":${nest(20000)}}`],
    ['an unclosed deep array', `${'['.repeat(5000)}`],
    ['a channel with CR LF and a marker', JSON.stringify({ channel: `a\r\nSet-Cookie: ${MARK}`, data: 1 })],
    ['an overlong channel', JSON.stringify({ channel: `${MARK}${'c'.repeat(200)}`, data: 1 })],
    ['an event type with CR LF (SSE field injection)', JSON.stringify({ channel: ch, event: `x\r\ndata: ${MARK}`, data: 1 })],
    ['an event type with a lone CR', JSON.stringify({ channel: ch, event: 'x\rid: 9', data: 1 })],
    ['a null channel', JSON.stringify({ channel: null, data: 1 })],
    ['channels of the wrong type', JSON.stringify({ channels: [1, 2], data: 1 })],
    ['an empty batch', '[]'],
    ['an oversize batch (101 > COMET_MAX_BATCH=100)', JSON.stringify(Array.from({ length: 101 }, () => ({ channel: ch, data: 0 })))],
    ['too many channels (33 > COMET_MAX_CHANNELS=32)', JSON.stringify({ channels: Array.from({ length: 33 }, (_, i) => `${ch}${i}`), data: 0 })],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x63, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ['a raw NUL byte', `{"channel":"${ch}","data":"a\u0000b"}`],
    ['a marker as unknown field', JSON.stringify({ channel: ch, data: 1, [MARK]: 1 })],
];
for (const [what, body] of publishBodies) {
    test(`publish ${what} → 400`, { timeout: 20000 }, async () => {
        assertBad(await s.publish(null, { rawBody: body }), 400, what);
        await assertNothingChanged(what);
    });
}

// Up to the web server's own limit (Apache: FcgidMaxRequestLen 1 MiB in apache-conf/comet.conf).
test('a huge body (900 KiB > COMET_MAX_BODY) → 413, nothing published', { timeout: 20000 }, async () => {
    const body = JSON.stringify({ channel: ch, data: 'x'.repeat(900 << 10) });
    assertBad(await s.publish(null, { rawBody: body }), 413, 'a 900 KiB body');
    await assertNothingChanged('413');
});

test('bad Idempotency-Key headers → 400 before anything is read or stored', { timeout: 20000 }, async () => {
    for (const k of ['a b', `${MARK}${'k'.repeat(130)}`, 'caf\u00e9', 'a,b', 'a;b', '"quoted"', '<k>']) {
        const r = await s.publish({ channel: ch, data: 1 }, { headers: { 'Idempotency-Key': k } });
        assertBad(r, 400, `Idempotency-Key ${JSON.stringify(k).slice(0, 40)}`);
    }
    // Authorization is checked first: a bad key with a bad credential is 401.
    const r = await s.publish({ channel: ch, data: 1 }, { key: 'wrong', headers: { 'Idempotency-Key': 'a b' } });
    assertBad(r, 401, 'a bad key and a wrong publish key');
    await assertNothingChanged('bad Idempotency-Keys');
});

test('missing or wrong publish key, wrong content type → 401 / 415, nothing published', { timeout: 20000 },
    async () => {
        assertBad(await s.publish({ channel: ch, data: 1 }, { key: null }), 401, 'no key');
        assertBad(await s.publish({ channel: ch, data: 1 }, { key: MARK }), 401, 'a wrong key');
        assertBad(await s.publish({ channel: ch, data: 1 }, { contentType: 'text/plain' }), 415, 'text/plain');
        await assertNothingChanged('401/415');
    });

const waitingEndpoints = [['poll', { timeout: 1 }], ['poll', { timeout: 1, callback: 'cb' }], ['sse', {}],
    ['stream', {}], ['iframe', { callback: 'cb' }]];
/** GETs every waiting endpoint with params (and headers); each must answer status at once. */
async function assertAllRefuse(params, status, what, headers = {}) {
    const crlf = Object.values(params).flat().some((v) => /[\r\n]/.test(String(v)));
    for (const [ep, extra] of waitingEndpoints) {
        const url = `${s.url()}/${ep}${query({ ...extra, ...params })}`;
        assertBad(await request(url, { headers, timeoutMs: 10000 }), status, `${ep} with ${what}`, crlf);
    }
}

test('subscribe queries: overlong query string, too many channels, bad names → 400 everywhere',
    { timeout: 60000 }, async () => {
        await assertAllRefuse({ channel: ch, pad: `${MARK}${'p'.repeat(1100)}` }, 400, 'a query string above 1024 bytes');
        const head = `channel=${ch}&timeout=0&pad=`;
        const exact = await request(`${s.url()}/poll?${head}${'p'.repeat(1024 - head.length)}`, { timeoutMs: 10000 });
        assert.equal(exact.status, 200, `a 1024-byte query string: ${exact.text}`);
        await assertAllRefuse({ channel: Array.from({ length: 33 }, (_, i) => `c${i}`) }, 400, '33 channels');
        await assertAllRefuse({ channel: `${MARK}\r\nX: y` }, 400, 'a channel with CR LF');
        await assertAllRefuse({ channel: `${MARK}${'c'.repeat(129)}` }, 400, 'a 137-byte channel');
        const raw = await request(`${s.url()}/poll?channel=${ch}&since=%zz${MARK}`, { timeoutMs: 10000 });
        assertBad(raw, 400, 'a broken %-escape');
        const nul = await request(`${s.url()}/poll?channel=${ch}%00x`, { timeoutMs: 10000 });
        assertBad(nul, 400, 'a NUL byte', true); // lighttpd refuses encoded control bytes too
    });

test('bad cursors (since, lastEventId) and Last-Event-ID garbage → 400 everywhere', { timeout: 60000 }, async () => {
    const bad = ['abc', '-1-0', '1-', '-1', '01-0', '1-01', '1-0-0', '99999999999999999999999-0', '1.5-0', ' 1-0',
        `${MARK}`, '1-0\r\nX: y'];
    for (const c of bad) {
        await assertAllRefuse({ channel: ch, since: c }, 400, `since=${JSON.stringify(c)}`);
        for (const [ep, extra] of waitingEndpoints.filter(([e]) => e !== 'poll')) {
            const q = await request(`${s.url()}/${ep}${query({ channel: ch, lastEventId: c, ...extra })}`,
                { timeoutMs: 10000 });
            assertBad(q, 400, `${ep} lastEventId=${JSON.stringify(c)}`, /[\r\n]/.test(c));
            if (/[\r\n]|^ /.test(c)) continue; // not sendable as a header, or trimmed on the way
            const h = await request(`${s.url()}/${ep}${query({ channel: ch, ...extra })}`,
                { headers: { 'Last-Event-ID': c }, timeoutMs: 10000 });
            assertBad(h, 400, `${ep} Last-Event-ID: ${JSON.stringify(c)}`);
        }
    }
});

test('bad callbacks (JSONP poll, iframe) → 400', { timeout: 60000 }, async () => {
    const bad = ['', '1cb', 'a..b', 'a.', '.a', 'a.b.c.d.e', 'alert(1)', 'a-b', 'a b', '</script>', `${MARK}(`,
        'x'.repeat(129), 'a[0]', 'a\u2028b', 'cb;evil'];
    for (const cb of bad) {
        for (const [ep, extra] of [['poll', { timeout: 1 }], ['iframe', {}]]) {
            const r = await request(`${s.url()}/${ep}${query({ channel: ch, callback: cb, ...extra })}`,
                { timeoutMs: 10000 });
            assertBad(r, 400, `${ep} callback=${JSON.stringify(cb)}`);
        }
    }
    assertBad(await request(`${s.url()}/iframe${query({ channel: ch })}`, { timeoutMs: 10000 }), 400,
        'iframe without a callback');
});

test('every other method on every endpoint → 405 with Allow; unknown endpoints → 404', { timeout: 60000 },
    async () => {
        const eps = { poll: 'GET', sse: 'GET', stream: 'GET', iframe: 'GET', stats: 'GET', publish: 'POST' };
        for (const [ep, allow] of Object.entries(eps)) {
            for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
                if (method === allow) continue;
                const r = await request(`${s.url()}/${ep}${query({ channel: ch, callback: 'cb' })}`, {
                    method, body: method === 'GET' ? undefined : '{}',
                    headers: { Authorization: `Bearer ${s.key}`, 'Content-Type': 'application/json' }, timeoutMs: 10000 });
                assertBad(r, 405, `${method} /${ep}`);
                assert.equal(r.headers.allow, allow, `${method} /${ep}: Allow`);
            }
        }
        for (const p of [`/${MARK}`, '/publish/x', '/', '/comet.fcgi', `/poll${MARK}`]) {
            assertBad(await request(`${s.url()}${p}`, { timeoutMs: 10000 }), 404, `GET /comet${p}`);
        }
        await assertNothingChanged('405s and 404s');
    });

test('X-Content-Type-Options: nosniff on every kind of answer', { timeout: 30000 }, async () => {
    const answers = [
        await request(`${s.url()}/stats`),
        await s.poll({ channel: ch, timeout: 0 }),
        await request(`${s.url()}/poll${query({ channel: ch, timeout: 0, callback: 'cb' })}`),
        await request(`${s.url()}/publish`, { method: 'OPTIONS', headers: { Origin: ORIGIN } }),
        await request(`${s.url()}/nope`),
        await s.publish({ channel: ch, data: 1 }, { key: null }),
    ];
    for (const r of answers) assert.equal(r.headers['x-content-type-options'], 'nosniff', `${r.status} answer`);
    const sse = s.sse({ channel: ch });
    try {
        await sse.waitOpen();
        assert.equal(sse.headers['x-content-type-options'], 'nosniff', 'sse');
    } finally {
        sse.close();
    }
});

test('CORS: only an exact configured origin is echoed', { timeout: 30000 }, async () => {
    const ok = await request(`${s.url()}/stats`, { headers: { Origin: ORIGIN } });
    assert.equal(ok.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(ok.headers.vary, 'Origin');
    for (const o of [`${ORIGIN}.evil.example`, `${ORIGIN}:8443`, 'http://app.example', `https://x${ORIGIN.slice(8)}`,
        'https://APP.example', `${ORIGIN}/`, 'null', `${ORIGIN}\tx`]) {
        const r = await request(`${s.url()}/stats`, { headers: { Origin: o } });
        assert.equal(r.status, 200);
        assert.equal(r.headers['access-control-allow-origin'], undefined, `origin ${o} was allowed`);
        assert.equal(r.headers['access-control-allow-credentials'], undefined, `origin ${o}: credentials`);
    }
});

// Last: the server still serves after all of the above.
test('afterwards: nothing of the bad requests was published, and publish → poll still works', { timeout: 30000 },
    async () => {
        await assertNothingChanged('the whole battery');
        const p = s.poll({ channel: ch, since: 0, timeout: 20 });
        const pub = await s.publish({ channel: ch, data: 'alive' });
        assert.equal(pub.status, 202, pub.text);
        const r = await p;
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.events.map((e) => e.data), ['alive']);
    });
