#!/bin/sh
# capture-pgoutput: regenerate tests/fixtures/pgoutput/stream.hex, the real
# pgoutput (protocol v1) bytes the decoder's unit test replays without a server.
# Starts a throwaway PostgreSQL 15 (own temp dir, Unix socket only, random
# port) as the `postgres` OS user, runs a fixed workload, peeks the slot and
# writes one message per line: "lsn<TAB>hex".  The cluster is always removed.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/pgoutput/stream.hex}

if [ "$(id -u)" = 0 ]; then
	AS="runuser -u postgres --"
else
	AS=""	# already an unprivileged user that may own a cluster
fi

TMP=$(mktemp -d /tmp/pgcdc-capture.XXXXXX)
DATA=$TMP/data
cleanup() {
	if [ -f "$DATA/postmaster.pid" ]; then
		$AS "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
[ -n "$AS" ] && chown postgres: "$TMP"
chmod 0700 "$TMP"

# A port nobody listens on (the socket lives in our own dir, but a random
# port keeps two captures or a test cluster from ever sharing a name).
while :; do
	PORT=$(shuf -i 20000-60000 -n 1)
	ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q . || break
done

$AS "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$TMP/initdb.log" 2>&1 ||
	{ cat "$TMP/initdb.log" >&2; exit 1; }
cat >>"$DATA/postgresql.conf" <<EOF
wal_level = logical
listen_addresses = ''
unix_socket_directories = '$TMP'
port = $PORT
max_replication_slots = 4
max_wal_senders = 4
fsync = off
EOF
$AS "$PGBIN/pg_ctl" -D "$DATA" -l "$TMP/server.log" -w start >/dev/null ||
	{ cat "$TMP/server.log" >&2; exit 1; }

psql() {
	$AS "$PGBIN/psql" -h "$TMP" -p "$PORT" -U postgres -d postgres -X -q \
	    -v ON_ERROR_STOP=1 "$@"
}

# Schema, publication and slot first: pgoutput reads the publication through
# the historic snapshot, so both must predate the changes we want decoded.
psql <<'SQL'
CREATE SCHEMA inv;
CREATE TYPE inv.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE inv.items (id int PRIMARY KEY, name varchar(20), qty int, note text);
CREATE TABLE fullt (a int, b text);
ALTER TABLE fullt REPLICA IDENTITY FULL;
CREATE TABLE docs (id int PRIMARY KEY, rev int, body text);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE people (id int PRIMARY KEY, m inv.mood);
CREATE TABLE trunc_a (id serial PRIMARY KEY);
CREATE TABLE trunc_b (id serial PRIMARY KEY, a int REFERENCES trunc_a (id));
INSERT INTO trunc_a DEFAULT VALUES;
INSERT INTO trunc_b (a) VALUES (1);
SELECT pg_replication_origin_create('upstream') \g /dev/null
CREATE PUBLICATION p FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('s', 'pgoutput') \g /dev/null
SQL

# The workload.  Each statement is its own transaction unless grouped.
psql <<'SQL'
INSERT INTO inv.items VALUES (1, 'apple', 5, 'fresh'), (2, NULL, NULL, NULL);
UPDATE inv.items SET qty = 6 WHERE id = 1;
UPDATE inv.items SET id = 10 WHERE id = 1;
DELETE FROM inv.items WHERE id = 2;
INSERT INTO fullt VALUES (1, 'one'), (2, NULL);
UPDATE fullt SET b = 'uno' WHERE a = 1;
DELETE FROM fullt WHERE a = 2;
INSERT INTO docs VALUES (1, 1, repeat('0123456789abcdef', 8192));
UPDATE docs SET rev = 2 WHERE id = 1;
INSERT INTO people VALUES (1, 'happy'), (2, NULL);
TRUNCATE trunc_a, trunc_b RESTART IDENTITY CASCADE;
SELECT pg_logical_emit_message(true, 'pfx', 'hello') \g /dev/null
SELECT pg_replication_origin_session_setup('upstream') \g /dev/null
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', now()) \g /dev/null
INSERT INTO inv.items VALUES (3, 'from upstream', 1, NULL);
COMMIT;
SQL

mkdir -p "$(dirname "$OUT")"
psql -At -F "$(printf '\t')" -o "$TMP/stream.hex" -c \
    "SELECT lsn, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('s', NULL, NULL,
     'proto_version', '1', 'publication_names', 'p', 'messages', 'true')"
cp "$TMP/stream.hex" "$OUT"
echo "wrote $(wc -l <"$OUT") messages to $OUT"
