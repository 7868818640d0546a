#!/usr/bin/env bash
# apache-short.sh RUN_DIR PORT OUT_DIR KEY [CLIENTS] [REQUESTS]: comet behind Apache + mod_fcgid
# only. For each transport (SSE, then long-poll): starts a fresh Apache (tests/stack.sh apache
# RUN_DIR PORT; Redis and the worker must run, COMET_* exported as bench/run.sh does), connects
# CLIENTS (200) clients at once with OUT_DIR/loadgen (how long until all wait: the burst), then,
# while they wait, sends REQUESTS (100) publishes to their channel one after another (long-poll
# clients answer and poll again after each), then REQUESTS GET /comet/stats, each timed by curl
# (time_total: connect to last byte). These are what mod_fcgid's short class
# (apache-conf/comet.conf) is for: a request that finds no idle process of its class waits 1 s.
# Prints a Markdown section for the report, writes OUT_DIR/apache-short.jsonl (a line per
# transport) and the samples (apache-short.MODE.publish.ms, .stats.ms); stops Apache and
# loadgen. Loopback only; called by bench/run.sh, or by hand with a Redis and a worker running.
set -euo pipefail

(($# >= 4 && $# <= 6)) || { echo "usage: $0 RUN_DIR PORT OUT_DIR KEY [CLIENTS] [REQUESTS]" >&2; exit 2; }
run=$1 port=$2 out=$3 key=$4 clients=${5:-200} requests=${6:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
base=http://127.0.0.1:$port/comet
ready=$out/apache-short.ready
lpid=

note() { echo "apache-short: $*" >&2; }

cleanup() {
    if [[ -n $lpid ]]; then kill -TERM "$lpid" 2> /dev/null || true; fi
    "$root/tests/stack.sh" stop "$run" > /dev/null 2>&1 || true
}
trap cleanup EXIT

# timed N OUTFILE CURL_ARGS...: N requests one after another; OUTFILE gets each one's
# milliseconds; prints how many were not 2xx.
timed() {
    local n=$1 file=$2 i code s bad=0
    shift 2
    : > "$file"
    for ((i = 0; i < n; i++)); do
        read -r code s < <(curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}\n' "$@" || echo "000 30")
        [[ $code = 2?? ]] || bad=$((bad + 1))
        awk -v s="$s" 'BEGIN { printf "%.2f\n", s * 1000 }' >> "$file"
    done
    echo "$bad"
}

# stats FILE: "FIRST P50 P99 MAX" of the milliseconds in FILE (nearest rank).
stats() {
    local first
    first=$(head -n 1 "$1")
    sort -n "$1" | awk -v first="$first" '{ v[NR] = $1 } END {
        r50 = int(NR * 0.50 + 0.999999); r99 = int(NR * 0.99 + 0.999999)
        printf "%s %s %s %s\n", first, v[r50], v[r99], v[NR] }'
}

# classes: "WAIT SHORT OTHER", the comet.fcgi processes in Apache's session (stack.sh made it
# a session leader) by their command line.
classes() {
    local p stat sid cmd w=0 s=0 o=0 apache
    apache=$(< "$run/apache.pid")
    for p in /proc/[0-9]*; do
        read -r stat 2> /dev/null < "$p/stat" || continue
        stat=${stat##*) }
        read -r _ _ _ sid _ <<< "$stat"
        [[ $sid = "$apache" ]] || continue
        cmd=$(tr '\0' ' ' < "$p/cmdline" 2> /dev/null) || continue
        case $cmd in
            *comet.fcgi\ -L\ wait*) w=$((w + 1)) ;;
            *comet.fcgi\ -L\ short*) s=$((s + 1)) ;;
            *comet.fcgi*) o=$((o + 1)) ;;
        esac
    done
    echo "$w $s $o"
}

