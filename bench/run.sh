#!/usr/bin/env bash
# run.sh: `make bench`. Installs what is missing, builds comet-fcgi and bench/loadgen, starts
# one Redis, the comet stack (tests/stack.sh: worker, then the web server in front) and a
# private nginx + Nchan on free loopback ports, runs every scenario against each server (each on
# a freshly started web server), then the SQL archive's measurements (bench/archive.sh), and
# writes build/bench/report.md, results.jsonl, archive.jsonl, latency.png.
# Loopback only, every run bounded in time; it stops what it started, by pid. Not part of tests.
#   BENCH_SCALE=small       a quick pass (about 6 minutes, each scenario once) instead of the
#                           full sizes (about an hour with the three repetitions)
#   COMET_SERVER="apache lighttpd nginx proxy"  (the default) comet behind which web servers:
#                           apache (mod_fcgid), lighttpd, nginx, proxy (Apache mod_proxy_fcgi);
#                           all but apache run comet.fcgi in external mode
#   BENCH_COMET_CAP=N       waiting clients comet may be given (default: from apache-conf)
#   BENCH_ONLY="sse-1000 ws-1000"  only these scenarios of the scale (names as in the report)
#   BENCH_REPEAT=N          runs of each scenario on each server, alternating servers within
#                           each repetition (default 3; 1 with BENCH_SCALE=small)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$root/build/bench
run=$out/run
scale=${BENCH_SCALE:-full}
repeat=${BENCH_REPEAT:-$([[ $scale = small ]] && echo 1 || echo 3)}
[[ $repeat =~ ^[1-9][0-9]?$ ]] || die "BENCH_REPEAT: a number of runs, 1 to 99"
comet_servers=${COMET_SERVER:-apache lighttpd nginx proxy}

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# ---- packages and builds ---------------------------------------------------------------

installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2> /dev/null) = installed ]]; }

install_missing() {
    local p missing=()
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    [[ $(id -u) = 0 ]] || die "missing ${missing[*]}; as root: apt-get install ${missing[*]}"
    note "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# stack_has NAME: tests/stack.sh knows the subcommand NAME (its usage line names it).
stack_has() {
    local usage
    usage=$(tests/stack.sh 2>&1 || true)
    grep -qE "[ |]$1[ |]" <<< "${usage#usage: stack.sh}"
}

tests/deps.sh test
pkgs=(libnginx-mod-nchan)
command -v nginx > /dev/null || pkgs+=(nginx)
command -v gnuplot > /dev/null || pkgs+=(gnuplot-nox)
servers=()
for s in $comet_servers; do
    case $s in
        apache | lighttpd | nginx | proxy) ;;
        *) die "COMET_SERVER: unknown web server $s (apache, lighttpd, nginx, proxy)" ;;
    esac
    if stack_has "$s"; then
        servers+=("comet-$s")
        [[ $s = lighttpd ]] && pkgs+=(lighttpd)
    else
        note "tests/stack.sh has no $s subcommand: comet behind $s skipped"
    fi
done
servers+=(nchan)
install_missing "${pkgs[@]}"
nchan_module=/usr/lib/nginx/modules/ngx_nchan_module.so
[[ -f $nchan_module ]] || die "$nchan_module: not found after installing libnginx-mod-nchan"

make -s all
mkdir -p "$out"
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
    -Wstrict-prototypes -Wpointer-arith -Icommon -o "$out/loadgen" \
    bench/loadgen.c bench/resp.c bench/hist.c bench/seqset.c bench/wsframe.c common/xalloc.c common/log.c common/clock.c

