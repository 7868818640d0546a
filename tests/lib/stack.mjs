// stack.mjs: the integration tests' harness. Starts one private stack (Redis, worker(s),
// web node(s)) through tests/stack.sh on free loopback ports in a run folder of its own,
// and gives tests small clients for publish, poll, SSE and stats. A web node is what
// COMET_IT_SERVER names (see SERVER below). It knows nothing of what a test checks; how a
// component starts is stack.sh's business.
// Only Node built-ins; every wait is bounded in time and every loop in count.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STACK_SH = path.join(ROOT, 'tests/stack.sh');
const HOST = '127.0.0.1';

/**
 * The deployment every web node of every stack is, from COMET_IT_SERVER:
 *   apache    Apache + mod_fcgid: one request per comet.fcgi process (the default)
 *   lighttpd  lighttpd spawning `comet.fcgi -e` (external mode: one process, the hub)
 *   proxy     `comet.fcgi -s DIR/comet.sock` on its own, Apache + mod_proxy_fcgi in front
 *   nginx     `comet.fcgi -s DIR/comet.sock` on its own, nginx (fastcgi_pass) in front
 */
export const SERVER = process.env.COMET_IT_SERVER || 'apache';
if (!['apache', 'lighttpd', 'proxy', 'nginx'].includes(SERVER))
    throw new Error(`COMET_IT_SERVER=${SERVER}: use apache, lighttpd, proxy or nginx`);
/** True when comet.fcgi runs in external mode (one process holds every waiting request). */
export const EXTERNAL = SERVER !== 'apache';
/** True when comet.fcgi runs apart from the web server (its own pid file, fcgi.pid). */
export const APART = SERVER === 'proxy' || SERVER === 'nginx';
// The pid files (DIR/NAME.pid) a web node's stack.sh component writes, front first.
const WEB_PARTS = { apache: ['apache'], lighttpd: ['lighttpd'], proxy: ['apache', 'fcgi'], nginx: ['nginx', 'fcgi'] }[SERVER];
// Component names whose pid files live in a web node's folder; 'web' is its front server.
const WEB_NAMES = new Set(['apache', 'lighttpd', 'nginx', 'fcgi', 'web']);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Budgets for a loaded machine (2 cores, the sanitizer build, other work beside the tests):
 *   WAIT_MS    how long a test waits for what should happen at once (a request to be
 *              waiting, a stream to open, an event to arrive, a process to go). A deadline
 *              costs nothing when things go right, so it is generous.
 *   PROMPT_MS  the most an answer may take to count as "at once" (a waiting request woken
 *              by an event, a refusal) where the alternative is waiting for a timeout: the
 *              tests' waiting polls use timeouts of 20 s or more, so this still tells them apart.
 */
export const WAIT_MS = 20000;
export const PROMPT_MS = 10000;

// ---------------------------------------------------------------------------------------
// Event ids ("MS-N") and small checks shared by the tests.

/** Parses "MS-N" (or "0") into [BigInt ms, BigInt n]; throws on anything else. */
export function parseId(id) {
    if (id === '0') return [0n, 0n];
    const m = /^(\d+)-(\d+)$/.exec(String(id));
    if (!m) throw new Error(`not an event id: ${JSON.stringify(id)}`);
    return [BigInt(m[1]), BigInt(m[2])];
}

/** <0, 0, >0 as id a is before, equal to, after id b. */
export function cmpId(a, b) {
    const [am, an] = parseId(a);
    const [bm, bn] = parseId(b);
    if (am !== bm) return am < bm ? -1 : 1;
    if (an !== bn) return an < bn ? -1 : 1;
    return 0;
}

/** Throws unless ids are strictly increasing (so also free of duplicates). */
export function assertIncreasing(ids, what = 'ids') {
    for (let i = 1; i < ids.length; i++) {
        if (cmpId(ids[i - 1], ids[i]) >= 0)
            throw new Error(`${what}: not strictly increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`);
    }
}

/**
 * Resolves when pred() is truthy (returns its value); rejects after ms. what names the
 * condition for the failure message; a function is called then, to say what was seen.
 */
export async function until(pred, ms, what = 'condition', step = 50) {
    const end = Date.now() + ms;
    const say = () => (typeof what === 'function' ? what() : what);
    for (let i = 0; i < 100000; i++) {
        const v = await pred();
        if (v) return v;
        if (Date.now() >= end) throw new Error(`timed out after ${ms} ms waiting for ${say()}`);
        await sleep(step);
    }
    throw new Error(`gave up waiting for ${say()}`);
}

// ---------------------------------------------------------------------------------------
// Processes and ports.

