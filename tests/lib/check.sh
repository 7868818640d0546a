# check.sh: what the shell test scripts (tests/install.sh, tests/package.sh) share, sourced:
# check NAME CMD... counts CMD's success or failure (showing its output when it fails), and
# check_end SUITE prints "SUITE: N passed, M failed" (what tests/run.sh counts) and fails on any.
checks_passed=0 checks_failed=0

check() {
    local name=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if ((rc == 0)); then
        checks_passed=$((checks_passed + 1))
        echo "ok: $name"
    else
        checks_failed=$((checks_failed + 1))
        echo "FAILED: $name (exit status $rc)"
        printf '%s\n' "$out" | tail -n 30 | sed 's/^/    /'
    fi
}

check_end() {
    echo "$1: $checks_passed passed, $checks_failed failed"
    ((checks_failed == 0))
}

# free_port: a port nothing listens on in 127.0.0.1, from the dynamic range.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }
    done
}

# copy_tree DEST: the source tree as git sees it (committed and new files, not node_modules)
# into DEST, to build or install there without touching the working tree's build/.
copy_tree() {
    mkdir -p "$1"
    git ls-files -co --exclude-standard | grep -v '^node_modules' | tar -cf - -T - | tar -xf - -C "$1"
}
