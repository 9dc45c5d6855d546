#!/usr/bin/env bash
# run-tests.sh MODE [unit binaries...]   MODE: unit | integration | faults | all
# Runs each cmocka binary given, then tests/integration/*.sh (integration, all)
# and tests/faults/*.sh (faults, all) in lexical order, from the repo root, each
# under `timeout -k 10 ${TEST_TIMEOUT:-300}` with output in a log that is shown
# (last 80 lines) only on failure.  The last line is always "N passed, N failed";
# exit 0 only if nothing failed and something passed.  TEST_FILTER (a grep -E
# regex on test names) selects tests; RUN_TESTS_DIR replaces tests/ (self-test).

set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
MODE=${1:-}
shift || true
case $MODE in
unit | integration | faults | all) ;;
*)
	sed -n '2,8s/^# \{0,1\}//p' "$0" >&2
	echo "0 passed, 0 failed"
	exit 2
	;;
esac

TIMEOUT=${TEST_TIMEOUT:-300}
TESTS_DIR=${RUN_TESTS_DIR:-tests}
if [ "${SANITIZE:-0}" = 1 ]; then LOGDIR=$REPO/build-san/test-logs; else LOGDIR=$REPO/build/test-logs; fi
LOGDIR=${TEST_LOG_DIR:-$LOGDIR}
mkdir -p "$LOGDIR" || exit 2
passed=0
failed=0
failures=()
interrupted=0
tpid=

on_signal() {
	interrupted=1
	if [ -n "$tpid" ]; then kill -TERM "$tpid" 2>/dev/null; fi
}
trap on_signal INT TERM HUP

# A test whose own EXIT trap never ran (killed past the grace period) leaves
# its work dir behind, listed in the registry lib.sh writes: finish its job.
reap() {
	local reg=$1 what arg dir='' cluster=''
	while read -r what arg; do
		case $what in
		dir) dir=$arg ;;
		cluster) cluster=$arg ;;
		esac
	done <"$reg"
	if [ -n "$dir" ] && [ -d "$dir" ] && [ "${T_KEEP:-0}" != 1 ]; then
		while read -r what arg; do
			case $what in
			pgid) kill -KILL -- "-$arg" 2>/dev/null ;;
			pid) kill -KILL "$arg" 2>/dev/null ;;
			esac
		done <"$reg"
		if [ -n "$cluster" ]; then scripts/pgcluster.sh stop "$cluster" >/dev/null 2>&1; fi
		# Filesystems a test mounted there (the fault campaign's tmpfs).
		awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf "$dir"
		echo "    (cleaned up what the test left behind: $dir)"
	fi
	rm -f "$reg"
}

# run_one NAME CMD...: run, time, report, count.
run_one() {
	local name=$1 base log reg rc start secs why
	shift
	base=${name//\//_}
	log=$LOGDIR/$base.log
	reg=$LOGDIR/$base.registry
	: >"$reg"
	start=$SECONDS
	# Background + wait so a signal to us is handled at once; env restores
	# SIGINT/SIGQUIT, which bash ignores in background jobs.
	rm -rf "$LOGDIR/$base.d"
	T_REGISTRY=$reg T_SAVE_DIR=$LOGDIR/$base.d env --default-signal=INT,QUIT \
		timeout -k 10 "$TIMEOUT" "$@" </dev/null >"$log" 2>&1 &
	tpid=$!
	wait "$tpid" 2>/dev/null
	rc=$?
	while [ -e "/proc/$tpid" ]; do
		wait "$tpid" 2>/dev/null
		rc=$?
	done
	tpid=
	secs=$((SECONDS - start))
	if [ "$rc" = 0 ] && [ "$interrupted" = 0 ]; then
		echo "PASS $name (${secs}s)"
		# A fault campaign's verdict is worth seeing when it passes too.
		grep -E '^faults: [0-9]+ injected' "$log" | sed 's/^/    /' || true
		passed=$((passed + 1))
		reap "$reg"
		return
	fi
	case $rc in
	124 | 137) why="timed out after ${TIMEOUT}s" ;;
	*) why="exit $rc" ;;
	esac
	[ "$interrupted" = 0 ] || why=interrupted
	echo "FAIL $name (${secs}s, $why)"
	tail -n 80 "$log" | sed 's/^/    /'
	reap "$reg"
	echo "    (full log: $log)"
	failed=$((failed + 1))
	failures+=("$name")
}

selected() { [ -z "${TEST_FILTER:-}" ] || grep -Eq -- "$TEST_FILTER" <<<"$1"; }

run_unit() {
	local bin name
	for bin in "$@"; do
		name=$(basename "$bin")
		selected "$name" || continue
		[ "$interrupted" = 0 ] || return
		if [ ! -x "$bin" ]; then
			echo "FAIL $name (not an executable: $bin)"
			failed=$((failed + 1))
			failures+=("$name")
			continue
		fi
		run_one "$name" "$bin"
	done
}

run_scripts() {
	local kind=$1 t name
	for t in "$TESTS_DIR/$kind"/*.sh; do
		[ -f "$t" ] || continue
		name=$kind/$(basename "$t" .sh)
		selected "$name" || continue
		[ "$interrupted" = 0 ] || return
		# A fault campaign's length grows with FAULTS (default 30).
		if [ "$kind" = faults ]; then
			TIMEOUT=${TEST_TIMEOUT:-$((600 + 15 * ${FAULTS:-30}))} run_one "$name" bash "$t"
		else
			run_one "$name" bash "$t"
		fi
	done
}

case $MODE in
unit) run_unit "$@" ;;
integration) run_scripts integration ;;
faults) run_scripts faults ;;
all)
	run_unit "$@"
	run_scripts integration
	run_scripts faults
	;;
esac

[ "$passed" -gt 0 ] || [ "$failed" -gt 0 ] || echo "no tests found for mode $MODE"
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ] && [ "$interrupted" = 0 ]
