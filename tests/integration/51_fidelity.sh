#!/usr/bin/env bash
# What each event carries, checked event by event against what PostgreSQL
# sent: the four replica identities (before = key columns, the full old row,
# or nothing; a primary key update carries the old key), unchanged TOAST
# values (left out of after and listed in "unchanged", never null), a
# TRUNCATE of several tables with CASCADE and RESTART IDENTITY (one t event
# each), transaction ids and ordinals, and schema changes mid-stream (ADD
# COLUMN with a default, DROP, RENAME COLUMN, ALTER TYPE, RENAME TABLE,
# ALTER SCHEMA RENAME): every event has the shape of its moment.
# Logical decoding messages of users (transactional or not) arrive as op m;
# pgcdc's own (prefix pgcdc-) never do.  A replicated transaction names its
# origin in source.origin.
# `pgcdc check` names the table whose UPDATE/DELETE cannot be published.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_pgcdc_ddl_trigger	# pgcdc's role is no superuser (README: PostgreSQL role)

t_sql "CREATE SCHEMA s;
CREATE TABLE s.rdef (id int PRIMARY KEY, v text, big text);
CREATE TABLE s.rfull (a int, v text, big text);
ALTER TABLE s.rfull REPLICA IDENTITY FULL;
CREATE TABLE s.ridx (a int NOT NULL, b int NOT NULL, v text);
CREATE UNIQUE INDEX ridx_ab ON s.ridx (a, b);
ALTER TABLE s.ridx REPLICA IDENTITY USING INDEX ridx_ab;
CREATE TABLE s.rnone (a int, v text);
ALTER TABLE s.rnone REPLICA IDENTITY NOTHING;
CREATE TABLE s.par (id serial PRIMARY KEY, v text);
CREATE TABLE s.chi (id int PRIMARY KEY, par int REFERENCES s.par, v text);
CREATE TABLE s.sc (id int PRIMARY KEY, a int, b text)"
TABLES="s.rdef s.rfull s.ridx s.rnone s.par s.chi s.sc"
T_SINKS=2 T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config fid "$TABLES"
# The second sink adds Debezium's transaction metadata.
sed -i 's|\(dir = "[^"]*out2";\) }|\1 transactions = true; }|' "$T_CFG"
grep -q "transactions = true" "$T_CFG" || t_fail "config edit failed"

# check: rnone has no identity, so its UPDATE and DELETE would fail.
"$(t_bin)/pgcdc" check -c "$T_CFG" >"$T_DIR/check.txt" 2>&1 && t_fail "check passed a table without identity"
cat "$T_DIR/check.txt"
grep -q "table s.rnone has no usable replica identity" "$T_DIR/check.txt" || t_fail "check does not name s.rnone"
grep -qE "rdef|rfull|ridx" "$T_DIR/check.txt" && t_fail "check complains about a table with an identity"

