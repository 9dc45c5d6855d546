# tests/pgcdc.sh: pgcdc helpers for integration and fault tests, sourced
# after lib.sh.  One pgcdc per test: its config is $T_CFG, its jsonl output
# $T_OUT, its supervisor pid $T_PGCDC_PID, its stderr $T_DIR/run.log.

# t_pgcdc_config SLOT TABLES [CONNINFO]
t_pgcdc_config() {
	T_CFG=$T_DIR/pgcdc.cfg
	T_OUT=$T_DIR/out
	if [ -n "${3:-}" ]; then
		t_config "$T_CFG" "$1" "$2" "$T_OUT" "$T_DIR/state" "$3"
	else
		t_config "$T_CFG" "$1" "$2" "$T_OUT"
	fi
}

t_pgcdc_start() {
	t_bg "$(t_bin)/pgcdc" run -c "$T_CFG" 2>>"$T_DIR/run.log"
	T_PGCDC_PID=$T_BG_PID
}

# Graceful stop through the CLI; the supervisor must exit 0.
t_pgcdc_stop() {
	local rc=0
	"$(t_bin)/pgcdc" stop -c "$T_CFG" >/dev/null || t_fail "pgcdc stop failed"
	wait "$T_PGCDC_PID" || rc=$?
	t_assert_eq 0 "$rc" "exit code of pgcdc run after stop"
	t_no_sanitizer_report
}

# A child that trips ASan/UBSan/LSan is just restarted by the supervisor, so
# look for the reports themselves in what the processes wrote to stderr.
t_no_sanitizer_report() {
	if grep -qE "AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:" \
		"$T_DIR/run.log" 2>/dev/null; then
		grep -E -A8 "Sanitizer|runtime error:" "$T_DIR/run.log" | head -40 >&2
		t_fail "sanitizer report in $T_DIR/run.log"
	fi
}

t_slot_active() {
	[ "$(t_sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1' AND active")" = 1 ]
}

# t_child_pid worker|sink [NAME]: pid of the supervisor's child of that kind
# (and name), empty if there is none right now.
t_child_pid() {
	pgrep -P "$T_PGCDC_PID" -f "pgcdc-$1 .*${2:+ $2}\$" | head -n 1 || true
}

# t_snap_status TABLE: the table's snapshot line in `pgcdc status`, e.g.
# "running (chunks done 3 of ~101, rows 60000)" or "done (2000000 rows)".
t_snap_status() {
	"$(t_bin)/pgcdc" status -c "$T_CFG" 2>/dev/null | sed -n "s/^ *table ${1//./\\.}  *//p"
}

# t_snap_kill SLOT TABLE MAX: SIGKILL the slot's worker at a point of the
# snapshot chosen by progress, not by time: once the current worker has taken
# up TABLE's snapshot and logged a random number, 0 to MAX, of its chunks
# sent (needs log_level debug); then wait for its successor.  The log is
# polled every 5 ms, so the kill lands anywhere in a chunk's cycle (reading,
# waiting for the watermarks, forwarding, waiting for acks).  Fails if the
# snapshot is over first.  Prints "worker pid P after N chunks, at: STATUS".
t_snap_kill() {
	local slot=$1 table=$2 max=$3 pid n st
	t_wait_for 90 'pid=$(t_child_pid worker "$slot"); [ -n "$pid" ] &&
		grep -qE "worker\[$slot\] $pid info: snapshot of ${table//./\\.}: (pending|resuming)" "$T_DIR/pgcdc.log"'
	n=$((RANDOM % (max + 1)))
	T_WAIT_STEP=0.005 t_wait_for 90 '[ "$(grep -cE "worker\[$slot\] $pid debug: snapshot of ${table//./\\.}: chunk [0-9]+ sent" \
		"$T_DIR/pgcdc.log")" -ge "$n" ]'
	st=$(t_snap_status "$table")
	[[ $st == running* ]] || t_fail "the snapshot of $table ended before the kill ($st): make it longer"
	kill -9 "$pid"
	echo "worker pid $pid after $n chunks, at: $st"
	t_wait_for 90 'p=$(t_child_pid worker "$slot"); [ -n "$p" ] && [ "$p" != "$pid" ]'
}

# t_no_secret SECRET: it must not appear in any log, status or output file.
t_no_secret() {
	local hits
	hits=$(grep -rlF --include='*.log' --include='*.txt' --include='*.jsonl' \
		-e "$1" "$T_DIR" 2>/dev/null || true)
	[ -z "$hits" ] || t_fail "secret found in: $hits"
}

# t_same_rows TABLE FILE: FILE holds rows rebuilt from the output, one JSON
# object per line; PostgreSQL reads them back into TABLE's row type and
# compares them with the table as multisets.  Fails showing a few of the
# differing rows.
t_same_rows() {
	local load="CREATE TEMP TABLE st (j json);
\\copy st FROM '$2' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')
CREATE TEMP TABLE rebuilt AS SELECT (json_populate_record(NULL::$1, j)).* FROM st;" diff
	diff=$("$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 <<SQL
$load
SELECT (SELECT count(*) FROM (TABLE $1 EXCEPT ALL TABLE rebuilt) x) || ' missing or different, ' ||
       (SELECT count(*) FROM (TABLE rebuilt EXCEPT ALL TABLE $1) x) || ' extra or different';
SQL
	)
	[ "$diff" = "0 missing or different, 0 extra or different" ] && return 0
	t_fail "$1: rebuilt state vs table: $diff:" "$("$PGC_BIN/psql" -XAq -v ON_ERROR_STOP=1 <<SQL
$load
(SELECT 'table' AS side, * FROM (TABLE $1 EXCEPT ALL TABLE rebuilt) x LIMIT 5)
UNION ALL (SELECT 'rebuilt', * FROM (TABLE rebuilt EXCEPT ALL TABLE $1) x LIMIT 5);
SQL
	)"
}

# The event trigger pgcdc_ddl (ALTER SCHEMA ... RENAME), created by the
# superuser from README's SQL, as an operator does for a non-superuser pgcdc.
t_pgcdc_ddl_trigger() {
	sed -n '/^-- pgcdc_ddl begin/,/^-- pgcdc_ddl end/p' "$T_REPO/README.md" >"$T_DIR/pgcdc_ddl.sql"
	t_sql_file "$T_DIR/pgcdc_ddl.sql" >/dev/null
}

# t_python_zmq: sets PY to a python3 that has pyzmq, or fails the test.
t_python_zmq() {
	local p
	PY=
	for p in python3 /usr/bin/python3; do
		if "$p" -c 'import zmq' 2>/dev/null; then PY=$p && break; fi
	done
	[ -n "$PY" ] || t_fail "no python3 with zmq (scripts/deps.sh installs python3-zmq)"
}
