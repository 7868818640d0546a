/*! comet.js: the browser client of comet-fcgi (see README.md, "The browser client").
 * One file, no dependencies, no build step, ES5 so that the fallback transports reach the old
 * browsers they exist for. UMD: a classic <script> defines the global `Comet`, require() returns
 * it (no AMD: an anonymous define() breaks RequireJS pages that load this by <script>); comet.mjs
 * re-exports it as an ES module; `make client` minifies it. The server's HTTP contract is
 * README.md's; this file owns the client side: one connection per page (or per browser, shared
 * by tabs), resuming from the cursor, backoff, and falling back from one transport to the next. */
(function (root, factory) {
    'use strict';
    var Comet = factory(root);
    if (typeof module === 'object' && module && module.exports) module.exports = Comet;
    // JSONP and iframe callbacks are called as Comet._jpN / parent.Comet._ifN: always global.
    if (root) root.Comet = Comet;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function (G) {
    'use strict';

    var TRANSPORTS = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp', 'iframe'];
    var CHANNEL_RE = /^[A-Za-z0-9_\-.:\/@]{1,128}$/;
    var EVENT_RE = /^[A-Za-z0-9_\-.:]{1,64}$/;
    var DEFAULTS = {
        transports: TRANSPORTS,
        withCredentials: false,
        timeout: 25,               // s: how long one long-poll waits at the server
        stallTimeout: 8000,        // ms: a stream that has not said "open" by then is buffered
        idleTimeout: 45000,        // ms: a live stream or iframe with no byte (heartbeats: 15 s) is dead
        sseIdleTimeout: 300000,    // ms: same for SSE, whose heartbeats scripts cannot see
        backoff: { min: 500, max: 30000 },
        failuresBeforeFallback: 2, // errors before a never-opened transport is given up
        cursor: null,
        shared: true
    };
    var POLL_GRACE = 10000;        // ms a long-poll may take beyond its timeout
    var HISTORY_MAX = 1000;        // events of one /history page, at most (the server's limit)
    var HISTORY_TIMEOUT = 20000;   // ms a /history or /presence answer may take
    var PRESENCE = { 'comet-join': 'join', 'comet-leave': 'leave' }; // event type -> client event
    var STATES = { connecting: 1, open: 1, reconnecting: 1, closed: 1 };

    var seq = 0;                   // callback names and client ids
    var Comet = {
        version: '0.9.0',           // the release: the top-level VERSION file (a test checks they agree)
        transports: TRANSPORTS.slice(),
        Client: Client,
        compareIds: compareIds
    };

    function noop() {}
    function dict() { return Object.create(null); }
    function keys(o) { var k = [], n; for (n in o) k.push(n); return k; }
    function isArray(x) { return Object.prototype.toString.call(x) === '[object Array]'; }
    function now() { return Date.now(); }
    function extend(dst, src) { var k; for (k in src) if (src[k] !== undefined) dst[k] = src[k]; return dst; }
    function later(fn) { return setTimeout(fn, 0); }

    /* ---------------------------------------------------------------------------------------
     * Event ids "MS-N" are cursors: compared as two integers, never as strings. */

    function parseId(id) {
        if (id === '0') return ['0', '0'];
        var m = /^(\d+)-(\d+)$/.exec(String(id));
        if (!m) return null;
        return [m[1].replace(/^0+(?=\d)/, ''), m[2].replace(/^0+(?=\d)/, '')];
    }
    function cmpDigits(a, b) {
        if (a.length !== b.length) return a.length < b.length ? -1 : 1;
        return a < b ? -1 : a > b ? 1 : 0;
    }
    /** <0, 0, >0 as id a is before, equal to, after id b; throws on what is no id. */
    function compareIds(a, b) {
        var x = parseId(a), y = parseId(b);
        if (!x || !y) throw new TypeError('Comet: not an event id: ' + (x ? b : a));
        return cmpDigits(x[0], y[0]) || cmpDigits(x[1], y[1]);
    }
    function isId(s) { return typeof s === 'string' && parseId(s) !== null; }
    /** The later of two cursors (null is before everything). */
    function maxId(a, b) { return a == null ? b : b == null ? a : compareIds(a, b) >= 0 ? a : b; }
    function minId(a, b) { return a == null ? b : b == null ? a : compareIds(a, b) <= 0 ? a : b; }

    /* ---------------------------------------------------------------------------------------
     * Backoff. attempt 0 is the first retry after a connection that was open (almost at once);
     * then min, 2 min, 4 min… up to max, each with jitter down to half. */

    function retryDelay(attempt, backoff, rnd) {
        rnd = rnd || Math.random;
        if (attempt <= 0) return Math.round(rnd() * backoff.min / 2);
        var base = Math.min(backoff.max, backoff.min * Math.pow(2, Math.min(attempt - 1, 30)));
        return Math.round(base / 2 + rnd() * base / 2);
    }
    /** Retry-After (seconds or an HTTP date) in ms, or null; at most 10 minutes. */
    function parseRetryAfter(v, at) {
        if (v == null || v === '') return null;
        var ms = /^\s*\d+\s*$/.test(v) ? Number(v) * 1000 : Date.parse(v) - (at == null ? now() : at);
        return isNaN(ms) ? null : Math.min(Math.max(ms, 0), 600000);
    }

    /* ---------------------------------------------------------------------------------------
     * URLs and requests. */

    /** auth: the credentials' parameters ({token} or {expires, sig}), or null. */
    function query(channels, params, auth) {
        var q = [], i, k, all = extend(extend({}, params), auth || {});
        for (i = 0; i < channels.length; i++) q.push('channel=' + encodeURIComponent(channels[i]));
        for (k in all) if (all[k] != null) q.push(k + '=' + encodeURIComponent(all[k]));
        return '?' + q.join('&');
    }
    function absolute(url) {
        var base = G.location && G.location.href;
        try {
            return base ? new G.URL(url, base).href : url;
        } catch (e) {
            return url;
        }
    }
    function originOf(url) {
        var m = /^([a-z][a-z0-9+.\-]*:\/\/[^\/?#]+)/i.exec(absolute(url));
        return m ? m[1].toLowerCase() : '';
    }
    function sameOrigin(url) {
        return !!(G.location && G.location.href) && originOf(url) === originOf(G.location.href);
    }

    /** An Error with the fields the 'error' event documents. */
    function cometError(message, fields) {
        var e = new Error('Comet: ' + message);
        return extend(e, fields || {});
    }
    /** info for a failed fetch: kind 'network' when same-origin (the server is down), else
     * 'opaque' (CORS refused it, or the server is down: we cannot tell). */
    function fetchFailure(url, e) {
        return { kind: sameOrigin(url) ? 'network' : 'opaque', message: 'request failed: ' + (e && e.message || e) };
    }
    /** info for an HTTP error answer; reads the body's "error" sentence if there is one. */
    function httpFailure(status, text, retryAfterHeader) {
        var msg = 'HTTP ' + status, j;
        try {
            j = JSON.parse(text);
            if (j && typeof j.error === 'string') msg += ': ' + j.error;
        } catch (e) {}
        var kind = status === 408 || status === 425 || status === 429 || status >= 500 ? 'server'
            : status === 401 || status === 403 ? 'auth' : status >= 400 ? 'refused' : 'opaque';
        return { kind: kind, status: status, retryAfter: parseRetryAfter(retryAfterHeader), message: msg };
    }
    function credentials(o) { return o.withCredentials ? 'include' : 'same-origin'; }

    /** GET url with fetch and a time limit; cb(info | null, json). Returns an abort function. */
    function getJson(url, o, timeoutMs, cb) {
        var ctl = G.AbortController ? new G.AbortController() : null, done = false;
        var timer = setTimeout(function () {
            finish({ kind: 'opaque', message: 'no answer in ' + timeoutMs + ' ms' });
        }, timeoutMs);
        function finish(err, json) {
            if (done) return;
            done = true;
            clearTimeout(timer);
            if (ctl) try { ctl.abort(); } catch (e) {}
            cb(err, json);
        }
        G.fetch(url, { credentials: credentials(o), cache: 'no-store', signal: ctl ? ctl.signal : undefined })
            .then(function (res) {
                return res.text().then(function (text) {
                    if (done) return;
                    if (res.status !== 200) return finish(httpFailure(res.status, text, res.headers.get('Retry-After')));
                    var json;
                    try {
                        json = JSON.parse(text);
                    } catch (e) {
                        return finish({ kind: 'bad', message: 'the answer is not JSON: ' + text.slice(0, 80) });
                    }
                    finish(null, json);
                });
            })
            .then(null, function (e) { finish(fetchFailure(url, e)); });
        return function () { done = true; clearTimeout(timer); if (ctl) try { ctl.abort(); } catch (e) {} };
    }

    /** Splits text arriving in pieces into lines (\n or \r\n). */
    function Lines(onLine) { this.buf = ''; this.onLine = onLine; }
    Lines.prototype.push = function (text) {
        var buf = this.buf + text, i, start = 0;
        while ((i = buf.indexOf('\n', start)) >= 0) {
            this.onLine(buf.slice(start, i).replace(/\r$/, ''));
            start = i + 1;
        }
        this.buf = buf.slice(start);
    };

    /* ---------------------------------------------------------------------------------------
     * Transports. Each is function(hub, link, ctx) -> {close()} | null. ctx: {url, channels,
     * cursor}. They report through link (see Hub.prototype._link): frame(obj), envelope(env),
     * cursor(c), open(c), truncated(), activity(), end(), fail(info). info.kind is one of:
     *   unsupported  this browser or page cannot use it        (skipped for good)
     *   refused      the server answered 4xx to it             (skipped for good)
     *   stall        no "open" within stallTimeout (buffered)  (skipped for good; the hub's timer)
     *   opaque       failed, and it may be the transport's fault (counts towards a fallback)
     *   bad          an answer that is not what the contract says (counts likewise)
     *   network      the server is unreachable (same-origin fetch): retry, not its fault
     *   server       429/5xx: retry after Retry-After or the backoff, not its fault
     *   idle         a live connection went silent: reconnect */

    function parseFrame(link, text) {
        var f;
        try {
            f = JSON.parse(text);
        } catch (e) {
            return link.bad('a frame is not JSON: ' + String(text).slice(0, 80));
        }
        link.frame(f);
    }

    /* WebSocket: the frames of /stream, one per text message, and ops on the open socket: the
     * hub changes its channels with subscribe/unsubscribe (sync) instead of reconnecting, and
     * publishes over it (publish). Browsers cannot see why an upgrade failed: a socket that
     * closes before its open frame, where WebSocket never opened on this page, is a proxy or a
     * server without the tunnel (mod_fcgid answers 404), and the hub falls back for good. */
    function websocket(hub, link, ctx) {
        if (typeof G.WebSocket !== 'function') return link.fail({ kind: 'unsupported', message: 'no WebSocket' });
        var url = absolute(ctx.url).replace(/^http/i, 'ws') + '/ws' + query(ctx.channels, { since: ctx.cursor }, ctx.auth);
        var ws, opened = false, closed = false, has = ctx.channels.slice(), sync = null, pending = dict(), refs = 0;
        try {
            ws = new G.WebSocket(url);
        } catch (e) {
            return link.fail({ kind: 'unsupported', message: 'WebSocket: ' + e.message });
        }
        function send(m) {
            try { ws.send(JSON.stringify(m)); return true; } catch (e) { return false; }
        }
        function answer(m) {
            var p = m.ref != null && pending[m.ref];
            if (m.op === 'subscribed' && isId(m.cursor)) hub.cursor = minId(hub.cursor, m.cursor);
            if (p) {
                delete pending[m.ref];
                if (m.op === 'ack') p.ok({ ids: m.ids });
                else p.fail(cometError('publish: ' + (m.error || 'refused'), { status: m.status, body: m }));
            } else if (m.op === 'error') {
                // A refused subscribe (a private channel, a limit): the reconnect says it as others do.
                link.bad('the socket refused an op: ' + m.status + ' ' + m.error);
                if (!closed) link.end();
            }
        }
        ws.onmessage = function (e) {
            var m;
            link.activity();
            if (typeof e.data !== 'string') return link.bad('a binary message');
            try { m = JSON.parse(e.data); } catch (x) { return link.bad('a message is not JSON: ' + e.data.slice(0, 80)); }
            if (m && typeof m.op === 'string') return answer(m);
            if (m && m.open === true) opened = true;
            link.frame(m);
        };
        function drop() {
            var ref, p = pending;
            pending = dict();
            for (ref in p) p[ref].fail(cometError('publish: the socket closed before the answer; it may or may not ' +
                'be stored', { status: 0 }));
        }
        ws.onclose = function (e) {
            if (closed) return;
            closed = true;
            drop();
            if (opened) link.end();
            else link.fail({ kind: hub._worked.websocket ? 'opaque' : 'refused',
                message: 'the WebSocket closed before it opened (' + e.code + '): no tunnel to the server?' });
        };
        return {
            /** The hub's channels changed: one unsubscribe and one subscribe op, after the caller's turn. */
            sync: function (from) {
                if (sync) return true;
                sync = later(function () {
                    var want = hub.channels, add = [], drop = [], i, since = minId(hub.cursor, from);
                    sync = null;
                    // Closed meanwhile: the reconnect over the new set must start at from.
                    if (closed) return void (hub._from = minId(hub._from, from));
                    for (i = 0; i < has.length; i++) if (want.indexOf(has[i]) < 0) drop.push(has[i]);
                    for (i = 0; i < want.length; i++) if (has.indexOf(want[i]) < 0) add.push(want[i]);
                    has = want.slice();
                    if (drop.length) send({ op: 'unsubscribe', channels: drop });
                    if (add.length) send(since != null ? { op: 'subscribe', channels: add, since: since } :
                        { op: 'subscribe', channels: add });
                });
                return true;
            },
            /** Publishes body over the socket: resolves {ids} once stored. */
            publish: function (body) {
                return new G.Promise(function (ok, fail) {
                    var ref = ++refs;
                    body.op = 'publish';
                    body.ref = ref;
                    pending[ref] = { ok: ok, fail: fail };
                    if (!send(body)) {
                        delete pending[ref];
                        fail(cometError('publish: the socket is closing', { status: 0 }));
                    }
                });
            },
            open: function () { return opened && !closed; },
            close: function () {
                closed = true;
                drop();
                try { ws.close(1000); } catch (e) {}
            }
        };
    }

    function sse(hub, link, ctx) {
        if (typeof G.EventSource !== 'function') return link.fail({ kind: 'unsupported', message: 'no EventSource' });
        // Browsers send Last-Event-ID only on their own reconnects; ours carry the cursor here.
        // typed=0: every envelope comes as an unnamed event, whatever its type (EventSource hands
        // a named one only to listeners of that name, and cannot listen to all); the type is the
        // envelope's.
        var url = ctx.url + '/sse' + query(ctx.channels, { lastEventId: ctx.cursor, typed: 0 }, ctx.auth);
        var es, opened = false, closed = false;
        try {
            es = new G.EventSource(url, { withCredentials: !!hub.o.withCredentials });
        } catch (e) {
            return link.fail({ kind: 'unsupported', message: 'EventSource: ' + e.message });
        }
        function onData(e) {
            link.activity();
            parseFrame(link, e.data);
        }
        es.onmessage = onData;
        es.addEventListener('comet-open', function (e) {
            opened = true;
            onData(e);
        });
        es.addEventListener('comet-truncated', function () {
            link.activity();
            link.truncated();
        });
        es.addEventListener('comet-expired', function () {
            closed = true;
            es.close();
            link.expired();
        });
        // We reconnect ourselves, to keep the backoff and the cursor ours: close on any error.
        es.onerror = function () {
            if (closed) return;
            closed = true;
            es.close();
            if (opened) link.end();
            else link.fail({ kind: 'opaque', message: 'EventSource failed before the stream opened' });
        };
        return { close: function () { closed = true; es.close(); } };
    }

    function stream(hub, link, ctx) {
        var url = ctx.url + '/stream' + query(ctx.channels, { since: ctx.cursor }, ctx.auth);
        var lines = new Lines(function (line) {
            link.activity();
            // The 2048-space prelude and heartbeats are blank lines.
            if (/\S/.test(line)) parseFrame(link, line);
        });
        var canStream = typeof G.fetch === 'function' && typeof G.TextDecoder === 'function' &&
            typeof G.ReadableStream === 'function';
        return canStream ? fetchStream(hub, link, url, lines) : xhrStream(hub, link, url, lines);
    }

    function fetchStream(hub, link, url, lines) {
        var ctl = G.AbortController ? new G.AbortController() : null, reader = null, closed = false;
        G.fetch(url, { credentials: credentials(hub.o), cache: 'no-store', signal: ctl ? ctl.signal : undefined })
            .then(function (res) {
                if (closed) return;
                if (res.status !== 200) {
                    return res.text().then(function (t) {
                        if (!closed) link.fail(httpFailure(res.status, t, res.headers.get('Retry-After')));
                    });
                }
                if (!res.body || typeof res.body.getReader !== 'function')
                    return link.fail({ kind: 'unsupported', message: 'no response body stream' });
                reader = res.body.getReader();
                var dec = new G.TextDecoder();
                function pump() {
                    return reader.read().then(function (r) {
                        if (closed) return;
                        if (r.done) {
                            lines.push(dec.decode() + '\n');
                            return link.end();
                        }
                        link.activity();
                        lines.push(dec.decode(r.value, { stream: true }));
                        return pump();
                    });
                }
                return pump();
            })
            .then(null, function (e) { if (!closed) link.fail(fetchFailure(url, e)); });
        return {
            close: function () {
                closed = true;
                if (reader) reader.cancel().then(null, noop);
                if (ctl) try { ctl.abort(); } catch (e) {}
            }
        };
    }

    function xhrStream(hub, link, url, lines) {
        if (typeof G.XMLHttpRequest !== 'function') return link.fail({ kind: 'unsupported', message: 'no XMLHttpRequest' });
        var x = new G.XMLHttpRequest(), seen = 0, closed = false;
        function take() {
            var t = x.responseText || '';
            if (t.length > seen) {
                link.activity();
                lines.push(t.slice(seen));
                seen = t.length;
            }
        }
        x.open('GET', url, true);
        x.withCredentials = !!hub.o.withCredentials;
        x.onprogress = function () { if (!closed && x.status === 200) take(); };
        x.onload = function () {
            if (closed) return;
            closed = true;
            if (x.status !== 200) return link.fail(httpFailure(x.status, x.responseText, x.getResponseHeader('Retry-After')));
            take();
            lines.push('\n');
            link.end();
        };
        x.onerror = function () {
            if (closed) return;
            closed = true;
            link.fail({ kind: sameOrigin(url) ? 'network' : 'opaque', message: 'XMLHttpRequest failed' });
        };
        x.send();
        return { close: function () { closed = true; try { x.abort(); } catch (e) {} } };
    }

    /** The long-poll loop over get(url, timeoutMs, cb) -> abort; fetch or JSONP below. */
    function pollLoop(hub, link, ctx, path, get) {
        var first = true, closed = false, abort = null, quick = 0, timer = null;
        function next() {
            if (closed) return;
            // The first request asks for no wait: it proves the way and fetches the cursor at once.
            var wait = first ? 0 : hub.o.timeout, t0 = now();
            link.activity();
            abort = get(ctx.url + path + query(ctx.channels, { since: hub.cursor, timeout: wait }, ctx.auth), wait * 1000 + POLL_GRACE,
                function (err, json) {
                    abort = null;
                    if (closed) return;
                    if (err) return link.fail(err);
                    if (!json || typeof json.cursor !== 'string' || !isArray(json.events))
                        return link.fail({ kind: 'bad', message: 'not a poll answer: ' + JSON.stringify(json).slice(0, 80) });
                    for (var i = 0; i < json.events.length && !closed; i++) link.envelope(json.events[i]);
                    if (closed) return;
                    if (json.truncated) link.truncated();
                    if (first) link.open(json.cursor);
                    else link.cursor(json.cursor);
                    // An empty answer long before the timeout, again and again (a stopping server,
                    // a meddling proxy): slow down rather than spin.
                    quick = !first && !json.events.length && now() - t0 < 500 ? quick + 1 : 0;
                    first = false;
                    if (quick >= 3) timer = setTimeout(next, retryDelay(quick - 2, hub.o.backoff));
                    else next();
                });
        }
        next();
        return { close: function () { closed = true; clearTimeout(timer); if (abort) abort(); } };
    }

    function longpoll(hub, link, ctx) {
        if (typeof G.fetch !== 'function') return link.fail({ kind: 'unsupported', message: 'no fetch' });
        return pollLoop(hub, link, ctx, '/poll', function (url, ms, cb) { return getJson(url, hub.o, ms, cb); });
    }

    /** Registers Comet[prefix + N] = fn; returns the name (without "Comet."). */
    function callbackName(prefix, fn) {
        var name = prefix + (++seq);
        Comet[name] = fn;
        return name;
    }
    /** Retires a callback: a script already on its way may still call it, harmlessly. */
    function retire(name) {
        Comet[name] = noop;
        setTimeout(function () { if (Comet[name] === noop) delete Comet[name]; }, 60000);
    }

    function jsonp(hub, link, ctx) {
        var doc = G.document;
        if (!doc || !doc.createElement) return link.fail({ kind: 'unsupported', message: 'no document' });
        return pollLoop(hub, link, ctx, '/poll', function (url, ms, cb) {
            var done = false, s = doc.createElement('script'), name;
            var timer = setTimeout(function () { finish({ kind: 'opaque', message: 'no JSONP answer in ' + ms + ' ms' }); }, ms);
            function finish(err, json) {
                if (done) return;
                done = true;
                clearTimeout(timer);
                retire(name);
                s.onload = s.onerror = null;
                if (s.parentNode) s.parentNode.removeChild(s);
                if (cb) cb(err, json);
            }
            name = callbackName('_jp', function (json) { finish(null, json); });
            s.async = true;
            s.src = url + '&callback=Comet.' + name;
            // A 4xx/5xx answer is JSON with nosniff: the browser refuses to run it (error).
            s.onerror = function () { finish({ kind: 'opaque', message: 'the JSONP request failed' }); };
            s.onload = function () { finish({ kind: 'bad', message: 'the JSONP answer did not call back' }); };
            (doc.head || doc.documentElement).appendChild(s);
            return function () { cb = null; finish(); };
        });
    }

    function iframe(hub, link, ctx) {
        var doc = G.document;
        if (!doc || !doc.createElement) return link.fail({ kind: 'unsupported', message: 'no document' });
        // The iframe's scripts call parent.Comet._ifN: only a page of the server's origin can be called.
        if (!sameOrigin(ctx.url)) return link.fail({ kind: 'unsupported', message: 'the iframe transport needs the same origin' });
        var closed = false, opened = false, f = doc.createElement('iframe');
        var name = callbackName('_if', function (frame) {
            if (closed) return;
            link.activity();
            if (frame && frame.open === true) opened = true;
            link.frame(frame);
        });
        f.style.display = 'none';
        f.setAttribute('aria-hidden', 'true');
        f.tabIndex = -1;
        // The document is complete when the stream has ended (its lifetime) or failed.
        f.onload = function () {
            if (closed) return;
            close();
            if (opened) link.end();
            else link.fail({ kind: 'opaque', message: 'the iframe ended before the stream opened' });
        };
        f.src = ctx.url + '/iframe' + query(ctx.channels, { since: ctx.cursor, callback: 'Comet.' + name }, ctx.auth);
        (doc.body || doc.documentElement).appendChild(f);
        // A stream cut mid-document fires no load event, and heartbeats (<!---->) call nothing:
        // watch the document (same origin) grow instead, so the idle check sees heartbeats.
        var grown = -1, watch = setInterval(function () {
            var n = -1;
            try {
                var d = f.contentDocument, b = d && (d.body || d.documentElement);
                n = b ? b.childNodes.length : -1;
            } catch (e) {}
            if (n !== grown) {
                grown = n;
                link.activity();
            }
        }, 2000);
        function close() {
            if (closed) return;
            closed = true;
            clearInterval(watch);
            retire(name);
            f.onload = null;
            try { f.src = 'about:blank'; } catch (e) {}
            if (f.parentNode) f.parentNode.removeChild(f);
        }
        return { close: close };
    }

    var IMPL = { websocket: websocket, sse: sse, stream: stream, longpoll: longpoll, jsonp: jsonp, iframe: iframe };
    var NEEDS_OPEN = { websocket: 1, sse: 1, stream: 1, iframe: 1 };

    /* ---------------------------------------------------------------------------------------
     * Hub: the one connection. Holds the channel set and the connection's cursor, picks the
     * transport, reconnects, falls back. Knows nothing of handlers or tabs: everything goes to
     * sink {envelope(env), cursor(c), missed(), state(s), transport(t), error(err)}. */

    function Hub(o, sink) {
        this.o = o;
        this.sink = sink;
        this.url = o.url;
        this.channels = [];
        this.cursor = o.cursor;
        this.state = 'connecting';
        this.transport = null;
        this._from = null;      // a cursor the next connection must start at or before
        this._ti = 0;           // index into o.transports
        this._broken = dict();  // transports given up for the page's life
        this._worked = dict();  // transports that opened at least once
        this._fails = 0;        // errors of the current transport since it last opened
        this._attempt = 0;      // backoff step
        this._everOpen = false;
        this._gen = 0;
        this._link = null;
        this._handle = null;
        this._retry = null;     // the pending reconnect timer
        this._reopen = null;
        this._stall = null;
        this._idle = null;
        this._last = 0;         // time of the last activity
        this._stopped = true;
        this._auth = null;      // credentials' query parameters: null to fetch, PENDING while fetched
    }

    var PENDING = {};

    /** Calls fn (a value, or a function returning one or a Promise of one); cb(err, value). */
    function resolve(fn, cb) {
        var v;
        try {
            v = typeof fn === 'function' ? fn() : fn;
        } catch (e) {
            return later(function () { cb(e); });
        }
        G.Promise.resolve(v).then(function (x) { cb(null, x); }, function (e) { cb(e || new Error('rejected')); });
    }

    /** The query parameters of the client's credentials: cb(err, {token} | {expires, sig} | {}). */
    function authParams(o, cb) {
        if (o.token == null && o.signed == null) return cb(null, {});
        resolve(o.token != null ? o.token : o.signed, function (err, v) {
            if (err) return cb(err);
            if (o.token != null) return cb(null, typeof v === 'string' && v ? { token: v } : {});
            cb(null, v && v.sig ? { expires: v.expires, sig: v.sig } : {});
        });
    }

    /** Sets the channels. from: where the added channels must start (their events after it are
     * replayed); ignored when the set does not change, so announcements never cause replays. */
    Hub.prototype.setChannels = function (list, from) {
        var sorted = list.slice().sort(), same = sorted.length === this.channels.length, i;
        for (i = 0; same && i < sorted.length; i++) same = sorted[i] === this.channels[i];
        if (same) return;
        this.channels = sorted;
        // An open socket changes its channels with ops; any other connection reopens.
        if (sorted.length && this._handle && this._handle.sync && this._handle.open()) return this._handle.sync(from);
        if (from != null) this._from = minId(this._from, from);
        this._scheduleReopen();
    };

    /** The open socket's publish (a Promise of {ids}), or null when there is none. */
    Hub.prototype.socketPublish = function (body) {
        var h = this._handle;
        return h && h.publish && h.open() ? h.publish(body) : null;
    };

    Hub.prototype.start = function () {
        this._stopped = false;
        this._scheduleReopen();
    };

    Hub.prototype.stop = function () {
        this._stopped = true;
        this._disconnect();
        clearTimeout(this._reopen);
        this._reopen = null;
    };

    /** Reconnects now: after 'online', a frozen page's 'resume', or a forced transport. */
    Hub.prototype.reconnect = function () {
        if (this._stopped) return;
        this._connect();
    };

    /** After the page became visible (timers may have slept): act now on what is overdue. */
    Hub.prototype.check = function () {
        if (this._stopped) return;
        if (this._retry) return this._connect();
        if (this._link && this._link.opened && now() - this._last > this._idleLimit(this._link.transport))
            this._link.fail({ kind: 'idle', message: 'nothing arrived for too long' });
    };

    Hub.prototype._scheduleReopen = function () {
        var self = this;
        if (this._stopped || this._reopen) return;
        // Several subscribes in a row reopen once.
        this._reopen = setTimeout(function () {
            self._reopen = null;
            if (!self._stopped) self._connect();
        }, 0);
    };

    Hub.prototype._disconnect = function () {
        this._gen++;
        clearTimeout(this._retry);
        clearTimeout(this._stall);
        clearTimeout(this._idle);
        this._retry = this._stall = this._idle = null;
        this._link = null;
        var h = this._handle;
        this._handle = null;
        if (h) h.close();
    };

    Hub.prototype._setState = function (s) {
        if (this.state === s) return;
        this.state = s;
        this.sink.state(s);
    };

    Hub.prototype._setTransport = function (t) {
        if (this.transport === t) return;
        this.transport = t;
        this.sink.transport(t);
    };

    Hub.prototype._current = function () {
        var list = this.o.transports;
        while (this._ti < list.length - 1 && this._broken[list[this._ti]]) this._ti++;
        return list[Math.min(this._ti, list.length - 1)];
    };

    /** Moves to the next transport not given up; false when there is none. */
    Hub.prototype._advance = function () {
        var list = this.o.transports, j;
        for (j = this._ti + 1; j < list.length; j++) {
            if (!this._broken[list[j]]) {
                this._ti = j;
                this._fails = 0;
                return true;
            }
        }
        return false;
    };

    Hub.prototype._idleLimit = function (t) {
        if (t === 'longpoll' || t === 'jsonp') return this.o.timeout * 1000 + POLL_GRACE;
        if (t === 'stream' || t === 'iframe') return this.o.idleTimeout;
        return this.o.sseIdleTimeout;
    };

    Hub.prototype._connect = function () {
        var self = this;
        this._disconnect();
        clearTimeout(this._reopen);
        this._reopen = null;
        if (!this.channels.length) {
            this._setTransport(null);
            return;
        }
        if (this._auth === PENDING) return; // connects when the credentials arrive
        if (this._auth === null) {
            this._auth = PENDING;
            authParams(this.o, function (err, params) {
                self._auth = err ? null : params;
                if (self._stopped) return;
                if (!err) return self._connect();
                self._attempt++;
                var delay = retryDelay(self._attempt, self.o.backoff);
                self.sink.error(cometError('the token function failed: ' + (err && err.message || err),
                    { kind: 'auth', retryIn: delay }));
                self._retry = setTimeout(function () {
                    self._retry = null;
                    self._connect();
                }, delay);
            });
            return;
        }
        if (this._from != null) {
            this.cursor = minId(this.cursor, this._from);
            this._from = null;
        }
        var name = this._current(), link = this._link = this._makeLink(name);
        this._setTransport(name);
        this._last = now();
        if (NEEDS_OPEN[name] && this.o.stallTimeout > 0) {
            this._stall = setTimeout(function () {
                link.fail({ kind: 'stall', message: name + ' did not open within ' + self.o.stallTimeout +
                    ' ms (a proxy buffering the stream?)' });
            }, this.o.stallTimeout);
        }
        // pid: this client's id, so presence counts an anonymous page once across reconnects.
        var h = IMPL[name](this, link, { url: this.url, channels: this.channels.slice(), cursor: this.cursor,
            auth: extend({ pid: this.o.pid }, this._auth) });
        if (h && link === this._link) this._handle = h;
        else if (h) h.close();
    };

    Hub.prototype._armIdle = function () {
        var self = this, link = this._link;
        clearTimeout(this._idle);
        var limit = this._idleLimit(link.transport), left = this._last + limit - now();
        this._idle = setTimeout(function () {
            if (link !== self._link) return;
            if (now() - self._last >= limit) link.fail({ kind: 'idle', message: 'nothing arrived for ' + limit + ' ms' });
            else self._armIdle();
        }, Math.max(left, 0) + 5);
    };

    Hub.prototype._makeLink = function (name) {
        var self = this, link;
        function live() { return link === self._link; }
        link = {
            transport: name,
            opened: false,
            activity: function () { if (live()) self._last = now(); },
            envelope: function (env) {
                if (!live()) return;
                if (!env || !isId(env.id) || typeof env.channel !== 'string')
                    return link.bad('not an envelope: ' + JSON.stringify(env).slice(0, 80));
                if (self.cursor != null && compareIds(env.id, self.cursor) <= 0) return;
                self.cursor = env.id;
                self.sink.envelope(env);
            },
            cursor: function (c) {
                if (!live() || !isId(c)) return;
                if (self.cursor == null || compareIds(c, self.cursor) > 0) {
                    self.cursor = c;
                    self.sink.cursor(c);
                }
            },
            open: function (c) {
                if (!live()) return;
                link.cursor(c);
                if (link.opened) return;
                link.opened = true;
                clearTimeout(self._stall);
                self._stall = null;
                self._worked[name] = true;
                self._fails = 0;
                self._attempt = 0;
                self._everOpen = true;
                self._armIdle();
                self._setState('open');
            },
            truncated: function () { if (live()) self.sink.missed(); },
            // The server ended the stream at the credentials' expiry: new ones, then resume.
            expired: function () {
                if (!live()) return;
                self._auth = null;
                link.end();
            },
            frame: function (f) {
                if (!live()) return;
                if (f && typeof f === 'object' && typeof f.id === 'string' && typeof f.channel === 'string') link.envelope(f);
                else if (f && f.open === true) link.open(f.cursor);
                else if (f && f.truncated === true) link.truncated();
                else if (f && f.expired === true) link.expired();
                else if (f && typeof f.cursor === 'string') link.cursor(f.cursor);
                else link.bad('unknown frame: ' + JSON.stringify(f).slice(0, 80));
            },
            bad: function (msg) {
                if (live()) self.sink.error(cometError(msg, { transport: name, kind: 'bad' }));
            },
            end: function () {
                if (!live()) return;
                if (link.opened) self._fail(link, { kind: 'end', message: 'the stream ended' });
                else self._fail(link, { kind: 'opaque', message: 'the stream ended before it opened' });
            },
            fail: function (info) { if (live()) self._fail(link, info); }
        };
        return link;
    };

    Hub.prototype._fail = function (link, info) {
        var self = this, name = link.transport, kind = info.kind, advanced = false, delay;
        this._disconnect();
        // Refused credentials, or a failure that may hide a refusal (EventSource, scripts
        // and iframes cannot see the status): ask for new ones before the next attempt.
        if (kind === 'auth' || kind === 'opaque') this._auth = null;
        if (kind === 'end') {
            // The server ended a live stream (its lifetime, a graceful restart): resume at once.
            delay = retryDelay(0, this.o.backoff);
        } else {
            if (kind === 'stall' || kind === 'unsupported' || kind === 'refused') {
                this._broken[name] = true;
                advanced = this._advance();
            } else if ((kind === 'opaque' || kind === 'bad') && !this._worked[name] &&
                       ++this._fails >= this.o.failuresBeforeFallback) {
                advanced = this._advance();
            }
            this._attempt++;
            delay = advanced ? 0 : retryDelay(this._attempt, this.o.backoff);
            if (info.retryAfter != null && !advanced) delay = Math.max(delay, info.retryAfter);
            this._setState(this._everOpen ? 'reconnecting' : 'connecting');
            this.sink.error(cometError(info.message || kind, {
                transport: name, kind: kind, status: info.status, retryIn: delay,
                fallback: advanced ? this._current() : undefined
            }));
        }
        if (this._stopped) return;
        this._retry = setTimeout(function () {
            self._retry = null;
            self._connect();
        }, delay);
    };

    /* ---------------------------------------------------------------------------------------
     * Peer: several tabs (or clients) with the same key share one Hub. The leader (holder of a
     * Web Lock, or elected over BroadcastChannel) runs it and relays what it gets; followers
     * announce their channels. Every member hears every announcement, so a new leader knows the
     * union at once and starts from the oldest cursor it is told, so nothing is lost; members
     * drop what they already have, so nothing arrives twice. */

    var HB_EVERY = 1000, HB_LOST = 3000, CLAIM_WAIT = 300, LEAD_WAIT = 150, ANNOUNCE_EVERY = 60000,
        PEER_EXPIRES = 300000;

    function Peer(client, key) {
        this.client = client;
        this.key = key;
        this.id = (++seq) + '-' + Math.random().toString(36).slice(2);
        this.role = 'follower';
        this.peers = dict();     // id -> {channels, cursor, seen}
        this.bc = new G.BroadcastChannel(key);
        this._timers = [];
        this._release = null;
        this._abort = null;
        this._hb = 0;            // time of the last leader heartbeat (BroadcastChannel election)
        this._claim = null;
        this._stopped = false;
        var self = this;
        this.bc.onmessage = function (e) { if (!self._stopped) self._on(e.data || {}); };
    }

    Peer.locks = function () {
        var l = G.navigator && G.navigator.locks;
        return l && typeof l.request === 'function' ? l : null;
    };

    Peer.prototype.post = function (m) {
        m.from = this.id;
        try { this.bc.postMessage(m); } catch (e) {}
    };

    Peer.prototype._every = function (fn, ms) {
        var self = this, t = setInterval(function () { if (!self._stopped) fn(); }, ms);
        this._timers.push(t);
    };

    Peer.prototype.start = function () {
        var self = this, locks = Peer.locks();
        this.announce();
        this._every(function () {
            if (self.role !== 'leader') self.announce();
            else self._expire();
        }, ANNOUNCE_EVERY);
        if (locks) {
            var opts = {};
            if (G.AbortController) {
                this._abort = new G.AbortController();
                opts.signal = this._abort.signal;
            }
            locks.request(this.key, opts, function () {
                if (self._stopped) return null;
                return new Promise(function (resolve) {
                    self._release = resolve;
                    self._lead();
                });
            }).then(null, noop);
        } else {
            this.post({ t: 'who' });
            this._hb = now() - HB_LOST + CLAIM_WAIT;
            this._every(function () { self._tick(); }, HB_EVERY / 4);
        }
    };

    /** Tells the others (the leader above all) which channels this member needs. */
    Peer.prototype.announce = function () {
        var c = this.client;
        this.post({ t: 'subs', channels: c._channels(), cursor: c._cursor });
    };

    Peer.prototype._expire = function () {
        var t = now(), id;
        for (id in this.peers) if (t - this.peers[id].seen > PEER_EXPIRES) delete this.peers[id];
        this.client._unionChanged(null);
    };

    Peer.prototype.union = function () {
        var set = dict(), id, i, ch;
        ch = this.client._channels();
        for (i = 0; i < ch.length; i++) set[ch[i]] = 1;
        for (id in this.peers) for (i = 0; i < this.peers[id].channels.length; i++) set[this.peers[id].channels[i]] = 1;
        return keys(set);
    };

    Peer.prototype._lead = function () {
        var self = this;
        if (this._stopped || this.role === 'leader') return;
        this.role = 'leader';
        this.post({ t: 'leader' });
        // The followers answer 'leader' with their channels and cursors: start once they have.
        var t = setTimeout(function () {
            if (self._stopped || self.role !== 'leader') return;
            var from = self.client._cursor, id;
            for (id in self.peers) if (self.peers[id].fresh) from = minId(from, self.peers[id].cursor);
            self.client._startHub(from);
        }, LEAD_WAIT);
        this._timers.push(t);
    };

    Peer.prototype._stepDown = function () {
        if (this.role !== 'leader') return;
        this.role = 'follower';
        this.client._stopHub();
        this.announce();
    };

    /** BroadcastChannel election, without Web Locks: heartbeats; the lowest id wins a tie. */
    Peer.prototype._tick = function () {
        var self = this;
        if (this.role === 'leader') return this.post({ t: 'hb' });
        if (this._claim || now() - this._hb < HB_LOST) return;
        this.post({ t: 'claim' });
        this._claim = setTimeout(function () {
            self._claim = null;
            if (!self._stopped && now() - self._hb >= HB_LOST) {
                self._lead();
                self.post({ t: 'hb' });
            }
        }, CLAIM_WAIT);
    };

    Peer.prototype._on = function (m) {
        var c = this.client, p;
        switch (m.t) {
        case 'subs':
            if (!isArray(m.channels)) return;
            p = this.peers[m.from];
            var grew = !p || m.channels.some(function (x) { return p.channels.indexOf(x) < 0; });
            this.peers[m.from] = { channels: m.channels, cursor: isId(m.cursor) ? m.cursor : null, seen: now(), fresh: true };
            if (this.role === 'leader') {
                c._unionChanged(grew && isId(m.cursor) ? m.cursor : null);
                c._relayState();
            }
            break;
        case 'gone':
            delete this.peers[m.from];
            if (this.role === 'leader') c._unionChanged(null);
            break;
        case 'leader':
            delete this.peers[m.from];
            this._hb = now();
            for (p in this.peers) this.peers[p].fresh = false;
            if (this.role === 'leader' && !Peer.locks() && m.from < this.id) this._stepDown();
            if (this.role !== 'leader') this.announce();
            break;
        case 'bye':
            delete this.peers[m.from];
            if (!Peer.locks() && this.role !== 'leader') this._hb = 0;
            break;
        case 'hb':
            this._hb = now();
            if (this.role === 'leader' && m.from < this.id) this._stepDown();
            break;
        case 'who':
        case 'claim':
            if (this.role === 'leader') {
                this.post({ t: 'hb' });
                c._relayState();
            } else if (m.t === 'claim' && m.from < this.id && this._claim) {
                clearTimeout(this._claim);
                this._claim = null;
                this._hb = now();
            }
            break;
        default:
            if (this.role !== 'leader') c._fromLeader(m);
        }
    };

    Peer.prototype.stop = function () {
        if (this._stopped) return;
        var i;
        if (this.role === 'leader') this.post({ t: 'bye', cursor: this.client._cursor });
        else this.post({ t: 'gone' });
        this._stopped = true;
        for (i = 0; i < this._timers.length; i++) { clearTimeout(this._timers[i]); clearInterval(this._timers[i]); }
        clearTimeout(this._claim);
        if (this._release) this._release();
        if (this._abort) try { this._abort.abort(); } catch (e) {}
        this.role = 'follower';
        try { this.bc.close(); } catch (e) {}
    };

    /* ---------------------------------------------------------------------------------------
     * Client: the public face. Subscriptions and handlers, per-channel de-duplication, events. */

    function normalize(url, options) {
        if (typeof url !== 'string' || !url) throw new TypeError('Comet.Client: the base URL (e.g. "/comet") is required');
        var o = extend(extend({}, DEFAULTS), options || {}), i;
        o.url = url.replace(/\/+$/, '');
        o.backoff = extend(extend({}, DEFAULTS.backoff), o.backoff || {});
        if (!isArray(o.transports) || !o.transports.length) throw new TypeError('Comet.Client: transports must be a non-empty array');
        for (i = 0; i < o.transports.length; i++) {
            if (!IMPL[o.transports[i]]) throw new TypeError('Comet.Client: unknown transport "' + o.transports[i] + '"');
        }
        o.transports = o.transports.slice();
        if (o.cursor != null && !isId(o.cursor)) throw new TypeError('Comet.Client: cursor is not an event id: ' + o.cursor);
        if (o.cursor === undefined) o.cursor = null;
        return o;
    }

    function Subscription(client, channel, fn) {
        this.client = client;
        this.channel = channel;
        this.fn = fn;
        this.active = true;
        this._hold = null;  // its live events while its history is read ({history: N})
        this._after = null; // then, the newest event its history gave: not given again
    }
    Subscription.prototype.unsubscribe = function () {
        if (!this.active) return;
        this.active = false;
        this.client._remove(this);
    };

    function Client(url, options) {
        if (!(this instanceof Client)) return new Client(url, options);
        var o = normalize(url, options);
        this.url = o.url;
        this.options = o;
        this._subs = dict();      // channel -> [Subscription]
        this._since = dict();     // channel -> the last id delivered on it (or where it started)
        this._cursor = o.cursor;
        this._state = 'connecting';
        this._transport = null;
        this._listeners = dict();
        this._hub = null;
        this._peer = null;
        this._closed = false;
        this._off = [];
        this._pid = Math.random().toString(36).slice(2) + now().toString(36);
        this._join();
        this._watchPage();
    }

    /** Shares a connection with the other tabs (same URL, transports and credentials), or
     * opens its own. */
    Client.prototype._join = function () {
        var o = this.options;
        if (o.shared && typeof G.BroadcastChannel === 'function') {
            this._peer = new Peer(this, 'comet:' + absolute(o.url) + '|' + o.transports.join(',') +
                '|' + (o.withCredentials ? 'c' : ''));
            this._peer.start();
        } else {
            this._startHub(this._cursor);
        }
    };

    Object.defineProperty(Client.prototype, 'state', { get: function () { return this._state; } });
    Object.defineProperty(Client.prototype, 'transport', { get: function () { return this._transport; } });
    Object.defineProperty(Client.prototype, 'cursor', { get: function () { return this._cursor; } });
    /** 'solo' (its own connection), 'leader' (its connection serves other tabs) or 'follower'. */
    Object.defineProperty(Client.prototype, 'role', {
        get: function () { return this._peer ? this._peer.role : 'solo'; }
    });

    /** Calls fn(data, envelope) for each event on channel; returns a Subscription. With
     * {history: N}, the channel's last N events come first, then the live ones, with no gap
     * and no duplicate (see _backfill). */
    Client.prototype.subscribe = function (channel, fn, opts) {
        if (typeof channel !== 'string' || !CHANNEL_RE.test(channel))
            throw new TypeError('Comet: a channel name is 1 to 128 of A-Z a-z 0-9 _ - . : / @, not ' + JSON.stringify(channel));
        if (typeof fn !== 'function') throw new TypeError('Comet: subscribe(channel, fn) needs a function');
        var sub = new Subscription(this, channel, fn), n = opts && opts.history;
        if (n != null && !(n >= 1 && n <= HISTORY_MAX && n === Math.floor(n)))
            throw new TypeError('Comet: history is a whole number of events from 1 to ' + HISTORY_MAX);
        if (this._closed) {
            sub.active = false;
            return sub;
        }
        var list = this._subs[channel], added = !list;
        // A client with no cursor yet would connect from "now", whenever the server gets the
        // request: after the history read, events between the two would be lost. So the
        // channel joins the connection from where the history says live events continue.
        var fromHistory = !!(n && added && this._cursor == null);
        if (n) this._backfill(sub, n, fromHistory);
        if (added) {
            list = this._subs[channel] = [];
            this._since[channel] = this._cursor;
        }
        list.push(sub);
        if (added && !fromHistory) this._channelsChanged(this._cursor);
        return sub;
    };

    /**
     * Gives sub the channel's last n events, then what came after them: its live events
     * are held meanwhile (sub._hold, filled by _receive from the moment it subscribed), the
     * newest page is read, then pages after it until there is no more, then the held events
     * newer than the last one given. Live events start no later than the subscription (the
     * connection replays from the client's cursor then) and the pages reach past it, so
     * nothing falls between; ids decide what was given already, so nothing comes twice.
     * connect: the channel joins the connection only now, from the first page's `live`.
     */
    Client.prototype._backfill = function (sub, n, connect) {
        var self = this, last = null;
        function join(from) {
            if (!connect) return;
            connect = false;
            if (!self._closed && self._subs[sub.channel]) self._channelsChanged(from);
        }
        function give(events) {
            for (var i = 0; i < events.length; i++) {
                var e = events[i];
                if (last != null && compareIds(e.id, last) <= 0) continue;
                last = e.id;
                if (sub.active && !PRESENCE[e.event]) self._call(sub.fn, e.data, e, true);
            }
        }
        function finish() {
            var held = sub._hold;
            sub._hold = null;
            give(held);
            // The connection may still bring what the pages gave (it joined from their start).
            sub._after = last;
        }
        function failed(err) {
            self._emit('error', cometError((err && err.message || err) + ' (subscribe with history: the events ' +
                'before the subscription may be incomplete)', { kind: 'history', status: err && err.status }));
            finish();
        }
        function after(cursor) {
            self.history(sub.channel, { after: cursor, limit: HISTORY_MAX }).then(function (page) {
                give(page.events);
                if (page.more) after(page.cursor);
                else finish();
            }, failed);
        }
        sub._hold = [];
        this.history(sub.channel, { limit: n }).then(function (page) {
            give(page.events);
            join(page.live || last || self._cursor);
            after(page.live || last || '0');
        }, function (err) {
            join(self._cursor);
            failed(err);
        });
    };

    /** A page of the channels' past events: {events (oldest first), more, cursor, live}. */
    Client.prototype.history = function (channel, opts) {
        opts = opts || {};
        return this._read('history', channel, { limit: opts.limit, before: opts.before, after: opts.after },
            function (json) { return isArray(json.events); });
    };

    /** Who is on a presence channel: {channel, count, members: [{id, info}], more}. */
    Client.prototype.presence = function (channel, opts) {
        return this._read('presence', [channel], { limit: opts && opts.limit },
            function (json) { return isArray(json.members); });
    };

    /** GET /what for the channels with the credentials of subscribing: a Promise of its JSON,
     * which valid(json) must accept. */
    Client.prototype._read = function (what, channel, params, valid) {
        var chans = isArray(channel) ? channel : [channel], self = this, P = G.Promise, i;
        for (i = 0; i < chans.length; i++) {
            if (typeof chans[i] !== 'string' || !CHANNEL_RE.test(chans[i]))
                return P.reject(new TypeError('Comet: bad channel name ' + JSON.stringify(chans[i])));
        }
        return new P(function (ok, fail) {
            authParams(self.options, function (err, auth) {
                if (err) return fail(cometError('the token function failed: ' + (err && err.message || err), { kind: 'auth' }));
                getJson(self.url + '/' + what + query(chans, params, auth), self.options, HISTORY_TIMEOUT, function (info, json) {
                    if (info) return fail(cometError(what + ': ' + info.message,
                        { kind: info.kind, status: info.status, retryAfter: info.retryAfter }));
                    if (!json || !valid(json)) return fail(cometError(what + ': not what it answers', { kind: 'bad' }));
                    ok(json);
                });
            });
        });
    };

    Client.prototype._remove = function (sub) {
        var list = this._subs[sub.channel], i = list ? list.indexOf(sub) : -1;
        if (i < 0) return;
        list.splice(i, 1);
        if (list.length) return;
        delete this._subs[sub.channel];
        delete this._since[sub.channel];
        if (!this._closed) this._channelsChanged(null);
    };

    Client.prototype._channels = function () { return keys(this._subs); };

    Client.prototype._channelsChanged = function (from) {
        if (this._peer && this._peer.role !== 'leader') return this._peer.announce();
        this._unionChanged(from);
    };

    /** Leader or solo: the hub follows the union of everyone's channels. */
    Client.prototype._unionChanged = function (from) {
        if (this._hub) this._hub.setChannels(this._peer ? this._peer.union() : this._channels(), from);
    };

    /** Calls fn on 'state', 'transport', 'missed', 'error', 'open', 'event', 'join' or 'leave';
     * returns off(). */
    Client.prototype.on = function (name, fn) {
        if (typeof fn !== 'function') throw new TypeError('Comet: on(name, fn) needs a function');
        (this._listeners[name] = this._listeners[name] || []).push(fn);
        var self = this;
        return function () { self.off(name, fn); };
    };

    Client.prototype.off = function (name, fn) {
        var l = this._listeners[name], i = l ? l.indexOf(fn) : -1;
        if (i >= 0) l.splice(i, 1);
    };

    Client.prototype._emit = function (name, a, b) {
        var l = this._listeners[name], i;
        if (!l) return;
        l = l.slice();
        for (i = 0; i < l.length; i++) this._call(l[i], a, b, name !== 'error');
    };

    /** A handler's exception must not break the stream: it goes to 'error', or is rethrown apart. */
    Client.prototype._call = function (fn, a, b, report) {
        try {
            fn(a, b);
        } catch (e) {
            if (report && this._listeners.error && this._listeners.error.length) {
                this._emit('error', cometError('a handler threw: ' + (e && e.message), { kind: 'handler', cause: e }));
            } else {
                later(function () { throw e; });
            }
        }
    };

    Client.prototype._setState = function (s) {
        if (this._state === s || !STATES[s]) return;
        var prev = this._state;
        this._state = s;
        if (s === 'open') this._everOpen = true;
        this._emit('state', s, prev);
        if (s === 'open') this._emit('open', this._transport);
    };

    Client.prototype._setTransport = function (t) {
        if (this._transport === t) return;
        var prev = this._transport;
        this._transport = t;
        this._emit('transport', t, prev);
    };

    /** An envelope from the connection (ours or the leader's). */
    Client.prototype._receive = function (env) {
        if (!env || !isId(env.id)) return;
        this._cursor = maxId(this._cursor, env.id);
        var ch = env.channel, list = this._subs[ch], since, i;
        if (!list) return;
        since = this._since[ch];
        if (since != null && compareIds(env.id, since) <= 0) return;
        this._since[ch] = env.id;
        this._emit('event', env);
        if (this._presence(env)) return;
        list = list.slice();
        for (i = 0; i < list.length; i++) {
            if (list[i]._hold) list[i]._hold.push(env);
            else if (list[i]._after != null && compareIds(env.id, list[i]._after) <= 0) continue;
            else if (list[i].active) this._call(list[i].fn, env.data, env, true);
        }
    };

    /** A presence event (comet-join, comet-leave) goes to the 'join' or 'leave' listeners as
     * (member {id, info}, {channel, count, envelope}), not to the channel's subscribers.
     * Returns true when env was one. */
    Client.prototype._presence = function (env) {
        var name = PRESENCE[env.event], d = env.data || {};
        if (!name) return false;
        this._emit(name, { id: d.id, info: d.info }, { channel: env.channel, count: d.count, envelope: env });
        return true;
    };

    Client.prototype._cursorFrom = function (c) {
        if (isId(c)) this._cursor = maxId(this._cursor, c);
    };

    Client.prototype._startHub = function (from) {
        var self = this, peer = this._peer;
        if (this._closed || this._hub) return;
        function relay(m) { if (peer && peer.role === 'leader') peer.post(m); }
        var o = extend({}, this.options);
        o.cursor = from != null ? from : this._cursor;
        o.pid = this._pid;
        this._hub = new Hub(o, {
            envelope: function (env) { relay({ t: 'ev', env: env }); self._receive(env); },
            cursor: function (c) { relay({ t: 'cur', c: c }); self._cursorFrom(c); },
            missed: function () { relay({ t: 'missed' }); self._emit('missed', { cursor: self._cursor }); },
            state: function (s) { relay({ t: 'state', state: s, transport: self._hub.transport }); self._setState(s); },
            transport: function (t) { relay({ t: 'state', state: self._hub.state, transport: t }); self._setTransport(t); },
            error: function (e) {
                relay({ t: 'err', message: e.message, kind: e.kind, status: e.status, transport: e.transport, retryIn: e.retryIn });
                self._emit('error', e);
            }
        });
        // A follower that takes over keeps saying "reconnecting", not "connecting", on errors.
        this._hub._everOpen = !!this._everOpen;
        this._hub.start();
        this._unionChanged(null);
    };

    Client.prototype._stopHub = function () {
        if (!this._hub) return;
        this._hub.stop();
        this._hub = null;
    };

    Client.prototype._relayState = function () {
        if (this._hub && this._peer) this._peer.post({ t: 'state', state: this._hub.state, transport: this._hub.transport });
    };

    /** A follower hears the leader. */
    Client.prototype._fromLeader = function (m) {
        switch (m.t) {
        case 'ev': return this._receive(m.env);
        case 'cur': return this._cursorFrom(m.c);
        case 'missed': return this._emit('missed', { cursor: this._cursor });
        case 'state':
            this._setTransport(m.transport || null);
            return this._setState(m.state);
        case 'err':
            return this._emit('error', cometError(String(m.message).replace(/^Comet: /, ''),
                { kind: m.kind, status: m.status, transport: m.transport, retryIn: m.retryIn }));
        }
    };

    /** Reconnect checks when the page wakes up, the network returns, or the page is restored. */
    Client.prototype._watchPage = function () {
        var self = this, doc = G.document;
        function listen(target, name, fn) {
            if (!target || typeof target.addEventListener !== 'function') return;
            target.addEventListener(name, fn);
            self._off.push(function () { target.removeEventListener(name, fn); });
        }
        listen(G, 'online', function () { if (self._hub) self._hub.reconnect(); });
        listen(doc, 'resume', function () { if (self._hub) self._hub.reconnect(); });
        listen(doc, 'visibilitychange', function () {
            if (self._hub && doc.visibilityState === 'visible') self._hub.check();
        });
        listen(G, 'pagehide', function (e) {
            // Hand the connection over now, not when the lock is freed: and back on pageshow.
            if (self._peer && !e.persisted) self._peer.stop();
            else if (e.persisted) self._suspend();
        });
        listen(G, 'pageshow', function (e) { if (e.persisted) self._resume(); });
    };

    Client.prototype._suspend = function () {
        this._suspended = true;
        if (this._peer) {
            this._peer.stop();
            this._peer = null;
        }
        this._stopHub();
    };

    Client.prototype._resume = function () {
        if (!this._suspended || this._closed) return;
        this._suspended = false;
        this._join();
    };

    /** Reconnects now (keeps the cursor): what 'online' does. */
    Client.prototype.reconnect = function () {
        if (this._hub) this._hub.reconnect();
    };

    /** Ends every subscription and the connection (or this tab's part in a shared one). */
    Client.prototype.close = function () {
        if (this._closed) return;
        this._closed = true;
        var ch, i;
        for (ch in this._subs) for (i = 0; i < this._subs[ch].length; i++) this._subs[ch][i].active = false;
        this._subs = dict();
        this._since = dict();
        if (this._peer) this._peer.stop();
        this._stopHub();
        for (i = 0; i < this._off.length; i++) this._off[i]();
        this._off = [];
        this._setTransport(null);
        this._setState('closed');
    };

    /**
     * POST /publish. channel: a name or an array of names. opts: {event, wait, key}.
     * Resolves the server's answer ({accepted} or, with wait, {ids}); rejects with an Error
     * carrying status and retryAfter (ms) on an error answer.
     */
    Client.prototype.publish = function (channel, data, opts) {
        opts = opts || {};
        var body = {}, chans = isArray(channel) ? channel : [channel], i, P = G.Promise;
        for (i = 0; i < chans.length; i++) {
            if (typeof chans[i] !== 'string' || !CHANNEL_RE.test(chans[i]))
                return P.reject(new TypeError('Comet: bad channel name ' + JSON.stringify(chans[i])));
        }
        if (opts.event != null && (!EVENT_RE.test(opts.event) || /^comet-/.test(opts.event)))
            return P.reject(new TypeError('Comet: bad event type ' + JSON.stringify(opts.event)));
        if (data === undefined) return P.reject(new TypeError('Comet: publish needs data'));
        if (isArray(channel)) body.channels = chans;
        else body.channel = channel;
        if (opts.event != null) body.event = opts.event;
        body.data = data;
        var headers = { 'Content-Type': 'application/json' }, self = this;
        // Over this page's open socket when it has one (the server waits for the ids, as ?wait=1).
        var viaSocket = !opts.key && this._hub && this._hub.socketPublish(body);
        if (viaSocket) return viaSocket;
        // A key, else the client's token (its publish claim grants the channels), else none.
        return new P(function (ok, fail) {
            resolve(opts.key || self.options.token, function (err, v) { return err ? fail(err) : ok(v); });
        }).then(function (bearer) {
            if (typeof bearer === 'string' && bearer) headers.Authorization = 'Bearer ' + bearer;
            return G.fetch(self.url + '/publish' + (opts.wait ? '?wait=1' : ''), {
                method: 'POST', headers: headers, body: JSON.stringify(body), credentials: credentials(self.options)
            });
        }).then(function (res) {
            return res.text().then(function (text) {
                var json = null;
                try { json = JSON.parse(text); } catch (e) {}
                if (res.status === 200 || res.status === 202) return json;
                var f = httpFailure(res.status, text, res.headers.get('Retry-After'));
                throw cometError('publish: ' + f.message, { status: res.status, retryAfter: f.retryAfter, body: json });
            });
        });
    };

    // For the tests, and for whoever needs the pieces.
    Comet._internal = {
        parseId: parseId, retryDelay: retryDelay, parseRetryAfter: parseRetryAfter, query: query,
        Lines: Lines, Hub: Hub, Peer: Peer, httpFailure: httpFailure, DEFAULTS: DEFAULTS
    };
    return Comet;
});
