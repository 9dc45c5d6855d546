#!/usr/bin/env bash
# WAL safety of a slot whose tables are idle.
# 1. While pgcdc is stopped, other tables of the same database and a table
#    of another database take WAL_MB of writes: the slot retains all of it
#    (the control: nothing else moves restart_lsn).  Once pgcdc runs, with
#    the writers going on and the slot's own table untouched, keepalive
#    confirmation moves restart_lsn past everything written while it was
#    stopped; then, sampled for 32-120 s, restart_lsn keeps moving and the WAL
#    retained stays well below what is written meanwhile.
# 2. heartbeat_interval = 1 with every writer stopped: the slot's confirmed
#    position moves by heartbeats alone; no heartbeat reaches the sink.
# 3. A second pgcdc (own config and state_dir) on the same slot is refused
#    (the slot is active: FAILED, exit 2, a message naming the cause), the
#    first keeps its worker and walsender and delivers a new row once.
# 4. The slot invalidated behind pgcdc's back (max_slot_wal_keep_size): the
#    worker goes FAILED saying changes were lost and how to re-snapshot,
#    and no new slot is created.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
WAL_MB=${WAL_MB:-24}
t_setup
t_sql "CREATE TABLE public.quiet (id int PRIMARY KEY, v text)"
t_sql "CREATE TABLE public.busy (id bigserial PRIMARY KEY, v text)"
t_sql "CREATE DATABASE otherdb"
t_sql "CREATE TABLE busy2 (id bigserial PRIMARY KEY, v text)" -d otherdb
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config idle public.quiet
t_pgcdc_start
t_wait_for 30 "t_slot_active idle"
t_pgcdc_stop

