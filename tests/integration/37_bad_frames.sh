#!/usr/bin/env bash
# Garbage at a sink's endpoint while a real stream flows: random bytes,
# truncated and wrong-version frames, multipart and empty messages, a
# 200-byte routing id, a HELLO for the real slot from another peer and
# records of that slot without a HELLO.  The sink keeps running (same pid),
# logs 50 rejections, then one a second at most (with a count of the rest), and
# every row of the real stream arrives exactly once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_python_zmq
t_setup
N=3000
t_sql "CREATE TABLE public.t (id int PRIMARY KEY, v text)"
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config g public.t
t_pgcdc_start
t_wait_for 30 't_slot_active g'
t_wait_for 30 '[ -n "$(t_child_pid sink out)" ]'
sink_pid=$(t_child_pid sink out)

t_bg bash -c "for i in \$(seq 0 99); do
	\"$PGC_BIN/psql\" -XAtq -v ON_ERROR_STOP=1 -c \"INSERT INTO public.t
	    SELECT g, md5(g::text) FROM generate_series(\$((i * 30 + 1)), \$((i * 30 + 30))) g\" || exit 1
done"
writer=$T_BG_PID

"$PY" - "$T_DIR/state/run/sink-out.ipc" >"$T_DIR/garbage.txt" <<'PY' || t_fail "garbage sender failed"
import os, random, struct, sys, time, zmq
ctx = zmq.Context()
def peer(ident):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 2000)
    if ident is not None:
        s.setsockopt(zmq.ROUTING_ID, ident)
    s.connect("ipc://" + sys.argv[1])
    return s
def rec(kind, body):
    return kind + struct.pack(">I", len(body)) + body
hello = b"\x01" + rec(b"H", struct.pack(">Q", 7) + b"g\0postgres\0")
insert = b"I" + struct.pack(">I", 16384) + b"N" + struct.pack(">H", 1) + b"t" + struct.pack(">I", 1) + b"9"
pgo = b"\x01" + rec(b"P", struct.pack(">Q", 1 << 40) + insert)
anon, intruder, longid = peer(None), peer(b"intruder"), peer(b"x" * 200)
rnd = random.Random(10)
sent = 0
end = time.time() + 4
while time.time() < end:
    for _ in range(50):
        anon.send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))))
        anon.send(pgo[:rnd.randrange(1, len(pgo))])          # truncated
        anon.send(b"\x02" + pgo[1:])                          # wrong version
        anon.send_multipart([pgo, b"extra", b"parts"])
        anon.send(b"")
        intruder.send(hello)                                  # HELLO for slot g
        intruder.send(pgo)                                    # g's records, no HELLO
        longid.send(pgo)
        sent += 8
    time.sleep(0.05)
print(sent)
for s in (anon, intruder, longid):
    s.close()
ctx.term()
PY
sent=$(cat "$T_DIR/garbage.txt")
[ "$sent" -ge 1000 ] || t_fail "only $sent garbage messages sent"

wait "$writer" || t_fail "the writer failed"
t_wait_for 60 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge '$N' ]'
got=$(scripts/events.py "$T_OUT" --json | "$PY" -c '
import json, sys
ids = [e["after"]["id"] for e in json.load(sys.stdin)]
print(len(ids), len(set(ids)), min(ids), max(ids))')
t_assert_eq "$N $N 1 $N" "$got" "events: count, distinct ids, min, max"
t_assert_eq "$sink_pid" "$(t_child_pid sink out)" "pid of the sink (it must not have restarted)"

log=$T_DIR/pgcdc.log
lines=$(grep -c 'rejected' "$log" || true)
[ "$lines" -ge 2 ] || t_fail "rejections were not logged: $lines lines"
# 4 s of garbage: a burst of 50 lines, then about one a second, never one
# per message.
[ "$lines" -le 60 ] || t_fail "$lines rejection lines for $sent messages: not rate-limited"
grep -qE 'frame from intruder rejected: HELLO for slot g' "$log" ||
	grep -qE 'more rejected since' "$log" || t_fail "no rejection names the forged HELLO"
grep -qE 'rejected: .* \([1-9][0-9]* more rejected since the last such line\)' "$log" ||
	t_fail "the rate-limited lines do not count what they left out"
t_pgcdc_stop
t_pass
