#!/usr/bin/env bash
# The postgres sink into a second throwaway cluster: the tutorial (snapshot,
# then its changes), a table of ~60 column types (edge values, NULLs, arrays,
# user types: an enum and hstore that the target has, a composite, range and
# citext that it lacks, which land as text; domains as their base type),
# updates that leave a 3 kB TOAST value unchanged, a keyless REPLICA
# IDENTITY FULL table (NULLs, json, unchanged TOAST, equal rows), TRUNCATE,
# and schema changes mid-stream (ADD, DROP, RENAME, ALTER TYPE of columns); a second
# slot into the same sink, with a source transaction that spans both.  Both
# databases have hostile settings (DateStyle SQL/DMY, sql_standard
# intervals, odd TimeZone, extra_float_digits 0, bytea escape).  The target
# tables must end equal to the source (rows compared as text), with the
# source's column names and a primary key from the replica identity, and
# pgcdc.positions must hold the slot's position and the snapshot chunks;
# after a restart nothing is applied twice (an audit trigger on the target);
# a target error is logged on one line and the restarted sink resumes; a
# crash of the target loses no acknowledged transaction.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/../pgtarget.sh"
t_setup
t_target_start

HOSTILE="ALTER DATABASE postgres SET datestyle = 'SQL, DMY'; ALTER DATABASE postgres SET intervalstyle = 'sql_standard';
ALTER DATABASE postgres SET timezone = 'America/St_Johns'; ALTER DATABASE postgres SET extra_float_digits = 0;
ALTER DATABASE postgres SET bytea_output = 'escape'"
BIG="(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g)"
t_sql_file tests/fixtures/tutorial.sql >/dev/null
t_sql "CREATE EXTENSION hstore; CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'wei\"rd, {one}');
CREATE TYPE pair AS (a int, b text, c float8[]);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN tags AS text[];
CREATE TYPE floatrange AS RANGE (subtype = float8)"
# The target knows mood and hstore, not pair, floatrange, citext.
t_tsql "CREATE EXTENSION hstore; CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'wei\"rd, {one}')"
t_sql "CREATE TABLE public.ty (id int PRIMARY KEY,
  b bool, i2 int2, i4 int4, i8 int8, o oid, n numeric, n2 numeric(10,3), f4 float4, f8 float8,
  d date, t time, tz timetz, ts timestamp(3), tstz timestamptz, iv interval, ba bytea,
  j json, jb jsonb, m money, c char(5), vc varchar(20), tx text, nm name, u uuid, ip inet,
  cd cidr, mac macaddr, mac8 macaddr8, bt bit(4), vb varbit(20), x xml, tsv tsvector, tsq tsquery,
  pt point, ln line, ls lseg, bx box, pa path, pg polygon, cr circle, lsn pg_lsn, r4 int4range,
  rts tsrange, rtz tstzrange, mr int4multirange, a_i4 int4[], a_tx text[], a_n numeric[],
  a_tstz timestamptz[], a_by bytea[], a_jb jsonb[], a_b bool[], a_bx box[], a_vc varchar(3)[],
  e mood, a_e mood[], comp pair, dom posint, dtags tags, ur floatrange, hs hstore, ci citext,
  a_ci citext[])"
