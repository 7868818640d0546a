#!/usr/bin/env bash
# run.sh: runs every built test (C unit binaries of both builds, a short pass of the fuzz
# targets, then the Node suites, whose
# integration tests start real stacks: once per deployment, so both process models are
# covered), counts sanitizer reports in the stacks' logs as failures, and ends with one line
# "N passed, M failed". Building is make's job; starting stacks is tests/stack.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Sanitizer builds only; harmless to the plain ones.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Run folders of the integration stacks (tests/lib/stack.mjs makes one per test file).
export COMET_TEST_RUNS=$root/build/test-runs
# Builds the integration suite runs against: the sanitizer one covers the plain one's code.
it_bins=${COMET_IT_BINS:-build/san}
# Deployments it runs against (tests/lib/stack.mjs, COMET_IT_SERVER): Apache + mod_fcgid (one
# request per process), lighttpd spawning comet.fcgi -e and comet.fcgi -s behind Apache
# mod_proxy_fcgi and behind nginx (external mode). The client and browser suites run once, with the first.
it_servers=${COMET_IT_SERVERS:-apache lighttpd proxy nginx}
# Test files run at once by each node --test (each file starts its own stack).
it_jobs=${COMET_IT_JOBS:-2}

passed=0 failed=0
add() { passed=$((passed + $1)) failed=$((failed + $2)); }
# tap_count WHAT FILE: N from the last "# WHAT N" line of a TAP file; empty when there is none.
tap_count() { { grep -E "^# $1 [0-9]+$" "$2" 2> /dev/null || true; } | tail -n 1 | cut -d' ' -f3; }

