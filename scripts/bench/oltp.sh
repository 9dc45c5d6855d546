#!/usr/bin/env bash
# bench workload 2, oltp: pgbench with oltp.pgbench (1-5 changes per
# transaction).  Max rate: 8 clients (BENCH_OLTP_CLIENTS) for BENCH_OLTP_SECONDS (30 x
# BENCH_SCALE, at least 5) with no consumer attached, then the backlog is
# drained by every consumer (lib.sh b_drain).  Fixed rate: --rate 5000, then
# half the max rate, for as long while pgcdc -> jsonl runs live and
# latency.py follows its output.
. "$(dirname "$0")/lib.sh"
B_WL=oltp
DDL="CREATE TABLE public.acct (id int PRIMARY KEY, bal bigint NOT NULL, ts timestamptz);
CREATE TABLE public.hist (id bigserial PRIMARY KEY, aid int NOT NULL, delta int NOT NULL, t text,
  ts timestamptz NOT NULL);
INSERT INTO public.acct SELECT g, 0, NULL FROM generate_series(1, 100000) g"
secs=${BENCH_OLTP_SECONDS:-$(python3 -c "print(max(5, int(30 * $B_SCALE)))")}
script=$B_DIR/oltp.pgbench

fresh() {
	t_sql "DROP TABLE IF EXISTS public.acct, public.hist" >/dev/null
	t_sql_file <(echo "$DDL") >/dev/null
	t_sql "VACUUM ANALYZE acct"
	b_fresh "public.acct public.hist" "$DDL"
}

# bench LABEL ARGS...: pgbench with ARGS; leaves the transactions in $txns.
bench() {
	local out label=$1
	shift
	out=$("$PGC_BIN/pgbench" -n -f "$script" -c "${BENCH_OLTP_CLIENTS:-8}" -j 2 -T "$secs" "$@" 2>&1) ||
		t_fail "pgbench: $out"
	txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	b_put "$label.pgbench_tps" "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)"
}

# live LABEL RATE: pgcdc -> jsonl runs live while pgbench runs at RATE tx/s;
# latency.py follows the sink's output.
live() {
	local label=$1 rate=$2 end n seen p50 p99 max
	B_CONS=jsonl fresh
	echo "oltp run $run: $rate tx/s for $secs s, pgcdc -> jsonl live"
	b_put "$label.rate_asked" "$rate"
	T_CFG=$T_DIR/jsonl.cfg T_OUT=$T_DIR/jsonl.out
	t_pgcdc_start
	t_wait_for 60 "t_slot_active jsonl"
	rm -f "$T_DIR/stop" "$T_DIR/stop.ready"
	"$B_DIR/latency.py" "$T_OUT" "$T_DIR/stop" >"$T_DIR/lat.txt" &
	reader=$!
	t_track "$reader"
	t_wait_for 30 "[ -e $T_DIR/stop.ready ]"
	bench "$label" --rate "$rate"
	end=$(b_end_lsn)
	n=$((txns + $(t_sql "SELECT count(*) FROM hist")))
	b_wait_confirmed jsonl "$end"
	touch "$T_DIR/stop"
	wait "$reader"
	read -r seen p50 p99 max <"$T_DIR/lat.txt"
	t_assert_eq "$(t_sql "SELECT count(*) FROM hist")" "$seen" "history rows seen by latency.py"
	b_put "$label.latency_p50_ms" "$p50"
	b_put "$label.latency_p99_ms" "$p99"
	b_put "$label.latency_max_ms" "$max"
	b_procs "$label" "$n"
	t_pgcdc_stop
}

b_setup
for ((run = 1; run <= B_RUNS; run++)); do
	fresh
	echo "oltp run $run: max rate for $secs s"
	bench max
	max_tps=$(awk -v t="$txns" -v s="$secs" 'BEGIN {print t / s}')
	b_drain $((txns + $(t_sql "SELECT count(*) FROM hist"))) "$(b_end_lsn)"

	live fixed 5000
	# 5,000 tx/s may be more than this server commits with fsync on (then
	# pgbench falls behind and latency grows with its queue): also at half
	# the rate it reached with no consumer.
	live half "$(python3 -c "print(max(100, int($max_tps / 2 / 100) * 100))")"
done
t_pass
