# tests/pgtarget.sh: a second throwaway PostgreSQL as the target of a
# postgres sink (tests 60 and 61), sourced after lib.sh and pgcdc.sh and
# called after t_setup.  It lives in $T_DIR/tg and is stopped at exit before
# lib.sh's own cleanup runs; the registry names its postmaster so that
# run-tests.sh kills it if the test itself is killed.

# t_target_start: start it; sets T_TG (socket dir) and T_TGPORT.
t_target_start() {
	local out
	T_TG=$T_DIR/tg
	out=$(pgc_start "$T_TG") || t_fail "cannot start the target PostgreSQL in $T_TG"
	T_TGPORT=$(sed -n 's/^PGPORT=//p' <<<"$out")
	_t_register pid "$(head -n 1 "$T_TG/data/postmaster.pid")"
	trap _t_target_exit EXIT
}

_t_target_exit() {
	local rc=$?
	set +eE
	trap - ERR
	pgc_halt "$T_TG" immediate >/dev/null 2>&1
	(exit "$rc")
	_t_cleanup
}

# The sink connects to database T_TG_DB as T_TG_USER (default postgres both);
# the test's own reads and writes go to T_TG_DB as postgres.
t_target_conninfo() {
	echo "host=$T_TG port=$T_TGPORT dbname=${T_TG_DB:-postgres} user=${T_TG_USER:-postgres}"
}

# t_tsql SQL: like t_sql, on the target.
t_tsql() {
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$T_TG" -p "$T_TGPORT" -U postgres \
		-d "${T_TG_DB:-postgres}" -c "$1"
}

# Both sides read with the same settings, whatever the databases' defaults.
T_PIN_OPTS="-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c TimeZone=UTC -c bytea_output=hex"

# t_pg_sink_config SLOT TABLES [EXTRA]: a config with one slot feeding one
# postgres sink named "pg" that writes to the target.
t_pg_sink_config() {
	t_pgcdc_config "$1" "$2"
	sed -i "s|^sinks = .*|sinks = ( { name = \"pg\"; type = \"postgres\"; conninfo = \"$(t_target_conninfo)\"; } );|;
		s|sinks = \[ \"out\" \]|sinks = [ \"pg\" ]|" "$T_CFG"
	grep -q 'type = "postgres"' "$T_CFG" && grep -q 'sinks = \[ "pg" \]' "$T_CFG" ||
		t_fail "config edit failed"
}

# t_rows SIDE TABLE: the table's rows as text, ordered by the first column,
# then the whole row.
t_rows() {
	local host=$PGHOST port=$PGPORT db=postgres
	if [ "$1" = target ]; then host=$T_TG port=$T_TGPORT db=${T_TG_DB:-postgres}; fi
	PGOPTIONS=$T_PIN_OPTS "$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$host" -p "$port" \
		-U postgres -d "$db" -c "SELECT * FROM $2 AS pgcdc_row ORDER BY 1, pgcdc_row::text"
}

# t_same_table TABLE: the target's rows equal the source's (as text).
t_same_table() {
	[ "$(t_rows source "$1")" = "$(t_rows target "$1")" ]
}

# t_assert_same_table TABLE: as t_same_table, failing with a diff.
t_assert_same_table() {
	t_same_table "$1" && return 0
	t_fail "$1 differs on the target:
$(diff <(t_rows source "$1") <(t_rows target "$1") | head -n 20)"
}

# t_target_pos SLOT: the end_lsn the target holds for the slot ("" none).
t_target_pos() {
	t_tsql "SELECT end_lsn FROM pgcdc.positions WHERE sink = 'pg' AND slot = '$1' AND tbl = ''" 2>/dev/null
}