# ---- scenarios ---------------------------------------------------------------------------
# scenario KIND MODE SUBSCRIBERS CHANNELS RATE SECONDS GRACE PUBLISHER_CONNS: one more scenario
# (MODE: sse, poll or ws),
# named KIND-SUBSCRIBERS. RATE is publishes/s (0: the clients only wait, idle; max: flat out);
# SECONDS of publishing (or of waiting), then up to GRACE seconds for the last deliveries.
scenarios=()
scenario() { scenarios+=("$1-$3 ${*:2}"); }
if [[ $scale = small ]]; then
    scenario idle-sse sse 200 1 0 3 0 1
    scenario idle-poll poll 200 1 0 3 0 1
    scenario sse sse 20 1 2 4 3 2
    scenario sse sse 100 1 2 4 3 2
    scenario sse sse 200 1 2 4 3 2
    scenario poll poll 100 1 2 4 3 2
    scenario fanout sse 100 1 max 4 5 8
    scenario channels sse 100 100 100 4 3 4
    # WebSocket: comet's (lighttpd, nginx, proxy; mod_fcgid has none) beside Nchan's on /sub/.
    scenario idle-ws ws 200 1 0 3 0 1
    scenario ws ws 100 1 2 4 3 2
    scenario fanout-ws ws 100 1 max 4 5 8
    settle=2
else
    [[ $scale = full ]] || die "BENCH_SCALE: small or full"
    scenario idle-sse sse 10000 1 0 5 0 1
    scenario idle-poll poll 10000 1 0 5 0 1
    scenario sse sse 100 1 2 10 5 2
    # 10 events/s at 1,000 subscribers: 100 events, so a p99 is not one slow event's (at 2/s,
    # 20 events, it was, for comet and Nchan alike).
    scenario sse sse 1000 1 10 10 5 2
    scenario sse sse 10000 1 2 10 10 2
    scenario poll poll 1000 1 10 10 5 2
    scenario fanout sse 1000 1 max 10 15 8
    scenario channels sse 1000 1000 200 10 5 4
    scenario channels-max sse 1000 1000 max 10 15 8
    # WebSocket (issue 14's targets): memory per idle socket, p50/p99 at 1,000 and 10,000,
    # fan-out with 1,000; comet behind lighttpd, nginx and proxy (mod_fcgid has no WebSocket).
    scenario idle-ws ws 10000 1 0 5 0 1
    scenario ws ws 1000 1 10 10 5 2
    scenario ws ws 10000 1 2 10 10 2
    scenario fanout-ws ws 1000 1 max 10 15 8
    settle=3
fi
# BENCH_ONLY: the scenarios of that scale to run, by name (as the report names them).
if [[ -n ${BENCH_ONLY:-} ]]; then
    kept=()
    for s in "${scenarios[@]}"; do
        if [[ " $BENCH_ONLY " = *" ${s%% *} "* ]]; then kept+=("$s"); fi
    done
    ((${#kept[@]})) || die "BENCH_ONLY: none of \"$BENCH_ONLY\" is a scenario of scale $scale"
    scenarios=("${kept[@]}")
fi

# Under mod_fcgid every waiting client holds one comet.fcgi process and one Apache thread:
# cap comet at what apache-conf allows, less room for the publishers.
fcgid_max=$(grep -Eo '^[[:space:]]*FcgidMaxProcessesPerClass[[:space:]]+[0-9]+' apache-conf/comet.conf |
            grep -Eo '[0-9]+$' || echo 100)
workers_max=$(grep -Eo '^MaxRequestWorkers[[:space:]]+[0-9]+' apache-conf/private.sh | grep -Eo '[0-9]+$' || echo 150)
apache_cap=${BENCH_COMET_CAP:-$(( (fcgid_max < workers_max ? fcgid_max : workers_max) - 16 ))}
# Under mod_proxy_fcgi each waiting client holds an Apache thread (comet.fcgi runs apart).
proxy_cap=${BENCH_COMET_CAP:-$((workers_max - 16))}
# Under lighttpd each waiting client holds two descriptors there (client, backend), the
# hard open-file limit here may be below lighttpd-conf's server.max-fds, and lighttpd stops
# accepting at 90% of its descriptors (its high-water mark).
nofile=$(ulimit -Hn)
[[ $nofile = unlimited ]] && nofile=1048576
lighttpd_fit=$(( (nofile * 9 / 10 - 256) / 2 ))
lighttpd_cap=${BENCH_COMET_CAP:-$(( lighttpd_fit < 10000 ? lighttpd_fit : 0 ))}
cap_of() {
    case $1 in
        comet-apache) echo "$apache_cap" ;;
        comet-proxy) echo "$proxy_cap" ;;
        comet-lighttpd) echo "$lighttpd_cap" ;;
        *) echo 0 ;;
    esac
}