lsn() { t_sql "SELECT pg_current_wal_lsn()"; }
retained() { t_sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint / 1048576
	FROM pg_replication_slots WHERE slot_name = 'idle'"; }
# ~1 MB of WAL per call: in this database and in otherdb.
write_mb() {
	t_sql "INSERT INTO busy (v) SELECT repeat('x', 400) FROM generate_series(1, 1000)" >/dev/null
	t_sql "INSERT INTO busy2 (v) SELECT repeat('y', 400) FROM generate_series(1, 1000)" -d otherdb >/dev/null
}

# ---- 1. control, then keepalive confirmation under busy neighbours
for _ in $(seq 1 "$WAL_MB"); do write_mb; done
t_sql "CHECKPOINT"
mark=$(lsn)
control=$(retained)
echo "pgcdc stopped: $control MB retained by the idle slot after $WAL_MB MB of other writes"
[ "$control" -ge "$WAL_MB" ] || t_fail "control: the slot retains only $control MB of $WAL_MB MB written"

t_bg bash -c "while [ ! -e '$T_DIR/stop' ]; do
	'$PGC_BIN/psql' -XAtq -c \"INSERT INTO busy (v) SELECT repeat('x', 400) FROM generate_series(1, 500)\" >/dev/null
	'$PGC_BIN/psql' -XAtq -d otherdb -c \"INSERT INTO busy2 (v) SELECT repeat('y', 400) FROM generate_series(1, 500)\" >/dev/null
	sleep 0.2
done"
writers=$T_BG_PID
t_pgcdc_start
t0=$SECONDS
# restart_lsn moves at the running-xacts records the server logs every 15 s
# while there is activity (and at checkpoints), once confirmed is past them.
t_wait_for 90 "[ \"\$(t_sql \"SELECT restart_lsn >= '$mark' FROM pg_replication_slots
	WHERE slot_name = 'idle'\")\" = t ]"
echo "restart_lsn past everything written while stopped after $((SECONDS - t0)) s"
# Bounded: restart_lsn keeps moving (at least twice) and the WAL it retains
# stays well below what is written meanwhile (unbounded, it would exceed it:
# restart_lsn was past everything older when sampling began).  It moves at
# the running-xacts records the server logs every 15 s, and here about every
# 20-30 s: sampled for at least 32 s and until it moved three times (so
# the window spans two whole intervals between moves), at most 120 s.
max=0
written0=$(lsn)
moves=0
prev=
s0=$SECONDS
while [ $((SECONDS - s0)) -lt 32 ] || { [ "$moves" -lt 3 ] && [ $((SECONDS - s0)) -lt 120 ]; }; do
	read -r r rl <<<"$(t_sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint / 1048576,
		restart_lsn FROM pg_replication_slots WHERE slot_name = 'idle'" -F ' ')"
	[ "$r" -le "$max" ] || max=$r
	[ -z "$prev" ] || [ "$rl" = "$prev" ] || moves=$((moves + 1))
	prev=$rl
	sleep 0.5
done
secs=$((SECONDS - s0))
written=$(t_sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$written0')::bigint / 1048576")
touch "$T_DIR/stop"
t_wait_for 30 "! _t_group_alive $writers"
echo "with pgcdc running: restart_lsn moved $moves times in $secs s; at most $max MB retained while" \
	"$written MB were written (control: $control MB while stopped)"
[ "$moves" -ge 2 ] || t_fail "restart_lsn moved $moves times in $secs s of busy neighbours"
[ "$((max * 10))" -lt "$((written * 8))" ] ||
	t_fail "retained WAL not bounded: $max MB retained, $written MB written meanwhile"
[ "$(scripts/events.py "$T_OUT" --lines)" = 0 ] || t_fail "events in the sink for an untouched table"

# ---- 2. heartbeats alone move the confirmed position
sed -i 's/sinks = \[ "out" \]; } );/sinks = [ "out" ]; heartbeat_interval = 1; } );/' "$T_CFG"
grep -q 'heartbeat_interval = 1' "$T_CFG" || t_fail "config edit failed"
worker=$(t_child_pid worker idle)
"$(t_bin)/pgcdc" reload -c "$T_CFG" >/dev/null
# The slot's settings changed: a new worker streams.
t_wait_for 30 "p=\$(t_child_pid worker idle); [ -n \"\$p\" ] && [ \"\$p\" != $worker ] && t_slot_active idle"
confirmed() { t_sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'idle'"; }
moved() { [ "$(t_sql "SELECT confirmed_flush_lsn > '$1' FROM pg_replication_slots WHERE slot_name = 'idle'")" = t ]; }
# An idle cluster writes next to no WAL of its own: two moves within 10 s
# each are the heartbeats' (one a second).
c0=$(confirmed)
t_wait_for 10 "moved $c0"
c1=$(confirmed)
t_wait_for 10 "moved $c1"
echo "heartbeats alone moved confirmed_flush_lsn $c0 -> $c1 -> $(confirmed)"
[ "$(scripts/events.py "$T_OUT" --lines)" = 0 ] || t_fail "a heartbeat reached the sink"

# ---- 3. a second pgcdc on the same slot
worker=$(t_child_pid worker idle)
wsnd=$(t_sql "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'idle'")
CFG2=$T_DIR/second.cfg
T_LOG_FILE=$T_DIR/second.log T_CFG_EXTRA='snapshot = { mode = "never"; };' \
	t_config "$CFG2" idle public.quiet "$T_DIR/out-second" "$T_DIR/state2"
t_bg "$(t_bin)/pgcdc" run -c "$CFG2" 2>>"$T_DIR/run2.log"
second=$T_BG_PID
second_state() { "$(t_bin)/pgcdc" status -c "$CFG2" | awk '$1 == "slot" && $2 == "idle" { print $3 }'; }
t_wait_for 60 '[ "$(second_state)" = FAILED ]'
grep -E "replication slot idle is active: another consumer .*walsender pid $wsnd.*fix:" "$T_DIR/second.log" ||
	t_fail "the second pgcdc does not say the slot is active: $(grep error "$T_DIR/second.log")"
"$(t_bin)/pgcdc" stop -c "$CFG2" >/dev/null
wait "$second" || t_fail "the second pgcdc did not stop cleanly"
[ "$(t_child_pid worker idle)" = "$worker" ] || t_fail "the first pgcdc's worker was disturbed"
[ "$(t_sql "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'idle'")" = "$wsnd" ] ||
	t_fail "the first pgcdc's walsender was replaced"
t_sql "INSERT INTO quiet VALUES (1, 'after the second pgcdc')"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" public.quiet --lines)" -ge 1 ]'
t_assert_eq "c:1" "$(scripts/events.py "$T_OUT" public.quiet --json |
	python3 -c 'import json,sys; print(" ".join("%s:%s" % (e["op"], e["after"]["id"]) for e in json.load(sys.stdin)))')" \
	"the first pgcdc's events"
[ "$(scripts/events.py "$T_DIR/out-second" --lines)" = 0 ] || t_fail "the second pgcdc delivered events"

# ---- 4. the slot invalidated behind pgcdc's back
t_sql "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" >/dev/null
t_sql "SELECT pg_reload_conf()" >/dev/null
worker=$(t_child_pid worker idle)
kill -STOP "$worker"	# confirms nothing now: the slot falls behind
# Lost once a checkpoint removes the WAL segment restart_lsn is in: write
# (2 MB a turn) and checkpoint until it is.
t_wait_for 120 "write_mb; t_sql CHECKPOINT; [ \"\$(t_sql \"SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'idle'\")\" = lost ]"
kill -CONT "$worker"
slot_state() { "$(t_bin)/pgcdc" status -c "$T_CFG" | awk '$1 == "slot" && $2 == "idle" { print $3 }'; }
t_wait_for 60 '[ "$(slot_state)" = FAILED ]'
grep -E "replication slot idle is invalidated .*changes were lost; fix: re-snapshot" "$T_DIR/pgcdc.log" ||
	t_fail "no message that the slot is invalidated with the fix: $(grep error "$T_DIR/pgcdc.log" | tail -3)"
t_assert_eq "1 lost" "$(t_sql "SELECT count(*), min(wal_status) FROM pg_replication_slots" -F ' ')" \
	"slots after the invalidation (no new one)"
t_pgcdc_stop
t_pass
