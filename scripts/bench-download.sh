#!/usr/bin/env bash
# Benchmarks `GET /data-export/{fileId}` on a large export against a baseline measured in
# the same run: Python's http.server sending the same zip over loopback. Reports medians
# of RUNS downloads, the ratio to the baseline, and the server's memory before and after,
# which shows that the zip is streamed, not buffered.
# Usage: scripts/bench-download.sh [MESSAGES] [RUNS]    (defaults 2000000 and 5)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-2000000}
runs=${2:-5}
source scripts/bench-lib.sh
need_tool sqlite3 sqlite3
build_udd
work=$(mktemp -d)
server=""
baseline=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  [ -n "$baseline" ] && kill "$baseline" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
"$udd" demo --users 10 --rooms 5 --messages "$messages" >/dev/null 2>&1
# Full exports are the larger (JSON), so they make the better test of streaming.
zip_path=$("$udd" export --user alice --full 2>/dev/null | tail -1)
file_id=$(sqlite3 data/udd.sqlite3 "SELECT id FROM user_data_files ORDER BY created_at DESC LIMIT 1")
size=$(stat -c %s "$zip_path")

RUST_LOG=info UDD__SERVER__BIND=127.0.0.1:0 "$udd" serve 2>"$work/serve.log" >/dev/null &
server=$!
port=$(served_port "$work/serve.log")
login=$(curl -s -X POST "127.0.0.1:$port/api/v1/login" -H 'content-type: application/json' \
  -d '{"user":"alice","password":"demo"}')
uid=$(echo "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["userId"])')
token=$(echo "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["authToken"])')

(cd "$(dirname "$zip_path")" && exec python3 -m http.server 0 --bind 127.0.0.1 >"$work/py.log" 2>&1) &
baseline=$!
py_port=""
for _ in $(seq 100); do
  py_port=$(grep -o 'port [0-9]*' "$work/py.log" | head -1 | cut -d' ' -f2 || true)
  [ -n "$py_port" ] && break
  sleep 0.1
done

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$server/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

rss_before=$(rss)
: >"$work/udd.secs"; : >"$work/py.secs"
for _ in $(seq "$runs"); do
  curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$port/data-export/$file_id" \
    -H "X-User-Id: $uid" -H "X-Auth-Token: $token" >>"$work/udd.secs"
  curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$py_port/$(basename "$zip_path")" >>"$work/py.secs"
done
rss_after=$(rss)
recorded=$(sqlite3 data/udd.sqlite3 "SELECT count(*), sum(bytes) FROM downloads WHERE file_id = '$file_id'")

u=$(median <"$work/udd.secs")
p=$(median <"$work/py.secs")
echo "full export of alice from a demo of $messages messages: zip $(echo "$size / 1048576" | bc -l | xargs printf '%.1f') MiB, $runs downloads, medians"
printf 'baseline (python http.server) %6.3f s  %7.1f MiB/s\n' "$p" "$(echo "$size / 1048576 / $p" | bc -l)"
printf 'udd /data-export              %6.3f s  %7.1f MiB/s  %.2fx baseline\n' "$u" "$(echo "$size / 1048576 / $u" | bc -l)" "$(echo "$u / $p" | bc -l)"
printf 'udd server memory: %.1f MiB before, %.1f MiB after, peak %.1f MiB\n' \
  "$(echo "$rss_before / 1024" | bc -l)" "$(echo "$rss_after / 1024" | bc -l)" "$(echo "$(hwm) / 1024" | bc -l)"
echo "downloads recorded (count|bytes): $recorded"