t_pgcdc_start
t_wait_for 30 "t_slot_active fid"
# 3 kB of hex: stored out of line, not compressible.
BIG="(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g)"
t_sql_file /dev/stdin >/dev/null <<SQL
INSERT INTO s.rdef VALUES (1, 'a', $BIG), (2, 'b', NULL);
UPDATE s.rdef SET v = 'a2' WHERE id = 1;
UPDATE s.rdef SET id = 10 WHERE id = 1;
DELETE FROM s.rdef WHERE id = 2;
INSERT INTO s.rfull VALUES (1, 'x', $BIG), (2, NULL, NULL);
UPDATE s.rfull SET v = 'x2' WHERE a = 1;
DELETE FROM s.rfull WHERE a = 2;
INSERT INTO s.ridx VALUES (1, 1, 'p');
UPDATE s.ridx SET v = 'p2' WHERE a = 1;
UPDATE s.ridx SET b = 2 WHERE a = 1;
DELETE FROM s.ridx WHERE a = 1;
INSERT INTO s.rnone VALUES (1, 'n');
INSERT INTO s.par (v) VALUES ('p1'), ('p2');
INSERT INTO s.chi VALUES (1, 1, 'c');
BEGIN;
INSERT INTO s.rnone VALUES (2, 'with message');
SELECT pg_logical_emit_message(true, 'app', 'hello');
SELECT pg_logical_emit_message(true, 'pgcdc-wm', 'ours: never in the output');
COMMIT;
SELECT pg_logical_emit_message(false, 'app-nt', '\x00ff'::bytea);
-- A non-transactional message ends where the next commit record starts:
-- the transaction around it must not be taken for one already held.
SELECT pg_logical_emit_message(true, 'app-tx', 'a'), pg_logical_emit_message(false, 'app-nt2', 'b');
SELECT pg_replication_origin_create('upstream');
SELECT pg_replication_origin_session_setup('upstream');
INSERT INTO s.rnone VALUES (3, 'from upstream');
SELECT pg_replication_origin_session_reset();
BEGIN;
INSERT INTO s.rdef VALUES (3, 'in-truncate', NULL);
TRUNCATE s.par, s.rdef RESTART IDENTITY CASCADE;
INSERT INTO s.par (v) VALUES ('after');
COMMIT;
INSERT INTO s.sc VALUES (1, 1, 'one');
ALTER TABLE s.sc ADD COLUMN c int DEFAULT 7;
INSERT INTO s.sc VALUES (2, 2, 'two');
UPDATE s.sc SET a = 11 WHERE id = 1;
ALTER TABLE s.sc DROP COLUMN b;
INSERT INTO s.sc VALUES (3, 3, 3);
ALTER TABLE s.sc RENAME COLUMN a TO a2;
INSERT INTO s.sc VALUES (4, 4, 4);
ALTER TABLE s.sc ALTER COLUMN a2 TYPE numeric(10,2);
INSERT INTO s.sc VALUES (5, 5.5, 5);
ALTER TABLE s.sc RENAME TO sc2;
INSERT INTO s.sc2 VALUES (6, 6, 6);
ALTER SCHEMA s RENAME TO s2;
INSERT INTO s2.sc2 VALUES (7, 7, 7);
INSERT INTO s2.rdef VALUES (10, 'last', NULL);
INSERT INTO s2.rnone VALUES (99, 'end');
SQL
t_wait_for 30 'grep -qsF "\"v\":\"end\"" "$T_OUT"/s2.rnone/*.jsonl'
# A transaction's events share its txId and count 1, 2, ... within it.
scripts/events.py "$T_OUT" --json >"$T_DIR/events.json"
python3 - "$T_DIR/events.json" "$(t_sql "SELECT $BIG")" <<'PY' || t_fail "events differ"
import json, sys
evs, big = json.load(open(sys.argv[1])), sys.argv[2]
# commit order over all tables: by commit_lsn, then ordinal
evs.sort(key=lambda e: (e["source"]["commit_lsn"], e["source"]["ordinal"]))
got = [("m", e["message"]["prefix"], e["message"]["content"], None, None) if e["op"] == "m" else
       (e["op"], e["source"]["schema"] + "." + e["source"]["table"], e["before"], e["after"],
        e.get("unchanged")) for e in evs]
