#!/usr/bin/env bash
# Benchmarks `udd export` against a baseline measured in the same run on the same data:
# `sqlite3 -json` dumping the requester's messages plus `zip -6` compressing that dump.
# Reports medians of RUNS runs, the ratio to the baseline, CPU time (user + system, all
# threads: what a loaded machine cannot distort), peak memory and zip sizes.
# Usage: scripts/bench-export.sh [MESSAGES] [RUNS]    (defaults 1250000 and 3; the demo
# spreads messages over rooms, about 60% of them land in alice's rooms)
# Environment:
#   BEFORE=/path/to/udd    also runs that binary (an older build) in the same loop, as
#                          `full-before` and `personal-before`;
#   WORKSPACE=DIR          uses (and keeps) the demo workspace in DIR, made there once,
#                          instead of a new one in a temporary folder;
#   BEFORE_WORKSPACE=DIR   runs BEFORE in the demo workspace in DIR (made there once, by
#                          BEFORE, the same demo): for an older build whose database
#                          differs.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-1250000}
runs=${2:-3}
source scripts/bench-lib.sh
if [ -n "${BEFORE_WORKSPACE:-}" ] && [ -z "${BEFORE:-}" ]; then
  echo "BEFORE_WORKSPACE names the workspace of the build BEFORE names: set BEFORE too" >&2
  exit 2
fi
need_tool zip zip
need_tool sqlite3 sqlite3
cargo build --release --bin udd >/dev/null
udd=$PWD/target/release/udd
before=${BEFORE:-}
before_workspace=${BEFORE_WORKSPACE:-}
[ -z "$before_workspace" ] || before_workspace=$(mkdir -p "$before_workspace" && cd "$before_workspace" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ -n "${WORKSPACE:-}" ]; then
  mkdir -p "$WORKSPACE"
  cd "$WORKSPACE"
  [ -f data/udd.sqlite3 ] || "$udd" demo --users 10 --rooms 5 --messages "$messages" >/dev/null 2>&1
else
  cd "$scratch"
  "$udd" demo --users 10 --rooms 5 --messages "$messages" >/dev/null 2>&1
fi
work=$scratch
if [ -n "$before_workspace" ] && [ ! -f "$before_workspace/data/udd.sqlite3" ]; then
  (cd "$before_workspace" && "$before" demo --users 10 --rooms 5 --messages "$messages" >/dev/null 2>&1)
fi

alice=$(sqlite3 data/udd.sqlite3 "SELECT id FROM users WHERE username = 'alice'")
rooms="SELECT room_id FROM subscriptions WHERE user_id = '$alice'"
count=$(sqlite3 data/udd.sqlite3 "SELECT count(*) FROM messages WHERE room_id IN ($rooms)")

baseline() {
  sqlite3 -json data/udd.sqlite3 "SELECT msg, username, ts, attachments, message_type FROM messages WHERE room_id IN ($rooms) ORDER BY room_id, ts, id" >"$work/dump.json"
  rm -f "$work/dump.zip"
  zip -6 -q "$work/dump.zip" "$work/dump.json"
}
export -f baseline
export rooms work

export_bench "$runs" "$work/dump.zip"
export_bench_report "messages in alice's rooms: $count (demo of $messages), $runs runs, medians"
