#!/usr/bin/env bash
# The snapshot race of DESIGN.md 5.4, forced: with synchronous_standby_names
# naming a standby that never comes, a committed UPDATE (id 5: old -> new)
# hangs after its commit record is in WAL, so the stream delivers it while
# every snapshot still sees the old row.  The chunk holding id 5 must be
# read again ("raced with transaction <xid>") rather than send the old row;
# once the commit is released, the snapshot finishes and the state rebuilt
# from the output equals the table, id 5 ending as 'new'.  Two cases:
#  1. the commit is streamed before the snapshot starts;
#  2. the commit falls between another chunk's watermarks (that chunk's
#     read is held up by a table lock meanwhile), and is still invisible
#     when the chunk holding id 5 is read.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup

# Our own writes while a commit hangs must not wait for the standby.
t_local() { PGOPTIONS='-c synchronous_commit=local' t_sql "$@"; }
app_row() { t_sql "SELECT $2 FROM pg_stat_activity WHERE application_name = '$1'"; }

# run NAME SLOT TABLES: config, state and output of its own (chunks of 100).
run() {
	T_CFG=$T_DIR/$1.cfg T_OUT=$T_DIR/$1-out T_LOG_FILE=$T_DIR/$1.log
	T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 100; };' \
		t_config "$T_CFG" "$2" "$3" "$T_OUT" "$T_DIR/$1-state"
}

# hang TABLE: UPDATE TABLE's id 5 to 'new' in a session whose commit waits
# for the standby 'nobody'; sets $hung (psql pid) and $xid.
hang() {
	t_local "ALTER SYSTEM SET synchronous_standby_names = 'nobody'"
	t_local "SELECT pg_reload_conf()" >/dev/null
	t_wait_for 10 '[ "$(t_sql "SHOW synchronous_standby_names")" = nobody ]'
	psql -XAtq -v ON_ERROR_STOP=1 -c "SET application_name = 'hung'" -c "SET synchronous_commit = on" \
		-c "UPDATE $1 SET v = 'new' WHERE id = 5" >"$T_DIR/hung.log" 2>&1 &
	hung=$!
	t_track "$hung"
	t_wait_for 10 '[ "$(app_row hung wait_event)" = SyncRep ]'
	xid=$(app_row hung backend_xid)
	t_assert_eq old "$(t_sql "SELECT v FROM $1 WHERE id = 5")" "$1 id 5 seen by another session while the commit hangs"
	echo "$1: transaction $xid committed in WAL, waiting for the standby 'nobody', invisible to others"
}

# expect_race TABLE: the chunk with id 5 is read again while the commit
# hangs and sends nothing; after the release the output is right.
expect_race() {
	local t=$1 raced="snapshot of $1: chunk 1 raced with transaction"
	t_wait_for 30 "grep -qE '$raced|snapshot of $t done' '$T_LOG_FILE'"
	if ! grep -q "$raced" "$T_LOG_FILE"; then
		grep -E "snapshot of $t" "$T_LOG_FILE" | head -n 5
		t_wait_for 10 '[ "$(scripts/events.py "$T_OUT" '"$t"' --lines)" -ge 1001 ]'
		t_fail "the snapshot of $t did not notice the race with transaction $xid; id 5 in the sink:" \
			"$(scripts/events.py "$T_OUT" "$t" --show | grep -F '{"id":5,')"
	fi
	grep "$raced" "$T_LOG_FILE" | head -n 1
	grep -q "$raced $xid " "$T_LOG_FILE" || t_fail "the race was not put down to the hung transaction $xid"
	# It keeps being read again, and not one of these reads reaches the sink.
	t_wait_for 30 '[ "$(grep -c "'"$raced"'" "$T_LOG_FILE")" -ge 5 ]'
	# Meanwhile the stream has delivered the hung UPDATE, but no snapshot row.
	t_wait_for 30 'grep -qsF "\"v\":\"new\"" "$T_OUT"/'"$t"'/*.jsonl'
	scripts/events.py "$T_OUT" "$t" --json >"$T_DIR/during.json"
	python3 - "$T_DIR/during.json" <<'PY' || t_fail "snapshot rows of $t went out while the race lasted"
import json, sys
got = [(e["op"], (e["after"] or e["before"])["id"], (e["after"] or {}).get("v")) for e in json.load(open(sys.argv[1]))]
print("while the commit hangs the sink holds:", got)
sys.exit(any(g[0] == "r" for g in got))
PY
	st=$("$(t_bin)/pgcdc" status -c "$T_CFG" | sed -n "s/^ *table ${t//./\\.}  *//p")
	[[ $st == running* || $st == pending ]] || t_fail "status of the raced snapshot: $st"
	echo "status while raced: $st"

	t_local "ALTER SYSTEM RESET synchronous_standby_names"
	t_local "SELECT pg_reload_conf()" >/dev/null
	wait "$hung" || t_fail "the hung UPDATE failed: $(cat "$T_DIR/hung.log")"
	t_assert_eq new "$(t_sql "SELECT v FROM $t WHERE id = 5")" "$t id 5 after the release"
	t_wait_for 60 '"$(t_bin)/pgcdc" status -c "$T_CFG" | grep -qE "table '"${t//./\\.}"' +done \(1000 rows\)"'
	t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" '"$t"' --lines)" -ge 1001 ]'

	scripts/events.py "$T_OUT" "$t" --json >"$T_DIR/events.json"
	scripts/events.py "$T_OUT" "$t" --state id >"$T_DIR/state.json"
	t_sql "SELECT json_agg(r ORDER BY id) FROM $t r" >"$T_DIR/source.json"
	python3 - "$T_DIR/events.json" "$T_DIR/state.json" "$T_DIR/source.json" <<'PY' || t_fail "$t: output after the race is wrong"
