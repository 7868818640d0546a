// Tabs of one origin share one connection: a leader (Web Lock, or BroadcastChannel election)
// runs it for the union of everyone's channels and relays; hand-over resumes from the cursor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env } from './fakes.mjs';

function world(opts) {
    const w = new World(opts);
    let x = 12345;
    w.random = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
    return w;
}
const polls = (w) => w.requests.filter((r) => r.path.endsWith('/poll') && !r.settled && !r.aborted);

async function tabs(w, n, opts = {}) {
    const out = [];
    for (let i = 0; i < n; i++) {
        const tab = w.tab();
        const c = tab.client('/comet', { transports: ['longpoll'], ...opts });
        out.push({ tab, c, got: [] });
        await w.clock.tick(1000); // the first tab is settled as leader before the next opens
    }
    return out;
}

for (const locks of [true, false]) {
    const how = locks ? 'Web Locks' : 'BroadcastChannel election';

    test(`${how}: two tabs, one connection for the union of their channels; the follower gets its events`, async () => {
        const w = world({ locks });
        const [a, b] = await tabs(w, 2);
        a.c.subscribe('x', (d, e) => a.got.push(e.channel + ':' + e.id));
        b.c.subscribe('y', (d, e) => b.got.push(e.channel + ':' + e.id));
        await w.clock.tick(2000);
        assert.equal(a.c.role, 'leader');
        assert.equal(b.c.role, 'follower');
        assert.equal(b.tab.requests.length, 0, 'the follower sends nothing');
        let [r] = polls(w);
        assert.equal(polls(w).length, 1, 'one connection');
        assert.equal(r.tab, a.tab);
        assert.deepEqual(r.channels(), ['x', 'y']);
        r.json({ events: [], cursor: '10-0' });
        await w.clock.tick(10);
        assert.equal(a.c.state, 'open');
        assert.equal(b.c.state, 'open', 'the follower mirrors the leader state');
        assert.equal(b.c.transport, 'longpoll');
        [r] = polls(w);
        r.json({ events: [env('10-1', 'x'), env('10-2', 'y'), env('10-3', 'x')], cursor: '10-3' });
        await w.clock.tick(10);
        assert.deepEqual(a.got, ['x:10-1', 'x:10-3']);
        assert.deepEqual(b.got, ['y:10-2']);
        assert.equal(b.c.cursor, '10-3');
        a.c.close();
        b.c.close();
    });

    test(`${how}: a follower subscribing later widens the leader's connection from its cursor`, async () => {
        const w = world({ locks });
        const [a, b] = await tabs(w, 2);
        a.c.subscribe('x', () => {});
        await w.clock.tick(2000);
        polls(w)[0].json({ events: [], cursor: '10-0' });
        await w.clock.tick(10);
        polls(w)[0].json({ events: [env('11-0', 'x')], cursor: '11-0' });
        await w.clock.tick(10);
        b.c.subscribe('z', (d, e) => b.got.push(e.id));
        await w.clock.tick(10);
        const [r] = polls(w);
        assert.deepEqual(r.channels(), ['x', 'z']);
        assert.equal(r.param('since'), '11-0');
        r.json({ events: [env('11-1', 'z')], cursor: '11-1' });
        await w.clock.tick(10);
        assert.deepEqual(b.got, ['11-1']);
        a.c.close();
        b.c.close();
    });

    test(`${how}: the leader closes; the follower takes over from its cursor, nothing lost or twice`, async () => {
        const w = world({ locks });
        const [a, b] = await tabs(w, 2);
        a.c.subscribe('x', () => {});
        b.c.subscribe('y', (d, e) => b.got.push(e.id));
        await w.clock.tick(2000);
        polls(w)[0].json({ events: [], cursor: '10-0' });
        await w.clock.tick(10);
        polls(w)[0].json({ events: [env('10-1', 'y'), env('10-2', 'x')], cursor: '10-2' });
        await w.clock.tick(10);
        assert.deepEqual(b.got, ['10-1']);
        a.c.close();
        await w.clock.tick(locks ? 500 : 5000);
        assert.equal(b.c.role, 'leader');
        const open = polls(w);
        assert.equal(open.length, 1);
        const [r] = open;
        assert.equal(r.tab, b.tab, 'the new leader polls');
        assert.deepEqual(r.channels(), ['y'], 'the closed tab\'s channel is gone');
        assert.equal(r.param('since'), '10-2', 'resumes from the last cursor it saw');
        // The server replays from there; an overlap would be dropped.
        r.json({ events: [env('10-1', 'y'), env('10-3', 'y')], cursor: '10-3' });
        await w.clock.tick(10);
        assert.deepEqual(b.got, ['10-1', '10-3']);
        assert.equal(b.c.state, 'open');
        b.c.close();
    });

    test(`${how}: three tabs, the leader goes: exactly one new leader, the other follows it`, async () => {
        const w = world({ locks });
        const [a, b, c] = await tabs(w, 3);
        a.c.subscribe('x', () => {});
        b.c.subscribe('y', (d, e) => b.got.push(e.id));
        c.c.subscribe('z', (d, e) => c.got.push(e.id));
        await w.clock.tick(3000);
        polls(w)[0].json({ events: [], cursor: '1-0' });
        await w.clock.tick(10);
        a.c.close();
        await w.clock.tick(5000);
        const roles = [b.c.role, c.c.role].sort();
        assert.deepEqual(roles, ['follower', 'leader']);
        assert.equal(polls(w).length, 1);
        const [r] = polls(w);
        assert.deepEqual(r.channels(), ['y', 'z'], 'the new leader knows the other follower\'s channels');
        if (r.param('timeout') === '0') r.json({ events: [], cursor: '1-0' });
        await w.clock.tick(10);
        polls(w)[0].json({ events: [env('2-0', 'y'), env('2-1', 'z')], cursor: '2-1' });
        await w.clock.tick(10);
        assert.deepEqual(b.got, ['2-0']);
        assert.deepEqual(c.got, ['2-1']);
        b.c.close();
        c.c.close();
    });
}

