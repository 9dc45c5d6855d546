#!/bin/sh
# capture-pgoutput: regenerate the real pgoutput (protocol v1) bytes the
# decoder's unit tests replay without a server.
#   capture-pgoutput.sh [OUT]          stream.hex (test_pgo, test_sink)
#   capture-pgoutput.sh --kinds [OUT]  kinds.hex: every message kind and
#                                      replica identity (test_pgo_kinds)
#   capture-pgoutput.sh --streamed [OUT]  streamed.hex: protocol v2 with
#                                      streaming, 64kB work mem (test_pgo_stream)
# Starts a throwaway PostgreSQL 15 (own temp dir, Unix socket only, random
# port) as the `postgres` OS user, runs a fixed workload, peeks the slot and
# writes one message per line: "lsn<TAB>hex".  The cluster is always removed.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORKLOAD=stream
PUBS=p
PEEK_SET="SET client_min_messages = warning"
if [ "${1:-}" = "--kinds" ]; then
	WORKLOAD=kinds
	PUBS=p,p_ins
	# Values are rendered by the peeking session: pin what the worker's
	# replication connection pins, so the fixture does not follow the host.
	PEEK_SET="SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3"
	shift
elif [ "${1:-}" = "--streamed" ]; then
	WORKLOAD=streamed
	PEEK_SET="SET logical_decoding_work_mem = '64kB'"
	shift
fi
PROTO="'proto_version', '1'"
[ "$WORKLOAD" = streamed ] && PROTO="'proto_version', '2', 'streaming', 'on'"
OUT=${1:-$ROOT/tests/fixtures/pgoutput/$WORKLOAD.hex}

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

stream_workload() {
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
}

