#!/usr/bin/env bash
# `make install DESTDIR=...` and the daemon run from the installed tree, as
# systemd would run it: started as root it refuses without allow_root/user;
# with user = "nobody" it drops to it (every process runs as nobody and is not
# dumpable), hands it state_dir and run_dir (0700), LMDB and the log 0600,
# jsonl output with output_mode "0640" (dirs 0750).  sd_notify: READY=1 to a
# NOTIFY_SOCKET listener, RELOADING=1/READY=1 on HUP, STOPPING=1 on TERM.  The
# logrotate snippet's postrotate (USR2) makes it write to a fresh log file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
INST=$T_DIR/inst
STATE=$T_DIR/state
make -C "$T_REPO" --no-print-directory install DESTDIR="$INST" PREFIX=/usr \
	RUNDIR="$STATE/run" SANITIZE="${SANITIZE:-0}" >"$T_DIR/install.txt" 2>&1 ||
	t_fail "make install: $(tail -n 5 "$T_DIR/install.txt")"
PGCDC=$INST/usr/bin/pgcdc
UNIT=$INST/usr/lib/systemd/system/pgcdc.service
ROT=$INST/etc/logrotate.d/pgcdc
for f in usr/bin/pgcdc usr/bin/pgcdc-worker usr/bin/pgcdc-sink etc/pgcdc/pgcdc.cfg \
	usr/lib/systemd/system/pgcdc.service etc/logrotate.d/pgcdc usr/share/doc/pgcdc/README.md; do
	[ -s "$INST/$f" ] || t_fail "make install did not install $f"
done
t_assert_eq 640 "$(stat -c %a "$INST/etc/pgcdc/pgcdc.cfg")" "mode of the installed config"
for want in '^Type=notify$' '^ExecStart=/usr/bin/pgcdc run -c /etc/pgcdc/pgcdc.cfg$' \
	'^ExecReload=/bin/kill -HUP \$MAINPID$' '^KillMode=mixed$' '^User=pgcdc$'; do
	grep -q "$want" "$UNIT" || t_fail "unit has no line matching $want"
done
stop_s=$(sed -n 's/^TimeoutStopSec=//p' "$UNIT")
grace=$(sed -n 's/^shutdown_timeout = \([0-9]*\);/\1/p' "$INST/etc/pgcdc/pgcdc.cfg")
[ "$stop_s" -gt "$grace" ] || t_fail "TimeoutStopSec=$stop_s does not exceed shutdown_timeout $grace"
if command -v systemd-analyze >/dev/null; then
	# The binaries are not at /usr/bin here: that one complaint is expected.
	systemd-analyze verify "$UNIT" 2>&1 | grep -v 'is not executable' >"$T_DIR/verify.txt" || true
	[ ! -s "$T_DIR/verify.txt" ] || t_fail "systemd-analyze verify: $(cat "$T_DIR/verify.txt")"
fi

# nobody must reach the socket dir and read the config; state goes under STATE.
chmod 0711 "$T_DIR" "$T_PGDIR"
t_sql "CREATE TABLE public.t (id int PRIMARY KEY, v text)"
T_CFG_EXTRA='user = "nobody"; snapshot = { mode = "never"; };' T_LOG_FILE=$STATE/pgcdc.log t_pgcdc_config inst "public.t"
T_OUT=$STATE/out
sed -i "s|dir = \"$T_DIR/out\"; }|dir = \"$T_OUT\"; output_mode = \"0640\"; }|" "$T_CFG"
grep -q 'output_mode = "0640"' "$T_CFG" || t_fail "config has no output_mode"
chmod 0644 "$T_CFG"

# ---- as root, neither user nor allow_root: refused before anything exists
sed -e '/^allow_root = /d' -e '/^user = /d' "$T_CFG" >"$T_DIR/root.cfg"
rc=0
timeout 20 "$PGCDC" run -c "$T_DIR/root.cfg" 2>"$T_DIR/root.txt" || rc=$?
t_assert_eq 2 "$rc" "exit code of pgcdc run as root"
grep -q 'pgcdc refuses to run as root.*fix: set user = "pgcdc".*allow_root = true (or pass --allow-root)' \
	"$T_DIR/root.txt" || t_fail "no clear refusal as root: $(cat "$T_DIR/root.txt")"