test('BroadcastChannel election: a leader tab that dies silently is replaced after its heartbeats stop', async () => {
    const w = world({ locks: false });
    const [a, b] = await tabs(w, 2);
    a.c.subscribe('x', () => {});
    b.c.subscribe('y', (d, e) => b.got.push(e.id));
    await w.clock.tick(2000);
    polls(w)[0].json({ events: [env('5-0', 'y')], cursor: '5-0' });
    await w.clock.tick(10);
    assert.equal(a.c.role, 'leader');
    a.tab.crash();
    await w.clock.tick(2000);
    assert.equal(b.c.role, 'follower', 'not before the heartbeats are overdue');
    await w.clock.tick(3000);
    assert.equal(b.c.role, 'leader');
    const [r] = polls(w);
    assert.equal(r.tab, b.tab);
    assert.equal(r.param('since'), '5-0');
    assert.deepEqual(r.channels(), ['y'], 'only the living tabs\' channels');
    b.c.close();
});

test('shared: false, or no BroadcastChannel: each client has its own connection', async () => {
    const w = world();
    const a = w.tab().client('/comet', { transports: ['longpoll'], shared: false });
    const t2 = w.tab({ broadcast: false });
    const b = t2.client('/comet', { transports: ['longpoll'] });
    a.subscribe('x', () => {});
    b.subscribe('x', () => {});
    await w.clock.tick(10);
    assert.equal(polls(w).length, 2);
    assert.equal(a.role, 'solo');
    assert.equal(b.role, 'solo');
    a.close();
    b.close();
});

test('clients with different transports do not share', async () => {
    const w = world();
    const a = w.tab().client('/comet', { transports: ['longpoll'] });
    const b = w.tab().client('/comet', { transports: ['longpoll', 'jsonp'] });
    a.subscribe('x', () => {});
    b.subscribe('x', () => {});
    await w.clock.tick(1000);
    assert.equal(a.role, 'leader');
    assert.equal(b.role, 'leader');
    a.close();
    b.close();
});
