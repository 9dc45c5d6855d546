#!/usr/bin/env bash
# Streamed vs not: one transaction of BENCH_BIG (default 10,000,000) inserts
# written while pgcdc (worker + jsonl sink) runs, once with the slot's
# stream_in_progress off, once on (logical_decoding_work_mem left at its
# default, 64MB).  Prints the time from the COMMIT returning to the slot
# confirming it (every sink holds it durably) and what PostgreSQL spilled to
# its own disk (pg_stat_replication_slots).  Measured, never asserted.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. tests/lib.sh
. tests/pgcdc.sh
N=${BENCH_BIG:-10000000}
t_setup
t_sql "CREATE TABLE public.big (id bigint PRIMARY KEY, n int, v text)"
run() {	# run SLOT STREAM
	local slot=$1 stream=$2 t0 t1 t2 end_lsn
	T_CFG=$T_DIR/$slot.cfg T_OUT=$T_DIR/out-$slot
	T_CFG_EXTRA='snapshot = { mode = "never"; };' t_config "$T_CFG" "$slot" public.big "$T_OUT" "$T_DIR/state-$slot"
	sed -i "s|sinks = \[ \"out\" \]; }|sinks = [ \"out\" ]; stream_in_progress = $stream; }|" "$T_CFG"
	t_pgcdc_start
	t_wait_for 30 "t_slot_active $slot"
	t0=$EPOCHREALTIME
	t_sql "INSERT INTO big SELECT i, i % 1000, 'row ' || i FROM generate_series(1, $N) i"
	t1=$EPOCHREALTIME
	end_lsn=$(t_sql "SELECT pg_current_wal_insert_lsn()")
	until [ "$(t_sql "SELECT confirmed_flush_lsn >= '$end_lsn' FROM pg_replication_slots
	    WHERE slot_name = '$slot'")" = t ]; do
		sleep 0.2
	done
	t2=$EPOCHREALTIME
	[ "$(scripts/events.py "$T_OUT" public.big --lines)" = "$N" ] || t_fail "not $N events"
	t_pgcdc_stop
	python3 -c "print('stream_in_progress=%-5s insert+commit %.1f s; commit -> sink holds it: %.1f s' % ('$stream', $t1 - $t0, $t2 - $t1))"
	t_sql "SELECT format('  server: spill_txns %s spill_bytes %s stream_txns %s stream_bytes %s',
	    spill_txns, spill_bytes, stream_txns, stream_bytes) FROM pg_stat_replication_slots
	    WHERE slot_name = '$slot'"
	t_sql "SELECT pg_drop_replication_slot('$slot')" >/dev/null
	t_sql "TRUNCATE big"
}
run bigoff false
run bigon true
t_pass
