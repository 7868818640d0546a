// Closed SSE tabs in Apache's access log. mod_fcgid 2.3.9 (Debian's, the last release) answers 500
// whenever a write to the client fails while it streams the app's output (fcgid_bridge.c,
// handle_request_ipc; upstream's fix, r1725557 of 2016, was never released), and a stream whose
// client has gone fails at its next heartbeat: comet.fcgi cannot see the client go before Apache
// does. What the README promises instead: such lines carry the connection status X (%X) and the
// filter it shows (5xx whose %X is not X) leaves none of them while it keeps a real 500. Behind
// mod_proxy_fcgi a closed tab is no 500 at all. lighttpd and nginx log no status of ours here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startStack, channelName, until, SERVER, WAIT_MS } from '../lib/stack.mjs';

const SKIP = !['apache', 'proxy'].includes(SERVER) && 'Apache\'s access log (mod_fcgid, mod_proxy_fcgi) only';
const TABS = 3;
let s;
before(async () => {
    if (SKIP) return;
    s = await startStack({ env: { COMET_SSE_HEARTBEAT: '1' } });
});
after(async () => {
    await s?.stop();
});

/** The access log's lines (private.sh's format: … "REQUEST" STATUS BYTES TIMEus %X) as {request, status, conn}. */
function accessLog() {
    const text = fs.readFileSync(path.join(s.webs[0].dir, 'access.log'), 'utf8');
    return text.split('\n').filter(Boolean).map((line) => {
        const m = /"([^"]*)" (\d{3}) \S+ \S+ (\S)$/.exec(line);
        return m ? { line, request: m[1], status: Number(m[2]), conn: m[3] } : { line };
    });
}

/** The README's filter for 5xx alerting: a 5xx counts unless the client had gone (%X is X). */
const alerts = (lines) => lines.filter((l) => l.status >= 500 && l.conn !== 'X');

test(`${TABS} closed SSE tabs: no line a 5xx alert counts (mod_fcgid: 500 with %X = X; proxy: no 500)`,
    { timeout: 90000, skip: SKIP }, async () => {
        const ch = channelName('closed');
        for (let i = 0; i < TABS; i++) {
            const r = s.sse({ channel: ch });
            await r.waitOpen();
            r.reset(); // the tab closes
        }
        // Each is logged once Apache's heartbeat write fails (within a few heartbeats).
        const mine = () => accessLog().filter((l) => l.request?.includes(`channel=${ch}`));
        await until(() => mine().length === TABS, WAIT_MS, () => `${TABS} log lines for ${ch}: ${mine().map((l) => l.line)}`);
        const lines = mine();
        for (const l of lines) assert.equal(l.conn, 'X', `not logged as an aborted connection: ${l.line}`);
        if (SERVER === 'apache')
            assert.ok(lines.every((l) => l.status === 500), `mod_fcgid no longer logs 500 for them (README: ` +
                `Disconnects says it does): ${lines.map((l) => l.line)}`);
        else assert.ok(lines.every((l) => l.status === 200), lines.map((l) => l.line).join('\n'));
        assert.deepEqual(alerts(lines), []);
    });

test('the filter keeps a real 500: mod_fcgid refusing a body past FcgidMaxRequestLen',
    { timeout: 60000, skip: SERVER !== 'apache' && 'mod_fcgid\'s own 500' }, async () => {
        // Chunked, so comet.conf's Content-Length rule cannot answer 413 first: mod_fcgid reads
        // past its 1 MiB limit and answers 500 while the client still listens.
        const answer = await new Promise((resolve, reject) => {
            const sock = net.connect({ host: '127.0.0.1', port: s.port() });
            let got = '';
            sock.setEncoding('utf8');
            sock.on('data', (d) => (got += d));
            sock.on('end', () => resolve(got));
            sock.on('error', (e) => (got ? resolve(got) : reject(e)));
            sock.write('POST /comet/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
                'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
            const chunk = 'x'.repeat(65536);
            for (let i = 0; i < 20; i++) sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
            sock.end('0\r\n\r\n');
        });
        assert.match(answer, /^HTTP\/1\.1 500/);
        await until(() => accessLog().some((l) => l.request?.startsWith('POST /comet/publish')), WAIT_MS, 'its log line');
        const line = accessLog().find((l) => l.request?.startsWith('POST /comet/publish'));
        assert.deepEqual(alerts([line]), [line], `a real 500 hidden by the filter: ${line.line}`);
    });
