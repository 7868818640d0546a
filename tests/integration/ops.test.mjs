// What operators and the backend ask the server (issue 15): channel information with a
// publish key (GET /channel, GET /channels, DELETE /channel), /metrics in the Prometheus
// text format checked by promtool, /stats and /metrics behind COMET_STATS_KEY or
// COMET_STATS_ALLOW, and the honest signals: a publish while no worker holds the lease
// says so (header and field) and the log says it once per interval, not per request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startStack, channelName, request, until, parseId, EXTERNAL, WAIT_MS } from '../lib/stack.mjs';

const KEY = crypto.randomBytes(16).toString('hex');
const LIMITED = crypto.randomBytes(16).toString('hex');
const STATS_KEY = crypto.randomBytes(16).toString('hex');

let s;
before(async () => {
    // Node 1 is the protected one; its settings change between tests (restartWeb).
    s = await startStack({
        env: { COMET_PUBLISH_KEYS: `${KEY},limited=${LIMITED}:lim.*` },
        web: [{ env: {} }, { env: { COMET_STATS_KEY: STATS_KEY, COMET_STATS_ALLOW: '192.0.2.0/24' } }],
    });
});
after(async () => {
    await s?.stop();
});

const auth = (k) => (k ? { Authorization: `Bearer ${k}` } : {});
const get = (p, { key = KEY, method = 'GET', instance = 0 } = {}) =>
    request(`${s.url(instance)}/${p}`, { method, headers: auth(key), timeoutMs: 15000 });

test('GET /channel: subscribers now (waiting requests, all nodes), retained events, last event id and ' +
    'time; DELETE /channel removes the history; a publish key is required and its patterns apply',
{ timeout: 60000 }, async () => {
    const ch = `lim.${channelName('info')}`;
    const ids = await s.publishIds([{ channel: ch, data: 1 }, { channel: ch, data: 2 }], { key: KEY });
    let r = await get(`channel?channel=${ch}`);
    assert.equal(r.status, 200, r.text);
    const [ms] = parseId(ids[1]);
    assert.deepEqual(r.json, { channel: ch, subscribers: 0, retained: 2, last_id: ids[1], last_time: Number(ms) });

    // A poll waiting on it, on the other node: counted once its history is read.
    const poll = s.poll({ channel: ch, since: ids[1], timeout: 20 }, { instance: 1 });
    await until(async () => (await get(`channel?channel=${ch}`)).json?.subscribers === 1, WAIT_MS,
        'subscribers 1 while a poll waits');
    await s.publishIds({ channel: ch, data: 3 }, { key: KEY });
    assert.equal((await poll).status, 200);
    await until(async () => (await get(`channel?channel=${ch}`)).json?.subscribers === 0, WAIT_MS,
        'subscribers back to 0 once the poll answered');

    assert.equal((await get(`channel?channel=${ch}`, { key: LIMITED })).status, 200, 'lim.* covers it');
    const other = channelName('notlim');
    r = await get(`channel?channel=${other}`, { key: LIMITED });
    assert.equal(r.status, 403, r.text);
    r = await get(`channel?channel=${ch}`, { key: null });
    assert.equal(r.status, 401, r.text);
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/);
    assert.equal((await get(`channel?channel=${ch}`, { key: 'wrong' })).status, 401);
    assert.equal((await get('channel')).status, 400, 'no channel');
    assert.equal((await get(`channel?channel=${ch}`, { method: 'POST' })).status, 405);

    r = await get(`channel?channel=${ch}`, { method: 'DELETE' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { channel: ch, deleted: 3 });
    r = await get(`channel?channel=${ch}`);
    assert.deepEqual(r.json, { channel: ch, subscribers: 0, retained: 0, last_id: null, last_time: null });
    assert.equal((await s.poll({ channel: ch, since: 0, timeout: 0 })).json.events.length, 0, 'history is gone');
});

