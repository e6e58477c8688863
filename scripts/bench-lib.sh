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
