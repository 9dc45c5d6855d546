#!/usr/bin/env bash
# Snapshot chunking over keys that are not integers: text (byte order and an
# ICU collation, mixed case, unicode, quotes, backslashes, the empty string),
# uuid, timestamptz (fractions, BC, +-infinity) and a composite (int, text);
# 5,000 rows each in chunks of 333 while a writer inserts, updates (also the
# keys) and deletes.  The state replayed from the output by key equals each
# table (compared by PostgreSQL, reading the sink's JSON back into the
# column types) and no key has two snapshot rows.  Then the modes: "never"
# sends later changes but no existing row; "initial_only" sends every row
# once, its worker ends (slot DONE) and the supervisor and sink stay up.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
N=5000
TABLES="public.k_text public.k_icu public.k_uuid public.k_ts public.k_comp"
t_setup

# phase CFG_NAME SLOT TABLES MODE: a fresh config, state and output for a
# pgcdc run of its own.
phase() {
	T_CFG=$T_DIR/$1.cfg T_OUT=$T_DIR/$1-out T_LOG_FILE=$T_DIR/$1.log
	T_CFG_EXTRA="snapshot = { mode = \"$4\"; chunk_rows = 333; };" \
		t_config "$T_CFG" "$2" "$3" "$T_OUT" "$T_DIR/$1-state"
}
table_status() { # TABLE: its snapshot line in `pgcdc status`
	"$(t_bin)/pgcdc" status -c "$T_CFG" 2>/dev/null | sed -n "s/^ *table ${1//./\\.}  *//p"
}
all_done() {
	local t
	for t in $TABLES; do [[ "$(table_status "$t")" == done* ]] || return 1; done
}

