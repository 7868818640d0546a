// The browser client's files, served beside the endpoints by every shipped conf (comet.conf,
// proxy-fcgi.conf, lighttpd-conf, nginx-conf; htaccess.example in htaccess.test.mjs) with types
// of their own, whatever the server's mime.types says: comet.mjs must be JavaScript or browsers
// refuse to import it; comet.d.ts would be video/mp2t (nginx) or text/vnd.trolltech.linguist
// (Debian's /etc/mime.types, which Apache and lighttpd read).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, request, ROOT, SERVER } from '../lib/stack.mjs';

let s;
before(async () => {
    s = await startStack({ workers: 0 });
});
after(async () => {
    await s?.stop();
});

const FILES = [['comet.js', 'text/javascript; charset=utf-8'], ['comet.mjs', 'text/javascript; charset=utf-8'],
    ['comet.d.ts', 'text/plain; charset=utf-8']];

for (const [file, type] of FILES) {
    test(`/comet/${file} behind ${SERVER}: 200, ${type}, the file itself`, async () => {
        const r = await request(`${s.url()}/${file}`, { timeoutMs: 15000 });
        assert.equal(r.status, 200, `${file}: ${r.text.slice(0, 200)}`);
        assert.equal(String(r.headers['content-type']).toLowerCase().replace(/\s+/g, ' '), type, file);
        assert.equal(r.text, fs.readFileSync(path.join(ROOT, 'www', file), 'utf8'), file);
    });
}
