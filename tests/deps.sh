#!/usr/bin/env bash
# deps.sh: installs the Debian packages that building and testing need, and only those missing
# (silent when none is), and the npm packages of package-lock.json. Services are left alone: if the distro's apache2, lighttpd or redis start, they
# keep their usual ports; the test and demo stacks use others.
set -euo pipefail

pkgs=(build-essential pkg-config libfcgi-dev libhiredis-dev libjansson-dev libjwt-dev libssl-dev redis-server
      apache2 lighttpd nginx libapache2-mod-fcgid curl procps chromium clang libclang-rt-dev
      debhelper file groff-base man-db)
command -v node > /dev/null || pkgs+=(nodejs)
command -v npm > /dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2> /dev/null) = installed ]] || missing+=("$p")
done
# The browser tests drive Debian's chromium with playwright-core from npm.
npm_ci() {
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
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_ci
