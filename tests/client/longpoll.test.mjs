// Long-poll: the request sequence (since, timeout), delivery in order and once, the cursor,
// truncated answers, and reconnecting: backoff, Retry-After, network errors, sleeping tabs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}) {
    const w = new World();
    const tab = w.tab();
    const c = tab.client('/comet', { transports: ['longpoll'], shared: false, ...opts });
    const got = [];
    const log = { states: [], errors: [], missed: 0, transports: [] };
    c.on('state', (s) => log.states.push(s));
    c.on('error', (e) => log.errors.push(e));
    c.on('missed', () => log.missed++);
    c.on('transport', (t) => log.transports.push(t));
    return { w, tab, c, got, log, clock: w.clock };
}

test('first poll omits since and does not wait; then since=cursor&timeout=25; events in order', async () => {
    const { tab, c, got, log, clock } = setup();
    c.subscribe('news', (data, e) => got.push([data, e.id, e.channel]));
    await clock.tick(0);
    let [r] = tab.open('/poll');
    assert.ok(r, 'a poll was sent');
    assert.equal(r.url.split('?')[0], '/comet/poll');
    assert.deepEqual(r.channels(), ['news']);
    assert.equal(r.param('since'), null);
    assert.equal(r.param('timeout'), '0');
    assert.equal(r.init.credentials, 'same-origin');
    assert.equal(c.state, 'connecting');
    assert.equal(c.transport, 'longpoll');
    r.json({ events: [], cursor: '100-0' });
    await clock.tick(0);
    assert.equal(c.state, 'open');
    assert.equal(c.cursor, '100-0');
    [r] = tab.open('/poll');
    assert.equal(r.param('since'), '100-0');
    assert.equal(r.param('timeout'), '25');
    r.json({ events: [env('100-1', 'news', 'a'), env('100-2', 'news', { b: 1 })], cursor: '100-2' });
    await clock.tick(0);
    assert.deepEqual(plain(got), [['a', '100-1', 'news'], [{ b: 1 }, '100-2', 'news']]);
    [r] = tab.open('/poll');
    assert.equal(r.param('since'), '100-2');
    assert.deepEqual(log.states, ['open']);
    assert.deepEqual(log.transports, ['longpoll']);
    c.close();
    assert.equal(r.aborted, true, 'close() aborts the waiting poll');
});

test('an event at or before the cursor is never delivered twice (ids compared as numbers)', async () => {
    const { tab, c, got, clock } = setup({ cursor: '999-5' });
    c.subscribe('news', (d, e) => got.push(e.id));
    await clock.tick(0);
    let [r] = tab.open('/poll');
    assert.equal(r.param('since'), '999-5', 'the cursor option is where it starts');
    r.json({ events: [env('999-4'), env('999-5'), env('999-10'), env('1000-0'), env('999-10')], cursor: '1000-0' });
    await clock.tick(0);
    [r] = tab.open('/poll');
    r.json({ events: [env('1000-0'), env('999-11'), env('1000-1')], cursor: '1000-1' });
    await clock.tick(0);
    assert.deepEqual(got, ['999-10', '1000-0', '1000-1']);
    assert.equal(c.cursor, '1000-1');
    c.close();
});

test('truncated:true fires missed once per answer, and the events still come', async () => {
    const { tab, c, got, log, clock } = setup({ cursor: '5-0' });
    c.subscribe('news', (d, e) => got.push(e.id));
    await clock.tick(0);
    tab.open('/poll')[0].json({ events: [env('50-0')], cursor: '50-0', truncated: true });
    await clock.tick(0);
    assert.equal(log.missed, 1);
    assert.deepEqual(got, ['50-0']);
    c.close();
});

