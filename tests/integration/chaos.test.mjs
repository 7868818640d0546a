// The short pass of make chaos (tests/chaos/chaos.mjs) in every deployment: Redis restarted
// and frozen, the active worker killed and frozen, comet.fcgi killed, the web server reloaded,
// one after another while events are published: every acknowledged event reaches every SSE,
// long-poll and XHR-stream subscriber exactly once, and delivery recovers after each fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos, formatReport } from '../chaos/chaos.mjs';

test('faults one after another: nothing acknowledged is lost or delivered twice, on any transport',
    { timeout: 300000 }, async (t) => {
        const r = await runChaos({ faultSeconds: 2, rate: 40 });
        t.diagnostic(formatReport(r));
        assert.ok(r.acknowledged > 0, 'nothing was acknowledged');
        for (const f of r.faults)
            assert.ok(f.note || f.recoveryMs >= 0, `${f.name}: delivery did not recover`);
        r.subscribers.forEach((x, i) => {
            assert.equal(x.lost, 0, `subscriber ${i} (${x.kind}) lost ${x.lost} acknowledged events`);
            assert.equal(x.duplicated, 0, `subscriber ${i} (${x.kind}) got ${x.duplicated} events twice`);
        });
    });
