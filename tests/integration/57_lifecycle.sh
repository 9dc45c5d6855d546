#!/usr/bin/env bash
# Lifecycle under load.  Slots ok {a} and bad {b}; a writer commits into a
# the whole time.  Table b is dropped and bad's worker killed: its restart
# cannot set the slot up (the table is gone), so the slot ends FAILED with
# the cause in `pgcdc status`, while ok's worker keeps its pid and keeps
# streaming.  Then SIGTERM to the supervisor under load: exit 0 within the
# shutdown timeout; a new `pgcdc run` continues, and every row of a arrives
# exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_sql "CREATE TABLE public.a (i int PRIMARY KEY); CREATE TABLE public.b (i int PRIMARY KEY)"
t_sql "CREATE TABLE public.ctl (stop boolean NOT NULL); INSERT INTO ctl VALUES (false)"
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0;
BEGIN
  LOOP
    i := i + 1;
    INSERT INTO a VALUES (i);
    COMMIT;
    PERFORM pg_sleep(0.002);
    EXIT WHEN (SELECT stop FROM ctl);
  END LOOP;
END \$\$"
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config ok public.a
sed -i 's/^slots = ( \(.*\) );$/slots = ( \1, { name = "bad"; tables = [ "public.b" ]; sinks = [ "out" ]; } );/' "$T_CFG"
grep -q 'name = "bad"' "$T_CFG" || t_fail "config edit failed"
t_pgcdc_start
t_wait_for 30 "t_slot_active ok && t_slot_active bad"
psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" >"$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"
t_wait_for 30 '[ "$(t_sql "SELECT count(*) FROM a")" -gt 100 ]'
ok=$(t_child_pid worker ok)

# The crash loop: b is gone, bad's worker dies and cannot come back.
t_sql "DROP TABLE b"
kill -9 "$(t_child_pid worker bad)"
slot_state() { "$(t_bin)/pgcdc" status -c "$T_CFG" | awk -v s="$1" '$1 == "slot" && $2 == s { print $3 }'; }
t_wait_for 60 '[ "$(slot_state bad)" = FAILED ]'
"$(t_bin)/pgcdc" status -c "$T_CFG" | tee "$T_DIR/status.txt" | grep -A4 "^slot bad" || true
grep -A3 "^slot bad" "$T_DIR/status.txt" | grep -q "last error (.*): .*public.b" ||
	t_fail "status does not show why slot bad failed"
[ "$(t_child_pid worker ok)" = "$ok" ] || t_fail "slot ok's worker was disturbed"
t_wait_for 30 '[ "$(slot_state ok)" = RUNNING ]'	# STARTING its first seconds
before=$(scripts/events.py "$T_OUT" public.a --lines)
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" public.a --lines)" -gt '"$((before + 50))"' ]'

# TERM under load.
start=$EPOCHREALTIME
kill -TERM "$T_PGCDC_PID"
rc=0
wait "$T_PGCDC_PID" || rc=$?
t_assert_eq 0 "$rc" "exit code of pgcdc run after SIGTERM under load"
secs=$(python3 -c "print(round($EPOCHREALTIME - $start, 2))")
echo "graceful stop under load took $secs s"
python3 -c "import sys; sys.exit(not $secs < 10)" || t_fail "the stop took $secs s (shutdown_timeout 10 s)"
t_no_sanitizer_report
t_pgcdc_start
t_wait_for 30 "t_slot_active ok"
t_wait_for 30 '[ "$(t_sql "SELECT count(*) FROM a")" -gt '"$(t_sql "SELECT count(*) FROM a")"' ]'
t_sql "UPDATE ctl SET stop = true"
wait "$writer" || t_fail "writer: $(cat "$T_DIR/writer.log")"
n=$(t_sql "SELECT max(i) FROM a")
t_wait_for 60 'grep -qsF "\"i\":'"$n"'}" "$T_OUT"/public.a/*.jsonl'
scripts/events.py "$T_OUT" public.a --json | python3 -c '
import json, sys
ids = [e["after"]["i"] for e in json.load(sys.stdin)]
n = int(sys.argv[1])
print("%d events for %d rows" % (len(ids), n))
sys.exit(ids != list(range(1, n + 1)))' "$n" || t_fail "rows of a lost, duplicated or out of order"
"$(t_bin)/pgcdc" stop -c "$T_CFG" | tee "$T_DIR/stop.txt"
grep -q "^pgcdc: stopped (pid $T_PGCDC_PID): clean" "$T_DIR/stop.txt" || t_fail "pgcdc stop does not say how it ended"
wait "$T_PGCDC_PID" || t_fail "pgcdc run did not exit 0"
t_pass
