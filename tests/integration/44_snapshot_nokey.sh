#!/usr/bin/env bash
# Snapshots of tables without a primary key.  public.nopk has none and
# REPLICA IDENTITY FULL: chunked by ctid ranges, matched to the stream by
# the whole row (NULLs and TOASTed values included).  public.ri has a unique
# index as replica identity: chunked by that index.  100,000 and 20,000 rows
# in chunks of 1,000 while a writer updates (leaving TOASTed values
# unchanged), deletes and inserts rows, and the worker is killed twice during
# the snapshot; ten rows are
# updated, deterministically, inside the first chunk's window.  The rows rebuilt from the output by identity equal each
# table, and no row has two snapshot events.  A table with neither key nor FULL identity
# is refused with the fix named.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
N=100000
t_setup

# Rows are distinct (n is unique, though nothing enforces it): whole-row
# matching cannot tell identical rows apart (see DESIGN.md 5).
t_sql "CREATE TABLE public.nopk (n int NOT NULL, v text, w text, big text);
ALTER TABLE nopk REPLICA IDENTITY FULL;
CREATE TABLE public.ri (a int NOT NULL, b text NOT NULL, v text);
CREATE UNIQUE INDEX ri_ab ON ri (a, b);
ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_ab"
# big: about 3 kB of hex on every 50th row, stored out of line (TOAST).
t_sql "INSERT INTO nopk SELECT i, 'v' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'w' || i END,
  CASE WHEN i % 50 = 0 THEN (SELECT string_agg(md5(i::text || g), '') FROM generate_series(1, 100) g) END
  FROM generate_series(1, $N) i;
INSERT INTO ri SELECT i % 97, 'b' || i, 'v' || i FROM generate_series(1, $N / 5) i;
ANALYZE nopk; ANALYZE ri"
t_sql "CREATE TABLE public.ctl (stop boolean NOT NULL); INSERT INTO ctl VALUES (false)"
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0; r int; op int;
BEGIN
  LOOP
    i := i + 1;
    r := 1 + floor(random() * $N)::int;
    op := floor(random() * 10)::int;
    IF op < 3 THEN UPDATE nopk SET v = 'u' || i WHERE n = r;
    ELSIF op < 4 THEN UPDATE nopk SET w = CASE WHEN w IS NULL THEN 'x' || i END WHERE n = r;
    ELSIF op < 5 THEN UPDATE nopk SET n = n + 1000000 WHERE n = r;
    ELSIF op < 6 THEN DELETE FROM nopk WHERE n = r;
    ELSIF op < 7 THEN INSERT INTO nopk VALUES (2000000 + i, 'i' || i, NULL, repeat('y', i % 5000));
    ELSIF op < 8 THEN UPDATE ri SET v = 'u' || i WHERE b = 'b' || (r / 5);
    ELSIF op < 9 THEN UPDATE ri SET a = a + 1000 WHERE b = 'b' || (r / 5);
    ELSE DELETE FROM ri WHERE b = 'b' || (r / 5);
    END IF;
    COMMIT;
    PERFORM pg_sleep(0.001);
    IF i % 20 = 0 THEN EXIT WHEN (SELECT stop FROM ctl); END IF;
  END LOOP;
END \$\$"

T_LOG_LEVEL=debug T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 1000; };' \
	t_pgcdc_config nokey "public.nopk public.ri"
psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" >"$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"
t_wait_for 10 '[ "$(t_sql "SELECT count(*) FROM nopk WHERE v LIKE '"'u%'"'")" -gt 0 ]'

# A change inside a chunk's window, for certain: a transaction locks nopk
# and updates its first ten rows; the first chunk's read takes its snapshot,
# then waits for the lock; once it waits, the transaction commits (after the
# low watermark, invisible to the read), so the chunk holds the old rows and
# the update's old tuples must drop them.  Slot and publication exist first:
# creating them would wait for the transaction.
t_sql "CREATE PUBLICATION pgcdc_nokey FOR TABLE nopk, ri"
t_sql "SELECT 1 FROM pg_create_logical_replication_slot('nokey', 'pgoutput')" >/dev/null
psql -XAtq -v ON_ERROR_STOP=1 >"$T_DIR/locker.log" 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE nopk IN ACCESS EXCLUSIVE MODE;
UPDATE nopk SET v = 'locked' WHERE n <= 10;
CREATE TEMP TABLE held ();
DO $$ BEGIN
  FOR i IN 1..1200 LOOP
    IF EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'pgcdc-snapshot'
               AND wait_event_type = 'Lock') THEN RETURN; END IF;
    PERFORM pg_sleep(0.05), pg_stat_clear_snapshot();
  END LOOP;
  RAISE 'the snapshot read never waited for the lock';
END $$;
COMMIT;
SQL
locker=$!
t_track "$locker"
t_wait_for 10 '[ "$(t_sql "SELECT count(*) FROM pg_locks WHERE relation = '"'nopk'::regclass"' AND mode = '"'AccessExclusiveLock'"' AND granted")" = 1 ]'
t_pgcdc_start
wait "$locker" || t_fail "locker: $(cat "$T_DIR/locker.log")"
# Kill 1 after the first chunk went out (and up to 30 more), kill 2 within
# the next worker's first 30 chunks.
t_wait_for 60 'grep -qE "snapshot of public.nopk: chunk 1 sent" "$T_DIR/pgcdc.log"'
read -r sent total <<<"$(sed -nE 's/.*snapshot of public.nopk: chunk 1 sent, ([0-9]+) of ([0-9]+) rows/\1 \2/p' \
	"$T_DIR/pgcdc.log" | head -n 1)"
