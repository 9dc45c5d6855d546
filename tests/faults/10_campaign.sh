#!/usr/bin/env bash
# Fault campaign: exactly once under every fault (DESIGN 4), as a figure.
# Three writers commit a mix of transactions (scripts/faults/schema.sql:
# multi-row and multi-table, primary key updates, deletes, TRUNCATE and
# refill, subtransactions and SQL savepoints rolled back, whole rollbacks,
# large transactions spilled at logical_decoding_work_mem = 64kB, TOAST
# values changed and left unchanged, a REPLICA IDENTITY FULL table without a
# key), each committed transaction ending with an audit row.  Large ones
# are streamed while in progress (stream_in_progress) for odd seeds.  One slot feeds
# three sinks: jsonl "out", jsonl "out2" on a small tmpfs, and "pg", a
# postgres sink into a second cluster.  LMDB starts with a 64 KiB map (it
# fills and grows during the run).  Meanwhile FAULTS faults (default 30) are
# injected at random moments (SEED: bash's RANDOM seed, printed):
#   SIGKILL of the worker, of a sink (each kind), of the supervisor (its
#   children must exit by themselves; pgcdc is started again);
#   pg_terminate_backend of the walsender; PostgreSQL restart, fast and
#   immediate; the postgres sink's target down for 0.5-3 s; a sink stopped
#   (SIGSTOP) past wal_sender_timeout; out2's tmpfs full for a while; the
#   LMDB map filled to the brim from outside (tests/lmdb_fill.c).
# A sampler records the slot's confirmed_flush_lsn, the flush LSN pgcdc sends
# and the sinks' durable positions every 200 ms.  At the end
# scripts/faults/check.py prints
#   faults: N injected, lost: L, duplicated: D, state mismatches: M
# and the test fails unless L, D and M are 0.
# Before each fault the pipeline is up again (worker, sinks, slot active);
# once a child has been restarted 3 times by one supervisor the next fault
# is a supervisor kill, so the crash limit (FAILED after 6 deaths in 5
# minutes) and long backoffs do not stall the campaign; should a child be
# FAILED anyway, the campaign reloads as an operator would (and says so).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/../pgtarget.sh"
FAULTS=${FAULTS:-30}
SEED=${SEED:-$((($(date +%s%N) / 1000) % 1000000))}
# Odd seeds stream large transactions while they run (stream_in_progress:
# the worker's spool meets the faults), even seeds let the server spill them.
STREAM=${STREAM:-$((SEED % 2))}
SLOT=fc
SINKS=(out out2 pg)
TABLES="public.audit,public.docs,public.items,public.nokey,public.orders,public.tr"
WS_TIMEOUT=3
PACE_MS=${PACE_MS:-25}       # sleep between a writer's transactions
BIG_EVERY=${BIG_EVERY:-200}   # about one large transaction in that many
case $FAULTS in '' | *[!0-9]*) t_fail "FAULTS must be a number: '$FAULTS'" ;; esac
echo "fault campaign: FAULTS=$FAULTS SEED=$SEED STREAM=$STREAM (rerun: SEED=$SEED FAULTS=$FAULTS make faults)"
RANDOM=$SEED

t_setup
t_target_start
bin=$(t_bin)
make --no-print-directory -s ${SANITIZE:+SANITIZE=$SANITIZE} "${bin#"$T_REPO"/}/tests/lmdb_fill" >/dev/null ||
	t_fail "cannot build tests/lmdb_fill"
FILL=$bin/tests/lmdb_fill
FLOG=$T_DIR/faults.log
: >"$FLOG"
t_sql "ALTER SYSTEM SET logical_decoding_work_mem = '64kB'" >/dev/null
t_sql "ALTER SYSTEM SET wal_sender_timeout = '${WS_TIMEOUT}s'" >/dev/null
t_sql "SELECT pg_reload_conf()" >/dev/null
t_sql_file scripts/faults/schema.sql >/dev/null
# The target's audit table, made before the sink would: a trigger logs every
# write, so a transaction applied twice shows.
t_tsql "CREATE TABLE public.audit (seq bigint PRIMARY KEY, writer int NOT NULL, n int NOT NULL);
CREATE TABLE pgcdc_applied (n bigserial, seq bigint);
CREATE FUNCTION log_applied() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
  INSERT INTO pgcdc_applied (seq) VALUES (NEW.seq); RETURN NULL; END \$\$;
CREATE TRIGGER log_applied AFTER INSERT OR UPDATE ON public.audit FOR EACH ROW EXECUTE FUNCTION log_applied()"

