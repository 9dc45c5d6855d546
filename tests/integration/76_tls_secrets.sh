#!/usr/bin/env bash
# TLS to the source with a self-signed CA: the server gets ssl = on, a
# certificate for localhost/127.0.0.1 and a TCP listener on its port; over
# TCP only hostssl with scram-sha-256 is allowed.  With sslmode=verify-full
# and sslrootcert the CA, pgcdc streams (over SSL, pg_stat_ssl says so); a
# wrong CA is refused (slot FAILED, not retried) with a message naming
# sslrootcert.  The password comes from password_file, and `pgcdc check` also
# finds it through PGPASSFILE and ~/.pgpass.  It never appears in the log,
# `pgcdc status`, or /proc/<pid>/cmdline|environ of supervisor, worker, sink.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/bad_input.inc"
t_setup
PW=Tls-secret-3f9a61c2
DATA=$T_PGDIR/data

# ---- a CA, a server certificate it signs, and a CA that signed nothing
cd "$T_DIR" || t_fail "cd $T_DIR"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
for ca in ca wrong; do
	openssl req -x509 $ec -days 2 -subj "/CN=pgcdc test $ca CA" -keyout $ca.key -out $ca.crt \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		2>>openssl.log || t_fail "openssl: $(tail -n 3 openssl.log)"
done
openssl req $ec -subj "/CN=localhost" -keyout server.key -out server.csr 2>>openssl.log &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext &&
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.crt 2>>openssl.log || t_fail "openssl: $(tail -n 3 openssl.log)"
cd "$T_REPO" || t_fail "cd $T_REPO"
install -m 0600 "$T_DIR/server.key" "$T_DIR/server.crt" "$DATA/"
chown --reference="$DATA" "$DATA/server.key" "$DATA/server.crt"

# ---- the server: ssl on, TCP on its port, hostssl + scram first in pg_hba
t_sql "SET password_encryption = 'scram-sha-256'; ALTER ROLE postgres PASSWORD '$PW'"
t_sql "ALTER SYSTEM SET ssl = on"
t_sql "ALTER SYSTEM SET listen_addresses = '127.0.0.1'"
sed -i '1i hostnossl all all 0.0.0.0/0 reject\nhostnossl replication all 0.0.0.0/0 reject\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl replication all 127.0.0.1/32 scram-sha-256' "$DATA/pg_hba.conf"
t_pg_restart
t_assert_eq on "$(t_sql "SHOW ssl")" "ssl after restart"

CONN="host=localhost hostaddr=127.0.0.1 port=$PGPORT dbname=postgres user=postgres sslmode=verify-full sslrootcert=$T_DIR/ca.crt"
PWF=$T_DIR/password
printf '%s\n' "$PW" >"$PWF"
chmod 0600 "$PWF"
t_sql "CREATE TABLE public.t (id int PRIMARY KEY, v text)"

# config CASE CONNINFO: slot tls, log $T_DIR/CASE.log, password_file PWF.
config() {
	T_CFG_EXTRA='snapshot = { mode = "never"; };' T_LOG_FILE=$T_DIR/$1.log \
		t_pgcdc_config tls "public.t" "$2"
	sed -i "s|^source = { \(.*\) };\$|source = { \1 password_file = \"$PWF\"; };|" "$T_CFG"
	grep -q "password_file = \"$PWF\"" "$T_CFG" || t_fail "config has no password_file"
	LOG=$T_DIR/$1.log
}

# ---- the wrong CA: check and run refuse it, with the fix
config wrongca "${CONN/ca.crt/wrong.crt}"
capture "$T_DIR/wrongca.check.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 2 "$RC" "pgcdc check exit code with the wrong CA"
grep -qE '^problem: .*certificate verify failed.*fix: set sslrootcert' "$T_DIR/wrongca.check.txt" ||
	soft_fail "wrong CA: pgcdc check says: $(cat "$T_DIR/wrongca.check.txt")"
