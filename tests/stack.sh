#!/usr/bin/env bash
# stack.sh: starts one piece of a comet stack (redis, worker, apache) in the background in a
# session of its own, with DIR/<name>.pid, and returns once it answers; `stop` ends them by
# those pid files only; `run` is `make run`. How Apache is configured is apache-conf/private.sh's;
# the shipped snippets are written by dist/subst.sh, as `make install` writes them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bindir=${COMET_BIN_DIR:-build}
[[ $bindir = /* ]] || bindir=$root/$bindir

usage() {
    cat >&2 <<'EOF'
usage: stack.sh redis DIR PORT | replica DIR PORT MASTER_PORT | sentinel DIR NAME PORT MASTER_PORT MASTER_NAME |
       worker DIR [NAME] | archive DIR [NAME] | mariadb DIR PORT | postgres DIR PORT |
       apache|htaccess|lighttpd|proxy|nginx DIR PORT | stop DIR | run | demo-token SUB NAME
EOF
    exit 2
}

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# launch NAME DIR CMD...: CMD in its own session (so its whole process group can be
# stopped, and a terminal's Ctrl-C reaches only us), output appended to DIR/NAME.log (a
# restart keeps the sanitizer reports of the previous run for tests/run.sh). Its group is
# also noted in DIR/stack.groups, which outlives a pid file that a test removed.
launch() {
    local name=$1 dir=$2
    shift 2
    setsid "$@" >> "$dir/$name.log" 2>&1 < /dev/null &
    echo $! > "$dir/$name.pid"
    echo $! >> "$dir/stack.groups"
}

# ready NAME DIR CHECK...: waits up to 30 s (a busy machine, a sanitizer build) for CHECK
# while NAME lives; else stops it, shows its log's tail and fails.
ready() {
    local name=$1 dir=$2 pid i
    shift 2
    pid=$(< "$dir/$name.pid")
    for ((i = 0; i < 300; i++)); do
        alive "$pid" || break
        if "$@"; then return 0; fi
        sleep 0.1
    done
    echo "stack.sh: $name did not start; end of $dir/$name.log:" >&2
    tail -n 20 "$dir/$name.log" >&2 || true
    if [[ $name = apache ]]; then tail -n 20 "$dir/error.log" >&2 || true; fi
    stop_one "$dir/$name.pid"
    exit 1
}

# stop_one PIDFILE: TERM, up to 10 s to exit, then KILL its process group (Apache's
# children and mod_fcgid's processes included); removes the pid file.
stop_one() {
    local pid i
    pid=$(cat "$1" 2>/dev/null) || return 0
    rm -f "$1"
    [[ $pid =~ ^[0-9]+$ && $pid -gt 1 ]] || return 0
    # Ours only: launch() made it a session leader, and a reused pid seldom is one.
    if alive "$pid"; then
        [[ $(ps -o sid= -p "$pid" | tr -d ' ') = "$pid" ]] ||
            { echo "stack.sh: $1: pid $pid is not ours any more" >&2; return 0; }
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
}

# members PGID: the process group has live (not zombie) processes.
members() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { n++ } END { exit !n }'; }

# sweep PGID: TERM what is left of a group, up to 3 s, then KILL.
sweep() {
    local i
    members "$1" || return 0
    kill -TERM -- "-$1" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        members "$1" || return 0
        sleep 0.1
    done
    kill -KILL -- "-$1" 2>/dev/null || true
}

cmd_stop() {
    local dir=$1 f g redis=
    [[ -d $dir ]] || return 0
    # Web servers first, Redis last, so nothing logs a lost Redis on the way out.
    [[ -f $dir/redis.pid ]] && redis=$(< "$dir/redis.pid")
    for f in "$dir"/*.pid; do
        if [[ -e $f && $f != */redis.pid ]]; then stop_one "$f"; fi
    done
    # Groups whose leader a test killed: Apache's children and mod_fcgid's processes
    # outlive a KILLed parent.
    if [[ -f $dir/stack.groups ]]; then
        while read -r g; do
            if [[ $g =~ ^[0-9]+$ && $g != "$redis" ]]; then sweep "$g"; fi
        done < "$dir/stack.groups"
    fi
    stop_one "$dir/redis.pid"
    rm -f "$dir/stack.groups"
}

