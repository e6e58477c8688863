#!/usr/bin/env bash
# How long an export takes to finish after the server running it is killed.
#
# A release build serves a demo workspace; alice asks for her full export over HTTP,
# and once its room files hold FRACTION of her messages' bytes (by the size a clean
# export's room files reach) `udd serve` is killed with SIGKILL and started again at
# once, with its defaults. The script prints the seconds from the restart until the
# operation is completed, beside the time an uninterrupted export of the same data takes
# (`udd export`, run after), and checks that the two archives hold the same files with
# the same bytes (the manifest compared without its cutoff, the one thing that differs
# between two operations). Loopback only; every server started is stopped at the end.
# Usage: scripts/bench-recovery.sh [MESSAGES] [RUNS] [FRACTION]
#        (defaults 500000, 3, 0.5; about 60% of the messages land in alice's rooms)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-500000}
runs=${2:-3}
fraction=${3:-0.5}
source scripts/bench-lib.sh
build_udd
scratch_and_server KILL
cd "$work"
"$udd" demo --users 10 --rooms 5 --messages "$messages" >/dev/null 2>&1
cp -a data pristine

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

serve() { # starts `udd serve` on a free port; sets $server and $base
  RUST_LOG=warn,udd_api=info UDD__SERVER__BIND=127.0.0.1:0 UDD__RATE_LIMIT__ENABLED=false \
    "$udd" serve 2>>"$work/serve.log" >/dev/null &
  server=$!
  local port="" lines
  lines=$(wc -l <"$work/serve.log")
  for _ in $(seq 200); do
    port=$(tail -n +"$((lines + 1))" "$work/serve.log" | grep -o 'port=[0-9]*' | head -1 | cut -d= -f2 || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$work/serve.log"; exit 1; }
  base="http://127.0.0.1:$port"
}

ask() { # alice's full export, as the repeat request answers it
  curl -sf "$base/api/v1/users.requestDataDownload?fullExport=true" \
    -H "X-User-Id: $user" -H "X-Auth-Token: $token"
}

status() { # the operation's status in an answer (its rooms have statuses of their own)
  python3 -c 'import json, sys; print(json.load(sys.stdin)["exportOperation"]["status"])'
}

room_bytes() { # bytes written so far into the room files of the export under way
  find data/userData -name '*.json' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}'
}

same_archive() { # compares two zips entry by entry, the manifest without its cutoff
  python3 - "$1" "$2" <<'EOF'
import json, sys, zipfile
a, b = (zipfile.ZipFile(p) for p in sys.argv[1:3])
def entries(z):
    out = {}
    for name in z.namelist():
        data = z.read(name)
        if name == "manifest.json":
            m = json.loads(data)
            m.pop("cutoff", None)
            data = json.dumps(m, sort_keys=True).encode()
        out[name] = data
    return out
ea, eb = entries(a), entries(b)
if ea.keys() != eb.keys():
    sys.exit(f"different entries: {sorted(ea.keys() ^ eb.keys())[:5]}")
bad = [n for n in ea if ea[n] != eb[n]]
if bad:
    sys.exit(f"{len(bad)} entries differ, e.g. {bad[:3]}")
EOF
}

clean_secs=()
recovery=()
: >"$work/serve.log"
for run in $(seq "$runs"); do
  rm -rf data && cp -a pristine data
  # The size of a clean export's room files, to know when FRACTION of them is written.
  start=$(now)
  clean=$("$udd" export --user alice --full 2>/dev/null | tail -1)
  clean_secs+=("$(echo "$(now) - $start" | bc -l)")
  full_bytes=$(unzip -l "$clean" | awk '$4 ~ /\.json$/ && $4 != "manifest.json" && $4 != "channels.json" && $4 != "user.json" {s+=$1} END {print s}')
  mv "$clean" "$work/clean.zip"
  rm -rf data && cp -a pristine data

  serve
  login=$(curl -sf "$base/api/v1/login" -H 'Content-Type: application/json' \
    -d '{"user":"alice","password":"demo"}')
  token=$(echo "$login" | sed -n 's/.*"authToken":"\([^"]*\)".*/\1/p')
  user=$(echo "$login" | sed -n 's/.*"userId":"\([^"]*\)".*/\1/p')
  ask | grep -q '"requested":true' || { echo "no new operation"; exit 1; }
  threshold=$(echo "$full_bytes * $fraction / 1" | bc)
  until [ "$(room_bytes)" -ge "$threshold" ]; do
    [ "$(ask | status)" = completed ] && { echo "finished before it could be killed; use a larger workspace"; exit 1; }
    sleep 0.02
  done
  kill -9 "$server"
  wait "$server" 2>/dev/null || true
  killed_at=$(room_bytes)
  restart=$(now)
  serve
  until answer=$(ask) && [ "$(echo "$answer" | status)" = completed ]; do
    sleep 0.05
    if [ "$(echo "$(now) - $restart > 600" | bc)" = 1 ]; then
      echo "not completed 600 s after the restart"; exit 1
    fi
  done
  recovery+=("$(echo "$(now) - $restart" | bc -l)")
  file=$(echo "$answer" | sed -n 's/.*"fileId":"\([^"]*\)".*/\1/p')
  curl -sf "$base/data-export/$file" -H "X-User-Id: $user" -H "X-Auth-Token: $token" -o "$work/resumed.zip"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
  same_archive "$work/resumed.zip" "$work/clean.zip"
  printf 'run %d: killed at %d of %d room bytes; completed %.2f s after the restart (clean export %.2f s); archives equal\n' \
    "$run" "$killed_at" "$full_bytes" "${recovery[-1]}" "${clean_secs[-1]}"
done
count=$(sqlite3 data/udd.sqlite3 "SELECT count(*) FROM messages WHERE room_id IN (SELECT room_id FROM subscriptions WHERE user_id = '$user')")
echo "messages in alice's rooms: $count (demo of $messages), $runs runs, medians"
printf 'completed after the restart: %.2f s\n' "$(printf '%s\n' "${recovery[@]}" | median)"
printf 'uninterrupted export:        %.2f s\n' "$(printf '%s\n' "${clean_secs[@]}" | median)"
