// The live status page (issue 15): /comet/status.html and the comet-status channel behind the
// stats guard on every transport (closed while neither COMET_STATS_KEY nor COMET_STATS_ALLOW is
// set), nobody may publish to comet-status, and the worker's samples flow only while someone
// watches: none in the channel's history before, one about every second while a subscriber
// waits, none again once it left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, channelName, request, until, EXTERNAL, WAIT_MS } from '../lib/stack.mjs';
import { openWs } from '../lib/ws.mjs';

const STATS_KEY = crypto.randomBytes(16).toString('hex');
const CH = 'comet-status';
const HISTORY_KEY = `comet:h:${CH}`;

let s;
before(async () => {
    // Node 0 sets neither setting (closed), node 1 the key.
    s = await startStack({ web: [{ env: {} }, { env: { COMET_STATS_KEY: STATS_KEY } }] });
});
after(async () => {
    await s?.stop();
});

const auth = (k) => (k ? { Authorization: `Bearer ${k}` } : {});
const get = (p, { key, instance = 1 } = {}) => request(`${s.url(instance)}/${p}`, { headers: auth(key), timeoutMs: 15000 });
const samples = (sse) => sse.events.filter((e) => e.event === CH).map((e) => JSON.parse(e.data).data);

/** Asserts a JSON error answer with status. */
function refused(r, status, what) {
    assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
    assert.match(String(r.headers['content-type']), /^application\/json/, what);
    assert.equal(typeof r.json?.error, 'string', what);
    if (status === 401) assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/, what);
}

/**
 * Keeps the worker busy storing events on channel until at least ms have passed and it stored
 * one after that: the window in which its once-a-second look ran several times. Resolves the
 * number of events stored.
 */
async function busyWindow(channel, ms) {
    const end = Date.now() + ms;
    let n = 0;
    for (;;) {
        const r = await s.publish({ channel, data: n }, { wait: true });
        assert.equal(r.status, 200, r.text);
        n++;
        if (Date.now() > end) return n;
    }
}

test('samples: none while nobody watches; about one a second while a subscriber waits, with the /stats numbers ' +
    'and the busiest channels; none again once it left', { timeout: 120000 }, async () => {
    // First in this file: nobody has subscribed to the status channel yet.
    const busy = channelName('busy');
    await busyWindow(busy, 2500);
    assert.equal(await s.redis('XLEN', HISTORY_KEY), '0', 'no sample while nobody watched');

    const sse = s.sse({ channel: CH, token: STATS_KEY }, { instance: 1 });
    await sse.waitOpen();
    // Traffic while it watches: the busiest channel of some second is ours.
    const stop = Date.now() + WAIT_MS;
    while (!samples(sse).some((x) => x.busiest.some((b) => b.channel === busy))) {
        assert.ok(Date.now() < stop, `no sample named ${busy}: ${JSON.stringify(samples(sse).slice(-2))}`);
        await busyWindow(busy, 200);
    }
    await sse.waitFor(() => samples(sse).length >= 3, WAIT_MS, 'three samples');
    const got = samples(sse);
    const last = got[got.length - 1];
    assert.equal(typeof last.time, 'number');
    assert.ok(last.interval_ms > 0, JSON.stringify(last));
    for (const f of ['published', 'accepted', 'accepted_events', 'delivered', 'waiting', 'inbox'])
        assert.equal(typeof last.stats[f], 'number', f);
    assert.deepEqual(Object.keys(last.stats.waiting_by).sort(), ['iframe', 'poll', 'sse', 'stream']);
    assert.equal(typeof last.stats.worker.lag_ms, 'number');
    assert.equal(typeof last.stats.archive.backlog, 'number');
    assert.ok(last.busiest.length <= 10);
    assert.ok(!last.busiest.some((b) => b.channel === CH), 'the status channel is not counted');
    assert.ok(last.stats.waiting_by.sse >= 1, 'the watcher itself waits');
    // A sample every second or so, not faster (a loaded machine may stretch the gaps).
    for (let i = 1; i < got.length; i++) assert.ok(got[i].time - got[i - 1].time >= 900, JSON.stringify(got));
    const ids = sse.events.filter((e) => e.event === CH).map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'each sample has an id of its own');
    const hist = await get(`history?channel=${CH}&limit=1000`, { key: STATS_KEY });
    assert.ok(hist.json.events.length >= 3, 'the samples are in the channel\'s history');

    sse.close();
    await until(async () => (await s.redis('ZCOUNT', `comet:w:${CH}`, `(${Date.now()}`, '+inf')) === '0', WAIT_MS,
        'the watcher to leave the waiting set');
    await busyWindow(busy, 0); // stored after any sample queued before it left
    const held = await s.redis('XLEN', HISTORY_KEY);
    await busyWindow(busy, 2500);
    assert.equal(await s.redis('XLEN', HISTORY_KEY), held, 'no sample once nobody watched');
});

