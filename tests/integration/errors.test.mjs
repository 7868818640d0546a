// Bad input: each gets its exact status and a JSON {"error"}, and changes nothing. Runs
// with COMET_MAX_BODY=1024 and COMET_MAX_BATCH=10 to reach the limits cheaply.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, request, rawRequest, unchunk, until, SERVER, WAIT_MS } from '../lib/stack.mjs';
import { assertError, assertEnvelope } from '../lib/checks.mjs';

let s;
const ch = channelName('err');
const chOk = channelName('ok');
let baseline;

before(async () => {
    s = await startStack({ env: { COMET_MAX_BODY: '1024', COMET_MAX_BATCH: '10' } });
    baseline = await settled();
});
after(async () => {
    await s?.stop();
});

/** published + inbox once the inbox is empty: what any accepted publish would change. */
async function settled() {
    const x = await until(async () => {
        const st = await s.stats();
        return st.inbox === 0 && st;
    }, WAIT_MS, 'an empty inbox');
    return x.published;
}

async function assertNothingPublished(what) {
    const st = await s.stats();
    assert.equal(st.published + st.inbox, baseline, `${what}: something was queued or published ` +
        `(published ${st.published}, inbox ${st.inbox}, before ${baseline})`);
}

const ok = { channel: ch, data: 1 };
const chans = (n) => Array.from({ length: n }, (_, i) => `${ch}-${i}`);

// [name, raw body (string) or value to JSON-encode]
const badBodies = [
    ['invalid JSON', '{"channel":'],
    ['trailing garbage', '{"channel":"x","data":1} x'],
    ['a string', '"hello"'],
    ['a number', '42'],
    ['null', 'null'],
    ['an array with one bad item', [ok, { channel: 'bad channel', data: 2 }, ok]],
    ['an array with a non-object item', [ok, 5]],
    ['channel with a space', { channel: 'bad channel', data: 1 }],
    ['empty channel', { channel: '', data: 1 }],
    ['channel of 129 bytes', { channel: 'c'.repeat(129), data: 1 }],
    ['channel with a non-ASCII letter', { channel: 'caf\u00e9', data: 1 }],
    ['channel with a newline', { channel: 'a\nb', data: 1 }],
    ['channel with #', { channel: 'a#b', data: 1 }],
    ['channel not a string', { channel: 5, data: 1 }],
    ['channels with a bad name', { channels: [ch, 'bad ch'], data: 1 }],
    ['channels not an array', { channels: ch, data: 1 }],
    ['33 channels (COMET_MAX_CHANNELS=32)', { channels: chans(33), data: 1 }],
    ['event type with CR LF', { channel: ch, event: 'a\r\nb', data: 1 }],
    ['event type with LF', { channel: ch, event: 'a\nb', data: 1 }],
    ['event type starting with comet-', { channel: ch, event: 'comet-truncated', data: 1 }],
    ['event type comet-x', { channel: ch, event: 'comet-x', data: 1 }],
    ['empty event type', { channel: ch, event: '', data: 1 }],
    ['event type of 65 bytes', { channel: ch, event: 'e'.repeat(65), data: 1 }],
    ['event type with a space', { channel: ch, event: 'a b', data: 1 }],
    ['event type with /', { channel: ch, event: 'a/b', data: 1 }],
    ['event type not a string', { channel: ch, event: 5, data: 1 }],
    ['missing data', { channel: ch }],
    ['missing data in a batch item', [ok, { channel: ch, event: 'x' }]],
    ['an unknown field', { channel: ch, data: 1, extra: true }],
    ['an id field', { channel: ch, data: 1, id: '1-0' }],
    ['missing channel', { data: 1 }],
    ['missing channel in a batch item', [ok, { data: 2 }]],
    ['11 events (COMET_MAX_BATCH=10)', Array.from({ length: 11 }, (_, i) => ({ channel: ch, data: i }))],
    ['12 events through channels (2 items x 6 channels)', [
        { channels: chans(6), data: 1 }, { channels: chans(6), data: 2 }]],
];

