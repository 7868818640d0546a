// Presence in the client (README: Presence): every connection carries the client's pid, the
// same across polls and reconnects (so the server counts an anonymous page once) and another
// for another client; comet-join and comet-leave go to on('join'|'leave'), not to subscribe
// functions; presence() asks /presence with the subscriber's credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env, plain } from './fakes.mjs';

function setup(opts = {}) {
    const w = new World();
    const tab = w.tab();
    const c = tab.client('/comet', { transports: ['longpoll'], shared: false, ...opts });
    return { w, tab, c, clock: w.clock };
}

test('the pid: on every poll, unchanged by a reconnect, different for another client', async () => {
    const { tab, c, clock } = setup();
    c.subscribe('room', () => {});
    await clock.tick(0);
    let [r] = tab.open('/poll');
    const pid = r.param('pid');
    assert.match(pid, /^[A-Za-z0-9_-]{1,64}$/);
    r.json({ events: [], cursor: '1-0' });
    await clock.tick(0);
    [r] = tab.open('/poll');
    assert.equal(r.param('pid'), pid, 'the next poll');
    r.fail(new TypeError('Failed to fetch'));
    await clock.tick(0);
    await clock.tick(clock.pending());
    [r] = tab.open('/poll');
    assert.equal(r.param('pid'), pid, 'the poll after a network error');
    const other = tab.client('/comet', { transports: ['longpoll'], shared: false });
    other.subscribe('room', () => {});
    await clock.tick(0);
    const theirs = tab.open('/poll').map((x) => x.param('pid')).filter((p) => p !== pid);
    assert.equal(theirs.length, 1, 'another client sends a pid of its own');
    c.close();
    other.close();
});

test('comet-join and comet-leave reach on(\'join\'|\'leave\'), not the subscribe function', async () => {
    const { tab, c, clock } = setup();
    const got = [];
    const changes = [];
    c.subscribe('room', (data, e) => got.push(e.id));
    c.on('join', (m, ch) => changes.push(['join', m, ch.channel, ch.count, ch.envelope.id]));
    c.on('leave', (m, ch) => changes.push(['leave', m, ch.channel, ch.count, ch.envelope.id]));
    await clock.tick(0);
    tab.open('/poll')[0].json({ events: [], cursor: '1-0' });
    await clock.tick(0);
    tab.open('/poll')[0].json({
        events: [env('2-0', 'room', { id: 'alice', info: { name: 'Alice' }, count: 2 }, 'comet-join'),
            env('2-1', 'room', 'hi'), env('2-2', 'room', { id: 'alice', count: 1 }, 'comet-leave')],
        cursor: '2-2',
    });
    await clock.tick(0);
    assert.deepEqual(got, ['2-1']);
    assert.deepEqual(plain(changes), [['join', { id: 'alice', info: { name: 'Alice' } }, 'room', 2, '2-0'],
        ['leave', { id: 'alice' }, 'room', 1, '2-2']]);
    assert.equal(tab.open('/poll')[0].param('since'), '2-2', 'the cursor moves past them');
    c.close();
});

test('presence() asks /presence for the channel with the credentials and resolves the answer', async () => {
    const { tab, c, clock } = setup({ token: 'tok' });
    const p = c.presence('room', { limit: 5 });
    await clock.tick(0);
    const [r] = tab.open('/presence');
    assert.deepEqual(r.channels(), ['room']);
    assert.equal(r.param('limit'), '5');
    assert.equal(r.param('token'), 'tok');
    const answer = { channel: 'room', count: 3, members: [{ id: 'alice' }], more: false };
    r.json(answer);
    assert.deepEqual(plain(await p), answer);
    const bad = c.presence('plain');
    await clock.tick(0);
    tab.open('/presence')[0].json({ error: 'plain is not a presence channel' }, 404);
    await assert.rejects(bad, (e) => e.status === 404);
    c.close();
});