test('the status page: 401 without or with a wrong key (a publish key is not one), 200 HTML with the key ' +
    '(?token= or Authorization: Bearer); 403 on a node with neither COMET_STATS_KEY nor COMET_STATS_ALLOW',
{ timeout: 60000 }, async () => {
    refused(await get('status.html'), 401, 'no key');
    refused(await get('status.html?token=wrong'), 401, 'wrong key');
    refused(await get('status.html', { key: s.key }), 401, 'a publish key');
    for (const r of [await get(`status.html?token=${STATS_KEY}`), await get('status.html', { key: STATS_KEY })]) {
        assert.equal(r.status, 200, r.text);
        assert.match(String(r.headers['content-type']), /^text\/html/);
        assert.match(r.text, /<title>comet-fcgi status<\/title>/);
        assert.match(r.text, /comet-status/, 'the page script is inlined');
        assert.match(r.text, /uPlot/, 'uPlot is inlined (make put it there from node_modules)');
        assert.match(r.headers['referrer-policy'] ?? '', /no-referrer/);
    }
    refused(await get(`status.html?token=${STATS_KEY}`, { instance: 0 }), 403, 'closed node');
    const post = await request(`${s.url(1)}/status.html?token=${STATS_KEY}`, { method: 'POST', body: '' });
    assert.equal(post.status, 405);
});

test('comet-status: subscribing needs the stats key on poll, SSE, /history and WebSocket (401 without, 403 on ' +
    'a node without the settings), it is read alone; publishing to it is refused', { timeout: 60000 }, async () => {
    for (const p of ['poll', 'sse', 'stream', 'history']) {
        refused(await get(`${p}?channel=${CH}&timeout=0`), 401, `${p} without the key`);
        refused(await get(`${p}?channel=${CH}&timeout=0&token=wrong`), 401, `${p} with a wrong key`);
        refused(await get(`${p}?channel=${CH}&timeout=0&token=${STATS_KEY}`, { instance: 0 }), 403, `${p} closed node`);
    }
    refused(await get(`poll?channel=${CH}&channel=other&timeout=0&token=${STATS_KEY}`), 400, 'with another channel');
    const poll = await get(`poll?channel=${CH}&timeout=0&token=${STATS_KEY}`);
    assert.equal(poll.status, 200, poll.text);
    const hist = await get(`history?channel=${CH}`, { key: STATS_KEY });
    assert.equal(hist.status, 200, hist.text);
    const sse = s.sse({ channel: CH, token: STATS_KEY }, { instance: 1 });
    assert.equal((await sse.opened).status, 200);
    await sse.waitOpen();
    sse.close();

    if (EXTERNAL) {
        const no = await openWs(`${s.url(1)}/ws?channel=${CH}`);
        assert.equal(no.status, 401, JSON.stringify(no.body));
        const yes = await openWs(`${s.url(1)}/ws?channel=${CH}&token=${STATS_KEY}`);
        assert.equal(yes.status, 101);
        yes.ws.close(1000);
    }

    for (const body of [{ channel: CH, data: 1 }, { channels: ['x', CH], data: 1 }]) {
        const r = await s.publish(body, { instance: 1 });
        refused(r, 400, `publish ${JSON.stringify(body)}`);
        assert.match(r.json.error, /comet-status/);
    }
    refused(await s.publish({ channel: 'x', event: CH, data: 1 }), 400, 'the event type');
});