cmd_redis() {
    local dir=$1 port=$2
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    # Durable as the README recommends: every acknowledged write is in the append-only file
    # before Redis answers (fsync once a second), so a Redis restart or crash loses nothing.
    launch redis "$dir" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly yes --appendfsync everysec \
        --dir "$dir" --logfile "$dir/redis.log" --daemonize no
    ready redis "$dir" redis_ping "$port"
}

# replica DIR PORT MASTER_PORT: a durable replica of the Redis on MASTER_PORT, in DIR/replica-PORT/.
cmd_replica() {
    local dir=$1 port=$2 master=$3
    mkdir -p "$dir/replica-$port"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    launch "replica-$port" "$dir" redis-server --bind 127.0.0.1 --port "$port" --replicaof 127.0.0.1 "$master" \
        --save '' --appendonly yes --appendfsync everysec --dir "$dir/replica-$port" \
        --logfile "$dir/replica-$port.log" --daemonize no
    ready "replica-$port" "$dir" redis_ping "$port"
}

# sentinel DIR NAME PORT MASTER_PORT MASTER_NAME: a Redis Sentinel watching that master (quorum
# 2, down after 1 s), so that the tests see a failover within seconds.
cmd_sentinel() {
    local dir=$1 name=$2 port=$3 master=$4 mname=$5
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    printf '%s\n' "port $port" "bind 127.0.0.1" "dir $dir" "sentinel monitor $mname 127.0.0.1 $master 2" \
        "sentinel down-after-milliseconds $mname 1000" "sentinel failover-timeout $mname 5000" > "$dir/$name.conf"
    launch "$name" "$dir" redis-server "$dir/$name.conf" --sentinel --logfile "$dir/$name.log"
    ready "$name" "$dir" redis_ping "$port"
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# free_port PORT: fails unless PORT is free, so a readiness check cannot reach a stranger.
free_port() {
    if listening "$1"; then
        echo "stack.sh: port $1 is taken" >&2
        exit 1
    fi
}

redis_ping() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) = PONG ]]; }

cmd_worker() {
    local dir=$1 name=${2:-worker}
    [[ -x $bindir/comet-worker ]] || { echo "stack.sh: $bindir/comet-worker: not built" >&2; exit 1; }
    mkdir -p "$dir"
    launch "$name" "$dir" "$bindir/comet-worker"
    sleep 0.2
    ready "$name" "$dir" true
}

# archive DIR [NAME]: the archive writer (comet-worker --archive) of COMET_ARCHIVE.
cmd_archive() {
    local dir=$1 name=${2:-archive}
    [[ -x $bindir/comet-worker ]] || { echo "stack.sh: $bindir/comet-worker: not built" >&2; exit 1; }
    mkdir -p "$dir"
    launch "$name" "$dir" "$bindir/comet-worker" --archive
    ready "$name" "$dir" grep -q 'archive writer started' "$dir/$name.log"
}

# mariadb DIR PORT: a private MariaDB server with its data in DIR/mariadb/, on 127.0.0.1:PORT
# and the socket DIR/mariadb.sock, with a database "comet" and a user comet/comet (not the
# system service). A data directory that exists is reused (a restart).
cmd_mariadb() {
    local dir=$1 port=$2 user=
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    [[ $(id -u) = 0 ]] && user=--user=root
    if [[ ! -d $dir/mariadb/mysql ]]; then
        mariadb-install-db --no-defaults $user --datadir="$dir/mariadb" --auth-root-authentication-method=normal \
            --skip-test-db > "$dir/mariadb-install.log" 2>&1 ||
            { tail -n 20 "$dir/mariadb-install.log" >&2; exit 1; }
        printf '%s\n' "CREATE DATABASE IF NOT EXISTS comet;" \
            "CREATE USER IF NOT EXISTS 'comet'@'%' IDENTIFIED BY 'comet';" \
            "CREATE USER IF NOT EXISTS 'comet'@'localhost' IDENTIFIED BY 'comet';" \
            "GRANT ALL ON comet.* TO 'comet'@'%';" "GRANT ALL ON comet.* TO 'comet'@'localhost';" > "$dir/mariadb-init.sql"
    fi
    launch mariadb "$dir" mariadbd --no-defaults $user --datadir="$dir/mariadb" --socket="$dir/mariadb.sock" \
        --bind-address=127.0.0.1 --port="$port" --pid-file="$dir/mariadb.run.pid" --log-error="$dir/mariadb.err" \
        --skip-name-resolve --innodb-buffer-pool-size=32M --init-file="$dir/mariadb-init.sql"
    ready mariadb "$dir" mariadb_ping "$dir"
}

