#!/usr/bin/env bash
# The kafka sink against librdkafka's mock cluster, hosted by the helper
# tests/kafka_mock.c in a process of its own (no broker on these machines),
# so the sink can be killed and restarted against the same cluster.
# 1. The tutorial (snapshot, changes), a 20,000-row transaction (past the
#    sink's 4 MiB buffer: streamed into a Kafka transaction of its own),
#    logical messages and a TRUNCATE, through one slot feeding a jsonl and a
#    kafka sink: each topic holds, read_committed, the jsonl sink's events of
#    its table, same values, keys = the key columns, per partition in commit
#    order, a truncate once in every partition; position records per slot.
# 2. Small transactions while the kafka sink is SIGKILLed 4 times, then a
#    SIGKILL while a 30,000-row transaction streams, then the worker's
#    SIGKILL while another one streams (the sink aborts that Kafka
#    transaction and takes the whole one again): nothing lost or duplicated,
#    per partition in commit order.  librdkafka 2.0's mock broker writes no
#    transaction markers, so what was aborted or left open stays readable;
#    the check hides it as a broker would: a message counts if its sink run
#    (told apart by kill times) wrote a later position record and it is not
#    of a transaction that run logged as aborted.  Each restart must resume
#    exactly at the last position record written before the kill.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
KILLS=${KAFKA_KILLS:-4}
t_setup
bin=$(t_bin)
make --no-print-directory -s ${SANITIZE:+SANITIZE=$SANITIZE} "${bin#"$T_REPO"/}/tests/kafka_mock" >/dev/null ||
	t_fail "cannot build tests/kafka_mock"
MOCK=$bin/tests/kafka_mock
# The mock keeps the last 5 MiB of a partition: big topics get more of them.
t_bg "$MOCK" serve 3 "$T_DIR/bootstrap" pgcdc.public.bulk=8 pgcdc.public.big=32 2>>"$T_DIR/mock.log"
t_wait_for 10 '[ -s "$T_DIR/bootstrap" ]'
BROKERS=$(cat "$T_DIR/bootstrap")

# kafka_config SLOT TABLES JSONL(0|1): one slot feeding sink "bus" (kafka)
# and, with JSONL=1, sink "out" (jsonl) too.
kafka_config() {
	t_pgcdc_config "$1" "$2"
	local sinks='"bus"' defs="{ name = \"bus\"; type = \"kafka\"; brokers = \"$BROKERS\"; topic_prefix = \"pgcdc\"; }"
	if [ "$3" = 1 ]; then
		sinks='"out", "bus"'
		defs="{ name = \"out\"; type = \"jsonl\"; dir = \"$T_OUT\"; }, $defs"
	fi
	sed -i "s|sinks = \[ \"out\" \];|sinks = [ $sinks ];|; s|^sinks = (.*);|sinks = ( $defs );|" "$T_CFG"
	grep -q '"bus"' "$T_CFG" || t_fail "config edit failed"
}
dump() { "$MOCK" dump "$BROKERS" pgcdc >"$1"; }
# Events in the data topics of a dump, a truncate counted once.
distinct_events() {
	python3 - "$1" <<'PY'
import json, sys
seen = set()
for m in map(json.loads, open(sys.argv[1])):
    if m["topic"] != "pgcdc.pgcdc_positions":
        s = json.loads(m["value"])["source"]
        seen.add((m["topic"], s["commit_lsn"], s["ordinal"]))
print(len(seen))
PY
}

