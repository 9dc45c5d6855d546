#!/usr/bin/env bash
# make bench: runs the workloads (BENCH_ONLY, default "bulk oltp snapshot
# bigtxn"; "tables" is the many-tables one, not in the default set), each
# BENCH_RUNS times (default 3) at BENCH_SCALE (default 1),
# collecting their figures in build/bench/results.tsv (BENCH_APPEND=1 adds to
# it, e.g. a workload at another scale), then report.py prints the table
# with the targets beside it and writes BENCHMARKS.md.  Nothing is
# asserted on timing; a workload that fails is reported and the rest go on.
# BENCH_CONSUMERS (default "recv jsonl pg native") limits the drains;
# BENCH_PERF=jsonl|pg records perf profiles of that pgcdc (lib.sh b_perf).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
mkdir -p build/bench
export BENCH_RESULTS=$repo/build/bench/results.tsv
[ "${BENCH_APPEND:-0}" = 1 ] || : >"$BENCH_RESULTS"
failed=
start=$(date -u '+%Y-%m-%d %H:%M UTC')
load0="$(cut -d ' ' -f 1-3 /proc/loadavg) at the start"
commit=$(git rev-parse --short HEAD)
for w in ${BENCH_ONLY:-bulk oltp snapshot bigtxn}; do
	echo "== $w (runs ${BENCH_RUNS:-3}, scale ${BENCH_SCALE:-1})"
	scripts/bench/"$w".sh 2>&1 | tee "build/bench/$w.log" | grep -E '^(PASS|FAIL|[a-z]+ run [0-9]+:)' ||
		true
	grep -q "^PASS: $w" "build/bench/$w.log" || failed+=" $w"
done
python3 scripts/bench/report.py "$BENCH_RESULTS" --start "$start" --load "$load0" \
	--failed "${failed# }" --commit "$commit" --out BENCHMARKS.md
[ -z "$failed" ] || { echo "bench: failed:$failed (logs in build/bench/)" >&2; exit 1; }
