# tests/lib.sh: sourced (bash) by every integration and fault test.
# t_setup gives the test a private 0700 work dir with a throwaway PostgreSQL 15
# in it; an EXIT trap kills every process the test started, stops the cluster
# and removes the dir however the test ends (T_KEEP=1 keeps the dir).  Waits
# are conditions polled against a deadline (t_wait_for), never bare sleeps.
# Any command that fails outside a condition fails the test (set -e).

set -eE -o pipefail
T_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO=$T_REPO
T_NAME=$(basename "$0" .sh)
T_DIR=
T_PGDIR=
T_FAIL_MSG=
T_PIDS=()
T_PGCDC_USER=${T_PGCDC_USER:-pgcdc_user}	# T_PGCDC_USER=postgres: as a superuser
T_PGIDS=()
cd "$T_REPO"
. "$T_REPO/scripts/pgcluster.sh"

_t_note() { printf '%s\n' "$*" >&2; }

t_fail() {
	T_FAIL_MSG="FAIL: $T_NAME: $*"
	_t_note "$T_FAIL_MSG"
	exit 1
}

t_pass() {
	echo "PASS: $T_NAME"
	exit 0
}

# Names the failing command with its call chain, outermost first.
_t_on_err() {
	local i where=
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		where="${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}${where:+ > $where}"
	done
	T_FAIL_MSG="FAIL: $T_NAME: $where: exit status $1: $2"
	_t_note "$T_FAIL_MSG"
}
trap '_t_on_err $? "$BASH_COMMAND"' ERR

# Directory of the built binaries (build-san when SANITIZE=1).
t_bin() {
	if [ "${SANITIZE:-0}" = 1 ]; then echo "$T_REPO/build-san"; else echo "$T_REPO/build"; fi
}

_t_register() { if [ -n "${T_REGISTRY:-}" ]; then echo "$*" >>"$T_REGISTRY"; fi; }

# t_track PID...: kill these at exit; a PID that leads its own process group
# gets the whole group killed.
t_track() {
	local p
	for p in "$@"; do
		T_PIDS+=("$p")
		_t_register pid "$p"
		if [ "$(ps -o pgid= -p "$p" 2>/dev/null | tr -d ' ')" = "$p" ]; then t_track_group "$p"; fi
	done
}

t_track_group() {
	T_PGIDS+=("$1")
	_t_register pgid "$1"
}

# t_bg CMD...: run CMD in the background in its own process group (so its
# children die with it at exit); its pid is left in T_BG_PID.
t_bg() {
	setsid "$@" </dev/null &
	T_BG_PID=$!
	T_PIDS+=("$T_BG_PID")
	_t_register pid "$T_BG_PID"
	t_track_group "$T_BG_PID"
}

