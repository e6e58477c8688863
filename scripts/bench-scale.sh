#!/usr/bin/env bash
# Exports per minute on one host, in one run: the single-process installation (`udd serve`
# on SQLite running its own export workers) beside `udd serve` with `user_data.workers = 0`
# and 1, then 2, `udd worker` processes on one PostgreSQL database.
#
# A release build seeds one demo workspace of USERS users into SQLite. Each run gets a
# copy of it (on PostgreSQL: a fresh database filled by `udd db copy`), starts the
# processes, logs every user in, then has them all request an export at the same moment
# over HTTP (even users a full one, odd users a personal one), and times from the
# requests until the database holds USERS completed operations (as the serve process's
# /metrics reports them, polled every 0.2 s). Every process runs THREADS export workers
# (default 1, so the figures compare processes, not threads).
# Uploads, avatars and archives stay in local folders of this host for all three
# (the figures compare databases and processes, not stores); mail goes to each
# process's outbox. RUNS runs per configuration, interleaved; medians.
# Usage: scripts/bench-scale.sh [USERS] [MESSAGES] [RUNS] [THREADS]
#        (defaults 40, 200000, 3, 1)
# PostgreSQL: UDD_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
# whose user may create databases; psql, curl and sqlite3 must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-40}
messages=${2:-200000}
runs=${3:-3}
threads=${4:-1}
server_url=${UDD_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
for tool in psql curl sqlite3; do
  command -v "$tool" >/dev/null || { echo "bench-scale.sh needs $tool" >&2; exit 1; }
done
psql -q "$server_url" -c "SELECT 1" >/dev/null || {
  echo "PostgreSQL is not reachable at $server_url (scripts/ensure-postgres.sh starts one)" >&2
  exit 1
}
source scripts/bench-lib.sh
build_udd
work=$(mktemp -d)
pids=()
databases=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${databases[@]}"; do
    psql -q "$server_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/seed"
(cd "$work/seed" && "$udd" demo --users "$users" --rooms 20 --messages "$messages" >/dev/null 2>&1)
seed_db=$work/seed/data/udd.sqlite3
mapfile -t usernames < <(sqlite3 "$seed_db" "SELECT username FROM users ORDER BY username")
exported=$(sqlite3 "$seed_db" \
  "SELECT count(*) FROM subscriptions s JOIN messages m ON m.room_id = s.room_id")

# Starts `udd ARGS…` in DIR/NAME (its own working folders) on database $url.
launch() {
  local dir=$1 name=$2
  shift 2
  mkdir -p "$dir/$name"
  (cd "$dir/$name" && exec env RUST_LOG=warn,udd_api=info \
    UDD__DATABASE__URL="$url" \
    UDD__STORAGE__BLOB_PATH="$work/seed/data/blobs" \
    UDD__USER_DATA__FILE_SYSTEM_ZIP_PATH="$dir/zips" \
    UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS=1 \
    UDD__SERVER__BIND=127.0.0.1:0 \
    UDD__SERVER__LINK_SECRET=bench-scale-link-secret-0123456789 \
    UDD__RATE_LIMIT__ENABLED=false \
    UDD__LOGIN__PASSWORD_CHECK_QUEUE=1024 \
    "$udd" "$@" 2>"$dir/$name.log" >/dev/null) &
  pids+=($!)
}

# Operations in STATUS, from the serve process's /metrics: one pooled query, the same
# on both databases (a psql per poll would fork a PostgreSQL backend each time).
count() {
  curl -sf "$base/metrics" | sed -n "s/^udd_operations{status=\"$1\"} //p"
}

# One run of configuration $kind (sqlite, pg1, pg2): appends its seconds to $work/$kind.secs.
run_one() {
  local n=$1 dir=$work/$kind-$1 first=${#pids[@]} port="" i=0 start requests=()
  mkdir -p "$dir"
  cp "$seed_db" "$dir/udd.sqlite3"
  if [ "$kind" = sqlite ]; then
    url=$dir/udd.sqlite3
    UDD__USER_DATA__WORKERS=$threads launch "$dir" serve serve
  else
    local name=udd_bench_${kind}_${n}_$$
    psql -q "$server_url" -c "CREATE DATABASE \"$name\"" >/dev/null
    databases+=("$name")
    url=${server_url%/*}/$name
    (cd "$dir" && UDD__DATABASE__URL=$dir/udd.sqlite3 "$udd" db copy --to "$url" >/dev/null 2>&1)
    UDD__USER_DATA__WORKERS=0 launch "$dir" serve serve
    for w in $(seq "${kind#pg}"); do
      UDD__USER_DATA__WORKERS=$threads launch "$dir" "worker-$w" worker
    done
  fi
  port=$(served_port "$dir/serve.log" 300)
  base="http://127.0.0.1:$port"
  : >"$dir/logins"
  for u in "${usernames[@]}"; do
    login=$(curl -sf "$base/api/v1/login" -H 'Content-Type: application/json' \
      -d "{\"user\":\"$u\",\"password\":\"demo\"}")
    echo "$(echo "$login" | sed -n 's/.*"userId":"\([^"]*\)".*/\1/p')" \
      "$(echo "$login" | sed -n 's/.*"authToken":"\([^"]*\)".*/\1/p')" >>"$dir/logins"
  done
  start=$(date +%s.%N)
  while read -r id token; do
    curl -sf -o /dev/null -H "X-User-Id: $id" -H "X-Auth-Token: $token" \
      "$base/api/v1/users.requestDataDownload?fullExport=$([ $((i % 2)) = 0 ] && echo true || echo false)" &
    requests+=($!)
    i=$((i + 1))
  done <"$dir/logins"
  wait "${requests[@]}"
  until [ "$(count completed)" -ge "$users" ]; do
    [ "$(count failed)" = 0 ] || { echo "$kind: an export failed" >&2; tail "$dir"/*.log >&2; exit 1; }
    sleep 0.2
  done
  echo "$(date +%s.%N) - $start" | bc >>"$work/$kind.secs"
  for pid in "${pids[@]:$first}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:$first}"; do wait "$pid" 2>/dev/null || true; done
  pids=("${pids[@]:0:$first}")
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
kinds=(sqlite pg1 pg2)
for kind in "${kinds[@]}"; do : >"$work/$kind.secs"; done
for n in $(seq "$runs"); do
  for kind in "${kinds[@]}"; do run_one "$n"; done
done

echo "$(date -u +%Y-%m-%d) $(git rev-parse --short HEAD 2>/dev/null || true), $(nproc) cores:" \
  "$users users requesting at once ($exported messages exported per round)," \
  "$threads export worker(s) per process, medians of $runs runs"
declare -A per_minute
for kind in "${kinds[@]}"; do
  s=$(median <"$work/$kind.secs")
  per_minute[$kind]=$(echo "$users * 60 / $s" | bc -l)
done
for kind in "${kinds[@]}"; do
  case $kind in
    sqlite) what="SQLite, udd serve with its workers" ;;
    pg1) what="PostgreSQL, udd serve + 1 udd worker" ;;
    pg2) what="PostgreSQL, udd serve + 2 udd worker" ;;
  esac
  s=$(median <"$work/$kind.secs")
  printf '%-38s %7.2f s  %6.1f exports/min  %5.2fx SQLite  %5.2fx 1 worker\n' "$what" "$s" \
    "${per_minute[$kind]}" "$(echo "${per_minute[$kind]} / ${per_minute[sqlite]}" | bc -l)" \
    "$(echo "${per_minute[$kind]} / ${per_minute[pg1]}" | bc -l)"
done