import collections, json, sys
evs, state, src = (json.load(open(f)) for f in sys.argv[1:4])
ok = True
if state != src:
    print("rebuilt state differs from the table:",
          [(a, b) for a, b in zip(state, src) if a != b][:5], len(state), len(src))
    ok = False
r = collections.Counter(e["after"]["id"] for e in evs if e["op"] == "r")
if sorted(r) != list(range(1, 1001)) or set(r.values()) != {1}:
    print("snapshot rows: %d keys, twice: %s, missing: %s" % (
        len(r), [k for k, n in r.items() if n > 1][:10], sorted(set(range(1, 1001)) - set(r))[:10]))
    ok = False
five = [(e["op"], e["after"]["v"]) for e in evs if (e["after"] or e["before"])["id"] == 5]
print("events of id 5:", five)
if not five or five[-1][1] != "new" or ("r", "old") in five:
    ok = False
sys.exit(0 if ok else 1)
PY
	echo "$t: chunk 1 read again $(grep -c "$raced" "$T_LOG_FILE") times"
}

# ---- 1: the commit is streamed before the snapshot starts.
t_sql "CREATE TABLE public.race (id int PRIMARY KEY, v text NOT NULL)"
t_sql "INSERT INTO race SELECT i, 'old' FROM generate_series(1, 1000) i"
run one race public.race
# Creating a logical slot waits until every transaction running at that
# moment has ended, and the hung one does not end until released: the slot
# (and its publication, which decoding needs to exist before the change) are
# made first, as an operator may; pgcdc adopts them.
t_sql "CREATE PUBLICATION pgcdc_race FOR TABLE public.race"
t_sql "SELECT pg_create_logical_replication_slot('race', 'pgoutput')" >/dev/null
hang public.race
t_pgcdc_start
expect_race public.race
t_pgcdc_stop

# ---- 2: the commit falls inside the window of the chunk before.
t_sql "CREATE TABLE public.race_a (id int PRIMARY KEY, v text NOT NULL)"
t_sql "INSERT INTO race_a SELECT i, 'a' FROM generate_series(1, 50) i"
t_sql "CREATE TABLE public.race2 (id int PRIMARY KEY, v text NOT NULL)"
t_sql "INSERT INTO race2 SELECT i, 'old' FROM generate_series(1, 1000) i"
run two race2 "public.race_a public.race2"
# Made first: the publication needs a lock on race_a, which is about to be
# taken, and the slot waits for the lock's transaction.
t_sql "CREATE PUBLICATION pgcdc_race2 FOR TABLE public.race_a, public.race2"
t_sql "SELECT pg_create_logical_replication_slot('race2', 'pgoutput')" >/dev/null
# Holds up the read of race_a's chunk: its low watermark is out, its high
# one cannot be until the lock goes.
psql -XAtq -c "SET application_name = 'locker'" -c "BEGIN" -c "LOCK TABLE race_a IN ACCESS EXCLUSIVE MODE" \
	-c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
t_track $!
t_wait_for 10 '[ "$(app_row locker wait_event)" = PgSleep ]'
t_pgcdc_start
t_wait_for 30 '[ "$(app_row pgcdc-snapshot wait_event_type)" = Lock ]'
hang public.race2
t_local "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'locker'" >/dev/null
expect_race public.race2
grep -qE "snapshot of public.race_a done: 50 rows" "$T_LOG_FILE" || t_fail "race_a's snapshot did not finish"
t_pgcdc_stop
t_pass
