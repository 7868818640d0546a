#!/usr/bin/env bash
# archive.sh RUN_DIR OUT_DIR KEY [EVENTS] [REQUESTS]: the SQL archive's costs, comet behind
# lighttpd (external mode), on the Redis that bench/run.sh started (COMET_REDIS_* exported), under
# a prefix of its own so nothing it does touches the other scenarios:
#   1. the worker's flat-out store rate: EVENTS (20,000) publishes queued while no worker runs,
#      then one worker started and timed until it stored them all (the archive on: each is also
#      queued for the writer);
#   2. the archive's sustained insert rate on each backend (SQLite, MariaDB, PostgreSQL, private
#      servers from tests/stack.sh): EVENTS queued for the writer, then the writer started and
#      timed until the queue is empty; its ratio to 1. (>= 1.0: the archive keeps up);
#   3. delivery latency with the archive off and on (SQLite, writer running), the same loadgen
#      run twice in this run: p50/p99 and their ratio (target <= 1.1);
#   4. GET /history?limit=50 on a channel of 1,000,000 events in SQLite (filled with SQL), none
#      in Redis: REQUESTS (200) requests one after another, half the newest page and half a page
#      before a random id, each timed by curl (time_total): p50/p99 (target p99 < 5 ms).
# Prints a Markdown section for the report and writes OUT_DIR/archive.jsonl; stops what it
# started, by pid (tests/stack.sh stop). Loopback only; called by bench/run.sh.
set -euo pipefail

(($# >= 3 && $# <= 5)) || { echo "usage: $0 RUN_DIR OUT_DIR KEY [EVENTS] [REQUESTS]" >&2; exit 2; }
run=$1/archive out=$2 key=$3 events=${4:-20000} requests=${5:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
stack=$root/tests/stack.sh
bin=${COMET_BIN_DIR:-$root/build}
export COMET_PREFIX=bench-archive: COMET_PUBLISH_KEYS=$key COMET_LOG_LEVEL=${COMET_LOG_LEVEL:-warn}
big_rows=${BENCH_ARCHIVE_ROWS:-1000000}

note() { echo "archive bench: $*" >&2; }
die() { note "$*"; exit 1; }
cleanup() { for d in "$run/web" "$run/worker" "$run"; do "$stack" stop "$d" > /dev/null 2>&1 || true; done; }
trap cleanup EXIT

rcli() { redis-cli -h "$COMET_REDIS_HOST" -p "$COMET_REDIS_PORT" "$@"; }
counter() { local v; v=$(rcli HGET "${COMET_PREFIX}stats" "$1"); echo "${v:-0}"; }
backlog() { rcli XLEN "${COMET_PREFIX}archive"; }
ms() { date +%s%3N; }
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
    done
}
stored() { (($(counter published) >= $1)); }
drained() { (($(backlog) == 0)); }
# until_true SECONDS CMD...: polls CMD every 50 ms; fails after SECONDS.
until_true() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < end)) || return 1
        sleep 0.05
    done
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? n * 1000 / t : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
field() { grep -o "\"$2\":[^,}]*" <<< "$1" | head -n 1 | cut -d: -f2 | tr -d '"'; }
pct() { sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i] }'; }

web_port=$(free_port)
web() { # web COMET_ARCHIVE: (re)starts lighttpd with comet.fcgi reading that archive ("" none)
    "$stack" stop "$run/web" > /dev/null 2>&1 || true
    COMET_ARCHIVE=$1 "$stack" lighttpd "$run/web" "$web_port" > /dev/null
}
worker() { # worker COMET_ARCHIVE: (re)starts the one worker of this prefix
    "$stack" stop "$run/worker" > /dev/null 2>&1 || true
    [[ ${1-x} = none ]] && return 0
    COMET_ARCHIVE=$1 "$stack" worker "$run/worker" > /dev/null
}
# The writer of COMET_ARCHIVE, in $run (stack.sh waits for its "started" line, an info line).
writer() { COMET_LOG_LEVEL=info "$stack" archive "$run" > /dev/null; }
publish() { # publish N: N events to channel $2 as fast as loadgen goes (accepted, not yet stored)
    "$out/loadgen" -f comet -m publish -n 0 -r max -M "$1" -d 600 -g 0 -s 0 -p "$web_port" -k "$key" \
        -x "$2" -l "archive-fill" > /dev/null 2>> "$out/loadgen.log"
}
url_of() {
    case $1 in
        sqlite) echo "sqlite:$run/archive.db" ;;
        mariadb) echo "mysql://comet:comet@127.0.0.1:$db_port/comet" ;;
        postgresql) echo "postgresql://comet:comet@127.0.0.1:$db_port/comet" ;;
    esac
}

mkdir -p "$run"
: > "$out/archive.jsonl"
sqlite_url=$(url_of sqlite)
COMET_ARCHIVE=$sqlite_url "$bin/comet-worker" --archive-init 2> /dev/null || die "cannot create $run/archive.db"
web ""

# 1. The worker's flat-out rate, the archive on (its events queued for a writer that is not running).
worker none
rcli DEL "${COMET_PREFIX}archive" > /dev/null
base=$(counter published)
publish "$events" store
t0=$(ms)
worker "$sqlite_url"
until_true 600 stored $((base + events)) || die "the worker did not store $events events"
worker_rate=$(rate "$events" $(($(ms) - t0)))
note "worker: $worker_rate events/s"

