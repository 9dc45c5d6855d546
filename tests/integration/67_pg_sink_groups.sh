#!/usr/bin/env bash
# The postgres sink groups small source transactions into one target
# transaction, atomically: a backlog of PGG_TXNS transactions (1-5 inserts,
# every 3rd also updates an older row) is drained while the sink is killed
# with SIGKILL 3 times.  Sampled all along, in one snapshot of the target,
# pgcdc.positions' end_lsn and the table must agree exactly: the rows are
# those of the source transactions whose commit ends at or before it (their
# end LSNs from a test_decoding slot), never part of a transaction or of a
# group.  At the end every change is applied once (a trigger logs them),
# each source transaction in one target transaction, and target
# transactions held several source transactions each.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/../pgtarget.sh"
TXNS=${PGG_TXNS:-20000}
DDL="CREATE TABLE public.g (id int PRIMARY KEY, tx int NOT NULL, v text NOT NULL)"
t_setup
t_target_start
t_sql "$DDL"
t_tsql "$DDL;
CREATE TABLE applied (n bigserial PRIMARY KEY, op text, id int, tx int, xid xid8 DEFAULT pg_current_xact_id());
CREATE FUNCTION log_applied() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
  INSERT INTO applied (op, id, tx) VALUES (lower(left(TG_OP, 1)), NEW.id, NEW.tx); RETURN NULL; END \$\$;
CREATE TRIGGER log_applied AFTER INSERT OR UPDATE ON public.g FOR EACH ROW EXECUTE FUNCTION log_applied()"

# The sink's slot, then a test_decoding slot at a later LSN but before the
# writes: its COMMIT lines carry each transaction's end LSN.
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pg_sink_config grp "public.g"
t_pgcdc_start
t_wait_for 30 "t_slot_active grp"
t_pgcdc_stop
t_sql "SELECT pg_create_logical_replication_slot('peek', 'test_decoding')" >/dev/null
t_sql "SET synchronous_commit = off" -c "DO \$\$ DECLARE s int := 0; k int; BEGIN
  FOR i IN 1..$TXNS LOOP
    k := 1 + i % 5;
    INSERT INTO g SELECT s + j, i, 'row' FROM generate_series(1, k) j;
    s := s + k;
    IF i % 3 = 0 AND s > 10 THEN UPDATE g SET v = v || '+' WHERE id = s - 10; END IF;
    COMMIT;
  END LOOP; END \$\$"
# A synchronous commit flushes the WAL: decoding reads only flushed WAL.
t_sql "SET synchronous_commit = on" -c "CREATE TABLE flushed ()"
t_sql "SELECT lsn, data FROM pg_logical_slot_peek_changes('peek', NULL, NULL)
  WHERE data LIKE 'COMMIT%' OR data LIKE 'table public.g: %'" >"$T_DIR/decoded.txt"

# The end of the last transaction of g (the COMMIT after its last change;
# the DDL's own COMMIT after it never reaches the target's positions).
final=$(awk -F '|' '/table public.g: /{g=1; next} /COMMIT/{if (g) e=$1; g=0} END{print e}' \
	"$T_DIR/decoded.txt")

t_pgcdc_start
(while :; do
	t_tsql "SELECT (SELECT end_lsn FROM pgcdc.positions WHERE sink = 'pg' AND slot = 'grp' AND tbl = ''),
	  (SELECT count(*) FROM public.g), (SELECT count(*) FROM public.g WHERE v <> 'row')" || true
	sleep 0.02
done) >"$T_DIR/samples.txt" 2>/dev/null &
sampler=$!
t_track "$sampler"
last=
for ((k = 1; k <= 3; k++)); do
	# Kill while groups are being applied: once the target moved on.  A
	# drain that ended before this kill leaves nothing to interrupt.
	if [ "$last" = "$final" ]; then
		echo "the drain ended after $((k - 1)) kill(s)"
		[ "$k" -gt 2 ] || t_fail "the drain was over by the first kill: too few transactions (PGG_TXNS)"
		break
	fi
	t_wait_for 90 "p=\$(t_target_pos grp); [ -n \"\$p\" ] && [ \"\$p\" != \"$last\" ]"
	sleep "$(python3 -c 'import random; print(round(random.uniform(0.05, 0.4), 2))')"
	pid=$(t_child_pid sink pg)
	[ -n "$pid" ] || t_fail "no sink process to kill"
	kill -9 "$pid"
	last=$(t_target_pos grp)
	echo "kill $k: sink pid $pid, target holds $last of $final"
	t_wait_for 90 "p=\$(t_child_pid sink pg); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
done
t_wait_for 120 "t_same_table public.g"
kill "$sampler" 2>/dev/null || true
t_tsql "SELECT op, id, tx, xid FROM applied ORDER BY n" >"$T_DIR/applied.txt"

python3 - "$T_DIR/decoded.txt" "$T_DIR/samples.txt" "$T_DIR/applied.txt" <<'PY' || t_fail "grouping was not atomic"
import bisect, collections, re, sys
def lsn(s):
    a, b = s.split("/")
    return int(a, 16) << 32 | int(b, 16)
ends, rows, plus, want = [], [0], [0], collections.Counter()  # per transaction, cumulative
r = p = 0
for line in open(sys.argv[1]):
    at, data = line.rstrip("\n").split("|", 1)
    if data.startswith("COMMIT"):
        ends.append(lsn(at)); rows.append(r); plus.append(p)
        continue
    i = int(re.search(r"id\[integer\]:(-?\d+)", data).group(1))
    want[i] += 1
    if ": INSERT:" in data:
        r += 1
    else:
        p += 1
samples = bad = 0
for line in open(sys.argv[2]):
    f = line.strip().split("|")
    if len(f) != 3:
        continue
    n = bisect.bisect_right(ends, lsn(f[0])) if f[0] else 0
    samples += 1
    if (int(f[1]), int(f[2])) != (rows[n], plus[n]):
        bad += 1
        if bad <= 3:
            print("position %s (%d transactions): target has %s rows, %s updated; want %d, %d"
                  % (f[0] or "none", n, f[1], f[2], rows[n], plus[n]))
got, xids = collections.Counter(), collections.defaultdict(set)
for line in open(sys.argv[3]):
    op, i, tx, xid = line.strip().split("|")
    got[int(i)] += 1
    if op == "i":
        xids[int(tx)].add(xid)
split = [tx for tx, x in xids.items() if len(x) > 1]
targets = len(set().union(*xids.values()))
print("%d samples, %d transactions, %d changes; %d target transactions; %d mismatches, "
      "%d changes not applied once, %d transactions split"
      % (samples, len(ends), sum(want.values()), targets, bad, sum((got - want).values()) +
         sum((want - got).values()), len(split)))
if bad or got != want or split or samples < 10 or targets * 2 > len(ends):
    sys.exit(1)
PY
t_pgcdc_stop
t_pass
