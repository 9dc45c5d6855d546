#!/usr/bin/env bash
# Bad input while pgcdc runs: a second `pgcdc run` on the same config is
# refused (the first keeps streaming); garbage sent to the sink's ipc endpoint
# from a ZeroMQ DEALER (random bytes, malformed records, HELLOs for slots that
# are not the peer's or not the sink's) is rejected in the log, the sink keeps
# its pid and the real stream still delivers exactly once; a replication slot
# dropped behind pgcdc's back after progress fails the slot (FAILED, a message
# that changes may have been missed and how to re-snapshot) and no new slot
# is created.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/bad_input.inc"
t_setup
# Debian's python3-zmq (scripts/deps.sh) belongs to /usr/bin/python3, which
# may not be the first python3 on PATH.
ZPY=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import zmq' 2>/dev/null; then ZPY=$p && break; fi
done
[ -n "$ZPY" ] || t_fail "no python3 with the zmq module (apt-get install python3-zmq)"

# The events of public.t as "op:id" words, in order.
events() {
	scripts/events.py "$T_OUT" public.t --json |
		python3 -c 'import json,sys; print(" ".join("%s:%d" % (e["op"], (e["after"] or e["before"])["id"]) for e in json.load(sys.stdin)))'
}

t_sql "CREATE TABLE public.t (id int PRIMARY KEY, v text)"
T_CFG_EXTRA='snapshot = { mode = "never"; };' T_LOG_FILE=$T_DIR/pgcdc.log t_pgcdc_config bi "public.t"
LOG=$T_DIR/pgcdc.log
t_pgcdc_start
t_wait_for 30 "t_slot_active bi"
t_sql "INSERT INTO t VALUES (1, 'one')"
t_wait_for 30 '[ "$(events)" = "c:1" ]'
worker=$(t_child_pid worker bi)
sink=$(t_child_pid sink out)
[ -n "$worker" ] && [ -n "$sink" ] || t_fail "no worker or sink process"

# ---- 6. a second `pgcdc run` on the same config
capture "$T_DIR/second.txt" "$PGCDC" run -c "$T_CFG"
rc=$RC
[ "$rc" != 0 ] && [ "$rc" != 124 ] || t_fail "second pgcdc run: exit code $rc"
if ! grep -q 'already running' "$T_DIR/second.txt"; then
	if grep -q 'already running' "$LOG"; then
		soft_fail "second pgcdc run exits $rc and prints nothing on its terminal;" \
			"the reason is only in the log file: $(grep 'already running' "$LOG")"
	else
		soft_fail "second pgcdc run exits $rc without saying pgcdc is already running: $(cat "$T_DIR/second.txt")"
	fi
fi
grep -q "already running.*(pid $T_PGCDC_PID).*fix: .*pgcdc stop" "$T_DIR/second.txt" "$LOG" ||
	soft_fail "the refusal names neither the running pid $T_PGCDC_PID nor the fix"
_t_alive "$T_PGCDC_PID" || t_fail "the first supervisor died"
"$PGCDC" status -c "$T_CFG" | grep -q "^pgcdc running (pid $T_PGCDC_PID)" ||
	t_fail "status no longer shows the first supervisor"
t_assert_eq "$worker" "$(t_child_pid worker bi)" "worker pid after the second run"
t_assert_eq "$sink" "$(t_child_pid sink out)" "sink pid after the second run"
t_assert_eq "$(printf "%s\n" "$worker" "$sink" | sort -n | xargs)" \
	"$(pgrep -f "pgcdc-(worker|sink) -c $T_CFG " | sort -n | xargs)" \
	"the children of this config after the second run"
t_sql "INSERT INTO t VALUES (2, 'two')"
t_wait_for 30 '[ "$(events)" = "c:1 c:2" ]'

# ---- 7. garbage to the sink's endpoint
ep=ipc://$T_DIR/state/run/sink-out.ipc
[ -S "$T_DIR/state/run/sink-out.ipc" ] || t_fail "no sink socket at $ep"
cat >"$T_DIR/garbage.py" <<'PY'
# Sends bad input to a sink's ROUTER; each peer ends with a bad-version
# frame ("\x09") so the test can tell that all before it was read.
import random, struct, sys, zmq
ep = sys.argv[1]
ctx = zmq.Context()
def rec(kind, body):
    return kind + struct.pack(">I", len(body)) + body
def hello(slot, epoch=1):
    return rec(b"H", struct.pack(">Q", epoch) + slot + b"\0postgres\0")
def peer(ident):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 5000)
    if ident is not None:
        s.setsockopt(zmq.ROUTING_ID, ident)
    s.connect(ep)
    return s
r = random.Random(7)
# Random bytes, an empty frame and a message of three parts.
g = peer(b"garbage")
for n in range(20):
    g.send(bytes(r.randrange(256) for _ in range(r.randrange(8, 300))))