# table_head CELL RATIO: a report table's header: a column per server (CELL, a printf
# format of the server's name), then one per comet deployment's ratio to Nchan (RATIO).
table_head() {
    local s
    printf '| scenario |'
    for s in "${servers[@]}"; do printf " $1 |" "$s"; done
    for s in "${comet[@]}"; do printf " $2 |" "$s"; done
    echo
    printf '|---|'
    for _ in "${servers[@]}" "${comet[@]}"; do printf -- '---|'; done
    echo
}

# ---- processes ---------------------------------------------------------------------------

alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2> /dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

listening() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# pick_ports: sets redis_port, web_port and nchan_port to ports nothing listens on, below
# the ephemeral range (a listener cannot bind a port that an outgoing connection holds).
pick_ports() {
    local low p i found=()
    read -r low _ < /proc/sys/net/ipv4/ip_local_port_range
    ((low > 12000)) || die "the ephemeral port range starts at $low: no room for fixed ports below it"
    p=$((10000 + RANDOM % (low - 11000)))
    for ((i = 0; i < 200 && ${#found[@]} < 3 && p < low; i++, p++)); do
        listening "$p" || found+=("$p")
    done
    ((${#found[@]} == 3)) || die "no free ports found"
    redis_port=${found[0]} web_port=${found[1]} nchan_port=${found[2]}
}

nginx_start() {
    local d=$run/nginx nofile i
    mkdir -p "$d/run" "$d/tmp"
    nofile=$(ulimit -Hn)
    [[ $nofile = unlimited ]] && nofile=65536
    sed -e "s#@DIR@#$d#g" -e "s#@PORT@#$nchan_port#g" -e "s#@REDIS_PORT@#$redis_port#g" \
        -e "s#@WORKERS@#$(nproc)#g" -e "s#@MODULE@#$nchan_module#g" \
        -e "s#worker_rlimit_nofile [0-9]*;#worker_rlimit_nofile $nofile;#" \
        -e "s#worker_connections [0-9]*;#worker_connections $((nofile - 64));#" \
        bench/nchan.conf.in > "$d/nginx.conf"
    setsid nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' \
        >> "$d/nginx.log" 2>&1 < /dev/null &
    echo $! > "$d/nginx.pid"
    for ((i = 0; i < 100; i++)); do
        listening "$nchan_port" && return 0
        alive "$(< "$d/nginx.pid")" || break
        sleep 0.1
    done
    tail -n 5 "$d/error.log" >&2 || true
    note "nginx + nchan did not start"
    return 1
}

# server_start / server_stop SERVER: a fresh web server for each scenario, so idle processes
# of the previous one neither inflate nor hide the memory of this one.
server_start() {
    case $1 in
        comet-apache) tests/stack.sh apache "$run/web" "$web_port" ;;
        comet-lighttpd) tests/stack.sh lighttpd "$run/web" "$web_port" ;;
        comet-proxy) tests/stack.sh proxy "$run/web" "$web_port" ;;
        comet-nginx) tests/stack.sh nginx "$run/web" "$web_port" ;;
        nchan) nginx_start ;;
    esac
}

server_stop() {
    case $1 in
        comet-*) tests/stack.sh stop "$run/web" ;;
        nchan) tests/stack.sh stop "$run/nginx" ;;
    esac
}

stop_all() {
    set +e
    tests/stack.sh stop "$run/web"
    tests/stack.sh stop "$run/nginx"
    tests/stack.sh stop "$run/worker"
    tests/stack.sh stop "$run/redis"
}

# sessions SERVER: the session ids whose processes are SERVER's (Redis included).
sessions() {
    local f
    case $1 in
        comet-*) for f in "$run/web/stack.groups" "$run/worker/stack.groups"; do
                     [[ -f $f ]] && cat "$f"
                 done ;;
        nchan) cat "$run/nginx/nginx.pid" ;;
    esac
    cat "$run/redis/redis.pid"
}