/** A free TCP port on 127.0.0.1 (bound to port 0, read back, released). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, HOST, () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/** Runs cmd args (no shell); resolves {code, err, stdout, stderr}, never rejects. */
export function run(cmd, args, { env, timeoutMs = 60000, cwd = ROOT } = {}) {
    return new Promise((resolve) => {
        execFile(cmd, args, { env, timeout: timeoutMs, cwd, maxBuffer: 16 << 20 },
            (err, stdout, stderr) => resolve({ code: err ? (err.code ?? -1) : 0, err, stdout, stderr }));
    });
}

/** 1 while pid names a live (not zombie) process. */
export function alive(pid) {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return !/^\d+ \(.*\) Z /s.test(stat);
    } catch {
        return false;
    }
}

/** Parent pid of pid, or 0. */
function ppid(pid) {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
        return 0;
    }
}

/**
 * Watches requests (promises of polls, say) that should still be waiting: returns a function
 * that says how the first of them ended ("answered 200 …", "failed: …"), or null while none has.
 */
function answeredEarly(requests) {
    let early = null;
    for (const p of requests) {
        if (!p || typeof p.then !== 'function') continue;
        p.then((r) => (early ??= `answered ${r && r.status} ${String(r && r.text).slice(0, 300)}`),
            (e) => (early ??= `failed: ${e.message}`));
    }
    return () => early;
}

/**
 * Ends a client socket with a reset (RST) rather than a close (FIN), while it can: only while
 * its writing side is open. Once a shutdown is under way (the server closed first, so Node
 * ended our side too), Node 20 refuses the reset (EINVAL) and leaves the handle half closed,
 * which then keeps the process spinning at exit; such a socket is destroyed instead.
 */
export function resetSocket(sock) {
    if (!sock || sock.destroyed) return;
    if (sock.writable && !sock.writableEnded && !sock.connecting) sock.resetAndDestroy();
    else sock.destroy();
}

/** Pids of processes whose cmdline contains needle and whose parent chain reaches root. */
export function descendants(root, needle) {
    const out = [];
    for (const e of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(e)) continue;
        const pid = Number(e);
        let cmd;
        try {
            cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
            continue;
        }
        if (!cmd.includes(needle) || !alive(pid)) continue;
        for (let p = ppid(pid), i = 0; p > 1 && i < 16; p = ppid(p), i++) {
            if (p === root) {
                out.push(pid);
                break;
            }
        }
    }
    return out;
}

function readPid(file) {
    try {
        const n = Number(fs.readFileSync(file, 'utf8').trim());
        return Number.isInteger(n) && n > 1 ? n : 0;
    } catch {
        return 0;
    }
}

// Every live stack, so an exit or a signal stops what the tests started.
const live = new Set();
let handlersInstalled = false;

function stopSync(stack) {
    for (const d of stack.dirs().reverse())
        spawnSync(STACK_SH, ['stop', d], { cwd: ROOT, timeout: 30000, stdio: 'ignore' });
    killLeftovers(stack);
}

// Whatever stack.sh could not stop (or when it is missing): KILL by pid file.
function killLeftovers(stack) {
    for (const d of stack.dirs()) {
        let names = [];
        try {
            names = fs.readdirSync(d).filter((f) => f.endsWith('.pid'));
        } catch {}
        for (const f of names) {
            const pid = readPid(path.join(d, f));
            if (pid && alive(pid)) {
                try {
                    process.kill(pid, 'SIGKILL');
                } catch {}
            }
        }
    }
}

function installHandlers() {
    if (handlersInstalled) return;
    handlersInstalled = true;
    process.on('exit', () => {
        for (const s of live) stopSync(s);
        live.clear();
    });
    for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
        process.on(sig, () => {
            for (const s of live) stopSync(s);
            live.clear();
            process.exit(128 + n);
        });
    }
}

// ---------------------------------------------------------------------------------------
// HTTP: one connection per request (agent: false) so aborts and server closes are exact.

/**
 * Sends one request to url. Resolves {status, headers, text, json, ms} (json undefined
 * when the body is not JSON). Rejects on a network error, on signal, or after timeoutMs.
 */
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 60000, signal } = {}) {
    return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const u = new URL(url);
        const h = { ...headers };
        if (body !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-length'))
            h['Content-Length'] = Buffer.byteLength(body);
        const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method,
            headers: h, agent: false, signal });
        const timer = setTimeout(() => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)),
            timeoutMs);
        req.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        req.on('response', (res) => {
            res.setEncoding('utf8');
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('error', (e) => {
                clearTimeout(timer);
                reject(e);
            });
            res.on('end', () => {
                clearTimeout(timer);
                let json;
                try {
                    json = JSON.parse(text);
                } catch {}
                resolve({ status: res.statusCode, headers: res.headers, text, json, ms: Date.now() - t0 });
            });
        });
        req.end(body);
    });
}

/** Builds a query string; array values repeat the name (channel=a&channel=b). */
export function query(params = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
        if (v === undefined || v === null) continue;
        for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
    }
    const s = q.toString();
    return s ? `?${s}` : '';
}

