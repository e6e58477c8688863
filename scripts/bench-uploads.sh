#!/usr/bin/env bash
# Benchmarks an export whose uploads are photos and videos: files deflate cannot shrink.
# A small demo workspace gets COUNT of alice's uploads replaced by MIB MiB of random
# bytes each (what compressed formats look like to deflate); `udd export` (personal and
# full) then runs against a baseline measured in the same run: `zip -6` of the same
# files. Reports medians of RUNS runs, the ratio to the baseline, CPU time (user +
# system, all threads) and the zip sizes.
# Usage: scripts/bench-uploads.sh [COUNT] [MIB] [RUNS]    (defaults 32, 8 and 3)
# Environment: BEFORE=/path/to/udd also runs that binary (an older build) in the loop.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-32}
mib=${2:-8}
runs=${3:-3}
source scripts/bench-lib.sh
need_tool zip zip
need_tool sqlite3 sqlite3
build_udd
before=${BEFORE:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$udd" demo --users 10 --rooms 5 --messages 20000 >/dev/null 2>&1

# The uploads of alice's export: those its zip lists under assets/.
first=$("$udd" export --user alice 2>/dev/null | tail -1)
mapfile -t ids < <(unzip -Z1 "$first" | sed -n 's|^assets/\([A-Za-z0-9]*\)-.*|\1|p' | sort -u | head -n "$count")
rm -f "$first"
[ "${#ids[@]}" -eq "$count" ] || { echo "alice's export holds ${#ids[@]} uploads, not $count" >&2; exit 1; }
mkdir -p "$work/baseline"
for id in "${ids[@]}"; do
  blob=$(sqlite3 data/udd.sqlite3 "SELECT blob_path FROM uploads WHERE id = '$id'")
  head -c "$((mib << 20))" /dev/urandom >"data/blobs/$blob"
  sqlite3 data/udd.sqlite3 "UPDATE uploads SET size = $((mib << 20)) WHERE id = '$id'"
  cp "data/blobs/$blob" "$work/baseline/$id"
done

timed() { # prints "seconds cpu_seconds" for the command; its last line of output goes to $work/out
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >"$work/out" 2>/dev/null
  awk '{print $1, $2 + $3}' "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
baseline() { rm -f "$work/baseline.zip" && cd "$work/baseline" && zip -6 -q -r "$work/baseline.zip" .; }
export -f baseline
export work

kinds=(baseline full personal)
[ -n "$before" ] && kinds+=(full-before personal-before)
for kind in "${kinds[@]}"; do : >"$work/$kind.secs"; : >"$work/$kind.cpu"; : >"$work/$kind.size"; done
measure() { # kind, command...
  local kind=$1 s c zip
  shift
  read -r s c < <(timed "$@")
  echo "$s" >>"$work/$kind.secs"
  echo "$c" >>"$work/$kind.cpu"
  zip=$(tail -1 "$work/out")
  [ "$kind" = baseline ] && zip=$work/baseline.zip
  stat -c %s "$zip" >>"$work/$kind.size"
  [ "$kind" = baseline ] || rm -f "$zip"
}
for _ in $(seq "$runs"); do
  measure baseline bash -c baseline
  measure full "$udd" export --user alice --full
  measure personal "$udd" export --user alice
  if [ -n "$before" ]; then
    measure full-before "$before" export --user alice --full
    measure personal-before "$before" export --user alice
  fi
done
base=$(median <"$work/baseline.secs")
echo "$count uploads of $mib MiB of random bytes in alice's export, $runs runs, medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in "${kinds[@]}"; do
  secs=$(median <"$work/$kind.secs")
  printf '%-16s %7.2f s %6.2fx baseline  cpu %6.2f s  zip %11d bytes\n' "$kind" "$secs" \
    "$(echo "$secs / $base" | bc -l)" "$(median <"$work/$kind.cpu")" "$(median <"$work/$kind.size")"
done