_t_alive() { # pid: exists and is not a zombie
	local st
	st=$(cut -d ' ' -f 3 "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

_t_group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }

_t_any_alive() {
	local p
	for p in "${T_PGIDS[@]}"; do _t_group_alive "$p" && return 0; done
	for p in "${T_PIDS[@]}"; do _t_alive "$p" && return 0; done
	return 1
}

_t_signal_all() {
	local p
	for p in "${T_PGIDS[@]}"; do kill "-$1" -- "-$p" 2>/dev/null; done
	for p in "${T_PIDS[@]}"; do kill "-$1" "$p" 2>/dev/null; done
}

# TERM everything, give it T_KILL_GRACE seconds (default 5), then KILL.
_t_stop_procs() {
	local p end
	for p in $(jobs -p); do T_PIDS+=("$p"); done
	[ ${#T_PIDS[@]} -gt 0 ] || [ ${#T_PGIDS[@]} -gt 0 ] || return 0
	_t_signal_all TERM
	end=$((SECONDS + ${T_KILL_GRACE:-5}))
	while _t_any_alive && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
	if _t_any_alive; then _t_signal_all KILL; fi
	for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	return 0
}

# On failure, the tail of every log in the work dir (it is about to vanish);
# under scripts/run-tests.sh the whole logs (each up to 20 MB) and a listing
# of the work dir's files are also saved in $T_SAVE_DIR, so a rare failure
# in CI can be read afterwards.
_t_show_logs() {
	local f
	find "$T_DIR" -maxdepth 3 -name '*.log' ! -name initdb.log -size +0 2>/dev/null | sort |
		while read -r f; do
			_t_note "---- last lines of $f"
			tail -n "${T_LOG_LINES:-25}" "$f" >&2
			if [ -n "${T_SAVE_DIR:-}" ] && mkdir -p "$T_SAVE_DIR"; then
				f=${f#"$T_DIR"/}
				tail -c 20000000 "$T_DIR/$f" >"$T_SAVE_DIR/${f//\//_}"
			fi
		done
	if [ -n "${T_SAVE_DIR:-}" ] && [ -d "$T_SAVE_DIR" ]; then
		find "$T_DIR" -path "$T_PGDIR" -prune -o -type f -printf '%s %p\n' 2>/dev/null |
			sort -k 2 >"$T_SAVE_DIR/files.txt"
		_t_note "(whole logs and a file listing: $T_SAVE_DIR)"
	fi
}

_t_cleanup() {
	local rc=$?
	set +eE
	trap - ERR
	trap '' INT TERM HUP
	_t_stop_procs
	if [ -n "$T_DIR" ] && [ -d "$T_DIR" ]; then
		[ "$rc" = 0 ] || _t_show_logs
		if [ "${T_KEEP:-0}" = 1 ]; then
			pgcluster_stop "$T_PGDIR" --keep
			_t_note "T_KEEP=1: kept $T_DIR (its PostgreSQL: scripts/pgcluster.sh start $T_PGDIR)"
		else
			pgcluster_stop "$T_PGDIR"
			rm -rf "$T_DIR"
		fi
	fi
	if [ "$rc" != 0 ]; then _t_note "${T_FAIL_MSG:-FAIL: $T_NAME: exit status $rc}"; fi
	exit "$rc"
}

# Work dir + cluster; exports PGHOST PGPORT PGUSER PGDATABASE, T_DIR, T_PGDIR.
# The tests' own SQL runs as the superuser postgres; pgcdc logs in as the
# least-privilege role $T_PGCDC_USER (tests/fixtures/pgcdc_role.sql).
t_setup() {
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgcdc-$T_NAME.XXXXXX")
	_t_register dir "$T_DIR"
	trap _t_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pgcluster_owner "$T_DIR"
	T_PGDIR=$T_DIR/pg
	_t_register cluster "$T_PGDIR"
	pgcluster_start "$T_PGDIR" || t_fail "cannot start PostgreSQL in $T_PGDIR"
	unset PGHOSTADDR PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE
	export PGUSER=postgres PGDATABASE=postgres T_DIR T_PGDIR
	t_sql_file "$T_REPO/tests/fixtures/pgcdc_role.sql" >/dev/null
}

# Restart the test's PostgreSQL (fast or immediate); same socket and port.
t_pg_restart() {
	pgcluster_restart "$T_PGDIR" "${1:-fast}" || t_fail "cannot restart PostgreSQL"
}

t_sql() {
	local sql=$1
	shift
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -c "$sql" "$@"
}

t_sql_file() {
	local file=$1
	shift
	"$PGC_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -f "$file" "$@"
}

t_assert_eq() {
	[ "$1" = "$2" ] || t_fail "${3:-values differ}: expected '$1', got '$2'"
}

_t_usec() { # "1.5" -> 1500000
	local i=${1%%.*} f=
	[[ $1 == *.* ]] && f=${1#*.}
	f=${f}000000
	echo $((10#${i:-0} * 1000000 + 10#${f:0:6}))
}

# t_wait_for TIMEOUT_S 'shell condition': poll every 0.1 s (T_WAIT_STEP) until the
# condition holds; past the deadline show its output once and fail.
t_wait_for() {
	local timeout=$1 cond=$2 end
	end=$((${EPOCHREALTIME/./} + $(_t_usec "$timeout")))
	while :; do
		if eval "$cond" >/dev/null 2>&1; then return 0; fi
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || break
		sleep "${T_WAIT_STEP:-0.1}"
	done
	_t_note "condition output:"
	(eval "$cond") 2>&1 | tail -n 20 >&2 || true
	t_fail "timed out after ${timeout}s waiting for: $cond"
}

_t_cfg_str() { # escape for a libconfig string
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# t_config FILE SLOT TABLES SINK_DIR [STATE_DIR] [CONNINFO]: a pgcdc config
# with one slot (TABLES: "s.t, s.u" or space separated, patterns allowed) and
# one jsonl sink named "out" (T_SINKS=N: N of them, "out", "out2", ...).  STATE_DIR defaults to $T_DIR/state, the log
# goes to ${T_LOG_FILE:-$T_DIR/pgcdc.log} at ${T_LOG_LEVEL:-info}, and
# $T_CFG_EXTRA (top-level settings, e.g. snapshot = {...};) is appended.
t_config() {
	local file=$1 slot=$2 tables=$3 out=$4 state=${5:-$T_DIR/state}
	local conninfo=${6:-"host=$PGHOST port=$PGPORT dbname=postgres user=$T_PGCDC_USER"}
	local list='' t arr i sinks='' defs='' name
	# T_SINKS=N: jsonl sinks "out" (dir OUT), "out2" (dir OUT2), ... feed the slot.
	for ((i = 1; i <= ${T_SINKS:-1}; i++)); do
		name=out
		[ "$i" = 1 ] || name=out$i
		sinks+="${sinks:+, }\"$name\""
		defs+="${defs:+, }{ name = \"$name\"; type = \"jsonl\"; dir = $(_t_cfg_str "${out}${i#1}"); }"
	done
	read -ra arr <<<"${tables//,/ }"
	for t in "${arr[@]}"; do list+="${list:+, }$(_t_cfg_str "$t")"; done
	cat >"$file" <<EOF
# written by tests/lib.sh t_config
state_dir = $(_t_cfg_str "$state");
run_dir = $(_t_cfg_str "$state/run");
log = { level = $(_t_cfg_str "${T_LOG_LEVEL:-info}"); file = $(_t_cfg_str "${T_LOG_FILE:-$T_DIR/pgcdc.log}"); };
source = { conninfo = $(_t_cfg_str "$conninfo"); };
status_interval_ms = 1000;
shutdown_timeout = 10;
allow_root = true;
slots = ( { name = $(_t_cfg_str "$slot"); tables = [ $list ]; sinks = [ $sinks ]; } );
sinks = ( $defs );
${T_CFG_EXTRA:-}
EOF
}
