// Access control against the real stack: private channels (COMET_PRIVATE_CHANNELS) on every
// transport refuse a request without credentials (401) or with credentials that do not
// cover the channel (403), and deliver with a JWT (HS256; RS256 on web node 0, ES256 on web
// node 1, keys made here with openssl) or a signed URL; credentials expire, and a stream
// ends with a comet-expired frame when they do; tokens and named keys limited to patterns
// decide who may publish where. Tokens are minted here with node:crypto, as a site would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { jwt as signJwt, now } from '../lib/jwt.mjs';
import { startStack, channelName, request, query, openSse, sleep, until, WAIT_MS, PROMPT_MS } from '../lib/stack.mjs';
import { assertError, assertEnvelope } from '../lib/checks.mjs';

const JWT_SECRET = crypto.randomBytes(24).toString('hex');
const URL_SECRET = crypto.randomBytes(24).toString('hex');
const ADMIN = crypto.randomBytes(16).toString('hex');
const OPS = crypto.randomBytes(16).toString('hex');
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'comet-auth-'));
fs.chmodSync(keyDir, 0o755); // the web server's user reads the public keys
let s;
let rsaKey;
let ecKey;

/** A key pair made by the openssl command; returns the private key's PEM, writes the public one. */
function keypair(name, args) {
    const priv = path.join(keyDir, `${name}.key`);
    const pub = path.join(keyDir, `${name}.pub`);
    for (const a of [['genpkey', ...args, '-out', priv], ['pkey', '-in', priv, '-pubout', '-out', pub]]) {
        const r = spawnSync('openssl', a, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`openssl ${a.join(' ')}: ${r.stderr}`);
    }
    fs.chmodSync(pub, 0o644); // read by the web server's user
    return { priv: fs.readFileSync(priv, 'utf8'), pub };
}

/** A JWT as a site's backend mints it (HS256 with the server's secret unless told). */
const jwt = (claims, { alg = 'HS256', key = JWT_SECRET } = {}) => signJwt(claims, { alg, key });

const grant = (subscribe, { ttl = 60, publish = [] } = {}) => ({ exp: now() + ttl, comet: { subscribe, publish } });

/** The signed-URL parameters for exactly these channels until expires. */
function signed(channels, expires = now() + 60, secret = URL_SECRET) {
    const sig = crypto.createHmac('sha256', secret).update(`${[...channels].sort().join(',')}\n${expires}`).digest('hex');
    return { expires, sig };
}

before(async () => {
    rsaKey = keypair('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
    ecKey = keypair('ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    s = await startStack({
        env: {
            COMET_PRIVATE_CHANNELS: 'private/*,user.*', COMET_JWT_SECRET: JWT_SECRET, COMET_URL_SECRET: URL_SECRET,
            COMET_PUBLISH_KEYS: `${ADMIN},ops=${OPS}:ops.*|alerts`, COMET_SSE_HEARTBEAT: '1',
            COMET_LOG_LEVEL: 'debug', // each accepted publish's line names its key
        },
        web: [{ env: { COMET_JWT_PUBLIC_KEY: rsaKey.pub } }, { env: { COMET_JWT_PUBLIC_KEY: ecKey.pub } }],
    });
});
after(async () => {
    await s?.stop();
    fs.rmSync(keyDir, { recursive: true, force: true });
});

/** Pids of web node 0's comet.fcgi processes that have a library named lib mapped. */
function mapping(lib) {
    return s.fcgiPids().filter((pid) => {
        try {
            return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes(lib);
        } catch {
            return false;
        }
    });
}

// Runs first: no process of this stack has checked a credential yet.
test('libjwt and libcrypto are loaded by the first credential to check, not before (README: Private channels)',
    { timeout: 30000 }, async () => {
        const ch = `private/${channelName('lazy')}`;
        const pub = await request(`${s.url()}/poll${query({ channel: channelName('public'), timeout: 1 })}`);
        assert.equal(pub.status, 200, pub.text);
        const none = await request(`${s.url()}/poll${query({ channel: ch, timeout: 1 })}`);
        assertError(none, 401, 'a private poll without credentials');
        assert.ok(s.fcgiPids().length > 0, 'no comet.fcgi process found');
        assert.deepEqual(mapping('libjwt'), [], 'libjwt loaded before any credential was checked');
        assert.deepEqual(mapping('libcrypto'), [], 'libcrypto loaded before any credential was checked');
        const ok = await request(`${s.url()}/poll${query({ channel: ch, since: 0, timeout: 1,
            token: jwt(grant(['private/*'])) })}`);
        assert.equal(ok.status, 200, ok.text);
        assert.ok(mapping('libjwt').length > 0, 'no process loaded libjwt to check the token');
    });