# ---- keys
t_sql "CREATE TABLE public.k_text (k text PRIMARY KEY, v text, n int);
CREATE TABLE public.k_icu (k text COLLATE \"und-x-icu\" PRIMARY KEY, v text, n int);
CREATE TABLE public.k_uuid (k uuid PRIMARY KEY, v text, n int);
CREATE TABLE public.k_ts (k timestamptz PRIMARY KEY, v text, n int);
CREATE TABLE public.k_comp (a int, b text, v text, n int, PRIMARY KEY (a, b))"
t_sql "CREATE FUNCTION frag(i int) RETURNS text IMMUTABLE LANGUAGE sql AS \$\$
  SELECT (ARRAY['a', 'A', 'b', 'B', 'Zoë', 'zoe', 'ß', 'SS', 'straße', '日本', '🙂', 'É', 'e',
    ' lead', 'x''q\"', 'back\\slash', 'semi;colon', '(paren)', 'co,mma', E'tab\\t', E'nl\\n',
    'ä', 'Å', 'ǅ', 'İ', 'ı', '\\N', 'NULL'])[1 + i % 28] \$\$"
t_sql "INSERT INTO k_text SELECT frag(i) || i || frag(i / 28), 'v' || i, i FROM generate_series(1, $N - 1) i;
INSERT INTO k_text VALUES ('', 'empty', $N);
INSERT INTO k_icu SELECT k, v, n FROM k_text;
INSERT INTO k_uuid SELECT gen_random_uuid(), 'v' || i, i FROM generate_series(1, $N) i;
INSERT INTO k_ts SELECT timestamptz '2000-01-01 00:00:00+00' + i * interval '3.141593 s', 'v' || i, i
  FROM generate_series(1, $N - 4) i;
INSERT INTO k_ts VALUES ('infinity', 'inf', $N - 3), ('-infinity', '-inf', $N - 2),
  ('0044-03-15 12:00:00.25+00 BC', 'bc', $N - 1), ('0001-12-31 23:59:59.999999+00 BC', 'bc2', $N);
INSERT INTO k_comp SELECT i % 7, frag(i) || i, 'v' || i, i FROM generate_series(1, $N) i"
for t in $TABLES; do t_sql "CREATE INDEX ON $t (n); ANALYZE $t"; done
t_sql "CREATE TABLE public.ctl (stop boolean NOT NULL); INSERT INTO ctl VALUES (false)"
# Random changes to the five tables, one per transaction, until ctl.stop:
# rows are picked by n (the original rows have 1..N, inserted ones more).
t_sql "CREATE PROCEDURE writer() LANGUAGE plpgsql AS \$\$
DECLARE i int := 0; r int; op int; t text;
BEGIN
  LOOP
    i := i + 1;
    r := 1 + floor(random() * $N)::int;
    op := floor(random() * 10)::int;
    t := (ARRAY['k_text', 'k_icu', 'k_uuid', 'k_ts', 'k_comp'])[1 + i % 5];
    IF op < 4 THEN
      EXECUTE format('UPDATE %I SET v = \$1 WHERE n = \$2', t) USING 'u' || i, r;
    ELSIF op < 6 THEN
      EXECUTE format('UPDATE %I SET %s WHERE n = \$1', t, CASE t
        WHEN 'k_uuid' THEN 'k = gen_random_uuid()'
        WHEN 'k_ts' THEN 'k = k + interval ''1000 years'''
        WHEN 'k_comp' THEN 'a = a + 10, b = b || ''~'''
        ELSE 'k = k || ''+''' END) USING r;
    ELSIF op < 8 THEN
      EXECUTE format('DELETE FROM %I WHERE n = \$1', t) USING r;
    ELSIF t = 'k_comp' THEN
      INSERT INTO k_comp VALUES (i % 7, 'new' || frag(i) || i, 'i' || i, 100000 + i);
    ELSIF t = 'k_uuid' THEN
      INSERT INTO k_uuid VALUES (gen_random_uuid(), 'i' || i, 100000 + i);
    ELSIF t = 'k_ts' THEN
      INSERT INTO k_ts VALUES (timestamptz '2500-01-01 00:00:00+00' + i * interval '1 ms', 'i' || i, 100000 + i);
    ELSE
      EXECUTE format('INSERT INTO %I VALUES (\$1, \$2, \$3)', t) USING 'new' || frag(i) || i, 'i' || i, 100000 + i;
    END IF;
    COMMIT;
    IF i % 10 = 0 THEN EXIT WHEN (SELECT stop FROM ctl); END IF;
  END LOOP;
END \$\$"

T_LOG_LEVEL=debug phase keys keys "$TABLES" initial
psql -XAtq -v ON_ERROR_STOP=1 -c "CALL writer()" >"$T_DIR/writer.log" 2>&1 &
writer=$!
t_track "$writer"
t_wait_for 10 '[ "$(t_sql "SELECT count(*) FROM k_text WHERE v LIKE '"'u%'"'")" -gt 0 ]'
t_pgcdc_start
t_wait_for 120 all_done
t_sql "UPDATE ctl SET stop = true"
wait "$writer" || t_fail "writer failed: $(cat "$T_DIR/writer.log")"
for t in $TABLES; do echo "$t: $(table_status "$t"), now $(t_sql "SELECT count(*) FROM $t") rows"; done
echo "log: $(grep -cE 'chunk [0-9]+ sent' "$T_LOG_FILE" || true) chunks sent," \
	"$(grep -E 'chunk [0-9]+ sent' "$T_LOG_FILE" | awk '$(NF - 3) != $(NF - 1)' | wc -l) with rows" \
	"dropped (changed between the watermarks), $(grep -c 'raced with transaction' "$T_LOG_FILE" || true) read again after a race"
# Caught up: a last change after all others is in the output (commit order).
t_sql "INSERT INTO k_comp VALUES (-1, 'sentinel', 'sentinel', -1)"
newest() { find "$T_OUT/public.k_comp" -name '*.jsonl' | sort | tail -n 1; }
t_wait_for 60 'grep -qF "\"v\":\"sentinel\"" "$(newest)"'

# Replay each table's events by its key; PostgreSQL compares the result with
# the table after reading the JSON values back into the column types.
for t in $TABLES; do
	case $t in public.k_comp) key=a,b ;; *) key=k ;; esac
	python3 - "$T_OUT" "$t" "$key" "$T_DIR/state.csv" <<'PY' || t_fail "$t: snapshot rows wrong"
import collections, json, sys
sys.path.insert(0, "scripts")
import events as E
root, table, keys, out = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
key = lambda row: tuple(json.dumps(row[k]) for k in keys)
rows, r = {}, collections.Counter()
evs = E.events(root, table)
for ev in evs:
    op, snap = ev["op"], ev["source"]["snapshot"]
    if (op == "r") != (snap in ("true", "last")) or snap not in ("true", "last", "false"):
        print("%s: %s event with source.snapshot %r" % (table, op, snap))
        sys.exit(1)
    if op == "r":
        r[key(ev["after"])] += 1
    if op == "d":
        rows.pop(key(ev["before"]), None)
        continue
    if op == "u" and ev["before"] and all(ev["before"].get(k) is not None for k in keys):
        rows.pop(key(ev["before"]), None)
    rows[key(ev["after"])] = ev["after"]