echo "chunk 1 of nopk: $sent of $total rows sent"
[ $((total - sent)) -ge 10 ] || t_fail "the ten rows updated inside chunk 1's window were not dropped from it"
for k in 1 2; do
	printf "kill %s: " "$k"
	t_snap_kill nokey public.nopk 30
done
t_wait_for 120 '[[ "$(t_snap_status public.nopk)" == done* && "$(t_snap_status public.ri)" == done* ]]'
t_sql "UPDATE ctl SET stop = true"
wait "$writer" || t_fail "writer failed: $(cat "$T_DIR/writer.log")"
grep -q "snapshot of public.nopk: no primary key, chunked by ctid ranges" "$T_DIR/pgcdc.log" ||
	t_fail "public.nopk was not chunked by ctid"
echo "nopk: $(t_snap_status public.nopk), ri: $(t_snap_status public.ri); log: " \
	"$(grep -cE 'chunk [0-9]+ sent' "$T_DIR/pgcdc.log") chunks sent," \
	"$(grep -E 'chunk [0-9]+ sent' "$T_DIR/pgcdc.log" | awk '$(NF - 3) != $(NF - 1)' | wc -l) with rows" \
	"dropped, $(grep -c 'reading it again' "$T_DIR/pgcdc.log" || true) read again"
t_sql "INSERT INTO nopk VALUES (-1, 'sentinel', NULL, NULL); INSERT INTO ri VALUES (-1, 'sentinel', 'sentinel')"
t_wait_for 60 'grep -qF "\"b\":\"sentinel\"" "$T_OUT"/public.ri/*.jsonl'

# Replay by identity: for nopk the whole row (an update replaces its before
# image; a value left out as unchanged TOAST comes from the before image), for
# ri (a, b).  Like a primary key, the whole row is upserted: a change can
# reach a row before its chunk does, and the chunk then carries the same row.
# A chunk's row delivered twice shows as a snapshot event whose identity's
# previous event was a snapshot event too.  Two snapshot events of one
# identity with changes between are not that: an update moves a row to a
# page a later ctid chunk reads (the usual case: the table's end), and an
# update setting w back to NULL returns it to an identity it had.
for t in public.nopk public.ri; do
	python3 - "$T_OUT" "$t" "$T_DIR/state.json" <<'PY' || t_fail "$t: output wrong"
import collections, json, sys
sys.path.insert(0, "scripts")
import events as E
root, table, out = sys.argv[1:4]
if table == "public.nopk":
    ident = lambda row: json.dumps(row, sort_keys=True)
else:
    ident = lambda row: (row["a"], row["b"])
rows, last, twice = {}, {}, []
nsnap = moved = 0
evs = E.events(root, table)
for ev in evs:
    op, b, a = ev["op"], ev["before"], ev["after"]
    if op == "d" or (op == "u" and b):	# no before: the identity did not change
        rows.pop(ident(b), None)
        last[ident(b)] = op
    if op in ("r", "c", "u"):
        a = dict(a)
        for col in ev.get("unchanged", []):
            a[col] = b[col]
        k = ident(a)
        if op == "r":
            nsnap += 1
            twice += [k] if last.get(k) == "r" else []
            moved += last.get(k) in ("c", "u")
        rows[k], last[k] = a, op
if twice:
    print("%s: %d rows with two snapshot events in a row, e.g. %s" % (table, len(twice), twice[:3]))
    sys.exit(1)
print("%s: %d events, %d snapshot rows (%d after a change of theirs), %d rows rebuilt" %
      (table, len(evs), nsnap, moved, len(rows)))
with open(out, "w") as fh:
    for row in rows.values():
        fh.write(json.dumps(row) + "\n")
PY
	t_same_rows "$t" "$T_DIR/state.json"
done
t_pgcdc_stop

# Neither key nor FULL identity: refused before anything is read.
t_sql "CREATE TABLE public.bare (v text); INSERT INTO bare VALUES ('x')"
T_CFG=$T_DIR/bare.cfg
T_LOG_FILE=$T_DIR/bare.log t_config "$T_CFG" bare public.bare "$T_DIR/bare-out" "$T_DIR/bare-state"
t_pgcdc_start
t_wait_for 30 'grep -q "table public.bare has no primary key and no replica identity index" "$T_DIR/bare.log"'
grep "public.bare has no primary key" "$T_DIR/bare.log" | grep -q "REPLICA IDENTITY FULL" ||
	t_fail "the message does not name the fix"
t_wait_for 30 '"$(t_bin)/pgcdc" status -c "$T_CFG" | grep -qE "^slot bare +FAILED"'
[ ! -e "$T_DIR/bare-out/public.bare" ] || t_fail "rows of public.bare were written"
t_pgcdc_stop
t_pass