[ ! -e "$STATE" ] || t_fail "the refused run created $STATE"

# ---- user = "nobody", with a NOTIFY_SOCKET as systemd gives
t_bg python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode() + "\n"); out.flush()
' "$T_DIR/notify.sock" "$T_DIR/notify.txt"
t_wait_for 10 '[ -S "$T_DIR/notify.sock" ]'
NOTIFY_SOCKET=$T_DIR/notify.sock t_bg "$PGCDC" run -c "$T_CFG" 2>>"$T_DIR/run.log"
T_PGCDC_PID=$T_BG_PID
t_wait_for 30 'grep -qx "READY=1" "$T_DIR/notify.txt"'
t_wait_for 30 't_slot_active inst'
t_sql "INSERT INTO public.t SELECT g, 'row ' || g FROM generate_series(1, 3) g"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 3 ]'
got=$(scripts/events.py "$T_OUT" public.t --json |
	python3 -c 'import json,sys; print(json.dumps([(e["op"], e["after"]["id"]) for e in json.load(sys.stdin)]))')
t_assert_eq '[["c", 1], ["c", 2], ["c", 3]]' "$got" "events from the installed daemon"

nobody=$(id -u nobody)
pids="$T_PGCDC_PID $(pgrep -P "$T_PGCDC_PID" | tr '\n' ' ')"
t_assert_eq 3 "$(echo $pids | wc -w)" "supervisor, worker and sink"
for p in $pids; do
	t_assert_eq "$nobody $nobody $nobody $nobody" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$p/status")" \
		"uids of $(tr '\0' ' ' <"/proc/$p/cmdline")"
	# Not dumpable: the kernel gives /proc/<pid>/environ, mem, ... to root.
	t_assert_eq root "$(stat -c %U "/proc/$p/environ")" "owner of /proc/$p/environ (PR_SET_DUMPABLE 0)"
	grep -q NOTIFY_SOCKET "/proc/$p/environ" && [ "$p" != "$T_PGCDC_PID" ] &&
		t_fail "a child inherited NOTIFY_SOCKET"
done
seg=$(find "$T_OUT/public.t" -name '*.jsonl' | head -n 1)
for want in "700 $STATE" "700 $STATE/run" "600 $STATE/data.mdb" "600 $STATE/pgcdc.log" \
	"750 $T_OUT" "750 $T_OUT/public.t" "640 $seg"; do
	t_assert_eq "${want%% *} nobody" "$(stat -c '%a %U' "${want#* }")" "mode and owner of ${want#* }"
done

# ---- reload (ExecReload), log rotation (postrotate), stop (KillMode=mixed: TERM to the main pid)
kill -HUP "$T_PGCDC_PID"
t_wait_for 10 'grep -qx "RELOADING=1" "$T_DIR/notify.txt" && [ "$(grep -cx "READY=1" "$T_DIR/notify.txt")" = 2 ]'
mv "$STATE/pgcdc.log" "$STATE/pgcdc.log.1"
post=$(sed -n '/postrotate/,/endscript/p' "$ROT" | sed '1d;$d')
sh -c "$post" || t_fail "postrotate failed: $post"
t_wait_for 10 '[ -e "$STATE/pgcdc.log" ]'	# reopened (created) on USR2
kill -USR1 "$T_PGCDC_PID"	# a status dump: something to log
t_wait_for 10 'grep -q "supervisor" "$STATE/pgcdc.log" 2>/dev/null'
t_assert_eq "600 nobody" "$(stat -c '%a %U' "$STATE/pgcdc.log")" "the reopened log file"
kill -TERM "$T_PGCDC_PID"
rc=0
wait "$T_PGCDC_PID" || rc=$?
t_assert_eq 0 "$rc" "exit code after SIGTERM"
grep -qx "STOPPING=1" "$T_DIR/notify.txt" || t_fail "no STOPPING=1: $(cat "$T_DIR/notify.txt")"
t_no_sanitizer_report
t_pass
