#!/usr/bin/env bash
# Prometheus metrics: with metrics = "127.0.0.1:PORT" the supervisor serves
# /metrics in the text exposition format: pgcdc_up, the source, each slot's
# state, positions, lag, retained WAL, snapshot tables and each sink's
# acked position, consistent with `pgcdc status`; other paths answer 404;
# after a stop the port is closed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_sql_file tests/fixtures/tutorial.sql
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
T_CFG_EXTRA="metrics = \"127.0.0.1:$port\";" t_pgcdc_config tutorial "inventory.customers, public.shipments"
t_pgcdc_start
t_wait_for 30 "t_slot_active tutorial"
t_sql_file tests/fixtures/tutorial-changes.sql
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 16 ]'
scrape() { python3 -c 'import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=10).read().decode())' "$port" "$1"; }
t_wait_for 30 'scrape /metrics | grep -q "pgcdc_snapshot_tables{slot=\"tutorial\",state=\"done\"} 2"'
t_wait_for 30 'scrape /metrics | grep -q "pgcdc_slot_state{slot=\"tutorial\",state=\"RUNNING\"} 1"'
scrape /metrics >"$T_DIR/metrics.txt"
cat "$T_DIR/metrics.txt"
acked=$("$(t_bin)/pgcdc" status -c "$T_CFG" --json | python3 -c 'import json, sys
s = json.load(sys.stdin)["sinks"][0]["acked"]["tutorial"]
hi, lo = s.split("/"); print(int(hi, 16) << 32 | int(lo, 16))')
python3 - "$T_DIR/metrics.txt" "$acked" <<'PY' || t_fail "metrics wrong"
import re, sys
text, acked = open(sys.argv[1]).read(), int(sys.argv[2])
sample = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9]+(\.[0-9]+)?)$')
values, typed = {}, set()
for line in text.splitlines():
    if line.startswith("# TYPE "):
        typed.add(line.split()[2])
    elif line.startswith("# HELP ") or not line:
        continue
    else:
        m = sample.match(line)
        if not m or m.group(1) not in typed:
            print("not a valid sample (or no TYPE before it): %r" % line)
            sys.exit(1)
        values[m.group(1) + (m.group(2) or "")] = float(m.group(4))
want = {
    "pgcdc_up": 1, "pgcdc_source_up": 1,
    'pgcdc_slot_active{slot="tutorial"}': 1,
    'pgcdc_snapshot_tables{slot="tutorial",state="pending"}': 0,
    'pgcdc_sink_state{sink="out",state="RUNNING"}': 1,
}
bad = {k: (values.get(k), v) for k, v in want.items() if values.get(k) != v}
if bad:
    print("metrics differ (got, want): %s" % bad)
    sys.exit(1)
got = values.get('pgcdc_sink_acked_lsn{sink="out",slot="tutorial"}')
if got is None or got < acked or got <= 0:
    print("acked lsn %s, status says %d" % (got, acked))
    sys.exit(1)
for k in ('pgcdc_slot_lag_bytes{slot="tutorial"}', 'pgcdc_slot_retained_wal_bytes{slot="tutorial"}',
          'pgcdc_slot_confirmed_lsn{slot="tutorial"}'):
    if k not in values:
        print("missing %s" % k)
        sys.exit(1)
print("%d samples, valid exposition format" % len(values))
PY
code=$(python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=10)
    print(200)
except urllib.error.HTTPError as e:
    print(e.code)' "$port")
t_assert_eq 404 "$code" "status of GET /"
t_pgcdc_stop
scrape /metrics >/dev/null 2>&1 && t_fail "the metrics port is still open after the stop"
t_pass
