#!/usr/bin/env bash
# Exactly once into PostgreSQL across sink crashes: a writer commits small
# transactions (each inserts 3 rows, every 20th 100, which go as multi-row
# upserts; every 2nd also updates a row, every 5th changes a row's key,
# every 7th deletes a row) while the postgres sink is killed with SIGKILL 5
# times at random moments.  A trigger on the target logs every row change
# the sink makes there, in its transaction: the log must be exactly the
# writer's sequence (nothing lost, nothing applied twice, commit order), the
# target table must equal the source, and the slot's position in
# pgcdc.positions, sampled all along, must never go backwards.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/../pgtarget.sh"
KILLS=${PGK_KILLS:-5}
t_setup
t_target_start
t_sql "CREATE TABLE public.audit (seq int PRIMARY KEY, v text NOT NULL, touched int NOT NULL DEFAULT 0);
CREATE TABLE public.ctl (stop boolean NOT NULL); INSERT INTO ctl VALUES (false)"
# Runs until ctl.stop; s is the last seq inserted.
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0; s int := 0; k int;
BEGIN
  LOOP
    i := i + 1;
    k := CASE WHEN i % 20 = 0 THEN 100 ELSE 3 END;
    INSERT INTO audit (seq, v) SELECT g, 'row ' || g FROM generate_series(s + 1, s + k) g;
    s := s + k;
    IF i % 2 = 0 THEN UPDATE audit SET touched = touched + 1, v = v || '+' WHERE seq = s - 4; END IF;
    IF i % 5 = 0 THEN UPDATE audit SET seq = -seq WHERE seq = s - 7; END IF;
    IF i % 7 = 0 THEN DELETE FROM audit WHERE seq = s - 10; END IF;
    COMMIT;
    PERFORM pg_sleep(0.003);
    EXIT WHEN i % 5 = 0 AND (SELECT stop FROM ctl);
  END LOOP;
END \$\$"
# The target's table exists already (the sink uses it as it is), with a
# trigger that logs what is applied.
t_tsql "CREATE TABLE public.audit (seq int PRIMARY KEY, v text NOT NULL, touched int NOT NULL DEFAULT 0);
CREATE TABLE applied (n bigserial PRIMARY KEY, op text, seq int);
CREATE FUNCTION log_applied() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
  INSERT INTO applied (op, seq) VALUES (lower(left(TG_OP, 1)), coalesce(NEW.seq, OLD.seq)); RETURN NULL; END \$\$;
CREATE TRIGGER log_applied AFTER INSERT OR UPDATE OR DELETE ON public.audit
  FOR EACH ROW EXECUTE FUNCTION log_applied()"

T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pg_sink_config pk "public.audit"
t_pgcdc_start
t_wait_for 30 "t_slot_active pk"

psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" > "$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"
# Sample the target's position of the slot all along.
(while :; do t_target_pos pk || true; sleep 0.05; done) > "$T_DIR/positions.txt" 2>/dev/null &
t_track $!
sampler=$!
start=$(date +%s.%N)

for ((k = 1; k <= KILLS; k++)); do
	sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 1.5), 2))')"
	pid=$(t_child_pid sink pg)
	[ -n "$pid" ] || t_fail "no sink process to kill"
	kill -9 "$pid"
	echo "kill $k: sink pid $pid, target holds $(t_target_pos pk)"
	t_wait_for 90 "p=\$(t_child_pid sink pg); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
done
t_sql "UPDATE ctl SET stop = true"
wait "$writer" || t_fail "writer failed: $(cat "$T_DIR/writer.log")"
S=$(t_sql "SELECT max(seq) FROM audit")
# The writer's row changes, as the trigger names them, by replaying it.
cat >"$T_DIR/expect.py" <<'PY'
import sys
s_end, rows, i, s, want = int(sys.argv[1]), set(), 0, 0, []
while s < s_end:
    i += 1
    k = 100 if i % 20 == 0 else 3
    for g in range(s + 1, s + k + 1):
        rows.add(g)
        want.append("i%d" % g)
    s += k
    if i % 2 == 0 and s - 4 in rows:
        want.append("u%d" % (s - 4))
    if i % 5 == 0 and s - 7 in rows:
        rows.remove(s - 7)
        rows.add(-(s - 7))
        want.append("u%d" % -(s - 7))
    if i % 7 == 0 and s - 10 in rows:
        rows.remove(s - 10)
        want.append("d%d" % (s - 10))
print("\n".join(want))
PY
python3 "$T_DIR/expect.py" "$S" >"$T_DIR/expected.txt"
expected=$(wc -l <"$T_DIR/expected.txt")
echo "writer inserted up to seq $S: $expected row changes"
t_wait_for 120 '[ "$(t_tsql "SELECT count(*) FROM applied")" -ge '"$expected"' ] && t_same_table public.audit'
end=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true
t_assert_same_table public.audit

t_tsql "SELECT op || seq FROM applied ORDER BY n" > "$T_DIR/applied.txt"
python3 - "$T_DIR/applied.txt" "$T_DIR/expected.txt" "$T_DIR/positions.txt" <<'PY' || t_fail "exactly-once violated on the target"
import sys
got = open(sys.argv[1]).read().split()
want = open(sys.argv[2]).read().split()
if got != want:
    first = next(i for i, (a, b) in enumerate(zip(got + [None] * len(want), want)) if a != b)
    dups = sorted({g for g in got if got.count(g) > 1})
    print("applied %d, expected %d; twice: %s; first difference at %d: got %s want %s"
          % (len(got), len(want), dups[:5], first, got[first:first + 3], want[first:first + 3]))
    sys.exit(1)
pos = [l.strip() for l in open(sys.argv[3]) if l.strip()]
val = [int(a, 16) << 32 | int(b, 16) for a, b in (p.split("/") for p in pos)]
back = [(pos[i - 1], pos[i]) for i in range(1, len(val)) if val[i] < val[i - 1]]
if back or len(set(val)) < 10:
    print("positions: %d samples, %d distinct; went back: %s" % (len(val), len(set(val)), back[:3]))
    sys.exit(1)
print("ok: %d row changes applied exactly once in commit order; %d position samples, %d distinct, "
      "never backwards" % (len(got), len(val), len(set(val))))
PY
grep -E "the target holds|already applied" "$T_DIR/pgcdc.log" | cut -d ' ' -f 2- || true
python3 -c "print('throughput with kills: %d changes in %.1f s = %.0f changes/s' % ($expected, $end - $start, $expected / ($end - $start)))"
t_pgcdc_stop
t_pass
