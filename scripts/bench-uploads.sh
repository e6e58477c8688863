#!/usr/bin/env bash
# Benchmarks an export whose uploads are photos and videos: files deflate cannot shrink.
# A small demo workspace gets COUNT of alice's uploads replaced by MIB MiB of random
# bytes each (what compressed formats look like to deflate); `udd export` (personal and
# full) then runs against a baseline measured in the same run: `zip -6` of the same
# files. Reports medians of RUNS runs, the ratio to the baseline, CPU time (user +
# system, all threads), peak memory and the zip sizes.
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

baseline() { rm -f "$work/baseline.zip" && cd "$work/baseline" && zip -6 -q -r "$work/baseline.zip" .; }
export -f baseline
export work

export_bench "$runs" "$work/baseline.zip"
export_bench_report "$count uploads of $mib MiB of random bytes in alice's export, $runs runs, medians"
