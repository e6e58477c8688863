#!/usr/bin/env bash
# Runs every test of the workspace: domain and use-case unit tests, adapter tests on real
# SQLite files, the CLI tests on the real binary, and the black-box HTTP tests in tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The object-storage tests talk to a real S3 server; build it first, outside any test's
# time limit (a test installs it too when this was skipped).
scripts/ensure-s3s-fs.sh >/dev/null
exec cargo test --workspace --locked "$@"
