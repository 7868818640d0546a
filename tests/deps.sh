#!/usr/bin/env bash
# deps.sh: installs the Debian packages that building and testing need, and only those missing
# (silent when none is). Services are left alone: if the distro's apache2 or redis start, they
# keep their usual ports; the test and demo stacks use others.
set -euo pipefail

pkgs=(build-essential pkg-config libfcgi-dev libhiredis-dev libjansson-dev redis-server apache2
      libapache2-mod-fcgid curl procps)
command -v node > /dev/null || pkgs+=(nodejs)

missing=()
for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2> /dev/null) = installed ]] || missing+=("$p")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) != 0 ]]; then
    echo "deps.sh: missing ${missing[*]}; as root: apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
