// chaos.mjs: fault injection against a private stack (tests/lib/stack.mjs, loopback only). A
// publisher sends events with ?wait=1 and an Idempotency-Key at a steady rate, retrying each
// until it is acknowledged (2xx); SSE, long-poll and XHR-stream subscribers follow them and
// resume by their cursor whenever their request ends. Faults come one after another (Redis
// restarted or frozen, the worker killed or frozen, comet.fcgi killed, the web server reloaded),
// each followed by the time until a new event reaches every subscriber again. At the end every
// acknowledged event must have reached every subscriber exactly once.
//   node tests/chaos/chaos.mjs            (make chaos: COMET_IT_SERVER=apache, then lighttpd)
//   CHAOS_FAULT_SECONDS, CHAOS_RATE        how long a freeze lasts (10), events per second (150)
// Bounded: every wait has a deadline, the whole run stops by itself, only its own processes are
// signalled (by pid).
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { startStack, channelName, sleep, until, query, openSse, SERVER, APART } from '../lib/stack.mjs';

/** The faults, each a function of the stack and the freeze length; APART deployments run
 * comet.fcgi as a daemon of their own, which nothing would restart after a kill. */
export const FAULTS = {
    'redis-restart': async (s) => {
        await s.stopComponent('redis');
        await s.startRedis();
    },
    'redis-freeze': (s, secs) => freeze(s.pid('redis'), secs),
    'worker-kill': async (s) => {
        await s.stopComponent('worker', { signal: 'SIGKILL' }); // worker-b stands by and takes over
        await s.startWorker('worker');
    },
    'worker-freeze': (s, secs) => freeze(s.pid('worker-b') || s.pid('worker'), secs / 2),
    'fcgi-kill': async (s) => {
        if (APART) return 'skipped: comet.fcgi runs as a daemon of its own here';
        for (const p of s.fcgiPids()) process.kill(p, 'SIGKILL');
        return null;
    },
    'web-reload': async (s) => {
        process.kill(s.pid('web'), SERVER === 'nginx' ? 'SIGHUP' : 'SIGUSR1');
    },
};

async function freeze(pid, secs) {
    process.kill(pid, 'SIGSTOP');
    try {
        await sleep(secs * 1000);
    } finally {
        process.kill(pid, 'SIGCONT');
    }
}

/** A subscriber that resumes by its cursor after every end; counts what it receives by seq. */
function subscriber(s, kind, ch, since) {
    const sub = { kind, got: new Map(), dups: 0, truncated: 0, requests: 0, cursor: since, stop: false };
    const take = (env) => {
        if (!env || env.channel !== ch) return;
        const seq = env.data.seq;
        sub.got.set(seq, (sub.got.get(seq) || 0) + 1);
        if (sub.got.get(seq) > 1) sub.dups++;
        sub.cursor = env.id;
    };
    const loops = { sse: sseLoop, poll: pollLoop, stream: streamLoop };
    sub.done = (async () => {
        for (let i = 0; !sub.stop && i < 100000; i++) {
            sub.requests++;
            try {
                await loops[kind](s, ch, sub, take);
            } catch {}
            if (!sub.stop) await sleep(200);
        }
    })();
    return sub;
}

async function sseLoop(s, ch, sub, take) {
    const r = openSse(`${s.url()}/sse${query({ channel: ch })}`, { headers: { 'Last-Event-ID': sub.cursor } });
    let seen = 0;
    try {
        await until(() => {
            for (; seen < r.events.length; seen++) {
                const e = r.events[seen];
                if (e.event === 'comet-truncated') sub.truncated++;
                else if (e.event === 'comet-open') sub.cursor = e.json.cursor;
                else take(e.json);
            }
            return r.done || sub.stop;
        }, 600000, 'the stream to end', 20);
    } finally {
        r.close();
    }
}

async function pollLoop(s, ch, sub, take) {
    const r = await s.poll({ channel: ch, since: sub.cursor, timeout: 5 }, { timeoutMs: 20000 });
    if (r.status !== 200 || !r.json) return;
    if (r.json.truncated) sub.truncated++;
    r.json.events.forEach(take);
    sub.cursor = r.json.cursor;
}

function streamLoop(s, ch, sub, take) {
    return new Promise((resolve) => {
        const req = http.get(`${s.url()}/stream${query({ channel: ch, since: sub.cursor })}`, (res) => {
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
                buf += d;
                for (let i; (i = buf.indexOf('\n')) >= 0;) {
                    const line = buf.slice(0, i).trim();
                    buf = buf.slice(i + 1);
                    let f;
                    try {
                        f = line ? JSON.parse(line) : null;
                    } catch {}
                    if (f?.truncated) sub.truncated++;
                    else if (f?.open) sub.cursor = f.cursor;
                    else if (f?.id) take(f);
                }
                if (sub.stop) req.destroy();
            });
            res.on('end', resolve);
            res.on('error', resolve);
        });
        req.on('error', resolve);
        req.setTimeout(600000, () => req.destroy());
    });
}