# (a) Each unit binary ends with "unit[ NAME]: N passed, M failed"; a crash or a non-zero
# exit without a counted failure is one failure more.
for t in build/tests/* build/san/tests/*; do
    [[ -f $t && -x $t ]] || continue
    echo "== $t"
    rc=0
    out=$(timeout 300 "$t" 2>&1) || rc=$?
    printf '%s\n' "$out"
    if [[ $(grep -E '^unit( [^:]*)?: [0-9]+ passed, [0-9]+ failed$' <<< "$out" | tail -n 1) =~ \
        ([0-9]+)\ passed,\ ([0-9]+) ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    else
        p=0 f=0
    fi
    if ((rc != 0 && f == 0)); then
        echo "$t: exit status $rc"
        f=1
    fi
    add "$p" "$f"
done

# (a2) A short pass of every libFuzzer target (make fuzz runs them longer): one test each.
if compgen -G 'build/fuzz/*' > /dev/null; then
    echo "== fuzz targets, ${COMET_FUZZ_SECONDS:-5} s each"
    out=$(tests/fuzz/run.sh "${COMET_FUZZ_SECONDS:-5}" 2>&1) || true
    printf '%s\n' "$out"
    if [[ $(tail -n 1 <<< "$out") =~ ^fuzz:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        add "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
        add 0 1
    fi
fi

# (a3) make install / uninstall, then the Debian package built, installed, smoke-tested and
# purged (about a minute and a half): each ends with "SUITE: N passed, M failed".
for t in tests/install.sh tests/package.sh; do
    echo "== $t"
    rc=0
    out=$(timeout 600 "$t" 2>&1) || rc=$?
    printf '%s\n' "$out"
    if [[ $(tail -n 1 <<< "$out") =~ ^[a-z]+:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    else
        p=0 f=0
    fi
    if ((rc != 0 && f == 0)); then f=1; fi
    add "$p" "$f"
done

# (b) Node's runner (files named *.test.mjs: integration against real stacks, the browser
# client's own tests, browser tests, tests/tools' checks of the scripts) prints the spec
# report and writes TAP for counting.
# Each deployment's stacks live under COMET_TEST_RUNS/<server>/.
once_dirs=()
for d in tests/client tests/browser tests/tools; do
    if [[ -d $d ]]; then once_dirs+=("$d/"); fi
done
# Stacks that a killed earlier run left behind: stopped by their pid files, nested web
# nodes before the stack that holds them.
if [[ -d $COMET_TEST_RUNS ]]; then
    find "$COMET_TEST_RUNS" \( -name '*.pid' -o -name stack.groups \) -printf '%h\n' | sort -u -r |
        while read -r d; do tests/stack.sh stop "$d" || true; done
fi
rm -rf "$COMET_TEST_RUNS"
mkdir -p "$COMET_TEST_RUNS"
chmod 755 "$COMET_TEST_RUNS"
# node_suite BIN SERVER PATH...: Node's runner over PATH... against the binaries in BIN behind
# SERVER, its stacks under COMET_TEST_RUNS/SERVER/, counted from its TAP file.
node_suite() {
    local bin=$1 server=$2 runs tap rc=0 p f c sk td
    shift 2
    echo "== node tests against $bin behind $server: $*"
    runs=$COMET_TEST_RUNS/$server
    mkdir -p "$runs"
    chmod 755 "$runs"
    tap=$COMET_TEST_RUNS/$(tr / - <<< "$bin")-$server.tap
    COMET_BIN_DIR=$bin COMET_IT_SERVER=$server COMET_TEST_RUNS=$runs \
        timeout -k 30 "${COMET_IT_TIMEOUT:-900}" node --test --test-concurrency="$it_jobs" \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" "$@" || rc=$?
    p=$(tap_count pass "$tap") f=$(tap_count fail "$tap") c=$(tap_count cancelled "$tap")
    sk=$(tap_count skipped "$tap") td=$(tap_count todo "$tap")
    f=$((${f:-0} + ${c:-0}))
    echo "node tests against $bin behind $server: ${p:-0} passed, $f failed, ${sk:-0} skipped, ${td:-0} todo"
    if [[ -z $p ]] || ((rc != 0 && f == 0)); then
        echo "node tests against $bin behind $server: node exited with $rc and no counted failure"
        f=$((f + 1))
    fi
    add "${p:-0}" "$f"
}

for bin in $it_bins; do
    if [[ ! -x $bin/comet.fcgi || ! -x $bin/comet-worker ]]; then
        echo "$bin: comet.fcgi or comet-worker is not built"
        add 0 1
        continue
    fi
    first=1
    # Suites that do not depend on the web server (the SQL archive) run under the first only.
    export COMET_IT_ONCE=${it_servers%% *}
    for server in $it_servers; do
        dirs=()
        if [[ -d tests/integration ]]; then dirs+=(tests/integration/); fi
        if ((first)); then dirs+=("${once_dirs[@]}"); fi
        first=0
        ((${#dirs[@]})) || continue
        node_suite "$bin" "$server" "${dirs[@]}"
    done
done

# (b2) The static binaries (make static) behind Apache + mod_fcgid, the shared host's case:
# the settings file, a real publish and delivery, -V, no dynamic loader. COMET_STATIC_BINS=
# (empty) leaves it out.
static_bins=${COMET_STATIC_BINS-build/static}
if [[ -n $static_bins ]]; then
    if [[ -x $static_bins/comet.fcgi && -x $static_bins/comet-worker ]]; then
        node_suite "$static_bins" apache tests/integration/settings.test.mjs
    else
        echo "$static_bins: comet.fcgi or comet-worker is not built (make static)"
        add 0 1
    fi
fi

# (c) A sanitizer report anywhere in a stack's logs is a failure of its own: Apache's
# error.log (mod_fcgid's processes), lighttpd.log (what lighttpd's spawned comet.fcgi writes),
# fcgi.log (comet.fcgi -s), the workers' logs, under every deployment's folder.
findings=$(grep -rE --include='*.log' 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|LeakSanitizer has encountered|runtime error:' \
    "$COMET_TEST_RUNS" 2> /dev/null || true)
if [[ -n $findings ]]; then
    echo "== sanitizer reports in $COMET_TEST_RUNS:"
    printf '%s\n' "$findings"
    add 0 "$(grep -c . <<< "$findings")"
fi

echo "$passed passed, $failed failed"
((failed == 0))