ROW1="1, true, -32768, 2147483647, -9223372036854775808, 4294967295, 'NaN', 1234567.125,
  'NaN', '-0', '0044-03-15 BC', '24:00:00', '23:59:59-15:59', '294276-12-31 23:59:59.999',
  'infinity', '178000000 years', '\\x00ff5c27', '{\"a\": 1, \"a\": 2}', '{\"k\": [1, null]}',
  '-92233720368547758.08', 'ab', '''\"\\', E'new\\nline\\ttab \\U0001F600', 'with space',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03',
  '08:00:2b:01:02:03:04:05', '1010', '101', '<a x=\"1\">t &amp; m</a>', 'a b:1,2A', 'a & !b',
  '(NaN,Infinity)', '{1,-1,0}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]',
  '((0,0),(1,1),(1,0))', '<(0,0),1.5>', 'FFFFFFFF/FFFFFFFF', '[1,10)', '(,infinity]',
  '[2024-01-01 00:00:00+00,2024-01-02 00:00:00+05)', '{[1,3), [5,7)}', '{{1,NULL},{3,4}}',
  ARRAY['a', 'b c', 'NULL', '', '\"q\"', NULL], '{1.50,NaN,Infinity,NULL}',
  '{\"2024-02-29 12:34:56+00\",infinity}', ARRAY['\\x00'::bytea, NULL], ARRAY['{\"a\": [1]}'::jsonb],
  '{{t,f},{NULL,t}}', ARRAY['(1,1),(0,0)'::box, NULL], '{a,\"b c\"}', 'wei\"rd, {one}',
  '{sad,NULL}', ROW(1, 'a \"b\" c', ARRAY[1.5, NULL]), 1, '{x,y}', '[1.5,2.5)',
  '\"a\"=>\"1\", \"b\"=>NULL', 'MiXeD', '{A,b}'"
ROW2="2, false, 0, 0, 0, 0, '1e-20', -0.001, '3.4028235e38', '5e-324', '2024-02-29',
  '12:34:56.5', '12:00:00.123456+05:30', '2000-01-01 00:00:00', '0044-03-15 12:00:00+00 BC',
  '-1 days +01:00:00', '\\x', '[]', '\"s\"', '0', '', '', $BIG, 'pg_class',
  '00000000-0000-0000-0000-000000000000', '::1', '2001:db8::/32', '08:00:2b:01:02:03',
  '08:00:2b:01:02:03:04:05', '0000', '', 'plain', '', 'a:*', '(1,2)', '{1,-1,0}',
  '[(0,0),(1,1)]', '(3,3),(2,2)', '((0,0),(1,1))', '((0,0),(1,1),(1,0))', '<(1,1),2>', '0/0',
  'empty', '[\"2024-01-01 00:00:00\",\"2024-12-31 23:59:59.5\")', NULL, '{}', '{}', '{}', '{}', '{}',
  '{}', '{}', '{}', '{}', '{}', 'sad', '{}', ROW(NULL, NULL, NULL), 2147483647, '{}', 'empty', '',
  '', '{}'"
t_sql "INSERT INTO ty VALUES ($ROW1), ($ROW2); INSERT INTO ty (id) VALUES (3);
INSERT INTO ty (id, tx, n) SELECT g, $BIG || g, g FROM generate_series(4, 100) g"
# A keyless table: whole-row matching, NULLs, json (no = operator), TOAST.
t_sql "CREATE TABLE public.kl (a int, v text, j json, big text);
ALTER TABLE public.kl REPLICA IDENTITY FULL;
INSERT INTO kl VALUES (1, 'x', '{\"a\": 1}', $BIG), (2, NULL, NULL, NULL), (3, 'y', '[]', 'small')"
t_sql "CREATE TABLE public.sc (id int PRIMARY KEY, a int, b text, gone text);
INSERT INTO sc VALUES (1, 1, 'one', 'g1'), (2, 2, 'two', 'g2')"
t_sql "CREATE TABLE public.tr (id int PRIMARY KEY, v text); INSERT INTO tr VALUES (1, 'a'), (2, 'b')"
t_sql "CREATE TABLE public.tr2 (id int PRIMARY KEY, v text); INSERT INTO tr2 VALUES (1, 'a')"
t_sql "$HOSTILE"
t_tsql "$HOSTILE"

TABLES="inventory.customers public.shipments public.ty public.kl public.sc public.tr"
T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 30; };' \
	t_pg_sink_config pgt "$TABLES"
# A second slot into the same sink: its own target connection and positions.
sed -i 's|^slots = ( \(.*\) );$|slots = ( \1, { name = "pgt2"; tables = [ "public.tr2" ]; sinks = [ "pg" ]; } );|' "$T_CFG"
grep -q pgt2 "$T_CFG" || t_fail "config edit failed"
t_pgcdc_start
t_wait_for 60 't_same_table public.ty && t_same_table inventory.customers && t_same_table public.kl'
echo "snapshot applied"

t_sql_file tests/fixtures/tutorial-changes.sql >/dev/null
t_sql "UPDATE ty SET b = NOT coalesce(b, true), i2 = NULL WHERE id % 7 = 1"	# tx unchanged TOAST
t_sql "UPDATE ty SET (b, i4, f8, e, hs) = (SELECT b, i4, f8, e, hs FROM ty WHERE id = 2) WHERE id = 1"
t_sql "UPDATE ty SET id = id + 1000 WHERE id = 3"	# a new key: the old one goes
t_sql "DELETE FROM ty WHERE id % 10 = 5"
t_sql "INSERT INTO ty SELECT id + 2000, b, i2, i4, i8, o, n, n2, f4, f8, d, t, tz, ts, tstz, iv, ba,
  j, jb, m, c, vc, tx, nm, u, ip, cd, mac, mac8, bt, vb, x, tsv, tsq, pt, ln, ls, bx, pa, pg, cr, lsn,
  r4, rts, rtz, mr, a_i4, a_tx, a_n, a_tstz, a_by, a_jb, a_b, a_bx, a_vc, e, a_e, comp, dom, dtags,
  ur, hs, ci, a_ci FROM ty WHERE id <= 2"
t_sql "UPDATE kl SET v = 'x2' WHERE a = 1"	# big unchanged
t_sql "UPDATE kl SET a = 20 WHERE a = 2"	# NULLs in the old row
t_sql "DELETE FROM kl WHERE a = 3"
t_sql "INSERT INTO kl VALUES (4, NULL, '{\"b\": [1, 2]}', NULL)"
# Equal rows: a keyless table can hold them, so the target must too.
t_sql "INSERT INTO kl VALUES (5, 'twin', NULL, NULL), (5, 'twin', NULL, NULL)"
t_sql "INSERT INTO kl VALUES (5, 'twin', NULL, NULL)"
t_sql "DELETE FROM kl WHERE ctid = (SELECT min(ctid) FROM kl WHERE a = 5)"
t_sql "TRUNCATE tr; INSERT INTO tr VALUES (3, 'c')"
t_sql "BEGIN; INSERT INTO tr2 VALUES (2, 'b'); INSERT INTO tr VALUES (10, 'x'); UPDATE tr2 SET v = 'a2' WHERE id = 1; COMMIT"
# Schema changes, each followed by changes in the new shape.
t_sql "ALTER TABLE sc ADD COLUMN c text; INSERT INTO sc VALUES (3, 3, 'three', 'g3', 'c3')"
t_sql "UPDATE sc SET c = 'c1' WHERE id = 1"
t_sql "ALTER TABLE sc DROP COLUMN gone; UPDATE sc SET b = 'TWO' WHERE id = 2"
t_sql "ALTER TABLE sc RENAME COLUMN b TO bee; INSERT INTO sc VALUES (4, 4, 'four', 'c4')"
t_sql "ALTER TABLE sc ALTER COLUMN a TYPE bigint; INSERT INTO sc VALUES (5, 5000000000, 'five', NULL)"
t_sql "ALTER TABLE sc ADD COLUMN d numeric(8,2); UPDATE sc SET d = 1.5 WHERE id = 4"
t_sql "INSERT INTO tr VALUES (4, 'last')"	# the last change

t_wait_for 60 't_same_table public.tr && t_same_table public.sc && t_same_table public.ty && t_same_table public.tr2'
for t in $TABLES public.tr2; do t_assert_same_table "$t"; done
echo "all tables equal"

# The target tables' shape: the source's columns, a key from the identity.
shape="SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'public.sc'::regclass AND attnum > 0 AND NOT attisdropped"
t_assert_eq "$(t_sql "$shape")" "$(t_tsql "$shape")" "columns of public.sc"
pk="SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'inventory.customers'::regclass AND contype = 'p'"
t_assert_eq "PRIMARY KEY (id)" "$(t_tsql "$pk")" "primary key of the target's customers"
t_assert_eq "" "$(t_tsql "SELECT conname FROM pg_constraint WHERE conrelid = 'public.kl'::regclass")" \
	"constraints of a keyless table"
t_assert_eq "CREATE INDEX kl_a_idx ON public.kl USING btree (a)" \
	"$(t_tsql "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'public.kl'::regclass")" \
	"the index rows of a keyless table are found by"
types="SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'public.ty'::regclass AND attname IN ('e', 'a_e', 'hs', 'comp', 'dom', 'dtags', 'ur', 'ci', 'a_ci', 'ts', 'vc')"
t_assert_eq "ts timestamp(3) without time zone, vc character varying(20), e mood, a_e mood[], comp text, dom integer, dtags text[], ur text, hs hstore, ci text, a_ci text[]" \
	"$(t_tsql "$types")" "target types of user types"

# Positions: the slot's end_lsn, each table's last chunk.
pos=$(t_target_pos pgt)
[ -n "$pos" ] && [ "$pos" != 0/0 ] || t_fail "no position on the target"
[ -n "$(t_target_pos pgt2)" ] || t_fail "no position of the second slot on the target"
t_assert_eq "4" "$(t_tsql "SELECT chunk FROM pgcdc.positions WHERE slot = 'pgt' AND tbl = 'public.ty'")" \
	"last chunk of public.ty (100 rows by 30)"
t_pgcdc_stop
t_assert_eq "$pos" "$(t_target_pos pgt)" "position after a graceful stop"

# A restart replays nothing: an audit trigger on the target sees only new changes.
t_tsql "CREATE TABLE applied (n serial, op text, id int);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
  INSERT INTO applied (op, id) VALUES (TG_OP, coalesce(NEW.id, OLD.id)); RETURN NULL; END \$\$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON public.tr FOR EACH ROW EXECUTE FUNCTION audit()"
t_pgcdc_start
t_sql "INSERT INTO tr VALUES (5, 'after restart'); UPDATE tr SET v = 'again' WHERE id = 3"
t_wait_for 30 't_same_table public.tr'
t_assert_eq "INSERT 5,UPDATE 3" "$(t_tsql "SELECT string_agg(op || ' ' || id, ',' ORDER BY n) FROM applied")" \
	"changes applied on the target after the restart"

# A target error: one clear line, the sink exits and is restarted, and
# resumes once the cause is gone.
t_tsql "ALTER TABLE public.tr ADD CONSTRAINT no_bad CHECK (v <> 'bad')"
t_sql "INSERT INTO tr VALUES (6, 'bad')"
t_wait_for 30 'grep -q "slot pgt: upsert into \"public\".\"tr\" in transaction [0-9A-F/]* failed on the target: SQLSTATE 23514 .*no_bad" "$T_DIR/pgcdc.log"'
t_tsql "ALTER TABLE public.tr DROP CONSTRAINT no_bad"
t_wait_for 60 't_same_table public.tr'
t_assert_eq "INSERT 5,UPDATE 3,INSERT 6" "$(t_tsql "SELECT string_agg(op || ' ' || id, ',' ORDER BY n) FROM applied")" \
	"changes applied on the target after the error"

# The target crashes (immediate stop) under a stream of small transactions:
# what it had committed asynchronously but not flushed is lost, and must be
# exactly what was never acknowledged, so it comes again, once.
t_sql "CREATE PROCEDURE burst() LANGUAGE plpgsql AS \$\$ BEGIN
  FOR i IN 1000..2999 LOOP
    INSERT INTO tr VALUES (i, 'b');
    IF i % 2 = 0 THEN UPDATE tr SET v = 'b2' WHERE id = i - 1; END IF;
    COMMIT; PERFORM pg_sleep(0.001);
  END LOOP; END \$\$"
t_tsql "TRUNCATE applied"
psql -XAtq -v ON_ERROR_STOP=1 -c "CALL burst()" >"$T_DIR/burst.log" 2>&1 &
burst=$!
t_track "$burst"
t_wait_for 30 '[ "$(t_tsql "SELECT count(*) FROM applied")" -ge 300 ]'
# The sink is frozen meanwhile, so that its restart finds the target up.
sink=$(t_child_pid sink pg)
kill -STOP "$sink"
pgc_halt "$T_TG" immediate
pgc_start "$T_TG" >/dev/null || t_fail "cannot restart the target"
kill -CONT "$sink"
wait "$burst" || t_fail "burst failed: $(cat "$T_DIR/burst.log")"
t_wait_for 60 't_same_table public.tr'
python3 -c "print('\n'.join(x for i in range(1000, 3000) for x in ['INSERT %d' % i] +
    (['UPDATE %d' % (i - 1)] if i % 2 == 0 and i > 1000 else [])))" >"$T_DIR/want.txt"
t_tsql "SELECT op || ' ' || id FROM applied ORDER BY n" >"$T_DIR/got.txt"
cmp -s "$T_DIR/want.txt" "$T_DIR/got.txt" || t_fail "changes applied around a crash of the target
differ from the source's (< expected, > applied): $(diff "$T_DIR/want.txt" "$T_DIR/got.txt" | head -n 10)"
echo "target crash: $(grep -c . "$T_DIR/got.txt") row changes applied once, in order"
t_pgcdc_stop
t_pass