for (const [name, body] of badBodies) {
    test(`publish ${name} → 400`, { timeout: 15000 }, async () => {
        const r = await s.publish(null, { rawBody: typeof body === 'string' ? body : JSON.stringify(body) });
        assertError(r, 400, `publish ${name}`);
        await assertNothingPublished(name);
    });
}

const authCases = [
    ['no Authorization header', () => ({ key: null })],
    ['a wrong key', () => ({ key: 'not-the-key' })],
    ['the key with a suffix', () => ({ key: `${s.key}x` })],
    ['a prefix of the key', () => ({ key: s.key.slice(0, -1) })],
    ['a Basic scheme', () => ({ key: null,
        headers: { Authorization: `Basic ${Buffer.from(`u:${s.key}`).toString('base64')}` } })],
    ['an empty bearer', () => ({ key: null, headers: { Authorization: 'Bearer ' } })],
];
for (const [what, o] of authCases) {
    test(`publish with ${what} → 401 with WWW-Authenticate: Bearer`, { timeout: 15000 }, async () => {
        const r = await s.publish(ok, o());
        assertError(r, 401, `publish with ${what}`);
        assert.match(String(r.headers['www-authenticate']), /^Bearer\b/, `${what}: WWW-Authenticate`);
        await assertNothingPublished(what);
    });
}

test('wrong methods → 405 with Allow', { timeout: 15000 }, async () => {
    const cases = [
        ['GET', 'publish', 'POST'], ['PUT', 'publish', 'POST'], ['DELETE', 'publish', 'POST'],
        ['POST', 'poll', 'GET'], ['POST', 'sse', 'GET'], ['POST', 'stats', 'GET'],
    ];
    for (const [method, ep, allow] of cases) {
        const body = method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(ok);
        const r = await request(`${s.url()}/${ep}${ep === 'publish' ? '' : `?channel=${ch}`}`, {
            method, body, headers: { Authorization: `Bearer ${s.key}`, 'Content-Type': 'application/json' },
            timeoutMs: 10000 });
        assertError(r, 405, `${method} /${ep}`);
        assert.equal(r.headers.allow, allow, `${method} /${ep}: Allow`);
    }
    await assertNothingPublished('405s');
});

test('a Content-Type other than application/json → 415', { timeout: 15000 }, async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', null]) {
        const r = await s.publish(ok, { contentType: ct });
        assertError(r, 415, `Content-Type ${ct}`);
    }
    await assertNothingPublished('415s');
});

