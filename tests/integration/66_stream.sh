#!/usr/bin/env bash
# stream_in_progress: with logical_decoding_work_mem = 64kB PostgreSQL streams
# every large transaction before it commits (pgoutput v2); the worker spools
# it and forwards it at its commit.  PostgreSQL's own scenarios (015_stream,
# 016_stream_subxact, 018_stream_subxact_abort, 023_twophase_stream without
# two-phase): two interleaved large transactions with small ordinary ones
# committing between them, savepoints with ROLLBACK TO and RELEASE, a full
# rollback, and the worker SIGKILLed in the middle of a streamed transaction
# and right after one commits.  A jsonl sink and a postgres sink feed from
# the slot: events exactly once in commit order, the jsonl state and the
# target equal the source row by row; PostgreSQL did stream; no spool left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/../pgtarget.sh"
t_setup
t_target_start
t_sql "ALTER SYSTEM SET logical_decoding_work_mem = '64kB'" -c "SELECT pg_reload_conf()" >/dev/null
t_sql "CREATE TABLE test_tab (a int PRIMARY KEY, b text, d bigint DEFAULT 999)"
t_sql "CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL)"
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config st "public.test_tab, public.big"
sed -i "s|sinks = \[ \"out\" \]; }|sinks = [ \"out\", \"pg\" ]; stream_in_progress = true; }|;
	s|^sinks = ( \(.*\) );|sinks = ( \1, { name = \"pg\"; type = \"postgres\"; conninfo = \"$(t_target_conninfo)\"; } );|" "$T_CFG"
grep -q 'stream_in_progress = true' "$T_CFG" && grep -q 'type = "postgres"' "$T_CFG" || t_fail "config edit failed"
# A spool file left by an earlier run is removed when the worker starts.
spool=$T_DIR/state/spool/st
mkdir -m 0700 "$T_DIR/state" "$T_DIR/state/spool" "$spool"
echo stale > "$spool/4242"
t_pgcdc_start
t_wait_for 30 "t_slot_active st"
[ ! -e "$spool/4242" ] || t_fail "a stale spool file survived the worker's start"

# Sessions that stay open across steps: psql reading a fifo; each step ends
# with a marker file, so the next step starts only after it ran.
declare -A FD STEP
sess_open() {
	mkfifo "$T_DIR/s$1"
	psql -XAtq -v ON_ERROR_STOP=1 <"$T_DIR/s$1" >"$T_DIR/s$1.log" 2>&1 &
	t_track $!
	exec {fd}>"$T_DIR/s$1"
	FD[$1]=$fd STEP[$1]=0
}
sess() {	# sess N SQL: run SQL in session N and wait until it ran
	local n=$1 m
	STEP[$n]=$((STEP[$n] + 1))
	m=$T_DIR/s$n.done${STEP[$n]}
	printf '%s\n\\! touch %s\n' "$2" "$m" >&"${FD[$n]}"
	t_wait_for 60 "[ -e $m ]"
}
sess_open 1
sess_open 2

# 015_stream and 023: two interleaved large transactions, small ones between.
t_sql "INSERT INTO test_tab VALUES (1, 'foo'), (2, 'bar')"
sess 1 "BEGIN; INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(3, 5000) s(i);"
t_sql "INSERT INTO test_tab VALUES (100001, 'small one')"
sess 2 "BEGIN; INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(5001, 10000) s(i);"
sess 1 "UPDATE test_tab SET b = md5(b) WHERE mod(a, 2) = 0; DELETE FROM test_tab WHERE mod(a, 3) = 0 AND a <= 5000;"
t_sql "UPDATE test_tab SET b = 'small two' WHERE a = 100001"
sess 2 "UPDATE test_tab SET d = a WHERE a > 5000; DELETE FROM test_tab WHERE mod(a, 5) = 0 AND a > 5000;"
sess 2 "COMMIT;"
t_sql "INSERT INTO test_tab VALUES (100002, 'small three')"
sess 1 "COMMIT;"

# 016_stream_subxact: savepoints, all released.
sess 1 "BEGIN;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(10001, 12000) s(i);
UPDATE test_tab SET b = md5(b) WHERE mod(a, 2) = 0 AND a > 10000;
SAVEPOINT s1;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(12001, 14000) s(i);
DELETE FROM test_tab WHERE mod(a, 3) = 0 AND a > 10000;
SAVEPOINT s2;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(14001, 16000) s(i);
RELEASE SAVEPOINT s2;
UPDATE test_tab SET d = -a WHERE a > 12000;
COMMIT;"
# 018_stream_subxact_abort: ROLLBACK TO over nested savepoints, changes after.
sess 1 "BEGIN;
INSERT INTO test_tab VALUES (20001, md5('20001'));
SAVEPOINT s1;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(20002, 21000) s(i);
SAVEPOINT s2;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(21001, 22000) s(i);
SAVEPOINT s3;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(22001, 23000) s(i);
RELEASE SAVEPOINT s3;
SAVEPOINT s4;
UPDATE test_tab SET b = 'gone' WHERE a <= 5000;
ROLLBACK TO s1;
INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(21001, 22500) s(i);
SAVEPOINT s5;
DELETE FROM test_tab WHERE a > 21000 AND a <= 22500 AND mod(a, 7) = 0;
ROLLBACK TO s5;
SAVEPOINT s6;
UPDATE test_tab SET d = 6 WHERE a > 22000 AND a <= 22500;
RELEASE SAVEPOINT s6;
COMMIT;"
# Full rollbacks: plain, and with a released savepoint inside.
sess 1 "BEGIN; INSERT INTO test_tab SELECT i, md5(i::text) FROM generate_series(30001, 35000) s(i);
DELETE FROM test_tab WHERE a <= 100; ROLLBACK;"
sess 1 "BEGIN; INSERT INTO test_tab SELECT i, 'x' FROM generate_series(40001, 42000) s(i);
SAVEPOINT a; UPDATE test_tab SET b = 'y' WHERE a > 40000; RELEASE SAVEPOINT a; ROLLBACK;"

# The worker SIGKILLed while a streamed transaction is open (spooled), then
# right after a large one commits.
sess 2 "BEGIN; INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 8000) s(i);"
# (Spool files of other transactions may come and go meanwhile: retry
# until one stat sees every file.)
t_wait_for 30 "stat -c %a '$spool'/* >'$T_DIR/modes' 2>/dev/null && [ -s '$T_DIR/modes' ]"
! grep -qv '^600$' "$T_DIR/modes" || t_fail "spool file modes: $(tr '\n' ' ' <"$T_DIR/modes")"
pid=$(t_child_pid worker st)
kill -9 "$pid"
t_wait_for 60 "p=\$(t_child_pid worker st); [ -n \"\$p\" ] && [ \"\$p\" != $pid ] && t_slot_active st"
sess 2 "INSERT INTO big SELECT i, md5(i::text) FROM generate_series(8001, 12000) s(i); COMMIT;"
t_sql "INSERT INTO big SELECT i, md5(i::text) FROM generate_series(12001, 24000) s(i)"
pid=$(t_child_pid worker st)
kill -9 "$pid"
t_wait_for 60 "p=\$(t_child_pid worker st); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
t_sql "UPDATE big SET v = 'last' WHERE id = 1"

lsn=$(t_sql "SELECT pg_current_wal_insert_lsn()")
# The slot confirms what both sinks hold.
t_wait_for 120 "[ \"\$(t_sql \"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'st'\")\" = t ]"
streamed=$(t_sql "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 'st'")
echo "PostgreSQL streamed $streamed transaction(s)"
[ "$streamed" -ge 6 ] || t_fail "PostgreSQL streamed only $streamed transactions: the test tests nothing"
t_assert_same_table test_tab
t_assert_same_table big

for t in test_tab big; do
	key=a
	[ "$t" = big ] && key=id
	scripts/events.py "$T_OUT" "public.$t" --json > "$T_DIR/$t.events"
	python3 - "$T_DIR/$t.events" "$T_DIR/$t.state" "$key" <<'PY' || t_fail "$t: events not exactly once"
import json, sys
sys.path.insert(0, "scripts")
import events as E
evs = json.load(open(sys.argv[1]))
keys = [(e["source"]["commit_lsn"], e["source"]["ordinal"]) for e in evs]
bad = [i for i in range(1, len(keys)) if keys[i] <= keys[i - 1]]
if bad:
    print("%d events out of order or twice, first at %d: %s" % (len(bad), bad[0], keys[bad[0] - 1:bad[0] + 1]))
    sys.exit(1)
ins = sum(e["op"] == "c" for e in evs)
if sys.argv[3] == "id" and ins != 24000:
    print("big: %d inserts, want 24000" % ins)
    sys.exit(1)
with open(sys.argv[2], "w") as fh:
    for row in E.state(evs, sys.argv[3]):
        fh.write(json.dumps(row) + "\n")
print("%d events (%d inserts), strictly in commit order" % (len(evs), ins))
PY
	t_same_rows "$t" "$T_DIR/$t.state"
done
[ "$(t_sql "SELECT count(*) FROM test_tab WHERE a BETWEEN 30001 AND 42000 OR b = 'gone'")" = 0 ] ||
	t_fail "the source kept rolled back rows: the scenario is wrong"
t_pgcdc_stop
[ -z "$(ls "$spool")" ] || t_fail "spool files left: $(ls "$spool")"
t_pass