test('GET /channels?prefix=P: channels with a history or waiting requests, each once, bounded pages ' +
    '(more, cursor); a key with patterns sees only its channels', { timeout: 60000 }, async () => {
    const p = `lim.${channelName('pre')}`;
    await s.publishIds([{ channel: `${p}-a`, data: 1 }, { channel: `${p}-b`, data: 1 }], { key: KEY });
    const poll = s.poll({ channel: [`${p}-c`, `${p}-a`], timeout: 20 });
    await until(async () => (await get(`channel?channel=${p}-c`)).json?.subscribers === 1, WAIT_MS,
        'the poll counted on its channel');
    const names = async (key) => {
        const seen = [];
        let cursor = '';
        for (let i = 0; i < 1000; i++) {
            const r = await get(`channels?prefix=${p}${cursor ? `&cursor=${cursor}` : ''}`, { key });
            assert.equal(r.status, 200, r.text);
            seen.push(...r.json.channels);
            assert.ok(r.json.channels.length <= 199, 'a page is bounded');
            if (!r.json.more) return seen;
            cursor = r.json.cursor;
        }
        throw new Error('no last page');
    };
    const all = await names(KEY);
    assert.deepEqual(all.map((c) => c.channel).sort(), [`${p}-a`, `${p}-b`, `${p}-c`]);
    const c = all.find((x) => x.channel === `${p}-c`);
    assert.equal(c.subscribers, 1);
    assert.equal(c.retained, 0);
    assert.equal(all.find((x) => x.channel === `${p}-a`).subscribers, 1);
    assert.equal((await names(LIMITED)).length, 3, 'lim.* covers them');
    const q = channelName('nl');
    await s.publishIds({ channel: `${q}-x`, data: 1 }, { key: KEY });
    const r = await get(`channels?prefix=${q}`, { key: LIMITED });
    assert.deepEqual(r.json.channels, [], 'a channel outside the key\'s patterns is not listed');
    assert.equal((await get(`channels?prefix=${q}`, { key: null })).status, 401);
    await s.publishIds({ channel: `${p}-c`, data: 'go' }, { key: KEY });
    await poll;
});

