#!/usr/bin/env bash
# Load check for login throttling: 50 connections send wrong passwords for alice for 20 s
# (from 127.0.0.1) while bob, from 127.0.0.2, asks for his data every 100 ms and logs in
# every 2.5 s. Prints bob's latencies and errors and what the attackers were answered,
# for two configurations of one release build:
#   defaults  — Rocket.Chat's blocking (10 per user, 50 per address) and rate limit
#               (10 calls a minute per route and client);
#   unguarded — blocking and rate limit off: every attempt costs a bcrypt, and only the
#               bounded password-check pool stands between the storm and bob.
# Loopback only; each run stops by itself.
# Usage: scripts/bench-login-storm.sh [SECONDS] [ATTACKERS]    (defaults 20 and 50)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
attackers=${2:-50}
source scripts/bench-lib.sh
build_udd login_storm
storm=$target/release/examples/login_storm
scratch_and_server

run() {
  local name=$1
  shift
  rm -rf "$work/data" "$work/serve.log"
  (cd "$work" && "$udd" user add --username alice --password alice-secret >/dev/null 2>&1)
  (cd "$work" && "$udd" user add --username bob --password bob-secret >/dev/null 2>&1)
  (cd "$work" && exec env RUST_LOG=warn,udd_api=info UDD__SERVER__BIND=127.0.0.1:0 "$@" \
    "$udd" serve 2>"$work/serve.log" >/dev/null) &
  server=$!
  local port
  port=$(served_port "$work/serve.log")
  echo "== $name: $attackers attackers for $seconds s, $(nproc) cores"
  "$storm" --url "http://127.0.0.1:$port" --victim bob:bob-secret --target alice \
    --attackers "$attackers" --seconds "$seconds"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
}

run defaults
run unguarded UDD__RATE_LIMIT__ENABLED=false UDD__LOGIN__BLOCK_FAILED_LOGINS=false