g.send(b"")
g.send_multipart([b"\x07junk", b"\x01more", b"\x01\x00"])
g.send(b"\x09")
# The same from a peer with ZeroMQ's own (binary) routing id, and one with
# an id too long to be a slot name.
a = peer(None)
a.send(bytes(r.randrange(256) for _ in range(64)))
a.send(b"\x01" + hello(b"bi"))
a.send(b"\x09")
big = peer(b"x" * 200)
big.send(hello(b"x" * 200))
big.send(b"\x09")
# Frames of the right version whose records are malformed, then a HELLO for
# the real slot from a peer that is not its worker.
m = peer(b"mallory")
m.send(b"\x01" + b"P" + struct.pack(">I", 1000) + b"short")    # body shorter than its length
m.send(b"\x01" + rec(b"Z", b"abc"))                           # unknown record kind
m.send(b"\x01" + rec(b"H", b"\0\0\0\0"))                      # HELLO body truncated
m.send(b"\x01" + rec(b"P", struct.pack(">Q", 1)))             # PGO without a message
m.send(b"\x01" + rec(b"A", struct.pack(">QQ", 1, 2) + b"bi")) # ACK, unterminated slot
m.send(b"\x02" + hello(b"mallory"))                           # wrong version
m.send(b"\x01" + hello(b"bi"))                                # HELLO for another slot
m.send(b"\x09")
# A HELLO from a peer whose slot does not feed this sink, then changes.
i = peer(b"intruder")
i.send(b"\x01" + hello(b"intruder"))
i.send(b"\x01" + rec(b"P", struct.pack(">Q", 16) + b"B" + b"\0" * 20))
i.send(b"\x01" + rec(b"P", struct.pack(">Q", 17) + b"I\0\0\x40\x00N\0\x01t\0\0\0\x01x"))
i.send(b"\x09")
for s in (g, a, big, m, i):
    s.close()
ctx.term()
PY
timeout -k 5 30 "$ZPY" "$T_DIR/garbage.py" "$ep" || t_fail "garbage.py failed"
for p in garbage mallory intruder; do
	t_wait_for 10 "grep -q 'sink\\[out\\].*frame from $p rejected: bad frame version' '$LOG'"
done
t_wait_for 10 "[ \"\$(grep -c 'sink\\[out\\].*rejected: bad frame version (length 1)' '$LOG')\" -ge 4 ]"
_t_alive "$sink" || t_fail "the sink died on garbage"
t_assert_eq "$sink" "$(t_child_pid sink out)" "sink pid after the garbage"
n=$(grep -c 'sink\[out\].*frame from garbage rejected' "$LOG" || true)
[ "$n" -ge 23 ] || soft_fail "23 bad frames from peer garbage, $n rejections logged"
n=$(grep -c 'sink\[out\].*frame from mallory rejected' "$LOG" || true)
[ "$n" -ge 7 ] || soft_fail "7 bad frames from peer mallory, $n rejections logged:" \
	"$(grep 'sink\[out\].*mallory' "$LOG")"
REJECT='reject|refus|ignor|not configured|does not feed'
grep 'sink\[out\].*HELLO.*mallory' "$LOG" | grep -qiE "$REJECT" ||
	soft_fail "the HELLO for slot bi from peer mallory is not rejected in the log"
grep 'sink\[out\].*intruder' "$LOG" | grep -v 'bad frame version (length 1)' | grep -qiE "$REJECT" ||
	soft_fail "the HELLO for slot intruder (not a slot of sink out) is not rejected;" \
		"sink log lines about it: $(grep 'sink\[out\].*intruder' "$LOG" | grep -v 'bad frame version')"
t_wait_for 10 '[ "$(state sink out)" = RUNNING ]'
t_assert_eq "$worker" "$(t_child_pid worker bi)" "worker pid after the garbage"
t_sql "INSERT INTO t VALUES (3, 'three')"
t_wait_for 30 '[ "$(events)" = "c:1 c:2 c:3" ]'
t_assert_eq "$sink" "$(t_child_pid sink out)" "sink pid after the change"

# ---- 5. the slot dropped behind pgcdc's back after progress
t_pgcdc_stop
t_wait_for 10 '! t_slot_active bi'
t_sql "SELECT pg_drop_replication_slot('bi')" >/dev/null
T_CFG_EXTRA='snapshot = { mode = "never"; };' T_LOG_FILE=$T_DIR/gone.log t_pgcdc_config bi "public.t"
LOG=$T_DIR/gone.log
t_pgcdc_start
t_wait_for 30 'grep -qE "worker bi \(pid [0-9]+\) exited with" "$LOG"'
grep -qE 'worker bi \(pid [0-9]+\) exited with 2$' "$LOG" || t_fail "worker bi did not exit 2"
t_wait_for 5 '[ "$(state slot bi)" = FAILED ]'
grep -E 'worker\[bi\].* error: ' "$LOG" | grep -i 'missed' | grep -qiE 'fix: .*snapshot' ||
	soft_fail "no error saying changes may have been missed with the re-snapshot fix: $(grep ' error: ' "$LOG")"
t_assert_eq 0 "$(t_sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bi'")" \
	"replication slot bi after the refusal (it must not be recreated)"
[ -z "$(t_child_pid worker bi)" ] || t_fail "the failed worker was restarted"
# status names the failure: the worker's last error, and the server's view.
"$PGCDC" status -c "$T_CFG" >"$T_DIR/bi-status.txt" || true
cat "$T_DIR/bi-status.txt"
grep -A3 "^slot bi .*FAILED" "$T_DIR/bi-status.txt" | grep -qE "^  last error \(.*\): .*missed" ||
	t_fail "status does not show the slot's last error"
grep -A3 "^slot bi " "$T_DIR/bi-status.txt" | grep -q "^  server: no such replication slot" ||
	t_fail "status does not say the replication slot is gone"
"$PGCDC" status -c "$T_CFG" --json | python3 -c 'import json, sys
s = [x for x in json.load(sys.stdin)["slots"] if x["slot"] == "bi"][0]
sys.exit("missed" not in s["last_error"]["text"] or s["server"] is not None)' ||
	t_fail "status --json lacks last_error or server"
t_wait_for 10 '[ "$(state sink out)" = RUNNING ]'
t_assert_eq "c:1 c:2 c:3" "$(events)" "sink output after the refusal"
t_pgcdc_stop
soft_verdict
t_pass
