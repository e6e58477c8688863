#!/usr/bin/env bash
# Benchmarks filling a workspace: `udd demo` at two sizes (time and peak memory, to show
# memory stays flat) and `udd import` of a synthetic dump (throughput), in its mongoexport
# form and in the mongodump forms (.bson, .bson.gz, --archive, --archive --gzip).
# Usage: scripts/bench-workspace.sh [MESSAGES]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-1000000}
small=$((messages / 5))
cargo build --release --bin udd --example mongodump_from_export >/dev/null
udd=$PWD/target/release/udd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  read -r secs kib <"$work/time"
  printf '%-40s %8.1f s %8.1f MiB\n' "$label" "$secs" "$(echo "$kib / 1024" | bc -l)"
}

for n in "$small" "$messages"; do
  rm -rf "$work/demo"; mkdir "$work/demo"
  (cd "$work/demo" && measure "udd demo --messages $n" "$udd" demo --messages "$n" --users 50 --rooms 40)
done

python3 scripts/make-dump.py "$work/dump" --messages "$messages" >/dev/null
size=$(du -m "$work/dump/rocketchat_message.json" | cut -f1)
mkdir "$work/import"
(cd "$work/import" && measure "udd import ($messages messages, ${size} MiB)" "$udd" import "$work/dump")
(cd "$work/import" && measure "udd import again (sync: nothing changed)" "$udd" import "$work/dump")

convert=$PWD/target/release/examples/mongodump_from_export
"$convert" "$work/dump" "$work/bson"
"$convert" "$work/dump" "$work/bsongz" --gzip
"$convert" "$work/dump" "$work/dump.archive" --archive
"$convert" "$work/dump" "$work/dump.archive.gz" --archive --gzip
for form in bson bsongz dump.archive dump.archive.gz; do
  rm -rf "$work/import"; mkdir "$work/import"
  size=$(du -m "$work/$form" | tail -1 | cut -f1)
  (cd "$work/import" && measure "udd import $form (${size} MiB)" "$udd" import "$work/$form")
done
