#!/usr/bin/env bash
# bench workload 1, bulk: 1M inserts (4 transactions), 250k updates (2) and
# 100k deletes (1) into public.bulk (bigserial, int, text, timestamptz,
# numeric), times BENCH_SCALE; BENCH_RUNS runs, each on fresh slots, drained
# by pg_recvlogical, pgcdc (jsonl and postgres sinks) and native logical
# replication (lib.sh b_drain).
. "$(dirname "$0")/lib.sh"
B_WL=bulk
DDL="CREATE TABLE public.bulk (id bigserial PRIMARY KEY, n int NOT NULL, t text NOT NULL,
  ts timestamptz NOT NULL, amount numeric(12,2) NOT NULL)"
ins=$(b_n 1000000) upd=$(b_n 250000) del=$(b_n 100000)
b_setup
for ((run = 1; run <= B_RUNS; run++)); do
	t_sql "DROP TABLE IF EXISTS public.bulk; $DDL"
	b_fresh public.bulk "$DDL"
	echo "bulk run $run: $ins inserts, $upd updates, $del deletes"
	for ((i = 0; i < 4; i++)); do
		t_sql "INSERT INTO bulk (n, t, ts, amount) SELECT g, 'bulk row ' || g, now() - g * interval '1 s',
		  g * 1.25 FROM generate_series($((i * ins / 4 + 1)), $(((i + 1) * ins / 4))) g"
	done
	t_sql "UPDATE bulk SET n = n + 1, amount = amount + 1 WHERE id <= $((upd / 2))"
	t_sql "UPDATE bulk SET t = t || '+', ts = ts + interval '1 h' WHERE id > $((upd / 2)) AND id <= $upd"
	t_sql "DELETE FROM bulk WHERE id > $((ins - del))"
	b_drain $((ins + upd + del)) "$(b_end_lsn)"
done
t_pass
