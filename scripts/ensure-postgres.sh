#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests: 127.0.0.1:5432, user postgres,
# trust authentication (or whatever UDD_TEST_DATABASE_URL names, which is then only
# checked). Installs Debian's `postgresql` package when missing (needs root), lets local
# TCP connections in without a password, serves TLS with Debian's self-signed snakeoil
# certificate (the package's default; the TLS tests trust that certificate), and starts
# the cluster. The PostgreSQL tests fail, never skip, when no server answers.
set -euo pipefail

if [ -n "${UDD_TEST_DATABASE_URL:-}" ]; then
    psql "$UDD_TEST_DATABASE_URL" -Atqc 'SELECT 1' >/dev/null
    exit 0
fi

ready() {
    psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=require" \
        -Atqc 'SELECT 1' >/dev/null 2>&1
}

if ready; then
    exit 0
fi

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is not installed and installing it needs root: apt-get install postgresql" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql postgresql-client >&2
fi

version="$(ls /etc/postgresql | sort -V | tail -n 1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
# Local TCP connections as any user without a password: a test server, never a
# production one.
if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '/^# TYPE/a host    all             all             127.0.0.1/32            trust\nhost    all             all             ::1/128                 trust' "$hba"
fi
# TLS with the snakeoil certificate, as Debian's package sets it up unless ssl-cert was
# missing when the cluster was made.
conf="/etc/postgresql/$version/main/postgresql.conf"
if ! grep -qE "^ssl\s*=\s*on" "$conf"; then
    if [ ! -f /etc/ssl/private/ssl-cert-snakeoil.key ]; then
        command -v make-ssl-cert >/dev/null 2>&1 ||
            apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends ssl-cert >&2
        make-ssl-cert generate-default-snakeoil
        adduser --quiet postgres ssl-cert || true
    fi
    cat >>"$conf" <<'TLS'
ssl = on
ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'
ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key'
TLS
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload

for _ in $(seq 1 30); do
    if ready; then
        exit 0
    fi
    sleep 1
done
echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
exit 1