want = [
    ("c", "s.rdef", None, {"id": 1, "v": "a", "big": big}, None),
    ("c", "s.rdef", None, {"id": 2, "v": "b", "big": None}, None),
    ("u", "s.rdef", None, {"id": 1, "v": "a2"}, ["big"]),
    ("u", "s.rdef", {"id": 1}, {"id": 10, "v": "a2"}, ["big"]),
    ("d", "s.rdef", {"id": 2}, None, None),
    ("c", "s.rfull", None, {"a": 1, "v": "x", "big": big}, None),
    ("c", "s.rfull", None, {"a": 2, "v": None, "big": None}, None),
    ("u", "s.rfull", {"a": 1, "v": "x", "big": big}, {"a": 1, "v": "x2"}, ["big"]),
    ("d", "s.rfull", {"a": 2, "v": None, "big": None}, None, None),
    ("c", "s.ridx", None, {"a": 1, "b": 1, "v": "p"}, None),
    ("u", "s.ridx", None, {"a": 1, "b": 1, "v": "p2"}, None),
    ("u", "s.ridx", {"a": 1, "b": 1}, {"a": 1, "b": 2, "v": "p2"}, None),
    ("d", "s.ridx", {"a": 1, "b": 2}, None, None),
    ("c", "s.rnone", None, {"a": 1, "v": "n"}, None),
    ("c", "s.par", None, {"id": 1, "v": "p1"}, None),
    ("c", "s.par", None, {"id": 2, "v": "p2"}, None),
    ("c", "s.chi", None, {"id": 1, "par": 1, "v": "c"}, None),
    ("c", "s.rnone", None, {"a": 2, "v": "with message"}, None),
    ("m", "app", "aGVsbG8=", None, None),
    ("m", "app-nt", "AP8=", None, None),
    ("m", "app-nt2", "Yg==", None, None),
    ("m", "app-tx", "YQ==", None, None),
    ("c", "s.rnone", None, {"a": 3, "v": "from upstream"}, None),
    ("c", "s.rdef", None, {"id": 3, "v": "in-truncate", "big": None}, None),
    ("t", "s.par", None, None, None),
    ("t", "s.rdef", None, None, None),
    ("t", "s.chi", None, None, None),
    ("c", "s.par", None, {"id": 1, "v": "after"}, None),
    ("c", "s.sc", None, {"id": 1, "a": 1, "b": "one"}, None),
    ("c", "s.sc", None, {"id": 2, "a": 2, "b": "two", "c": 7}, None),
    ("u", "s.sc", None, {"id": 1, "a": 11, "b": "one", "c": 7}, None),
    ("c", "s.sc", None, {"id": 3, "a": 3, "c": 3}, None),
    ("c", "s.sc", None, {"id": 4, "a2": 4, "c": 4}, None),
    ("c", "s.sc", None, {"id": 5, "a2": "5.50", "c": 5}, None),
    ("c", "s.sc2", None, {"id": 6, "a2": "6.00", "c": 6}, None),
    ("c", "s2.sc2", None, {"id": 7, "a2": "7.00", "c": 7}, None),
]
tail = [("c", "s2.rdef", None, {"id": 10, "v": "last", "big": None}, None),
        ("c", "s2.rnone", None, {"a": 99, "v": "end"}, None)]
# The truncated tables' order inside the TRUNCATE follows PostgreSQL's list.
def norm(rows):
    return [r[:1] + r[1:] if r[0] != "t" else ("t", r[1]) for r in rows]
g, w = got[:len(want)], want
trunc_g = sorted(r[1] for r in g if r[0] == "t")
trunc_w = sorted(r[1] for r in w if r[0] == "t")
ok = trunc_g == trunc_w and [r for r in g if r[0] != "t"] == [r for r in w if r[0] != "t"] \
    and got[len(want):] == tail
if not ok:
    for i, (a, b) in enumerate(zip(got, want + tail)):
        if a != b:
            print("event %d:\n  got  %s\n  want %s" % (i, a, b))
    if len(got) != len(want) + len(tail):
        print("%d events, want %d" % (len(got), len(want) + len(tail)))
    sys.exit(1)
origins = {(e["after"] or {}).get("v"): e["source"]["origin"] for e in evs if e["op"] != "m"}
if origins.pop("from upstream") != "upstream" or set(origins.values()) != {None}:
    print("source.origin: %s" % origins)
    sys.exit(1)
# Transaction metadata: one txId per transaction, ordinals 1..n inside it.
by_tx = {}
for e in evs:
    by_tx.setdefault((e["source"]["txId"], e["source"]["commit_lsn"]), []).append(e["source"]["ordinal"])
