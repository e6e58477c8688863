#!/usr/bin/env bash
# Runs every test of the workspace: domain and use-case unit tests, adapter tests on real
# SQLite files, the CLI tests on the real binary, and the black-box HTTP tests in tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --locked "$@"