test('network errors: retries back off 0.5, 1, 2, 4 s… and resume from the cursor', async () => {
    const { tab, c, log, clock } = setup();
    c.subscribe('news', () => {});
    await clock.tick(0);
    tab.open('/poll')[0].json({ events: [], cursor: '7-0' });
    await clock.tick(0);
    const times = [];
    for (let i = 0; i < 6; i++) {
        const [r] = tab.open('/poll');
        assert.equal(r.param('since'), '7-0', 'every retry resumes from the cursor');
        times.push(clock.now);
        r.fail(new TypeError('Failed to fetch'));
        await clock.tick(0);
        await clock.tick(clock.pending());
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.deepEqual(gaps, [500, 1000, 2000, 4000, 8000]);
    assert.equal(c.state, 'reconnecting');
    assert.equal(c.transport, 'longpoll', 'same-origin network errors never abandon long-poll');
    assert.ok(log.errors.length >= 5 && log.errors.every((e) => e.kind === 'network' && e.transport === 'longpoll'));
    assert.equal(log.errors[0].retryIn, 500);
    // The server comes back: the first answer opens, and the backoff starts over.
    const [r] = tab.open('/poll');
    assert.equal(r.param('timeout'), '0');
    r.json({ events: [], cursor: '8-0' });
    await clock.tick(0);
    assert.equal(c.state, 'open');
    tab.open('/poll')[0].fail();
    await clock.tick(0);
    assert.equal(log.errors.at(-1).retryIn, 500, 'the backoff starts over after an open');
    c.close();
});

test('503 with Retry-After waits at least that long; 429 likewise', async () => {
    const { tab, c, log, clock } = setup();
    c.subscribe('news', () => {});
    await clock.tick(0);
    let [r] = tab.open('/poll');
    const t0 = clock.now;
    r.json({ error: 'Redis is unreachable' }, 503, { 'Retry-After': '7' });
    await clock.tick(6999);
    assert.equal(tab.open('/poll').length, 0, 'nothing before Retry-After');
    await clock.tick(1);
    [r] = tab.open('/poll');
    assert.ok(r, 'retried after 7 s');
    assert.equal(clock.now - t0, 7000);
    assert.equal(log.errors[0].status, 503);
    assert.equal(log.errors[0].retryIn, 7000);
    assert.match(log.errors[0].message, /Redis is unreachable/);
    r.json({ error: 'slow down' }, 429, { 'Retry-After': '2' });
    await clock.tick(0);
    assert.equal(log.errors[1].retryIn, 2000, 'Retry-After (2 s) is above the backoff (1 s)');
    c.close();
});

test('a poll that never answers is given up after timeout + grace, then retried', async () => {
    const { tab, c, log, clock } = setup({ timeout: 5 });
    c.subscribe('news', () => {});
    await clock.tick(0);
    tab.open('/poll')[0].json({ events: [], cursor: '1-0' });
    await clock.tick(0);
    const [r] = tab.open('/poll');
    assert.equal(r.param('timeout'), '5');
    await clock.tick(14999);
    assert.equal(r.aborted, false);
    await clock.tick(1);
    assert.equal(r.aborted, true, 'aborted 5 s + 10 s grace later');
    assert.equal(log.errors.length, 1);
    c.close();
});

test('quick empty answers again and again slow down instead of spinning', async () => {
    const { tab, c, clock } = setup();
    c.subscribe('news', () => {});
    await clock.tick(0);
    tab.open('/poll')[0].json({ events: [], cursor: '1-0' });
    await clock.tick(0);
    for (let i = 0; i < 3; i++) {
        tab.open('/poll')[0].json({ events: [], cursor: '1-0' });
        await clock.tick(0);
    }
    assert.equal(tab.open('/poll').length, 0, 'a pause after three instant empty answers');
    await clock.tick(500);
    assert.equal(tab.open('/poll').length, 1);
    c.close();
});

test('coming back online or to a visible page retries at once instead of waiting out the backoff', async () => {
    const { tab, c, clock } = setup();
    c.subscribe('news', () => {});
    await clock.tick(0);
    for (let i = 0; i < 5; i++) {
        tab.open('/poll')[0].fail();
        await clock.tick(0);
        await clock.tick(clock.pending());
    }
    tab.open('/poll')[0].fail();
    await clock.tick(0);
    assert.ok(clock.pending() >= 8000, 'a long backoff is pending');
    tab.fire('doc:visibilitychange');
    await clock.tick(0);
    assert.equal(tab.open('/poll').length, 1, 'visible: retried at once');
    tab.open('/poll')[0].json({ events: [], cursor: '2-0' });
    await clock.tick(0);
    const [r] = tab.open('/poll');
    tab.fire('online');
    await clock.tick(0);
    assert.equal(r.aborted, true, 'online: the possibly dead poll is dropped');
    assert.equal(tab.open('/poll').length, 1);
    assert.equal(tab.open('/poll')[0].param('since'), '2-0');
    c.close();
});

test('withCredentials sends cookies cross-origin; a base URL on another origin is used as is', async () => {
    const w = new World();
    const tab = w.tab();
    const c = tab.client('https://push.example.com/comet/', { transports: ['longpoll'], shared: false, withCredentials: true });
    c.subscribe('news', () => {});
    await w.clock.tick(0);
    const [r] = tab.open('/poll');
    assert.match(r.url, /^https:\/\/push\.example\.com\/comet\/poll\?channel=news/);
    assert.equal(r.init.credentials, 'include');
    c.close();
});
