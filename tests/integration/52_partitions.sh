#!/usr/bin/env bash
# Partitioned tables, by slot config: publish_via_partition_root = false
# reports rows under each partition (snapshot chunks read partition by
# partition), true under the root.  Rows exist before pgcdc starts (op r),
# then inserts, updates (one moving a row to the other partition) and
# deletes stream in; each run's output names only the expected tables and
# the state rebuilt by key equals the table.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup

t_sql "CREATE SCHEMA p;
CREATE TABLE p.pt (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE p.pt_eu PARTITION OF p.pt FOR VALUES IN ('eu');
CREATE TABLE p.pt_us PARTITION OF p.pt FOR VALUES IN ('us');
INSERT INTO p.pt SELECT i, CASE WHEN i % 3 = 0 THEN 'us' ELSE 'eu' END, 'v' || i
  FROM generate_series(1, 1000) i"

# run NAME VIA_ROOT WANT_DIRS: a pgcdc of its own on slot NAME; changes
# after the snapshot; the output directories must be WANT_DIRS.
run() {
	local name=$1 via=$2 want=$3 base=$4
	T_CFG=$T_DIR/$name.cfg T_OUT=$T_DIR/$name-out
	T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 100; };' \
		t_config "$T_CFG" "$name" p.pt "$T_OUT" "$T_DIR/$name-state"
	sed -i "s/sinks = \[ \"out\" \]; }/sinks = [ \"out\" ]; publish_via_partition_root = $via; }/" "$T_CFG"
	grep -q "publish_via_partition_root = $via" "$T_CFG" || t_fail "config edit failed"
	t_pgcdc_start
	t_wait_for 60 'st=$("$(t_bin)/pgcdc" status -c "$T_CFG"); [[ $st == *"done ("* &&
		$st != *pending* && $st != *"running (chunks"* ]]'
	t_sql "INSERT INTO p.pt VALUES ($base + 1, 'us', 'new'), ($base + 2, 'eu', 'new');
UPDATE p.pt SET v = 'upd' WHERE id = 1;
UPDATE p.pt SET region = 'us' WHERE id = 2;
DELETE FROM p.pt WHERE id = 3;
INSERT INTO p.pt VALUES ($base + 3, 'eu', 'end')"
	t_wait_for 30 'grep -qsF "\"v\":\"end\"" "$T_OUT"/*/*.jsonl'
	t_pgcdc_stop
	[ "$(cd "$T_OUT" && echo *)" = "$want" ] || t_fail "$name: output dirs $(cd "$T_OUT" && echo *), want $want"
	python3 - "$T_OUT" "$T_DIR/$name.json" <<'PY' || t_fail "$name: output wrong"
import collections, json, sys
sys.path.insert(0, "scripts")
import events as E
root, out = sys.argv[1:3]
rows, r = {}, collections.Counter()
evs = E.events(root)
evs.sort(key=lambda e: (e["source"]["commit_lsn"], e["source"]["ordinal"]))
for ev in evs:
    k = lambda row: (row["id"], row["region"])
    if ev["op"] == "r":
        r[k(ev["after"])] += 1
    if ev["op"] in ("u", "d") and ev["before"]:
        rows.pop(k(ev["before"]), None)
    if ev["op"] in ("r", "c", "u"):
        rows[k(ev["after"])] = ev["after"]
if [k for k, n in r.items() if n > 1] or sum(r.values()) < 1000:
    print("snapshot rows: %d, some twice: %s" % (sum(r.values()), [k for k, n in r.items() if n > 1][:3]))
    sys.exit(1)
print("%d events, %d snapshot rows, %d rows rebuilt" % (len(evs), sum(r.values()), len(rows)))
with open(out, "w") as fh:
    for row in rows.values():
        fh.write(json.dumps(row) + "\n")
PY
	t_same_rows p.pt "$T_DIR/$name.json"
}
run leaf false "p.pt_eu p.pt_us" 2000
run root true "p.pt" 3000
t_pass