mariadb_ping() { mariadb --no-defaults --socket="$1/mariadb.sock" -ucomet -pcomet -e 'SELECT 1' comet > /dev/null 2>&1; }

# postgres DIR PORT: a private PostgreSQL server with its data in DIR/postgres/, on
# 127.0.0.1:PORT and a socket in DIR, with a database "comet" owned by a role comet/comet
# (not the system service). PostgreSQL refuses to run as root: as root, it runs as the
# postgres user (setpriv execs it, so the pid file names postgres itself), owning
# DIR/postgres. A data directory that exists is reused (a restart).
cmd_postgres() {
    local dir=$1 port=$2 bin as=()
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    bin=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1)
    [[ -x $bin/postgres ]] || { echo "stack.sh: PostgreSQL's server is not installed" >&2; exit 1; }
    if [[ $(id -u) = 0 ]]; then
        as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
        mkdir -p "$dir/postgres" "$dir/pg-sock"
        chown postgres: "$dir/postgres" "$dir/pg-sock"
    fi
    mkdir -p "$dir/pg-sock"
    if [[ ! -f $dir/postgres/PG_VERSION ]]; then
        "${as[@]}" "$bin/initdb" -D "$dir/postgres" -U postgres -A trust --no-sync > "$dir/postgres-init.log" 2>&1 ||
            { tail -n 20 "$dir/postgres-init.log" >&2; exit 1; }
    fi
    launch postgres "$dir" "${as[@]}" "$bin/postgres" -D "$dir/postgres" -k "$dir/pg-sock" -p "$port" \
        -h 127.0.0.1 -c fsync=off
    ready postgres "$dir" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"
    psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=0 \
        -c "CREATE ROLE comet LOGIN PASSWORD 'comet'" -c "CREATE DATABASE comet OWNER comet" > /dev/null 2>&1 || true
    psql -h 127.0.0.1 -p "$port" -U comet -d comet -c 'SELECT 1' > /dev/null
}

# apache DIR PORT [SNIPPET]: Apache + mod_fcgid configured by apache-conf/SNIPPET (comet.conf;
# htaccess.example: a shared host's .htaccess, see private.sh).
cmd_apache() {
    local dir=$1 port=$2 apache2
    apache2=$(command -v apache2 || echo /usr/sbin/apache2)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd) # apache2 -f takes a relative path as relative to its ServerRoot
    free_port "$port"
    "$root/apache-conf/private.sh" "$dir" "$port" "$bindir" "$root/www" "${3:-comet.conf}"
    launch apache "$dir" "$apache2" -f "$dir/httpd.conf" -DFOREGROUND
    ready apache "$dir" curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"
}

