#!/usr/bin/env python3
"""make bench: the table from the workloads' figures, and BENCHMARKS.md.

report.py RESULTS.tsv --start DATE --load "1 5 15" --failed "wl ..." --out FILE
RESULTS.tsv holds "workload<TAB>metric<TAB>value" lines, one per run and
figure, in run order.  Each row shows the median [min - max] over the runs;
a ratio is taken per run (nth value against nth value), then summarized the
same way.  Targets are printed beside the figures, never asserted.  The
hand-written part of BENCHMARKS.md (method, analysis) is bench/analysis.md.
"""
import argparse
import collections
import os
import platform
import statistics
import subprocess

MB = 1024


def load(path):
    res = collections.defaultdict(list)
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) == 3 and f[2]:
            res[(f[0], f[1])].append(float(f[2]))
    return res


def fmt(v, unit=""):
    if v >= 1000:
        return "{:,.0f}".format(v)
    return "%.2f" % v if v < 100 else "%.0f" % v


def summary(vals, f=fmt):
    if not vals:
        return "-"
    med = statistics.median(vals)
    if min(vals) == max(vals):
        return f(med)
    return "%s [%s - %s]" % (f(med), f(min(vals)), f(max(vals)))


def pct(vals):
    return summary(vals, lambda v: "%.0f" % v)


