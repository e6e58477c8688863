#!/usr/bin/env bash
# `udd import` of a synthetic mongoexport dump against a generic C pipeline doing the same
# work, measured in the same run on the same data.
#
# The dump is `scripts/make-dump.py DIR --messages N` (100 users, 50 rooms, N messages as
# relaxed Extended JSON lines). The baseline is the `sqlite3` shell (installed from the
# distribution when missing), with its defaults, in a fresh database that holds udd's own
# `messages` table and indexes (taken from a database `udd migrate` made): `.import` of the
# raw JSON lines into a scratch table, then one `INSERT … SELECT` with `->>` into
# `messages` of the same columns udd fills. udd runs in an empty folder with its defaults
# (SQLite, `./data/`). Each run is timed with /usr/bin/time (wall, user CPU, peak memory);
# the script prints every run, the medians and the ratios:
#   first import / baseline          (target: at most 1.0)
#   repeated import / first import   (the same dump again: a sync that changes nothing)
# With --postgres URL, udd imports into that PostgreSQL server instead (a fresh database
# per run, dropped afterwards) and the baseline is `psql`: `\copy` of the raw lines into a
# scratch table, then one `INSERT … SELECT` with `->>`.
#
# Usage: scripts/bench-import.sh [MESSAGES] [RUNS] [--postgres URL]   (defaults 1000000, 3)
#        BENCH_DIR=/path keeps the dump (and reuses it when it has MESSAGES lines);
#        UDD_BIN=/path/to/udd measures that binary instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=1000000
runs=3
postgres=""
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --postgres) postgres=$2; shift 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -ge 1 ] && messages=${positional[0]}
[ ${#positional[@]} -ge 2 ] && runs=${positional[1]}

need() { # command, Debian package
  command -v "$1" >/dev/null && return
  echo "installing $2" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
}
need sqlite3 sqlite3
[ -x /usr/bin/time ] || need /usr/bin/time time
[ -n "$postgres" ] && need psql postgresql-client

if [ -n "${UDD_BIN:-}" ]; then
  udd=$UDD_BIN # another build of udd, e.g. an older one to compare with
else
  cargo build --quiet --release --bin udd
  udd=${CARGO_TARGET_DIR:-$PWD/target}/release/udd
fi
if [ -n "${BENCH_DIR:-}" ]; then
  work=$BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
dump=$work/dump-$messages
if [ "$(wc -l <"$dump/rocketchat_message.json" 2>/dev/null || echo 0)" != "$messages" ]; then
  rm -rf "$dump"
  python3 scripts/make-dump.py "$dump" --messages "$messages" >/dev/null
fi
size=$(du -m "$dump/rocketchat_message.json" | cut -f1)
echo "dump: $messages messages, $size MiB of JSON lines; $(nproc) cores; $(date -u +%F)"

# The columns udd fills, from the same fields (docs/import.md), in SQL.
columns="id, room_id, ts, user_id, username, msg, message_type, thread_id, file_id, attachments, updated_at"
sqlite_select="SELECT doc->>'\$._id', doc->>'\$.rid', ts, doc->>'\$.u._id', doc->>'\$.u.username',
    coalesce(doc->>'\$.msg', ''), doc->>'\$.t', doc->>'\$.tmid', doc->>'\$.file._id',
    CASE WHEN json_array_length(doc, '\$.attachments') > 0 THEN doc->>'\$.attachments' END,
    coalesce(updated, ts)
  FROM (SELECT doc,
          unixepoch(doc->>'\$.ts.\$date') * 1000 + CAST(substr(doc->>'\$.ts.\$date', 21, 3) AS INTEGER) AS ts,
          unixepoch(doc->>'\$._updatedAt.\$date') * 1000
            + CAST(substr(doc->>'\$._updatedAt.\$date', 21, 3) AS INTEGER) AS updated
        FROM raw)"
pg_select="SELECT doc->>'_id', doc->>'rid', ts, doc#>>'{u,_id}', doc#>>'{u,username}',
    coalesce(doc->>'msg', ''), doc->>'t', doc->>'tmid', doc#>>'{file,_id}',
    CASE WHEN jsonb_typeof(doc->'attachments') = 'array' AND jsonb_array_length(doc->'attachments') > 0
      THEN doc->>'attachments' END,
    coalesce(updated, ts)
  FROM (SELECT doc,
          (extract(epoch FROM (doc#>>'{ts,\$date}')::timestamptz) * 1000)::bigint AS ts,
          (extract(epoch FROM (doc#>>'{_updatedAt,\$date}')::timestamptz) * 1000)::bigint AS updated
        FROM (SELECT line::jsonb AS doc FROM raw) lines) docs"

timed() { # output file, command... : appends "wall user peak_kib"
  local out=$1; shift
  /usr/bin/time -f "%e %U %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
    cat "$work/out" "$work/err" >&2
    exit 1
  }
  cat "$work/time" >>"$out"
}

# udd's own schema, for the baseline.
rm -rf "$work/schema" && mkdir "$work/schema"
if [ -z "$postgres" ]; then
  (cd "$work/schema" && "$udd" migrate >/dev/null)
  schema=$(sqlite3 "$work/schema/data/udd.sqlite3" '.schema messages')
fi

pg_database() { # name -> url
  echo "${postgres%/*}/$1"
}

baseline_sqlite() {
  local db=$work/baseline.sqlite3
  rm -f "$db" "$db-journal"
  sqlite3 "$db" "$schema"
  printf '%s\n' "CREATE TABLE raw(doc TEXT);" ".mode ascii" ".separator \"$(printf '\037')\" \"\\n\"" \
    ".import $dump/rocketchat_message.json raw" \
    "INSERT INTO messages ($columns) $sqlite_select;" >"$work/baseline.sql"
  timed "$work/baseline.times" sqlite3 "$db" ".read $work/baseline.sql"
  rm -f "$db"
}

baseline_postgres() {
  local name=bench_import_baseline
  psql -q "$postgres" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
  local url
  url=$(pg_database $name)
  (cd "$work/schema" && UDD__DATABASE__URL=$url "$udd" migrate >/dev/null)
  # One line per row: CSV with a quote and a delimiter that JSON text never holds, so
  # COPY hands each line back as it is (backslashes included).
  printf '%s\n' "CREATE UNLOGGED TABLE raw(line text);" \
    "\\copy raw FROM '$dump/rocketchat_message.json' WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')" \
    "INSERT INTO messages ($columns) $pg_select;" >"$work/baseline.sql"
  timed "$work/baseline.times" psql -q -v ON_ERROR_STOP=1 "$url" -f "$work/baseline.sql"
  psql -q "$postgres" -c "DROP DATABASE $name" >/dev/null
}

udd_import() { # times file, folder
  if [ -n "$postgres" ]; then
    (cd "$2" && UDD__DATABASE__URL=$(pg_database bench_import_udd) timed "$1" "$udd" import "$dump")
  else
    (cd "$2" && timed "$1" "$udd" import "$dump")
  fi
}

rm -f "$work"/*.times
for run in $(seq "$runs"); do
  if [ -n "$postgres" ]; then
    baseline_postgres
    psql -q "$postgres" -c "DROP DATABASE IF EXISTS bench_import_udd" -c "CREATE DATABASE bench_import_udd" >/dev/null
  else
    baseline_sqlite
  fi
  rm -rf "$work/udd" && mkdir "$work/udd"
  udd_import "$work/first.times" "$work/udd"
  udd_import "$work/again.times" "$work/udd"
  rm -rf "$work/udd"
  [ -n "$postgres" ] && psql -q "$postgres" -c "DROP DATABASE bench_import_udd" >/dev/null
  printf 'run %d: baseline %s s, udd import %s s, again %s s\n' "$run" \
    "$(tail -1 "$work/baseline.times" | cut -d' ' -f1)" \
    "$(tail -1 "$work/first.times" | cut -d' ' -f1)" \
    "$(tail -1 "$work/again.times" | cut -d' ' -f1)"
done

median() { # file, column (1 wall, 2 user, 3 peak KiB)
  cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
row() { # label, times file
  printf '| %-34s | %8.2f s | %8.2f s | %8.1f MiB |\n' "$1" "$(median "$2" 1)" "$(median "$2" 2)" \
    "$(echo "$(median "$2" 3) / 1024" | bc -l)"
}
echo
echo "medians of $runs runs:"
echo "| run                                | wall       | user CPU   | peak memory  |"
echo "| ---------------------------------- | ---------: | ---------: | -----------: |"
row "baseline ($( [ -n "$postgres" ] && echo psql || echo sqlite3))" "$work/baseline.times"
row "udd import" "$work/first.times"
row "udd import again" "$work/again.times"
base=$(median "$work/baseline.times" 1)
first=$(median "$work/first.times" 1)
again=$(median "$work/again.times" 1)
printf 'udd import / baseline: %.2fx\n' "$(echo "$first / $base" | bc -l)"
printf 'udd import again / udd import: %.2fx\n' "$(echo "$again / $first" | bc -l)"
