#!/usr/bin/env bash
# Chunked snapshot of a 2,000,000-row table under write load and SIGKILL: a
# writer updates, re-keys (id + 10000000), deletes and inserts rows the whole
# time while the worker is killed 5 times during the snapshot.  The snapshot's
# transactions stay short (pg_stat_activity, sampled), the state rebuilt from
# the jsonl output equals the table row for row, no key has two snapshot rows
# (no chunk applied twice), and the last chunk's rows are marked "last".
# Prints the snapshot's throughput next to COPY of the same table.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
ROWS=${SNAP_ROWS:-2000000}
KILLS=${SNAP_KILLS:-5}
CHUNK=20000
t_setup

t_sql "CREATE TABLE public.big (id bigint PRIMARY KEY, v text, n int)"
t_sql "INSERT INTO big SELECT i, 'v' || i, i FROM generate_series(1, $ROWS) i"
t_sql "VACUUM ANALYZE big"
t_sql "CREATE SEQUENCE ins START 5000000"
t_sql "CREATE TABLE public.ctl (writer_stop boolean NOT NULL, sampler_stop boolean NOT NULL)"
t_sql "INSERT INTO ctl VALUES (false, false)"
# One statement per transaction, a few hundred a second, until ctl says stop:
# updates of v (of original and of re-keyed rows), primary key updates,
# deletes and inserts of new ids, all at random.
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0; r bigint; op int;
BEGIN
  LOOP
    i := i + 1;
    r := 1 + floor(random() * $ROWS)::bigint;
    op := floor(random() * 20)::int;
    IF op < 9 THEN UPDATE big SET v = 'u' || i, n = n + 1 WHERE id = r;
    ELSIF op < 11 THEN UPDATE big SET v = 'm' || i, n = -n WHERE id = r + 10000000;
    ELSIF op < 14 THEN UPDATE big SET id = id + 10000000 WHERE id = r;
    ELSIF op < 17 THEN DELETE FROM big WHERE id = r;
    ELSE INSERT INTO big VALUES (nextval('ins'), 'i' || i, i);
    END IF;
    COMMIT;
    PERFORM pg_sleep(0.002);
    IF i % 20 = 0 THEN EXIT WHEN (SELECT writer_stop FROM ctl); END IF;
  END LOOP;
END \$\$"
# Every 50 ms: the open transactions of the snapshot's SQL connection.
t_sql "CREATE UNLOGGED TABLE samples (at timestamptz, xact_start timestamptz, age float8, state text)"
t_sql "CREATE PROCEDURE sampler() LANGUAGE plpgsql AS \$\$
BEGIN
  LOOP
    INSERT INTO samples SELECT clock_timestamp(), xact_start,
        extract(epoch FROM clock_timestamp() - xact_start), state
      FROM pg_stat_activity WHERE application_name = 'pgcdc-snapshot'
      AND xact_start IS NOT NULL AND state IN ('idle in transaction', 'active');
    COMMIT;
    PERFORM pg_sleep(0.05);
    EXIT WHEN (SELECT sampler_stop FROM ctl);
  END LOOP;
END \$\$"

T_LOG_LEVEL=debug T_CFG_EXTRA="snapshot = { mode = \"initial\"; chunk_rows = $CHUNK; };" \
	t_pgcdc_config snapkill public.big

snap_status() { t_snap_status public.big; }
chunks_done() { snap_status | sed -n 's/^running (chunks done \([0-9]*\) .*/\1/p'; }

psql -XAtq -v ON_ERROR_STOP=1 -c "CALL sampler()" >"$T_DIR/sampler.log" 2>&1 &
sampler=$!
t_track "$sampler"
psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" >"$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"

t_pgcdc_start
t_wait_for 60 '[[ "$(snap_status)" == running* ]]'
snap_start=$EPOCHREALTIME
echo "snapshot running"

# Each kill comes soon after the current worker took up the snapshot, while
# it still runs (t_snap_kill: after 0 to 3 chunks sent, at any phase of a
# chunk's cycle).
for ((k = 1; k <= KILLS; k++)); do
	printf "kill %s of %s: " "$k" "$KILLS"
	t_snap_kill snapkill public.big 3
done
# The last worker runs the rest of the snapshot undisturbed.
t_wait_for 90 'pid=$(t_child_pid worker snapkill); [ -n "$pid" ] &&
	grep -qE "worker\[snapkill\] $pid info: snapshot of public.big: resuming" "$T_DIR/pgcdc.log"'
rest_start=$EPOCHREALTIME rest_chunks=$(chunks_done)
t_wait_for 150 '[[ "$(snap_status)" == done* ]]'
snap_end=$EPOCHREALTIME
echo "snapshot status: $(snap_status)"
echo "log: $(grep -cE 'chunk [0-9]+ sent' "$T_DIR/pgcdc.log" || true) chunks sent," \
	"$(grep -E 'chunk [0-9]+ sent' "$T_DIR/pgcdc.log" | awk '$(NF - 3) != $(NF - 1)' | wc -l) with rows" \
	"dropped (changed between the watermarks), $(grep -c 'raced with transaction' "$T_DIR/pgcdc.log" || true)" \
	"read again after a race, $(grep -c 'reading it again' "$T_DIR/pgcdc.log" || true) in all"

t_sql "UPDATE ctl SET writer_stop = true, sampler_stop = true"
wait "$writer" || t_fail "writer failed: $(cat "$T_DIR/writer.log")"
wait "$sampler" || t_fail "sampler failed: $(cat "$T_DIR/sampler.log")"
echo "writer: $(t_sql "SELECT last_value - 4999999 FROM ins") inserts; table now $(t_sql "SELECT count(*) FROM big") rows"

