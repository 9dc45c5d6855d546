#!/usr/bin/env bash
# bench workload 3, snapshot: a table of 5M rows (times BENCH_SCALE) read by
# COPY ... TO STDOUT into /dev/null (the baseline), then snapshotted by pgcdc
# into the jsonl and the postgres sink (mode initial, default chunk_rows):
# from the start of pgcdc (slot creation included) to the worker's log line
# "snapshot of public.snap done", i.e. every chunk acked by the sink; and native logical
# replication's initial table sync into the target, the postgres sink's
# baseline.
. "$(dirname "$0")/lib.sh"
B_WL=snapshot
DDL="CREATE TABLE public.snap (id bigserial PRIMARY KEY, n int NOT NULL, t text NOT NULL,
  ts timestamptz NOT NULL, amount numeric(12,2) NOT NULL)"
n=$(b_n 5000000)
b_setup
t_sql "$DDL"
t_sql "INSERT INTO snap (n, t, ts, amount) SELECT g, 'snapshot row ' || g, now() - g * interval '1 s',
  g * 1.25 FROM generate_series(1, $n) g"
t_sql "VACUUM ANALYZE snap"
t_sql "CREATE PUBLICATION bench_pub FOR TABLE public.snap"
# Done: the worker logs it once every sink acked the last chunk (what
# `pgcdc status` shows as done; a grep costs the run less than a status).
snap_done() { grep -q "snapshot of public.snap done" "$log"; }
for ((run = 1; run <= B_RUNS; run++)); do
	echo "snapshot run $run: $n rows"
	b_put rows "$n"
	t0=$(b_now)
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -c "COPY public.snap TO STDOUT" >/dev/null
	b_put copy.rows_per_s "$(b_rate "$n" "$t0" "$(b_now)")"
	for c in jsonl pg; do
		b_slot_gone "$c"
		[ "$c" = jsonl ] || b_target_db pgsink "$DDL"
		log=$T_DIR/$c-$run.log
		T_LOG_FILE=$log b_cfg "$c" "$c" public.snap
		t0=$(b_now)
		t_pgcdc_start
		b_perf "$c"
		t_wait_for 3600 snap_done
		b_put "$c.rows_per_s" "$(b_rate "$n" "$t0" "$(b_now)")"
		b_procs "$c" "$n"
		t_pgcdc_stop
		if [ "$c" = jsonl ]; then
			t_assert_eq "$n" "$(scripts/events.py "$T_OUT" --lines)" "snapshot rows written"
			rm -rf "$T_OUT"
		fi
	done
	# The postgres sink's baseline: native logical replication's initial
	# table sync (a tablesync worker COPYs the table into the target) from
	# CREATE SUBSCRIPTION to the table's state ready (waited for inside the
	# target, b_until).
	b_target_db native "$DDL"
	t0=$(b_now)
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$T_TG" -p "$T_TGPORT" -U postgres -d native \
		-c "CREATE SUBSCRIPTION sub CONNECTION 'host=$PGHOST port=$PGPORT dbname=postgres user=postgres'
		    PUBLICATION bench_pub WITH (slot_name = 'native')" >/dev/null
	b_until "SELECT count(*) > 0 AND NOT bool_or(srsubstate NOT IN ('r', 's')) FROM pg_subscription_rel" \
		-h "$T_TG" -p "$T_TGPORT" -U postgres -d native
	b_put native.rows_per_s "$(b_rate "$n" "$t0" "$(b_now)")"
	t_assert_eq "$n" "$("$PGC_BIN/psql" -XAtq -h "$T_TG" -p "$T_TGPORT" -U postgres -d native \
		-c "SELECT count(*) FROM public.snap")" "rows copied by the native initial sync"
	"$PGC_BIN/psql" -XAtq -h "$T_TG" -p "$T_TGPORT" -U postgres -d native \
		-c "ALTER SUBSCRIPTION sub DISABLE" -c "ALTER SUBSCRIPTION sub SET (slot_name = NONE)" \
		-c "DROP SUBSCRIPTION sub" >/dev/null
	b_slot_gone native
done
t_pass
