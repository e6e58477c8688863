#!/usr/bin/env bash
# Benchmarks `udd export` against a baseline measured in the same run on the same data:
# `sqlite3 -json` dumping the requester's messages plus `zip -6` compressing that dump.
# Reports medians of RUNS runs, the ratio to the baseline, and peak memory.
# Usage: scripts/bench-export.sh [MESSAGES] [RUNS]    (defaults 1250000 and 3; the demo
# spreads messages over rooms, about 80% of them land in alice's rooms)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-1250000}
runs=${2:-3}
command -v zip >/dev/null && command -v sqlite3 >/dev/null || {
  echo "installing zip and sqlite3 for the baseline" >&2
  apt-get install -y zip sqlite3 >/dev/null
}
cargo build --release --bin udd >/dev/null
udd=$PWD/target/release/udd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$udd" demo --users 10 --rooms 5 --messages "$messages" >/dev/null 2>&1

alice=$(sqlite3 data/udd.sqlite3 "SELECT id FROM users WHERE username = 'alice'")
rooms="SELECT room_id FROM subscriptions WHERE user_id = '$alice'"
count=$(sqlite3 data/udd.sqlite3 "SELECT count(*) FROM messages WHERE room_id IN ($rooms)")

timed() { # prints "seconds peak_kib" for the command
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1
  cat "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

baseline() {
  sqlite3 -json data/udd.sqlite3 "SELECT msg, username, ts, attachments, message_type FROM messages WHERE room_id IN ($rooms) ORDER BY room_id, ts, id" >"$work/dump.json"
  rm -f "$work/dump.zip"
  zip -6 -q "$work/dump.zip" "$work/dump.json"
}
export -f baseline
export rooms work

declare -A secs mem
for kind in baseline full personal; do
  : >"$work/$kind.secs"; : >"$work/$kind.mem"
done
for _ in $(seq "$runs"); do
  read -r s m < <(timed bash -c baseline); echo "$s" >>"$work/baseline.secs"; echo "$m" >>"$work/baseline.mem"
  read -r s m < <(timed "$udd" export --user alice --full); echo "$s" >>"$work/full.secs"; echo "$m" >>"$work/full.mem"
  read -r s m < <(timed "$udd" export --user alice); echo "$s" >>"$work/personal.secs"; echo "$m" >>"$work/personal.mem"
  rm -f data/zipFiles/*.zip
done
base=$(median <"$work/baseline.secs")
echo "messages in alice's rooms: $count (demo of $messages), $runs runs, medians"
for kind in baseline full personal; do
  s=$(median <"$work/$kind.secs")
  m=$(median <"$work/$kind.mem")
  printf '%-10s %7.2f s  %5.2fx baseline  peak %6.1f MiB\n' "$kind" "$s" "$(echo "$s / $base" | bc -l)" "$(echo "$m / 1024" | bc -l)"
done