# ---- 1. the tutorial, through jsonl and kafka ----
t_sql_file tests/fixtures/tutorial.sql
t_sql "CREATE TABLE public.bulk (id int PRIMARY KEY, pad text NOT NULL)"
kafka_config tutorial "inventory.customers, public.shipments, public.bulk" 1
t_pgcdc_start
t_wait_for 30 "t_slot_active tutorial"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 10 ]'
t_sql_file tests/fixtures/tutorial-changes.sql
t_sql_file /dev/stdin >/dev/null <<'SQL'
INSERT INTO public.bulk SELECT g, repeat('x', 400) FROM generate_series(1, 20000) g;
UPDATE public.bulk SET pad = 'small' WHERE id <= 3;
SELECT pg_logical_emit_message(true, 'app', 'hello');
SELECT pg_logical_emit_message(false, 'app-nt', '\x00ff'::bytea);
TRUNCATE public.shipments;
INSERT INTO public.shipments (order_id, origin, destination, is_arrived) VALUES (10004, 'Xian', 'Beijing', false);
SQL
EVENTS=$((10 + 6 + 20000 + 3 + 2 + 2))
t_wait_for 60 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge '$EVENTS' ]'
# The kafka side: every event once (a truncate is in each partition).
t_wait_for 60 'dump "$T_DIR/k1.json" && [ "$(distinct_events "$T_DIR/k1.json")" -ge '$EVENTS' ]'
t_pgcdc_stop
dump "$T_DIR/k1.json"
scripts/events.py "$T_OUT" --json >"$T_DIR/jsonl.json"
python3 - "$T_DIR/k1.json" "$T_DIR/jsonl.json" <<'PY' || t_fail "kafka topics differ from the jsonl sink"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
jsonl = json.load(open(sys.argv[2]))
pos = lambda e: (e["source"]["commit_lsn"], e["source"]["ordinal"])

def name(e):
    if e["op"] == "m":
        return "pgcdc.message"
    return "pgcdc.%s.%s" % (e["source"]["schema"], e["source"]["table"])

def strip(e):
    # The top-level ts_ms is each sink's own processing time, and so is the
    # source.ts_ms of a message outside a transaction (it has no commit).
    e = {k: v for k, v in e.items() if k != "ts_ms"}
    if e["source"]["txId"] == 0:
        e["source"] = {k: v for k, v in e["source"].items() if k != "ts_ms"}
    return e

topics = {}
for m in msgs:
    topics.setdefault(m["topic"], []).append(m)
posrec = [json.loads(m["value"]) for m in topics.pop("pgcdc.pgcdc_positions")]
want = {}
for e in jsonl:
    want.setdefault(name(e), []).append(e)
assert sorted(topics) == sorted(want), (sorted(topics), sorted(want))
keycols = {"pgcdc.inventory.customers": ["id"], "pgcdc.public.bulk": ["id"], "pgcdc.public.shipments": None}
for t, ms in topics.items():
    parts = {}
    for m in ms:
        m["ev"] = json.loads(m["value"])
        parts.setdefault(m["partition"], []).append(m)
    key_part = {}
    for p, pm in parts.items():
        assert [m["offset"] for m in pm] == sorted(m["offset"] for m in pm), t
        seq = [pos(m["ev"]) for m in pm]
        assert seq == sorted(seq) and len(set(seq)) == len(seq), "%s [%d] not in commit order" % (t, p)
        for m in pm:
            e, key = m["ev"], m["key"] and json.loads(m["key"])
            if e["op"] == "t":
                assert key is None, (t, m)
                continue
            if e["op"] == "m":
                assert key == {"prefix": e["message"]["prefix"]}, (t, m)
            elif keycols[t] is None:    # REPLICA IDENTITY FULL: whole row, partition 0
                assert p == 0 and key == (e["before"] if e["op"] == "d" else e["after"]), (t, m)
            else:
                row = e["before"] if e["op"] == "d" else e["after"]
                assert key == {c: row[c] for c in keycols[t]}, (t, m)
            assert key_part.setdefault(json.dumps(key), p) == p, "%s: key %s in two partitions" % (t, key)
    truncs = {}
    for m in ms:
        if m["ev"]["op"] == "t":
            truncs.setdefault(pos(m["ev"]), []).append(m["partition"])
    for k, ps in truncs.items():
        assert sorted(ps) == list(range(len(ps))) and set(parts) <= set(ps), \
            "%s: truncate %s in partitions %s, messages in %s" % (t, k, ps, sorted(parts))
    seen, merged = set(), []
    for m in sorted(ms, key=lambda m: pos(m["ev"])):
        if pos(m["ev"]) not in seen:
            seen.add(pos(m["ev"]))
            merged.append(strip(m["ev"]))
    w = [strip(e) for e in want[t]]
    if merged != w:
        first = next(i for i, (a, b) in enumerate(zip(merged + [None] * len(w), w)) if a != b)
        print("%s: %d events, jsonl %d; first difference at %d:\n kafka %s\n jsonl %s" %
              (t, len(merged), len(w), first, merged[first] if first < len(merged) else None, w[first]))
        sys.exit(1)
    print("%s: %d events in %d partition(s) equal the jsonl sink's%s" %
          (t, len(merged), len(parts), "; %d truncate(s) in every partition" % len(truncs) if truncs else ""))
