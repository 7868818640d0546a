// checks.mjs: assertions the integration tests share (the HTTP contract's headers, error
// bodies, envelopes, delivery order). Each throws an AssertionError saying what differed.
import assert from 'node:assert/strict';
import { assertIncreasing } from './stack.mjs';

/** Headers every JSON answer carries. */
export function assertJsonHeaders(r, what = '') {
    assert.match(String(r.headers['content-type']), /^application\/json\b/, `${what} content-type`);
    assert.match(String(r.headers['cache-control']), /\bno-store\b/, `${what} cache-control`);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', `${what} x-content-type-options`);
}

/** An error answer: the status, a JSON body {"error": non-empty string}, the usual headers. */
export function assertError(r, status, what = '') {
    const label = `${what}: got ${r.status} ${JSON.stringify(r.text).slice(0, 300)}`;
    assert.equal(r.status, status, label);
    assert.ok(r.json && typeof r.json === 'object' && !Array.isArray(r.json), `${label}: body is not a JSON object`);
    assert.equal(typeof r.json.error, 'string', `${label}: no "error" string`);
    assert.ok(r.json.error.length > 0, `${label}: empty error`);
    assert.ok(!/<html|<!DOCTYPE/i.test(r.text), `${label}: HTML in the body`);
    assertJsonHeaders(r, what);
}

/** An envelope is exactly {id, channel, event, data} with the expected values. */
export function assertEnvelope(e, { channel, event = 'message', data }, what = 'envelope') {
    assert.ok(e && typeof e === 'object', `${what}: not an object: ${JSON.stringify(e)}`);
    assert.deepEqual(Object.keys(e).sort(), ['channel', 'data', 'event', 'id'], `${what}: fields`);
    assert.match(e.id, /^\d+-\d+$/, `${what}: id`);
    if (channel !== undefined) assert.equal(e.channel, channel, `${what}: channel`);
    assert.equal(e.event, event, `${what}: event`);
    if (data !== undefined) assert.deepEqual(e.data, data, `${what}: data`);
}

/**
 * A subscriber's envelopes are exactly the events 0..n-1 of each channel (data.seq), in
 * order, with strictly increasing ids (so no duplicates and no reordering).
 */
export function assertComplete(envs, counts, what = 'subscriber') {
    assertIncreasing(envs.map((e) => e.id), `${what} ids`);
    for (const [channel, n] of Object.entries(counts)) {
        const seqs = envs.filter((e) => e.channel === channel).map((e) => e.data.seq);
        if (seqs.length !== n || seqs.some((x, i) => x !== i)) {
            const firstBad = seqs.findIndex((x, i) => x !== i);
            assert.fail(`${what} on ${channel}: got ${seqs.length} of ${n} events; first out of place at ` +
                `${firstBad} (${seqs.slice(Math.max(0, firstBad - 2), firstBad + 3).join(',')})`);
        }
    }
    const other = envs.filter((e) => !(e.channel in counts));
    assert.equal(other.length, 0, `${what}: events of channels it did not subscribe to`);
}

/** Every SSE event's data is one line and an envelope whose id equals its id: field. */
export function assertSseEnvelopes(events, what = 'sse') {
    for (const e of events) {
        assert.equal(e.dataLines, 1, `${what}: envelope on ${e.dataLines} data lines`);
        assert.ok(e.json, `${what}: data is not JSON: ${e.data}`);
        assert.equal(e.id, e.json.id, `${what}: id: line ${e.id} differs from envelope id ${e.json.id}`);
        assert.equal(e.event, e.json.event, `${what}: event: line differs from envelope`);
        assert.equal(e.hasEventField, e.json.event !== 'message',
            `${what}: event: line ${e.hasEventField ? 'present' : 'absent'} for type ${e.json.event}`);
    }
}