# 2. The writer's rate on each backend, EVENTS queued each time.
declare -A insert
for b in ${BENCH_ARCHIVE_BACKENDS:-sqlite mariadb postgresql}; do
    db_port=$(free_port)
    case $b in
        mariadb) "$stack" mariadb "$run" "$db_port" > /dev/null || { note "no MariaDB: skipped"; continue; } ;;
        postgresql) "$stack" postgres "$run" "$db_port" > /dev/null || { note "no PostgreSQL: skipped"; continue; } ;;
    esac
    COMET_ARCHIVE=$(url_of "$b") "$bin/comet-worker" --archive-init 2> /dev/null || { note "$b: --archive-init failed"; continue; }
    if (($(backlog) < events)); then
        base=$(counter published)
        publish "$events" "$b"
        until_true 600 stored $((base + events)) || die "the worker did not store the events"
    fi
    queued=$(backlog)
    t0=$(ms)
    COMET_ARCHIVE=$(url_of "$b") writer
    until_true 600 drained || { note "$b: the writer did not drain the backlog"; continue; }
    insert[$b]=$(rate "$queued" $(($(ms) - t0)))
    "$stack" stop "$run" > /dev/null 2>&1 || true # the writer and the database server
    note "$b: ${insert[$b]} rows/s"
done

# 3. Delivery latency, the archive off then on (SQLite, the writer running), the same run.
declare -A p50 p99
for mode in off on; do
    if [[ $mode = off ]]; then worker ""; else
        worker "$sqlite_url"
        COMET_ARCHIVE=$sqlite_url writer
    fi
    json=$("$out/loadgen" -f comet -m sse -n 200 -C 20 -r 500 -d "${BENCH_ARCHIVE_SECONDS:-15}" -g 3 -s 1 -T 60 \
        -p "$web_port" -k "$key" -x "deliver-$mode-" -l "archive-$mode" 2>> "$out/loadgen.log" | tail -n 1)
    p50[$mode]=$(field "$json" p50_ms) p99[$mode]=$(field "$json" p99_ms)
    note "delivery, archive $mode: p50 ${p50[$mode]} ms, p99 ${p99[$mode]} ms"
    "$stack" stop "$run" > /dev/null 2>&1 || true
done

# 4. /history?limit=50 on 1,000,000 archived events (SQLite), nothing of the channel in Redis.
big=$run/big.db
rm -f "$big"*
COMET_ARCHIVE=sqlite:$big "$bin/comet-worker" --archive-init 2> /dev/null
t0=$(ms)
sqlite3 "$big" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $big_rows)
    INSERT INTO comet_events (channel, ms, seq, envelope) SELECT 'big', 1700000000000 + i, 0,
    '{\"id\":\"' || (1700000000000 + i) || '-0\",\"channel\":\"big\",\"event\":\"message\",\"data\":{\"n\":' || i || '}}' FROM n;"
note "filled $big_rows rows in $(($(ms) - t0)) ms"
worker "$sqlite_url"
web "sqlite:$big"
: > "$out/archive-history.ms"
bad=0
for ((i = 0; i < requests; i++)); do
    q="channel=big&limit=50"
    ((i % 2)) && q+="&before=$((1700000000000 + RANDOM * 30 % big_rows))-0"
    read -r code s < <(curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}\n' \
        "http://127.0.0.1:$web_port/comet/history?$q" || echo "000 30")
    [[ $code = 200 ]] || bad=$((bad + 1))
    awk -v s="$s" 'BEGIN { printf "%.2f\n", s * 1000 }' >> "$out/archive-history.ms"
done
h50=$(pct "$out/archive-history.ms" 50) h99=$(pct "$out/archive-history.ms" 99)
note "history: p50 $h50 ms, p99 $h99 ms, $bad not 200"

printf '{"events":%d,"worker_per_s":%s' "$events" "$worker_rate" >> "$out/archive.jsonl"
for b in "${!insert[@]}"; do printf ',"insert_%s_per_s":%s' "$b" "${insert[$b]}" >> "$out/archive.jsonl"; done
printf ',"deliver_off_p99_ms":%s,"deliver_on_p99_ms":%s,"history_rows":%d,"history_p50_ms":%s,"history_p99_ms":%s,"history_errors":%d}\n' \
    "${p99[off]:-0}" "${p99[on]:-0}" "$big_rows" "$h50" "$h99" "$bad" >> "$out/archive.jsonl"

echo
echo "## The SQL archive"
echo
echo "comet behind lighttpd; $events events per rate measurement; loopback; \`bench/archive.sh\`."
echo
echo "| measurement | result | target |"
echo "| --- | --- | --- |"
echo "| worker, flat-out store rate (archive on) | $worker_rate events/s | |"
for b in sqlite mariadb postgresql; do
    [[ -n ${insert[$b]:-} ]] &&
        echo "| archive insert rate, $b | ${insert[$b]} rows/s ($(ratio "${insert[$b]}" "$worker_rate")× the worker) | ≥ 1.0× |"
done
echo "| delivery p50 / p99, archive off | ${p50[off]:-n/a} / ${p99[off]:-n/a} ms | |"
echo "| delivery p50 / p99, archive on (SQLite) | ${p50[on]:-n/a} / ${p99[on]:-n/a} ms ($(ratio "${p99[on]:-0}" "${p99[off]:-0}")× p99) | ≤ 1.1× |"
echo "| \`history?limit=50\`, $big_rows events in SQLite, p50 / p99 | $h50 / $h99 ms ($bad errors) | p99 < 5 ms |"
