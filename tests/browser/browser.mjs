// browser.mjs: what the browser tests share on top of tests/lib/stack.mjs: a headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core, a fresh profile each launch), a test
// page served at the stack's own origin, and a small HTTP proxy that can buffer event streams
// or count requests. Every wait is bounded; close everything in after().
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { ROOT, until, WAIT_MS } from '../lib/stack.mjs';

export const CHROMIUM = process.env.COMET_CHROMIUM || '/usr/bin/chromium';
// LocalNetworkAccessChecks: the test page is fulfilled by Playwright (openTestPage), so Chromium
// gives it no address space of its own and takes it for a public page; its WebSocket to the
// stack on 127.0.0.1 would then be blocked (ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS), which a
// page really served from there is not.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    '--disable-features=LocalNetworkAccessChecks'];

/** Launches Chromium (Playwright gives launch() a fresh temporary profile of its own). */
export async function launchBrowser() {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
    return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
}

/** Where the page loads comet.js from: /comet/comet.js when the server maps it, else /comet.js. */
export async function scriptPath(origin) {
    try {
        const r = await fetch(`${origin}/comet/comet.js`, { signal: AbortSignal.timeout(5000) });
        const t = await r.text();
        if (r.ok && /javascript/.test(r.headers.get('content-type') || '') && t.includes('Comet')) return '/comet/comet.js';
    } catch {}
    return '/comet.js';
}

/** The test page's HTML, loading comet.js from src (openTestPage serves it; a test may serve it itself). */
export const testPageHtml = (src) => `<!doctype html>
<html><head><meta charset="utf-8"><title>comet test page</title>
<script src="${src}"></script>
<script>
// What the tests read back: every delivered event, state and transport change, error; and
// the changes and errors with their times (ms since the page began), for failure messages.
window.T = { got: {}, states: [], transports: [], errors: [], missed: 0, clients: [], timeline: [] };
window.track = function (client) {
  T.clients.push(client);
  var at = function () { return Math.round(performance.now()); };
  client.on('state', function (s) { T.states.push(s); T.timeline.push(at() + ' ' + s); });
  client.on('transport', function (t) { T.transports.push(t); });
  client.on('error', function (e) {
    T.errors.push({ message: e.message, kind: e.kind, transport: e.transport, status: e.status });
    T.timeline.push(at() + ' error ' + e.kind + (e.status ? ' ' + e.status : '') + ': ' + e.message);
  });
  client.on('missed', function () { T.missed++; });
  return client;
};
window.listen = function (client, channel) {
  var list = T.got[channel] = T.got[channel] || [];
  return client.subscribe(channel, function (data, env) { list.push(env); });
};
</script></head><body><p>comet test page</p></body></html>`;

/**
 * Opens a page at origin + /__comet-test.html (served by the test through page routing, so the
 * page has the server's origin and loads the real comet.js from it). Resolves the page.
 */
export async function openTestPage(context, origin, { src } = {}) {
    const script = src || (await scriptPath(origin));
    const url = `${origin}/__comet-test.html`;
    await context.route(url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: testPageHtml(script) }));
    const page = await context.newPage();
    page.on('pageerror', (e) => (page.__errors = (page.__errors || []).concat(String(e))));
    await page.goto(url, { timeout: 30000 });
    await page.waitForFunction(() => !!window.Comet && !!window.T, null, { timeout: 10000 });
    return page;
}

/** Resolves the envelopes the page got on channel once there are n of them (or rejects). */
export async function waitForEvents(page, channel, n, ms = WAIT_MS) {
    try {
        await page.waitForFunction(([c, k]) => (window.T.got[c] || []).length >= k, [channel, n], { timeout: ms, polling: 50 });
    } catch (e) {
        const got = await page.evaluate((c) => ({ n: (window.T.got[c] || []).length, states: window.T.states, transports: window.T.transports,
            errors: window.T.errors.slice(-5), timeline: window.T.timeline.slice(-30).join('; ') }), channel);
        throw new Error(`page got ${got.n} of ${n} events on ${channel} in ${ms} ms; states ${got.states.join(',')}; ` +
            `transports ${got.transports.join(',')}; errors ${JSON.stringify(got.errors)}; timeline ${got.timeline}`);
    }
    return page.evaluate((c) => window.T.got[c], channel);
}

/** Waits until the page's first tracked client is in state s. */
export async function waitForState(page, s, ms = WAIT_MS, i = 0) {
    try {
        await page.waitForFunction(([st, k]) => window.T.clients[k] && window.T.clients[k].state === st, [s, i],
            { timeout: ms, polling: 50 });
    } catch (e) {
        const info = await page.evaluate(() => ({ transports: window.T.transports, timeline: window.T.timeline.slice(-30) }));
        throw new Error(`client not ${s} after ${ms} ms: ${JSON.stringify(info)}`);
    }
}

