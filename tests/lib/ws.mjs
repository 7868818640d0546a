// WebSocket clients for the tests: openWs drives node's `ws` package (an implementation
// independent of the server's wslay) and records what arrives; rawWs speaks the protocol
// by hand, for what no conforming client sends (unmasked frames, invalid UTF-8, no pongs).
import crypto from 'node:crypto';
import net from 'node:net';
import WebSocket from 'ws';
import { until, WAIT_MS } from './stack.mjs';

/**
 * Opens ws://…/comet/ws?query on the stack's web node. Resolves, once the upgrade was
 * answered, with a client: status (101, or the refusal's), body (the refusal's JSON),
 * messages (every text message parsed, in order), envelopes (those that are events),
 * pings, close ({code, reason} once closed), send(obj), waitFor(pred, ms, what),
 * waitClose(ms).
 */
export function openWs(url, { headers = {}, origin } = {}) {
    const c = { messages: [], envelopes: [], pings: 0, close: null, status: 0, body: null, raw: [] };
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers, origin, handshakeTimeout: WAIT_MS });
    c.ws = ws;
    c.send = (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o));
    ws.on('message', (data, binary) => {
        const text = data.toString();
        c.raw.push(text);
        let m;
        try {
            m = JSON.parse(text);
        } catch {
            m = { unparsed: text, binary };
        }
        c.messages.push(m);
        if (m.id && m.channel) c.envelopes.push(m);
    });
    ws.on('ping', () => c.pings++);
    ws.on('close', (code, reason) => {
        c.close = { code, reason: reason.toString() };
    });
    ws.on('error', (e) => {
        c.error = e;
    });
    c.waitFor = (pred, ms = WAIT_MS, what = 'a message') => until(() => {
        const v = pred(c);
        if (v || !c.close) return v;
        throw new Error(`${what}: the socket closed first (${c.close.code} ${c.close.reason}); ` +
            `got ${JSON.stringify(c.raw).slice(0, 600)}`);
    }, ms, () => `${what}; got ${JSON.stringify(c.raw).slice(0, 600)}`, 10);
    c.waitClose = (ms = WAIT_MS) => until(() => c.close, ms, () => `the socket to close; got ${JSON.stringify(c.raw).slice(0, 300)}`, 10);
    return new Promise((resolve) => {
        ws.on('open', () => {
            c.status = 101;
            resolve(c);
        });
        ws.on('unexpected-response', (req, res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => {
                c.status = res.statusCode;
                c.headers = res.headers;
                try {
                    c.body = JSON.parse(b);
                } catch {
                    c.body = b;
                }
                resolve(c);
            });
        });
        ws.on('error', (e) => {
            if (!c.status) {
                c.status = -1;
                resolve(c);
            }
        });
    });
}

/**
 * A hand-made WebSocket: the upgrade of path on host:port (or on the unix socket host when
 * port is null: comet.fcgi's own -w socket), then frames as given.
 * Resolves {sock, status, frames (server frames: {op, payload}), closed, frame(op, payload,
 * {mask}), waitClose(ms): the close frame's code (or 'gone' when the socket ended without one)}.
 */
export function rawWs(host, port, path) {
    const key = crypto.randomBytes(16).toString('base64');
    const sock = port == null ? net.connect(host) : net.connect(port, host);
    const c = { sock, frames: [], closed: false, status: 0 };
    let buf = Buffer.alloc(0);
    let headDone = false;
    const parse = () => {
        for (;;) {
            if (buf.length < 2) return;
            let len = buf[1] & 0x7f;
            let at = 2;
            if (len === 126) {
                if (buf.length < 4) return;
                len = buf.readUInt16BE(2);
                at = 4;
            } else if (len === 127) {
                if (buf.length < 10) return;
                len = Number(buf.readBigUInt64BE(2));
                at = 10;
            }
            if (buf.length < at + len) return;
            c.frames.push({ op: buf[0] & 0x0f, payload: buf.subarray(at, at + len) });
            buf = buf.subarray(at + len);
        }
    };
    c.frame = (op, payload, { mask = true } = {}) => {
        const p = Buffer.from(payload);
        const head = [0x80 | op, (mask ? 0x80 : 0) | p.length];
        if (!mask) return sock.write(Buffer.concat([Buffer.from(head), p]));
        const m = crypto.randomBytes(4);
        const masked = Buffer.from(p.map((b, i) => b ^ m[i % 4]));
        return sock.write(Buffer.concat([Buffer.from(head), m, masked]));
    };
    c.waitClose = (ms = WAIT_MS) => until(() => {
        const f = c.frames.find((x) => x.op === 8);
        if (f) return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
        return c.closed && 'gone';
    }, ms, 'a close frame', 10);
    return new Promise((resolve, reject) => {
        sock.on('error', reject);
        sock.on('close', () => (c.closed = true));
        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            if (!headDone) {
                const end = buf.indexOf('\r\n\r\n');
                if (end < 0) return;
                c.head = buf.subarray(0, end).toString();
                c.status = Number(c.head.split(' ')[1]);
                buf = buf.subarray(end + 4);
                headDone = true;
                resolve(c);
            }
            parse();
        });
        sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    });
}