/** GET /metrics on instance with headers; runs promtool check metrics on a 200's body. */
async function metrics(instance = 0, headers = {}) {
    const r = await request(`${s.url(instance)}/metrics`, { headers, timeoutMs: 15000 });
    if (r.status !== 200) return r;
    const file = path.join(s.dir, 'metrics.txt');
    fs.writeFileSync(file, r.text);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8', timeout: 30000 });
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}\n${r.text}`);
    r.values = {};
    for (const line of r.text.split('\n')) {
        const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
        if (m) r.values[m[1]] = Number(m[2]);
    }
    return r;
}

test('GET /metrics: valid per promtool; counters follow what happens (3 publishes → +3), waiting by ' +
    'transport, worker lag, build info', { timeout: 60000 }, async () => {
    const m0 = await metrics();
    assert.equal(m0.status, 200, m0.text);
    assert.match(m0.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const version = (await s.stats()).version;
    assert.equal(m0.values[`comet_build_info{version="${version}"}`], 1);
    assert.equal(m0.values.comet_worker_up, 1);
    const ch = channelName('met');
    for (let i = 0; i < 3; i++) assert.equal((await s.publish({ channel: ch, data: i }, { key: KEY })).status, 202);
    const m1 = await until(async () => {
        const m = await metrics();
        return m.values.comet_events_published_total >= m0.values.comet_events_published_total + 3 && m;
    }, WAIT_MS, 'the 3 events stored');
    assert.equal(m1.values.comet_publishes_accepted_total, m0.values.comet_publishes_accepted_total + 3);
    assert.equal(m1.values.comet_events_accepted_total, m0.values.comet_events_accepted_total + 3);

    const sse = s.sse({ channel: ch });
    try {
        await until(async () => (await metrics()).values['comet_waiting_requests{transport="sse"}'] >= 1, WAIT_MS,
            'an SSE stream counted under transport="sse"');
    } finally {
        sse.close();
    }

    // A refusal is counted by the process that answered it: in external mode one process
    // answers everything; under mod_fcgid the scrape may land on another process.
    if (EXTERNAL) {
        const bad = await s.publish({ channel: ch }, { key: KEY });
        assert.equal(bad.status, 400);
        const m2 = await metrics();
        const pid = Object.keys(m2.values).find((k) => k.startsWith('comet_publishes_refused_total{status="400"'));
        assert.ok(pid, `a 400 counted: ${m2.text}`);
        assert.ok(m2.values[pid] >= 1);
    }
});

test('/stats and /metrics: public by default; COMET_STATS_KEY asks for the key (401), COMET_STATS_ALLOW ' +
    'lets an address in without it, another address gets 403', { timeout: 120000 }, async () => {
    assert.equal((await request(`${s.url(0)}/stats`)).status, 200, 'unprotected node: public');
    // Node 1: a key, and an address list that does not hold 127.0.0.1.
    for (const p of ['stats', 'metrics']) {
        const r = await request(`${s.url(1)}/${p}`);
        assert.equal(r.status, 401, `${p} without the key: ${r.text}`);
        assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/);
        assert.equal((await request(`${s.url(1)}/${p}`, { headers: auth('nope') })).status, 401, `${p} wrong key`);
        assert.equal((await request(`${s.url(1)}/${p}`, { headers: auth(KEY) })).status, 401, `${p}: a publish key`);
    }
    assert.equal((await request(`${s.url(1)}/stats`, { headers: auth(STATS_KEY) })).status, 200);
    assert.equal((await metrics(1, auth(STATS_KEY))).status, 200);

    // Only an address list, without this client: 403; with it: no key needed.
    s.webs[1].env = { COMET_STATS_ALLOW: '192.0.2.0/24, 2001:db8::/32' };
    await s.restartWeb(1);
    assert.equal((await request(`${s.url(1)}/stats`)).status, 403);
    assert.equal((await request(`${s.url(1)}/metrics`)).status, 403);
    s.webs[1].env = { COMET_STATS_ALLOW: '10.0.0.0/8,127.0.0.0/8,::1', COMET_STATS_KEY: STATS_KEY };
    await s.restartWeb(1);
    assert.equal((await request(`${s.url(1)}/stats`)).status, 200, 'an allowed address needs no key');
    assert.equal((await metrics(1)).status, 200);
});

test('no worker: a publish is queued and says so (Comet-Worker: absent, "worker":"absent"); the log says ' +
    'it once per process per minute, not per request; with a worker back, neither', { timeout: 90000 }, async () => {
    await s.stopComponent('worker');
    await until(async () => (await s.stats()).worker.alive === false, WAIT_MS, 'the lease to lapse');
    await until(async () => (await s.redis('EXISTS', 'comet:lease')) === '0', WAIT_MS, 'the lease key gone');
    const ch = channelName('absent');
    for (let i = 0; i < 6; i++) {
        const r = await s.publish({ channel: ch, data: i }, { key: KEY, instance: i % 2 });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.headers['comet-worker'], 'absent');
        assert.deepEqual(r.json, { accepted: 1, worker: 'absent' });
    }
    const lines = (i) => s.tail(s.fcgiLog(), 1 << 20, i).split('\n').filter((l) => /no worker holds the lease/.test(l));
    const all = await until(() => {
        const l = [...lines(0), ...lines(1)];
        return l.length > 0 && l;
    }, WAIT_MS, 'the warning in the log');
    for (const l of all) assert.match(l, /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=warn prog=comet\.fcgi\S* pid=\d+ msg="/);
    const pids = all.map((l) => /pid=(\d+)/.exec(l)[1]);
    assert.equal(new Set(pids).size, pids.length, `one line per process: ${all.join('\n')}`);
    assert.ok(all.length < 6, 'not one line per publish');

    await s.startWorker();
    await until(async () => (await s.stats()).inbox === 0, WAIT_MS, 'the queued publishes stored');
    const r = await s.publish({ channel: ch, data: 'back' }, { key: KEY });
    assert.equal(r.status, 202);
    assert.equal(r.headers['comet-worker'], undefined);
    assert.deepEqual(r.json, { accepted: 1 });
    await until(async () => (await s.poll({ channel: ch, since: 0, timeout: 0 })).json.events.length === 7, WAIT_MS,
        'the 7 events stored');
});
