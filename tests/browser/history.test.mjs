// The browser client's history in real Chromium against a real stack with a SQLite archive
// (COMET_HISTORY_SIZE=5, so most of it is the archive's): client.history() pages back, and
// subscribe(channel, fn, {history: N}) gives the last N events then the live ones, with
// publishes racing the history reads: every event once, in order, no gap, no duplicate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, channelName, startStack } from '../lib/stack.mjs';
import { backend, exec, untilArchived } from '../lib/archive.mjs';
import { launchBrowser, openTestPage, publishSeq, range, seqsOf } from './browser.mjs';

const BIN = path.resolve(ROOT, process.env.COMET_BIN_DIR || 'build');
const db = backend('sqlite');
let s;
let browser;
before(async () => {
    s = await startStack({
        name: 'browser-history',
        env: { COMET_HISTORY_SIZE: '5' },
        afterRedis: async (st) => {
            db.dir = st.dir;
            return { COMET_ARCHIVE: db.url() };
        },
    });
    const r = await exec(path.join(BIN, 'comet-worker'), ['--archive-init'], s.env());
    assert.equal(r.code, 0, r.stderr);
    await s.sh(['archive', s.dir]);
    browser = await launchBrowser();
});
after(async () => {
    await browser?.close();
    await s?.stop();
});

/** Publishes seq from..to-1 one by one and waits until the archive has them. */
async function published(ch, from, to) {
    const ids = [];
    for (let i = from; i < to; i++) ids.push(...await s.publishIds({ channel: ch, data: { seq: i } }));
    await untilArchived(db, ids);
    return ids;
}

test('client.history() pages back through Redis and the archive', async () => {
    const ch = channelName('hist');
    await published(ch, 0, 12);
    const ctx = await browser.newContext();
    try {
        const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
        const seqs = await page.evaluate(async (c) => {
            const client = new Comet.Client('/comet', { shared: false });
            const all = [];
            let p = await client.history(c, { limit: 4 });
            all.unshift(...p.events);
            while (p.more) {
                p = await client.history(c, { limit: 4, before: p.cursor });
                all.unshift(...p.events);
            }
            client.close();
            return all.map((e) => e.data.seq);
        }, ch);
        assert.deepEqual(seqs, range(0, 12));
    } finally {
        await ctx.close();
    }
});

for (const transport of ['sse', 'longpoll']) {
    test(`subscribe with {history: 10} on ${transport}, publishes racing: the last 10 when it read them, then ` +
        'every later event once, in order', async () => {
        const ch = channelName('race');
        await published(ch, 0, 30);
        const ctx = await browser.newContext();
        try {
            const page = await openTestPage(ctx, `http://127.0.0.1:${s.port()}`);
            // The subscription starts while 40 more events are being published.
            const racing = publishSeq(s, ch, 30, 40);
            await page.evaluate(([c, t]) => {
                const client = track(new Comet.Client('/comet', { shared: false, transports: [t] }));
                const list = T.got[c] = [];
                client.subscribe(c, (data, env) => list.push(env), { history: 10 });
            }, [ch, transport]);
            await racing;
            await publishSeq(s, ch, 70, 1);
            await page.waitForFunction((c) => (T.got[c] || []).some((e) => e.data.seq === 70), ch, { timeout: 45000 });
            const seqs = seqsOf(await page.evaluate((c) => T.got[c], ch));
            // The history read happened somewhere in the race: its last 10 end where it did.
            assert.ok(seqs[0] >= 20 && seqs[0] <= 61, `the first event given: seq ${seqs[0]}`);
            assert.deepEqual(seqs, range(seqs[0], 71), 'no gap, no duplicate, in order');
            assert.deepEqual(await page.evaluate(() => T.errors), []);
        } finally {
            await ctx.close();
        }
    });
}