# Every message kind, every replica identity, user types, unchanged TOAST,
# truncate flags, origins, both kinds of logical message and a relation
# whose schema changes mid-stream.  Tables are listed in the publications
# (not FOR ALL TABLES) so the REPLICA IDENTITY NOTHING table can sit in an
# insert-only one: an UPDATE on it is then allowed and simply not published.
kinds_workload() {
psql <<'SQL'
CREATE SCHEMA k;
CREATE TYPE k.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE k.pair AS (x int, label text);
CREATE DOMAIN k.posint AS int CHECK (VALUE > 0);
CREATE TABLE k.ident_default (note text, id int PRIMARY KEY, big text, n int);
CREATE TABLE k.ident_full (id int, note text, big text);
ALTER TABLE k.ident_full REPLICA IDENTITY FULL;
CREATE TABLE k.ident_index (a int NOT NULL, b int NOT NULL, c text);
CREATE UNIQUE INDEX ident_index_ab ON k.ident_index (a, b);
ALTER TABLE k.ident_index REPLICA IDENTITY USING INDEX ident_index_ab;
CREATE TABLE k.ident_nothing (id int, note text);
ALTER TABLE k.ident_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE k.typed (id int PRIMARY KEY, m k.mood, p k.pair, d k.posint);
CREATE TABLE k.vals (id int PRIMARY KEY, flag bool, i8 bigint, f8 float8,
    num numeric, js jsonb, raw bytea, ts timestamptz, ints int[], strs text[]);
CREATE TABLE k.tr_parent (id serial PRIMARY KEY);
CREATE TABLE k.tr_child (id serial PRIMARY KEY, parent int REFERENCES k.tr_parent (id));
CREATE TABLE k.tr_other (id serial PRIMARY KEY);
CREATE TABLE k.evo (id int PRIMARY KEY, a text, b int);
INSERT INTO k.tr_parent DEFAULT VALUES;
INSERT INTO k.tr_child (parent) VALUES (1);
INSERT INTO k.tr_other DEFAULT VALUES;
SELECT pg_replication_origin_create('kinds_origin') \g /dev/null
CREATE PUBLICATION p FOR TABLE k.ident_default, k.ident_full, k.ident_index,
    k.typed, k.vals, k.tr_parent, k.tr_child, k.tr_other, k.evo;
CREATE PUBLICATION p_ins FOR TABLE k.ident_nothing WITH (publish = 'insert');
SELECT pg_create_logical_replication_slot('s', 'pgoutput') \g /dev/null
SQL

# 90 md5s: 2880 bytes that pglz cannot shrink, so they are stored out of
# line and an UPDATE that leaves them alone sends them as 'u'.
psql <<'SQL'
SET client_min_messages = warning;
\set big '(SELECT string_agg(md5(i::text), \'\') FROM generate_series(1, 90) i)'
INSERT INTO k.ident_default VALUES ('first', 1, :big, 10), (NULL, 2, NULL, NULL);
UPDATE k.ident_default SET n = 11 WHERE id = 1;
UPDATE k.ident_default SET id = 3 WHERE id = 1;
UPDATE k.ident_default SET note = NULL, n = NULL WHERE id = 2;
DELETE FROM k.ident_default WHERE id = 3;
INSERT INTO k.ident_full VALUES (1, 'one', :big), (2, NULL, NULL);
UPDATE k.ident_full SET note = 'uno' WHERE id = 1;
DELETE FROM k.ident_full WHERE id = 2;
INSERT INTO k.ident_index VALUES (1, 1, 'c1'), (1, 2, NULL);
UPDATE k.ident_index SET c = 'c1b' WHERE a = 1 AND b = 1;
UPDATE k.ident_index SET b = 3 WHERE a = 1 AND b = 1;
DELETE FROM k.ident_index WHERE a = 1 AND b = 2;
INSERT INTO k.ident_nothing VALUES (1, 'only inserts');
UPDATE k.ident_nothing SET note = 'not published';
DELETE FROM k.ident_nothing;
INSERT INTO k.typed VALUES (1, 'happy', ROW(7, 'seven'), 42), (2, NULL, NULL, NULL);
INSERT INTO k.vals VALUES (1, true, 9007199254740993, 'NaN', 12345.678901234567890,
    '{"a": [1, "two", null]}', '\x00ff10', '2024-02-29 12:34:56.789+00',
    '{1,2,3}', '{"a b","c\"d",NULL}');
TRUNCATE k.tr_parent, k.tr_other RESTART IDENTITY CASCADE;
TRUNCATE k.tr_other;
SELECT pg_logical_emit_message(false, 'kinds-nt', '\x00ff01'::bytea) \g /dev/null
BEGIN;
INSERT INTO k.ident_nothing VALUES (2, 'with messages');
SELECT pg_logical_emit_message(true, 'kinds-tx', 'in transaction') \g /dev/null
SELECT pg_logical_emit_message(false, 'kinds-nt2', 'not in transaction') \g /dev/null
COMMIT;
SELECT pg_replication_origin_session_setup('kinds_origin') \g /dev/null
BEGIN;
SELECT pg_replication_origin_xact_setup('0/1234567', '2024-01-01 00:00:00+00') \g /dev/null
INSERT INTO k.ident_nothing VALUES (3, 'from origin');
COMMIT;
SELECT pg_replication_origin_session_reset() \g /dev/null
INSERT INTO k.evo VALUES (1, 'x', 1);
ALTER TABLE k.evo ADD COLUMN c text DEFAULT 'dflt';
INSERT INTO k.evo VALUES (2, 'y', 2, 'z');
ALTER TABLE k.evo DROP COLUMN b;
INSERT INTO k.evo VALUES (3, 'w', 'v');
ALTER TABLE k.evo RENAME COLUMN a TO alpha;
ALTER TABLE k.evo RENAME TO evolved;
ALTER TABLE k.evolved ALTER COLUMN id TYPE bigint;
UPDATE k.evolved SET alpha = 'renamed' WHERE id = 1;
SQL
}

# Large transactions streamed before they commit: rolled back savepoints
# (xid != subxid aborts), a small transaction between segments of a big
# one, a full rollback, and a streamed commit.
streamed_workload() {
psql <<'SQL'
CREATE TABLE st (id int PRIMARY KEY, v text);
CREATE PUBLICATION p FOR TABLE st;
SELECT pg_create_logical_replication_slot('s', 'pgoutput') \g /dev/null
SQL
psql <<'SQL'
BEGIN;
INSERT INTO st SELECT i, md5(i::text) FROM generate_series(1, 600) i;
SAVEPOINT a;
INSERT INTO st SELECT i, md5(i::text) FROM generate_series(601, 1200) i;
ROLLBACK TO a;
INSERT INTO st SELECT i, md5(i::text) FROM generate_series(2001, 2300) i;
SAVEPOINT b;
UPDATE st SET v = 'b' WHERE id <= 450;
RELEASE b;
COMMIT;
INSERT INTO st VALUES (5000, 'small');
BEGIN;
INSERT INTO st SELECT i, md5(i::text) FROM generate_series(3001, 3500) i;
ROLLBACK;
INSERT INTO st VALUES (6000, 'flushes the abort');
SQL
}

${WORKLOAD}_workload

mkdir -p "$(dirname "$OUT")"
psql -At -F "$(printf '\t')" -o "$TMP/out.hex" -c "$PEEK_SET" -c \
    "SELECT lsn, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('s', NULL, NULL,
     $PROTO, 'publication_names', '$PUBS', 'messages', 'true')"
cp "$TMP/out.hex" "$OUT"
echo "wrote $(wc -l <"$OUT") messages to $OUT"
