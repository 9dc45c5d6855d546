#!/usr/bin/env bash
# deps.sh: install the Debian packages pgcdc builds, tests and demos with.
# A quiet no-op ("deps: all present") when everything is installed; otherwise
# apt-get update once and install, never prompting (no terminal needed).  Not
# root and something missing: print what to install and exit 1.
# (postgresql-15 carries the contrib modules; DEPS_PKGS overrides the list.)

set -euo pipefail
read -ra PKGS -d "" <<<"${DEPS_PKGS:-build-essential pkg-config libpq-dev liblmdb-dev lmdb-utils
	libzmq3-dev libconfig-dev libcmocka-dev librdkafka-dev libmicrohttpd-dev postgresql-15 postgresql-client-15 python3
	python3-zmq
	procps tmux util-linux}" || true  # -d "": all lines, not just the first

missing() {
	local have
	have=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null |
		awk '$2 == "installed" { print $1 }') || true
	local p
	for p in "${PKGS[@]}"; do
		grep -qxF "$p" <<<"$have" || echo "$p"
	done
}

command -v dpkg-query >/dev/null || { echo "deps: dpkg-query not found: a Debian system is needed" >&2; exit 1; }
mapfile -t need < <(missing)
if [ ${#need[@]} -eq 0 ]; then
	echo "deps: all present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing: ${need[*]}" >&2
	echo "deps: as root run: apt-get update && apt-get install -y ${need[*]}" >&2
	exit 1
fi

echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt-get "${apt_opts[@]}" update </dev/null
apt-get "${apt_opts[@]}" install --no-install-recommends "${need[@]}" </dev/null

mapfile -t need < <(missing)
if [ ${#need[@]} -ne 0 ]; then
	echo "deps: still missing after apt-get install: ${need[*]}" >&2
	exit 1
fi
echo "deps: installed"