twice = [k for k, n in r.items() if n > 1]
if twice:
    print("%s: %d keys with more than one snapshot row, e.g. %s" % (table, len(twice), twice[:5]))
    sys.exit(1)
last = sum(1 for e in evs if e["op"] == "r" and e["source"]["snapshot"] == "last")
print("%s: %d events, %d snapshot rows (%d of the last chunk), %d changes; %d rows rebuilt"
      % (table, len(evs), sum(r.values()), last, len(evs) - sum(r.values()), len(rows)))
# One JSON object per line; quote and delimiter bytes that JSON never holds raw.
with open(out, "w") as fh:
    for row in rows.values():
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
PY
	t_same_rows "$t" "$T_DIR/state.csv"
done
t_pgcdc_stop

# ---- mode "never": rows that exist do not appear, later changes do.
t_sql "CREATE TABLE public.nv (id int PRIMARY KEY, v text)"
t_sql "INSERT INTO nv SELECT i, 'old' FROM generate_series(1, 100) i"
phase never nv public.nv never
t_pgcdc_start
t_wait_for 30 "t_slot_active nv"
t_sql "INSERT INTO nv VALUES (101, 'new'); UPDATE nv SET v = 'upd' WHERE id = 1; DELETE FROM nv WHERE id = 2"
t_sql "INSERT INTO nv VALUES (102, 'last')"
t_wait_for 30 'grep -qF "\"v\":\"last\"" "$T_OUT"/public.nv/*.jsonl'
scripts/events.py "$T_OUT" public.nv --show
scripts/events.py "$T_OUT" public.nv --json | python3 -c '
import json, sys
got = [(e["op"], (e["after"] or e["before"])["id"], (e["after"] or {}).get("v")) for e in json.load(sys.stdin)]
sys.exit(got != [("c", 101, "new"), ("u", 1, "upd"), ("d", 2, None), ("c", 102, "last")])' ||
	t_fail "with snapshot mode never, the output must be the later changes and nothing else"
t_pgcdc_stop

# ---- mode "initial_only": every row once, then the worker ends for good.
t_sql "CREATE TABLE public.io (id int PRIMARY KEY, v text)"
t_sql "INSERT INTO io SELECT i, 'r' || i FROM generate_series(1, 2000) i"
phase initial_only io public.io initial_only
t_pgcdc_start
t_wait_for 60 '"$(t_bin)/pgcdc" status -c "$T_CFG" | grep -qE "^slot io +DONE "'
"$(t_bin)/pgcdc" status -c "$T_CFG" | tee "$T_DIR/io-status.txt"
grep -qE "^ *table public\.io +done \(2000 rows\)" "$T_DIR/io-status.txt" || t_fail "status lacks the finished snapshot"
t_wait_for 10 '"$(t_bin)/pgcdc" status -c "$T_CFG" | grep -qE "^sink out +RUNNING "'
grep -qF "slot io DONE 0 0 0" "$T_DIR/initial_only-state/run/status" ||
	t_fail "run_dir status: $(cat "$T_DIR/initial_only-state/run/status")"
kill -0 "$T_PGCDC_PID" || t_fail "the supervisor is gone"
[ -n "$(t_child_pid sink out)" ] || t_fail "no sink process"
[ -z "$(t_child_pid worker io)" ] || t_fail "the worker still runs"
t_wait_for 10 "! t_slot_active io"
scripts/events.py "$T_OUT" public.io --json >"$T_DIR/io.json"
t_sql "SELECT json_agg(t ORDER BY id) FROM io t" >"$T_DIR/io-source.json"
python3 - "$T_DIR/io.json" "$T_DIR/io-source.json" <<'PY' || t_fail "initial_only output is wrong"
import json, sys
evs, src = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ops = sorted(set(e["op"] for e in evs))
got = sorted((e["after"] for e in evs), key=lambda a: a["id"])
if ops != ["r"] or got != src:
    print("ops %s, %d events for %d rows; first differences %s" % (
        ops, len(evs), len(src), [(a, b) for a, b in zip(got, src) if a != b][:3]))
    sys.exit(1)
print("initial_only: %d rows, each once" % len(evs))
PY
t_pgcdc_stop
t_pass
