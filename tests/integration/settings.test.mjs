// The settings file and the command line: comet.fcgi (behind COMET_IT_SERVER) and the worker
// read one KEY=VALUE file named by COMET_CONFIG, the environment overriding it; a named file
// that is missing and a line that is not a COMET_* setting stop both binaries; -V, -h, an
// unknown option, comet.fcgi started by hand; the version agrees in VERSION, -V, /stats and
// comet.js. With COMET_BIN_DIR=build/static (tests/run.sh) it runs the static binaries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { startStack, channelName, until, ROOT, WAIT_MS } from '../lib/stack.mjs';

const BIN_DIR = path.resolve(ROOT, process.env.COMET_BIN_DIR || 'build');
const BINS = { fcgi: path.join(BIN_DIR, 'comet.fcgi'), worker: path.join(BIN_DIR, 'comet-worker') };
const VERSION = fs.readFileSync(path.join(ROOT, 'VERSION'), 'utf8').trim();
// The key and prefix exist only in the file: a publish accepted with the key and delivered
// by the worker shows that both binaries read it.
const FILE_KEY = crypto.randomBytes(12).toString('hex');
const PREFIX = `file${crypto.randomBytes(4).toString('hex')}:`;

// A folder every user can read (Apache's mod_fcgid processes run as www-data).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'comet-settings-'));
fs.chmodSync(tmp, 0o755);
function writeFile(name, text, mode = 0o644) {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, text);
    fs.chmodSync(p, mode);
    return p;
}

/**
 * Runs a binary with args and env (the test's own COMET_* settings removed), standard input
 * /dev/null ('ignore') or an empty pipe ('pipe'); never waits long.
 */
function run(bin, args, { env = {}, stdin = 'ignore' } = {}) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COMET_')));
    return spawnSync(BINS[bin], args, { env: { ...clean, ...env }, encoding: 'utf8', timeout: 10000,
        stdio: [stdin, 'pipe', 'pipe'] });
}

// The environment's COMET_REDIS_PORT (the stack's Redis) must beat the file's port 1.
const SHARED = writeFile('comet.env', [
    '# one settings file for the web server\'s comet.fcgi and the worker',
    `COMET_PUBLISH_KEYS='${FILE_KEY}'`,
    `COMET_PREFIX="${PREFIX}"`,
    'COMET_REDIS_PORT=1',
    '  COMET_POLL_TIMEOUT = 20  ',
    '',
].join('\n'));

let s;
before(async () => {
    s = await startStack({ env: { COMET_CONFIG: SHARED, COMET_PUBLISH_KEYS: undefined } });
});
after(async () => {
    await s?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
});

test('comet.fcgi and the worker read the same settings file: a publish with the key only the file holds ' +
    'is delivered under the file\'s prefix; the environment overrides the file (its Redis port)', async () => {
    const ch = channelName('file');
    const denied = await s.publish({ channel: ch, data: 0 }, { key: s.key });
    assert.equal(denied.status, 401, `the harness's key is not in the file: ${denied.text}`);
    const ids = await s.publishIds({ channel: ch, data: { from: 'file' } }, { key: FILE_KEY });
    assert.equal(ids.length, 1);
    const got = await s.collect(ch, 0, { count: 1 });
    assert.deepEqual(got.events.map((e) => e.data), [{ from: 'file' }]);
    assert.equal(await s.redis('EXISTS', `${PREFIX}h:${ch}`), '1', 'the history is not under the file\'s prefix');
    assert.equal(await s.redis('EXISTS', `comet:h:${ch}`), '0', 'a history under the default prefix');
    // The file holds a secret and every user may read it: one warning naming it and the fix.
    const log = path.join(s.dir, 'worker.log');
    await until(() => fs.existsSync(log) && /readable by every user and holds COMET_PUBLISH_KEYS: chmod 600/
        .test(fs.readFileSync(log, 'utf8')), WAIT_MS, 'the worker\'s warning about a readable file with a secret');
});

test('-n says which file it read; COMET_CONFIG and -c name it, -c first; an empty name reads none', () => {
    const other = writeFile('other.env', 'COMET_PREFIX=other:\n', 0o600);
    for (const bin of ['fcgi', 'worker']) {
        let r = run(bin, ['-n'], { env: { COMET_CONFIG: SHARED } });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`configuration OK; settings file: ${SHARED.replace(/[.]/g, '\\.')}\\n`));
        r = run(bin, ['-n', '-c', other], { env: { COMET_CONFIG: SHARED } });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /settings file: .*other\.env\n/);
        assert.doesNotMatch(r.stderr, /readable/, 'a 600 file without secrets: no warning');
        r = run(bin, ['-n'], { env: { COMET_CONFIG: '' } });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /settings file: none/);
    }
});