/**
 * Raw request over a TCP socket (for what http.request will not send, e.g. a POST
 * without Content-Length). Resolves {status, head, body, text} once the server closes
 * or timeoutMs passes (then with what arrived).
 */
export function rawRequest(port, text, { timeoutMs = 15000 } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: HOST, port });
        let buf = '';
        const done = () => {
            clearTimeout(timer);
            sock.destroy();
            const i = buf.indexOf('\r\n\r\n');
            const head = i < 0 ? buf : buf.slice(0, i);
            const m = /^HTTP\/1\.\d (\d{3})/.exec(head);
            resolve({ status: m ? Number(m[1]) : 0, head, body: i < 0 ? '' : buf.slice(i + 4), text: buf });
        };
        const timer = setTimeout(done, timeoutMs);
        sock.setEncoding('utf8');
        sock.on('data', (d) => {
            buf += d;
            // One response is enough: stop at the end of a Content-Length body.
            const i = buf.indexOf('\r\n\r\n');
            const cl = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, i < 0 ? 0 : i));
            if (i >= 0 && cl && Buffer.byteLength(buf.slice(i + 4)) >= Number(cl[1])) done();
        });
        sock.on('end', done);
        sock.on('error', (e) => (buf ? done() : (clearTimeout(timer), reject(e))));
        sock.write(text);
    });
}

