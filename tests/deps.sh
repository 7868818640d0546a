#!/usr/bin/env bash
# deps.sh run SERVER | test [--print]: installs the Debian packages a target needs, and only those
# missing (silent when none is). `run SERVER` is what `make run SERVER=…` needs to build and
# start the stack behind that one web server (its archive is SQLite, embedded); `test` is everything
# `make test` uses (every web server, Chromium, clang, Node.js, MariaDB and PostgreSQL) and the npm
# packages of package-lock.json. --print lists the
# target's packages, one a line, and installs nothing. Services are left alone: if the distro's
# apache2, lighttpd, redis, mariadb or postgresql start, they keep their usual ports; the test and demo stacks use others.
set -euo pipefail

usage() {
    echo "usage: $0 run apache|lighttpd|proxy-fcgi|nginx [--print] | test [--print]" >&2
    exit 2
}

# Building and running: the compiler, the three libraries and the two loaded for tokens, wslay
# (the WebSocket transport's framing, linked into comet.fcgi), the archive's three database
# clients and libcurl (the webhook sender; all linked into comet-worker), Redis;
# curl and ps are what tests/stack.sh starts and stops the stack with, openssl what signs the
# tokens `make run` prints for the demo page.
base=(build-essential pkg-config libfcgi-dev libhiredis-dev libjansson-dev libjwt-dev libssl-dev libwslay-dev redis-server
      libsqlite3-dev libmariadb-dev libpq-dev libcurl4-openssl-dev curl procps openssl)

# web SERVER: the packages of one deployment's web server.
web() {
    case $1 in
        apache) echo apache2 libapache2-mod-fcgid ;;
        proxy-fcgi) echo apache2 ;; # mod_proxy_fcgi ships with apache2
        lighttpd) echo lighttpd ;;
        nginx) echo nginx ;;
        *) usage ;;
    esac
}

target=${1:-} print=0
case $target in
    run)
        [[ $# -ge 2 ]] || usage
        server=$(web "$2") || exit 2
        read -r -a server <<< "$server"
        pkgs=("${base[@]}" "${server[@]}")
        [[ ${3:-} = --print ]] && print=1
        ;;
    test)
        # Every deployment, the browser tests' Chromium, clang for the libFuzzer targets, Node.js;
        # the archive tests' database servers and clients; PHP with curl and Python for the
        # README's publish snippets (tests/integration/readme.test.mjs); debhelper, file, groff and
        # man for the package and install tests (tests/package.sh, tests/install.sh); prometheus
        # for promtool, which checks /metrics (tests/integration/ops.test.mjs).
        pkgs=("${base[@]}" apache2 libapache2-mod-fcgid lighttpd nginx chromium clang libclang-rt-dev
              sqlite3 mariadb-server mariadb-client postgresql postgresql-client php-cli php-curl python3
              debhelper file groff-base man-db prometheus)
        command -v node > /dev/null || pkgs+=(nodejs)
        command -v npm > /dev/null || pkgs+=(npm)
        [[ ${2:-} = --print ]] && print=1
        ;;
    *) usage ;;
esac
if ((print)); then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2> /dev/null) = installed ]] || missing+=("$p")
done
# The browser tests drive Debian's chromium with playwright-core from npm; make client (the npm
# package's minified build) and tests/browser/package.test.mjs use esbuild, typescript and react.
# Running needs no npm.
npm_ci() {
    [[ $target = test ]] || return 0
    cd "$(dirname "$0")/.."
    [[ -d node_modules/playwright-core && node_modules/.package-lock.json -nt package-lock.json ]] ||
        npm ci --no-audit --no-fund --loglevel=error
}
if ((${#missing[@]} == 0)); then
    npm_ci
    exit 0
fi

if [[ $(id -u) != 0 ]]; then
    echo "deps.sh: missing ${missing[*]}; as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
npm_ci
