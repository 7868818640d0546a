// deps.sh: `make run SERVER=…` installs only what building and that one stack need, `make test`
// the rest; read from the lists deps.sh --print gives, and each name checked against apt's
// package index, so that a typo or a package gone from Debian fails here, not on a user's machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../lib/stack.mjs';

const DEPS = path.join(ROOT, 'tests/deps.sh');
const list = (...args) => {
    const r = spawnSync(DEPS, [...args, '--print'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0, `deps.sh ${args.join(' ')} --print: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean);
};
const SERVERS = { apache: ['apache2', 'libapache2-mod-fcgid'], 'proxy-fcgi': ['apache2'], lighttpd: ['lighttpd'],
    nginx: ['nginx'] };
const BUILD = ['build-essential', 'pkg-config', 'libfcgi-dev', 'libhiredis-dev', 'libjansson-dev', 'libjwt-dev',
    'libssl-dev', 'libcurl4-openssl-dev', 'redis-server', 'openssl'];
// What only the tests use: the browser tests, the fuzz targets, the test runner.
const TEST_ONLY = ['chromium', 'clang', 'libclang-rt-dev', 'nodejs', 'npm', 'prometheus'];

for (const [server, own] of Object.entries(SERVERS)) {
    test(`make run SERVER=${server}: building, Redis and that web server only`, () => {
        const pkgs = list('run', server);
        for (const p of [...BUILD, ...own]) assert.ok(pkgs.includes(p), `${p} missing from ${pkgs}`);
        const others = Object.values(SERVERS).flat().filter((p) => !own.includes(p));
        for (const p of [...TEST_ONLY, ...others]) assert.ok(!pkgs.includes(p), `${p} should not be in ${pkgs}`);
    });
}

test('make test: every package of every run target, and the test-only ones', () => {
    const pkgs = list('test');
    for (const server of Object.keys(SERVERS))
        for (const p of list('run', server)) assert.ok(pkgs.includes(p), `test lacks ${p} (run ${server})`);
    for (const p of ['chromium', 'clang', 'libclang-rt-dev', 'prometheus']) assert.ok(pkgs.includes(p), `test lacks ${p}`);
});

test('every package named is one apt knows', () => {
    const pkgs = [...new Set(list('test'))];
    const r = spawnSync('apt-cache', ['show', '--no-all-versions', ...pkgs], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, `apt-cache show: ${r.stderr}`);
    for (const p of pkgs) assert.match(r.stdout, new RegExp(`^Package: ${p}$`, 'm'), `apt does not know ${p}`);
});

test('an unknown server or target is refused (exit 2), installing nothing', () => {
    for (const args of [['run', 'iis'], ['run'], ['install'], []]) {
        const r = spawnSync(DEPS, args, { encoding: 'utf8', timeout: 10000 });
        assert.equal(r.status, 2, `deps.sh ${args.join(' ')}: ${r.status} ${r.stderr}`);
        assert.match(r.stderr, /usage:/);
    }
});
