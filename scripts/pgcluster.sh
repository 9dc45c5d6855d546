#!/usr/bin/env bash
# pgcluster.sh: throwaway PostgreSQL 15 clusters for tests, demo and bench.
#   pgcluster.sh start DIR [PORT]      initdb DIR/data (first time), start, print PGHOST=/PGPORT= for eval
#   pgcluster.sh stop DIR [--keep]     fast, then immediate, then SIGKILL; removes DIR unless --keep
#   pgcluster.sh restart DIR [fast|immediate]
#   pgcluster.sh psql DIR [psql args]
# Sourced, it defines pgcluster_start (exports PGHOST/PGPORT), pgcluster_stop, pgcluster_restart,
# pgcluster_psql and pgcluster_owner, and changes no shell option.  Invariants: the server runs as
# the OS user postgres when we are root (created if missing), listens only on a Unix socket in
# DIR, and `stop` removes only a DIR that start marked as its own.

PGC_BIN=${PGC_BIN:-/usr/lib/postgresql/15/bin}

pgc_err() { printf 'pgcluster: %s\n' "$*" >&2; }

pgc_is_root() { [ "$(id -u)" = 0 ]; }

# Ensure the cluster owner exists and owns DIR (when root; else we own it).
pgcluster_owner() {
	local dir=$1
	if pgc_is_root; then
		if ! id -u postgres >/dev/null 2>&1; then
			useradd --system --user-group --no-create-home \
				--home-dir /var/lib/postgresql --shell /bin/sh postgres ||
				{ pgc_err "cannot create the OS user postgres"; return 1; }
		fi
		chown postgres: "$dir" || return 1
	fi
	chmod 0700 "$dir"
}

# Run a server-side command as the cluster owner, from DIR, with a clean
# environment so no PG* variable of the caller leaks into the server.
pgc_as() {
	local dir=$1
	shift
	if pgc_is_root; then
		(cd "$dir" && exec runuser -u postgres -- env -i PATH=/usr/bin:/bin LC_ALL=C "$@")
	else
		(cd "$dir" && exec env -i PATH=/usr/bin:/bin LC_ALL=C HOME="${HOME:-/}" "$@")
	fi
}

# A port nothing listens on over TCP.  The server itself listens only on the
# socket in its own DIR, so this just keeps ports distinct and recognisable.
pgc_free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	pgc_err "no free port found"
	return 1
}

pgc_port() { cat "$1/port" 2>/dev/null; }

pgc_conf() {
	local dir=$1 port=$2 conf=$1/data/pgcluster.conf
	cat >"$conf" <<EOF || return 1
# written by scripts/pgcluster.sh start; rewritten on every start
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = on
logging_collector = off
EOF
	if pgc_is_root; then chown postgres: "$conf"; fi
}

pgc_initdb() {
	local dir=$1 data=$1/data
	pgc_as "$dir" "$PGC_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
		--locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		{ pgc_err "initdb failed:"; cat "$dir/initdb.log" >&2; return 1; }
	echo "include 'pgcluster.conf'" >>"$data/postgresql.conf"
}

pgc_wait_ready() {
	local dir=$1 port=$2
	for _ in $(seq 1 100); do
		"$PGC_BIN/pg_isready" -q -h "$dir" -p "$port" -U postgres -d postgres && return 0
		sleep 0.1
	done
	pgc_err "server in $dir did not become ready; last lines of $dir/pg.log:"
	tail -n 20 "$dir/pg.log" >&2
	return 1
}

