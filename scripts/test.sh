#!/usr/bin/env bash
# Runs every test of the workspace: domain and use-case unit tests, adapter tests on real
# SQLite files and real PostgreSQL databases, the CLI tests on the real binary, and the black-box HTTP tests in tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The object-storage tests talk to a real S3 server; build it first, outside any test's
# time limit (a test installs it too when this was skipped).
scripts/ensure-s3s-fs.sh >/dev/null
# The PostgreSQL tests (the adapters' suite on both backends, tests/api/postgres.rs)
# need a server; start (or install) one. A server that does not answer fails them.
scripts/ensure-postgres.sh
# The browser and reverse-proxy tests need Debian's chromium and nginx: installed here,
# one after the other, rather than by two tests at once (apt takes one lock at a time;
# the scripts also wait for it when something else holds it).
scripts/ensure-chromium.sh >/dev/null
scripts/ensure-nginx.sh >/dev/null
exec cargo test --workspace --locked "$@"
