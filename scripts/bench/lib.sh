# scripts/bench/lib.sh: sourced by every workload script of make bench.  One
# source cluster (t_setup) and one target cluster (tests/pgtarget.sh) per
# script; each run gets fresh slots created before its writes, so pgcdc and
# the baselines drain the same backlog.  "Done" for every consumer is the
# source slot's confirmed_flush_lsn >= the workload's end LSN: the consumer
# told PostgreSQL it holds everything up to there durably.  Results are
# appended as "workload<TAB>metric<TAB>value" lines to $BENCH_RESULTS.
set -euo pipefail
B_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$B_DIR/../../tests/lib.sh"
. "$B_DIR/../../tests/pgcdc.sh"
. "$B_DIR/../../tests/pgtarget.sh"
B_RUNS=${BENCH_RUNS:-3}
B_SCALE=${BENCH_SCALE:-1}
B_CONS=${BENCH_CONSUMERS:-recv jsonl pg native}
B_HZ=$(getconf CLK_TCK)

# b_n COUNT: COUNT scaled by BENCH_SCALE, at least 1000.
b_n() { python3 -c "print(max(1000, int($1 * $B_SCALE)))"; }

b_put() { printf '%s\t%s\t%s\n' "$B_WL" "$1" "$2" | tee -a "${BENCH_RESULTS:-$T_DIR/results.tsv}"; }

b_now() { echo "$EPOCHREALTIME"; }

b_rate() { python3 -c "print('%.0f' % ($1 / ($3 - $2)))"; }

b_setup() {
	t_setup
	t_target_start
	export PGOPTIONS="-c client_min_messages=warning"
	t_sql "ALTER SYSTEM SET max_wal_size = '8GB'; " >/dev/null
	t_sql "SELECT pg_reload_conf()" >/dev/null
	t_tsql "ALTER SYSTEM SET max_wal_size = '8GB'" >/dev/null
	t_tsql "SELECT pg_reload_conf()" >/dev/null
}

# b_cfg jsonl|pg SLOT TABLES: a pgcdc config in $T_CFG for SLOT, sink "out"
# of that kind (postgres: into database pgsink of the target).
b_cfg() {
	T_CFG=$T_DIR/$2.cfg T_OUT=$T_DIR/$2.out
	rm -rf "$T_OUT" "$T_DIR/$2.state"
	t_config "$T_CFG" "$2" "$3" "$T_OUT" "$T_DIR/$2.state"
	if [ "$1" = pg ]; then
		sed -i "s|^sinks = .*|sinks = ( { name = \"out\"; type = \"postgres\"; conninfo = \"host=$T_TG port=$T_TGPORT dbname=pgsink user=postgres\"; } );|" "$T_CFG"
	fi
}

b_slot_gone() {
	t_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$1'" >/dev/null
}

# b_target_db NAME SQL: a fresh database NAME on the target holding SQL's tables.
b_target_db() {
	t_tsql "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
	t_tsql "CREATE DATABASE $1" >/dev/null
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$T_TG" -p "$T_TGPORT" -U postgres -d "$1" \
		-c "$2" >/dev/null
}

# b_fresh TABLES TARGET_SQL: drop what the last run left, then fresh slots for
# every consumer in $B_CONS, all at the current LSN, before any write: recv
# (pg_recvlogical), jsonl and pg (pgcdc started once to create its slot),
# native (a disabled subscription, copy_data off, into database native).
b_fresh() {
	local c
	t_tsql "SELECT 1 FROM pg_subscription" -d native >/dev/null 2>&1 &&
		"$PGC_BIN/psql" -XAtq -h "$T_TG" -p "$T_TGPORT" -U postgres -d native \
			-c "ALTER SUBSCRIPTION sub DISABLE" -c "DROP SUBSCRIPTION sub" >/dev/null 2>&1 || true
	for c in recv jsonl pg native; do b_slot_gone "$c"; done
	t_sql "DROP PUBLICATION IF EXISTS bench_pub; CREATE PUBLICATION bench_pub FOR TABLE ${1// /, }"
	for c in $B_CONS; do
		case $c in
		recv) t_sql "SELECT pg_create_logical_replication_slot('recv', 'pgoutput')" >/dev/null ;;
		jsonl | pg)
			[ "$c" = jsonl ] || b_target_db pgsink "$2"
			T_CFG_EXTRA='snapshot = { mode = "never"; };' b_cfg "$c" "$c" "$1"
			t_pgcdc_start
			t_wait_for 60 "t_slot_active $c"
			t_pgcdc_stop ;;
		native)
			b_target_db native "$2"
			"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$T_TG" -p "$T_TGPORT" -U postgres -d native \
				-c "CREATE SUBSCRIPTION sub CONNECTION 'host=$PGHOST port=$PGPORT dbname=postgres user=postgres'
				    PUBLICATION bench_pub WITH (copy_data = false, enabled = false, slot_name = 'native')" >/dev/null ;;
		esac
	done
}

# b_until COND [PSQL ARGS...]: returns once the SQL boolean COND holds,
# looked at every 10 ms inside one statement on the server (a psql per look
# would cost the consumer under test a few percent of the CPU, which
# pg_recvlogical, exiting at --endpos, does not pay).  Fails after an hour.
b_until() {
	local cond=$1
	shift
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 "$@" -c "DO \$\$ BEGIN
	  FOR i IN 1 .. 360000 LOOP
	    IF ($cond) THEN RETURN; END IF;
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	  RAISE EXCEPTION 'not within an hour';
	END \$\$" || t_fail "not within an hour: $cond"
}

