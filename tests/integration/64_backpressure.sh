#!/usr/bin/env bash
# Fan-out and backpressure: one slot feeds two jsonl sinks; one of them is
# frozen with SIGSTOP for three times wal_sender_timeout while 20,000 rows
# are written.  The worker stops reading once max_unacked_bytes (1 MiB) is
# unacked, keeps answering the walsender (same walsender pid throughout, no
# replication timeout in the server log), and the slot's confirmed LSN does
# not pass what the frozen sink holds.  After SIGCONT both sinks hold every
# row exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
N=20000
TIMEOUT_S=4
t_setup
t_sql "ALTER SYSTEM SET wal_sender_timeout = '${TIMEOUT_S}s'" >/dev/null
t_sql "SELECT pg_reload_conf()" >/dev/null
t_sql "CREATE TABLE public.bp (id int PRIMARY KEY, pad text)"
T_SINKS=2 T_CFG_EXTRA='snapshot = { mode = "never"; }; max_unacked_bytes = 1048576;' \
	t_pgcdc_config bp public.bp
t_pgcdc_start
t_wait_for 30 "t_slot_active bp"
walsender() { t_sql "SELECT pid FROM pg_stat_replication WHERE application_name = 'pgcdc-bp'"; }
t_wait_for 10 '[ -n "$(walsender)" ]'
ws=$(walsender)
frozen=$(t_child_pid sink out2)
[ -n "$frozen" ] || t_fail "no sink out2"
kill -STOP "$frozen"
start=$EPOCHREALTIME
held=$(t_sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'bp'")
t_sql "DO \$\$ BEGIN FOR i IN 1..$N LOOP
  INSERT INTO bp VALUES (i, repeat('x', 200)); IF i % 10 = 0 THEN COMMIT; END IF;
END LOOP; END \$\$"
end_lsn=$(t_sql "SELECT pg_current_wal_insert_lsn()")
# Frozen for 3 x wal_sender_timeout; every half second the walsender must be
# the same and the slot must not confirm past what the frozen sink held.
while python3 -c "import sys; sys.exit(not $EPOCHREALTIME - $start < 3 * $TIMEOUT_S)"; do
	[ "$(walsender)" = "$ws" ] || t_fail "the walsender changed while the sink was frozen: $(walsender)"
	[ "$(t_sql "SELECT confirmed_flush_lsn = '$held' FROM pg_replication_slots WHERE slot_name = 'bp'")" = t ] ||
		t_fail "the slot confirmed past what the frozen sink holds"
	sleep 0.5
done
out1=$(scripts/events.py "$T_OUT" public.bp --lines)
echo "frozen $(python3 -c "print(round($EPOCHREALTIME - $start, 1))") s; meanwhile sink out wrote $out1 of $N rows;" \
	"worker peak rss $(awk '/VmHWM/ {print $2}' /proc/"$(t_child_pid worker bp)"/status) kB"
[ "$out1" -lt "$N" ] || t_fail "the worker did not hold back (out has all $N rows while out2 is frozen)"
kill -CONT "$frozen"
t_wait_for 60 '[ "$(t_sql "SELECT confirmed_flush_lsn >= '"'$end_lsn'"' FROM pg_replication_slots WHERE slot_name = '"'bp'"'")" = t ]'
[ "$(walsender)" = "$ws" ] || t_fail "the walsender changed"
grep -q "replication timeout" "$T_PGDIR/pg.log" && t_fail "the server timed a walsender out"
for d in "$T_OUT" "$T_OUT"2; do
	scripts/events.py "$d" public.bp --json | python3 -c "
import json, sys
ids = [e['after']['id'] for e in json.load(sys.stdin)]
ok = sorted(ids) == list(range(1, $N + 1))
print('%s: %d events, %d distinct ids' % ('$d'.rsplit('/', 1)[1], len(ids), len(set(ids))))
sys.exit(not ok)" || t_fail "$d: rows lost or duplicated"
done
t_pgcdc_stop
t_pass