# Sink out2 writes to a tmpfs that the disk_full fault shrinks to what it
# holds.  Unmounted (lazily: a process may still hold a file) at exit.
DISK=0
mkdir -p "$T_DIR/out2"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=8g,mode=0700 pgcdc-faults "$T_DIR/out2" 2>/dev/null; then
	DISK=1
	# _t_target_exit takes the exit status from $? (the else branch's).
	trap 'rc=$?; [ "${T_KEEP:-0}" = 1 ] || umount -l "$T_DIR/out2" 2>/dev/null
		if (exit $rc); then _t_target_exit; else _t_target_exit; fi' EXIT
else
	echo "note: cannot mount a tmpfs (not root?): no disk_full faults"
fi

T_SINKS=2 T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 500; }; lmdb_map_size = 65536;' \
	t_pgcdc_config "$SLOT" "$TABLES"
sed -i "s|^sinks = ( \(.*\) );$|sinks = ( \1, { name = \"pg\"; type = \"postgres\"; conninfo = \"$(t_target_conninfo)\"; } );|;
	s|sinks = \[ \"out\", \"out2\" \]|sinks = [ \"out\", \"out2\", \"pg\" ]|" "$T_CFG"
grep -q 'type = "postgres"' "$T_CFG" && grep -q '"out2", "pg" ]' "$T_CFG" || t_fail "config edit failed"
if [ "$STREAM" = 1 ]; then
	sed -i 's|sinks = \[ "out", "out2", "pg" \]|& ; stream_in_progress = true|' "$T_CFG"
	grep -q 'stream_in_progress = true' "$T_CFG" || t_fail "config edit failed"
fi
t_pgcdc_start
t_wait_for 30 "t_slot_active $SLOT"
# The snapshot (of docs, the only table with rows yet) first: its r events
# are reads of the current state, which may repeat a streamed row (DESIGN
# 5.5), so the audit count starts with the stream.  Snapshots under kills
# are tests 40 and 44.
t_wait_for 60 "grep -q 'snapshot complete' '$T_DIR/pgcdc.log'"
TG_HOST=$T_TG TG_PORT=$T_TGPORT t_bg python3 scripts/faults/sampler.py "$(t_bin)/pgcdc" "$T_CFG" "$SLOT" "$T_DIR/samples.jsonl" "${SAMPLE_S:-0.2}"
SAMPLER=$T_BG_PID

# Writers 0 and 1: the plpgsql workload; writer 2: SQL savepoints.  Each
# reconnects after a server restart until the stop file exists.
WRITERS=()
for w in 0 1; do
	t_bg bash -c "while [ ! -e '$T_DIR/stop' ]; do
		'$PGC_BIN/psql' -XAtq -v ON_ERROR_STOP=1 -c 'CALL work($w, $PACE_MS, $BIG_EVERY)' || sleep 0.3
	done" >>"$T_DIR/writer$w.log" 2>&1
	WRITERS+=("$T_BG_PID")
done
t_bg bash -c "while [ ! -e '$T_DIR/stop' ]; do
	for i in \$(seq 1 50); do cat scripts/faults/savepoints.sql; done |
		'$PGC_BIN/psql' -XAtq -v ON_ERROR_STOP=1 -f - >/dev/null || sleep 0.3
done" >>"$T_DIR/writer2.log" 2>&1
WRITERS+=("$T_BG_PID")

# --- helpers ---------------------------------------------------------------

rnd_sleep() { # MIN_MS MAX_MS
	local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

note() { echo "$(date +%s.%N) $*" >>"$FLOG"; }

up() {
	local s
	[ -n "$(t_child_pid worker "$SLOT")" ] || return 1
	for s in "${SINKS[@]}"; do [ -n "$(t_child_pid sink "$s")" ] || return 1; done
	t_slot_active "$SLOT"
}

# "NAME STATE RESTARTS" of every child, one per line.
child_states() {
	"$(t_bin)/pgcdc" status -c "$T_CFG" --json 2>/dev/null | python3 -c '
import json, sys
st = json.load(sys.stdin)
for c in st["slots"] + st["sinks"]:
    print(c.get("slot") or c.get("sink"), c["state"], c["restarts"])' 2>/dev/null || true
}

RELOADS=0
# Wait until the pipeline runs; a FAILED child gets an operator's reload.
wait_up() {
	local end=$((SECONDS + 90)) reloaded=0
	while ! up; do
		if [ "$reloaded" = 0 ] && child_states | grep -q ' FAILED '; then
			echo "    a child is FAILED ($(child_states | grep ' FAILED ' | tr '\n' ' ')): pgcdc reload"
			note "operator reload: $(child_states | tr '\n' ' ')"
			"$(t_bin)/pgcdc" reload -c "$T_CFG" >/dev/null
			RELOADS=$((RELOADS + 1))
			reloaded=1
		fi
		[ "$SECONDS" -lt "$end" ] || t_fail "pgcdc did not recover within 90 s; status: $(child_states | tr '\n' ' ')"
		sleep 0.1
	done
}

# A child restarted this often by the running supervisor: time for a
# supervisor kill (before the crash limit or long backoffs hit).
worn_out() { child_states | awk '$3 >= 3 { f = 1 } END { exit !f }'; }

walsender() { t_sql "SELECT pid FROM pg_stat_replication WHERE application_name = 'pgcdc-$SLOT'" 2>/dev/null || true; }

ENOSPC_SEEN=0
ORPHAN_MAX=0 # longest time children outlived a killed supervisor, s
fault() { # KIND: inject it; returns 1 if its target was not there
	local kind=$1 pid sink kids used t0 n0
	case $kind in
	worker)
		pid=$(t_child_pid worker "$SLOT")
		[ -n "$pid" ] || return 1
		kill -KILL "$pid"
		;;
	sink)
		sink=${SINKS[RANDOM % ${#SINKS[@]}]}
		pid=$(t_child_pid sink "$sink")
		[ -n "$pid" ] || return 1
		kill -KILL "$pid"
		kind="sink $sink"
		;;
	supervisor)
		kids=$(pgrep -P "$T_PGCDC_PID" | tr '\n' ' ' || true)
		kill -KILL "$T_PGCDC_PID"
		wait "$T_PGCDC_PID" 2>/dev/null || true
		t0=$SECONDS
		for pid in $kids; do
			while [ -e "/proc/$pid" ] && [ "$(cut -d ' ' -f 3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
				[ $((SECONDS - t0)) -lt 20 ] || t_fail "child $pid still runs 20 s after the supervisor was" \
					"killed: $(ps -o pid=,stat=,wchan:32=,args= -p "$pid")"
				sleep 0.05
			done
		done
		ORPHAN_S=$((SECONDS - t0))
		[ "$ORPHAN_S" -le "$ORPHAN_MAX" ] || ORPHAN_MAX=$ORPHAN_S
		t_pgcdc_start
		kind="supervisor (children gone after ${ORPHAN_S}s)"
		;;
	walsender)
		pid=$(walsender)
		[ -n "$pid" ] || return 1
		t_sql "SELECT pg_terminate_backend($pid)" >/dev/null
		;;
	pg_fast) t_pg_restart fast ;;
	pg_immediate) t_pg_restart immediate ;;
	target_down)
		note "fault $kind"
		pgc_halt "$T_TG" "$([ $((RANDOM % 2)) = 0 ] && echo fast || echo immediate)"
		rnd_sleep 500 3000
		pgc_start "$T_TG" >/dev/null || t_fail "cannot start the target again"
		return 0
		;;
	sink_pause)
		sink=${SINKS[RANDOM % ${#SINKS[@]}]}
		pid=$(t_child_pid sink "$sink")
		[ -n "$pid" ] || return 1
		kill -STOP "$pid"
		note "fault sink_pause $sink"
		rnd_sleep $((WS_TIMEOUT * 1000 + 500)) $((WS_TIMEOUT * 1000 + 2000))
		kill -CONT "$pid"
		return 0
		;;
	lmdb_full)
		n0=$(grep -c 'was full, grown to' "$T_DIR/pgcdc.log" || true)
		: >"$T_DIR/fill.out"
		"$FILL" "$T_DIR/state" >"$T_DIR/fill.out" 2>&1 &
		pid=$!
		t_wait_for 60 "grep -q '^full' '$T_DIR/fill.out' || ! kill -0 $pid"
		if grep -q '^big' "$T_DIR/fill.out"; then	# grown past 64 MiB by earlier fills
			wait "$pid" || true
			return 1
		fi
		grep -q '^full' "$T_DIR/fill.out" || t_fail "lmdb_fill failed: $(cat "$T_DIR/fill.out")"
		note "fault $kind"
		# Full until a worker or sink has met it and grown the map.
		t_wait_for 30 "[ \"\$(grep -c 'was full, grown to' '$T_DIR/pgcdc.log' || true)\" -gt $n0 ]"
		kill -TERM "$pid"
		wait "$pid" || t_fail "lmdb_fill failed: $(cat "$T_DIR/fill.out")"
		"$FILL" "$T_DIR/state" --clear >>"$T_DIR/fill.out" || t_fail "lmdb_fill --clear failed"
		return 0
		;;
	disk_full)
		[ "$DISK" = 1 ] || return 1
		used=$(df -k --output=used "$T_DIR/out2" | tail -n 1 | tr -d ' ')
		n0=$(grep -c 'sink out2 waits: no space left' "$T_DIR/pgcdc.log" || true)
		mount -o remount,size=$((used + 64))k "$T_DIR/out2"
		note "fault $kind"
		# Full until the sink has said so (or 8 s), then a little longer.
		for _ in $(seq 1 80); do
			[ "$(grep -c 'sink out2 waits: no space left' "$T_DIR/pgcdc.log" || true)" -gt "$n0" ] && break
			sleep 0.1
		done
		if [ "$(grep -c 'sink out2 waits: no space left' "$T_DIR/pgcdc.log" || true)" -gt "$n0" ]; then
			ENOSPC_SEEN=$((ENOSPC_SEEN + 1))
		else
			echo "    (the sink wrote too little to fill the disk)"
		fi
		rnd_sleep 300 1500
		mount -o remount,size=8g "$T_DIR/out2"
		return 0
		;;
	esac
	note "fault $kind"
	return 0
}

