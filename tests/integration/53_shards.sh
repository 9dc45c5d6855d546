#!/usr/bin/env bash
# Patterns and shards: slot "sh" with tables = ["sh.t_*"] and shards = 4
# runs workers sh_0 .. sh_3, each with its own replication slot and
# publication; the 40 matching tables are split among them (every table in
# exactly one publication), snapshotted and streamed.  A table created later
# that matches the pattern is picked up on reload by the shard it hashes to
# (only that worker restarts; the others keep their pids), and no existing
# table moves; one created later still is found by the periodic rescan
# (rescan_interval).  Every table's rows arrive exactly once.  Before that, pgcdc
# check reports a server short of replication slots and a foreign slot.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_sql "CREATE SCHEMA sh; CREATE TABLE sh.other (id int PRIMARY KEY)"
for i in $(seq -w 0 39); do
	echo "CREATE TABLE sh.t_$i (id int PRIMARY KEY, v text);
INSERT INTO sh.t_$i SELECT g, 'r' FROM generate_series(1, 10) g;"
done | t_sql_file /dev/stdin >/dev/null
# check first: 30 shards need more replication slots than the server has,
# and a slot of another plugin sits under one of their names.
t_sql "SELECT 1 FROM pg_create_logical_replication_slot('chk_0', 'test_decoding')" >/dev/null
t_config "$T_DIR/chk.cfg" chk "sh.t_*" "$T_DIR/chk-out" "$T_DIR/chk-state"
sed -i 's/sinks = \[ "out" \]; }/sinks = [ "out" ]; shards = 30; }/' "$T_DIR/chk.cfg"
rc=0
"$(t_bin)/pgcdc" check -c "$T_DIR/chk.cfg" >"$T_DIR/chk.txt" 2>&1 || rc=$?
cat "$T_DIR/chk.txt"
t_assert_eq 2 "$rc" "pgcdc check exit code"
grep -q "^problem: replication slot chk_0 uses plugin test_decoding; fix: " "$T_DIR/chk.txt" ||
	t_fail "check does not name the foreign slot"
grep -qE "^problem: max_replication_slots = [0-9]+, [0-9]+ in use, pgcdc needs 29 more; fix: raise" \
	"$T_DIR/chk.txt" || t_fail "check does not say the server lacks replication slots"
t_sql "SELECT pg_drop_replication_slot('chk_0')" >/dev/null
T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 100; }; rescan_interval = 2;' \
	t_pgcdc_config sh "sh.t_*"
sed -i 's/sinks = \[ "out" \]; }/sinks = [ "out" ]; shards = 4; }/' "$T_CFG"
grep -q "shards = 4" "$T_CFG" || t_fail "config edit failed"
t_pgcdc_start
for k in 0 1 2 3; do t_wait_for 30 "t_slot_active sh_$k"; done
assignment() {
	t_sql "SELECT pubname, schemaname || '.' || tablename FROM pg_publication_tables
	  WHERE pubname LIKE 'pgcdc\_sh\_%' ORDER BY 2" -F ' '
}
t_wait_for 30 '[ "$(assignment | wc -l)" = 40 ]'
assignment >"$T_DIR/before.txt"
echo "tables per shard: $(cut -d' ' -f1 "$T_DIR/before.txt" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
[ "$(cut -d' ' -f2 "$T_DIR/before.txt" | sort -u | wc -l)" = 40 ] || t_fail "a table is in two publications"
grep -q "sh.other" "$T_DIR/before.txt" && t_fail "sh.other does not match the pattern"
[ "$(cut -d' ' -f1 "$T_DIR/before.txt" | sort -u | wc -l)" -ge 2 ] || t_fail "all tables in one shard"
status_done() {
	local st
	st=$("$(t_bin)/pgcdc" status -c "$T_CFG")
	[ "$(grep -c ' done (' <<<"$st")" = "$1" ] && ! grep -qE 'pending|running \(chunks' <<<"$st"
}
t_wait_for 60 "status_done 40"
for i in $(seq -w 0 39); do echo "INSERT INTO sh.t_$i VALUES (100, 'c');"; done | t_sql_file /dev/stdin >/dev/null

declare -A pids
for k in 0 1 2 3; do pids[$k]=$(t_child_pid worker "sh_$k"); done
t_sql "CREATE TABLE sh.t_40 (id int PRIMARY KEY, v text); INSERT INTO sh.t_40 VALUES (1, 'r'), (2, 'r')"
"$(t_bin)/pgcdc" reload -c "$T_CFG" >/dev/null
t_wait_for 30 '[ "$(assignment | wc -l)" = 41 ]'
t_wait_for 60 "status_done 41"
owner=$(assignment | awk '$2 == "sh.t_40" { sub("pgcdc_", "", $1); print $1 }')
echo "sh.t_40 went to $owner"
for k in 0 1 2 3; do
	t_wait_for 30 "[ -n \"\$(t_child_pid worker sh_$k)\" ]"
	now=$(t_child_pid worker "sh_$k")
	if [ "sh_$k" = "$owner" ]; then
		[ "$now" != "${pids[$k]}" ] || t_fail "sh_$k did not restart for its new table"
	else
		[ "$now" = "${pids[$k]}" ] || t_fail "sh_$k restarted although its tables did not change"
	fi
done
assignment | grep -v "sh.t_4[01]" | diff "$T_DIR/before.txt" - || t_fail "a table moved to another shard"
# Without a reload: the periodic rescan (rescan_interval = 2 s) finds t_41.
t_sql "CREATE TABLE sh.t_41 (id int PRIMARY KEY, v text); INSERT INTO sh.t_41 VALUES (1, 'r')"
t_wait_for 30 '[ "$(assignment | wc -l)" = 42 ]'
t_wait_for 60 "status_done 42"
echo "sh.t_41 went to $(assignment | awk '$2 == "sh.t_41" { print $1 }') by the periodic rescan"
t_sql "INSERT INTO sh.t_41 VALUES (2, 'c')"
t_sql "INSERT INTO sh.t_40 VALUES (3, 'c'); INSERT INTO sh.t_00 VALUES (101, 'last')"
t_wait_for 30 'grep -qsF "\"v\":\"last\"" "$T_OUT"/sh.t_00/*.jsonl'
t_wait_for 30 'grep -qsF "\"id\":3," "$T_OUT"/sh.t_40/*.jsonl'
t_sql "CREATE FUNCTION all_rows() RETURNS SETOF text LANGUAGE plpgsql AS \$\$
DECLARE t text;
BEGIN
  FOR t IN SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'sh' AND c.relkind = 'r' AND c.relname LIKE 't\\_%' LOOP
    RETURN QUERY EXECUTE format('SELECT %L || '' '' || id FROM sh.%I', 'sh.' || t, t);
  END LOOP;
END \$\$"
t_sql "SELECT * FROM all_rows()" >"$T_DIR/source.txt"
scripts/events.py "$T_OUT" --json | python3 -c '
import json, sys
evs = json.load(sys.stdin)
rows = sorted("%s.%s %d" % (e["source"]["schema"], e["source"]["table"], e["after"]["id"]) for e in evs)
src = sorted(l for l in open(sys.argv[1]).read().split("\n") if l)
dup = len(rows) - len(set(rows))
print("%d events for %d source rows, %d duplicated" % (len(rows), len(src), dup))
sys.exit(rows != src)' "$T_DIR/source.txt" || t_fail "rows lost or duplicated"
t_pgcdc_stop
t_pass