last = posrec[-1]
assert all(r["sink"] == "bus" and r["slot"] == "tutorial" for r in posrec), posrec[:3]
assert last["end_lsn"] > max(e["source"]["commit_lsn"] for e in jsonl), last
assert last["chunks"].get("inventory.customers", 0) >= 1 and last["chunks"].get("public.shipments", 0) >= 1, last
print("%d position records; the last: %s" % (len(posrec), json.dumps(last)))
PY
grep -q "transaction .* is past 4 MiB: streaming it" "$T_DIR/pgcdc.log" ||
	t_fail "the 20,000-row transaction did not stream into a Kafka transaction of its own"

# ---- 2. SIGKILL of the kafka sink during a stream of small transactions,
# and while a large one streams; SIGKILL of the worker while a large one
# streams (the sink aborts that Kafka transaction) ----
t_sql "CREATE TABLE public.audit (seq int PRIMARY KEY, v text NOT NULL, touched int NOT NULL DEFAULT 0)"
t_sql "CREATE TABLE public.big (id int PRIMARY KEY, pad text NOT NULL)"
: >"$T_DIR/pgcdc.log"
# A small intake window keeps the worker close behind the sink, so a large
# transaction is still arriving when a process is killed.
T_CFG_EXTRA='snapshot = { mode = "never"; }; max_unacked_bytes = 1048576;' \
	kafka_config eo "public.audit, public.big" 0
t_pgcdc_start
t_wait_for 30 "t_slot_active eo"
runs=1
t_wait_for 30 'grep -q "kafka: slot eo: nothing in pgcdc.pgcdc_positions yet" "$T_DIR/pgcdc.log"'
: >"$T_DIR/kills"
# kill_sink [PID]: SIGKILL the kafka sink (PID: it was, by on_spill) and
# wait for the next one to have read its positions.
kill_sink() {
	local pid=${1:-}
	if [ -z "$pid" ]; then
		pid=$(t_child_pid sink bus)
		[ -n "$pid" ] || t_fail "no kafka sink to kill"
		kill -9 "$pid"
	fi
	t_wait_for 10 "! kill -0 $pid"
	python3 -c 'import time; print(int(time.time() * 1000))' >>"$T_DIR/kills"
	echo "killed the kafka sink, pid $pid"
	runs=$((runs + 1))
	t_wait_for 90 '[ "$(grep -c "kafka: slot eo: pgcdc.pgcdc_positions holds\|kafka: slot eo: nothing in" "$T_DIR/pgcdc.log")" -ge '$runs' ]'
}
spills() { grep -c "kafka: slot eo: transaction .* is past 4 MiB" "$T_DIR/pgcdc.log" || true; }
# on_spill SINK SIG:PID...: in the background ($watcher), send the signals
# the moment the sink logs that the next transaction is past its buffer.  A
# large transaction takes a fraction of a second to go through, and on a
# busy machine this watcher can wake later than that: so it holds the sink
# (pid SINK) stopped but for 2 ms slices, and checks the log while the sink
# is stopped.
on_spill() {
	python3 - "$T_DIR/pgcdc.log" "$(spills)" "$@" <<'PY' &
import os, signal, sys, time
log, c0, sink = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sigs = [a.split(":") for a in sys.argv[4:]]
count = lambda: sum("kafka: slot eo: transaction " in l and " is past 4 MiB" in l for l in open(log))
end = time.time() + 60
while time.time() < end:
    os.kill(sink, signal.SIGSTOP)
    if count() > c0:
        for sig, pid in sigs:
            os.kill(int(pid), getattr(signal, "SIG" + sig))
        sys.exit(0)
    os.kill(sink, signal.SIGCONT)
    time.sleep(0.002)
sys.exit(1)
PY
	watcher=$!
	t_track "$watcher"
}
confirmed_past() {
	[ "$(t_sql "SELECT confirmed_flush_lsn >= '$1' FROM pg_replication_slots WHERE slot_name = 'eo'")" = t ]
}

