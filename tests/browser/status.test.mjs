// The live status page in real Chromium: /comet/status.html?token=STATS_KEY loads, takes the key
// out of the address bar, subscribes to comet-status with comet.js, and once traffic flows its
// uPlot charts have points and the busiest-channels table names the channel published to; a
// screenshot of it (in the run's folder of the test-runs directory) is a PNG of more than one colour.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, channelName, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser } from './browser.mjs';

const STATS_KEY = crypto.randomBytes(16).toString('hex');

let s;
let browser;
before(async () => {
    s = await startStack({ name: 'browser-status', env: { COMET_STATS_KEY: STATS_KEY } });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
});

/** Publishes to channel until done() resolves true or WAIT_MS passes (then throws with what). */
async function publishUntil(channel, done, what) {
    const end = Date.now() + WAIT_MS;
    for (let n = 0; !(await done()); n++) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        const r = await s.publish([{ channel, data: n }, { channel, data: n }]);
        assert.equal(r.status, 202, r.text);
    }
}

test('status page: charts fill, the busiest channel shows, the key leaves the address bar; screenshot', { timeout: 120000 },
    async () => {
        const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
        try {
            const page = await ctx.newPage();
            const errors = [];
            page.on('pageerror', (e) => errors.push(String(e)));
            const r = await page.goto(`${s.url()}/status.html?token=${STATS_KEY}`, { timeout: 30000 });
            assert.equal(r.status(), 200);
            assert.equal(new URL(page.url()).search, '', 'the key is taken out of the address bar');
            assert.equal(await page.isHidden('#nocharts'), true, 'uPlot is there');

            const ch = channelName('status-busy');
            const ready = () => page.evaluate((name) => {
                const points = [...document.querySelectorAll('.chart')].map((c) => Number(c.dataset.points || 0));
                const cells = [...document.querySelectorAll('#busiest tbody td:first-child')].map((td) => td.textContent);
                return points.every((p) => p >= 3) && cells.includes(name) &&
                    document.querySelectorAll('.chart canvas').length === 4;
            }, ch);
            await publishUntil(ch, ready, `charts with points and ${ch} among the busiest`);
            assert.match(await page.textContent('#state'), /^live/);

            const file = path.join(s.dir, 'status.png');
            await page.screenshot({ path: file, fullPage: true });
            const png = fs.readFileSync(file);
            assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
            // Decoded by the browser: its pixels are not all one colour.
            const colours = await page.evaluate(async (b64) => {
                const img = new Image();
                img.src = `data:image/png;base64,${b64}`;
                await img.decode();
                const c = document.createElement('canvas');
                c.width = img.width;
                c.height = img.height;
                const g = c.getContext('2d');
                g.drawImage(img, 0, 0);
                const d = g.getImageData(0, 0, c.width, c.height).data;
                const seen = new Set();
                for (let i = 0; i < d.length && seen.size < 16; i += 4 * 97) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
                return seen.size;
            }, png.toString('base64'));
            assert.ok(colours > 1, `the screenshot has ${colours} colour(s)`);
            assert.deepEqual(errors, []);
        } finally {
            await ctx.close();
        }
    });