/**
 * Asserts the page got exactly seq 0..n-1 on channel, in order, once each. It publishes seq n
 * (through instance) and waits for it: the client hands out its events in order and drops
 * what is not newer than its cursor, so a duplicate or a late event would be among those
 * before it. Resolves the envelopes (n + 1 of them).
 */
export async function assertAllOnce(page, s, channel, n, { instance = 0, ms = 45000 } = {}) {
    await publishSeq(s, channel, n, 1, { instance });
    const got = await waitForEvents(page, channel, n + 1, ms);
    assert.deepEqual(seqsOf(got), range(0, n + 1), 'every event, in order, once');
    return got;
}

/**
 * An HTTP proxy on 127.0.0.1 to target (an http://host:port origin). bufferSse: holds back
 * every text/event-stream answer until it ends, as buffering proxies do. It passes no
 * WebSocket: it drops the Upgrade and Connection headers of an upgrade, as proxies that know
 * nothing of WebSocket do, and hands back what the server answers to the plain GET. Counts
 * requests by path (proxy.counts) and open ones (proxy.open). close() ends it and all its
 * connections.
 */
export async function startProxy(target, { bufferSse = false } = {}) {
    const t = new URL(target);
    const sockets = new Set();
    const proxy = { counts: {}, open: {}, port: 0 };
    const server = http.createServer((req, res) => {
        const p = req.url.split('?')[0];
        proxy.counts[p] = (proxy.counts[p] || 0) + 1;
        proxy.open[p] = (proxy.open[p] || 0) + 1;
        let closed = false;
        const done = () => {
            if (!closed) {
                closed = true;
                proxy.open[p]--;
            }
        };
        const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method,
            headers: { ...req.headers, host: t.host }, agent: false }, (ur) => {
            const buffer = bufferSse && /text\/event-stream/.test(ur.headers['content-type'] || '');
            if (!buffer) {
                res.writeHead(ur.statusCode, ur.headers);
                ur.pipe(res);
            } else {
                const chunks = [];
                ur.on('data', (c) => chunks.push(c));
                ur.on('end', () => {
                    const h = { ...ur.headers };
                    delete h['transfer-encoding'];
                    res.writeHead(ur.statusCode, h);
                    res.end(Buffer.concat(chunks));
                });
            }
            ur.on('error', () => res.destroy());
        });
        up.on('error', () => {
            if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' });
            res.end('{"error":"proxy: upstream failed"}');
        });
        req.pipe(up);
        res.on('close', () => {
            done();
            up.destroy();
        });
    });
    server.on('upgrade', (req, socket) => {
        const p = req.url.split('?')[0];
        proxy.counts[p] = (proxy.counts[p] || 0) + 1;
        const headers = { ...req.headers, host: t.host };
        for (const h of Object.keys(headers)) if (/^(upgrade|connection|sec-websocket-)/i.test(h)) delete headers[h];
        const up = http.request({ host: t.hostname, port: t.port, path: req.url, headers, agent: false }, (ur) => {
            socket.write(`HTTP/1.1 ${ur.statusCode} ${ur.statusMessage}\r\nConnection: close\r\n` +
                `Content-Type: ${ur.headers['content-type'] || 'text/plain'}\r\n\r\n`);
            ur.pipe(socket);
            ur.on('error', () => socket.destroy());
        });
        // The browser may reset the refused upgrade's socket: an error here is not the test's.
        socket.on('error', () => up.destroy());
        up.on('error', () => socket.destroy());
        up.end();
    });
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
    });
    proxy.port = server.address().port;
    proxy.origin = `http://127.0.0.1:${proxy.port}`;
    proxy.close = () => new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
    });
    return proxy;
}

/** Publishes count events on channel from node, seq from start, in batches; returns nothing. */
export async function publishSeq(s, channel, start, count, { batch = 1, instance = 0, key } = {}) {
    for (let i = start; i < start + count; i += batch) {
        const items = [];
        for (let k = i; k < Math.min(start + count, i + batch); k++) items.push({ channel, data: { seq: k } });
        const r = await s.publish(items.length === 1 ? items[0] : items, { instance, ...(key !== undefined ? { key } : {}) });
        if (r.status !== 202) throw new Error(`publish answered ${r.status} ${r.text}`);
    }
}

/** Asserts the envelopes are exactly seq 0..n-1 (or from..to) in order, once each. */
export function seqsOf(envs) {
    return envs.map((e) => e.data && e.data.seq);
}

export function range(a, b) {
    return Array.from({ length: b - a }, (_, i) => a + i);
}

export const SCREENSHOTS = path.join(ROOT, 'build/screenshots');
export { until };
