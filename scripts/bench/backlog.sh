#!/usr/bin/env bash
# Quick backlog drain (the former make bench) on the exactly-once workload
# (one audit row per transaction, every 3rd also an update, every 7th a
# delete).  Two identical
# slots are created before the writes; then pg_recvlogical (the walsender's
# ceiling for one slot) and pgcdc (worker + jsonl sink, fsync'd, acked,
# confirmed) each drain the same backlog, in the same run.  Prints changes/s
# and the ratio.  Measured, never asserted.  BENCH_TXNS sets the size.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
. tests/lib.sh
. tests/pgcdc.sh
N=${BENCH_TXNS:-100000}
t_setup
t_sql "CREATE TABLE public.audit (seq int PRIMARY KEY, v text NOT NULL, touched int NOT NULL DEFAULT 0)"
t_sql "CREATE PUBLICATION bench_pub FOR TABLE public.audit"
t_sql "SELECT pg_create_logical_replication_slot('recv', 'pgoutput')" >/dev/null
t_pgcdc_config bench "public.audit"
t_pgcdc_start
t_wait_for 30 "t_slot_active bench"
t_pgcdc_stop
echo "writing $N transactions..."
t_sql "DO \$\$ BEGIN FOR i IN 1..$N LOOP
  INSERT INTO audit (seq, v) VALUES (i, 'row ' || i);
  IF i % 3 = 0 THEN UPDATE audit SET touched = touched + 1, v = v || '+' WHERE seq = i - 1; END IF;
  IF i % 7 = 0 THEN DELETE FROM audit WHERE seq = i - 5; END IF;
  COMMIT; END LOOP; END \$\$"
end_lsn=$(t_sql "SELECT pg_current_wal_insert_lsn()")
changes=$(python3 -c "n=$N; print(n + n // 3 + n // 7)")

t0=$EPOCHREALTIME
"$PGC_BIN/pg_recvlogical" -d postgres -S recv --start -o proto_version=1 \
    -o publication_names=bench_pub -f /dev/null --endpos="$end_lsn" --no-loop
t1=$EPOCHREALTIME
t_pgcdc_start
if [ -n "${BENCH_PERF:-}" ]; then	# BENCH_PERF=worker|sink: perf profile into build/
    t_wait_for 10 '[ -n "$(t_child_pid "$BENCH_PERF")" ]'
    perf record -q -F 2999 -g -o "$repo/build/perf-$BENCH_PERF.data" \
        -p "$(t_child_pid "$BENCH_PERF")" 2>/dev/null &
    t_track $!
fi
t_wait_for 600 '[ "$(scripts/events.py "$T_OUT" public.audit --lines)" -ge '"$changes"' ]'
t2=$EPOCHREALTIME
ticks=0
for p in $(pgrep -P "$T_PGCDC_PID"); do
    printf '%-14s peak rss %6s kB, cpu %s ticks\n' "$(cat /proc/"$p"/comm)" \
        "$(awk '/VmHWM/ {print $2}' /proc/"$p"/status)" "$(awk '{print $14 + $15}' /proc/"$p"/stat)"
    ticks=$((ticks + $(awk '{print $14 + $15}' /proc/"$p"/stat)))
done
t_pgcdc_stop
python3 - "$changes" "$t0" "$t1" "$t2" "$ticks" "$(getconf CLK_TCK)" <<'PY'
import sys
n, t0, t1, t2, ticks, hz = int(sys.argv[1]), *map(float, sys.argv[2:])
r, p = n / (t1 - t0), n / (t2 - t1)
print("backlog of %d changes" % n)
print("pg_recvlogical -> /dev/null : %8.0f changes/s (%.2f s)" % (r, t1 - t0))
print("pgcdc -> jsonl (fsync, acked): %8.0f changes/s (%.2f s, incl. start)  ratio %.2f" % (p, t2 - t1, p / r))
print("pgcdc worker + sink CPU: %.2f us per change" % (ticks / hz * 1e6 / n))
PY
t_pass
