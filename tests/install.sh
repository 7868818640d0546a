#!/usr/bin/env bash
# install.sh: `make install` and `make uninstall` as a user would run them. Into a DESTDIR with
# PREFIX=/usr: the file list, modes, stripped binaries, no placeholder left, man pages that
# render without a warning, an edited settings file kept by uninstall and nothing else left.
# Then into a real temporary PREFIX, where the paths exist: every generated conf passes its
# server's own syntax check inside a minimal private config (the Apache one per <VirtualHost>),
# and systemd-analyze verifies the units. Ends with "install: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/lib/check.sh

# In a copy of the tree: each PREFIX rebuilds the binaries with its settings path, which the
# working tree's build/ should not be left with.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
copy_tree "$tmp/src"
cd "$tmp/src" || exit 1

# The tree under DESTDIR with PREFIX=/usr.
expected_files() {
    printf '%s\n' etc/comet-fcgi/{apache-fcgid.conf,apache-fcgid-server.conf,apache-proxy-fcgi.conf,nginx.conf,lighttpd.conf,comet.env} \
        usr/bin/{comet.fcgi,comet-worker,comet-cron} usr/lib/systemd/system/{comet-worker,comet-fcgi,comet-archive}.service \
        usr/share/man/man1/{comet.fcgi,comet-worker}.1 usr/share/comet-fcgi/{comet.env.example,htaccess.example} \
        usr/share/comet-fcgi/www/{comet.js,comet.mjs,comet.d.ts,index.html,errors/413.json} \
        usr/share/comet-fcgi/sql/{sqlite,mysql,postgresql}.sql
    printf '%s\n' usr/share/doc/comet-fcgi/{README.md,LICENSE,CHANGELOG.md}
}
file_list() { diff <(expected_files | sort) <(cd "$dest" && find . -type f -o -type l | sed 's|^\./||' | sort); }
modes() {
    local f m
    for f in usr/bin/comet.fcgi usr/bin/comet-worker usr/bin/comet-cron; do
        m=$(stat -c %a "$dest/$f"); [[ $m = 755 ]] || { echo "$f: mode $m"; return 1; }
    done
    m=$(stat -c %a "$dest/etc/comet-fcgi/comet.env"); [[ $m = 600 ]] || { echo "comet.env: mode $m"; return 1; }
}
stripped() {
    local f
    for f in "$dest"/usr/bin/comet.fcgi "$dest"/usr/bin/comet-worker; do
        file "$f" | grep -q 'ELF.*, stripped' || { file "$f"; return 1; }
    done
}
no_placeholders() { ! grep -rnE '@[A-Z][A-Z_]*@' "$dest"; }
# Each path the generated files name exists in the tree (or is made at run time).
paths_exist() {
    local p
    for p in $(grep -rhoE '/usr/(bin|share)/[A-Za-z0-9_./-]+' "$dest/etc" "$dest/usr/lib" "$dest/usr/bin/comet-cron" |
               grep -vE '\.(js|mjs|d\.ts)$|/\$1$|README.md$' | sort -u); do
        [[ -e $dest$p ]] || { echo "named but not installed: $p"; return 1; }
    done
}
settings_named() {
    grep -q 'FcgidInitialEnv COMET_CONFIG "/etc/comet-fcgi/comet.env"' "$dest/etc/comet-fcgi/apache-fcgid.conf" &&
        grep -q '"COMET_CONFIG" => "/etc/comet-fcgi/comet.env"' "$dest/etc/comet-fcgi/lighttpd.conf" &&
        grep -q '^LoadCredential=comet.env:/etc/comet-fcgi/comet.env$' "$dest"/usr/lib/systemd/system/comet-*.service
}
# comet.env.example lists every variable of the settings table (common/config.c).
example_complete() {
    local v
    for v in $(grep -oE '"COMET_[A-Z_]+"' common/config.c | tr -d '"' | grep -vx COMET_CONFIG | sort -u); do
        grep -qE "^#$v=" comet.env.example || { echo "comet.env.example lacks $v"; return 1; }
    done
}
demo_script() { grep -q '<script src="/comet/comet.js">' "$dest/usr/share/comet-fcgi/www/index.html"; }
man_render() {
    local m out
    for m in "$dest"/usr/share/man/man1/*.1; do
        out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$m" 2>&1) || return 1
        [[ -z $out ]] || { echo "$m: $out"; return 1; }
        MANWIDTH=80 man -l "$m" 2>&1 | grep -q '^NAME' || { echo "$m: man -l shows no NAME"; return 1; }
    done
}
# The settings file is kept by uninstall once edited, removed while it is still the example;
# a second install keeps an existing one.
reinstall_keeps_settings() {
    echo 'COMET_PREFIX=edited:' >> "$dest/etc/comet-fcgi/comet.env"
    make -s install DESTDIR="$dest" PREFIX=/usr > /dev/null && grep -q edited: "$dest/etc/comet-fcgi/comet.env"
}
uninstall_keeps_edited() {
    make -s uninstall DESTDIR="$dest" PREFIX=/usr | grep -q 'kept .*comet.env' &&
        diff <(echo etc/comet-fcgi/comet.env) <(cd "$dest" && find . -type f -o -type l | sed 's|^\./||')
}
uninstall_all() {
    rm -rf "$dest"
    make -s install DESTDIR="$dest" PREFIX=/usr > /dev/null && make -s uninstall DESTDIR="$dest" PREFIX=/usr &&
        diff /dev/null <(find "$dest" -type f -o -type l) && [[ ! -e $dest/etc/comet-fcgi ]]
}

check 'make install DESTDIR PREFIX=/usr' make -s install DESTDIR="$dest" PREFIX=/usr
check 'installed files are exactly the list' file_list
check 'modes: binaries and comet-cron 755, settings 600' modes
check 'binaries are stripped' stripped
check 'no @PLACEHOLDER@ left in anything installed' no_placeholders
check 'every /usr path the confs, units and wrapper name is installed' paths_exist
check 'the confs and units name the settings file' settings_named
check 'comet.env.example lists every COMET_* setting' example_complete
check 'the demo page loads /comet/comet.js, which every conf serves' demo_script
check 'man pages render without warnings' man_render
check 'install again keeps an edited settings file' reinstall_keeps_settings
check 'uninstall removes everything but the edited settings file' uninstall_keeps_edited
check 'install then uninstall leaves nothing' uninstall_all

# A real prefix: the paths in the confs exist, so the servers check them for real.
prefix=$tmp/prefix
etc=$prefix/etc/comet-fcgi
mkdir -p "$tmp/run"
nginx_t() {
    printf '%s\n' "pid $tmp/run/nginx.pid;" "error_log $tmp/run/nginx.log;" 'events { }' \
        "http { server { listen 127.0.0.1:1; include $etc/nginx.conf; } }" > "$tmp/run/nginx.conf"
    nginx -t -p "$tmp/run" -c "$tmp/run/nginx.conf" -e "$tmp/run/nginx.log"
}
lighttpd_t() {
    printf '%s\n' "server.document-root = \"$prefix/share/comet-fcgi/www\"" 'server.port = 1' \
        "include \"$etc/lighttpd.conf\"" > "$tmp/run/lighttpd.conf"
    lighttpd -tt -f "$tmp/run/lighttpd.conf"
}
apache_t() {
    local mods=/usr/lib/apache2/modules m
    {
        printf '%s\n' "ServerRoot $tmp/run" 'ServerName 127.0.0.1' 'Listen 127.0.0.1:1' "DefaultRuntimeDir $tmp/run" \
            "PidFile $tmp/run/httpd.pid" "ErrorLog $tmp/run/error.log"
        for m in mpm_event authz_core mime alias setenvif headers rewrite fcgid proxy proxy_fcgi; do
            echo "LoadModule ${m}_module $mods/mod_$m.so"
        done
        printf '%s\n' "FcgidIPCDir $tmp/run" "Include $etc/apache-fcgid-server.conf" \
            '<VirtualHost 127.0.0.1:1>' '    ServerName fcgid.test' "    Include $etc/apache-fcgid.conf" '</VirtualHost>' \
            '<VirtualHost 127.0.0.1:1>' '    ServerName proxy.test' "    Include $etc/apache-proxy-fcgi.conf" '</VirtualHost>'
    } > "$tmp/run/httpd.conf"
    apache2 -t -f "$tmp/run/httpd.conf"
}
units_verify() {
    command -v systemd-analyze > /dev/null || { echo "no systemd-analyze: units not verified"; return 0; }
    local out
    out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$prefix"/lib/systemd/system/comet-*.service 2>&1) ||
        { echo "$out"; return 1; }
    [[ -z $out ]] || { echo "$out"; return 1; }
}
cron_once() {
    # A second comet-cron while the first holds the lock exits 0 at once.
    local pid rc=0
    COMET_REDIS_PORT=1 TMPDIR=$tmp/run setsid "$prefix/bin/comet-cron" -c "$etc/comet.env" > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do compgen -G "$tmp/run/comet-worker.*.lock" > /dev/null && break; sleep 0.1; done
    TMPDIR=$tmp/run timeout 5 "$prefix/bin/comet-cron" -c "$etc/comet.env" || rc=$?
    kill -TERM -- "-$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    return "$rc"
}

check "make install PREFIX=$prefix" make -s install PREFIX="$prefix"
check 'nginx -t with the nginx snippet inside a server block' nginx_t
check 'lighttpd -tt with the lighttpd snippet' lighttpd_t
check 'apache2 -t with the mod_fcgid and mod_proxy_fcgi snippets each inside a VirtualHost' apache_t
check 'systemd-analyze verify of the units' units_verify
check 'comet-cron exits 0 while its worker runs' cron_once
check "make uninstall PREFIX=$prefix" make -s uninstall PREFIX="$prefix"
check_end install
