// The page side of the contract: the demo page works (and a screenshot of it is kept in
// build/screenshots/), comet.js loads from /comet/comet.js as the README promises and as an ES
// module, and a JSONP callback that is not a plain name is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, request, sleep, WAIT_MS } from '../lib/stack.mjs';
import { launchBrowser, openTestPage, SCREENSHOTS } from './browser.mjs';

let s;
let browser;
before(async () => {
    s = await startStack({ name: 'browser-page', env: { COMET_PUBLIC_CHANNELS: 'demo*' } });
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
});

test('/comet/comet.js is served as JavaScript (a page needs nothing but that script tag)', async () => {
    const r = await request(`${s.url()}/comet.js`);
    assert.equal(r.status, 200, `GET /comet/comet.js answered ${r.status} ${r.text.slice(0, 120)}: ` +
        'the web server must map /comet/comet.js to www/comet.js ahead of the /comet alias');
    assert.match(String(r.headers['content-type']), /javascript/);
    assert.match(r.text, /Comet/);
});

test('comet.mjs imports as an ES module and is the same Comet', async () => {
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`, { src: '/comet.js' });
        const same = await page.evaluate(async () => {
            const m = await import('/comet.mjs');
            return m.default === window.Comet && m.Client === window.Comet.Client && typeof m.compareIds === 'function';
        });
        assert.equal(same, true);
    } finally {
        await ctx.close();
    }
});

test('a JSONP callback that is not a plain name (callback=alert(1)//) is refused with 400', async () => {
    for (const cb of ['alert(1)//', 'a;b', 'a.b.c.d.e', '1abc', 'x[0]', '']) {
        const r = await request(`${s.url()}/poll?channel=x&timeout=0&callback=${encodeURIComponent(cb)}`);
        if (cb === '') continue; // an empty callback may mean "no callback"
        assert.equal(r.status, 400, `callback=${cb}: ${r.status} ${r.text}`);
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.ok(!r.text.includes(cb.slice(0, 5)) || /error/.test(r.text));
    }
    const ok = await request(`${s.url()}/poll?channel=x&timeout=0&callback=Comet._jp7`);
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^\/\*\*\/Comet\._jp7\(/);
    // And in a browser: the script does not run, nothing pops up.
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
        let dialog = false;
        page.on('dialog', (d) => {
            dialog = true;
            d.dismiss().catch(() => {});
        });
        const outcome = await page.evaluate(() => new Promise((resolve) => {
            const el = document.createElement('script');
            el.src = '/comet/poll?channel=x&timeout=0&callback=alert(1)//';
            el.onload = () => resolve('load');
            el.onerror = () => resolve('error');
            document.head.appendChild(el);
            setTimeout(() => resolve('timeout'), 5000);
        }));
        assert.equal(outcome, 'error');
        await sleep(200);
        assert.equal(dialog, false);
    } finally {
        await ctx.close();
    }
});

test('demo page: shows recent messages on load, connects, shows the transport, posts to "demo", forces a ' +
    'transport; screenshot', { timeout: 90000 }, async () => {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    try {
        const page = await ctx.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        // Published before the page loads: it shows on load (subscribe with {history}).
        await s.publishIds({ channel: 'demo', data: { name: 'ci-bot', text: 'Nightly backup done' } });
        await page.goto(`http://127.0.0.1:${s.port()}/`, { timeout: 30000 });
        await page.waitForFunction(() => document.getElementById('feed').textContent.includes('Nightly backup done'),
            null, { timeout: WAIT_MS });
        await page.waitForFunction(() => document.getElementById('state').textContent === 'open', null, { timeout: WAIT_MS });
        assert.equal(await page.textContent('#transport'), 'sse');
        // A visitor posts through client.publish (public channel, no key).
        await page.fill('#name', 'Ada');
        await page.fill('#text', 'Hello from the demo page');
        await page.click('#send');
        await page.waitForFunction(() => document.querySelectorAll('#feed li.mine').length === 1, null, { timeout: WAIT_MS });
        // The backend publishes too.
        for (const text of ['Build #1432 passed', 'Deploy to staging started']) {
            const r = await s.publish({ channel: 'demo', data: { name: 'ci-bot', text } });
            assert.equal(r.status, 202);
        }
        await page.waitForFunction(() => document.querySelectorAll('#feed li:not(.empty)').length === 4, null, { timeout: WAIT_MS });
        // Forcing long-poll reconnects with it alone, and nothing arrives twice.
        await page.click('#modes button[data-mode=longpoll]');
        await page.waitForFunction(() => document.getElementById('transport').textContent === 'longpoll' &&
            document.getElementById('state').textContent === 'open', null, { timeout: WAIT_MS });
        await s.publish({ channel: 'demo', data: { name: 'ci-bot', text: 'Deploy to staging finished' } });
        await page.waitForFunction(() => document.querySelectorAll('#feed li:not(.empty)').length >= 5, null, { timeout: WAIT_MS });
        await page.fill('#name', 'Grace');
        await page.fill('#text', 'Long-poll works behind any proxy');
        await page.click('#send');
        // Grace's message comes after all the others: anything twice would be in the feed before it.
        await page.waitForFunction(() => document.getElementById('feed').textContent.includes('Long-poll works behind any proxy'),
            null, { timeout: WAIT_MS });
        assert.equal(await page.locator('#feed li:not(.empty)').count(), 6, 'nothing twice after the switch');
        fs.mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOTS, 'demo.png') });
        await page.setViewportSize({ width: 390, height: 800 });
        // Laid out again at the new size: two frames on.
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
        await page.screenshot({ path: path.join(SCREENSHOTS, 'demo-mobile.png'), fullPage: true });
        assert.deepEqual(errors, []);
    } finally {
        await ctx.close();
    }
});
