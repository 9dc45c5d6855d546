#!/usr/bin/env bash
# Big transaction: one transaction of BENCH_BIG (default 10,000,000) inserts
# drained by pgcdc (worker + jsonl sink).  Samples the RSS of both every
# 0.5 s while the transaction streams and prints peak and last values: the
# worker forwards pgoutput as it arrives and the sink writes as it goes, so
# neither should grow with the transaction.  Measured, never asserted.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
. tests/lib.sh
. tests/pgcdc.sh
N=${BENCH_BIG:-10000000}
t_setup
t_sql "CREATE TABLE public.big (id bigint PRIMARY KEY, n int, v text)"
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config big "public.big"
t_pgcdc_start
t_wait_for 30 "t_slot_active big"
t_pgcdc_stop
echo "writing one transaction of $N inserts..."
t0=$EPOCHREALTIME
t_sql "INSERT INTO big SELECT i, i % 1000, 'row ' || i FROM generate_series(1, $N) i"
end_lsn=$(t_sql "SELECT pg_current_wal_insert_lsn()")
t1=$EPOCHREALTIME
t_pgcdc_start
t_wait_for 30 '[ -n "$(t_child_pid worker big)" ] && [ -n "$(t_child_pid sink out)" ]'
w=$(t_child_pid worker big) s=$(t_child_pid sink out)
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
samples=$T_DIR/rss.txt
# Until the slot confirms the transaction (every sink holds it durably);
# progress is the output's size so far.
until [ "$(t_sql "SELECT confirmed_flush_lsn >= '$end_lsn' FROM pg_replication_slots
    WHERE slot_name = 'big'")" = t ]; do
	echo "$(du -sb "$T_OUT" | cut -f1) $(rss "$w") $(rss "$s")" >>"$samples"
	sleep 0.5
done
t2=$EPOCHREALTIME
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
[ "$(scripts/events.py "$T_OUT" public.big --lines)" = "$N" ] || t_fail "not $N events"
echo "worker peak rss $(hwm "$w") kB, sink peak rss $(hwm "$s") kB"
t_pgcdc_stop
python3 - "$samples" "$N" "$t0" "$t1" "$t2" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
n, t0, t1, t2 = int(sys.argv[2]), *map(float, sys.argv[3:])
total = max([r[0] for r in rows] + [1])
print("insert of %d rows in one transaction: %.1f s; pgcdc delivered it in %.1f s (%.0f changes/s)"
      % (n, t1 - t0, t2 - t1, n / (t2 - t1)))
for at in (0.1, 0.5, 0.9):
    sel = [r for r in rows if r[0] >= at * total]
    if sel:
        print("at %3d%% of the output written: worker rss %d kB, sink rss %d kB" % (at * 100, sel[0][1], sel[0][2]))
if rows:
    print("max sampled rss: worker %d kB, sink %d kB (%d samples)"
          % (max(r[1] for r in rows), max(r[2] for r in rows), len(rows)))
PY
t_pass
