#!/usr/bin/env bash
# Least privilege (README "PostgreSQL role"): for a role with nothing,
# `pgcdc check` names each missing right with the GRANT/ALTER that fixes it
# (REPLICATION, schema USAGE, SELECT, CREATE on the database and table
# ownership for a publication pgcdc must create); with only REPLICATION,
# USAGE, SELECT and a publication the superuser created, check passes and
# pgcdc streams the snapshot and changes; the pgcdc_ddl trigger created by
# the superuser from README's SQL carries a schema rename into the events; a
# foreign-owned publication whose tables differ is named with its fix.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
. "$(dirname "$0")/bad_input.inc"
t_setup
t_sql "CREATE SCHEMA s; CREATE TABLE public.t (id int PRIMARY KEY, v text);
CREATE TABLE s.u (id int PRIMARY KEY, v text); CREATE ROLE weak LOGIN;
INSERT INTO public.t VALUES (1, 'one'); INSERT INTO s.u VALUES (1, 'uno')"
t_pgcdc_config p "public.t, s.u" "host=$PGHOST port=$PGPORT dbname=postgres user=weak"

# check_has CASE FIXED-STRING...: each string is in a "problem:" line.
check_has() {
	local case=$1 want
	shift
	for want in "$@"; do
		grep '^problem: ' "$T_DIR/$case.txt" | grep -qF -- "$want" ||
			soft_fail "$case: no problem line with '$want': $(cat "$T_DIR/$case.txt")"
	done
}

capture "$T_DIR/bare.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 2 "$RC" "pgcdc check exit code for a bare role"
check_has bare "role weak has no REPLICATION privilege; fix: ALTER ROLE weak REPLICATION" \
    "publication pgcdc_p does not exist and role weak may not create it; fix: GRANT CREATE ON DATABASE postgres TO weak" \
    "role weak may not use schema s (table s.u); fix: GRANT USAGE ON SCHEMA s TO weak" \
    "role weak may not read table public.t; fix: GRANT SELECT ON public.t TO weak" \
    "only the owner of table public.t (pgcdc_tables) may add it to one; fix: GRANT pgcdc_tables TO weak"

t_sql "ALTER ROLE weak REPLICATION; GRANT USAGE ON SCHEMA s TO weak;
GRANT SELECT ON public.t, s.u TO weak; CREATE PUBLICATION pgcdc_p FOR TABLE public.t, s.u"
capture "$T_DIR/granted.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 0 "$RC" "pgcdc check exit code with the minimal rights: $(cat "$T_DIR/granted.txt")"
grep -q '^note: no event trigger pgcdc_ddl' "$T_DIR/granted.txt" ||
	soft_fail "no note about the missing pgcdc_ddl trigger: $(cat "$T_DIR/granted.txt")"
t_pgcdc_ddl_trigger
capture "$T_DIR/trigger.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 0 "$RC" "pgcdc check exit code with the trigger"
! grep -q pgcdc_ddl "$T_DIR/trigger.txt" || soft_fail "note although the trigger exists"

t_pgcdc_start
t_wait_for 60 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 2 ]'
t_sql "INSERT INTO public.t VALUES (2, 'two'); INSERT INTO s.u VALUES (2, 'dos');
ALTER SCHEMA s RENAME TO s2; INSERT INTO s2.u VALUES (3, 'tres')"
t_wait_for 30 '[ "$(scripts/events.py "$T_OUT" --lines)" -ge 5 ]'
got=$(scripts/events.py "$T_OUT" --json | python3 -c '
import json, sys
for e in sorted(json.load(sys.stdin), key=lambda e: (e["source"]["table"], e["after"]["id"])):
    print(e["op"], e["source"]["schema"] + "." + e["source"]["table"], e["after"]["id"], e["after"]["v"])')
t_assert_eq "r public.t 1 one
c public.t 2 two
r s.u 1 uno
c s.u 2 dos
c s2.u 3 tres" "$got" "events streamed as the minimal role"
t_pgcdc_stop
! grep -q "pgcdc_ddl" "$T_DIR/pgcdc.log" || soft_fail "the worker still complains about pgcdc_ddl"

t_sql "ALTER PUBLICATION pgcdc_p DROP TABLE s2.u"
capture "$T_DIR/foreign.txt" "$PGCDC" check -c "$T_CFG"
t_assert_eq 2 "$RC" "pgcdc check exit code for a foreign publication that differs"
check_has foreign "publication pgcdc_p belongs to role postgres: pgcdc cannot keep its table list; fix: ALTER PUBLICATION pgcdc_p OWNER TO weak"
soft_verdict
t_pass