/** Decodes a chunked transfer-encoded body (for rawRequest answers). */
export function unchunk(body) {
    let out = '';
    let rest = body;
    for (let i = 0; i < 10000; i++) {
        const j = rest.indexOf('\r\n');
        if (j < 0) break;
        const n = parseInt(rest.slice(0, j), 16);
        if (!n) break;
        out += rest.slice(j + 2, j + 2 + n);
        rest = rest.slice(j + 2 + n + 2);
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events: an incremental parser (per the HTML spec's rules) and a reader.

/**
 * Parses an event stream as it arrives. items, in order of arrival:
 *   {type:'retry', value}            a valid retry: field
 *   {type:'comment', text, bytes}    a ':' line (text without the ':'; bytes with its newline)
 *   {type:'event', id, lastEventId, event, hasEventField, data, dataLines, json}
 *   {type:'id', id}                  a block that carried an id: but no data
 * lastEventId is what EventSource would resume from: updated only when a block ends.
 *   {type:'other', line}             anything else (unknown field or junk)
 */
export class SseParser {
    constructor() {
        this.buf = '';
        this.items = [];
        this.events = [];
        this.comments = [];
        this.lastEventId = ''; // committed when a block ends, as EventSource does
        this.idBuffer = '';
        this.retry = null;
        this.reset();
    }

    reset() {
        this.data = [];
        this.type = null;
        this.blockId = undefined;
    }

    push(chunk) {
        this.buf += chunk;
        for (let k = 0; k < 1e6; k++) {
            const i = this.buf.search(/[\r\n]/);
            if (i < 0) break;
            if (this.buf[i] === '\r' && i === this.buf.length - 1) break; // may be \r\n split
            const len = this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? 2 : 1;
            const line = this.buf.slice(0, i);
            this.buf = this.buf.slice(i + len);
            this.line(line, len);
        }
    }

    line(line, eol = 1) {
        if (line === '') return this.dispatch();
        if (line[0] === ':') {
            const c = { type: 'comment', text: line.slice(1), bytes: line.length + eol };
            this.items.push(c);
            this.comments.push(c);
            return;
        }
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? '' : line.slice(i + 1);
        if (value[0] === ' ') value = value.slice(1);
        if (field === 'data') this.data.push(value);
        else if (field === 'event') this.type = value;
        else if (field === 'id') {
            if (!value.includes('\0')) {
                this.idBuffer = value;
                this.blockId = value;
            }
        } else if (field === 'retry') {
            if (/^\d+$/.test(value)) {
                this.retry = Number(value);
                this.items.push({ type: 'retry', value: this.retry });
            } else this.items.push({ type: 'other', line });
        } else this.items.push({ type: 'other', line });
    }

    /** End of stream: a last unterminated line is still read; an unfinished block is dropped. */
    end() {
        if (this.buf !== '') this.line(this.buf.replace(/\r$/, ''));
        this.buf = '';
        this.reset();
    }

    dispatch() {
        this.lastEventId = this.idBuffer;
        if (this.data.length) {
            const data = this.data.join('\n');
            let json;
            try {
                json = JSON.parse(data);
            } catch {}
            const e = { type: 'event', id: this.blockId, lastEventId: this.lastEventId,
                event: this.type ?? 'message', hasEventField: this.type !== null, data,
                dataLines: this.data.length, json };
            this.items.push(e);
            this.events.push(e);
        } else if (this.blockId !== undefined) {
            this.items.push({ type: 'id', id: this.blockId });
        }
        this.reset();
    }
}

/**
 * Opens an SSE request and parses it as it streams. The reader:
 *   opened            promise of {status, headers} (rejects on a connection error)
 *   status, headers   once opened; raw: every byte so far (string)
 *   events, items, comments, lastEventId, retry   from the parser
 *   envelopes, opens  the events that are envelopes; the comet-open frames
 *   done, endedAt     true once the server ended the response (or it failed: error)
 *   waitEvents(n, ms), waitEnvelopes(n, ms), waitOpen(ms), waitFor(pred, ms), waitEnd(ms), close(), reset()
 */
export function openSse(url, { headers = {} } = {}) {
    const parser = new SseParser();
    const waiters = new Set();
    const t0 = Date.now();
    const r = {
        parser, raw: '', status: 0, headers: {}, done: false, error: null, closed: false,
        startedAt: t0, endedAt: 0,
        get events() { return parser.events; },
        /** The events that are envelopes (not the server's own comet-* signals). */
        get envelopes() { return parser.events.filter((e) => !e.event.startsWith('comet-')); },
        /** The comet-open frames ({cursor, open:true}: the stream is live, after any replay). */
        get opens() { return parser.events.filter((e) => e.event === 'comet-open'); },
        get items() { return parser.items; },
        get comments() { return parser.comments; },
        get lastEventId() { return parser.lastEventId; },
        get retry() { return parser.retry; },
        json() { return JSON.parse(r.raw); },
    };
    const notify = () => {
        for (const w of [...waiters]) w();
    };
    /** Resolves with pred()'s value once truthy; rejects after ms or when the stream ends first. */
    r.waitFor = (pred, ms = WAIT_MS, what = 'condition') => new Promise((resolve, reject) => {
        let timer;
        const check = () => {
            let v;
            try {
                v = pred(r);
            } catch (e) {
                waiters.delete(check);
                clearTimeout(timer);
                return reject(e);
            }
            if (v) {
                waiters.delete(check);
                clearTimeout(timer);
                resolve(v);
            } else if (r.done) {
                waiters.delete(check);
                clearTimeout(timer);
                reject(new Error(`SSE ended (${r.error ? r.error.message : 'by the server'}) before ${what}; ` +
                    `got ${parser.events.length} events; raw tail: ${JSON.stringify(r.raw.slice(-300))}`));
            }
        };
        timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`SSE: timed out after ${ms} ms waiting for ${what}; got ${parser.events.length} ` +
                `events; raw tail: ${JSON.stringify(r.raw.slice(-300))}`));
        }, ms);
        waiters.add(check);
        check();
    });
    r.waitEvents = (n, ms = WAIT_MS) => r.waitFor(() => parser.events.length >= n && parser.events.slice(0, n),
        ms, `${n} events`);
    r.waitEnvelopes = (n, ms = WAIT_MS) => r.waitFor(() => {
        const e = r.envelopes;
        return e.length >= n && e.slice(0, n);
    }, ms, `${n} envelopes`);
    /** Resolves with the first comet-open frame: the server has subscribed and replayed. */
    r.waitOpen = (ms = WAIT_MS) => r.waitFor(() => r.opens[0], ms, 'the comet-open frame');
    /** Resolves when the response has ended (by the server, or by close()); rejects after ms. */
    r.waitEnd = (ms = WAIT_MS) => new Promise((resolve, reject) => {
        let timer;
        const check = () => {
            if (!r.done) return;
            waiters.delete(check);
            clearTimeout(timer);
            resolve(r);
        };
        timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`SSE: still open after ${ms} ms; raw tail: ${JSON.stringify(r.raw.slice(-300))}`));
        }, ms);
        waiters.add(check);
        check();
    });
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET',
        headers: { Accept: 'text/event-stream', ...headers }, agent: false });
    const finish = (err) => {
        if (r.done) return;
        if (err && !r.closed) r.error = err;
        r.done = true;
        r.endedAt = Date.now();
        parser.end();
        notify();
    };
    r.opened = new Promise((resolve, reject) => {
        req.on('response', (res) => {
            r.status = res.statusCode;
            r.headers = res.headers;
            r.res = res;
            res.setEncoding('utf8');
            res.on('data', (d) => {
                r.raw += d;
                parser.push(d);
                notify();
            });
            res.on('end', () => finish(null));
            res.on('error', (e) => finish(e));
            res.on('aborted', () => finish(new Error('aborted')));
            res.on('close', () => finish(null));
            resolve({ status: r.status, headers: r.headers });
        });
        req.on('error', (e) => {
            finish(e);
            reject(e);
        });
    });
    r.opened.catch(() => {});
    // A stream is never kept past 5 minutes, whatever a test forgets.
    const guard = setTimeout(() => r.close(), 300000);
    guard.unref();
    r.close = () => {
        r.closed = true;
        clearTimeout(guard);
        req.destroy();
        finish(null);
    };
    /** Like close(), but the connection is reset (RST) rather than closed (FIN) where it can be (resetSocket). */
    r.reset = () => {
        resetSocket(req.socket);
        r.close();
    };
    req.end();
    return r;
}

