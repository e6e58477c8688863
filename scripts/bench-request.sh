#!/usr/bin/env bash
# Throughput of the repeat request against `GET /health` of the same server, in one run.
#
# A release build serves a demo workspace in which alice's personal export of 20 rooms is
# complete; `wrk` (installed from the distribution when missing) then loads, in turn,
# `GET /health`, the repeat `GET /api/v1/users.requestDataDownload` that reuses that
# operation, a download of the finished archive by its id, and `POST /api/v1/login` with
# alice's password (at 4 connections: a login costs a bcrypt, and the login gate answers
# 429 to what it cannot queue). Each is run RUNS times; the script prints the medians, the ratio of
# each to `/health`, latency percentiles, non-2xx answers and "database is locked" lines
# of the server's log. The rate limiter is off (it would answer most calls with 429).
# Loopback only; the server stops at the end.
# Usage: scripts/bench-request.sh [SECONDS] [CONNECTIONS] [RUNS]   (defaults 10, 32, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
runs=${3:-3}
source scripts/bench-lib.sh
need_tool wrk wrk
build_udd
scratch_and_server
cd "$work"
"$udd" demo --users 10 --rooms 20 --messages 20000 >/dev/null 2>&1
"$udd" export --user alice >/dev/null 2>&1

RUST_LOG=warn,udd_api=info UDD__SERVER__BIND=127.0.0.1:0 UDD__RATE_LIMIT__ENABLED=false \
  "$udd" serve 2>"$work/serve.log" >/dev/null &
server=$!
port=$(served_port "$work/serve.log")
base="http://127.0.0.1:$port"
login=$(curl -sf "$base/api/v1/login" -H 'Content-Type: application/json' \
  -d '{"user":"alice","password":"demo"}')
token=$(echo "$login" | sed -n 's/.*"authToken":"\([^"]*\)".*/\1/p')
user=$(echo "$login" | sed -n 's/.*"userId":"\([^"]*\)".*/\1/p')
answer=$(curl -sf "$base/api/v1/users.requestDataDownload" -H "X-User-Id: $user" -H "X-Auth-Token: $token")
echo "$answer" | grep -q '"requested":false' || { echo "not a repeat request: $answer"; exit 1; }
echo "$answer" | grep -q '"status":"completed"' || { echo "the export is not complete: $answer"; exit 1; }
file=$(echo "$answer" | sed -n 's/.*"fileId":"\([^"]*\)".*/\1/p')

cat >"$work/login.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"user":"alice","password":"demo"}'
wrk.headers["Content-Type"] = "application/json"
EOF

# One wrk run: prints "requests_per_second p50_ms p99_ms non_2xx".
load() {
  local out
  out=$(wrk -t2 -c"${LOAD_CONNECTIONS:-$connections}" -d"${seconds}s" --latency "$@")
  local rps p50 p99 bad
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "$rps $(ms "$p50") $(ms "$p99") ${bad:-0}"
}
ms() { # wrk's "1.23ms" / "4.5s" / "800us" in milliseconds
  echo "$1" | awk '/us$/ {sub("us","");print $1/1000;next} /ms$/ {sub("ms","");print $1+0;next} /s$/ {sub("s","");print $1*1000;next} {print $1}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

names=(health request download login)
for name in "${names[@]}"; do : >"$work/$name.runs"; done
for _ in $(seq "$runs"); do
  load "$base/health" >>"$work/health.runs"
  load -H "X-User-Id: $user" -H "X-Auth-Token: $token" \
    "$base/api/v1/users.requestDataDownload" >>"$work/request.runs"
  load -H "X-User-Id: $user" -H "X-Auth-Token: $token" \
    "$base/data-export/$file" >>"$work/download.runs"
  LOAD_CONNECTIONS=4 load -s "$work/login.lua" "$base/api/v1/login" >>"$work/login.runs"
done

health=$(cut -d' ' -f1 "$work/health.runs" | median)
echo "$runs runs of ${seconds}s at $connections connections, $(nproc) cores; medians"
printf '%-9s %12s %9s %9s %9s %8s\n' route 'req/s' 'vs health' 'p50 ms' 'p99 ms' 'non-2xx'
for name in "${names[@]}"; do
  rps=$(cut -d' ' -f1 "$work/$name.runs" | median)
  p50=$(cut -d' ' -f2 "$work/$name.runs" | median)
  p99=$(cut -d' ' -f3 "$work/$name.runs" | median)
  bad=$(cut -d' ' -f4 "$work/$name.runs" | sort -n | tail -1)
  printf '%-9s %12.0f %8.3fx %9.2f %9.2f %8s\n' "$name" "$rps" "$(echo "$rps / $health" | bc -l)" "$p50" "$p99" "$bad"
done
locked=$(grep -c 'database is locked' "$work/serve.log" || true)
echo "\"database is locked\" in the server's log: $locked"
downloads=$(sqlite3 "$work/data/udd.sqlite3" 'SELECT count(*) FROM downloads' 2>/dev/null || echo '?')
echo "download log entries: $downloads (downloads from one client within a session share one)"
