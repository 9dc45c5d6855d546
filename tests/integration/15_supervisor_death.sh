#!/usr/bin/env bash
# Children exit when the supervisor dies: after SIGKILL of `pgcdc run`, the
# worker and the sink are gone within 2 s and the slot is released; a new
# `pgcdc run` resumes from the checkpoints and delivers every change once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
t_sql "CREATE TABLE public.t (id int PRIMARY KEY, v text)"
T_CFG_EXTRA='snapshot = { mode = "never"; };' t_pgcdc_config sd "public.t"
t_pgcdc_start
t_wait_for 30 "t_slot_active sd"
t_sql "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 100 ]'
worker=$(t_child_pid worker) sink=$(t_child_pid sink)
[ -n "$worker" ] && [ -n "$sink" ] || t_fail "children not found"
kill -9 "$T_PGCDC_PID"
wait "$T_PGCDC_PID" 2>/dev/null || true
t_wait_for 2 "! kill -0 $worker 2>/dev/null && ! kill -0 $sink 2>/dev/null"
t_wait_for 10 "! t_slot_active sd"
t_sql "INSERT INTO t SELECT g, 'while down' FROM generate_series(101, 200) g"
t_pgcdc_start
t_sql "INSERT INTO t SELECT g, 'after' FROM generate_series(201, 300) g"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 300 ]'
ids=$(scripts/events.py "$T_OUT" public.t --json | python3 -c '
import json, sys
print(" ".join(str(e["after"]["id"]) for e in json.load(sys.stdin)))')
t_assert_eq "$(seq -s ' ' 1 300)" "$ids" "events after supervisor death and restart"
t_pgcdc_stop
t_pass
