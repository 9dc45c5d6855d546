#!/usr/bin/env bash
# zmq feed: one slot feeds a jsonl sink, a zmq sink on ipc:// and a CURVE
# zmq sink on tcp://127.0.0.1.  python3-zmq subscribers connect; a probe table
# proves them subscribed (a probe row reaches them) before the tutorial tables
# are added by reload (snapshot rows) and the tutorial changes and two logical
# messages run.  Each admitted subscriber must get every event of the jsonl
# sink, in order, as [topic, JSON] with the same JSON (but for ts_ms from the
# sink's own clock: the top-level one, and a non-transactional message's
# source.ts_ms); a client whose key is not allowed gets nothing and the ZAP
# handler logs its refusal.  Then: a secret key file of mode 0644 stops the
# sink with the fix named, and the config check refuses endpoints open to
# other hosts without keys, malformed client keys, and clients without keys.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_python_zmq
t_setup
t_sql_file tests/fixtures/tutorial.sql
t_sql "CREATE TABLE public.probe (id serial PRIMARY KEY)"

# The server's keys from pgcdc keygen, the clients' as zmq.curve_keypair()
# makes them: Z85 text, secret files 0600.
"$(t_bin)/pgcdc" keygen "$T_DIR/server.key" >"$T_DIR/keygen.txt"
t_assert_eq "600 600" "$(stat -c %a "$T_DIR/server.key" "$T_DIR/server.pub" | xargs)" "modes of the key files"
grep -qF "$(cat "$T_DIR/server.pub")" "$T_DIR/keygen.txt" || t_fail "pgcdc keygen does not show the public key"
"$PY" - "$T_DIR" <<'PY'
import os, sys, zmq
for name in ("client", "intruder"):
    pub, sec = zmq.curve_keypair()
    open(os.path.join(sys.argv[1], name + ".pub"), "wb").write(pub)
    fd = os.open(os.path.join(sys.argv[1], name + ".key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, sec + b"\n")
    os.close(fd)
PY
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FEED=ipc://$T_DIR/state/run/feed.ipc
SECURE=tcp://127.0.0.1:$PORT
T_CFG=$T_DIR/pgcdc.cfg
T_OUT=$T_DIR/out

# zf_config TABLES: slot zf feeding out (jsonl), feed and secure (zmq).
zf_config() {
	cat >"$T_CFG" <<EOF
state_dir = "$T_DIR/state";
run_dir = "$T_DIR/state/run";
log = { level = "info"; file = "$T_DIR/pgcdc.log"; };
source = { conninfo = "host=$PGHOST port=$PGPORT dbname=postgres user=$T_PGCDC_USER"; };
status_interval_ms = 1000;
shutdown_timeout = 10;
allow_root = true;
slots = ( { name = "zf"; tables = [ $1 ]; sinks = [ "out", "feed", "secure" ]; } );
sinks = (
  { name = "out"; type = "jsonl"; dir = "$T_OUT"; },
  { name = "feed"; type = "zmq"; endpoint = "$FEED"; },
  { name = "secure"; type = "zmq"; endpoint = "$SECURE";
    curve_secret_key_file = "$T_DIR/server.key";
    curve_allowed_clients = [ "$(cat "$T_DIR/client.pub")" ]; }
);
EOF
}

# A subscriber to everything: one line {"topic", "body"} per message.
cat >"$T_DIR/sub.py" <<'PY'
import json, sys, zmq
ep, out = sys.argv[1], sys.argv[2]
s = zmq.Context().socket(zmq.SUB)
if len(sys.argv) > 3:
    d, me = sys.argv[3], sys.argv[4]
    s.curve_serverkey = open(d + "/server.pub", "rb").read()
    s.curve_publickey = open(d + "/" + me + ".pub", "rb").read()
    s.curve_secretkey = open(d + "/" + me + ".key", "rb").read().strip()
s.setsockopt(zmq.SUBSCRIBE, b"")
s.connect(ep)
with open(out, "a") as f:
    while True:
        parts = s.recv_multipart()
        rec = {"topic": parts[0].decode(), "body": parts[1].decode() if len(parts) > 1 else None,
               "parts": len(parts)}
        f.write(json.dumps(rec) + "\n")
        f.flush()
PY
: >"$T_DIR/feed.out"
: >"$T_DIR/ok.out"
: >"$T_DIR/bad.out"

zf_config '"public.probe"'
t_pgcdc_start
t_wait_for 30 "grep -q 'publishing on $SECURE (CURVE)' '$T_DIR/pgcdc.log'"
grep -q "publishing on $FEED\$" "$T_DIR/pgcdc.log" || t_fail "the ipc feed is not published"
t_bg "$PY" "$T_DIR/sub.py" "$FEED" "$T_DIR/feed.out"
t_bg "$PY" "$T_DIR/sub.py" "$SECURE" "$T_DIR/ok.out" "$T_DIR" client
t_bg "$PY" "$T_DIR/sub.py" "$SECURE" "$T_DIR/bad.out" "$T_DIR" intruder
t_wait_for 30 "t_slot_active zf"
# Subscribed once a probe row reaches them (PUB drops what comes before).
probe_seen() {
	t_sql "INSERT INTO probe DEFAULT VALUES"
	grep -q '"topic": "public.probe"' "$T_DIR/feed.out" &&
		grep -q '"topic": "public.probe"' "$T_DIR/ok.out"
}
t_wait_for 30 probe_seen
t_wait_for 10 "grep -qF 'ZAP: refused client key $(cat "$T_DIR/intruder.pub") from 127.0.0.1' '$T_DIR/pgcdc.log'"
grep -qF "ZAP: admitted client key $(cat "$T_DIR/client.pub") from 127.0.0.1" "$T_DIR/pgcdc.log" ||
	t_fail "the authorized client's admission is not logged"
grep -qF "CURVE on: server public key $(cat "$T_DIR/server.pub")" "$T_DIR/pgcdc.log" ||
	t_fail "the server public key is not logged"

# The tutorial tables join by reload: their rows arrive as snapshot rows.
zf_config '"public.probe", "inventory.customers", "public.shipments"'
"$(t_bin)/pgcdc" reload -c "$T_CFG" >/dev/null
t_wait_for 60 '[ "$(scripts/events.py "$T_OUT" inventory.customers --lines)" -ge 7 ] &&
	[ "$(scripts/events.py "$T_OUT" public.shipments --lines)" -ge 3 ]'
t_sql_file tests/fixtures/tutorial-changes.sql
t_sql "BEGIN; INSERT INTO probe VALUES (-2); SELECT pg_logical_emit_message(true, 'shop', 'hello'); COMMIT" >/dev/null
t_sql "SELECT pg_logical_emit_message(false, 'shop', 'bye')" >/dev/null
t_sql "INSERT INTO probe VALUES (-1)"	# the last event
last_probe() { grep -qF 'id\":-1}' "$1"; }
t_wait_for 30 'grep -qF "\"id\":-1}" $T_OUT/public.probe/*.jsonl && last_probe $T_DIR/feed.out && last_probe $T_DIR/ok.out'

"$PY" - "$T_OUT" "$T_DIR" <<'PY' || t_fail "the feeds differ from the jsonl sink"
import glob, json, os, re, sys
out, d = sys.argv[1], sys.argv[2]
def norm(s):  # ts_ms from the sink's own clock
    s = re.sub(r'("op":"[a-z]","ts_ms":)-?\d+', r"\1_", s)
    if '"txId":0,' in s:  # a non-transactional message has no commit time either
        s = re.sub(r'("name":"zf","ts_ms":)-?\d+', r"\1_", s)
    return s

def jsonl(dirname):
    lines = []
    for seg in sorted(glob.glob(os.path.join(out, dirname, "*.jsonl"))):
        lines += open(seg).read().splitlines()
    return lines

def feed(name):
    got = {}
    for line in open(os.path.join(d, name)):
        m = json.loads(line)
        assert m["parts"] == 2, m
        ev = json.loads(m["body"])  # valid JSON
        s = ev["source"]
        want = "@messages." + s["name"] if ev["op"] == "m" else s["schema"] + "." + s["table"]
        assert m["topic"] == want, (m["topic"], want)
        got.setdefault(m["topic"], []).append(m["body"])
    return got

want = {t: jsonl(t) for t in ("inventory.customers", "public.shipments", "public.probe")}
want["@messages.zf"] = jsonl("@messages.zf")
counts = {t: len(v) for t, v in want.items()}
assert counts["inventory.customers"] == 12 and counts["public.shipments"] == 4 and \
    counts["@messages.zf"] == 2, counts
ops = [json.loads(l)["op"] for l in want["inventory.customers"]]
assert ops == ["r"] * 7 + ["c", "c", "u", "u", "d"], ops
for name in ("feed.out", "ok.out"):
    got = feed(name)
    assert set(got) == set(want), (name, sorted(got))
    for t in want:
        w = want[t]
        if t == "public.probe":  # the first probes came before the subscription
            w = w[len(w) - len(got[t]):]
        if [norm(x) for x in got[t]] != [norm(x) for x in w]:
            print(name, t, "\n got:", *got[t], "\nwant:", *w, sep="\n")
            sys.exit(1)
    print("%s: %s" % (name, {t: len(v) for t, v in got.items()}))
assert os.path.getsize(os.path.join(d, "bad.out")) == 0, "the intruder received messages"
PY
t_pgcdc_stop

# A secret key readable by others: the sink refuses to start, naming the fix.
chmod 0644 "$T_DIR/server.key"
t_pgcdc_start
t_wait_for 30 "grep -q 'sink secure failed (fatal error' '$T_DIR/pgcdc.log'"
grep -q "sink secure: curve_secret_key_file $T_DIR/server.key is accessible by group or others (mode 0644); fix: chmod 600 $T_DIR/server.key" \
	"$T_DIR/pgcdc.log" || t_fail "no clear message for the 0644 key file"
"$(t_bin)/pgcdc" status -c "$T_CFG" | grep -q "^sink secure .*FAILED" || t_fail "status does not show secure FAILED"
t_wait_for 10 '[ "$(grep -c "publishing on $FEED\$" "$T_DIR/pgcdc.log")" = 2 ]'
t_pgcdc_stop
t_no_secret "$(tr -d '\n' <"$T_DIR/server.key")"
t_no_secret "$(tr -d '\n' <"$T_DIR/client.key")"

# Config checks: no keys on a non-loopback endpoint; malformed client keys.
bad_config() {
	local rc=0
	sed -e "$1" "$T_CFG" >"$T_DIR/bad.cfg"
	timeout 20 "$(t_bin)/pgcdc" run -c "$T_DIR/bad.cfg" 2>"$T_DIR/bad.txt" || rc=$?
	t_assert_eq 2 "$rc" "exit code of pgcdc run with $1"
	grep -q "$2" "$T_DIR/bad.txt" || t_fail "no clear message for $1: $(cat "$T_DIR/bad.txt")"
}
bad_config "s|endpoint = \"$FEED\"|endpoint = \"tcp://0.0.0.0:$PORT\"|" \
	"sinks.*endpoint: \"tcp://0.0.0.0:$PORT\" lets other hosts read every change unencrypted; fix: set curve_secret_key_file"
bad_config "s|curve_allowed_clients = \[ \"|curve_allowed_clients = [ \"x|" \
	"curve_allowed_clients: \"x.*\" is not a CURVE public key (40 Z85 characters)"
bad_config "s|curve_secret_key_file = .*||" "curve_allowed_clients: needs curve_secret_key_file"
t_pass
