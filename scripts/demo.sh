#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL with the tutorial tables, pgcdc streaming
# them into a jsonl sink, the tutorial's changes, and the events as they
# arrive.  Everything lives in one temp dir, removed at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$repo/build
work=$(mktemp -d "${TMPDIR:-/tmp}/pgcdc-demo.XXXXXX")
chmod 0755 "$work"
pg=$work/pg
pgcdc_pid=
cleanup() {
    [ -n "$pgcdc_pid" ] && kill "$pgcdc_pid" 2>/dev/null && wait "$pgcdc_pid" 2>/dev/null
    "$repo/scripts/pgcluster.sh" stop "$pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting a throwaway PostgreSQL 15 (wal_level = logical)"
eval "$("$repo/scripts/pgcluster.sh" start "$pg")"
export PGHOST PGPORT PGUSER=postgres PGDATABASE=postgres
psql -XAtq -v ON_ERROR_STOP=1 -f "$repo/tests/fixtures/tutorial.sql"
psql -XA -c "SELECT * FROM inventory.customers ORDER BY id"

say "starting pgcdc (config from etc/demo.cfg)"
state=$work/state out=$work/out
sed -e "s|@STATE_DIR@|$state|g" -e "s|@OUT_DIR@|$out|g" \
    -e "s|@PGHOST@|$PGHOST|g" -e "s|@PGPORT@|$PGPORT|g" \
    "$repo/etc/demo.cfg" > "$work/pgcdc.cfg"
"$bin/pgcdc" check -c "$work/pgcdc.cfg"
"$bin/pgcdc" run -c "$work/pgcdc.cfg" --allow-root &
pgcdc_pid=$!
streaming=
for _ in $(seq 1 300); do
    kill -0 "$pgcdc_pid" 2>/dev/null || break
    if [ "$(psql -XAtq -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'inventory' AND active")" = 1 ]; then
        streaming=1
        break
    fi
    sleep 0.1
done
if [ -z "$streaming" ]; then
    echo "pgcdc did not start streaming; its log:" >&2
    tail -n 30 "$state/pgcdc.log" >&2 || true
    exit 1
fi
echo "slot 'inventory' is streaming"

say "snapshot of the existing rows (op r), read in chunks without locks"
for _ in $(seq 1 300); do
    [ "$("$repo/scripts/events.py" "$out" --lines)" -ge 10 ] && break
    sleep 0.1
done
"$repo/scripts/events.py" "$out" --show --snapshot

say "the tutorial's changes"
while IFS= read -r sql; do
    case "$sql" in --*|"") continue ;; esac
    echo "  $sql"
    psql -XAtq -v ON_ERROR_STOP=1 -c "$sql"
done < "$repo/tests/fixtures/tutorial-changes.sql"

say "change events in the jsonl sink ($out)"
want=$((10 + $(grep -vc '^--' "$repo/tests/fixtures/tutorial-changes.sql")))
for _ in $(seq 1 300); do
    [ "$("$repo/scripts/events.py" "$out" --lines)" -ge "$want" ] && break
    sleep 0.1
done
"$repo/scripts/events.py" "$out" --show --changes

say "inventory.customers rebuilt from the events (like SELECT * FROM customers in Flink SQL)"
"$repo/scripts/events.py" "$out" inventory.customers --state id > "$work/state.json"
python3 - "$work/state.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
cols = ["id", "first_name", "last_name", "email", "is_test_account"]
print(" | ".join(cols))
for r in rows:
    print(" | ".join(r[c] if isinstance(r[c], str) else json.dumps(r[c]) for c in cols))
print("(%d rows)" % len(rows))
PY
psql -XAtq -c "SELECT coalesce(json_agg(c ORDER BY id), '[]') FROM inventory.customers c" > "$work/source.json"
if python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$work/state.json" "$work/source.json"; then
    echo "equals the source table: 8 customers, 1001 is Sally Green, 1007 gone, 1008 Issac Fletcher, 1009 Belle Read"
else
    echo "DIFFERS from the source table" >&2
    exit 1
fi

say "status"
"$bin/pgcdc" status -c "$work/pgcdc.cfg"
say "stopping pgcdc"
"$bin/pgcdc" stop -c "$work/pgcdc.cfg"
wait "$pgcdc_pid" || true
pgcdc_pid=
say "one event in full (Debezium envelope)"
"$repo/scripts/events.py" "$out" inventory.customers --json | python3 -c \
    'import json,sys; print(json.dumps(json.load(sys.stdin)[0], indent=2))'
