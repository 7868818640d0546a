// 1,000 rapid publishes (batches mixed with single publishes) to one channel, plus some to
// a second, reach 20 subscribers (long-poll and SSE) that drop and resume at random moments:
// each gets every event exactly once, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, channelName, sleep } from '../lib/stack.mjs';
import { assertComplete, assertSseEnvelopes } from '../lib/checks.mjs';

let s;
before(async () => {
    // Short heartbeats: an SSE process notices its client left within a few seconds.
    // Every client here is 127.0.0.1: the per-address limit (peraddr.test.mjs) is off.
    s = await startStack({ env: { COMET_MAX_WAITING_PER_ADDR: '0', COMET_SSE_HEARTBEAT: '2' } });
});
after(async () => {
    await s?.stop();
});

const rand = (a, b) => a + Math.floor(Math.random() * (b - a + 1));

test('1000 publishes reach 20 reconnecting subscribers complete, in order, without duplicates',
    { timeout: 150000 }, async (t) => {
        const A = channelName('fa');
        const B = channelName('fb');
        const N = 1000;
        const state = { publishing: true, nB: 0, chaos: true, failures: [], progress: Date.now(), stalled: false };
        const deadline = Date.now() + 120000;
        // Once publishing is over, 20 s without any subscriber receiving anything ends the wait.
        const going = () => Date.now() < deadline &&
            !(state.stalled ||= !state.publishing && Date.now() - state.progress > 20000);

        const want = (chans) => Object.fromEntries(chans.map((c) => [c, c === A ? N : state.nB]));
        const count = (got, c) => got.filter((e) => e.channel === c).length;
        const complete = (got, chans) => !state.publishing &&
            chans.every((c) => count(got, c) >= (c === A ? N : state.nB));

        async function poller(chans) {
            const me = { kind: 'poll', chans, got: [], reconnects: 0 };
            let cursor = '0';
            for (let i = 0; i < 100000 && !complete(me.got, chans) && going(); i++) {
                const ac = new AbortController();
                const timer = state.chaos ? setTimeout(() => ac.abort(), rand(30, 1200)) : null;
                try {
                    const r = await s.poll({ channel: chans, since: cursor, timeout: 5 }, { signal: ac.signal });
                    if (r.status !== 200) throw new Error(`poll answered ${r.status} ${r.text.slice(0, 200)}`);
                    me.got.push(...r.json.events);
                    if (r.json.events.length) state.progress = Date.now();
                    cursor = r.json.cursor;
                } catch (e) {
                    if (e.name !== 'AbortError') {
                        state.failures.push(`poller: ${e.message}`);
                        await sleep(100);
                    }
                    me.reconnects++;
                } finally {
                    clearTimeout(timer);
                }
            }
            return me;
        }

        async function streamer(chans, resumeBy) {
            const me = { kind: `sse/${resumeBy}`, chans, got: [], events: [], reconnects: 0 };
            let last;
            for (let i = 0; i < 10000 && !complete(me.got, chans) && going(); i++) {
                const params = { channel: chans };
                const o = {};
                if (last === undefined) params.since = 0;
                else if (resumeBy === 'header') o.lastEventId = last;
                else params.lastEventId = last;
                const r = s.sse(params, o);
                const stopAt = state.chaos ? Date.now() + rand(100, 1500) : Infinity;
                let seen = 0;
                const take = () => {
                    for (; seen < r.events.length; seen++) {
                        const e = r.events[seen];
                        if (e.event.startsWith('comet-')) continue;
                        me.events.push(e);
                        me.got.push(e.json);
                        state.progress = Date.now();
                    }
                    if (r.lastEventId) last = r.lastEventId;
                };
                for (let k = 0; k < 100000; k++) {
                    take();
                    if (r.done || Date.now() >= stopAt || complete(me.got, chans) || !going()) break;
                    await sleep(15);
                }
                r.close();
                take(); // what was parsed before the close counts; nothing after it does
                if (r.status && r.status !== 200) state.failures.push(`sse answered ${r.status}`);
                if (r.error) state.failures.push(`sse: ${r.error.message}`);
                me.reconnects++;
                if (!r.status) await sleep(100);
            }
            return me;
        }

        const subs = [];
        for (let i = 0; i < 5; i++) subs.push(poller([A]));
        for (let i = 0; i < 5; i++) subs.push(poller([A, B]));
        for (let i = 0; i < 5; i++) subs.push(streamer([A], i % 2 ? 'header' : 'param'));
        for (let i = 0; i < 5; i++) subs.push(streamer([A, B], i % 2 ? 'param' : 'header'));

        // Publisher: batches of 1..10 to A, now and then a B event alone or inside a batch.
        await sleep(500);
        let seqA = 0;
        let requests = 0;
        for (let i = 0; seqA < N && i < 5000; i++) {
            const kind = rand(0, 9);
            let body;
            if (kind < 4) body = { channel: A, data: { seq: seqA++ } };
            else if (kind === 4) body = { channel: B, data: { seq: state.nB++ } };
            else {
                body = [];
                const n = Math.min(rand(2, 10), N - seqA);
                for (let k = 0; k < n; k++) {
                    body.push({ channel: A, data: { seq: seqA++ } });
                    if (k === 1 && kind === 9) body.push({ channel: B, event: 'b', data: { seq: state.nB++ } });
                }
            }
            const r = await s.publish(body);
            requests++;
            assert.equal(r.status, 202, `publish ${i}: ${r.text}`);
            if (i % 4 === 0) await sleep(rand(0, 12));
        }
        assert.equal(seqA, N);
        state.progress = Date.now();
        state.publishing = false;
        await sleep(1000);
        state.chaos = false;
        const done = await Promise.all(subs);

        assert.equal(state.stalled, false, 'no subscriber received anything for 20 s: ' +
            `got ${done.map((m) => m.got.length).join(',')} events; worker log: ${s.tail('worker.log', 400)}`);
        assert.deepEqual(state.failures.slice(0, 5), [], 'request failures');
        const totalReconnects = done.reduce((n, m) => n + m.reconnects, 0);
        assert.ok(totalReconnects >= 40, `only ${totalReconnects} reconnects: the chaos did not happen`);
        done.forEach((m, i) => {
            assertComplete(m.got, want(m.chans), `subscriber ${i} (${m.kind} on ${m.chans.length} channels, ` +
                `${m.reconnects} reconnects)`);
            if (m.events) assertSseEnvelopes(m.events, `subscriber ${i}`);
        });
        // The history holds the same 1000, in the order the subscribers saw.
        const hist = await s.collect(A, 0, { count: N, timeoutMs: 30000 });
        assert.deepEqual(hist.events.map((e) => e.id), done[0].got.map((e) => e.id));
        const st = await s.stats();
        assert.ok(st.published >= N + state.nB, `stats.published ${st.published}`);
        t.diagnostic(`${requests} publish requests, ${state.nB} events on B, ${totalReconnects} reconnects`);
    });