test('a POST without a body → 411 (no Content-Length, or 0: mod_fcgid passes 0 for a missing one)',
    { timeout: 20000 }, async () => {
    const body = JSON.stringify(ok);
    const r = await rawRequest(s.port(), `POST /comet/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${s.key}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
    assert.equal(r.status, 411, r.text);
    // lighttpd refuses a POST without Content-Length itself, with its own HTML page, before
    // comet.fcgi sees it; behind Apache the answer is comet.fcgi's.
    if (SERVER !== 'lighttpd') {
        const text = /\r\ntransfer-encoding:\s*chunked/i.test(r.head) ? unchunk(r.body) : r.body;
        const json = JSON.parse(text);
        assert.equal(typeof json.error, 'string');
    }
    const empty = await s.publish(null, { rawBody: '' });
    assertError(empty, 411, 'publish with Content-Length: 0');
    await assertNothingPublished('411');
});

test('a body above COMET_MAX_BODY (1024) → 413, answered in full', { timeout: 20000 }, async () => {
    for (const size of [1025, 4000, 200000]) {
        const filler = 'x'.repeat(size - JSON.stringify({ channel: ch, data: '' }).length);
        const raw = JSON.stringify({ channel: ch, data: filler });
        assert.equal(raw.length, size);
        const r = await s.publish(null, { rawBody: raw });
        assertError(r, 413, `a ${size}-byte body`);
    }
    await assertNothingPublished('413s');
});

test('unknown endpoints → 404', { timeout: 15000 }, async () => {
    for (const p of ['/nope', '/publishx', '/polls', '/stats.json']) {
        const r = await request(`${s.url()}${p}`, { timeoutMs: 10000 });
        assertError(r, 404, `GET /comet${p}`);
    }
});

test('bad subscribe queries → 400 (poll and sse)', { timeout: 30000 }, async () => {
    const many = Array.from({ length: 33 }, (_, i) => `q${i}`);
    const cases = [
        ['a bad channel', { channel: 'bad channel' }],
        ['a bad channel among good ones', { channel: [ch, 'a#b'] }],
        ['a 129-byte channel', { channel: 'c'.repeat(129) }],
        ['an empty channel', { channel: '' }],
        ['no channel', {}],
        ['33 channels (COMET_MAX_CHANNELS=32)', { channel: many }],
        ['a malformed since', { channel: ch, since: 'abc' }],
        ['a since with a sign', { channel: ch, since: '-1-0' }],
    ];
    for (const [what, params] of cases) {
        const p = await s.poll({ ...params, timeout: 1 }, { timeoutMs: 10000 });
        assertError(p, 400, `poll with ${what}`);
        const r = s.sse(params);
        try {
            await r.opened;
            assert.equal(r.status, 400, `sse with ${what}: ${r.status}`);
            await r.waitEnd();
            assert.equal(r.status, 400, `sse with ${what}: ${r.status} ${r.raw.slice(0, 200)}`);
            assertError({ status: r.status, headers: r.headers, text: r.raw, json: JSON.parse(r.raw) }, 400,
                `sse with ${what}`);
        } finally {
            r.close();
        }
    }
});

// After all the bad requests: nothing of them on the channel, and publish → poll works.
test('afterwards the server still serves publish → poll, and no bad publish left a trace', { timeout: 30000 },
    async () => {
        const r = await s.poll({ channel: [ch, ...chans(6)], since: 0, timeout: 1 });
        assert.equal(r.status, 200);
        assert.deepEqual(r.json.events, [], 'events from rejected publishes');
        await assertNothingPublished('all the bad requests');
        const p = s.poll({ channel: ch, since: r.json.cursor, timeout: 20 });
        const pub = await s.publish({ channel: ch, data: 'final' });
        assert.equal(pub.status, 202, pub.text);
        const w = await p;
        assert.equal(w.status, 200, w.text);
        assert.deepEqual(w.json.events.map((e) => e.data), ['final']);
    });

test('limits are inclusive: 10 events, 10 channels in one item, 32 channels in a subscribe, a 128-byte ' +
    'channel, a 64-byte type, a 1024-byte body, a JSON content type with charset', { timeout: 30000 }, async () => {
    const long = `${'A'.repeat(20)}az09_-.:/@${'z'.repeat(98)}`;
    assert.equal(long.length, 128);
    const type = `${'T'.repeat(60)}a-.:`;
    const goods = [
        Array.from({ length: 10 }, (_, i) => ({ channel: chOk, data: i })),
        { channels: Array.from({ length: 10 }, (_, i) => `${chOk}-w${i}`), data: 'wide' },
        { channel: long, event: type, data: 'long' },
    ];
    for (const body of goods) {
        const r = await s.publish(body, { wait: true });
        assert.equal(r.status, 200, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    }
    const filler = 'y'.repeat(1024 - JSON.stringify({ channel: chOk, data: '' }).length);
    const exact = await s.publish(null, { rawBody: JSON.stringify({ channel: chOk, data: filler }), wait: true });
    assert.equal(exact.status, 200, `1024-byte body: ${exact.text}`);
    const cs = await s.publish({ channel: chOk, data: 'cs' }, { contentType: 'application/json; charset=utf-8',
        wait: true });
    assert.equal(cs.status, 200, `charset: ${cs.text}`);
    const r = await s.poll({ channel: long, since: 0, timeout: 1 });
    assertEnvelope(r.json.events[0], { channel: long, event: type, data: 'long' });
    const wide = await s.poll({ channel: Array.from({ length: 32 }, (_, i) => `${chOk}-w${i}`), since: 0, timeout: 1 });
    assert.equal(wide.status, 200, `a 32-channel poll: ${wide.text}`);
    assert.equal(wide.json.events.length, 10);
    const all = await s.poll({ channel: chOk, since: 0, timeout: 1 });
    assert.deepEqual(all.json.events.map((e) => e.data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, filler, 'cs']);
});
