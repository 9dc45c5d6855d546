#!/usr/bin/env bash
# bench workload 5 (not in the default set: BENCH_ONLY=tables), many tables:
# the same number of single-row inserts (1M x BENCH_SCALE, in transactions
# of 1,000) into one table, then spread round-robin over BENCH_TABLES
# tables (default 1,000), each drained by pg_recvlogical and pgcdc ->
# jsonl.  What a sink spends per change must not grow with the tables it
# writes (file lookup, idle writes, flush).
. "$(dirname "$0")/lib.sh"
n=$(b_n 1000000)
many=${BENCH_TABLES:-1000}
B_CONS=${BENCH_CONSUMERS:-recv jsonl}
b_setup
for ((run = 1; run <= B_RUNS; run++)); do
	for nt in 1 "$many"; do
		B_WL=tables-$nt
		echo "tables run $run: $n changes into $nt table(s)"
		t_sql "DO \$\$ BEGIN FOR i IN 1..$many LOOP
		  EXECUTE format('DROP TABLE IF EXISTS public.t%s', i); END LOOP; END \$\$"
		t_sql "DO \$\$ BEGIN FOR i IN 1..$nt LOOP
		  EXECUTE format('CREATE TABLE public.t%s (id int PRIMARY KEY, v text)', i); END LOOP; END \$\$"
		b_fresh "$(python3 -c "print(' '.join('public.t%d' % i for i in range(1, $nt + 1)))")" ""
		t_sql "DO \$\$ BEGIN FOR k IN 0..$((n / nt - 1)) LOOP FOR i IN 1..$nt LOOP
		  EXECUTE format('INSERT INTO public.t%s VALUES (%s, ''row'')', i, k);
		  IF (k * $nt + i) % 1000 = 0 THEN COMMIT; END IF; END LOOP; END LOOP; END \$\$"
		b_drain $((n / nt * nt)) "$(b_end_lsn)"
	done
done
t_pass
