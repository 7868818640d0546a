// fakes.mjs: a browser for comet.js's unit tests, made of fakes the tests steer: a virtual
// clock with timers, fetch (plain and streaming answers), EventSource, a document that records
// script and iframe elements, and BroadcastChannel + navigator.locks shared between "tabs".
// Each tab is a vm context that runs the real www/comet.js.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const SOURCE_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../www/comet.js');
const SOURCE = fs.readFileSync(SOURCE_PATH, 'utf8');
export const ORIGIN = 'http://127.0.0.1:8080';

/** Lets every pending promise callback run (the vm contexts share our microtask queue). */
export async function flush(rounds = 5) {
    for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A virtual clock: timers run only in tick(), in time order, with promises flushed between. */
export class Clock {
    constructor() {
        this.now = 1700000000000;
        this.timers = new Map();
        this.seq = 0;
    }
    setTimeout(fn, ms = 0, repeat = 0) {
        const id = ++this.seq;
        this.timers.set(id, { at: this.now + Math.max(0, ms || 0), fn, repeat, id });
        return id;
    }
    clearTimeout(id) {
        this.timers.delete(id);
    }
    next() {
        let best = null;
        for (const t of this.timers.values()) if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
        return best;
    }
    /** Advances ms, running every timer due on the way. */
    async tick(ms = 0) {
        if (!Number.isFinite(ms)) throw new Error('tick: no timer pending');
        const end = this.now + ms;
        await flush();
        for (let guard = 0; guard < 100000; guard++) {
            const t = this.next();
            if (!t || t.at > end) break;
            this.now = Math.max(this.now, t.at);
            if (t.repeat) t.at = this.now + t.repeat;
            else this.timers.delete(t.id);
            t.fn();
            await flush();
        }
        this.now = end;
        await flush();
    }
    /** Delay until the next timer (Infinity when none). */
    pending() {
        const t = this.next();
        return t ? t.at - this.now : Infinity;
    }
}

/** A world: one clock, one BroadcastChannel bus, one lock manager; tabs are made in it. */
export class World {
    constructor({ locks = true } = {}) {
        this.clock = new Clock();
        this.channels = new Map(); // name -> Set of channel objects
        this.lockHolders = new Map(); // name -> {holder, queue}
        this.hasLocks = locks;
        this.requests = []; // every fetch of every tab, in order
        this.eventSources = [];
        this.random = () => 1; // jitter off: the longest delay of each step
    }

    makeBroadcastChannel(world, tab) {
        return class BroadcastChannel {
            constructor(name) {
                this.name = name;
                this.onmessage = null;
                this.tab = tab;
                this.closed = false;
                if (!world.channels.has(name)) world.channels.set(name, new Set());
                world.channels.get(name).add(this);
            }
            postMessage(m) {
                if (this.closed) throw new Error('closed');
                const data = JSON.parse(JSON.stringify(m));
                for (const other of world.channels.get(this.name)) {
                    if (other === this) continue;
                    world.clock.setTimeout(() => {
                        if (!other.closed && !other.tab.dead && other.onmessage) other.onmessage({ data });
                    }, 0);
                }
            }
            close() {
                this.closed = true;
                world.channels.get(this.name).delete(this);
            }
        };
    }

    makeLocks() {
        const world = this;
        return {
            request(name, opts, cb) {
                if (typeof opts === 'function') [opts, cb] = [{}, opts];
                let st = world.lockHolders.get(name);
                if (!st) world.lockHolders.set(name, (st = { holder: null, queue: [] }));
                return new Promise((resolve, reject) => {
                    const entry = { cb, resolve, reject };
                    if (opts.signal) {
                        opts.signal.addEventListener('abort', () => {
                            const i = st.queue.indexOf(entry);
                            if (i >= 0) {
                                st.queue.splice(i, 1);
                                reject(new Error('AbortError'));
                            }
                        });
                    }
                    st.queue.push(entry);
                    world.grant(name);
                });
            },
        };
    }

    grant(name) {
        const st = this.lockHolders.get(name);
        if (st.holder || !st.queue.length) return;
        const entry = (st.holder = st.queue.shift());
        Promise.resolve()
            .then(() => entry.cb({ name }))
            .then(
                (v) => entry.resolve(v),
                (e) => entry.reject(e))
            .finally(() => {
                st.holder = null;
                this.grant(name);
            });
    }

    /** A tab: a vm context running comet.js with the fakes. opts.fetch handles requests. */
    tab(opts = {}) {
        return new Tab(this, opts);
    }
}

/** One recorded fetch. Answer it with respond(), json(), fail() or stream(). */
class FakeRequest {
    constructor(tab, url, init) {
        this.tab = tab;
        this.url = url;
        this.init = init || {};
        this.method = (init && init.method) || 'GET';
        const u = new URL(url, ORIGIN);
        this.path = u.pathname;
        this.params = u.searchParams;
        this.aborted = false;
        this.settled = false;
        this.promise = new Promise((resolve, reject) => {
            this._resolve = resolve;
            this._reject = reject;
        });
        const sig = this.init.signal;
        if (sig) {
            sig.addEventListener('abort', () => {
                this.aborted = true;
                if (this.reader) this.reader._error(new Error('AbortError'));
                if (!this.settled) this.fail(new Error('AbortError'));
            });
        }
    }
    param(n) {
        return this.params.get(n);
    }
    channels() {
        return this.params.getAll('channel');
    }
    respond(status, body = '', headers = {}) {
        if (this.settled) return;
        this.settled = true;
        const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
        this._resolve({
            status, ok: status >= 200 && status < 300,
            headers: { get: (k) => (h.has(k.toLowerCase()) ? h.get(k.toLowerCase()) : null) },
            text: () => Promise.resolve(typeof body === 'string' ? body : JSON.stringify(body)),
        });
    }
    json(obj, status = 200, headers = {}) {
        this.respond(status, JSON.stringify(obj), { 'Content-Type': 'application/json', ...headers });
    }
    fail(err = new TypeError('Failed to fetch')) {
        if (this.settled) return;
        this.settled = true;
        this._reject(err);
    }
    /** A 200 whose body arrives in pieces: returns {push(text), end(), error()}. */
    stream(status = 200, headers = {}) {
        this.settled = true;
        const chunks = [];
        let waiting = null;
        let done = false;
        let err = null;
        const reader = {
            read() {
                if (err) return Promise.reject(err);
                if (chunks.length) return Promise.resolve({ done: false, value: chunks.shift() });
                if (done) return Promise.resolve({ done: true });
                return new Promise((res, rej) => (waiting = { res, rej }));
            },
            cancel() {
                done = true;
                if (waiting) waiting.res({ done: true });
                return Promise.resolve();
            },
            _error(e) {
                err = e;
                if (waiting) waiting.rej(e);
            },
        };
        this.reader = reader;
        const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
        this._resolve({
            status, ok: true, headers: { get: (k) => h.get(k.toLowerCase()) ?? null },
            body: { getReader: () => reader }, text: () => Promise.resolve(''),
        });
        const enc = new TextEncoder();
        return {
            push(text) {
                const v = enc.encode(text);
                if (waiting) {
                    const w = waiting;
                    waiting = null;
                    w.res({ done: false, value: v });
                } else chunks.push(v);
            },
            end() {
                done = true;
                if (waiting) {
                    const w = waiting;
                    waiting = null;
                    w.res({ done: true });
                }
            },
            error(e = new TypeError('network error')) {
                reader._error(e);
            },
        };
    }
}

class Tab {
    constructor(world, { location = `${ORIGIN}/page.html`, eventSource = true, document: withDoc = true,
        broadcast = true, fetch = true, webSocket = false } = {}) {
        this.world = world;
        this.requests = [];
        this.eventSources = [];
        this.sockets = [];
        this.elements = [];
        this.listeners = {};
        const clock = world.clock;
        const tab = this;
        const sandbox = {
            console,
            // A crashed tab (tab.crash()) runs nothing any more.
            setTimeout: (fn, ms) => clock.setTimeout(() => tab.dead || fn(), ms),
            clearTimeout: (id) => clock.clearTimeout(id),
            setInterval: (fn, ms) => clock.setTimeout(() => tab.dead || fn(), ms, Math.max(1, ms)),
            clearInterval: (id) => clock.clearTimeout(id),
            AbortController, TextDecoder, ReadableStream, URL,
            location: { href: location },
            navigator: world.hasLocks ? { locks: world.makeLocks() } : {},
            addEventListener: (n, fn) => (tab.listeners[n] = tab.listeners[n] || []).push(fn),
            removeEventListener: (n, fn) => (tab.listeners[n] = (tab.listeners[n] || []).filter((f) => f !== fn)),
        };
        if (fetch) {
            sandbox.fetch = (url, init) => {
                const r = new FakeRequest(tab, url, init);
                tab.requests.push(r);
                world.requests.push(r);
                return r.promise;
            };
        }
        if (broadcast) sandbox.BroadcastChannel = world.makeBroadcastChannel(world, tab);
        if (eventSource) sandbox.EventSource = makeEventSource(tab, world);
        if (webSocket) sandbox.WebSocket = makeWebSocket(tab);
        if (withDoc) sandbox.document = makeDocument(tab);
        this.context = vm.createContext(sandbox);
        vm.runInContext(`Date.now = function () { return __clock.now; }; Math.random = function () { return __random(); };`,
            Object.assign(this.context, { __clock: clock, __random: () => world.random() }));
        vm.runInContext(SOURCE, this.context, { filename: SOURCE_PATH });
        this.Comet = this.context.Comet;
    }
    /** new Comet.Client(url, opts) in this tab. */
    client(url = '/comet', opts = {}) {
        return new this.Comet.Client(url, opts);
    }
    /** Requests to path not answered yet. */
    open(p) {
        return this.requests.filter((r) => r.path.endsWith(p) && !r.settled && !r.aborted);
    }
    last(p) {
        const l = this.requests.filter((r) => !p || r.path.endsWith(p));
        return l[l.length - 1];
    }
    /** The tab dies without a word: no pagehide, no close(); its channels go quiet. */
    crash() {
        this.dead = true;
        for (const set of this.world.channels.values()) for (const bc of set) if (bc.tab === this) bc.close();
        for (const r of this.requests) if (!r.settled) r.fail(new Error('tab gone'));
    }
    fire(name, ev = {}) {
        for (const fn of this.listeners[name] || []) fn(ev);
    }
}

function makeEventSource(tab, world) {
    return class EventSource {
        constructor(url, init) {
            this.url = url;
            this.init = init;
            const u = new URL(url, ORIGIN);
            this.params = u.searchParams;
            this.readyState = 0;
            this.listeners = {};
            this.onmessage = null;
            this.onerror = null;
            this.closed = false;
            tab.eventSources.push(this);
            world.eventSources.push(this);
        }
        addEventListener(type, fn) {
            (this.listeners[type] = this.listeners[type] || []).push(fn);
        }
        close() {
            this.closed = true;
            this.readyState = 2;
        }
        /** The server sends an event: type 'message' by default; data is JSON-encoded if not a string. */
        emit(type, data, lastEventId = '') {
            if (this.closed) return;
            this.readyState = 1;
            const e = { type, data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId };
            if (type === 'message' && this.onmessage) this.onmessage(e);
            for (const fn of this.listeners[type] || []) fn(e);
        }
        error() {
            if (this.closed) return;
            this.readyState = 0;
            if (this.onerror) this.onerror({ type: 'error' });
        }
    };
}

/** A WebSocket whose server side the test plays: accept(), send(obj), end(code); sent holds
 * what the client sent, parsed. */
function makeWebSocket(tab) {
    return class WebSocket {
        constructor(url) {
            this.url = url;
            this.params = new URL(url).searchParams;
            this.sent = [];
            this.closed = false;
            this.code = null;
            tab.sockets.push(this);
        }
        send(text) {
            if (this.closed) throw new Error('closed');
            this.sent.push(JSON.parse(text));
        }
        close(code) {
            this.closed = true;
            this.code = code;
        }
        accept() {
            if (this.onopen) this.onopen({});
        }
        message(obj) {
            if (!this.closed && this.onmessage) this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
        }
        end(code = 1006) {
            if (this.closed) return;
            this.closed = true;
            if (this.onclose) this.onclose({ code, reason: '' });
        }
    };
}

function makeDocument(tab) {
    const el = (tag) => {
        const e = { tagName: tag.toUpperCase(), style: {}, attrs: {}, parentNode: null, onload: null, onerror: null, src: '' };
        e.setAttribute = (k, v) => (e.attrs[k] = v);
        tab.elements.push(e);
        return e;
    };
    const container = (name) => ({
        name,
        children: [],
        appendChild(c) {
            c.parentNode = this;
            this.children.push(c);
            return c;
        },
        removeChild(c) {
            this.children = this.children.filter((x) => x !== c);
            c.parentNode = null;
            return c;
        },
    });
    return {
        createElement: el,
        head: container('head'),
        body: container('body'),
        documentElement: container('html'),
        visibilityState: 'visible',
        addEventListener: (n, fn) => (tab.listeners['doc:' + n] = tab.listeners['doc:' + n] || []).push(fn),
        removeEventListener: () => {},
    };
}

/** An envelope. */
export function env(id, channel = 'news', data = null, event = 'message') {
    return { id, channel, event, data };
}

/** A value from a tab's realm as a plain value of ours (deepEqual checks prototypes). */
export function plain(x) {
    return JSON.parse(JSON.stringify(x));
}
