#!/usr/bin/env bash
# package.sh: the Debian package, as CI builds and installs it. Builds it from a copy of the tree
# (dpkg-buildpackage -us -uc -b), installs it (apt-get install FILE.deb), checks what landed under the system's
# paths, then runs a private instance of the installed files: a private Redis, the worker started
# by /usr/bin/comet-cron and /usr/bin/comet.fcgi -s on a private socket, both with one private
# settings file (-c) and an empty environment, and a private nginx including the installed
# /etc/comet-fcgi/nginx.conf (its socket path pointed at the private one). An event is published
# and received by long-poll and SSE. The units are verified, never started. Ends with a purge, so
# the machine is as before, and "package: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. tests/lib/check.sh

if dpkg-query -W -f='${db:Status-Status}' comet-fcgi 2> /dev/null | grep -q .; then
    echo "package: comet-fcgi is already installed here; not touching it"
    check_end package
    exit 1
fi
runs=${COMET_TEST_RUNS:-$root/build/test-runs}
mkdir -p "$runs"
tmp=$(mktemp -d "$runs/package.XXXXXX")
chmod 755 "$tmp"
dir=$tmp/stack
# dpkg's own lock, waited for (up to 5 minutes) rather than failing when another apt or dpkg
# runs on the machine; apt-get hands the .deb to dpkg.
apt() { DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@" > /dev/null; }
cleanup() {
    tests/stack.sh stop "$dir"
    if dpkg-query -W comet-fcgi > /dev/null 2>&1; then apt purge comet-fcgi; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

build() {
    copy_tree "$tmp/src/comet-fcgi"
    (cd "$tmp/src/comet-fcgi" && dpkg-buildpackage -us -uc -b) > "$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log"; return 1; }
}
version_matches() {
    [[ $(dpkg-deb -f "$deb" Version) = "$(< VERSION)" ]]
}
installed_tree() {
    local f hits
    for f in /usr/bin/comet.fcgi /usr/bin/comet-worker; do file "$f" | grep -q 'ELF.*, stripped' || { file "$f"; return 1; }; done
    [[ $(stat -c %a /etc/comet-fcgi/comet.env) = 600 ]] || { echo "comet.env: mode $(stat -c %a /etc/comet-fcgi/comet.env)"; return 1; }
    grep -qx /etc/comet-fcgi/comet.env /var/lib/dpkg/info/comet-fcgi.conffiles || { echo "comet.env is not a conffile"; return 1; }
    hits=$(dpkg -L comet-fcgi | while read -r f; do if [[ -f $f ]]; then zgrep -HnE '@[A-Z][A-Z_]*@' "$f" || true; fi; done)
    [[ -z $hits ]] || { echo "$hits"; return 1; }
}
man_pages() { man -w comet.fcgi && man -w comet-worker && MANWIDTH=80 man comet-worker 2>&1 | grep -q comet-cron; }
units_verify() {
    local out
    out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify /lib/systemd/system/comet-worker.service /lib/systemd/system/comet-fcgi.service /lib/systemd/system/comet-archive.service 2>&1) ||
        { echo "$out"; return 1; }
    [[ -z $out ]] || { echo "$out"; return 1; }
}
# The unit's socket is the one the installed nginx and mod_proxy_fcgi confs forward to.
socket_agrees() {
    local sock
    sock=$(sed -n 's|^ExecStart=.* -s \([^ ]*\) .*|\1|p' /lib/systemd/system/comet-fcgi.service)
    [[ -n $sock ]] && grep -q "unix:$sock;" /etc/comet-fcgi/nginx.conf &&
        grep -q "unix:$sock|" /etc/comet-fcgi/apache-proxy-fcgi.conf
}

