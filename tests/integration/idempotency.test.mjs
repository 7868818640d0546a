// Idempotency-Key on publish: a retry with the same key and body publishes nothing more
// and gets the first answer again (Idempotent-Replayed: true), with ?wait=1 the first
// publish's ids; the same key with another body is 422; concurrent retries publish once;
// the key lives under the site's prefix for COMET_IDEMPOTENCY_TTL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, channelName, until, WAIT_MS } from '../lib/stack.mjs';
import { assertError } from '../lib/checks.mjs';

const TTL = 120;
let s;
before(async () => {
    s = await startStack({ env: { COMET_IDEMPOTENCY_TTL: String(TTL) } });
});
after(async () => {
    await s?.stop();
});

const newKey = () => crypto.randomUUID();
const publish = (body, key, o = {}) => s.publish(body, { ...o, headers: { 'Idempotency-Key': key } });
/** Every event retained on ch, once the inbox is empty. */
async function history(ch) {
    await until(async () => (await s.stats()).inbox === 0, WAIT_MS, 'an empty inbox');
    const r = await s.poll({ channel: ch, since: 0, timeout: 1 });
    assert.equal(r.status, 200, r.text);
    return r.json.events;
}

test('a retry with the same key and body publishes once and answers 202 again, marked replayed',
    { timeout: 30000 }, async () => {
        const ch = channelName('idem');
        const key = newKey();
        const first = await publish({ channel: ch, data: 'once' }, key);
        assert.equal(first.status, 202, first.text);
        assert.deepEqual(first.json, { accepted: 1 });
        assert.equal(first.headers['idempotent-replayed'], undefined);
        for (let i = 0; i < 3; i++) {
            const again = await publish({ channel: ch, data: 'once' }, key);
            assert.equal(again.status, 202, again.text);
            assert.deepEqual(again.json, { accepted: 1 });
            assert.equal(again.headers['idempotent-replayed'], 'true');
        }
        assert.deepEqual((await history(ch)).map((e) => e.data), ['once']);
        // Another key with the same body is another publish.
        const other = await publish({ channel: ch, data: 'once' }, newKey());
        assert.equal(other.status, 202, other.text);
        assert.equal((await history(ch)).length, 2);
    });

test('?wait=1: a retry gets the first publish\'s ids, also when the first did not wait', { timeout: 30000 },
    async () => {
        const ch = channelName('idemw');
        const key = newKey();
        const body = [{ channel: ch, data: 1 }, { channel: ch, data: 2 }];
        const first = await publish(body, key, { wait: true });
        assert.equal(first.status, 200, first.text);
        assert.equal(first.json.ids.length, 2);
        const again = await publish(body, key, { wait: true });
        assert.equal(again.status, 200, again.text);
        assert.deepEqual(again.json, first.json);
        assert.equal(again.headers['idempotent-replayed'], 'true');

        const key2 = newKey();
        const nowait = await publish({ channel: ch, data: 3 }, key2);
        assert.equal(nowait.status, 202, nowait.text);
        const later = await publish({ channel: ch, data: 3 }, key2, { wait: true });
        assert.equal(later.status, 200, later.text);
        const events = await history(ch);
        assert.deepEqual(events.map((e) => e.data), [1, 2, 3]);
        assert.deepEqual(later.json.ids, [events[2].id]);
    });

test('the same key with another body (or another channel) → 422, nothing published', { timeout: 30000 },
    async () => {
        const ch = channelName('idemc');
        const key = newKey();
        assert.equal((await publish({ channel: ch, data: 'a' }, key, { wait: true })).status, 200);
        const before = (await s.stats()).published;
        for (const body of [{ channel: ch, data: 'b' }, { channel: `${ch}x`, data: 'a' },
            { channel: ch, data: 'a', event: 'other' }]) {
            const r = await publish(body, key);
            assertError(r, 422, `reuse with ${JSON.stringify(body)}`);
            assert.ok(!r.text.includes(key), 'the key is echoed in the error');
        }
        assert.deepEqual((await history(ch)).map((e) => e.data), ['a']);
        assert.equal((await s.stats()).published, before);
    });

test('concurrent publishes with one key: exactly one is queued, all answer 202 accepted', { timeout: 30000 },
    async () => {
        const ch = channelName('idemr');
        const key = newKey();
        const rs = await Promise.all(Array.from({ length: 8 }, () => publish({ channel: ch, data: 'race' }, key)));
        for (const r of rs) {
            assert.equal(r.status, 202, r.text);
            assert.deepEqual(r.json, { accepted: 1 });
        }
        assert.equal(rs.filter((r) => r.headers['idempotent-replayed'] === 'true').length, 7);
        assert.deepEqual((await history(ch)).map((e) => e.data), ['race']);
    });

test('the key is kept under COMET_PREFIX for COMET_IDEMPOTENCY_TTL seconds; rejected publishes keep none',
    { timeout: 30000 }, async () => {
        const ch = channelName('idemk');
        const key = newKey();
        assert.equal((await publish({ channel: ch, data: 1 }, key)).status, 202);
        const ttl = Number(await s.redis('PTTL', `comet:idem:${key}`));
        assert.ok(ttl > (TTL - 10) * 1000 && ttl <= TTL * 1000, `PTTL ${ttl}`);
        const bad = newKey();
        assertError(await publish({ channel: 'bad channel', data: 1 }, bad), 400, 'a bad body');
        assertError(await publish({ channel: ch, data: 1 }, bad, { key: 'wrong' }), 401, 'a wrong key');
        assert.equal(await s.redis('EXISTS', `comet:idem:${bad}`), '0');
        // After a rejection the key is still free to use.
        assert.equal((await publish({ channel: ch, data: 2 }, bad)).status, 202);
    });
