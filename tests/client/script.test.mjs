// JSONP and the forever iframe, in a fake document: callback names unique per request and on
// the global Comet, scripts and iframes removed afterwards, timeouts, the same-origin rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World, env } from './fakes.mjs';

function setup(opts = {}, tabOpts = {}) {
    const w = new World();
    const tab = w.tab(tabOpts);
    const c = tab.client('/comet', { shared: false, ...opts });
    const got = [];
    const errors = [];
    c.on('error', (e) => errors.push(e));
    return { w, tab, c, got, errors, clock: w.clock };
}
const scripts = (tab) => tab.context.document.head.children;
const cbName = (el) => new URL(el.src, 'http://x').searchParams.get('callback');

test('JSONP: callback=Comet._jpN, unique per request; the script is removed after the answer', async () => {
    const { tab, c, got, clock } = setup({ transports: ['jsonp'] });
    c.subscribe('news', (d, e) => got.push(e.id));
    await clock.tick(0);
    let [s] = scripts(tab);
    assert.equal(s.tagName, 'SCRIPT');
    const u = new URL(s.src, 'http://x');
    assert.equal(u.pathname, '/comet/poll');
    assert.equal(u.searchParams.get('timeout'), '0');
    const n1 = cbName(s);
    assert.match(n1, /^Comet\._jp\d+$/);
    const fn = tab.Comet[n1.slice(6)];
    fn({ events: [], cursor: '3-0' });
    await clock.tick(0);
    assert.equal(c.state, 'open');
    assert.equal(scripts(tab).includes(s), false, 'the first script is gone');
    [s] = scripts(tab);
    const n2 = cbName(s);
    assert.notEqual(n2, n1);
    assert.equal(new URL(s.src, 'http://x').searchParams.get('since'), '3-0');
    tab.Comet[n2.slice(6)]({ events: [env('3-1'), env('3-2')], cursor: '3-2' });
    await clock.tick(0);
    assert.deepEqual(got, ['3-1', '3-2']);
    // A late call of a retired callback is harmless.
    tab.Comet[n1.slice(6)]({ events: [env('9-9')], cursor: '9-9' });
    await clock.tick(0);
    assert.deepEqual(got, ['3-1', '3-2']);
    await clock.tick(61000);
    assert.equal(tab.Comet[n1.slice(6)], undefined, 'retired callbacks are deleted after a minute');
    c.close();
    assert.equal(scripts(tab).length, 0);
});

test('JSONP: a script error or a script that does not call back is an error; a hung one times out', async () => {
    const { tab, c, errors, clock } = setup({ transports: ['jsonp'], timeout: 20 });
    c.subscribe('news', () => {});
    await clock.tick(0);
    scripts(tab)[0].onerror();
    await clock.tick(0);
    assert.equal(errors[0].kind, 'opaque');
    assert.equal(scripts(tab).length, 0);
    await clock.tick(500);
    scripts(tab)[0].onload();
    await clock.tick(0);
    assert.equal(errors[1].kind, 'bad');
    await clock.tick(1000);
    const [s] = scripts(tab);
    tab.Comet[cbName(s).slice(6)]({ events: [], cursor: '1-0' });
    await clock.tick(0);
    const [hung] = scripts(tab);
    await clock.tick(30000);
    assert.equal(errors.length, 3, 'given up after timeout (20 s) + grace (10 s)');
    assert.equal(scripts(tab).includes(hung), false);
    c.close();
});

test('iframe: hidden, callback=Comet._ifN called as parent.Comet._ifN(frame); load = the stream ended', async () => {
    const { tab, c, got, errors, clock } = setup({ transports: ['iframe'], cursor: '5-0' });
    c.subscribe('news', (d, e) => got.push(e.id));
    await clock.tick(0);
    const [f] = tab.context.document.body.children;
    assert.equal(f.tagName, 'IFRAME');
    assert.equal(f.style.display, 'none');
    const u = new URL(f.src, 'http://x');
    assert.equal(u.pathname, '/comet/iframe');
    assert.equal(u.searchParams.get('since'), '5-0');
    const name = u.searchParams.get('callback');
    assert.match(name, /^Comet\._if\d+$/);
    const cb = tab.Comet[name.slice(6)];
    cb({ id: '5-1', channel: 'news', event: 'message', data: 1 });
    cb({ cursor: '5-1', open: true });
    assert.equal(c.state, 'open');
    cb({ truncated: true });
    cb({ id: '6-0', channel: 'news', event: 'message', data: 2 });
    assert.deepEqual(got, ['5-1', '6-0']);
    f.onload(); // the document completed: lifetime over
    assert.equal(tab.context.document.body.children.length, 0, 'removed');
    assert.equal(errors.length, 0);
    await clock.tick(250);
    const [g] = tab.context.document.body.children;
    assert.equal(new URL(g.src, 'http://x').searchParams.get('since'), '6-0');
    assert.notEqual(new URL(g.src, 'http://x').searchParams.get('callback'), name);
    c.close();
});

test('iframe on another origin is skipped as unsupported (its scripts could not call the page)', async () => {
    const w = new World();
    const tab = w.tab();
    const c = tab.client('https://push.example.com/comet', { shared: false, transports: ['iframe', 'jsonp'] });
    const errors = [];
    c.on('error', (e) => errors.push(e));
    c.subscribe('news', () => {});
    await w.clock.tick(0);
    assert.equal(errors[0].kind, 'unsupported');
    assert.equal(c.transport, 'jsonp');
    assert.match(tab.context.document.head.children[0].src, /^https:\/\/push\.example\.com\/comet\/poll\?/);
    c.close();
});
