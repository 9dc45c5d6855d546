#!/usr/bin/env bash
# Exactly once across crashes: a writer commits numbered transactions (each
# inserts one audit row; every 3rd also updates the previous row, every 7th
# deletes the row five back) for as long as the worker and the sink are being
# killed with SIGKILL, 3 times each (EO_KILLS) at random moments (the fault
# campaign, tests/faults, kills far more).  The slot feeds two
# jsonl sinks, so a sink restart rewinds the stream for both and the sink
# that is ahead must skip the replay.  Afterwards each sink's events must be
# exactly the expected sequence (nothing lost, nothing twice, commit order)
# and its replayed state must equal the source table.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
KILLS=${EO_KILLS:-3}
t_setup
t_sql "CREATE TABLE public.audit (seq int PRIMARY KEY, v text NOT NULL, touched int NOT NULL DEFAULT 0)"
t_sql "CREATE TABLE public.ctl (stop boolean NOT NULL)"
t_sql "INSERT INTO ctl VALUES (false)"
# Runs until ctl.stop, about 300 transactions a second.
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0;
BEGIN
  LOOP
    i := i + 1;
    INSERT INTO audit (seq, v) VALUES (i, 'row ' || i);
    IF i % 3 = 0 THEN UPDATE audit SET touched = touched + 1, v = v || '+' WHERE seq = i - 1; END IF;
    IF i % 7 = 0 THEN DELETE FROM audit WHERE seq = i - 5; END IF;
    COMMIT;
    IF i % 3 = 0 THEN
      PERFORM pg_sleep(0.01);
      EXIT WHEN (SELECT stop FROM ctl);
    END IF;
  END LOOP;
END \$\$"
T_SINKS=2 T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config eo "public.audit"
t_pgcdc_start
t_wait_for 30 "t_slot_active eo"

psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" > "$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"
start=$(date +%s.%N)

# Kill the worker and each sink KILLS times, in random order, at random
# moments; each time wait for the replacement before the next kill.
plan=$(python3 -c "import random; k=['worker:eo']*$KILLS+['sink:out']*$KILLS+['sink:out2']*$KILLS; random.shuffle(k); print(' '.join(k))")
for victim in $plan; do
    kind=${victim%%:*} name=${victim#*:}
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.2, 1.5), 2))')"
    pid=$(t_child_pid "$kind" "$name")
    [ -n "$pid" ] || t_fail "no $victim process to kill"
    kill -9 "$pid"
    echo "killed $victim pid $pid"
    t_wait_for 90 "p=\$(t_child_pid $kind $name); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
done
t_sql "UPDATE ctl SET stop = true"
wait "$writer" || t_fail "writer failed: $(cat "$T_DIR/writer.log")"
N=$(t_sql "SELECT max(seq) FROM audit")
echo "writer committed $N transactions"

# Expected events, derived from the writer's logic.
expected=$(python3 -c "
n=$N; ev=[]
for i in range(1, n + 1):
    ev.append('c%d' % i)
    if i % 3 == 0: ev.append('u%d' % (i - 1))
    if i % 7 == 0: ev.append('d%d' % (i - 5))
print(len(ev))")
for out in "$T_OUT" "${T_OUT}2"; do
    t_wait_for 180 '[ "$(scripts/events.py "'"$out"'" public.audit --lines)" -ge '"$expected"' ]'
    scripts/events.py "$out" public.audit --json > "$T_DIR/events.json"
    t_sql "SELECT coalesce(json_agg(a ORDER BY seq), '[]') FROM audit a" > "$T_DIR/source.json"
    python3 - "$T_DIR/events.json" "$T_DIR/source.json" "$N" <<'PY' || t_fail "exactly-once violated in $out"
import json, sys
sys.path.insert(0, "scripts")
import events as E
evs = json.load(open(sys.argv[1]))
n = int(sys.argv[3])
want = []
for i in range(1, n + 1):
    want.append(("c", i))
    if i % 3 == 0: want.append(("u", i - 1))
    if i % 7 == 0: want.append(("d", i - 5))
got = [(e["op"], (e["after"] or e["before"])["seq"]) for e in evs]
if got != want:
    seen = {}
    for g in got: seen[g] = seen.get(g, 0) + 1
    dups = [g for g, k in seen.items() if k > 1]
    lost = sorted(set(want) - set(got))
    first = next(i for i, (a, b) in enumerate(zip(got + [None] * len(want), want)) if a != b)
    print("events: %d, expected %d; duplicated %d %s; lost %d %s; first difference at %d: got %s want %s"
          % (len(got), len(want), len(dups), dups[:5], len(lost), lost[:5], first,
             got[first:first + 3], want[first:first + 3]))
    sys.exit(1)
keys = [(e["source"]["commit_lsn"], e["source"]["ordinal"]) for e in evs]
assert keys == sorted(keys), "events not in commit order"
src = json.load(open(sys.argv[2]))
if E.state(evs, "seq") != src:
    print("replayed state differs from the source table")
    sys.exit(1)
print("ok: %d events exactly once, in commit order; state equals source (%d rows)" % (len(evs), len(src)))
PY
done
end=$(date +%s.%N)
echo "replay runs skipped: by the worker $(grep -c 'already holds transactions' "$T_DIR/pgcdc.log" || true)," \
    "by the sinks $(grep -c 'already applied' "$T_DIR/pgcdc.log" || true)"
python3 -c "print('throughput with kills: %d changes in %.1f s = %.0f changes/s' % ($expected, $end - $start, $expected / ($end - $start)))"
t_pgcdc_stop
t_pass