# pss SERVER: "KB PROCESSES REDIS_KB", the summed PSS (smaps_rollup) of every process in its
# sessions, and Redis's part of it. Builtins only: it runs while hundreds of processes wait,
# inside loadgen's settle time.
pss() {
    local want p stat sid key value total=0 procs=0 redis=0 redis_sid
    want=" $(sessions "$1" | tr '\n' ' ') "
    redis_sid=$(< "$run/redis/redis.pid")
    for p in /proc/[0-9]*; do
        read -r stat 2> /dev/null < "$p/stat" || continue
        stat=${stat##*) }
        read -r _ _ _ sid _ <<< "$stat"
        [[ $want = *" $sid "* ]] || continue
        while read -r key value _; do
            if [[ $key = Pss: ]]; then
                total=$((total + value)) procs=$((procs + 1))
                [[ $sid = "$redis_sid" ]] && redis=$((redis + value))
                break
            fi
        done 2> /dev/null < "$p/smaps_rollup" || true
    done
    echo "$total $procs $redis"
}

# ---- one scenario on one server ----------------------------------------------------------

# field JSON NAME: the value of "NAME": in a flat JSON line.
field() {
    if [[ $1 =~ \"$2\":\"?([^,\"}]*) ]]; then echo "${BASH_REMATCH[1]}"; else echo ""; fi
}

# per_client KB CLIENTS: KB / CLIENTS with one decimal (0 without clients).
per_client() { awk -v k="$1" -v c="${2:-0}" 'BEGIN { printf "%.1f", (c > 0 ? k / c : 0) }'; }

run_one() {
    local server=$1 name=$2 mode=$3 n=$4 chans=$5 rate=$6 secs=$7 grace=$8 pconns=$9
    local cap flavor port key=() cmd lpid b bp br w wp wr json i ready=$out/ready note='' conn
    # mod_fcgid has no WebSocket (/comet/ws answers 404): its tables say "not run".
    [[ $mode = ws && $server = comet-apache ]] && return 0
    cap=$(cap_of "$server")
    if ((cap > 0 && n > cap)); then
        note="capped at $cap (was $n)"
        ((chans == n)) && chans=$cap
        n=$cap
    fi
    case $server in
        nchan) flavor=nchan port=$nchan_port ;;
        *) flavor=comet port=$web_port key=(-k "$publish_key") ;;
    esac
    if ! server_start "$server" > /dev/null; then
        note "$server did not start: $name skipped"
        echo "{\"server\":\"$server\",\"scenario\":\"$name\",\"connected\":0,\"note\":\"server did not start\"}" >> "$out/results.jsonl"
        server_stop "$server"
        return 0
    fi
    sleep 1
    read -r b bp br <<< "$(pss "$server")"
    rm -f "$ready"
    cmd=("$out/loadgen" -f "$flavor" -m "$mode" -n "$n" -C "$chans" -r "$rate" -P "$pconns"
         -d "$secs" -g "$grace" -s "$settle" -T 60 -p "$port" "${key[@]}"
         -x "b$$-$name-${server#comet-}-$rep-" -l "$server:$name" -o "$out/cdf/$name.$server.cdf" -R "$ready")
    # Where a tail comes from (one stall or a steady spread): every delivery's send time and
    # latency, kept for the many-channel scenarios only (fan-out would write millions of lines).
    [[ $name = channels* ]] && cmd+=(-t "$out/cdf/$name.$server.$rep.trace")
    echo "${server}: ${cmd[*]}" | sed "s#$out/#build/bench/#g; s#-k [^ ]*#-k KEY#" >> "$out/commands.txt"
    timeout -k 5 $((60 + settle + secs + grace + 30)) "${cmd[@]}" > "$out/last.json" 2>> "$out/loadgen.log" &
    lpid=$!
    for ((i = 0; i < 1000; i++)); do
        [[ -f $ready ]] && break
        alive "$lpid" || break
        sleep 0.1
    done
    sleep 1 # the clients are waiting and nothing is published yet: the idle memory
    read -r w wp wr <<< "$(pss "$server")"
    wait "$lpid" || note="${note:+$note; }loadgen exit status $?"
    server_stop "$server"
    json=$(tail -n 1 "$out/last.json")
    [[ $json = \{*\} ]] || json='{"label":"'$name'","connected":0}'
    conn=$(field "$json" connected)
    json="${json%\}},\"server\":\"$server\",\"scenario\":\"$name\",\"pss_base_kb\":$b,\"pss_kb\":$w"
    json+=",\"procs_base\":$bp,\"procs\":$wp,\"redis_base_kb\":$br,\"redis_kb\":$wr"
    json+=",\"pss_per_client_kb\":$(per_client "$((w - b))" "$conn")"
    json+=",\"pss_per_client_noredis_kb\":$(per_client "$((w - wr - b + br))" "$conn")"
    json+=",\"rep\":$rep,\"loadavg\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"note\":\"$note\"}"
    echo "$json" >> "$out/results.jsonl"
    echo "$server $n" >> "$out/cdf/$name.subscribers"
    note "$server $name: n=$n connected=$(field "$json" connected) p50=$(field "$json" p50_ms) p99=$(field "$json" p99_ms) ms lost=$(field "$json" lost) dup=$(field "$json" duplicated) deliveries/s=$(field "$json" deliveries_per_s) PSS/client=$(field "$json" pss_per_client_kb) kB ${note:+($note)}"
}

# ---- report -----------------------------------------------------------------------------

# result SERVER SCENARIO: that run's JSON line.
result() { grep -F "\"server\":\"$1\",\"scenario\":\"$2\"," "$out/results.jsonl" | tail -n 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# spread: for each scenario and comet deployment, the headline figure (idle: kB per client;
# flat out: deliveries/s; else p99 ms) of every repetition, its min / median / max on each
# side, and of the ratio comet / Nchan taken repetition by repetition (each pair ran
# back to back).
spread() {
    awk -v comet="${servers[*]:0:${#servers[@]}-1}" '
        function f(line, k,   m) {
            if (match(line, "\"" k "\":\"?[^,\"}]*")) { m = substr(line, RSTART, RLENGTH); sub(/^"[^"]*":"?/, "", m); return m }
            return ""
        }
        function stats(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return sprintf(a[1] >= 1000 ? "%.0f / %.0f / %.0f" : "%.2f / %.2f / %.2f", a[1],
                           n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[n])
        }
        {
            sc = f($0, "scenario"); sv = f($0, "server"); rp = f($0, "rep")
            what = sc ~ /^idle-/ ? "pss_per_client_kb" : (sc ~ /^(fanout|channels-max)-/ ? "deliveries_per_s" : "p99_ms")
            v[sv, sc, rp] = f($0, what) + 0; unit[sc] = what
            if (!((sc) in seen)) { seen[sc] = 1; order[++ns] = sc }
            if (rp > reps) reps = rp
        }
        END {
            nc = split(comet, cs, " ")
            print "| scenario | figure | server | min / median / max | Nchan min / median / max | ratio min / median / max |"
            print "|---|---|---|---|---|---|"
            for (i = 1; i <= ns; i++) for (c = 1; c <= nc; c++) {
                sc = order[i]; n = 0; delete a; delete b; delete r
                for (k = 1; k <= reps; k++) if (((cs[c], sc, k) in v) && (("nchan", sc, k) in v)) {
                    n++; a[n] = v[cs[c], sc, k]; b[n] = v["nchan", sc, k]; r[n] = b[n] ? a[n] / b[n] : 0
                }
                if (n) printf "| %s | %s | %s | %s | %s | %s |\n", sc, unit[sc], cs[c], stats(a, n), stats(b, n), stats(r, n)
            }
        }' "$out/results.jsonl"
}

write_report() {
    local f=$out/report.md s sc name c r a b cs m n d g p
    local comet=("${servers[@]:0:${#servers[@]}-1}")
    {
        echo "# Benchmark: comet-fcgi vs Nchan (BENCH_SCALE=$scale)"
        echo
        echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') with \`make bench\` (\`bench/run.sh\`$([[ $scale = small ]] && echo ", BENCH_SCALE=small")$([[ -n ${COMET_SERVER:-} ]] && echo ", COMET_SERVER=\"$COMET_SERVER\""))."
        echo
        echo "## Machine"
        echo
        echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores; memory $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
        echo "- $(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release), kernel $(uname -r)"
        echo "- apache2 $(dpkg-query -W -f='${Version}' apache2), libapache2-mod-fcgid $(dpkg-query -W -f='${Version}' libapache2-mod-fcgid), nginx $(nginx -v 2>&1 | sed 's#.*/##'), libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan), redis-server $(redis-server --version | grep -Eo 'v=[0-9.]+' | cut -c3-)"
        echo "- load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "- load generator, servers and Redis share the machine and its cores: every figure includes that contention, and anything else running then"
        echo
        echo "## Setup"
        echo
        echo "- One Redis for both, started by \`tests/stack.sh redis\`; comet: \`tests/stack.sh worker\`, then per scenario a fresh web server in front (comet-apache: \`tests/stack.sh apache\`, mod_fcgid; comet-lighttpd: \`tests/stack.sh lighttpd\`, external mode; comet-proxy: \`tests/stack.sh proxy\`, Apache mod_proxy_fcgi, external mode; comet-nginx: \`tests/stack.sh nginx\`, nginx fastcgi_pass with $(nproc) workers, external mode); Nchan: a private nginx from \`bench/nchan.conf.in\` ($(nproc) workers, Redis storage in the same Redis, buffer 1000 messages / 1 h like comet's history)."
        echo "- \`build/bench/loadgen\` (bench/loadgen.c): one process, epoll, every subscriber one connection. Each event carries a per-channel sequence number and its send time; latency = receive time - send time, publish request included. Lost = accepted publishes that a live subscriber had not received when the run ended (grace included): in flat-out runs mostly the backlog still queued, with comet also what a subscriber lagging more than the retained history (1000 events) missed; duplicated = received twice. Publishes unanswered = still waiting for the server's answer at the end."
        echo "- Memory: summed PSS (/proc/PID/smaps_rollup) of every process of the server (web server parent and children, comet.fcgi processes, comet-worker, Redis; nginx master and workers, Redis) before the clients connect and while they all wait, idle; per client = difference / clients. Redis is shared by both servers; its part is in parentheses. The totals move by a few MB between runs whatever the clients (Redis and the servers returning memory), so with a few hundred clients or fewer that noise shows in the per-client figure: read it from the largest scenarios."
        echo "- Ratios are comet / Nchan: above 1 means comet has more latency, more memory per client, or more deliveries per second."
        if [[ " ${servers[*]} " = *" comet-apache "* ]]; then
            echo "- **Under Apache + mod_fcgid every waiting client is one comet.fcgi process and one Apache thread**: apache-conf allows $fcgid_max processes (FcgidMaxProcessesPerClass) and $workers_max threads (MaxRequestWorkers), so comet-apache runs were capped at $apache_cap subscribers (room left for publishes)."
        fi
        if [[ " ${servers[*]} " = *" comet-proxy "* ]]; then
            echo "- Under Apache + mod_proxy_fcgi every waiting client holds one Apache thread ($workers_max: MaxRequestWorkers): comet-proxy runs were capped at $proxy_cap subscribers."
        fi
        if [[ " ${servers[*]} " = *" comet-lighttpd "* ]] && ((lighttpd_cap > 0)); then
            echo "- Under lighttpd every waiting client takes two descriptors there and lighttpd stops accepting at 90% of its descriptors; this machine's hard open-file limit is $nofile (root cannot raise it in this container), so comet-lighttpd runs were capped at $lighttpd_cap subscribers."
        fi
        echo "- Where a cap left a server fewer subscribers than Nchan, the ratios compare unequal loads and are marked with *."
        echo
        echo "## Latency (ms) and loss"
        echo
        table_head '%s: subscribers, p50 / p99 / max, lost, dup' '%s / nchan p50, p99'
        for sc in "${scenarios[@]}"; do
            read -r name _ <<< "$sc"
            [[ $name = idle-* ]] && continue
            printf '| %s |' "$name"
            for s in "${servers[@]}"; do
                r=$(result "$s" "$name")
                if [[ -z $r ]]; then printf ' not run |'; continue; fi
                printf ' %s, %s / %s / %s, %s, %s |' "$(field "$r" connected)" "$(field "$r" p50_ms)" \
                    "$(field "$r" p99_ms)" "$(field "$r" max_ms)" "$(field "$r" lost)" "$(field "$r" duplicated)"
            done
            b=$(result nchan "$name")
            for c in "${comet[@]}"; do
                a=$(result "$c" "$name")
                cs=""
                [[ $(field "$a" connected) != "$(field "$b" connected)" ]] && cs="*"
                printf ' %s, %s%s |' "$(ratio "$(field "$a" p50_ms)" "$(field "$b" p50_ms)")" \
                    "$(ratio "$(field "$a" p99_ms)" "$(field "$b" p99_ms)")" "$cs"
            done
            echo
        done
        echo
        echo "## Server memory per waiting client (PSS)"
        echo
        table_head '%s: clients, PSS before -> waiting MB (Redis part), processes, kB per client (without Redis)' '%s / nchan'
        for sc in "${scenarios[@]}"; do
            read -r name _ <<< "$sc"
            printf '| %s |' "$name"
            for s in "${servers[@]}"; do
                r=$(result "$s" "$name")
                if [[ -z $r ]]; then printf ' not run |'; continue; fi
                printf ' %s, %s -> %s (%s -> %s), %s -> %s, **%s** (%s) |' "$(field "$r" connected)" \
                    "$(mb "$(field "$r" pss_base_kb)")" "$(mb "$(field "$r" pss_kb)")" \
                    "$(mb "$(field "$r" redis_base_kb)")" "$(mb "$(field "$r" redis_kb)")" \
                    "$(field "$r" procs_base)" "$(field "$r" procs)" "$(field "$r" pss_per_client_kb)" \
                    "$(field "$r" pss_per_client_noredis_kb)"
            done
            b=$(result nchan "$name")
            for c in "${comet[@]}"; do
                a=$(result "$c" "$name")
                printf ' %s |' "$(ratio "$(field "$a" pss_per_client_kb)" "$(field "$b" pss_per_client_kb)")"
            done
            echo
        done
        echo
        echo "## Throughput"
        echo
        table_head '%s: publishes accepted/s, deliveries/s' '%s / nchan deliveries/s'
        for sc in "${scenarios[@]}"; do
            read -r name _ <<< "$sc"
            [[ $name = idle-* ]] && continue
            printf '| %s |' "$name"
            for s in "${servers[@]}"; do
                r=$(result "$s" "$name")
                if [[ -z $r ]]; then printf ' not run |'; continue; fi
                printf ' %s, %s |' "$(field "$r" publish_per_s)" "$(field "$r" deliveries_per_s)"
            done
            b=$(result nchan "$name")
            for c in "${comet[@]}"; do
                a=$(result "$c" "$name")
                printf ' %s |' "$(ratio "$(field "$a" deliveries_per_s)" "$(field "$b" deliveries_per_s)")"
            done
            echo
        done
        echo
        if ((repeat > 1)); then
            echo "## Spread over $repeat repetitions"
            echo
            echo "Each scenario ran $repeat times on each server, the servers alternating within each repetition; the tables above show the last repetition. Ratio = comet / Nchan of the same repetition."
            echo
            spread
            echo
        fi
        echo "## Every run"
        echo
        echo "| server | scenario | subscribers | channels | live | connect s | errors | reconnects | published | publish errors | publishes unanswered | publish p50 / p99 ms | deliveries | expected | lost | subscribers with loss | dup | load avg (1 min) after | note |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        while read -r r; do
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                "$(field "$r" server)" "$(field "$r" scenario)" "$(field "$r" subscribers)" "$(field "$r" channels)" \
                "$(field "$r" connected)" "$(field "$r" connect_s)" "$(field "$r" errors)" "$(field "$r" reconnects)" \
                "$(field "$r" published)" "$(field "$r" publish_errors)" "$(field "$r" publish_unanswered)" "$(field "$r" publish_p50_ms)" \
                "$(field "$r" publish_p99_ms)" "$(field "$r" deliveries)" "$(field "$r" expected)" \
                "$(field "$r" lost)" "$(field "$r" subscribers_with_loss)" "$(field "$r" duplicated)" \
                "$(field "$r" loadavg)" "$(field "$r" note)"
        done < "$out/results.jsonl"
        echo
        echo "## Scenarios"
        echo
        echo "Each on a freshly started web server; the clients connect, wait $settle s (memory is read after 1 s), one warm-up publish per publisher connection, then publishing, then up to the grace time for the last deliveries."
        echo
        echo "| scenario | subscribers | channels | transport | publishes/s | seconds | grace s | publisher connections |"
        echo "|---|---|---|---|---|---|---|---|"
        for sc in "${scenarios[@]}"; do
            read -r name m n c r d g p <<< "$sc"
            [[ $r = 0 ]] && r="none (idle)"
            [[ $r = max ]] && r="flat out"
            echo "| $name | $n | $c | $m | $r | $d | $g | $p |"
        done
        echo
        echo "## Commands"
        echo
        echo '```'
        cat "$out/commands.txt"
        echo '```'
        echo
        echo "Chart: \`build/bench/latency.png\` (latency CDF per scenario and server). Raw: \`build/bench/results.jsonl\`, \`build/bench/cdf/\`."
    } > "$f"
}

plot() {
    local sc name list=() s n
    for sc in "${scenarios[@]}"; do
        read -r name _ <<< "$sc"
        [[ $name = idle-* ]] && continue
        for s in "${servers[@]}"; do
            if [[ -s $out/cdf/$name.$s.cdf ]]; then
                list+=("$name")
                break
            fi
        done
    done
    ((${#list[@]})) || { note "no latency data to plot"; return 0; }
    for name in "${list[@]}"; do # gnuplot skips a missing file but not every file missing
        for s in "${servers[@]}"; do
            [[ -s $out/cdf/$name.$s.cdf ]] || echo "# no deliveries" > "$out/cdf/$name.$s.cdf"
        done
        while read -r s n; do echo "$n" > "$out/cdf/$name.$s.n"; done < "$out/cdf/$name.subscribers"
    done
    gnuplot -e "dir='$out/cdf'; scenarios='${list[*]}'; servers='${servers[*]}'; out='$out/latency.png'" \
        bench/latency.gp 2> "$out/gnuplot.log" || { note "gnuplot failed: $(tail -n 3 "$out/gnuplot.log")"; return 0; }
}

# ---- main --------------------------------------------------------------------------------

[[ -d $run ]] && stop_all > /dev/null 2>&1 # a run killed before its trap
rm -rf "$run" "$out/cdf" "$out/results.jsonl" "$out/commands.txt" "$out/loadgen.log" "$out/latency.png" "$out/report.md"
mkdir -p "$run" "$out/cdf"
chmod 755 "$out" "$run"
trap stop_all EXIT
trap 'exit 130' INT TERM

pick_ports
export COMET_REDIS_HOST=127.0.0.1 COMET_REDIS_PORT=$redis_port
export COMET_PUBLISH_KEYS=${COMET_PUBLISH_KEYS:-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export COMET_LOG_LEVEL=${COMET_LOG_LEVEL:-warn}
# Every client here comes from 127.0.0.1: the per-address limit would refuse all but 100.
export COMET_MAX_WAITING_PER_ADDR=${COMET_MAX_WAITING_PER_ADDR:-0}
publish_key=${COMET_PUBLISH_KEYS%%,*}

tests/stack.sh redis "$run/redis" "$redis_port"
tests/stack.sh worker "$run/worker"
note "scale $scale; servers: ${servers[*]}; Redis on $redis_port, comet on $web_port, nchan on $nchan_port"
start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for sc in "${scenarios[@]}"; do
    for ((rep = 1; rep <= repeat; rep++)); do
        for s in "${servers[@]}"; do
            # shellcheck disable=SC2086 # the scenario's words are its arguments
            run_one "$s" $sc
        done
    done
done
write_report
plot
# comet-apache only: publishes and /stats while clients wait, and a burst of subscribers
# (mod_fcgid's process classes); a section of its own at the end of the report.
if [[ " ${servers[*]} " = *" comet-apache "* ]]; then
    bench/apache-short.sh "$run/web" "$web_port" "$out" "$publish_key" >> "$out/report.md" ||
        note "bench/apache-short.sh failed"
fi
# The SQL archive: the writer against the worker on each database, delivery with it on and
# off, /history on a million archived events; comet behind lighttpd, under a prefix of its own.
bench/archive.sh "$run" "$out" "$publish_key" "$([[ $scale = small ]] && echo 5000 || echo 20000)" >> "$out/report.md" ||
    note "bench/archive.sh failed"
note "done in $((SECONDS - start)) s: $out/report.md, $out/latency.png"
cat "$out/report.md"