# Prints PGHOST=... and PGPORT=... lines; everything else goes to stderr.
pgc_start() {
	local dir=${1:-} port=${2:-}
	[ -n "$dir" ] || { pgc_err "usage: start DIR [PORT]"; return 2; }
	[ -x "$PGC_BIN/initdb" ] ||
		{ pgc_err "$PGC_BIN/initdb not found (scripts/deps.sh installs postgresql-15)"; return 1; }
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd -P) || return 1
	case $dir in *"'"* | *[[:space:]]*) pgc_err "DIR must not contain quotes or spaces: $dir"; return 1 ;; esac
	pgcluster_owner "$dir" || return 1
	pgc_as "$dir" test -w "$dir" ||
		{ pgc_err "the cluster owner cannot write $dir (is a parent dir closed to it?)"; return 1; }
	touch "$dir/.pgcluster" || return 1
	[ -n "$port" ] || port=$(pgc_port "$dir") || true
	[ -n "$port" ] || port=$(pgc_free_port) || return 1
	if [ $((${#dir} + 15)) -gt 107 ]; then
		pgc_err "socket path $dir/.s.PGSQL.$port is too long; use a shorter TMPDIR"
		return 1
	fi
	echo "$port" >"$dir/port"
	if [ ! -f "$dir/data/PG_VERSION" ]; then pgc_initdb "$dir" || return 1; fi
	if ! pgc_as "$dir" "$PGC_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		pgc_conf "$dir" "$port" || return 1
		pgc_as "$dir" "$PGC_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 30 -s start ||
			{ pgc_err "pg_ctl start failed; last lines of $dir/pg.log:"; tail -n 20 "$dir/pg.log" >&2; return 1; }
	fi
	pgc_wait_ready "$dir" "$port" || return 1
	printf 'PGHOST=%q\nPGPORT=%q\n' "$dir" "$port"
}

# SIGKILL the postmaster named in postmaster.pid, if it is still a postgres.
pgc_kill9() {
	local data=$1 pid
	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || return 0
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	grep -qs postgres "/proc/$pid/cmdline" || return 0
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		[ -e "/proc/$pid" ] || return 0
		sleep 0.1
	done
	pgc_err "postmaster $pid survived SIGKILL"
	return 1
}

pgc_halt() {
	local dir=$1 mode=${2:-fast} data=$1/data
	[ -f "$data/postmaster.pid" ] || return 0
	pgc_as "$dir" "$PGC_BIN/pg_ctl" -D "$data" -m "$mode" -w -t 5 -s stop >/dev/null 2>&1 && return 0
	pgc_as "$dir" "$PGC_BIN/pg_ctl" -D "$data" -m immediate -w -t 5 -s stop >/dev/null 2>&1 && return 0
	pgc_kill9 "$data"
}

pgc_stop() {
	local dir=${1:-} keep=${2:-}
	[ -n "$dir" ] || { pgc_err "usage: stop DIR [--keep]"; return 2; }
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd -P) || return 1
	pgc_halt "$dir" fast || return 1
	[ "$keep" = --keep ] && return 0
	if [ -e "$dir/.pgcluster" ]; then
		rm -rf "$dir"
	elif ! rmdir "$dir" 2>/dev/null; then
		pgc_err "not removing $dir: it was not made by pgcluster.sh start"
		return 1
	fi
}

pgc_restart() {
	local dir=${1:-} mode=${2:-fast}
	[ -f "$dir/data/PG_VERSION" ] || { pgc_err "usage: restart DIR [fast|immediate] (no cluster in '$dir')"; return 2; }
	pgc_halt "$dir" "$mode" || return 1
	pgc_start "$dir" "$(pgc_port "$dir")"
}

pgc_psql() {
	local dir=${1:-}
	[ -f "$dir/port" ] || { pgc_err "usage: psql DIR [args] (no cluster in '$dir')"; return 2; }
	shift
	"$PGC_BIN/psql" -X -h "$dir" -p "$(pgc_port "$dir")" -U postgres -d postgres "$@"
}

# Run pgc_start or pgc_restart and export the PGHOST/PGPORT it prints.
pgc_export() {
	local out
	out=$("$@") || return 1
	eval "$out"
	export PGHOST PGPORT
}
pgcluster_start() { pgc_export pgc_start "$@"; }
pgcluster_restart() { pgc_export pgc_restart "$@"; }
pgcluster_stop() { pgc_stop "$@"; }
pgcluster_psql() { pgc_psql "$@"; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	cmd=${1:-}
	shift || true
	case $cmd in
	start) pgc_start "$@" ;;
	stop) pgc_stop "$@" ;;
	restart) pgc_restart "$@" ;;
	psql) pgc_psql "$@" ;;
	*)
		sed -n '2,6s/^# \{0,1\}//p' "$0" >&2
		exit 2
		;;
	esac
fi
