#!/usr/bin/env bash
# subst.sh TEMPLATE NAME=VALUE...: the one generator of comet-fcgi's confs, units, wrapper and
# man pages. Prints TEMPLATE with every @NAME@ replaced by VALUE (a value may span lines), and
# fails, naming the line, if any @UPPER_CASE@ placeholder is left: `make install` and the
# private stacks of tests/stack.sh both write what they run through it, so what is tested is
# what is installed. Where each value comes from is the caller's business.
set -euo pipefail

[[ $# -ge 1 && -r $1 ]] || { echo "usage: $0 TEMPLATE NAME=VALUE..." >&2; exit 2; }
template=$1
shift
names=() values=()
for pair in "$@"; do
    [[ $pair =~ ^([A-Z][A-Z_]*)=(.*)$ ]] || { echo "$0: not NAME=VALUE: $pair" >&2; exit 2; }
    names+=("${BASH_REMATCH[1]}") values+=("${BASH_REMATCH[2]}")
done

n=0
while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    probe=$line # the template's line without its known placeholders: a value may hold @X@
    for i in "${!names[@]}"; do
        line=${line//"@${names[i]}@"/"${values[i]}"}
        probe=${probe//"@${names[i]}@"/}
    done
    if [[ $probe =~ @[A-Z][A-Z_]*@ ]]; then
        echo "$0: $template:$n: ${BASH_REMATCH[0]} has no value" >&2
        exit 1
    fi
    printf '%s\n' "$line"
done < "$template"
