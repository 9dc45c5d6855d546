#!/usr/bin/env bash
# The tutorial: the existing rows arrive as snapshot events (op r), then the
# tutorial's changes as Debezium events with the right op, before and after,
# row by row; the state rebuilt from the events equals the source table; a
# graceful stop exits 0 and status shows the confirmed position and the
# tables' snapshot state, without the password.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_sql_file tests/fixtures/tutorial.sql
t_sql "ALTER ROLE $T_PGCDC_USER PASSWORD 'sekret-pw-123'"
t_pgcdc_config tutorial "inventory.customers, public.shipments" \
    "host=$PGHOST port=$PGPORT dbname=postgres user=$T_PGCDC_USER password=sekret-pw-123"
t_pgcdc_start
t_wait_for 30 "t_slot_active tutorial"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 10 ]'
t_sql_file tests/fixtures/tutorial-changes.sql
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 16 ]'

scripts/events.py "$T_OUT" --json > "$T_DIR/events.json"
python3 - "$T_DIR/events.json" <<'PY' || t_fail "events differ from the tutorial"
import json, sys
evs = json.load(open(sys.argv[1]))
got = [(e["op"], e["source"]["schema"] + "." + e["source"]["table"], e["before"], e["after"]) for e in evs]
c = lambda i, f, l, m, t=False: {"id": i, "first_name": f, "last_name": l, "email": m, "is_test_account": t}
ship = lambda arrived: {"shipment_id": 1001, "order_id": 10001, "origin": "Beijing",
                        "destination": "Shanghai", "is_arrived": arrived}
snap = [("r", "inventory.customers", None, x) for x in [
    c(1001, "Sally", "Thomas", "sally.thomas@acme.com"), c(1002, "George", "Bailey", "gbailey@foobar.com"),
    c(1003, "Edward", "Walker", "ed@walker.com"), c(1004, "Anne", "Kretchmar", "annek@noanswer.org", True),
    c(1005, "Hugo", "Reyes", "hugo.reyes@example.com"), c(1006, "Priya", "Nair", "priya.nair@example.com"),
    c(1007, "Tom", "Baker", "tom.baker@example.com", True)]]
snap += [("r", "public.shipments", None, {"shipment_id": 1001 + i, "order_id": 10001 + i, "origin": o,
          "destination": d, "is_arrived": False}) for i, (o, d) in
         enumerate([("Beijing", "Shanghai"), ("Hangzhou", "Shanghai"), ("Shanghai", "Hangzhou")])]
want = snap + [
    ("c", "inventory.customers", None, c(1008, "Issac", "Fletcher", "ifletcher@example.com")),
    ("c", "inventory.customers", None, c(1009, "Belle", "Read", "belle.read@example.com")),
    ("u", "inventory.customers", None, c(1001, "Sally", "Brooks", "sally.thomas@acme.com")),
    ("u", "inventory.customers", None, c(1001, "Sally", "Green", "sally.thomas@acme.com")),
    ("d", "inventory.customers", {"id": 1007}, None),
    ("u", "public.shipments", ship(False), ship(True)),
]
# Files are per table: compare each table's events in order.
for table in ("inventory.customers", "public.shipments"):
    g = [x for x in got if x[1] == table]
    w = [x for x in want if x[1] == table]
    if g != w:
        print("table", table, "\n got:", g, "\nwant:", w)
        sys.exit(1)
for e in evs:
    s = e["source"]
    assert s["connector"] == "postgresql" and s["name"] == "tutorial", s
    # Each table fits in one chunk, its last: snapshot "last" on all its rows.
    assert s["snapshot"] == ("last" if e["op"] == "r" else "false") and s["db"] == "postgres", s
    assert isinstance(s["txId"], int) and s["lsn"] > 0 and s["ts_ms"] > 1600000000000, s
lsns = [e["source"]["commit_lsn"] for e in evs if e["source"]["table"] == "customers" and e["op"] != "r"]
assert lsns == sorted(lsns) and len(set(lsns)) == 5, lsns
PY

scripts/events.py "$T_OUT" inventory.customers --state id > "$T_DIR/state.json"
t_sql "SELECT json_agg(c ORDER BY id) FROM inventory.customers c" > "$T_DIR/source.json"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$T_DIR/state.json" "$T_DIR/source.json" || t_fail "state rebuilt from the events differs from the source"
t_pgcdc_stop
"$(t_bin)/pgcdc" status -c "$T_CFG" > "$T_DIR/status.txt"
grep -q "table inventory.customers .*done (7 rows)" "$T_DIR/status.txt" || t_fail "status lacks the snapshot state"
grep -q "slot tutorial" "$T_DIR/status.txt" || t_fail "status lacks the slot"
grep -q "confirmed 0/0 " "$T_DIR/status.txt" && t_fail "nothing confirmed"
t_no_secret sekret-pw-123
t_pass
