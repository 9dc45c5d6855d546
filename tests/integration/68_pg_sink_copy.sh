#!/usr/bin/env bash
# The postgres sink's snapshot rows by COPY and its batched deletes.  Keyed
# tables (text with tabs, newlines and backslashes, bytea, arrays, NULLs)
# go straight into the table (snapd) or, when the target holds rows ahead
# of a chunk (snapk: two stale rows), by a staging table merged by key; a
# table whose identity key is not the order chunks come in (snapr) turns
# to the staging table at the first row out of order; a keyless table
# (snapf) merges rows that are not there yet.  The sink is killed with
# SIGKILL inside a chunk's target transaction three times: during a COPY
# into a staging table, during a merge (a statement trigger makes it
# sleep), during a COPY straight into a table (the worker, at most 2 MiB
# ahead of the sink, is slowed by SIGSTOP/SIGCONT so a COPY stays open long
# enough to be seen).  An audit trigger on the target must show each row
# inserted exactly once (a chunk committed twice would update its rows
# again), the stale rows updated once, and every table must equal the
# source row for row (the keyless one with no duplicates).  Then
# transactions interleave inserts, deletes and re-inserts of the same keys
# (single and two-column keys, runs of deletes longer than a batch): the
# target must end equal to the source.  Last, a sink role without TEMP on
# its database snapshots by upserts, with a warning.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/../pgtarget.sh"
ROWS=30000
CHUNK=2500
t_setup
t_target_start

DDL="CREATE TABLE public.snapk (id int PRIMARY KEY, v text, b bytea, a text[], n numeric);
CREATE TABLE public.snapd (LIKE public.snapk INCLUDING ALL);
CREATE TABLE public.snapr (id int PRIMARY KEY, u int NOT NULL UNIQUE, v text);
ALTER TABLE public.snapr REPLICA IDENTITY USING INDEX snapr_u_key;
CREATE TABLE public.snapf (x int, y text);
CREATE TABLE public.mk (a int, b text, v text, PRIMARY KEY (a, b))"
t_sql "$DDL; ALTER TABLE public.snapf REPLICA IDENTITY FULL"
t_sql "INSERT INTO snapk SELECT g, 'row ' || g || E'\t\\\\ \n\r' || repeat('x', 900),
  decode(md5(g::text), 'hex'), ARRAY[E'a\tb', NULL, 'c\"d', E'\\\\N'],
  CASE WHEN g % 10 = 0 THEN NULL ELSE g * 1.5 END FROM generate_series(1, $ROWS) g"
t_sql "INSERT INTO snapd SELECT * FROM snapk; INSERT INTO snapr SELECT g, -g, 'r' || g FROM generate_series(1, 6000) g"
t_sql "INSERT INTO snapf SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE E'f\t' || g END
  FROM generate_series(1, 12000) g"
t_sql "INSERT INTO mk SELECT g % 50, 'k' || g, 'v' || g FROM generate_series(1, 400) g"
# The target: the keyed table with two stale rows, an audit of the row
# changes the sink makes there, and a statement trigger that slows merges.
t_tsql "$DDL; INSERT INTO snapk (id, v) VALUES (5, 'stale'), (29999, 'stale');
CREATE TABLE applied (n bigserial PRIMARY KEY, op text, id int);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
  INSERT INTO applied (op, id) VALUES (TG_TABLE_NAME || ' ' || lower(left(TG_OP, 1)), NEW.id);
  RETURN NULL; END \$\$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON public.snapk FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON public.snapd FOR EACH ROW EXECUTE FUNCTION audit();
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON public.snapr FOR EACH ROW EXECUTE FUNCTION audit();
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
  PERFORM pg_sleep(0.8); RETURN NULL; END \$\$;
CREATE TRIGGER slow BEFORE INSERT ON public.snapk FOR EACH STATEMENT EXECUTE FUNCTION slow()"

T_CFG_EXTRA="snapshot = { mode = \"initial\"; chunk_rows = $CHUNK; }; max_unacked_bytes = 2097152;" \
	t_pg_sink_config snapc "public.snapk public.snapd public.snapr public.snapf public.mk"
t_pgcdc_start

# The sink's statement on the target right now ("" none).
sink_query() {
	t_tsql "SELECT left(query, 30) FROM pg_stat_activity WHERE application_name = 'pgcdc sink pg snapc'
	  AND state = 'active'" 2>/dev/null || true
}
# Slow the worker down (stopped 4/5 of the time) so a chunk's COPY stays open.
throttle() {
	while :; do
		w=$(t_child_pid worker snapc)
		[ -z "$w" ] || { kill -STOP "$w"; sleep 0.04; kill -CONT "$w"; }
		sleep 0.01
	done
}
throttle 2>/dev/null &
throttler=$!
t_track "$throttler"
for what in "COPY pg_temp" "INSERT INTO \"public\".\"snapk\"" "COPY \"public\".\"snapd\""; do
	t_wait_for 60 '[[ "$(sink_query)" == "$what"* ]]'
	pid=$(t_child_pid sink pg)
	kill -9 "$pid"
	echo "sink killed during: $what"
	t_wait_for 60 "p=\$(t_child_pid sink pg); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