# The private instance.
rport=$(free_port) port=$(free_port)
key=smoke-key-$RANDOM$RANDOM
settings=$dir/comet.env
# launch NAME CMD...: as tests/stack.sh does, in a session of its own with DIR/NAME.pid, with
# nothing of our environment: the settings file is all they know.
launch() {
    local name=$1
    shift
    env -i PATH=/usr/sbin:/usr/bin:/bin TMPDIR="$dir" setsid "$@" >> "$dir/$name.log" 2>&1 < /dev/null &
    echo $! > "$dir/$name.pid"
    echo $! >> "$dir/stack.groups"
}
until_ok() { local i; for ((i = 0; i < 100; i++)); do "$@" && return 0; sleep 0.1; done; "$@"; }
start_stack() {
    tests/stack.sh redis "$dir" "$rport" || return 1
    printf '%s\n' '# private settings of tests/package.sh' "COMET_REDIS_PORT=$rport" "COMET_PREFIX='smoke:'" \
        "COMET_PUBLISH_KEYS=\"$key\"" > "$settings"
    chmod 600 "$settings"
    launch worker /usr/bin/comet-cron -c "$settings"
    launch fcgi /usr/bin/comet.fcgi -s "$dir/comet.sock" -c "$settings"
    until_ok test -S "$dir/comet.sock" || { cat "$dir/fcgi.log"; return 1; }
    chmod 666 "$dir/comet.sock"
    mkdir -p "$dir/tmp"
    sed "s|unix:/run/comet-fcgi/comet.sock;|unix:$dir/comet.sock;|" /etc/comet-fcgi/nginx.conf > "$dir/comet-nginx.conf"
    printf '%s\n' "pid $dir/nginx.run.pid;" "error_log $dir/error.log warn;" 'events { }' 'http {' \
        "    access_log off; client_body_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;" \
        '    include /etc/nginx/mime.types;' \
        "    server { listen 127.0.0.1:$port; root /usr/share/comet-fcgi/www; include $dir/comet-nginx.conf; }" \
        '}' > "$dir/nginx.conf"
    launch nginx nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
    until_ok curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/comet/stats" || { cat "$dir/error.log"; return 1; }
}
url() { echo "http://127.0.0.1:$port$1"; }
client_served() {
    curl -sf "$(url /)" | grep -q '<script src="/comet/comet.js">' &&
        curl -sf -D - -o /dev/null "$(url /comet/comet.js)" | grep -qi '^content-type: .*javascript'
}
publish_confirmed() {
    local out
    out=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"channel":"smoke","data":{"n":1}}' "$(url '/comet/publish?wait=1')")
    [[ $out = *' 200' ]] || { echo "publish answered: $out"; tail -n 5 "$dir/worker.log"; return 1; }
}
poll_gets_it() { curl -sf --max-time 5 "$(url '/comet/poll?channel=smoke&since=0&timeout=1')" | grep -q '"data":{"n":1}'; }
sse_gets_it() {
    # grep ends at the event; curl then ends at its next write or its deadline.
    { curl -sN --max-time 5 "$(url '/comet/sse?channel=smoke&lastEventId=0')" || true; } | grep -m1 -q '^data: .*"n":1'
}
prefix_from_file() { [[ -n $(redis-cli -p "$rport" --scan --pattern 'smoke:*' | head -n 1) ]]; }
cron_again_exits() { env -i PATH=/usr/bin:/bin TMPDIR="$dir" timeout 5 /usr/bin/comet-cron -c "$settings"; }
purged() {
    apt purge comet-fcgi && ! dpkg-query -W comet-fcgi > /dev/null 2>&1 &&
        [[ ! -e /etc/comet-fcgi && ! -e /usr/bin/comet.fcgi && ! -e /usr/share/comet-fcgi ]]
}

check 'dpkg-buildpackage -us -uc -b builds the .deb' build
deb=$(realpath "$tmp"/src/comet-fcgi_*.deb 2> /dev/null) && [[ -f $deb ]] || { check_end package; exit 1; }
check 'the package version is VERSION' version_matches
check 'the .deb installs (apt-get install ./FILE.deb)' apt install --no-install-recommends "$deb"
check 'installed: stripped binaries, settings 600 and a conffile, no placeholders' installed_tree
check 'man comet.fcgi and man comet-worker' man_pages
check 'systemd-analyze verify of the installed units' units_verify
check "the unit's socket is the one the nginx and proxy-fcgi confs name" socket_agrees
check 'a private Redis, worker (comet-cron), comet.fcgi -s and nginx start' start_stack
check 'the demo page and comet.js through the installed nginx snippet' client_served
check 'publish ?wait=1 is stored by the worker (200)' publish_confirmed
check 'long-poll receives the event' poll_gets_it
check 'SSE receives the event' sse_gets_it
check "the keys carry the settings file's prefix" prefix_from_file
check 'comet-cron again exits 0 while its worker runs' cron_again_exits
tests/stack.sh stop "$dir"
check 'purging it removes it all' purged
check_end package