const TRANSPORTS = [
    { name: 'poll', ep: 'poll', extra: {} },
    { name: 'JSONP poll', ep: 'poll', extra: { callback: 'cb' } },
    { name: 'sse', ep: 'sse', extra: {} },
    { name: 'stream', ep: 'stream', extra: {} },
    { name: 'iframe', ep: 'iframe', extra: { callback: 'cb' } },
];

/**
 * Subscribes on a transport from since=0 and resolves with the raw body once it holds
 * `marker` (or the whole body of a poll, or of a stream that ended). Error answers come
 * back as {status, json, text}.
 */
async function fetchVia(t, params, { headers = {}, instance = 0, marker } = {}) {
    const url = `${s.url(instance)}/${t.ep}${query({ since: 0, ...t.extra, ...params })}`;
    if (t.ep === 'poll') return request(url, { headers, timeoutMs: WAIT_MS });
    const r = openSse(url, { headers });
    try {
        // An error answer is complete once it ended (its head alone is not its body).
        await r.waitFor(() => r.done || (marker && r.status === 200 && r.raw.includes(marker)), WAIT_MS,
            marker ? `${marker} on ${t.name}` : `the answer on ${t.name} to end`);
        let json;
        try {
            json = JSON.parse(r.raw);
        } catch {}
        return { status: r.status, headers: r.headers, text: r.raw, json };
    } finally {
        r.close();
    }
}

async function publishMarker(channel) {
    const marker = crypto.randomBytes(6).toString('hex');
    await s.publishIds({ channel, data: { marker } }, { key: ADMIN });
    return marker;
}

for (const t of TRANSPORTS) {
    test(`${t.name}: a private channel needs credentials (401), covering ones (403), and then delivers`,
        { timeout: 60000 }, async () => {
            const ch = `private/${channelName(t.ep)}`;
            const marker = await publishMarker(ch);
            const none = await fetchVia(t, { channel: ch });
            assertError(none, 401, `${t.name} without credentials`);
            assert.match(String(none.headers['www-authenticate']), /^Bearer/);
            const other = jwt(grant(['private/else-*', 'user.*']));
            const forbidden = await fetchVia(t, { channel: ch, token: other });
            assertError(forbidden, 403, `${t.name} with a token for other channels`);
            assert.ok(!forbidden.text.includes(other), 'the error repeats the token');
            const bad = await fetchVia(t, { channel: ch, token: jwt(grant([ch]), { key: 'not the secret' }) });
            assertError(bad, 401, `${t.name} with a token signed by another secret`);
            const ok = await fetchVia(t, { channel: ch, token: jwt(grant(['private/*'])) }, { marker });
            assert.equal(ok.status, 200, `${t.name} with a valid token: ${ok.text.slice(0, 300)}`);
            assert.ok(ok.text.includes(marker), `${t.name}: the event did not arrive: ${ok.text.slice(-300)}`);
            const url = await fetchVia(t, { channel: ch, ...signed([ch]) }, { marker });
            assert.equal(url.status, 200, `${t.name} with a signed URL: ${url.text.slice(0, 300)}`);
            assert.ok(url.text.includes(marker), `${t.name}: the event did not arrive by the signed URL`);
        });
}

test('public channels need nothing; a private one among them still does', { timeout: 30000 }, async () => {
    const pub = channelName('pub');
    const priv = `user.${channelName('u')}`;
    const r = await s.poll({ channel: pub, since: 0, timeout: 0 });
    assert.equal(r.status, 200, r.text);
    assertError(await s.poll({ channel: [pub, priv], since: 0, timeout: 0 }), 401, 'public + private');
    const ok = await s.poll({ channel: [pub, priv], since: 0, timeout: 0, token: jwt(grant(['user.*'])) });
    assert.equal(ok.status, 200, ok.text);
});

test('the token is taken from Authorization: Bearer, the comet_token cookie or ?token=', { timeout: 30000 },
    async () => {
        const ch = `private/${channelName('src')}`;
        const [id] = await s.publishIds({ channel: ch, data: 1 }, { key: ADMIN });
        const tok = jwt(grant([ch]));
        const ways = {
            header: await s.poll({ channel: ch, since: 0 }, { headers: { Authorization: `Bearer ${tok}` } }),
            cookie: await s.poll({ channel: ch, since: 0 }, { headers: { Cookie: `a=1; comet_token=${tok}; b=2` } }),
            query: await s.poll({ channel: ch, since: 0, token: tok }),
        };
        for (const [how, r] of Object.entries(ways)) {
            assert.equal(r.status, 200, `${how}: ${r.text}`);
            assert.deepEqual(r.json.events.map((e) => e.id), [id], how);
            assertEnvelope(r.json.events[0], { channel: ch, data: 1 }, how);
        }
    });

