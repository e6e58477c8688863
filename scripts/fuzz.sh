#!/usr/bin/env bash
# Runs each fuzz target in fuzz/ for SECONDS (default 300), one after the other, at low
# priority, and stops at the first crash with the target, the input and how to replay it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# SANITIZER=none (or address, the default) picks the sanitizer. Figures of the last run
# of each target are in fuzz/logs/<target>.log. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(mongoexport_lines extjson file_names range_header link_token)
fi
sanitizer="${SANITIZER:-address}"

# The reader and range targets write small files: in a folder of their own, on a RAM disk
# when there is one, removed at the end.
base="${TMPDIR:-/tmp}"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
UDD_FUZZ_TMP=$(mktemp -d "$base/udd-fuzz.XXXXXX")
export UDD_FUZZ_TMP
trap 'rm -rf "$UDD_FUZZ_TMP"' EXIT

mkdir -p fuzz/logs
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    dirs=("$corpus")
    [ -d "fuzz/seeds/$target" ] && dirs+=("fuzz/seeds/$target")
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    [ -f "fuzz/dicts/$target.dict" ] && args+=(-dict="fuzz/dicts/$target.dict")
    log="fuzz/logs/$target.log"
    echo "== $target: ${seconds}s, sanitizer $sanitizer"
    status=0
    nice -n 15 cargo +nightly fuzz run --sanitizer "$sanitizer" --debug-assertions \
        "$target" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        echo "!! $target CRASHED (exit $status); the end of $log:" >&2
        tail -n 40 "$log" >&2
        crash=$(ls -t "fuzz/artifacts/$target"/* 2>/dev/null | head -n 1 || true)
        if [ -n "$crash" ]; then
            echo "!! input: $crash" >&2
            echo "!! replay:   cargo +nightly fuzz run --sanitizer $sanitizer --debug-assertions $target $crash" >&2
            echo "!! minimise: cargo +nightly fuzz tmin --sanitizer $sanitizer --debug-assertions $target $crash" >&2
        fi
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    echo "   no crash: ${runs:-?} executions, ${rate:-?}/s, ${cov:-}"
done
