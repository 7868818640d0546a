// Webhooks (issue 15): with COMET_WEBHOOK_URL the worker POSTs channel_occupied when a
// channel gets its first waiting request and channel_vacated when its last one has been
// gone for COMET_LEAVE_GRACE seconds, signed (X-Comet-Signature: sha256=HMAC of
// "TIMESTAMP.BODY", X-Comet-Timestamp), retrying after a failed delivery. A local receiver
// (Node's http server) checks all that: the first POST it gets is answered 500, so the
// events arrive through the retry; each event arrives exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, channelName, until } from '../lib/stack.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const GRACE_S = 1;
// The stated bound: occupied within the sender's poll (0.2 s) plus one retry (1 s) after
// the failed first try; vacated within the grace plus the sweep's period (1 s) plus that.
const OCCUPIED_MS = 8000;
const VACATED_MS = GRACE_S * 1000 + 8000;

const received = []; // {headers, body, text} of every POST answered 200
const refused = [];  // the same for those answered 500
let receiver;
let s;

before(async () => {
    receiver = http.createServer((req, res) => {
        let text = '';
        req.setEncoding('utf8');
        req.on('data', (d) => (text += d));
        req.on('end', () => {
            const entry = { headers: req.headers, text, body: JSON.parse(text), path: req.url };
            const fail = refused.length === 0;
            (fail ? refused : received).push(entry);
            res.writeHead(fail ? 500 : 200).end();
        });
    });
    await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    s = await startStack({
        env: { COMET_WEBHOOK_URL: url, COMET_WEBHOOK_SECRET: SECRET, COMET_LEAVE_GRACE: String(GRACE_S) },
    });
});
after(async () => {
    await s?.stop();
    receiver?.close();
});

/** The events for channel ch among the accepted POSTs. */
const eventsOf = (ch) => received.flatMap((p) => p.body.events).filter((e) => e.channel === ch);

test('channel_occupied and channel_vacated, each once, signed, delivered through a retry after a 500',
    { timeout: 60000 }, async () => {
        const ch = channelName('hook');
        const poll = s.poll({ channel: ch, timeout: 20 });
        const t0 = Date.now();
        await until(() => eventsOf(ch).length >= 1, OCCUPIED_MS, `channel_occupied for ${ch}`);
        assert.equal(refused.length, 1, 'the first POST was refused (500) and retried');
        assert.deepEqual(refused[0].body.events, received[0].body.events, 'the retry carries the same events');
        assert.deepEqual(eventsOf(ch).map((e) => e.name), ['channel_occupied']);

        await s.publishIds({ channel: ch, data: 'bye' });
        assert.equal((await poll).status, 200);
        const left = Date.now();
        await until(() => eventsOf(ch).length >= 2, VACATED_MS, `channel_vacated for ${ch}`);
        assert.ok(Date.now() - left >= GRACE_S * 1000 - 500, 'vacated only after the grace');
        const ev = eventsOf(ch);
        assert.deepEqual(ev.map((e) => e.name), ['channel_occupied', 'channel_vacated']);
        for (const e of ev) {
            assert.deepEqual(Object.keys(e).sort(), ['channel', 'name', 'time_ms']);
            assert.ok(e.time_ms >= t0 - 1000 && e.time_ms <= Date.now(), `time_ms ${e.time_ms}`);
        }

        for (const p of [...refused, ...received]) {
            const ts = p.headers['x-comet-timestamp'];
            assert.match(ts, /^\d+$/);
            assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, 'a current timestamp');
            const mac = crypto.createHmac('sha256', SECRET).update(`${ts}.${p.text}`).digest('hex');
            assert.equal(p.headers['x-comet-signature'], `sha256=${mac}`);
            assert.equal(p.headers['content-type'], 'application/json');
            assert.equal(p.path, '/hook');
            assert.ok(Number.isInteger(p.body.time_ms));
        }
        // Nothing more for it: the queue is empty, the channel no longer occupied, and the
        // counters say what went (a single POST can carry several events).
        const st = await until(async () => {
            const x = await s.stats();
            return x.webhook.queued === 0 && x.webhook.sent >= 2 && x;
        }, 10000, 'the webhook queue empty');
        assert.equal(st.webhook.failed, 0);
        assert.equal(st.webhook.dropped, 0);
        assert.equal(await s.redis('ZSCORE', 'comet:occupied', ch), '');
        assert.equal(eventsOf(ch).length, 2, 'each event exactly once');
    });

test('a long-poll between two polls does not vacate its channel: within the grace, no event', { timeout: 60000 },
    async () => {
        const ch = channelName('flick');
        const first = s.poll({ channel: ch, timeout: 20 });
        await until(() => eventsOf(ch).length >= 1, OCCUPIED_MS, `channel_occupied for ${ch}`);
        const [id] = await s.publishIds({ channel: ch, data: 1 });
        assert.equal((await first).status, 200);
        // The next poll at once, as a client does: the channel stays occupied.
        const second = s.poll({ channel: ch, since: id, timeout: 20 });
        await until(async () => (await s.redis('ZCARD', `comet:w:${ch}`)) === '1', 5000, 'the second poll waiting');
        // Past the grace plus a sweep: still only the one occupied.
        const sweptBy = Date.now() + GRACE_S * 1000 + 2500;
        await until(async () => Date.now() > sweptBy && (await s.stats()).webhook.queued === 0, 10000,
            'a sweep after the grace');
        assert.deepEqual(eventsOf(ch).map((e) => e.name), ['channel_occupied']);
        await s.publishIds({ channel: ch, data: 2 });
        assert.equal((await second).status, 200);
        await until(() => eventsOf(ch).length >= 2, VACATED_MS, `channel_vacated for ${ch}`);
        assert.deepEqual(eventsOf(ch).map((e) => e.name), ['channel_occupied', 'channel_vacated']);
    });

test('the queue is bounded: with no worker running, events beyond COMET_WEBHOOK_QUEUE are dropped, counted ' +
    'and logged by the worker that comes; the ones kept are sent', { timeout: 90000 }, async () => {
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    const t = await startStack({
        name: 'webhook-bound', workers: 0,
        env: { COMET_WEBHOOK_URL: url, COMET_WEBHOOK_SECRET: SECRET, COMET_WEBHOOK_QUEUE: '1' },
    });
    try {
        const chs = [channelName('b1'), channelName('b2'), channelName('b3')];
        const polls = chs.map((ch) => t.poll({ channel: ch, timeout: 20 }));
        const st = await until(async () => {
            const x = await t.stats();
            return x.webhook.queued + x.webhook.dropped === 3 && x;
        }, 10000, 'three channel_occupied queued or dropped');
        assert.deepEqual([st.webhook.queued, st.webhook.dropped], [1, 2]);
        await t.startWorker();
        await until(() => chs.some((ch) => eventsOf(ch).length === 1), OCCUPIED_MS, 'the kept event sent');
        await until(() => /level=warn prog=comet-worker pid=\d+ msg="webhook: 2 events were dropped by the queue's bound/
            .test(t.tail('worker.log', 1 << 20)), 10000, () => `the drop logged: ${t.tail('worker.log', 800)}`);
        assert.equal(chs.flatMap(eventsOf).length, 1, 'only the kept event was sent');
        // Let the polls go before the stack stops.
        for (const ch of chs) await t.publishIds({ channel: ch, data: 0 });
        await Promise.all(polls);
    } finally {
        await t.stop();
    }
});
