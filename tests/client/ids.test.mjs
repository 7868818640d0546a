// Pure pieces: id comparison (numeric, never as strings), the backoff sequence, Retry-After,
// query strings, line splitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { World } from './fakes.mjs';

const { Comet } = new World().tab();
const I = Comet._internal;
const TE = { name: 'TypeError' }; // another realm's TypeError: match by name

test('compareIds compares MS and N as integers, not as strings', () => {
    const c = Comet.compareIds;
    assert.equal(c('999-0', '1000-0'), -1, 'shorter ms is earlier although "9" > "1"');
    assert.equal(c('1732249000123-9', '1732249000123-10'), -1, 'counter 9 < 10');
    assert.equal(c('1732249000123-10', '1732249000123-9'), 1);
    assert.equal(c('1732249000124-0', '1732249000123-99'), 1);
    assert.equal(c('5-3', '5-3'), 0);
    assert.equal(c('0', '1-0'), -1, '"0" is before every event');
    assert.equal(c('0', '0-0'), 0);
    assert.equal(c('007-01', '7-1'), 0, 'leading zeros do not matter');
    assert.equal(c('99999999999999999999-1', '99999999999999999998-7'), 1, 'beyond 2^53');
    for (const bad of ['', 'abc', '1-', '-1', '1-2-3', '1.5-0', ' 1-0', null, undefined]) {
        assert.throws(() => c(bad, '1-0'), TE, `rejects ${JSON.stringify(bad)}`);
    }
});

test('retryDelay: 0.5 s doubling to 30 s, jitter down to half; attempt 0 is almost at once', () => {
    const b = { min: 500, max: 30000 };
    const top = [1, 2, 3, 4, 5, 6, 7, 8, 20, 1000].map((a) => I.retryDelay(a, b, () => 1));
    assert.deepEqual(top, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    const low = [1, 2, 7].map((a) => I.retryDelay(a, b, () => 0));
    assert.deepEqual(low, [250, 500, 15000]);
    assert.equal(I.retryDelay(0, b, () => 1), 250);
    assert.equal(I.retryDelay(0, b, () => 0), 0);
    assert.equal(I.retryDelay(3, { min: 100, max: 150 }, () => 1), 150);
});

test('parseRetryAfter: seconds or an HTTP date, in ms, capped at 10 minutes', () => {
    assert.equal(I.parseRetryAfter('7'), 7000);
    assert.equal(I.parseRetryAfter(' 0 '), 0);
    assert.equal(I.parseRetryAfter('99999'), 600000);
    const at = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(I.parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', at), 30000);
    assert.equal(I.parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', at), 0, 'a past date: at once');
    assert.equal(I.parseRetryAfter(null), null);
    assert.equal(I.parseRetryAfter(''), null);
    assert.equal(I.parseRetryAfter('soon'), null);
});

test('query: repeated channel, encoded values, null parameters left out', () => {
    assert.equal(I.query(['a', 'b/c@d'], { since: '1-2', timeout: 0, lastEventId: null }),
        '?channel=a&channel=b%2Fc%40d&since=1-2&timeout=0');
    assert.equal(I.query(['x'], {}), '?channel=x');
});

test('Lines: frames split anywhere, CRLF, the last partial line kept', () => {
    const out = [];
    const l = new I.Lines((x) => out.push(x));
    l.push(' '.repeat(2048));
    l.push('\n{"a"');
    l.push(':1}\r\n\n{"b":2}\n{"c"');
    assert.deepEqual(out, [' '.repeat(2048), '{"a":1}', '', '{"b":2}']);
    l.push(':3}\n');
    assert.equal(out[4], '{"c":3}');
});

test('httpFailure: 429/5xx are the server\'s, other 4xx refuse the transport', () => {
    assert.equal(I.httpFailure(503, '{"error":"Redis is down"}', '1').kind, 'server');
    assert.equal(I.httpFailure(503, '', '1').retryAfter, 1000);
    assert.match(I.httpFailure(503, '{"error":"Redis is down"}', null).message, /Redis is down/);
    assert.equal(I.httpFailure(429, '', '30').retryAfter, 30000);
    assert.equal(I.httpFailure(404, '', null).kind, 'refused');
    assert.equal(I.httpFailure(400, 'x', null).kind, 'refused');
});

test('Client: bad arguments are refused at once', () => {
    assert.throws(() => new Comet.Client(''), TE);
    assert.throws(() => new Comet.Client('/comet', { transports: ['carrier-pigeon'] }), /unknown transport/);
    assert.throws(() => new Comet.Client('/comet', { transports: [] }), TE);
    assert.throws(() => new Comet.Client('/comet', { cursor: 'yesterday', shared: false }), /cursor/);
    const c = new Comet.Client('/comet', { shared: false });
    assert.throws(() => c.subscribe('bad channel', () => {}), /channel name/);
    assert.throws(() => c.subscribe('x'.repeat(129), () => {}), /channel name/);
    assert.throws(() => c.subscribe('ok', 'not a function'), TE);
    assert.equal(c.state, 'connecting');
    assert.equal(c.transport, null);
    c.close();
    assert.equal(c.state, 'closed');
});