/** The publisher: lanes sending events in order, each retried with its key until acknowledged. */
function publisher(s, ch, rate, lanes = 8) {
    const pub = { acked: new Set(), unknown: 0, refused: 0, next: 0, stop: false };
    const gap = (1000 * lanes) / rate;
    pub.done = Promise.all([...Array(lanes)].map(async () => {
        while (!pub.stop) {
            const seq = pub.next++;
            const t = Date.now();
            await publishOne(s, ch, seq, pub);
            await sleep(Math.max(0, gap - (Date.now() - t)));
        }
    }));
    return pub;
}

async function publishOne(s, ch, seq, pub) {
    const key = `${ch}-${seq}`;
    const end = Date.now() + 120000;
    while (Date.now() < end) {
        const r = await s.publish({ channel: ch, data: { seq } }, { wait: true, timeoutMs: 30000,
            headers: { 'Idempotency-Key': key } }).catch(() => ({ status: 0 }));
        if (r.status >= 200 && r.status < 300) {
            pub.acked.add(seq);
            return true;
        }
        if (r.status === 504) pub.unknown++;
        else pub.refused++;
        await sleep(200);
    }
    return false;
}

/** Milliseconds until an event published now reaches every subscriber. */
async function recovery(s, ch, subs, pub, limitMs) {
    const t0 = Date.now();
    const seq = pub.next++;
    if (!await publishOne(s, ch, seq, pub)) return -1;
    await until(() => subs.every((x) => x.got.has(seq)), limitMs, `probe ${seq} delivered everywhere`, 20);
    return Date.now() - t0;
}

/**
 * Runs the faults against a new stack. Resolves with the report: acknowledged events,
 * per subscriber what it lost (acknowledged, never received), received twice, and its
 * truncated signals; per fault the recovery time.
 */
export async function runChaos({ faults = Object.keys(FAULTS), faultSeconds = 10, rate = 150, subs: kinds,
    env = {} } = {}) {
    const s = await startStack({ workers: [{ name: 'worker' }, { name: 'worker-b' }],
        env: { COMET_PUBLISH_WAIT: '5', COMET_SSE_HEARTBEAT: '2', ...env } });
    const ch = channelName('chaos');
    const report = { server: SERVER, faults: [], subscribers: [] };
    try {
        const [start] = await s.publishIds({ channel: ch, data: { seq: -1 } });
        kinds ??= ['sse', 'sse', 'sse', 'sse', 'poll', 'poll', 'poll', 'poll', 'stream', 'stream'];
        const subs = kinds.map((k) => subscriber(s, k, ch, start));
        const pub = publisher(s, ch, rate);
        await recovery(s, ch, subs, pub, 60000); // every subscriber is live
        for (const name of faults) {
            const t = Date.now();
            const note = await FAULTS[name](s, faultSeconds);
            report.faults.push({ name, faultMs: Date.now() - t, note,
                recoveryMs: note ? null : await recovery(s, ch, subs, pub, 60000) });
            await sleep(1000); // a second of traffic between two faults
        }
        pub.stop = true;
        await pub.done;
        const acked = [...pub.acked];
        await until(() => subs.every((x) => acked.every((q) => x.got.has(q))), 60000,
            'every acknowledged event at every subscriber').catch(() => {});
        for (const x of subs) {
            x.stop = true;
            report.subscribers.push({ kind: x.kind, received: x.got.size, lost: acked.filter((q) => !x.got.has(q)).length,
                duplicated: x.dups, truncated: x.truncated, requests: x.requests });
        }
        Object.assign(report, { acknowledged: acked.length, unknown: pub.unknown, refused: pub.refused });
        await Promise.race([Promise.all(subs.map((x) => x.done)), sleep(10000)]);
    } finally {
        await s.stop();
    }
    return report;
}

/** The report as the lines printed by make chaos. */
export function formatReport(r) {
    const lines = [`chaos behind ${r.server}: ${r.acknowledged} events acknowledged ` +
        `(${r.unknown} answers 504 unknown, ${r.refused} refused, all retried with their key)`];
    for (const f of r.faults)
        lines.push(`  ${f.name.padEnd(14)} fault ${String(f.faultMs).padStart(6)} ms   ` +
            (f.note ? f.note : `recovered in ${f.recoveryMs} ms`));
    r.subscribers.forEach((x, i) => lines.push(`  subscriber ${i} ${x.kind.padEnd(6)} received ${x.received}, ` +
        `lost ${x.lost}, duplicated ${x.duplicated}, truncated ${x.truncated}, requests ${x.requests}`));
    return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const r = await runChaos({ faultSeconds: Number(process.env.CHAOS_FAULT_SECONDS || 10),
        rate: Number(process.env.CHAOS_RATE || 150) });
    console.log(formatReport(r));
    const bad = r.subscribers.filter((x) => x.lost || x.duplicated).length;
    console.log(`chaos behind ${r.server}: ${bad ? 'FAILED' : 'ok'}`);
    process.exit(bad ? 1 : 0);
}
