#!/usr/bin/env bash
# fuzz/run.sh SECONDS: runs every built libFuzzer target (build/fuzz/NAME, from
# tests/fuzz/NAME.c) for SECONDS on a fresh copy of its committed corpus
# (tests/fuzz/corpus/NAME), so that runs never grow the committed one. A target passes
# when it ends without a crash, leak or sanitizer report. Ends with "fuzz: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
passed=0 failed=0
for src in tests/fuzz/*.c; do
    name=$(basename "$src" .c)
    bin=build/fuzz/$name
    if [[ ! -x $bin ]]; then
        echo "fuzz $name: $bin is not built (make fuzz-build)"
        failed=$((failed + 1))
        continue
    fi
    work=build/fuzz/run/$name
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [[ -d tests/fuzz/corpus/$name ]]; then cp tests/fuzz/corpus/"$name"/* "$work/corpus/"; fi
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" > "$work/log" 2>&1; then
        echo "fuzz $name: ok, $(grep -c . < <(ls "$work/corpus")) inputs after ${seconds}s"
        passed=$((passed + 1))
    else
        echo "fuzz $name: FAILED; the input is in $work/artifacts/, the log in $work/log:"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$work/log" | head -n 10
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