# Weighted: quick kills more often than the slow pauses and outages.
# Supervisor kills also come when a child is worn out (see worn_out).
# FAULT_KINDS="sink walsender ..." replaces the mix (to narrow a problem down).
KINDS=(worker worker worker sink sink sink sink supervisor walsender walsender
	pg_fast pg_immediate pg_immediate target_down sink_pause disk_full lmdb_full)
if [ -n "${FAULT_KINDS:-}" ]; then read -ra KINDS <<<"$FAULT_KINDS"; fi

# --- the campaign ----------------------------------------------------------

# A long campaign can be ended early: touch $FAULTS_STOP (printed below);
# the faults so far are then checked as usual.
FAULTS_STOP=${FAULTS_STOP:-$T_DIR/stop-faults}
echo "to end it early: touch $FAULTS_STOP"
start=$SECONDS
i=0
while [ "$i" -lt "$FAULTS" ] && [ ! -e "$FAULTS_STOP" ]; do
	t0=$EPOCHREALTIME
	wait_up
	rec=$(python3 -c "print('%.1f' % ($EPOCHREALTIME - $t0))")
	rnd_sleep 100 1000
	if worn_out; then
		kind=supervisor
	else
		kind=${KINDS[RANDOM % ${#KINDS[@]}]}
	fi
	if fault "$kind"; then
		i=$((i + 1))
		echo "fault $i/$FAULTS at $((SECONDS - start))s (up again after ${rec}s): $(tail -n 1 "$FLOG" | cut -d ' ' -f 3-)"
	fi
done
echo "campaign: $i faults in $((SECONDS - start)) s; writers stop"
touch "$T_DIR/stop"
t_sql "UPDATE ctl SET stop = true" >/dev/null
for pid in "${WRITERS[@]}"; do t_wait_for 60 "! _t_group_alive $pid"; done

# Catch up: a last audit row must reach every sink.
wait_up
final=$(t_sql "INSERT INTO audit (seq, writer, n) VALUES (nextval('audit_seq'), 9, 0) RETURNING seq")
for s in "$T_OUT" "${T_OUT}2"; do
	t_wait_for 300 "grep -rqF '\"seq\":$final,' '$s/public.audit'"
done
t_wait_for 300 "[ \"\$(t_tsql 'SELECT count(*) FROM public.audit WHERE seq = $final')\" = 1 ]"
echo "caught up after $((SECONDS - start)) s: audit seq $final in every sink" \
	"($(t_sql "SELECT count(*) FROM audit") transactions committed)"
t_pgcdc_stop
kill "$SAMPLER" 2>/dev/null || true

echo "disk full hit by the sink: $ENOSPC_SEEN time(s); operator reloads: $RELOADS;" \
	"children outlived a killed supervisor by up to ${ORPHAN_MAX} s;" \
	"LMDB map growths: $(grep -c 'grown to' "$T_DIR/pgcdc.log" || true);" \
	"walsender replication timeouts: $(grep -c 'replication timeout' "$T_PGDIR/pg.log" || true)"
t0=$SECONDS
TG_HOST=$T_TG TG_PORT=$T_TGPORT python3 scripts/faults/check.py --work "$T_DIR" \
	--jsonl "out=$T_OUT" --jsonl "out2=${T_OUT}2" --pg pg --tables "$TABLES" --nokey nokey \
	--samples "$T_DIR/samples.jsonl" --faults "$FLOG" || t_fail "the campaign found faults (seed $SEED)"
echo "checked in $((SECONDS - t0)) s"
t_pass
