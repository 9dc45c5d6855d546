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