# env_pairs: the COMET_* (and sanitizer) variables as lighttpd "NAME" => "VALUE" pairs.
env_pairs() {
    local name value sep=
    for name in $(compgen -e | grep -E '^(COMET_[A-Za-z0-9_]+|[AUL]SAN_OPTIONS)$' | grep -vE '^COMET_(BIN_DIR|TEST_RUNS)$' || true); do
        value=${!name}
        value=${value//\\/\\\\}
        printf '%s"%s" => "%s"' "$sep" "$name" "${value//\"/\\\"}"
        sep=', '
    done
}

# lighttpd DIR PORT: lighttpd on PORT spawning comet.fcgi -e (external mode) itself.
cmd_lighttpd() {
    local dir=$1 port=$2 env
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    env=$(env_pairs)
    {
        printf 'server.document-root = "%s"\nserver.bind = "127.0.0.1"\nserver.port = %s\n' "$root/www" "$port"
        printf 'server.pid-file = "%s/lighttpd.run.pid"\nserver.errorlog = "%s/error.log"\n' "$dir" "$dir"
        printf 'index-file.names = ("index.html")\nmimetype.assign = (".html" => "text/html", ".js" => "text/javascript", ".mjs" => "text/javascript", ".css" => "text/css", ".png" => "image/png")\n'
        "$root/dist/subst.sh" "$root/lighttpd-conf/comet.conf" BIN="$bindir" WWW="$root/www" RUN="$dir" ENV="$env"
    } > "$dir/lighttpd.conf"
    launch lighttpd "$dir" lighttpd -D -f "$dir/lighttpd.conf"
    ready lighttpd "$dir" curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/comet/stats"
}

# proxy DIR PORT: comet.fcgi on its own in external mode on DIR/comet.sock, and Apache with
# mod_proxy_fcgi in front of it on PORT.
cmd_proxy() {
    local dir=$1 port=$2 apache2
    apache2=$(command -v apache2 || echo /usr/sbin/apache2)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    start_fcgi "$dir"
    "$root/apache-conf/private.sh" "$dir" "$port" "$bindir" "$root/www" proxy-fcgi.conf
    launch apache "$dir" "$apache2" -f "$dir/httpd.conf" -DFOREGROUND
    ready apache "$dir" curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"
}

# start_fcgi DIR: comet.fcgi on its own in external mode on DIR/comet.sock, and its WebSocket
# socket DIR/ws.sock, writable by the web server's user (www-data).
start_fcgi() {
    local dir=$1
    rm -f "$dir/comet.sock" "$dir/ws.sock"
    launch fcgi "$dir" "$bindir/comet.fcgi" -s "$dir/comet.sock" -w "$dir/ws.sock"
    ready fcgi "$dir" test -S "$dir/comet.sock"
    ready fcgi "$dir" test -S "$dir/ws.sock"
    chmod 666 "$dir/comet.sock" "$dir/ws.sock"
}

# nginx DIR PORT: comet.fcgi on DIR/comet.sock (external mode), and a private nginx with
# nginx-conf/comet.conf in front of it on PORT, one worker per core.
cmd_nginx() {
    local dir=$1 port=$2 nofile
    mkdir -p "$dir/tmp"
    dir=$(cd "$dir" && pwd)
    free_port "$port"
    start_fcgi "$dir"
    nofile=$(ulimit -Hn)
    [[ $nofile = unlimited ]] && nofile=65536
    cat > "$dir/nginx.conf" <<EOF
# Generated by tests/stack.sh; rewritten on every start.
worker_processes auto;
worker_rlimit_nofile $nofile;
pid $dir/nginx.run.pid;
error_log $dir/error.log warn;
events { worker_connections $((nofile - 64)); }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include /etc/nginx/mime.types;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $root/www;
$("$root/dist/subst.sh" "$root/nginx-conf/comet.conf" SOCKET="$dir/comet.sock" WS_SOCKET="$dir/ws.sock" WWW="$root/www" | sed 's/^/        /')
    }
}
EOF
    launch nginx "$dir" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
    ready nginx "$dir" curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/comet/stats"
}

# demo_token SUB NAME: a JWT (HS256, COMET_JWT_SECRET) naming SUB, with comet.info's name, for a
# day: what a site's backend would give its signed-in user for presence.
demo_token() {
    local head body
    b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    head=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
    body=$(printf '{"sub":"%s","exp":%d,"comet":{"info":{"name":"%s"}}}' "$1" $(($(date +%s) + 86400)) "$2" | b64url)
    printf '%s.%s.%s' "$head" "$body" \
        "$(printf '%s.%s' "$head" "$body" | openssl dgst -sha256 -hmac "$COMET_JWT_SECRET" -binary | b64url)"
}

