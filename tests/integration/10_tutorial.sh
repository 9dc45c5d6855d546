#!/usr/bin/env bash
# The tutorial's changes reach the jsonl sink as Debezium events with the
# right op, before and after, row by row; a graceful stop exits 0 and
# status shows the confirmed position without the password.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_sql_file tests/fixtures/tutorial.sql
t_sql "ALTER ROLE postgres PASSWORD 'sekret-pw-123'"
t_pgcdc_config tutorial "inventory.customers, public.shipments" \
    "host=$PGHOST port=$PGPORT dbname=postgres user=postgres password=sekret-pw-123"
t_pgcdc_start
t_wait_for 30 "t_slot_active tutorial"
t_sql_file tests/fixtures/tutorial-changes.sql
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 6 ]'

scripts/events.py "$T_OUT" --json > "$T_DIR/events.json"
python3 - "$T_DIR/events.json" <<'PY' || t_fail "events differ from the tutorial"
import json, sys
evs = json.load(open(sys.argv[1]))
got = [(e["op"], e["source"]["schema"] + "." + e["source"]["table"], e["before"], e["after"]) for e in evs]
c = lambda i, f, l, m, t=False: {"id": i, "first_name": f, "last_name": l, "email": m, "is_test_account": t}
ship = lambda arrived: {"shipment_id": 1001, "order_id": 10001, "origin": "Beijing",
                        "destination": "Shanghai", "is_arrived": arrived}
want = [
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
    assert s["snapshot"] == "false" and s["db"] == "postgres", s
    assert isinstance(s["txId"], int) and s["lsn"] > 0 and s["ts_ms"] > 1600000000000, s
lsns = [e["source"]["commit_lsn"] for e in evs if e["source"]["table"] == "customers"]
assert lsns == sorted(lsns) and len(set(lsns)) == 5, lsns
PY

t_pgcdc_stop
"$(t_bin)/pgcdc" status -c "$T_CFG" > "$T_DIR/status.txt"
grep -q "slot tutorial" "$T_DIR/status.txt" || t_fail "status lacks the slot"
grep -q "confirmed 0/0 " "$T_DIR/status.txt" && t_fail "nothing confirmed"
t_no_secret sekret-pw-123
t_pass
