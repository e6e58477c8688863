#!/usr/bin/env bash
# Makes sure Debian's `chromium` and `chromium-driver` are installed, for the browser
# tests of the "My data" page (tests/api/my_data_browser.rs). Prints the two binaries'
# paths, one a line: chromium, then chromedriver. Installing needs root (apt-get).
set -euo pipefail

find_both() {
    local browser driver
    browser=$(command -v chromium 2>/dev/null || true)
    driver=$(command -v chromedriver 2>/dev/null || true)
    [ -n "$browser" ] && [ -n "$driver" ] || return 1
    echo "$browser"
    echo "$driver"
}

if find_both; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "chromium and chromium-driver are not installed and installing them needs root:" \
        "apt-get install chromium chromium-driver" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium chromium-driver >&2

find_both || {
    echo "chromium or chromedriver is still missing after apt-get install" >&2
    exit 1
}