cmd_run() {
    local port=${PORT:-8080} rport=6390 f
    dir=$root/run # global: the EXIT trap runs after the locals are gone
    mkdir -p "$dir"
    for f in "$dir"/*.pid; do
        [[ -e $f ]] || continue
        alive "$(< "$f")" && { echo "stack.sh: already running (pid file $f); stop it first" >&2; exit 1; }
        rm -f "$f"
    done
    rm -f "$dir"/*.log "$dir/stack.groups"
    listening "$port" && { echo "stack.sh: port $port is taken; try PORT=..." >&2; exit 1; }
    while listening "$rport"; do rport=$((rport + 1)); done
    export COMET_REDIS_HOST=127.0.0.1 COMET_REDIS_PORT=$rport
    export COMET_PUBLISH_KEYS=${COMET_PUBLISH_KEYS:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
    export COMET_PUBLIC_CHANNELS=${COMET_PUBLIC_CHANNELS-demo*} # the demo page posts to "demo"
    export COMET_ARCHIVE=${COMET_ARCHIVE-sqlite:$dir/archive.db} # COMET_ARCHIVE= turns it off
    # Who is on the demo channel (README: Presence), with a secret to sign the demo's identities.
    export COMET_PRESENCE_CHANNELS=${COMET_PRESENCE_CHANNELS-demo}
    export COMET_JWT_SECRET=${COMET_JWT_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
    trap 'cmd_stop "$dir"' EXIT
    trap 'printf "\nstopping...\n"; exit 0' INT TERM
    cmd_redis "$dir" "$rport"
    cmd_worker "$dir" worker
    if [[ -n $COMET_ARCHIVE ]]; then
        "$bindir/comet-worker" --archive-init 2>> "$dir/archive.log"
        cmd_archive "$dir" archive
    fi
    case ${SERVER:-apache} in
        apache) cmd_apache "$dir" "$port" ;;
        lighttpd) cmd_lighttpd "$dir" "$port" ;;
        proxy-fcgi) cmd_proxy "$dir" "$port" ;;
        nginx) cmd_nginx "$dir" "$port" ;;
        *) echo "stack.sh: SERVER is apache, lighttpd, proxy-fcgi or nginx" >&2; exit 2 ;;
    esac
    local key=${COMET_PUBLISH_KEYS%%,*} url=http://127.0.0.1:$port ws
    # The external deployments tunnel WebSockets to comet.fcgi -w; mod_fcgid has none.
    ws="  WebSocket:   ws://127.0.0.1:$port/comet/ws?channel=demo (the demo page uses it)"
    [[ ${SERVER:-apache} = apache ]] && ws="  WebSocket:   none under mod_fcgid (/comet/ws answers 404; the page uses SSE)"
    # A named key (NAME=KEY[:PATTERNS]) is sent as its KEY.
    if [[ $key =~ ^[A-Za-z0-9_.-]+=([^=:][^:]*) ]]; then key=${BASH_REMATCH[1]}; fi
    # The status page is closed until the stats key or address list is set (README: status page).
    local status="closed: run with COMET_STATS_KEY=SECRET (or COMET_STATS_ALLOW=127.0.0.1) to open it"
    [[ -n ${COMET_STATS_ALLOW:-} ]] && status="$url/comet/status.html"
    [[ -n ${COMET_STATS_KEY:-} ]] && status="$url/comet/status.html?token=$COMET_STATS_KEY"
    cat <<EOF

comet-fcgi is running behind ${SERVER:-apache} (Redis on port $rport; logs and pids in $dir/).
  demo page:   $url/  (anonymous; as Alice: $url/#token=$(demo_token alice Alice)
               as Bob: $url/#token=$(demo_token bob Bob) )
  publish key: $key
  status page: $status
$ws

publish:
  curl -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"channel":"demo","data":{"text":"hello"}}' $url/comet/publish
watch:
  curl -N '$url/comet/sse?channel=demo'

Ctrl-C stops everything.
EOF
    while :; do
        sleep 1 &
        wait $! || true
    done
}

case ${1:-} in
    redis) [[ $# -eq 3 ]] || usage; cmd_redis "$2" "$3" ;;
    replica) [[ $# -eq 4 ]] || usage; cmd_replica "$2" "$3" "$4" ;;
    sentinel) [[ $# -eq 6 ]] || usage; cmd_sentinel "$2" "$3" "$4" "$5" "$6" ;;
    lighttpd) [[ $# -eq 3 ]] || usage; cmd_lighttpd "$2" "$3" ;;
    proxy) [[ $# -eq 3 ]] || usage; cmd_proxy "$2" "$3" ;;
    nginx) [[ $# -eq 3 ]] || usage; cmd_nginx "$2" "$3" ;;
    worker) [[ $# -eq 2 || $# -eq 3 ]] || usage; cmd_worker "$2" "${3:-worker}" ;;
    archive) [[ $# -eq 2 || $# -eq 3 ]] || usage; cmd_archive "$2" "${3:-archive}" ;;
    mariadb) [[ $# -eq 3 ]] || usage; cmd_mariadb "$2" "$3" ;;
    postgres) [[ $# -eq 3 ]] || usage; cmd_postgres "$2" "$3" ;;
    apache) [[ $# -eq 3 ]] || usage; cmd_apache "$2" "$3" ;;
    htaccess) [[ $# -eq 3 ]] || usage; cmd_apache "$2" "$3" htaccess.example ;;
    stop) [[ $# -eq 2 ]] || usage; cmd_stop "$2" ;;
    run) [[ $# -eq 1 ]] || usage; cmd_run ;;
    demo-token) [[ $# -eq 3 ]] || usage; demo_token "$2" "$3" ;; # what run prints; COMET_JWT_SECRET set
    *) usage ;;
esac
