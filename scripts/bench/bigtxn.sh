#!/usr/bin/env bash
# bench workload 4, big transaction: one INSERT of 10M rows (times
# BENCH_SCALE) in one transaction, drained by every consumer (lib.sh
# b_drain); the figure to watch is the peak RSS (VmHWM) of each pgcdc
# process, which must not grow with the transaction.  BENCH_BIG_RUNS
# overrides BENCH_RUNS here (the longest workload).
. "$(dirname "$0")/lib.sh"
B_WL=bigtxn
DDL="CREATE TABLE public.big (id bigserial PRIMARY KEY, n int NOT NULL, t text NOT NULL)"
n=$(b_n 10000000)
B_RUNS=${BENCH_BIG_RUNS:-$B_RUNS}
b_setup
for ((run = 1; run <= B_RUNS; run++)); do
	t_sql "DROP TABLE IF EXISTS public.big; $DDL"
	b_fresh public.big "$DDL"
	echo "bigtxn run $run: one transaction of $n inserts"
	t_sql "INSERT INTO big (n, t) SELECT g % 1000, 'row ' || g FROM generate_series(1, $n) g"
	b_drain "$n" "$(b_end_lsn)"
done
t_pass
