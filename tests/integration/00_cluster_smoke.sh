#!/usr/bin/env bash
# The harness itself: t_setup's cluster has wal_level = logical and a pgoutput
# slot sees a committed change; a test that fails (command error, t_fail after
# a timed-out t_wait_for, SIGTERM) still kills its processes, stops its
# PostgreSQL and removes its dir; T_KEEP=1 keeps the dir with PostgreSQL stopped.
. "$(dirname "$0")/../lib.sh"
t_setup

t_assert_eq logical "$(t_sql 'SHOW wal_level')" "wal_level"
t_assert_eq 700 "$(stat -c %a "$T_DIR")" "work dir mode"
t_assert_eq "$T_PGDIR" "$PGHOST" "PGHOST is the cluster's socket dir"

t_sql "CREATE TABLE smoke (id int PRIMARY KEY, v text)"
t_sql "CREATE PUBLICATION smoke_pub FOR TABLE smoke"
t_sql "SELECT 1 FROM pg_create_logical_replication_slot('smoke', 'pgoutput')" >/dev/null
t_sql "INSERT INTO smoke VALUES (1, 'one')"
# Message types in order: Begin, Relation, Insert, Commit.
peek="SELECT string_agg(chr(get_byte(data, 0)), '' ORDER BY n)
      FROM pg_logical_slot_peek_binary_changes('smoke', NULL, NULL,
           'proto_version', '1', 'publication_names', 'smoke_pub') WITH ORDINALITY AS c(lsn, xid, data, n)"
t_wait_for 10 '[ "$(t_sql "$peek")" = BRIC ]'
t_assert_eq BRIC "$(t_sql "$peek")" "peek does not consume"
t_assert_eq 1 "$(t_sql "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('smoke', NULL, NULL,
    'proto_version', '1', 'publication_names', 'smoke_pub')
    WHERE get_byte(data, 0) = ascii('I') AND position('\\x6f6e65'::bytea IN data) > 0")" \
	"the insert carries the row's value"

# Inner tests, run under our work dir so nothing can escape the cleanup.
cat >"$T_DIR/inner.sh" <<'EOF'
. "$T_REPO_UNDER_TEST/tests/lib.sh"
info=$1 how=$2
t_setup
sleep 300 &
plain=$!
t_track "$plain"
t_bg sleep 300
{ echo "$T_DIR"; head -n 1 "$T_PGDIR/data/postmaster.pid"; echo "$plain"; echo "$T_BG_PID"; } >"$info.tmp"
mv "$info.tmp" "$info"
case $how in
error) t_sql "SELECT 1/0" ;;
timeout) t_wait_for 0.3 'echo still-waiting; false' ;;
signal) t_wait_for 60 false ;;
pass) t_pass ;;
esac
t_fail "not reached"
EOF

# inner HOW EXPECTED_RC [env...]: run it, check its exit and what it left.
inner() {
	local how=$1 want=$2 info=$T_DIR/info.$1 rc=0
	shift 2
	env -u T_REGISTRY -u T_KEEP TMPDIR="$T_DIR" T_REPO_UNDER_TEST="$T_REPO" "$@" \
		bash "$T_DIR/inner.sh" "$info" "$how" >"$T_DIR/inner.$how.out" 2>&1 || rc=$?
	t_assert_eq "$want" "$rc" "inner '$how' exit status"
	mapfile -t I <"$info"
	[ "${#I[@]}" = 4 ] || t_fail "inner '$how' wrote no info"
	local p
	for p in "${I[@]:1}"; do
		_t_alive "$p" && t_fail "inner '$how' left process $p running"
	done
	return 0
}

inner error 1
grep -q "division by zero" "$T_DIR/inner.error.out" || t_fail "psql error not shown"
grep -q 'FAIL: inner: inner.sh:[0-9]* > lib.sh:[0-9]*: exit status 1: ' "$T_DIR/inner.error.out" ||
	t_fail "failing line not named"
[ ! -e "${I[0]}" ] || t_fail "failed test left its dir ${I[0]}"

inner timeout 1
grep -q "timed out after 0.3s waiting for: echo still-waiting; false" "$T_DIR/inner.timeout.out" ||
	t_fail "t_wait_for timeout message missing"
grep -q "^still-waiting" "$T_DIR/inner.timeout.out" || t_fail "condition output not shown"
[ ! -e "${I[0]}" ] || t_fail "timed-out test left its dir ${I[0]}"

# SIGTERM (what run-tests.sh's timeout sends) while the test waits.
rm -f "$T_DIR/info.signal"
env -u T_REGISTRY -u T_KEEP TMPDIR="$T_DIR" T_REPO_UNDER_TEST="$T_REPO" \
	bash "$T_DIR/inner.sh" "$T_DIR/info.signal" signal >"$T_DIR/inner.signal.out" 2>&1 &
victim=$!
t_track "$victim"
t_wait_for 30 '[ -s "$T_DIR/info.signal" ]'
kill -TERM "$victim"
rc=0
wait "$victim" || rc=$?
t_assert_eq 143 "$rc" "inner 'signal' exit status"
mapfile -t I <"$T_DIR/info.signal"
for p in "${I[@]:1}"; do _t_alive "$p" && t_fail "terminated test left process $p running"; done
[ ! -e "${I[0]}" ] || t_fail "terminated test left its dir ${I[0]}"

inner pass 0 T_KEEP=1
[ -d "${I[0]}/pg/data" ] || t_fail "T_KEEP=1 did not keep ${I[0]}"
grep -q "T_KEEP=1: kept ${I[0]}" "$T_DIR/inner.pass.out" || t_fail "kept dir not named"
t_pass
