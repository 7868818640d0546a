// mod_fcgid's two process classes (apache-conf/comet.conf): the requests that wait run as
// `comet.fcgi -L wait`, publishes and /stats as `comet.fcgi -L short`. mod_fcgid hands a
// request an idle process of its class; when it finds none while some of the class are busy,
// it sleeps a second and then starts one. Waiting clients keep every process of their class
// busy, so a publish sharing their class would wait that second (issue 11: 1,004 ms).
// No time is measured here (benchmarks do that: bench/apache-short.sh). What is checked is
// the cause: once the polls hold every process of their class, the publish and the /stats
// each find an idle process of their own, so mod_fcgid starts no process for them; and the
// publish's log line names a process that existed before and holds no waiting request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startStack, channelName, request, until, ROOT, SERVER, WAIT_MS } from '../lib/stack.mjs';

const SKIP = SERVER !== 'apache' && 'mod_fcgid only: in external mode one process answers every request';
// A key of its own, so that the publish's log line ("N events by classcheck") is found.
const KEY = crypto.randomBytes(16).toString('hex');

let s;
before(async () => {
    if (SKIP) return;
    // An accepted publish is a debug line (not one info line per request by default).
    s = await startStack({ env: { COMET_PUBLISH_KEYS: `classcheck=${KEY}`, COMET_LOG_LEVEL: 'debug' } });
});
after(async () => {
    await s?.stop();
});

/** "PID command line" of a process, for failure messages. */
function describe(pid) {
    try {
        return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`;
    } catch {
        return `${pid} (gone)`;
    }
}

/** Pids of the processes that hold a waiting request: the waiting set's members are HOST:PID:N. */
async function holders() {
    return new Set([...(await s.waitingSet())].map((m) => Number(m.split(':').at(-2))));
}

test('with polls holding every process of their class, a publish and a /stats find an idle process of ' +
    'their own class: mod_fcgid starts none for them (so none waits its 1 s)', { timeout: 120000, skip: SKIP },
async () => {
    const ch = channelName('held');
    // The short class gets its process (a class's first process starts without the pause).
    const warm = await request(`${s.url()}/stats`, { timeoutMs: WAIT_MS });
    assert.equal(warm.status, 200, warm.text);
    const polls = [];
    try {
        // Polls one at a time (each counted waiting in Redis, not through /stats), until one
        // makes mod_fcgid start a process: it starts one only when no process of the class is
        // idle, so from then on the polls hold every process of their class.
        let pids = new Set(s.fcgiPids());
        for (let grew = false, i = 0; !grew; i++) {
            assert.ok(i < 20, `20 polls wait and mod_fcgid started no process for them: ${[...pids].map(describe)}`);
            const { req } = await s.whenWaiting(() => s.poll({ channel: ch, timeout: 30 }, { timeoutMs: 60000 }));
            polls.push(req);
            const now = new Set(s.fcgiPids());
            grew = [...now].some((p) => !pids.has(p));
            pids = now;
        }
        const held = await holders();

        const pub = await s.publish({ channel: channelName('other'), data: 'short' }, { key: KEY });
        assert.equal(pub.status, 202, pub.text);
        const stats = await request(`${s.url()}/stats`, { timeoutMs: WAIT_MS });
        assert.equal(stats.status, 200, stats.text);
        const started = s.fcgiPids().filter((p) => !pids.has(p));
        assert.deepEqual(started.map(describe), [], 'mod_fcgid started a process for the publish or the /stats: ' +
            `no process of their class was idle (the polls hold ${[...held].map(describe)})`);

        const line = /level=debug prog=comet\.fcgi(?::[A-Za-z0-9_.-]+)? pid=(\d+) msg=\"publish: 1 events by classcheck\"/;
        const m = await until(() => line.exec(s.tail(s.fcgiLog(), 1 << 20)), WAIT_MS,
            () => `the publish's log line: ${s.tail(s.fcgiLog(), 600)}`);
        const pid = Number(m[1]);
        assert.ok(pids.has(pid), `the publish was answered by ${describe(pid)}, not by a process that was there`);
        assert.ok(!held.has(pid), `the publish was answered by ${describe(pid)}, which holds a waiting poll`);
    } finally {
        // Let the polls go (an event on their channel), rather than leave them to the stop.
        if (polls.length) await s.publish({ channel: ch, data: 'go' }, { key: KEY }).catch(() => {});
        await Promise.allSettled(polls);
    }
});

test('-L NAME labels the log lines (the shipped conf: prog=comet.fcgi:short for a publish); a label that ' +
    'is not 1 to 32 of A-Z a-z 0-9 _ . - is refused with the usage', { timeout: 30000, skip: SKIP }, async () => {
    const bin = path.resolve(ROOT, process.env.COMET_BIN_DIR || 'build', 'comet.fcgi');
    for (const bad of ['', 'a b', 'x'.repeat(33), 'wait]', 'é']) {
        const r = spawnSync(bin, ['-L', bad, '-n'], { encoding: 'utf8', timeout: 10000 });
        assert.equal(r.status, 2, `-L ${JSON.stringify(bad)}: exit ${r.status}, ${r.stderr}`);
        assert.match(r.stderr, /^usage: comet\.fcgi .*-L NAME/, `-L ${JSON.stringify(bad)}`);
    }
    const ok = spawnSync(bin, ['-L', 'x'.repeat(32), '-n'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(ok.status, 0, ok.stderr);
    const pub = await s.publish({ channel: channelName('label'), data: 'label' }, { key: KEY });
    assert.equal(pub.status, 202, pub.text);
    await until(() => /prog=comet\.fcgi:short pid=\d+ msg=\"publish: 1 events by classcheck\"/.test(s.tail(s.fcgiLog(), 1 << 20)),
        WAIT_MS, () => `a publish's log line from the short class: ${s.tail(s.fcgiLog(), 600)}`);
});