bad = {k: v for k, v in by_tx.items() if sorted(v) != list(range(1, len(v) + 1))}
if bad:
    print("ordinals not 1..n within a transaction: %s" % bad)
    sys.exit(1)
trunc_tx = {(e["source"]["txId"]) for e in evs if e["op"] == "t"}
if len(trunc_tx) != 1 or len(by_tx) < 20:
    print("transactions: %d, truncate in %s" % (len(by_tx), trunc_tx))
    sys.exit(1)
print("%d events in %d transactions as expected" % (len(evs), len(by_tx)))
PY
# With transactions = true: the same events, each with a "transaction" block
# (id, total_order 1..n, data_collection_order 1..n per table), and BEGIN /
# END pairs whose counts match.
t_wait_for 30 'grep -qsF "\"v\":\"end\"" "$T_OUT"2/s2.rnone/*.jsonl'
scripts/events.py "$T_OUT"2 --json >"$T_DIR/events2.json"
python3 - "$T_DIR/events.json" "$T_DIR/events2.json" "$T_OUT"2/@transactions.fid <<'PY' || t_fail "transaction metadata wrong"
import collections, glob, json, sys
plain, evs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
txs = [json.loads(l) for f in sorted(glob.glob(sys.argv[3] + "/*.jsonl")) for l in open(f)]
# ts_ms is when a sink wrote; a non-transactional message has no commit
# time, so its source.ts_ms is that too.
def strip(e):
    e = {k: v for k, v in e.items() if k not in ("transaction", "ts_ms")}
    if e["op"] == "m" and e["source"]["txId"] == 0:
        e["source"] = {k: v for k, v in e["source"].items() if k != "ts_ms"}
    return e
key = lambda e: (e["source"]["commit_lsn"], e["source"]["ordinal"])
data = [e for e in evs if "source" in e]
dump = lambda e: json.dumps(strip(e), sort_keys=True)
if sorted(map(dump, data)) != sorted(map(dump, plain)):
    print("the events differ from the sink without transaction metadata")
    sys.exit(1)
by_id = collections.defaultdict(list)
for e in sorted(data, key=key):
    by_id[e["transaction"]["id"]].append(e)
ok = True
for tid, es in by_id.items():
    if [e["transaction"]["total_order"] for e in es] != list(range(1, len(es) + 1)):
        print("%s: total_order %s" % (tid, [e["transaction"]["total_order"] for e in es])); ok = False
    per = collections.Counter()
    for e in es:
        t = e["message"]["prefix"] if e["op"] == "m" else e["source"]["schema"] + "." + e["source"]["table"]
        per[t] += 1
        if e["op"] != "m" and e["transaction"]["data_collection_order"] != per[t]:
            print("%s: data_collection_order %s, want %d" % (tid, e["transaction"], per[t])); ok = False
begins = [t["id"] for t in txs if t["status"] == "BEGIN"]
ends = {t["id"]: t for t in txs if t["status"] == "END"}
if [t["status"] for t in txs] != ["BEGIN", "END"] * (len(txs) // 2) or sorted(begins) != sorted(by_id):
    print("BEGIN/END do not pair with the transactions of the events"); ok = False
for tid, es in by_id.items():
    end = ends.get(tid, {})
    if end.get("event_count") != len(es):
        print("%s: END event_count %s, %d events" % (tid, end.get("event_count"), len(es))); ok = False
    tables = collections.Counter(e["source"]["schema"] + "." + e["source"]["table"] for e in es if e["op"] != "m")
    got = {d["data_collection"]: d["event_count"] for d in end.get("data_collections", [])}
    if any(got.get(t) != n for t, n in tables.items()):
        print("%s: data_collections %s, want %s" % (tid, got, dict(tables))); ok = False
print("transaction metadata: %d transactions, BEGIN/END paired" % len(by_id))
sys.exit(0 if ok else 1)
PY
t_pgcdc_stop
t_pass
