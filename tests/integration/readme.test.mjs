// The README's publish snippets (PHP with curl, Python with urllib, Node with fetch), run as
// printed against the real stack, given only COMET_URL and COMET_KEY: the event reaches a
// subscriber and the snippet prints the ids; a wrong key exits 1 with the 401's JSON error; a
// first try that gets no answer is retried with the same Idempotency-Key, which replays the
// first's ids and publishes once. And the webhook receiver in PHP, run by PHP's own web server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { startStack, openSse, request, run, freePort, until, WAIT_MS } from '../lib/stack.mjs';
import { readmeBlock } from '../lib/readme.mjs';

let s;
let tmp;
const SNIPPETS = { php: ['php', 'publish.php'], python: ['python3', 'publish.py'], node: ['node', 'publish.mjs'] };

const HOOK_SECRET = crypto.randomBytes(24).toString('hex');
let php; // PHP's own web server running the README's webhook receiver

before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'comet-readme-'));
    for (const [lang, [, file]] of Object.entries(SNIPPETS)) fs.writeFileSync(path.join(tmp, file), readmeBlock(`publish-${lang}`));
    // The receiver as printed, then a line that records what it let through.
    fs.writeFileSync(path.join(tmp, 'hook.php'), `${readmeBlock('webhook-php')}` +
        "file_put_contents(getenv('HOOK_LOG'), $body . \"\\n\", FILE_APPEND);\n");
    const port = await freePort();
    php = spawn('php', ['-S', `127.0.0.1:${port}`, path.join(tmp, 'hook.php')],
        { env: { ...process.env, COMET_WEBHOOK_SECRET: HOOK_SECRET, HOOK_LOG: path.join(tmp, 'hooks.log') },
            stdio: 'ignore' });
    await until(() => request(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).then(() => true, () => false),
        WAIT_MS, 'php -S to listen');
    s = await startStack({
        name: 'readme',
        env: { COMET_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, COMET_WEBHOOK_SECRET: HOOK_SECRET, COMET_LEAVE_GRACE: '1' },
    });
    s.hookUrl = `http://127.0.0.1:${port}/hook`;
});
after(async () => {
    await s?.stop();
    php?.kill();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('PHP webhook receiver as printed: lets the worker\'s signed POSTs through, refuses a forged or a stale one',
    async () => {
        const log = path.join(tmp, 'hooks.log');
        const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
        const poll = s.poll({ channel: 'hooked', timeout: 1 });
        await until(() => lines().some((l) => l.includes('"channel_occupied"') && l.includes('"hooked"')), WAIT_MS,
            'channel_occupied through the PHP receiver');
        await poll;
        await until(() => lines().some((l) => l.includes('"channel_vacated"') && l.includes('"hooked"')), WAIT_MS,
            'channel_vacated through the PHP receiver');
        const before = lines().length;
        const body = JSON.stringify({ time_ms: Date.now(), events: [{ name: 'channel_occupied', channel: 'forged' }] });
        const ts = Math.floor(Date.now() / 1000);
        const sign = (t, b, k = HOOK_SECRET) => `sha256=${crypto.createHmac('sha256', k).update(`${t}.${b}`).digest('hex')}`;
        for (const [headers, what] of [
            [{ 'X-Comet-Timestamp': String(ts), 'X-Comet-Signature': sign(ts, body, 'another secret') }, 'wrong key'],
            [{ 'X-Comet-Timestamp': String(ts - 600), 'X-Comet-Signature': sign(ts - 600, body) }, '10 minutes old'],
            [{}, 'unsigned'],
        ]) {
            const r = await request(s.hookUrl, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
            assert.equal(r.status, 401, what);
        }
        const ok = await request(s.hookUrl, { method: 'POST', body,
            headers: { 'Content-Type': 'application/json', 'X-Comet-Timestamp': String(ts), 'X-Comet-Signature': sign(ts, body) } });
        assert.equal(ok.status, 200);
        assert.deepEqual(lines().slice(before), [body], 'only the well-signed POST got through');
    });

/** Runs a snippet with COMET_URL and COMET_KEY; resolves {code, stdout, stderr}. */
async function runSnippet(lang, url, key) {
    const [cmd, file] = SNIPPETS[lang];
    const env = { ...process.env, COMET_URL: url, COMET_KEY: key };
    return run(cmd, [path.join(tmp, file)], { env, cwd: tmp, timeoutMs: 60000 });
}

/** A subscriber to the snippets' channel, live once this resolves. */
async function subscribe() {
    const sse = openSse(`${s.url()}/sse?channel=news`);
    await sse.waitOpen();
    return sse;
}

/**
 * Publishes a marker on news and resolves every envelope the subscriber got up to it: ids are
 * in one order, so anything published twice would be among them.
 */
async function upToMarker(sse) {
    const [marker] = await s.publishIds({ channel: 'news', data: 'marker' });
    const envs = await sse.waitFor(() => sse.envelopes.some((e) => e.id === marker) && sse.envelopes, undefined, 'the marker');
    return envs.slice(0, -1);
}

/**
 * A proxy to the server that, for the first request only, forwards it, waits for the answer,
 * then closes the connection without answering (an outcome the publisher cannot know).
 */
async function dropFirstAnswer() {
    const seen = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
            const headers = {};
            for (const h of ['content-type', 'authorization', 'idempotency-key']) if (req.headers[h]) headers[h] = req.headers[h];
            const up = await request(`http://127.0.0.1:${s.port()}${req.url}`, { method: req.method, headers,
                body: Buffer.concat(chunks) });
            seen.push({ url: req.url, key: req.headers['idempotency-key'], answer: up });
            if (seen.length === 1) return req.socket.destroy();
            res.writeHead(up.status, { 'Content-Type': 'application/json' });
            res.end(up.text);
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { seen, url: `http://127.0.0.1:${server.address().port}/comet`, close: () => new Promise((r) => server.close(r)) };
}

for (const lang of Object.keys(SNIPPETS)) {
    test(`${lang} snippet: publishes with ?wait=1, prints the ids, the subscriber gets the event`, async () => {
        const sse = await subscribe();
        try {
            const r = await runSnippet(lang, s.url(), s.key);
            assert.equal(r.code, 0, `exit status; stderr: ${r.stderr}`);
            const { ids } = JSON.parse(r.stdout);
            const got = await upToMarker(sse);
            assert.deepEqual(got.map((e) => [e.id, e.json.channel, e.json.data]), [[ids[0], 'news', { title: 'hello' }]]);
        } finally {
            sse.close();
        }
    });

    test(`${lang} snippet: a wrong key exits 1 and prints the 401 and its JSON error; nothing is published`, async () => {
        const before = (await s.stats()).published;
        const r = await runSnippet(lang, s.url(), 'not-the-key');
        assert.equal(r.code, 1, `exit status; stdout: ${r.stdout}`);
        assert.equal(r.stdout, '');
        const m = /^publish failed \(401\): (\{.*\})$/m.exec(r.stderr);
        assert.ok(m, `stderr: ${r.stderr}`);
        assert.equal(typeof JSON.parse(m[1]).error, 'string');
        assert.equal((await s.stats()).published, before);
    });

    test(`${lang} snippet: no answer to the first try: the retry with the same Idempotency-Key publishes once`, async () => {
        const sse = await subscribe();
        const proxy = await dropFirstAnswer();
        try {
            const r = await runSnippet(lang, proxy.url, s.key);
            assert.equal(r.code, 0, `exit status; stderr: ${r.stderr}`);
            assert.equal(proxy.seen.length, 2, 'one retry');
            const [first, retry] = proxy.seen;
            assert.equal(first.url, '/comet/publish?wait=1');
            assert.equal(first.answer.status, 200, 'the first try was stored');
            assert.match(first.key, /^[A-Za-z0-9\-_.:+/=]{1,128}$/);
            assert.equal(retry.key, first.key, 'the retry carries the same key');
            assert.equal(retry.answer.headers['idempotent-replayed'], 'true');
            assert.deepEqual(JSON.parse(r.stdout), first.answer.json, "the first try's ids");
            const got = await upToMarker(sse);
            assert.deepEqual(got.map((e) => e.id), first.answer.json.ids, 'published once');
        } finally {
            await proxy.close();
            sse.close();
        }
    });
}