# The snapshot's transactions were short: none older than 10 s, many of them.
read -r nsamples max_age nxacts <<<"$(t_sql "SELECT count(*), coalesce(round(max(age)::numeric, 3), 0),
    count(DISTINCT xact_start) FROM samples" -F ' ')"
echo "pg_stat_activity: $nsamples samples of an open snapshot transaction, $nxacts distinct, oldest ${max_age} s"
[ "$nxacts" -gt 1 ] || t_fail "saw $nxacts distinct snapshot transactions (expected many short ones)"
python3 -c "import sys; sys.exit(not $max_age <= 10)" ||
	t_fail "a snapshot transaction stayed open ${max_age} s (limit 10 s)"

# Caught up: a last row inserted after everything else is in the output
# (sinks write in commit order).
t_sql "INSERT INTO big VALUES (0, 'sentinel', 0)"
newest() { find "$T_OUT/public.big" -name '*.jsonl' | sort | tail -n 1; }
t_wait_for 120 'grep -qF "\"v\":\"sentinel\"" "$(newest)"'

t_sql "COPY big TO STDOUT" >"$T_DIR/source.tsv"
python3 - "$T_OUT/public.big" "$T_DIR/source.tsv" "$CHUNK" >"$T_DIR/verify.txt" <<'PY' || { cat "$T_DIR/verify.txt"; t_fail "snapshot output is wrong"; }
# Streams the events (2M+ lines) rather than loading them all at once.
import os, sys
try:
    from orjson import loads
except ImportError:
    from json import loads
d, srcfile, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
state, r_seen, dups, bad = {}, set(), [], []
max_true = min_last = None
n_true = n_last = nev = 0
for seg in sorted(f for f in os.listdir(d) if f.endswith(".jsonl")):
    with open(os.path.join(d, seg), "rb") as fh:
        for line in fh:
            ev = loads(line)
            nev += 1
            op, snap = ev["op"], ev["source"]["snapshot"]
            if op == "r":
                k = ev["after"]["id"]
                if k in r_seen:
                    dups.append(k)
                r_seen.add(k)
                if snap == "true":
                    n_true += 1
                    max_true = k if max_true is None else max(max_true, k)
                elif snap == "last":
                    n_last += 1
                    min_last = k if min_last is None else min(min_last, k)
                else:
                    bad.append(("r with snapshot=%r" % snap, k))
            elif snap != "false":
                bad.append(("%s with snapshot=%r" % (op, snap), ev["before"] or ev["after"]))
            if op == "d":
                state.pop(ev["before"]["id"], None)
            elif op == "t":
                state.clear()
            else:
                b, a = ev["before"], ev["after"]
                if op == "u" and b and b.get("id") is not None:
                    state.pop(b["id"], None)
                state[a["id"]] = (a["v"], a["n"])
src = {}
with open(srcfile) as fh:
    for line in fh:
        i, v, n = line.rstrip("\n").split("\t")
        src[int(i)] = (v, int(n))
print("events: %d, snapshot rows: %d \"true\" + %d \"last\"" % (nev, n_true, n_last))
ok = True
if dups:
    print("keys with more than one snapshot row: %d, e.g. %s" % (len(dups), sorted(dups)[:10]))
    ok = False
if bad:
    print("events with a wrong source.snapshot: %d, e.g. %s" % (len(bad), bad[:5]))
    ok = False
if n_last == 0 or (max_true is not None and max_true >= min_last):
    print("the last chunk's rows are not the \"last\" ones: max key of \"true\" %s, min key of \"last\" %s"
          % (max_true, min_last))
    ok = False
if n_last > chunk:
    print("%d rows marked \"last\", more than one chunk (%d)" % (n_last, chunk))
    ok = False
if state != src:
    missing = sorted(set(src) - set(state))
    extra = sorted(set(state) - set(src))
    diff = sorted(k for k in set(src) & set(state) if src[k] != state[k])
    print("rebuilt state differs from the table (%d rows vs %d): missing %d %s, extra %d %s, different %d %s"
          % (len(state), len(src), len(missing), missing[:5], len(extra), extra[:5], len(diff),
             [(k, state[k], src[k]) for k in diff[:5]]))
    ok = False
else:
    print("rebuilt state equals the table: %d rows" % len(src))
print("snapshot_rows=%d" % (n_true + n_last))
sys.exit(0 if ok else 1)
PY
cat "$T_DIR/verify.txt"
snap_rows=$(sed -n 's/^snapshot_rows=//p' "$T_DIR/verify.txt")

# Throughput, printed, not asserted.
copy_start=$EPOCHREALTIME
psql -XAtq -v ON_ERROR_STOP=1 -c '\copy big to /dev/null'
copy_end=$EPOCHREALTIME
copy_rows=$(t_sql "SELECT count(*) FROM big")
python3 - <<PY
rows, span = $snap_rows, $snap_end - $snap_start
print("snapshot: %d rows in %.1f s = %.0f rows/s, with %d worker kills and their restart backoff"
      % (rows, span, rows / span, $KILLS))
rest, span = max(rows - ${rest_chunks:-0} * $CHUNK, 0), $snap_end - $rest_start
print("snapshot after the last kill: ~%d rows in %.1f s = ~%.0f rows/s" % (rest, span, rest / span))
span = $copy_end - $copy_start
print("COPY big TO STDOUT (psql \\copy to /dev/null): %d rows in %.2f s = %.0f rows/s"
      % ($copy_rows, span, $copy_rows / span))
PY
# Status counts the whole snapshot, also across worker restarts.
st_rows=$(snap_status | sed -n 's/^done (\([0-9]*\) rows)$/\1/p')
[ "$st_rows" = "$snap_rows" ] ||
	t_fail "status says \"$(snap_status)\" but the snapshot delivered $snap_rows rows"
t_pgcdc_stop
t_pass