t_pgcdc_start
t_wait_for 30 'grep -qE "worker tls \(pid [0-9]+\) exited with" "$LOG"'
grep -qE 'worker tls \(pid [0-9]+\) exited with 2$' "$LOG" || t_fail "wrong CA: the worker did not exit 2"
grep ' error: ' "$LOG" | grep -qE 'certificate verify failed.*fix: set sslrootcert' ||
	soft_fail "wrong CA: no clear error line: $(grep ' error: ' "$LOG")"
t_wait_for 5 '[ "$(state slot tls)" = FAILED ]'
t_pgcdc_stop

# ---- verify-full with the right CA: check passes, pgcdc streams over SSL
config tls "$CONN"
capture "$T_DIR/tls.check.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 0 "$RC" "pgcdc check over verify-full ($(cat "$T_DIR/tls.check.txt"))"
t_pgcdc_start
t_wait_for 30 't_slot_active tls'
t_sql "INSERT INTO public.t SELECT g, 'over tls ' || g FROM generate_series(1, 3) g"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 3 ]'
got=$(scripts/events.py "$T_OUT" public.t --json |
	python3 -c 'import json,sys; print(json.dumps([(e["op"], e["after"]["v"]) for e in json.load(sys.stdin)]))')
t_assert_eq '[["c", "over tls 1"], ["c", "over tls 2"], ["c", "over tls 3"]]' "$got" "events over TLS"
t_assert_eq "t" "$(t_sql "SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
	WHERE r.application_name LIKE 'pgcdc%'")" "the replication connection uses SSL"

# The password is nowhere a process shows it.
pids="$T_PGCDC_PID $(pgrep -P "$T_PGCDC_PID" | tr '\n' ' ')"
t_assert_eq 3 "$(echo $pids | wc -w)" "supervisor, worker and sink"
for p in $pids; do
	for f in cmdline environ; do
		! grep -qaF "$PW" "/proc/$p/$f" || t_fail "password in /proc/$p/$f"
	done
done
"$PGCDC" status -c "$T_CFG" >"$T_DIR/status.txt" 2>&1
"$PGCDC" status -c "$T_CFG" --json >"$T_DIR/status.json.txt" 2>&1
kill -USR1 "$T_PGCDC_PID"	# the status dump goes to the log too
t_pgcdc_stop

# ---- libpq's own ways to the password: PGPASSFILE, then ~/.pgpass
sed -i "s| password_file = \"$PWF\";||" "$T_CFG"
printf 'localhost:%s:*:postgres:%s\n' "$PGPORT" "$PW" >"$T_DIR/pgpass"
chmod 0600 "$T_DIR/pgpass"
capture "$T_DIR/pgpassfile.check.txt" env PGPASSFILE="$T_DIR/pgpass" "$PGCDC" check -c "$T_CFG"
t_assert_eq 0 "$RC" "pgcdc check with PGPASSFILE ($(cat "$T_DIR/pgpassfile.check.txt"))"
mkdir -p "$T_DIR/home" && cp -p "$T_DIR/pgpass" "$T_DIR/home/.pgpass"
capture "$T_DIR/home.check.txt" env HOME="$T_DIR/home" "$PGCDC" check -c "$T_CFG"
t_assert_eq 0 "$RC" "pgcdc check with ~/.pgpass ($(cat "$T_DIR/home.check.txt"))"
capture "$T_DIR/nopw.check.txt" env HOME="$T_DIR" "$PGCDC" check -c "$T_CFG"
t_assert_eq 2 "$RC" "pgcdc check without any password"

rm -f "$T_DIR/pgpass" "$T_DIR/home/.pgpass" "$PWF"
t_no_secret "$PW"
grep -rlaF "$PW" "$T_DIR"/*.log "$T_DIR"/*.txt "$T_DIR/state" 2>/dev/null && t_fail "password in a file above"
soft_verdict
t_pass