test('a missing named file, a line that is not a COMET_* setting, a malformed line or a bad value stop ' +
    'both binaries with a message naming the file and line', () => {
    const missing = path.join(tmp, 'missing.env');
    const foreign = writeFile('foreign.env', 'COMET_PREFIX=x:\nPATH=/tmp\n', 0o600);
    const broken = writeFile('broken.env', '# c\n\nCOMET_PREFIX="x:\n', 0o600);
    const bad = writeFile('bad.env', 'COMET_POLL_TIMEOUT=soon\n', 0o600);
    for (const bin of ['fcgi', 'worker']) {
        const name = bin === 'fcgi' ? 'comet.fcgi' : 'comet-worker';
        const cases = [
            [['-n', '-c', missing], {}, `${name}: settings file ${missing}: No such file or directory`],
            [['-n'], { COMET_CONFIG: missing }, `${name}: settings file ${missing}: No such file or directory`],
            [['-n', '-c', foreign], {}, `${name}: ${foreign}:2: PATH: only COMET_* settings belong in this file`],
            [['-n', '-c', broken], {}, `${name}: ${broken}:3: a quote that is not closed on its line`],
            [['-n', '-c', bad], {}, `${name}: COMET_POLL_TIMEOUT=soon: expected a whole number from 0 to 3600 (in ${bad})`],
        ];
        for (const [args, env, message] of cases) {
            const r = run(bin, args, { env });
            assert.equal(r.status, 1, `${name} ${args.join(' ')}: exit ${r.status}`);
            assert.equal(r.stderr.trim(), message);
        }
        // The environment overrides a bad value in the file.
        const r = run(bin, ['-n', '-c', bad], { env: { COMET_POLL_TIMEOUT: '5' } });
        assert.equal(r.status, 0, r.stderr);
    }
});

test('an unknown COMET_* key in the file is a warning naming its line, not an error', () => {
    const typo = writeFile('typo.env', 'COMET_PREFIX=x:\nCOMET_REDIS_HOTS=db\n', 0o600);
    const r = run('worker', ['-n', '-c', typo]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warn .*typo\.env:2: COMET_REDIS_HOTS is not a setting of comet-fcgi; ignored/);
});

test('-V prints the version, -h the usage on stdout (exit 0); an unknown option the usage on stderr (exit 2)', () => {
    for (const bin of ['fcgi', 'worker']) {
        const name = bin === 'fcgi' ? 'comet.fcgi' : 'comet-worker';
        let r = run(bin, ['-V']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `${name} ${VERSION}\n`);
        r = run(bin, ['-h']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, new RegExp(`^usage: ${name.replace('.', '\\.')} `));
        for (const opt of ['-c FILE', '-n', '-V', '-h', 'COMET_CONFIG', '/comet-fcgi/comet.env'])
            assert.ok(r.stdout.includes(opt), `${name} -h does not mention ${opt}:\n${r.stdout}`);
        r = run(bin, ['--version']);
        assert.equal(r.status, 2);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, new RegExp(`usage: ${name.replace('.', '\\.')} `));
    }
});

test('comet.fcgi started by hand (standard input /dev/null or a pipe, not a listening socket) says what to do ' +
    'and exits 2', () => {
    for (const stdin of ['ignore', 'pipe']) {
        const r = run('fcgi', [], { stdin });
        assert.equal(r.error, undefined, `it did not exit: ${r.error}`);
        assert.equal(r.status, 2, r.stderr);
        assert.equal(r.stdout, '', 'it answered as CGI');
        assert.match(r.stderr, /not a FastCGI socket/);
        assert.match(r.stderr, /mod_fcgid/);
        assert.match(r.stderr, /-s SOCKET/);
    }
});

test('the version agrees: VERSION, both binaries\' -V, GET /stats, comet.js (and www/package.json)', async () => {
    assert.match(VERSION, /^\d+\.\d+\.\d+$/);
    assert.equal(run('fcgi', ['-V']).stdout.trim(), `comet.fcgi ${VERSION}`);
    assert.equal(run('worker', ['-V']).stdout.trim(), `comet-worker ${VERSION}`);
    const stats = await s.stats();
    assert.equal(stats.version, VERSION);
    for (const k of ['published', 'waiting', 'inbox', 'worker'])
        assert.ok(k in stats, `/stats lost ${k}`);
    const Comet = createRequire(import.meta.url)(path.join(ROOT, 'www/comet.js'));
    assert.equal(Comet.version, VERSION);
    const pkg = path.join(ROOT, 'www/package.json');
    if (fs.existsSync(pkg)) assert.equal(JSON.parse(fs.readFileSync(pkg, 'utf8')).version, VERSION);
});

test('a static build needs no shared library, and refuses to start with credentials to check',
    { skip: path.basename(BIN_DIR) !== 'static' && 'not the static build' }, () => {
        for (const bin of ['fcgi', 'worker']) {
            // ELF64 program headers: none may be PT_INTERP (3), the dynamic loader's name.
            const elf = fs.readFileSync(BINS[bin]);
            const phoff = Number(elf.readBigUInt64LE(0x20)), size = elf.readUInt16LE(0x36), n = elf.readUInt16LE(0x38);
            assert.ok(n > 0, `${BINS[bin]}: no program headers`);
            for (let i = 0; i < n; i++)
                assert.notEqual(elf.readUInt32LE(phoff + i * size), 3, `${BINS[bin]} asks for a dynamic loader`);
            assert.equal(run(bin, ['-V']).status, 0);
        }
        const r = run('fcgi', ['-e'], { env: { COMET_CONFIG: '', COMET_URL_SECRET: 'x' } });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /this static build checks no credentials/);
    });