# The writer: transaction i inserts row i, every 3rd also updates row i - 1,
# every 7th deletes row i - 5; about 300 a second until $T_DIR/stop exists.
python3 - "$T_DIR/stop" <<'PY' | "$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 >"$T_DIR/writer.log" 2>&1 &
import os, sys, time
i = 0
while not os.path.exists(sys.argv[1]):
    i += 1
    sql = ["INSERT INTO audit (seq, v) VALUES (%d, 'row %d');" % (i, i)]
    if i % 3 == 0:
        sql.append("UPDATE audit SET touched = touched + 1, v = v || '+' WHERE seq = %d;" % (i - 1))
    if i % 7 == 0:
        sql.append("DELETE FROM audit WHERE seq = %d;" % (i - 5))
    print("BEGIN;", *sql, "COMMIT;", flush=True)
    if i % 3 == 0:
        time.sleep(0.01)
PY
writer=$!
t_track "$writer"
for ((i = 1; i <= KILLS; i++)); do
	sleep "$(python3 -c 'import random; print(round(random.uniform(0.5, 1.5), 2))')"
	kill_sink
done
touch "$T_DIR/stop"
wait "$writer" || t_fail "writer failed: $(cat "$T_DIR/writer.log")"
N=$(t_sql "SELECT max(seq) FROM audit")
echo "writer committed $N transactions"
BIG=30000
spid=$(t_child_pid sink bus)
on_spill "$spid" KILL:"$spid"
t_sql "INSERT INTO big SELECT g, repeat('b', 400) FROM generate_series(1, $BIG) g"
lsn_a=$(t_sql "SELECT pg_current_wal_lsn()")
wait "$watcher" || t_fail "the large transaction did not stream"
kill_sink "$spid"
t_wait_for 90 "confirmed_past $lsn_a"
# With the sink stopped the worker cannot get more than max_unacked_bytes
# ahead of it, so it dies with most of the transaction unsent.
spid=$(t_child_pid sink bus)
wpid=$(t_child_pid worker eo)
on_spill "$spid" KILL:"$wpid"
t_sql "INSERT INTO big SELECT g, repeat('b', 400) FROM generate_series($BIG + 1, 2 * $BIG) g"
lsn_b=$(t_sql "SELECT pg_current_wal_lsn()")
wait "$watcher" || t_fail "the large transaction did not stream"
t_wait_for 10 "! kill -0 $wpid"
kill -CONT "$spid"
echo "killed the worker, pid $wpid, while the transaction streamed"
t_wait_for 30 'grep -q "kafka: slot eo: aborting the Kafka transaction" "$T_DIR/pgcdc.log"'
t_wait_for 90 "confirmed_past $lsn_b"
t_pgcdc_stop
dump "$T_DIR/k2.json"
grep -o "kafka: slot eo: \(pgcdc.pgcdc_positions holds [0-9A-F/]*\|nothing in\)" "$T_DIR/pgcdc.log" >"$T_DIR/resumes"
grep "kafka: slot eo: aborting the Kafka transaction" "$T_DIR/pgcdc.log" >"$T_DIR/aborts"
python3 - "$T_DIR/k2.json" "$T_DIR/kills" "$T_DIR/resumes" "$T_DIR/aborts" "$N" "$BIG" <<'PY' ||
import bisect, datetime, json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
kills = [int(x) for x in open(sys.argv[2])]
resumes = [l.split()[-1] for l in open(sys.argv[3])]
n, big = int(sys.argv[5]), int(sys.argv[6])
lsn = lambda s: (int(s.split("/")[0], 16) << 32) | int(s.split("/")[1], 16)
fmt = lambda x: "%X/%X" % (x >> 32, x & 0xFFFFFFFF)
ms = lambda t: int(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
                   .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
# Aborted in a running sink: (when, source transaction).
aborts = [(ms(l.split()[0]), lsn(l.split()[-1])) for l in open(sys.argv[4])]
run = lambda m: bisect.bisect_right(kills, m["ts"])     # which sink process wrote it
pos_by_run = {}
for m in msgs:
    if m["topic"] == "pgcdc.pgcdc_positions" and m["key"] == "eo":
        pos_by_run.setdefault(run(m), []).append(json.loads(m["value"])["end_lsn"])
# Each restart resumed where the last position record before the kill was.
held, expect_resume = 0, []
for r in range(len(kills) + 1):
    expect_resume.append(held)
    held = max([held] + pos_by_run.get(r, []))
got_resume = [0 if x == "in" else lsn(x) for x in resumes]
assert got_resume == expect_resume, ("resume positions", got_resume, expect_resume)

# What a broker would show read_committed: messages whose run wrote a
# position record past them, except those of a transaction the sink aborted.
def visible(m, e):
    f = e["source"]["commit_lsn"]
    if any(t >= m["ts"] and a == f for t, a in aborts):
        return False
    return any(p > f for p in pos_by_run.get(run(m), []))

def check(topic, want, keyof):
    vis, hidden, parts = [], 0, {}
    for m in msgs:
        if m["topic"] != topic:
            continue
        e = json.loads(m["value"])
        if visible(m, e):
            vis.append((m, e))
            parts.setdefault(m["partition"], []).append((e["source"]["commit_lsn"], e["source"]["ordinal"]))
        else:
            hidden += 1
    for p, seq in parts.items():
        assert seq == sorted(seq) and len(set(seq)) == len(seq), "%s [%d] not in commit order" % (topic, p)
    evs = sorted(vis, key=lambda x: (x[1]["source"]["commit_lsn"], x[1]["source"]["ordinal"]))
    got = [(e["op"], keyof(e)) for m, e in evs]
    if got != want:
        seen = {}
        for g in got: seen[g] = seen.get(g, 0) + 1
        print("%s: events %d, expected %d; duplicated %s; lost %s" % (topic, len(got), len(want),
              [g for g, k in seen.items() if k > 1][:5], sorted(set(want) - set(got))[:5]))
        sys.exit(1)
    for m, e in evs:
        assert json.loads(m["key"]) == {k: (e["after"] or e["before"])[k] for k in e["after"] or e["before"]
                                        if k in ("seq", "id")}, m
    print("%s: %d events exactly once over %d partitions, in commit order; %d messages hidden"
          % (topic, len(got), len(parts), hidden))
    return hidden

want = []
for i in range(1, n + 1):
    want.append(("c", i))
    if i % 3 == 0: want.append(("u", i - 1))
    if i % 7 == 0: want.append(("d", i - 5))
hidden = check("pgcdc.public.audit", want, lambda e: (e["after"] or e["before"])["seq"])
hidden += check("pgcdc.public.big", [("c", i) for i in range(1, 2 * big + 1)], lambda e: e["after"]["id"])
print("ok: %d sink runs resumed at %s; %d aborted Kafka transaction(s); %d messages in all of "
      "transactions never committed (the mock shows them, a broker would not)"
      % (len(kills) + 1, [fmt(x) for x in got_resume], len(aborts), hidden))
PY
	t_fail "exactly-once violated in Kafka"
t_pass