done
kill "$throttler" 2>/dev/null || true
wait "$throttler" 2>/dev/null || true
w=$(t_child_pid worker snapc)
[ -z "$w" ] || kill -CONT "$w"
t_wait_for 120 'grep -q "snapshot of public.mk done" "$T_DIR/pgcdc.log" && t_same_table public.mk'
for t in snapk snapd snapr snapf mk; do t_assert_same_table "public.$t"; done
t_assert_eq "0" "$(t_tsql "SELECT count(*) FROM (SELECT x, y FROM snapf GROUP BY x, y HAVING count(*) > 1) d")" \
	"rows of the keyless table on the target twice"
t_assert_eq "snapd i $ROWS $ROWS|snapk i $((ROWS - 2)) $((ROWS - 2))|snapk u 2 2|snapr i 6000 6000" \
	"$(t_tsql "SELECT string_agg(op || ' ' || c || ' ' || ids, '|' ORDER BY op)
	  FROM (SELECT op, count(*) c, count(DISTINCT id) ids FROM applied GROUP BY op) s")" \
	"row changes of the snapshot on the target (table op, count, distinct ids)"
t_assert_eq "5,29999" "$(t_tsql "SELECT string_agg(id::text, ',' ORDER BY id) FROM applied
  WHERE op = 'snapk u'")" "rows the snapshot replaced"
n=$(t_tsql "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgcdc_stage_%' AND relpersistence = 't'")
[ "$n" -ge 2 ] || t_fail "the sink's staging tables: $n (snapshot rows did not go by COPY)"
echo "snapshot: 2 x $ROWS + 6000 + 12000 rows once each across 3 kills; $n staging tables"

# Inserts, deletes and re-inserts of the same keys in one transaction, runs
# of deletes of 150 rows (batches of 64, 64, 16, 4, 2), keys of two columns.
t_tsql "DROP TRIGGER slow ON public.snapk"
t_sql "BEGIN;
INSERT INTO snapk (id, v) SELECT g, 'new' FROM generate_series(40001, 40200) g;
DELETE FROM snapk WHERE id > 40000 AND id <= 40150;
INSERT INTO snapk (id, v) SELECT g, 're' FROM generate_series(40001, 40020) g;
DELETE FROM snapk WHERE id <= 150;
INSERT INTO snapk (id, v) VALUES (1, 'back'), (149, 'back');
DELETE FROM snapk WHERE id = 40199;
COMMIT"
t_sql "BEGIN;
DELETE FROM mk WHERE a < 20;
INSERT INTO mk VALUES (3, 'k3', 'again'), (3, 'new', 'n');
DELETE FROM mk WHERE a = 3 AND b = 'new';
UPDATE mk SET v = 'u' WHERE a = 30;
DELETE FROM mk WHERE a = 31;
COMMIT"
t_sql "BEGIN; DELETE FROM snapk WHERE id BETWEEN 200 AND 299; INSERT INTO snapk (id, v) VALUES (250, 'last'); COMMIT"
t_wait_for 60 '[ "$(t_tsql "SELECT v FROM snapk WHERE id = 250")" = last ]'
t_assert_same_table public.snapk
t_assert_same_table public.mk
t_assert_eq "back|back|re" "$(t_tsql "SELECT string_agg(v, '|' ORDER BY id) FROM snapk
  WHERE id IN (1, 149, 40001) OR id BETWEEN 40021 AND 40150")" "re-inserted rows"
t_pgcdc_stop

# A sink role without TEMP on its database has no staging table: a warning
# names the grant, and snapshot rows go as upserts, also where the target
# holds rows ahead of a chunk (snapk's stale rows) and for the keyless table.
t_tsql "CREATE DATABASE notemp"
t_tsql "CREATE ROLE sinker LOGIN; REVOKE TEMP ON DATABASE notemp FROM PUBLIC;
GRANT CREATE ON DATABASE notemp TO sinker"
T_TG_DB=notemp T_TG_USER=sinker
t_tsql "$DDL; INSERT INTO snapk (id, v) VALUES (1, 'stale'), (29999, 'stale');
GRANT ALL ON ALL TABLES IN SCHEMA public TO sinker"
rm -rf "$T_DIR/state"
T_LOG_FILE=$T_DIR/notemp.log T_CFG_EXTRA="snapshot = { mode = \"initial\"; chunk_rows = $CHUNK; };" \
	t_pg_sink_config notemp "public.snapk public.snapf"
t_pgcdc_start
t_wait_for 120 'grep -q "snapshot of public.snapf done" "$T_DIR/notemp.log" &&
	t_same_table public.snapk && t_same_table public.snapf'
grep "no TEMP privilege on the target database" "$T_DIR/notemp.log" | grep -q "GRANT TEMP ON DATABASE" ||
	t_fail "no warning naming the missing TEMP privilege"
t_assert_eq "0" "$(t_tsql "SELECT count(*) FROM (SELECT x, y FROM snapf GROUP BY x, y HAVING count(*) > 1) d")" \
	"rows of the keyless table on the target twice (no TEMP)"
echo "no TEMP: $(t_tsql "SELECT count(*) FROM snapk") + 12000 rows by upserts"
t_pgcdc_stop
t_pass