// ---------------------------------------------------------------------------------------
// The stack.

function norm(list, n, make) {
    if (Array.isArray(list)) return list.map((x, i) => make(x || {}, i));
    return Array.from({ length: n }, (_, i) => make({}, i));
}

/**
 * Starts a stack. opts:
 *   env      COMET_* overrides for every component
 *   web      number of web nodes (default 1), or an array of {env} per node; each node is
 *            a SERVER deployment of its own (`apache` is the older name of this option)
 *   workers  number of workers (default 1; 0 for none), or an array of {name, env}
 *   name     run folder name prefix (default: the test file's name)
 *   server   the tests/stack.sh component of the web nodes, when not SERVER's: 'htaccess' (Apache +
 *            mod_fcgid through apache-conf/htaccess.example) where SERVER is apache
 * Returns the stack object; always call s.stop() in after().
 */
export async function startStack(opts = {}) {
    if (!fs.existsSync(STACK_SH)) throw new Error(`${STACK_SH} is missing`);
    installHandlers();
    const base = path.resolve(ROOT, process.env.COMET_TEST_RUNS || 'build/test-runs');
    fs.mkdirSync(base, { recursive: true, mode: 0o755 });
    fs.chmodSync(base, 0o755);
    const name = opts.name || path.basename(process.argv[1] || 'stack').replace(/\.test\.mjs$|\.m?js$/, '');
    const dir = fs.mkdtempSync(path.join(base, `${name}-`));
    fs.chmodSync(dir, 0o755);

    const key = crypto.randomBytes(16).toString('hex');
    const webOpt = opts.web ?? opts.apache ?? 1;
    const webs = norm(webOpt, typeof webOpt === 'number' ? webOpt : 1,
        (a, i) => ({ env: a.env || {}, dir: i === 0 ? dir : path.join(dir, `web-${i}`), port: 0 }));
    const workers = norm(opts.workers ?? 1, typeof opts.workers === 'number' ? opts.workers : 1,
        (w, i) => ({ name: w.name || (i === 0 ? 'worker' : `worker${i + 1}`), env: w.env || {} }));

    const s = {
        dir, key, redisPort: 0, webs, server: SERVER, external: EXTERNAL, workerNames: workers.map((w) => w.name),
        log: [], redisEnv: {},
    };
    s.dirs = () => [dir, ...webs.slice(1).map((a) => a.dir)];
    s.env = (extra = {}) => {
        const env = { ...process.env };
        env.COMET_REDIS_HOST = HOST;
        env.COMET_REDIS_PORT = String(s.redisPort);
        env.COMET_PUBLISH_KEYS = key;
        return { ...env, ...(opts.env || {}), ...s.redisEnv, ...extra };
    };
    s.sh = async (args, extraEnv = {}, timeoutMs = 90000) => {
        const r = await run(STACK_SH, args, { env: s.env(extraEnv), timeoutMs });
        s.log.push({ args, code: r.code, stderr: r.stderr });
        if (r.code !== 0)
            throw new Error(`tests/stack.sh ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
        return r;
    };
    live.add(s);

    s.startRedis = async () => {
        await s.sh(['redis', dir, String(s.redisPort)]);
    };
    s.startWorker = async (wname = 'worker', env = {}) => {
        await s.sh(['worker', dir, wname], env);
    };
    /** Starts web node i (tests/stack.sh SERVER DIR PORT) on its port. */
    s.startWeb = async (i = 0) => {
        const a = webs[i];
        fs.mkdirSync(a.dir, { recursive: true, mode: 0o755 });
        fs.chmodSync(a.dir, 0o755);
        await s.sh([opts.server ?? SERVER, a.dir, String(a.port)], a.env);
    };
    s.startApache = s.startWeb; // the older name (tests/browser)

    try {
        // A port can be taken between freePort() and the server's bind: try a few.
        for (let i = 0; ; i++) {
            s.redisPort = await freePort();
            try {
                await s.startRedis();
                break;
            } catch (e) {
                if (i >= 2) throw e;
            }
        }
        // What the Redis side adds (replicas, Sentinels) and the settings that point to it.
        if (opts.afterRedis) s.redisEnv = await opts.afterRedis(s);
        for (const w of workers) await s.startWorker(w.name, w.env);
        for (let i = 0; i < webs.length; i++) {
            for (let k = 0; ; k++) {
                webs[i].port = await freePort();
                try {
                    await s.startWeb(i);
                    break;
                } catch (e) {
                    if (k >= 2) throw e;
                }
            }
        }
    } catch (e) {
        stopSync(s);
        live.delete(s);
        throw e;
    }

    /** Base URL of instance i's comet endpoints, e.g. http://127.0.0.1:PORT/comet */
    s.url = (i = 0) => `http://${HOST}:${webs[i].port}/comet`;
    s.port = (i = 0) => webs[i].port;

    // A component's pid file: a web node's parts (apache, lighttpd, fcgi; 'web' is the
    // front server) in that node's folder, Redis and the workers in the stack's.
    const pidFile = (cname, instance) => {
        const name = cname === 'web' ? WEB_PARTS[0] : cname;
        return path.join(WEB_NAMES.has(cname) ? webs[instance].dir : dir, `${name}.pid`);
    };

    /** The pid in a component's pid file (a web node's part: of node `instance`), or 0. */
    s.pid = (cname, instance = 0) => readPid(pidFile(cname, instance));

    /**
     * Stops one component by its pid file with signal (SIGTERM by default, SIGKILL after
     * 15 s), waits until it is gone, and removes the pid file. Returns the pid.
     */
    s.stopComponent = async (cname, { signal = 'SIGTERM', instance = 0, timeoutMs = 15000 } = {}) => {
        const file = pidFile(cname, instance);
        const pid = readPid(file);
        if (!pid) throw new Error(`no pid in ${file}`);
        try {
            process.kill(pid, signal);
        } catch {}
        const end = Date.now() + timeoutMs;
        while (alive(pid) && Date.now() < end) await sleep(50);
        if (alive(pid)) {
            try {
                process.kill(pid, 'SIGKILL');
            } catch {}
            for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
        }
        fs.rmSync(file, { force: true });
        return pid;
    };

    /** redis-cli -p PORT args… against the test Redis; resolves its stdout, trimmed. */
    s.redis = async (...args) => {
        const r = await run('redis-cli', ['-h', HOST, '-p', String(s.redisPort), ...args.map(String)],
            { timeoutMs: 15000 });
        if (r.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
        return r.stdout.trim();
    };

    /** CLIENT LIST of the test Redis: one object per connection ({id, addr, sub, psub, cmd, …}). */
    s.redisClients = async () => (await s.redis('CLIENT', 'LIST')).split('\n').filter(Boolean)
        .map((line) => Object.fromEntries(line.trim().split(' ').map((kv) => {
            const i = kv.indexOf('=');
            return [kv.slice(0, i), kv.slice(i + 1)];
        })));

    /**
     * POST /publish. body is JSON-encoded unless rawBody (a string) is given. key: null
     * sends no Authorization; contentType: null sends no Content-Type.
     */
    s.publish = async (body, { key: k = key, wait = false, headers = {}, rawBody, contentType = 'application/json',
        instance = 0, timeoutMs = 30000 } = {}) => {
        const h = { ...headers };
        if (k !== null) h.Authorization = `Bearer ${k}`;
        if (contentType !== null) h['Content-Type'] = contentType;
        const r = await request(`${s.url(instance)}/publish${wait ? '?wait=1' : ''}`, {
            method: 'POST', headers: h, body: rawBody !== undefined ? rawBody : JSON.stringify(body), timeoutMs });
        return r;
    };

    /** Publishes with ?wait=1 and returns the ids; throws unless 200 {ids}. */
    s.publishIds = async (body, o = {}) => {
        const r = await s.publish(body, { ...o, wait: true });
        if (r.status !== 200 || !r.json || !Array.isArray(r.json.ids))
            throw new Error(`publish ?wait=1 answered ${r.status} ${r.text}`);
        return r.json.ids;
    };

    /** GET /poll with params ({channel: 'a' | ['a','b'], since, timeout, lastEventId}). */
    s.poll = (params, { instance = 0, timeoutMs = 45000, signal, headers = {} } = {}) =>
        request(`${s.url(instance)}/poll${query(params)}`, { headers, timeoutMs, signal });

    /** GET /stats; throws unless 200 JSON. */
    s.stats = async (instance = 0) => {
        const r = await request(`${s.url(instance)}/stats`, { timeoutMs: 15000 });
        if (r.status !== 200 || !r.json) throw new Error(`stats answered ${r.status} ${r.text}`);
        return r.json;
    };

    /**
     * Resolves with stats.waiting once it is at least n on instance (or, n a function,
     * once n(waiting) is true): that many requests reached comet.fcgi, subscribed and are
     * waiting (counted after their subscription, so an event published from then on reaches
     * them). requests: promises of requests (polls) that should be among them; one that has
     * answered fails the wait at once, with its answer. Rejects after ms, saying what it saw.
     */
    s.untilWaiting = async (n, { instance = 0, ms = WAIT_MS, what = `${n} requests waiting`, requests = [] } = {}) => {
        const ok = typeof n === 'function' ? n : (w) => w >= n;
        let seen = 'no answer from /stats';
        const early = answeredEarly(requests);
        return until(async () => {
            if (early()) throw new Error(`${what}: a request ${early()} before it was counted waiting ` +
                `(/stats waiting: ${seen})`);
            seen = (await s.stats(instance)).waiting;
            return ok(seen) && { waiting: seen };
        }, ms, () => `${what} (/stats waiting: ${seen})`, 25).then((r) => r.waiting);
    };

    /**
     * The members of web node instance's waiting set in Redis (PREFIX waiting): one per
     * request that waits, whatever other requests come and go (a stream a test closed under
     * mod_fcgid leaves only at its next heartbeat, so counts alone can cross).
     */
    s.waitingSet = async (instance = 0) => {
        const prefix = webs[instance].env.COMET_PREFIX ?? opts.env?.COMET_PREFIX ?? 'comet:';
        return new Set((await s.redis('ZRANGE', `${prefix}waiting`, 0, -1)).split('\n').filter(Boolean));
    };

    /**
     * Resolves once n requests that were not waiting in before (a waitingSet()) wait on
     * instance: they reached comet.fcgi, subscribed and were counted (counted after their
     * subscription, so an event published from then on reaches them). requests: as for
     * untilWaiting. Rejects after ms, saying how many it saw.
     */
    s.untilNewWaiting = async (before, n = 1, { instance = 0, ms = WAIT_MS, what = `${n} new requests waiting`,
        requests = [] } = {}) => {
        let seen = 'none yet';
        const early = answeredEarly(requests);
        await until(async () => {
            if (early()) throw new Error(`${what}: a request ${early()} before it was counted waiting (new: ${seen})`);
            const now = [...(await s.waitingSet(instance))].filter((m) => !before.has(m));
            seen = now.length;
            return now.length >= n;
        }, ms, () => `${what} (new in the waiting set: ${seen})`);
    };

    /**
     * Starts fn() (a poll or a stream) and resolves with {req: what fn returned} once it
     * waits: a new member of the waiting set (a request may first wait for mod_fcgid to spawn
     * a process). Rejects after ms, or at once when it answered first. (A request without
     * since starts from what its first history read finds: in external mode that read goes
     * to Redis with the count; under mod_fcgid the process sends it right after.)
     */
    s.whenWaiting = async (fn, { instance = 0, ms = WAIT_MS } = {}) => {
        const before = await s.waitingSet(instance);
        const req = fn();
        if (req && typeof req.catch === 'function') req.catch(() => {});
        await s.untilNewWaiting(before, 1, { instance, ms, what: 'the request to be waiting', requests: [req] });
        return { req };
    };

    /**
     * Publishes a marker event on channel (through instance) and waits until the stream
     * (an openSse reader on that channel) has it. A stream gets its events in order, so
     * whatever the server would send it before (a duplicate, a late replay, an event it
     * should not get) has arrived by then: "nothing more" without a sleep. Resolves with
     * the stream's envelopes before the marker.
     */
    s.drain = async (stream, channel, { instance = 0, ms = WAIT_MS } = {}) => {
        const marker = `drain-${crypto.randomBytes(6).toString('hex')}`;
        const [id] = await s.publishIds({ channel, data: { marker } }, { instance });
        const got = await stream.waitFor(() => stream.envelopes.some((e) => e.id === id) && stream.envelopes, ms,
            `the marker event ${id} on ${channel}`);
        return got.slice(0, got.findIndex((e) => e.id === id));
    };

    /**
     * Polls from since (timeout=1 each) until count events arrived (or, without count,
     * until a poll comes back empty). Resolves {events, cursor, truncated, answers}.
     */
    s.collect = async (channel, since, { count, instance = 0, timeoutMs = 30000 } = {}) => {
        const events = [];
        const answers = [];
        let cursor = since;
        let truncated = false;
        const end = Date.now() + timeoutMs;
        for (let i = 0; i < 10000; i++) {
            const r = await s.poll({ channel, since: cursor, timeout: 1 }, { instance });
            if (r.status !== 200 || !r.json) throw new Error(`poll since=${cursor} answered ${r.status} ${r.text}`);
            answers.push(r.json);
            if (r.json.truncated) truncated = true;
            events.push(...r.json.events);
            cursor = r.json.cursor;
            if (count === undefined ? r.json.events.length === 0 : events.length >= count) break;
            if (Date.now() > end) throw new Error(`collect: ${events.length} of ${count} events after ${timeoutMs} ms`);
        }
        return { events, cursor, truncated, answers };
    };

    /** Opens /sse on instance with params; lastEventId sends the Last-Event-ID header. */
    s.sse = (params, { lastEventId, instance = 0, headers = {} } = {}) => {
        const h = { ...headers };
        if (lastEventId !== undefined) h['Last-Event-ID'] = lastEventId;
        return openSse(`${s.url(instance)}/sse${query(params)}`, { headers: h });
    };

    /**
     * Pids of the live comet.fcgi processes of web node i: mod_fcgid's children of its
     * Apache, the `comet.fcgi -e` that its lighttpd spawned, or the one in fcgi.pid (proxy, nginx).
     */
    s.fcgiPids = (instance = 0) => {
        if (APART) {
            const pid = s.pid('fcgi', instance);
            return pid && alive(pid) ? [pid] : [];
        }
        const root = s.pid('web', instance);
        return root ? descendants(root, 'comet.fcgi') : [];
    };

    /** Descriptors process pid holds open (sockets included), or -1 once it is gone. */
    s.fdCount = (pid) => {
        try {
            return fs.readdirSync(`/proc/${pid}/fd`).length;
        } catch {
            return -1;
        }
    };

    /**
     * Stops web node i: SIGTERM (or signal) to its parts, front first, each waited for
     * (SIGKILL after timeoutMs); then waits up to timeoutMs for the comet.fcgi processes it
     * had to exit, and SIGKILLs those that did not. Resolves {fcgi: the pids it had,
     * leftovers: those that had to be killed}.
     */
    s.stopWeb = async (i = 0, { signal = 'SIGTERM', timeoutMs = 15000 } = {}) => {
        const fcgi = s.fcgiPids(i);
        for (const part of WEB_PARTS)
            if (s.pid(part, i)) await s.stopComponent(part, { signal, instance: i, timeoutMs });
        await until(() => fcgi.every((p) => !alive(p)), timeoutMs, 'comet.fcgi to exit', 50).catch(() => {});
        const leftovers = fcgi.filter((p) => alive(p));
        for (const p of leftovers) {
            try {
                process.kill(p, 'SIGKILL');
            } catch {}
        }
        return { fcgi, leftovers };
    };

    /**
     * Restarts web node i's front server gracefully (Apache: USR1, nginx: HUP) and resolves
     * once a new generation of its workers runs (Apache's children, nginx's worker processes;
     * the old ones keep the requests they hold until these end). Resolves the front's pid.
     */
    s.reloadWeb = async (i = 0, { ms = WAIT_MS } = {}) => {
        const front = s.pid('web', i);
        const name = { apache: 'apache2', proxy: 'apache2', nginx: 'nginx' }[SERVER];
        if (!front || !name) throw new Error(`reloadWeb: no graceful restart of ${SERVER} here`);
        const workers = () => descendants(front, name);
        const old = workers();
        process.kill(front, SERVER === 'nginx' ? 'SIGHUP' : 'SIGUSR1');
        await until(() => workers().some((p) => !old.includes(p)), ms,
            () => `a new generation of ${SERVER}'s workers (before: ${old}; now: ${workers()})`);
        return front;
    };

    /** Stops web node i (what stopWeb does) and starts it again on the same port. */
    s.restartWeb = async (i = 0, o = {}) => {
        const r = await s.stopWeb(i, o);
        for (let k = 0; ; k++) {
            try {
                await s.startWeb(i);
                break;
            } catch (e) {
                // The old port may be slow to free, or taken meanwhile: retry, then move.
                if (k >= 4) throw e;
                await sleep(300);
                if (k >= 2) webs[i].port = await freePort();
            }
        }
        return r;
    };

    /**
     * The log file, in a web node's folder, where comet.fcgi's stderr lands: Apache's
     * error.log (mod_fcgid), lighttpd.log (lighttpd's own output, which the comet.fcgi it
     * spawns inherits; error.log holds lighttpd's messages) or fcgi.log (proxy).
     */
    s.fcgiLog = () => ({ apache: 'error.log', lighttpd: 'lighttpd.log', proxy: 'fcgi.log', nginx: 'fcgi.log' })[SERVER];

    /** Last bytes of a log file in the run folder of web node `instance` (for failure messages). */
    s.tail = (file = 'error.log', n = 2000, instance = 0) => {
        try {
            const t = fs.readFileSync(path.join(webs[instance].dir, file), 'utf8');
            return t.slice(-n);
        } catch {
            return '';
        }
    };

    let stopped = false;
    s.stop = async () => {
        if (stopped) return;
        stopped = true;
        for (const d of s.dirs().reverse()) {
            try {
                await run(STACK_SH, ['stop', d], { env: s.env(), timeoutMs: 45000 });
            } catch {}
        }
        killLeftovers(s);
        live.delete(s);
    };
    return s;
}

/** A channel name unique to this process and call. */
let seq = 0;
export function channelName(tag = 'ch') {
    return `${tag}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}
