#!/usr/bin/env bash
# Bad input that pgcdc must refuse with one clear message naming the cause
# and the fix: a config with a syntax error or a duplicate slot name (run and
# check exit 2 with "file:line: setting: message", nothing is started); a
# table that does not exist (check names it; the worker exits 2, the slot is
# FAILED, nothing is created on the source); a source with wal_level =
# replica (check and the worker name wal_level and the fix; the supervisor
# and the sink keep running).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/bad_input.inc"
t_setup
t_sql "CREATE TABLE public.t1 (id int PRIMARY KEY, v text)"

# one_line FILE REGEX WHAT: FILE holds exactly one line, newline-terminated,
# and it matches.
one_line() {
	if [ "$(grep -c '' "$1")" != 1 ] || ! grep -qE "$2" "$1"; then
		soft_fail "$3: want exactly one line matching /$2/, got: $(cat "$1")"
	elif [ -n "$(tail -c 1 "$1")" ]; then
		soft_fail "$3: the message does not end with a newline: $(cat "$1")"
	fi
}

# ---- 1. broken config: refused by run and check, nothing started
write_cfg() { # FILE SLOT2_NAME LOG_LINE
	cat >"$1" <<EOF
state_dir = "$T_DIR/state-bad";
run_dir = "$T_DIR/state-bad/run";
$3
source = { conninfo = "host=$PGHOST port=$PGPORT dbname=postgres user=$T_PGCDC_USER"; };
slots = (
  { name = "dup"; tables = [ "public.t1" ]; sinks = [ "out" ]; },
  { name = "$2"; tables = [ "public.t1" ]; sinks = [ "out" ]; }
);
sinks = ( { name = "out"; type = "jsonl"; dir = "$T_DIR/out-bad"; } );
EOF
}
log_ok="log = { level = \"info\"; file = \"$T_DIR/bad.log\"; };"
write_cfg "$T_DIR/dup.cfg" dup "$log_ok"
write_cfg "$T_DIR/syntax.cfg" other 'log = { level = = "info"; file = ""; };'
for c in dup syntax; do
	case $c in
	dup) want='^(.*/)?dup\.cfg:7: slots\[1\]\.name: duplicate slot name "dup"$' ;;
	syntax) want='^(.*/)?syntax\.cfg:3: syntax error' ;;
	esac
	capture "$T_DIR/$c.run.txt" "$PGCDC" run -c "$T_DIR/$c.cfg"
	t_assert_eq 2 "$RC" "pgcdc run exit code with $c.cfg"
	one_line "$T_DIR/$c.run.txt" "$want" "pgcdc run -c $c.cfg"
	capture "$T_DIR/$c.check.txt" "$PGCDC" check -c "$T_DIR/$c.cfg"
	t_assert_eq 2 "$RC" "pgcdc check exit code with $c.cfg"
	one_line "$T_DIR/$c.check.txt" "$want" "pgcdc check -c $c.cfg"
	pids=$(pgrep -f "pgcdc-(worker|sink) -c [^ ]*$c\.cfg" || true)
	[ -z "$pids" ] || t_fail "$c.cfg: children were started: $pids"
	pid=$T_DIR/state-bad/run/pgcdc.pid
	[ ! -e "$pid" ] || flock -n "$pid" true || t_fail "$c.cfg: pidfile $pid is locked"
done
t_assert_eq 0 "$(t_sql "SELECT count(*) FROM pg_replication_slots")" "slots after bad configs"
t_assert_eq 0 "$(t_sql "SELECT count(*) FROM pg_publication")" "publications after bad configs"

# ---- 4. a table that does not exist
T_LOG_FILE=$T_DIR/missing.log t_pgcdc_config miss "public.t1, public.nope"
capture "$T_DIR/miss.check.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 2 "$RC" "pgcdc check exit code with a missing table"
one_line "$T_DIR/miss.check.txt" \
	'^problem: .*table public\.nope does not exist; fix: .*(create it|remove it)' "check, missing table"
t_pgcdc_start
t_wait_for 30 '[ "$(state slot miss)" = FAILED ]'
log=$T_DIR/missing.log
grep -qE 'worker miss \(pid [0-9]+\) exited with 2$' "$log" || t_fail "worker miss did not exit 2"
grep -E ' error: ' "$log" | grep -q 'nope.*does not exist' ||
	t_fail "no error naming the missing table public.nope in $log"
grep -E ' error: ' "$log" | grep -qiE 'fix.*table' || t_fail "no fix for the table list in $log"
[ -z "$(t_child_pid worker miss)" ] || t_fail "a failed worker was restarted"
[ -n "$(t_child_pid sink out)" ] || t_fail "the sink is not running beside the failed slot"
t_assert_eq 0 "$(t_sql "SELECT count(*) FROM pg_publication")" "publications after the failure"
t_assert_eq 0 "$(t_sql "SELECT count(*) FROM pg_replication_slots")" "slots after the failure"
t_pgcdc_stop

# ---- 2. wal_level = replica (no logical slot may exist for the restart)
t_sql "ALTER SYSTEM SET wal_level = replica"
t_pg_restart
t_assert_eq replica "$(t_sql 'SHOW wal_level')" "wal_level after the restart"
T_LOG_FILE=$T_DIR/wal.log t_pgcdc_config wal "public.t1"
capture "$T_DIR/wal.check.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 2 "$RC" "pgcdc check exit code with wal_level = replica"
one_line "$T_DIR/wal.check.txt" '^problem: wal_level is replica; fix: set wal_level = logical' \
	"check, wal_level"
t_pgcdc_start
t_wait_for 30 '[ "$(state slot wal)" = FAILED ]'
log=$T_DIR/wal.log
grep -qE 'worker wal \(pid [0-9]+\) exited with 2$' "$log" || t_fail "worker wal did not exit 2"
grep -E ' error: ' "$log" | grep 'wal_level' | grep -q 'set wal_level = logical' ||
	t_fail "no error naming wal_level with its fix in $log"
t_wait_for 10 '[ "$(state sink out)" = RUNNING ]'
_t_alive "$T_PGCDC_PID" || t_fail "the supervisor died"
[ -z "$(t_child_pid worker wal)" ] || t_fail "a failed worker was restarted"
t_assert_eq 0 "$(t_sql "SELECT count(*) FROM pg_replication_slots")" "slots with wal_level = replica"
t_pgcdc_stop
soft_verdict
t_pass