test('RS256 verifies with an RSA public key, ES256 with an EC one; neither with the other, nor alg none',
    { timeout: 30000 }, async () => {
        const ch = `private/${channelName('pk')}`;
        await s.publishIds({ channel: ch, data: 1 }, { key: ADMIN });
        const rs = jwt(grant([ch]), { alg: 'RS256', key: rsaKey.priv });
        const es = jwt(grant([ch]), { alg: 'ES256', key: ecKey.priv });
        const poll = (token, instance) => s.poll({ channel: ch, since: 0, token }, { instance });
        assert.equal((await poll(rs, 0)).status, 200, 'RS256 on the RSA node');
        assert.equal((await poll(es, 1)).status, 200, 'ES256 on the EC node');
        assertError(await poll(es, 0), 401, 'ES256 on the RSA node');
        assertError(await poll(rs, 1), 401, 'RS256 on the EC node');
        assertError(await poll(jwt(grant([ch]), { alg: 'none' }), 0), 401, 'alg none');
        // The RSA public key used as an HMAC secret: the algorithm-confusion attack.
        const confused = jwt(grant([ch]), { key: fs.readFileSync(rsaKey.pub, 'utf8') });
        assertError(await poll(confused, 0), 401, 'HS256 keyed with the public key');
    });

test('expired credentials are refused: a token past exp, a token without exp, a signed URL past expires',
    { timeout: 30000 }, async () => {
        const ch = `private/${channelName('exp')}`;
        assertError(await s.poll({ channel: ch, since: 0, token: jwt(grant([ch], { ttl: -1 })) }), 401, 'past exp');
        assertError(await s.poll({ channel: ch, since: 0, token: jwt({ comet: { subscribe: [ch] } }) }), 401, 'no exp');
        assertError(await s.poll({ channel: ch, since: 0, ...signed([ch], now() - 1) }), 401, 'past expires');
    });

test('a signed URL is valid for exactly its channels: not a subset, not a superset, not another secret',
    { timeout: 30000 }, async () => {
        const a = `private/${channelName('a')}`;
        const b = `user.${channelName('b')}`;
        const sig = signed([b, a]);
        assert.equal((await s.poll({ channel: [a, b], since: 0, timeout: 0, ...sig })).status, 200, 'exact');
        assert.equal((await s.poll({ channel: [b, a], since: 0, timeout: 0, ...sig })).status, 200, 'reordered');
        assertError(await s.poll({ channel: a, since: 0, ...sig }), 401, 'a subset');
        assertError(await s.poll({ channel: [a, b, 'private/x'], since: 0, ...sig }), 401, 'a superset');
        assertError(await s.poll({ channel: [a, b], since: 0, ...signed([a, b], now() + 60, 'other') }), 401,
            'another secret');
        assertError(await s.poll({ channel: [a, b], since: 0, expires: sig.expires + 1, sig: sig.sig }), 401,
            'a changed expiry');
    });

/** Opens ep with creds, and resolves {r, ms} once the server ended it (by exp, in s, and then some). */
async function streamUntilEnd(ep, params, exp) {
    const r = openSse(`${s.url()}/${ep}${query(params)}`);
    await r.waitEnd(exp * 1000 - Date.now() + WAIT_MS);
    return { r, ms: r.endedAt - r.startedAt };
}

test('a stream ends at its credentials\' expiry with a last frame saying so (sse, stream, iframe)',
    { timeout: 60000 }, async () => {
        const ch = `private/${channelName('end')}`;
        // Expiring a few seconds on: time for the streams to be admitted on a busy machine.
        const exp = now() + 6;
        const tok = jwt({ exp, comet: { subscribe: [ch] } });
        const runs = await Promise.all([
            streamUntilEnd('sse', { channel: ch, token: tok }, exp),
            streamUntilEnd('stream', { channel: ch, token: tok }, exp),
            streamUntilEnd('iframe', { channel: ch, callback: 'cb', ...signed([ch], exp) }, exp),
        ]);
        for (const [i, { r }] of runs.entries()) {
            assert.equal(r.status, 200, `stream ${i}: ${r.raw.slice(0, 200)}`);
            assert.ok(r.endedAt >= exp * 1000 - 300, `stream ${i} ended ${exp * 1000 - r.endedAt} ms early`);
            assert.ok(r.endedAt - exp * 1000 < PROMPT_MS, `stream ${i} ended ${r.endedAt - exp * 1000} ms late`);
        }
        const sse = runs[0].r;
        assert.equal(sse.events.at(-1).event, 'comet-expired', `SSE: ${sse.raw.slice(-200)}`);
        assert.deepEqual(JSON.parse(sse.events.at(-1).data), { expired: true });
        assert.ok(runs[1].r.raw.endsWith('{"expired":true}\n'), `stream: ${runs[1].r.raw.slice(-100)}`);
        assert.ok(runs[2].r.raw.endsWith('<script>parent.cb({"expired":true});</script>\n'),
            `iframe: ${runs[2].r.raw.slice(-100)}`);
        // The same stream without expiring credentials stays open past that moment.
        const pub = openSse(`${s.url()}/sse${query({ channel: channelName('open') })}`);
        try {
            await pub.waitOpen();
            await sleep(500);
            assert.equal(pub.done, false, 'a public stream ended');
        } finally {
            pub.close();
        }
    });

