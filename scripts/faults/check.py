#!/usr/bin/env python3
"""Fault campaign verdict (tests/faults/10_campaign.sh).

  check.py --jsonl NAME=DIR ... [--pg NAME] --tables T,... --nokey T
           --samples FILE --faults FILE --work DIR

The source (PG* environment) and, with --pg, the target (TG_HOST, TG_PORT)
are read with psql.  Checks:
  1. every audit seq committed at the source reached every sink once:
     lost = committed seqs a sink lacks, duplicated = extra deliveries
     (jsonl: audit events; postgres: the rows a trigger on the target's
     audit table logged for every write);
  2. in commit order: a jsonl sink's audit events have increasing
     commit_lsn; the postgres sink applied them in that order;
  3. each sink's final state equals the source, table by table (jsonl:
     the events replayed; a table without a key as a multiset of rows);
  4. from the samples: the slot's confirmed_flush_lsn never passed a
     transaction (its commit record) that some sink did not hold durably,
     and the flush LSN pgcdc sent never went backwards.
Prints `faults: N injected, lost: L, duplicated: D, state mismatches: M`
(M counts tables that differ, order breaks and position violations) and
exits 1 unless L, D and M are all 0.
"""
import argparse
import bisect
import collections
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import events as E  # noqa: E402

PSQL = os.path.join(os.environ.get("PGC_BIN", "/usr/lib/postgresql/15/bin"), "psql")


def lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def query(sql, target=False):
    cmd = [PSQL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]
    if target:
        cmd += ["-h", os.environ["TG_HOST"], "-p", os.environ["TG_PORT"], "-U", "postgres",
                "-d", "postgres"]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def rows_json(table, target=False):
    return json.loads(query("SELECT coalesce(json_agg(t), '[]') FROM %s t" % table, target))


def canon(rows):
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def apply_nokey(rows, ev):
    """Replay one event into a multiset of whole rows; False if it changes a
    row that is not there."""
    if ev["op"] == "t":
        rows.clear()
        return True
    if ev["op"] in ("u", "d") and ev["before"] is not None:
        k = json.dumps(ev["before"], sort_keys=True)
        if rows[k] <= 0:
            return False
        rows[k] -= 1
    if ev["op"] in ("c", "r", "u"):
        rows[json.dumps(ev["after"], sort_keys=True)] += 1
    return True


class Verdict:
    def __init__(self):
        self.lost = self.dup = self.mismatch = 0

    def bad(self, what, n=1):
        self.mismatch += n
        print("  MISMATCH %s" % what)


def check_audit(name, seqs_in_order, committed, v):
    got = collections.Counter(seqs_in_order)
    lost = sorted(committed - set(got))
    dups = {s: n - 1 for s, n in got.items() if n > 1}
    extra = sorted(set(got) - committed)
    v.lost += len(lost)
    v.dup += sum(dups.values())
    print("  %-6s audit: %d delivered, %d lost%s, %d duplicated%s" % (
        name, len(seqs_in_order), len(lost), " %s" % lost[:10] if lost else "",
        sum(dups.values()), " %s" % sorted(dups)[:10] if dups else ""))
    if extra:
        v.bad("%s: %d audit rows that were never committed: %s" % (name, len(extra), extra[:10]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", action="append", default=[])
    ap.add_argument("--pg")
    ap.add_argument("--tables", required=True)
    ap.add_argument("--nokey", default="")
    ap.add_argument("--samples", required=True)
    ap.add_argument("--faults", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    v = Verdict()
    tables = [t.strip() for t in a.tables.split(",") if t.strip()]
    nokey = {t for t in a.nokey.split(",") if t}
    committed = {r["seq"] for r in rows_json("public.audit")}
    source = {t: rows_json(t) for t in tables}
    commit_of = {}  # audit seq -> commit_lsn, from the jsonl sinks

    for spec in a.jsonl:
        name, d = spec.split("=", 1)
        # One pass per table, events replayed as they are read: memory holds
        # the rebuilt tables, not the events (a long campaign writes GBs).
        for t in tables:
            audit_seqs, order = [], []
            rows, multiset, ok = {}, collections.Counter(), True
            keyless = t.split(".")[-1] in nokey
            key = "seq" if t == "public.audit" else "id"
            for e in E.iter_events(d, t):
                if keyless:
                    ok = apply_nokey(multiset, e) and ok
                else:
                    E.apply(rows, e, key)
                if t == "public.audit" and e["op"] in ("c", "r"):
                    audit_seqs.append(e["after"]["seq"])
                    order.append(e["source"]["commit_lsn"])
                    commit_of.setdefault(e["after"]["seq"], e["source"]["commit_lsn"])
            if t == "public.audit":
                check_audit(name, audit_seqs, committed, v)
                breaks = sum(1 for x, y in zip(order, order[1:]) if y <= x)
                if breaks:
                    v.bad("%s: audit events out of commit order %d time(s)" % (name, breaks))
            if keyless:
                got = sorted(k for k, n in multiset.items() for _ in range(n)) if ok else None
            else:
                got = canon(rows.values())
            if got != canon(source[t]):
                v.bad("%s: %s differs from the source (%s rows rebuilt, %d at the source)" % (
                    name, t, "?" if got is None else len(got), len(source[t])))

    in_commit_order = sorted(commit_of, key=commit_of.get)
    rank = {s: i for i, s in enumerate(in_commit_order)}
    if a.pg:
        applied = [int(x) for x in query(
            "SELECT seq FROM pgcdc_applied ORDER BY n", target=True).split()]
        check_audit(a.pg, applied, committed, v)
        ranks = [rank[s] for s in applied if s in rank]
        breaks = sum(1 for x, y in zip(ranks, ranks[1:]) if y <= x)
        if breaks:
            v.bad("%s: audit rows applied out of commit order %d time(s)" % (a.pg, breaks))
        for t in tables:
            if canon(rows_json(t, target=True)) != canon(source[t]):
                v.bad("%s: %s differs from the source" % (a.pg, t))

    # Positions.  A transaction is passed by confirmed C if its commit record
    # starts below C; held by a sink at position P if it ends at or below P,
    # i.e. (commit records being ordered) if it starts below P.
    commits = sorted(commit_of.values())
    n = ahead = back = 0
    last_sent = None
    with open(a.samples) as fh:
        for line in fh:
            s = json.loads(line)
            if s.get("sent"):
                sent = lsn(s["sent"])
                if last_sent is not None and sent < last_sent:
                    back += 1
                    print("  flush LSN sent went back: %s after %x" % (s["sent"], last_sent))
                last_sent = sent
            acked = s["acked"]
            if not s.get("confirmed") or not acked or any(p is None for p in acked.values()):
                continue
            n += 1
            c, p = lsn(s["confirmed"]), min(lsn(x) for x in acked.values())
            i, j = bisect.bisect_left(commits, p), bisect.bisect_left(commits, c)
            if j > i:
                ahead += 1
                if ahead <= 5:
                    print("  confirmed_flush_lsn %s passed %d transaction(s) not durable in "
                          "every sink (%s)" % (s["confirmed"], j - i, acked))
    print("  positions: %d samples; confirmed ahead of the sinks: %d; flush LSN sent went "
          "back: %d" % (n, ahead, back))
    if n == 0:
        v.bad("no usable position samples")
    if ahead or back:
        v.bad("position checks", ahead + back)

    with open(a.faults) as fh:
        injected = sum(1 for line in fh if " fault " in line)
    print("faults: %d injected, lost: %d, duplicated: %d, state mismatches: %d" % (
        injected, v.lost, v.dup, v.mismatch))
    return 1 if v.lost or v.dup or v.mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
