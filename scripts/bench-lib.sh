# What the benchmark scripts that run a server share; sourced, from the repository's
# root, by scripts/bench-*.sh.

# Installs Debian's package $2 when command $1 is missing (the package lists are
# refreshed first: a fresh machine may have none).
need_tool() {
  command -v "$1" >/dev/null || {
    echo "installing $2" >&2
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$2" >/dev/null
  }
}

# Builds the release binary (and the examples named, if any); sets $target and $udd.
build_udd() {
  local examples=()
  for example in "$@"; do examples+=(--example "$example"); done
  cargo build --quiet --release --bin udd "${examples[@]}"
  target=${CARGO_TARGET_DIR:-$PWD/target}
  udd=$target/release/udd
}

# A scratch folder ($work) and the pid of the server under test ($server, set by the
# caller), both cleaned up on exit; the server is stopped with signal $1 (TERM unless
# said otherwise).
scratch_and_server() {
  work=$(mktemp -d)
  server=""
  stop_signal=${1:-TERM}
  trap 'cleanup_scratch' EXIT
}

cleanup_scratch() {
  [ -n "$server" ] && kill "-$stop_signal" "$server" 2>/dev/null || true
  rm -rf "$work"
}

# The port a `udd serve` started with `server.bind = 127.0.0.1:0` logs into file $1,
# waited for up to $2 tenths of a second (100 unless said otherwise); shows the log and
# stops the script if none comes.
served_port() {
  local port=""
  for _ in $(seq "${2:-100}"); do
    port=$(grep -o 'port=[0-9]*' "$1" | head -1 | cut -d= -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$1" >&2; exit 1; }
  echo "$port"
}

# The rounds of an export benchmark (bench-export.sh, bench-uploads.sh), in the workspace
# of the current folder: $1 rounds of `bash -c baseline` (a function the caller exports,
# which leaves its zip at $2), then `$udd export --user alice`, full and personal, and
# the same with the older binary $before when it is set (in the workspace of the folder
# $before_workspace when that is set: an older build may need a database of its own). Each run's wall time, CPU time
# (user + system, every thread), peak memory and zip size go to $work/<kind>.*;
# export_bench_report prints their medians.
export_bench() {
  local runs=$1 baseline_zip=$2
  bench_kinds=(baseline full personal)
  [ -n "${before:-}" ] && bench_kinds+=(full-before personal-before)
  for kind in "${bench_kinds[@]}"; do
    : >"$work/$kind.secs"; : >"$work/$kind.mem"; : >"$work/$kind.size"; : >"$work/$kind.cpu"
  done
  bench_measure() { # kind, command...: one timed run, its figures appended
    local kind=$1 s m c zip
    shift
    /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" >"$work/out" 2>/dev/null
    read -r s m c < <(awk '{print $1, $2, $3 + $4}' "$work/time")
    echo "$s" >>"$work/$kind.secs"
    echo "$c" >>"$work/$kind.cpu"
    echo "$m" >>"$work/$kind.mem"
    zip=$(tail -1 "$work/out")
    [ "$kind" = baseline ] && zip=$baseline_zip
    stat -c %s "$zip" >>"$work/$kind.size"
    [ "$kind" = baseline ] || rm -f "$zip"
  }
  for _ in $(seq "$runs"); do
    bench_measure baseline bash -c baseline
    bench_measure full "$udd" export --user alice --full
    bench_measure personal "$udd" export --user alice
    if [ -n "${before:-}" ]; then
      pushd "${before_workspace:-.}" >/dev/null
      bench_measure full-before "$before" export --user alice --full
      bench_measure personal-before "$before" export --user alice
      popd >/dev/null
    fi
  done
}

# Prints the medians export_bench gathered, each against the baseline's, under the
# heading $1.
export_bench_report() {
  median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
  local base s m z c
  base=$(median <"$work/baseline.secs")
  echo "$1; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for kind in "${bench_kinds[@]}"; do
    s=$(median <"$work/$kind.secs")
    m=$(median <"$work/$kind.mem")
    z=$(median <"$work/$kind.size")
    c=$(median <"$work/$kind.cpu")
    printf '%-16s %7.2f s  %5.2fx baseline  cpu %6.2f s  peak %6.1f MiB  zip %10d bytes\n' "$kind" "$s" "$(echo "$s / $base" | bc -l)" "$c" "$(echo "$m / 1024" | bc -l)" "$z"
  done
}
