#!/usr/bin/env bash
# Reload while a writer is busy.  Every transaction inserts row i into five
# tables a..e.  Config 1: slot s1 {a}, s2 {b}, s4 {d}; sinks out and aux.
# Config 2 (HUP): s1 unchanged, s2 removed, s3 {c} added, table e added to
# s4, sink aux changed.  Afterwards: s1's worker and sink out kept their
# pids, s4's worker and sink aux were restarted, s2's worker is gone, and
# every table's rows arrived, none twice with the same op (c and e: rows
# from before their slot took them up as snapshot rows, the rest as changes;
# b: a gapless prefix).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
for t in a b c d e; do t_sql "CREATE TABLE public.$t (i int PRIMARY KEY)"; done
t_sql "CREATE TABLE public.ctl (stop boolean NOT NULL); INSERT INTO ctl VALUES (false)"
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0;
BEGIN
  LOOP
    i := i + 1;
    INSERT INTO a VALUES (i); INSERT INTO b VALUES (i); INSERT INTO c VALUES (i);
    INSERT INTO d VALUES (i); INSERT INTO e VALUES (i);
    COMMIT;
    PERFORM pg_sleep(0.005);
    EXIT WHEN (SELECT stop FROM ctl);
  END LOOP;
END \$\$"

T_CFG=$T_DIR/pgcdc.cfg T_OUT=$T_DIR/out
# config SLOTS AUX_SEGMENT_BYTES: the config with these slot entries.
config() {
	T_SINKS=2 T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 500; };' \
		t_config "$T_CFG" s1 public.a "$T_OUT"
	python3 - "$T_CFG" "$1" "$2" <<'PY'
import re, sys
path, slots, seg = sys.argv[1:4]
cfg = open(path).read()
cfg = re.sub(r"(?m)^slots = .*$", "slots = ( %s );" % slots, cfg)
cfg = cfg.replace('name = "out2"', 'name = "aux"')
cfg = re.sub(r'(name = "aux"; type = "jsonl"; dir = "[^"]*")', r'\1; segment_bytes = %s' % seg, cfg)
open(path, "w").write(cfg)
PY
}
slot() { echo "{ name = \"$1\"; tables = [ $2 ]; sinks = [ $3 ]; }"; }
config "$(slot s1 '"public.a"' '"out"'), $(slot s2 '"public.b"' '"out", "aux"'), $(slot s4 '"public.d"' '"aux"')" 1048576
grep -q 'name = "aux"; type = "jsonl"; dir = "[^"]*"; segment_bytes = 1048576' "$T_CFG" || t_fail "config: $(cat "$T_CFG")"
t_pgcdc_start
for s in s1 s2 s4; do t_wait_for 30 "t_slot_active $s"; done
psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" >"$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"
t_wait_for 30 '[ "$(t_sql "SELECT count(*) FROM a")" -gt 200 ]'
s1=$(t_child_pid worker s1) s4=$(t_child_pid worker s4) out=$(t_child_pid sink out) aux=$(t_child_pid sink aux)

config "$(slot s1 '"public.a"' '"out"'), $(slot s3 '"public.c"' '"out"'), $(slot s4 '"public.d", "public.e"' '"aux"')" 2097152
at_reload=$(t_sql "SELECT count(*) FROM a")
"$(t_bin)/pgcdc" reload -c "$T_CFG" >/dev/null
t_wait_for 30 't_slot_active s3'
t_wait_for 30 '[ -z "$(t_child_pid worker s2)" ]'
t_wait_for 30 'p=$(t_child_pid worker s4); [ -n "$p" ] && [ "$p" != '"$s4"' ]'
t_wait_for 30 'p=$(t_child_pid sink aux); [ -n "$p" ] && [ "$p" != '"$aux"' ]'
# The writer goes on a while after the reload.
t_wait_for 30 '[ "$(t_sql "SELECT count(*) FROM a")" -gt $((at_reload + 300)) ]'
t_sql "UPDATE ctl SET stop = true"
wait "$writer" || t_fail "writer: $(cat "$T_DIR/writer.log")"
n=$(t_sql "SELECT max(i) FROM a")
[ "$(t_child_pid worker s1)" = "$s1" ] || t_fail "s1's worker was restarted although it did not change"
[ "$(t_child_pid sink out)" = "$out" ] || t_fail "sink out was restarted although it did not change"
for t in a c; do t_wait_for 60 "grep -qsF '\"i\":$n}' \"\$T_OUT\"/public.$t/*.jsonl"; done
for t in d e; do t_wait_for 60 "grep -qsF '\"i\":$n}' \"\$T_OUT\"2/public.$t/*.jsonl"; done
python3 - "$T_OUT" "$T_OUT"2 "$n" <<'PY' || t_fail "rows lost or duplicated"
import collections, sys
sys.path.insert(0, "scripts")
import events as E
out, aux, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ok = True
def check(root, table, full):
    global ok
    evs = E.events(root, table)
    ids = [e["after"]["i"] for e in evs]
    ops = collections.Counter(e["op"] for e in evs)
    # A row inserted after the slot took the table up but before its chunk
    # was read comes as c and as r (DBLog: rows are upserted); never twice
    # with the same op.
    dup = [k for k, c in collections.Counter((e["after"]["i"], e["op"]) for e in evs).items() if c > 1]
    want = list(range(1, n + 1)) if full else list(range(1, max(ids) + 1))
    good = not dup and sorted(set(ids)) == want
    print("%s %s: %d events %s, up to %d%s" % (root.rsplit("/", 1)[1], table, len(evs), dict(ops),
          max(ids), "" if good else ", WRONG: %d twice, %d missing" % (len(dup), len(set(want) - set(ids)))))
    ok &= good
check(out, "public.a", True)
check(out, "public.c", True)
check(out, "public.b", False)
check(aux, "public.b", False)
check(aux, "public.d", True)
check(aux, "public.e", True)
sys.exit(not ok)
PY
t_pgcdc_stop
t_pass