def rows(res):
    out = []

    def add(name, vals, target=""):
        out.append((name, summary(vals), target))

    def ratio(a, b):
        return [x / y for x, y in zip(a, b) if y]

    for wl, label in (("bulk", "bulk"), ("oltp", "oltp max rate"), ("bigtxn", "big txn")):
        g = lambda m: res.get((wl, m), [])
        if not any(k[0] == wl for k in res):
            continue
        add("%s: changes per run" % label, g("changes"))
        if wl == "oltp":
            add("oltp: pgbench tx/s at max rate (no consumer)", g("max.pgbench_tps"))
        add("%s: pg_recvlogical changes/s" % label, g("recv.changes_per_s"))
        add("%s: pgcdc -> jsonl changes/s" % label, g("jsonl.changes_per_s"))
        add("%s: jsonl / pg_recvlogical" % label, ratio(g("jsonl.changes_per_s"), g("recv.changes_per_s")),
            ">= 0.95")
        add("%s: native logical replication changes/s" % label, g("native.changes_per_s"))
        add("%s: pgcdc -> postgres changes/s" % label, g("pg.changes_per_s"))
        add("%s: postgres sink / native" % label, ratio(g("pg.changes_per_s"), g("native.changes_per_s")),
            ">= 1.0")
        add("%s: CPU us/change of pg_recvlogical itself (reference)" % label, g("recv.cpu_us_per_change"))
        for c, name in (("recv", "pg_recvlogical"), ("jsonl", "pgcdc -> jsonl"), ("pg", "pgcdc -> postgres"),
                        ("native", "native")):
            if g(c + ".walsender_run_pct"):
                out.append(("%s: walsender %% of the drain running / waiting for a CPU (%s)" % (label, name),
                            "%s / %s" % (pct(g(c + ".walsender_run_pct")),
                                         pct(g(c + ".walsender_wait_pct"))), ""))
        for s in ("jsonl", "pg"):
            add("%s: CPU us/change worker+sink (%s)" % (label, s), g(s + ".cpu_us_per_change"), "<= 2")
        if wl == "oltp":
            for lv, what in (("fixed", "5,000"), ("half", "half the max rate")):
                if not g(lv + ".pgbench_tps"):
                    continue
                add("oltp at %s: tx/s asked" % what, g(lv + ".rate_asked"))
                add("oltp at %s: tx/s reached (pgcdc -> jsonl live)" % what, g(lv + ".pgbench_tps"),
                    "5,000" if lv == "fixed" else "")
                for q in ("p50", "p99", "max"):
                    add("oltp at %s: commit-to-sink latency %s ms" % (what, q), g("%s.latency_%s_ms" % (lv, q)),
                        "< 20" if q == "p99" else "")
                add("oltp at %s: CPU us/change worker+sink (jsonl)" % what, g(lv + ".cpu_us_per_change"), "<= 2")
    if any(k[0] == "snapshot" for k in res):
        g = lambda m: res.get(("snapshot", m), [])
        add("snapshot: rows in the table", g("rows"))
        add("snapshot: COPY TO STDOUT rows/s", g("copy.rows_per_s"))
        for s, name in (("jsonl", "jsonl"), ("pg", "postgres")):
            add("snapshot: pgcdc -> %s rows/s" % name, g(s + ".rows_per_s"))
            add("snapshot: %s / COPY" % name, ratio(g(s + ".rows_per_s"), g("copy.rows_per_s")), ">= 0.8")
            add("snapshot: CPU us/row worker+sink (%s)" % name, g(s + ".cpu_us_per_change"), "<= 2")
        add("snapshot: native initial table sync rows/s", g("native.rows_per_s"))
        add("snapshot: postgres / native initial sync", ratio(g("pg.rows_per_s"), g("native.rows_per_s")))
    # BENCH_ONLY=tables: the same changes into one table and into many.
    for wl in sorted({k[0] for k in res if k[0].startswith("tables-")}, key=lambda w: int(w[7:])):
        g = lambda m: res.get((wl, m), [])
        what = "tables: %s table(s)" % "{:,}".format(int(wl[7:]))
        add("%s: changes per run" % what, g("changes"))
        add("%s: pg_recvlogical changes/s" % what, g("recv.changes_per_s"))
        add("%s: pgcdc -> jsonl changes/s" % what, g("jsonl.changes_per_s"))
        add("%s: jsonl / pg_recvlogical" % what, ratio(g("jsonl.changes_per_s"), g("recv.changes_per_s")),
            ">= 0.95")
        add("%s: CPU us/change jsonl sink" % what, g("jsonl.cpu_us_sink"))
        add("%s: CPU us/change worker+sink" % what, g("jsonl.cpu_us_per_change"), "<= 2")
        add("%s: peak RSS MB jsonl sink" % what, [max(g("jsonl.rss_sink_kb") or [0]) / MB], "< 64")
    # Peak RSS (VmHWM), the max over the runs: worker / sink / supervisor.
    for wl in ("bulk", "oltp", "snapshot", "bigtxn"):
        for who in ("jsonl", "pg", "fixed", "half"):
            peak = [max(res.get((wl, "%s.rss_%s_kb" % (who, p)), [0])) / MB
                    for p in ("worker", "sink", "supervisor")]
            if any(peak):
                out.append(("%s (%s): peak RSS MB worker / sink / supervisor" % (wl, who),
                            " / ".join("%.1f" % x for x in peak), "each < 64"))
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def machine(a):
    cpu = sh("sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1")
    mem = int(sh("awk '/MemTotal/ {print $2}' /proc/meminfo") or 0) / 1024 / 1024
    pg = sh("/usr/lib/postgresql/15/bin/postgres --version")
    commit = sh("git log -1 --format='%%h %%s' %s | cut -c 1-72" % (a.commit or "HEAD"))
    dirty = " (with uncommitted changes)" if not a.commit and sh("git status --porcelain -uno") else ""
    return [
        "- CPU: %s, %d cores (`nproc`)" % (cpu, os.cpu_count()),
        "- RAM: %.1f GiB; disk: %s" % (mem, " ".join(sh("df -h --output=source,fstype / | tail -n 1").split())),
        "- kernel: %s %s; %s" % (platform.system(), platform.release(), pg),
        "- date: %s; commit: %s%s" % (a.start, commit, dirty),
        "- load average: %s (the machine is shared with other engineers' test runs)" % a.load,
        "- sizes: the \"changes per run\" and \"rows\" rows of the table (BENCH_SCALE)",
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--start", default="")
    ap.add_argument("--load", default="")
    ap.add_argument("--failed", default="")
    ap.add_argument("--commit", default="", help="the commit the binaries were built from")
    ap.add_argument("--out")
    a = ap.parse_args()
    table = rows(load(a.results))
    w = max([len(r[0]) for r in table] + [10])
    v = max([len(r[1]) for r in table] + [10])
    print("%-*s  %-*s  %s" % (w, "figure (median [min - max])", v, "value", "target"))
    for r in table:
        print("%-*s  %-*s  %s" % (w, r[0], v, r[1], r[2]))
    if a.failed:
        print("failed workloads: " + a.failed)
    if not a.out:
        return
    md = ["# Benchmarks", "", "Written by `make bench` (scripts/bench/run.sh); the method and the analysis",
          "below the table are scripts/bench/analysis.md.", "", "## Machine", ""] + machine(a)
    md += ["", "## Figures", "", "Median [min - max] over the runs; targets are not asserted.", "",
           "| figure | value | target |", "|---|---|---|"]
    md += ["| %s | %s | %s |" % r for r in table]
    if a.failed:
        md += ["", "Failed workloads (see build/bench/<name>.log): " + a.failed]
    here = os.path.dirname(os.path.abspath(__file__))
    md += ["", open(os.path.join(here, "analysis.md")).read().rstrip()]
    with open(a.out, "w") as fh:
        fh.write("\n".join(md) + "\n")


main()
