#!/usr/bin/env bash
# Makes sure the S3 test server (s3s-fs, a real S3 protocol implementation over a local
# folder) is installed under target/tools, building it from crates.io when missing.
# Prints the binary's path. The object-storage tests run it; a missing server is a test
# failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.14.1
ROOT="${CARGO_TARGET_DIR:-$PWD/target}/tools/s3s-fs-$VERSION"
BIN="$ROOT/bin/s3s-fs"
if [ ! -x "$BIN" ]; then
    echo "installing s3s-fs $VERSION into $ROOT" >&2
    cargo install s3s-fs --version "$VERSION" --features binary --locked --root "$ROOT" >&2
fi
echo "$BIN"