# measure MODE: a run with MODE (sse or poll) clients on a fresh Apache; appends its JSON line
# to OUT_DIR/apache-short.jsonl and prints its two table rows.
measure() {
    local mode=$1 prefix=ashort$$-$1- f=$out/apache-short.$1 i live json burst=n/a pub_bad stats_bad
    local pw ps po p1 p50 p99 pmax s1 s50 s99 smax load
    "$root/tests/stack.sh" apache "$run" "$port" > /dev/null || return 1
    sleep 1
    rm -f "$ready"
    "$out/loadgen" -f comet -m "$mode" -n "$clients" -C 1 -r 0 -d 600 -g 0 -s 0 -T 120 -p "$port" \
        -x "$prefix" -l "comet-apache:short-$mode" -R "$ready" > "$f.loadgen.json" 2>> "$out/loadgen.log" &
    lpid=$!
    for ((i = 0; i < 1500; i++)); do
        [[ -f $ready ]] && break
        kill -0 "$lpid" 2> /dev/null || break
        sleep 0.1
    done
    [[ -f $ready ]] || { note "$mode: loadgen's clients did not connect"; return 1; }
    read -r live _ < "$ready"
    sleep 1
    pub_bad=$(timed "$requests" "$f.publish.ms" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' -d "{\"channel\":\"${prefix}0\",\"data\":{\"n\":1}}" "$base/publish")
    stats_bad=$(timed "$requests" "$f.stats.ms" "$base/stats")
    read -r pw ps po <<< "$(classes)"
    load=$(cut -d' ' -f1 /proc/loadavg)
    kill -TERM "$lpid"
    wait "$lpid" || true
    lpid=
    "$root/tests/stack.sh" stop "$run" > /dev/null
    json=$(tail -n 1 "$f.loadgen.json")
    if [[ $json =~ \"connect_s\":([0-9.]+) ]]; then burst=${BASH_REMATCH[1]}; fi
    read -r p1 p50 p99 pmax <<< "$(stats "$f.publish.ms")"
    read -r s1 s50 s99 smax <<< "$(stats "$f.stats.ms")"
    {
        printf '{"mode":"%s","clients":%s,"live":%s,"burst_s":"%s",' "$mode" "$clients" "$live" "$burst"
        printf '"publish":{"n":%s,"errors":%s,"first_ms":%s,"p50_ms":%s,"p99_ms":%s,"max_ms":%s},' \
            "$requests" "$pub_bad" "$p1" "$p50" "$p99" "$pmax"
        printf '"stats":{"n":%s,"errors":%s,"first_ms":%s,"p50_ms":%s,"p99_ms":%s,"max_ms":%s},' \
            "$requests" "$stats_bad" "$s1" "$s50" "$s99" "$smax"
        printf '"procs":{"wait":%s,"short":%s,"other":%s},"loadavg":"%s"}\n' "$pw" "$ps" "$po" "$load"
    } >> "$out/apache-short.jsonl"
    printf '| %s | %s of %s, %s s | POST /comet/publish | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s |\n' \
        "$mode" "$live" "$clients" "$burst" "$requests" "$pub_bad" "$p1" "$p50" "$p99" "$pmax" "$pw" "$ps" "$po" "$load"
    printf '| %s | | GET /comet/stats | %s | %s | %s | %s | %s | %s | | |\n' \
        "$mode" "$requests" "$stats_bad" "$s1" "$s50" "$s99" "$smax"
}

mkdir -p "$out"
rm -f "$out/apache-short.jsonl" "$out/apache-short.rows"
for mode in sse poll; do
    measure "$mode" >> "$out/apache-short.rows" || note "$mode: failed"
done
rows=$(< "$out/apache-short.rows")
cat << EOF

## Apache + mod_fcgid: publishes and /stats while clients wait

For each transport, a fresh comet-apache: $clients clients connect at once (a burst; \`loadgen -n $clients
-r 0\`; the time until the last one waits: its SSE \`comet-open\`, or its first long-poll answered,
which takes 1 s on a new channel). Then, while they wait, $requests publishes to their channel one
after another (long-poll clients answer and poll again after each), then $requests
\`GET /comet/stats\`, each timed by curl from connect to last byte (\`bench/apache-short.sh\`).
Waiting requests run in mod_fcgid's wait class, publishes and /stats in the short class
(apache-conf/comet.conf); a request that finds no idle process of its class waits 1 s first.
With $requests requests, p99 is the second slowest: a single slow one shows only in first and max.

| clients | waiting after the burst | request | n | not 2xx | first ms | p50 ms | p99 ms | max ms | comet.fcgi processes at the end: wait / short / other class | load avg (1 min) |
|---|---|---|---|---|---|---|---|---|---|---|
$rows
EOF
