#!/usr/bin/env bash
# Makes sure an nginx binary is installed (Debian's `nginx` package), for the tests that
# run udd behind a real nginx (tests/api/behind_nginx.rs) and for trying deploy/nginx/.
# Prints the binary's path. Installing needs root (apt-get); the package's own service is
# not started: the tests run nginx themselves, on loopback, with their own prefix.
set -euo pipefail

find_nginx() {
    command -v nginx 2>/dev/null && return 0
    for candidate in /usr/sbin/nginx /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if find_nginx; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "nginx is not installed and installing it needs root: apt-get install nginx" >&2
    exit 1
fi

# Keep the package from starting its service (on port 80) while it installs: Debian's
# maintainer scripts ask policy-rc.d, and 101 means "not now". An existing policy stays.
policy=/usr/sbin/policy-rc.d
placed_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    placed_policy=true
fi
cleanup() {
    if [ "$placed_policy" = true ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nginx >&2

find_nginx || {
    echo "nginx is still missing after apt-get install nginx" >&2
    exit 1
}