# b_wait_confirmed SLOT LSN: SLOT's confirmed_flush_lsn >= LSN (pg_replication_slots
# reads shared memory, so each look is current).
b_wait_confirmed() {
	b_until "SELECT confirmed_flush_lsn >= '$2' FROM pg_replication_slots WHERE slot_name = '$1'"
}

# b_procs PREFIX CHANGES: CPU us per change of worker + sink, and every pgcdc
# process's peak RSS (VmHWM), from /proc, before the stop.
b_procs() {
	local p kind ticks=0 t
	b_put "$1.rss_supervisor_kb" "$(awk '/VmHWM/ {print $2}' "/proc/$T_PGCDC_PID/status")"
	for p in $(pgrep -P "$T_PGCDC_PID"); do
		kind=$(cat "/proc/$p/comm")
		kind=${kind#pgcdc-}
		t=$(awk '{print $14 + $15}' "/proc/$p/stat")
		ticks=$((ticks + t))
		b_put "$1.rss_${kind}_kb" "$(awk '/VmHWM/ {print $2}' "/proc/$p/status")"
		b_put "$1.cpu_us_${kind}" "$(python3 -c "print('%.2f' % ($t / $B_HZ * 1e6 / $2))")"
	done
	b_put "$1.cpu_us_per_change" "$(python3 -c "print('%.2f' % ($ticks / $B_HZ * 1e6 / $2))")"
}

# b_perf KIND: with BENCH_PERF=jsonl|pg (the consumer) profile the worker and
# the sink of the running pgcdc into build/perf-<consumer>-<kind>.data.
b_perf() {
	local k p
	[ "${BENCH_PERF:-}" = "$1" ] || return 0
	for k in worker sink; do
		t_wait_for 10 '[ -n "$(t_child_pid '"$k"')" ]'
		p=$(t_child_pid "$k")
		perf record -q -F 999 -g -o "$T_REPO/build/perf-$B_WL-$1-$k.data" -p "$p" 2>/dev/null &
		t_track $!
	done
}

# b_ws_start / b_ws_stop CONSUMER: the walsender serving the drain, sampled
# from /proc/<pid>/schedstat every 50 ms in the background (bash builtins
# only, so the sampler costs the run nothing): the share of the drain it
# ran, waited for a CPU, and slept (waiting for WAL or for its consumer to
# read).  A walsender that never sleeps was not held back by its consumer.
b_ws_start() {
	rm -f "$T_DIR/ws.stat"
	(
		pid=''
		mkfifo "$T_DIR/ws.tick" 2>/dev/null || true
		exec {fd}<>"$T_DIR/ws.tick"
		while :; do
			[ -n "$pid" ] || pid=$(t_sql "SELECT pid FROM pg_stat_replication LIMIT 1" 2>/dev/null) || true
			if [ -n "$pid" ] && read -r stat 2>/dev/null <"/proc/$pid/schedstat"; then
				echo "$stat" >"$T_DIR/ws.stat"
			fi
			read -r -t 0.05 -u "$fd" _ || true
		done
	) &
	B_WS=$!
	t_track "$B_WS"
}

b_ws_stop() {
	local on wait _
	kill "$B_WS" 2>/dev/null || true
	wait "$B_WS" 2>/dev/null || true
	[ -s "$T_DIR/ws.stat" ] || return 0
	read -r on wait _ <"$T_DIR/ws.stat"
	b_put "$1.walsender_run_pct" "$(python3 -c "print('%.0f' % ($on / 1e7 / $2))")"
	b_put "$1.walsender_wait_pct" "$(python3 -c "print('%.0f' % ($wait / 1e7 / $2))")"
}

# b_drain CHANGES END_LSN: every consumer in $B_CONS drains the backlog up to
# END_LSN, one after the other; records changes/s (start of the consumer to
# its slot confirming END_LSN), and for pgcdc CPU and RSS.
b_drain() {
	local n=$1 end=$2 c t0 t1
	b_put changes "$n"
	for c in $B_CONS; do
		b_ws_start
		t0=$(b_now)
		case $c in
		recv)	# its own CPU too (`times`: the subshell's children), the
			# reference for pgcdc's CPU per change
			("$PGC_BIN/pg_recvlogical" -d postgres -S recv --start -o proto_version=1 \
				-o publication_names=bench_pub -f /dev/null --endpos="$end" --no-loop
			times >"$T_DIR/recv.time") ;;
		jsonl | pg)
			T_CFG=$T_DIR/$c.cfg T_OUT=$T_DIR/$c.out
			t_pgcdc_start
			b_perf "$c"
			b_wait_confirmed "$c" "$end" ;;
		native)
			"$PGC_BIN/psql" -XAtq -h "$T_TG" -p "$T_TGPORT" -U postgres -d native \
				-c "ALTER SUBSCRIPTION sub ENABLE" >/dev/null
			b_wait_confirmed native "$end" ;;
		esac
		t1=$(b_now)
		b_ws_stop "$c" "$(python3 -c "print($t1 - $t0)")"
		b_put "$c.changes_per_s" "$(b_rate "$n" "$t0" "$t1")"
		[ "$c" != recv ] || b_put recv.cpu_us_per_change \
			"$(tail -n 1 "$T_DIR/recv.time" | tr 'ms' '  ' |
			awk -v n="$n" '{printf "%.2f", ($1 * 60 + $2 + $3 * 60 + $4) * 1e6 / n}')"
		if [ "$c" = jsonl ] || [ "$c" = pg ]; then
			b_procs "$c" "$n"
			t_pgcdc_stop
			if [ "$c" = jsonl ]; then
				t_assert_eq "$n" "$(scripts/events.py "$T_OUT" --lines)" "events written"
				rm -rf "$T_OUT"
			fi
		fi
	done
}

b_end_lsn() { t_sql "SELECT pg_current_wal_insert_lsn()"; }