test('a poll does not wait beyond its token\'s expiry; a new poll with it is refused', { timeout: 30000 },
    async () => {
        const ch = `private/${channelName('pe')}`;
        // Expiring a few seconds on (time for the poll to be admitted on a busy machine), well before its timeout.
        const exp = now() + 6;
        const tok = jwt({ exp, comet: { subscribe: [ch] } });
        const r = await s.poll({ channel: ch, timeout: 20, token: tok });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.events, []);
        assert.ok(Date.now() - exp * 1000 < PROMPT_MS, `the poll waited ${Date.now() - exp * 1000} ms past exp`);
        await sleep(Math.max(0, exp * 1000 - Date.now() + 50));
        assertError(await s.poll({ channel: ch, since: r.json.cursor, token: tok }), 401, 'the next poll');
    });

test('a token may grant publishing on patterns: accepted inside them, 403 outside, 401 once expired',
    { timeout: 30000 }, async () => {
        const ch = `chat.${channelName('c')}`;
        const tok = jwt(grant([], { publish: ['chat.*'] }));
        const r = await s.publish({ channel: ch, data: { hi: 1 } }, { key: tok, wait: true });
        assert.equal(r.status, 200, r.text);
        const got = await s.poll({ channel: ch, since: 0 });
        assert.deepEqual(got.json.events.map((e) => e.data), [{ hi: 1 }]);
        const outside = await s.publish({ channels: [ch, 'news'], data: 1 }, { key: tok });
        assertError(outside, 403, 'a channel outside the publish claim');
        assert.ok(!outside.text.includes(tok));
        assertError(await s.publish({ channel: ch, data: 1 }, { key: jwt(grant(['chat.*'])) }), 403,
            'subscribe patterns do not grant publishing');
        assertError(await s.publish({ channel: ch, data: 1 }, { key: jwt(grant([], { ttl: -1, publish: ['*'] })) }),
            401, 'an expired token');
        assertError(await s.publish({ channel: ch, data: 1 }, { key: jwt(grant([], { publish: ['*'] }), { key: 'x' }) }),
            401, 'a token signed by another secret');
        assert.equal((await s.poll({ channel: 'news', since: 0, timeout: 0 })).json.events.length, 0,
            'a refused publish changed something');
    });

test('named keys: a plain key publishes anywhere, a key with patterns only there; the log names the key, ' +
    'never the secret', { timeout: 30000 }, async () => {
    const ops = `ops.${channelName('o')}`;
    assert.equal((await s.publish({ channel: ops, data: 1 }, { key: OPS, wait: true })).status, 200);
    assert.equal((await s.publish({ channel: 'alerts', data: 1 }, { key: OPS })).status, 202);
    assertError(await s.publish({ channels: [ops, 'news'], data: 1 }, { key: OPS }), 403, 'ops key on news');
    assert.equal((await s.publish({ channel: 'news', data: 1 }, { key: ADMIN })).status, 202, 'the plain key');
    assertError(await s.publish({ channel: ops, data: 1 }, { key: OPS.slice(0, -1) }), 401, 'a prefix of a key');
    assertError(await s.publish({ channel: ops, data: 1 }, { key: `ops=${OPS}` }), 401, 'the whole item');
    // The log lines of those publishes (written as each was answered, but flushed on their own time).
    const log = await until(() => {
        const l = s.tail(s.fcgiLog(), 5000);
        return /events by ops\b/.test(l) && /events by key 1\b/.test(l) && l;
    }, WAIT_MS, () => `the log to name the key "ops" and the plain key by its position: ${s.tail(s.fcgiLog(), 600)}`);
    assert.ok(!log.includes(OPS) && !log.includes(ADMIN), 'a publish key is in the log');
});
