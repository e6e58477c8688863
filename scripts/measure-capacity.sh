#!/usr/bin/env bash
# Measures what udd keeps on disk, per message and per upload, on a demo workspace, and
# what one user's exports weigh: the figures docs/deploy.md ("Capacity") quotes.
# Usage: scripts/measure-capacity.sh [MESSAGES]   (default 200000; 50 users, 40 rooms)
# Needs sqlite3 (Debian's sqlite3, built with the dbstat table).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-200000}
cargo build --release --locked --bin udd >/dev/null
udd=$PWD/target/release/udd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$udd" demo --users 50 --rooms 40 --messages "$messages" >/dev/null 2>&1
db=data/udd.sqlite3
q() { sqlite3 "$db" "$1"; }
q 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null

count=$(q 'SELECT count(*) FROM messages')
text=$(q "SELECT sum(length(CAST(msg AS BLOB))) FROM messages")
table=$(q "SELECT sum(pgsize) FROM dbstat WHERE name = 'messages'")
index=$(q "SELECT sum(pgsize) FROM dbstat WHERE name = 'messages_by_id'")
db_bytes=$(stat -c %s "$db")
uploads=$(q 'SELECT count(*) FROM uploads')
upload_bytes=$(q 'SELECT coalesce(sum(size), 0) FROM uploads')
upload_rows=$(q "SELECT sum(pgsize) FROM dbstat WHERE name IN ('uploads', 'uploads_by_user')")
blob_bytes=$(find data/blobs/uploads -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')

per() { echo "scale=1; $1 / $2" | bc; }
echo "workspace: udd demo --users 50 --rooms 40 --messages $messages"
printf 'messages:           %d, text %d bytes (%s per message)\n' "$count" "$text" "$(per "$text" "$count")"
printf 'messages table:     %d bytes + id index %d bytes = %s bytes per message\n' \
  "$table" "$index" "$(per "($table + $index)" "$count")"
printf 'whole database:     %d bytes (%s per message, everything included)\n' "$db_bytes" "$(per "$db_bytes" "$count")"
printf 'uploads:            %d, %d bytes of files (%s per upload), rows %s bytes per upload\n' \
  "$uploads" "$upload_bytes" "$(per "$upload_bytes" "$uploads")" "$(per "$upload_rows" "$uploads")"
printf 'blob files:         %d bytes for the uploads (stored as they are)\n' "$blob_bytes"

sqlite3 "$db" ".backup backup.sqlite3"
printf 'sqlite3 .backup:    %d bytes\n' "$(stat -c %s backup.sqlite3)"
gzip -6 -k backup.sqlite3
printf '  gzip -6:          %d bytes\n' "$(stat -c %s backup.sqlite3.gz)"

alice_messages=$(q "SELECT count(*) FROM messages m JOIN subscriptions s ON s.room_id = m.room_id
                    JOIN users u ON u.id = s.user_id WHERE u.username = 'alice'")
alice_uploads=$(q "SELECT count(*), coalesce(sum(up.size), 0) FROM uploads up JOIN subscriptions s
                   ON s.room_id = up.room_id JOIN users u ON u.id = s.user_id WHERE u.username = 'alice'")
echo "alice: $alice_messages messages in her rooms, uploads in them (count|bytes): $alice_uploads"
for kind in personal full; do
  flag=(); [ "$kind" = full ] && flag=(--full)
  zip=$("$udd" export --user alice "${flag[@]}" 2>/dev/null | tail -1)
  size=$(stat -c %s "$zip")
  unpacked=$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
  printf '%-9s export:   %d bytes (%s per message of her rooms, uploads included), %d unpacked\n' \
    "$kind" "$size" "$(per "$size" "$alice_messages")" "$unpacked"
done
