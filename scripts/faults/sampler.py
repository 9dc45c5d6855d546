#!/usr/bin/env python3
"""Fault campaign sampler: every INTERVAL seconds, one JSON line with

  t          wall clock
  confirmed  the slot's confirmed_flush_lsn (pg_replication_slots)
  sent       the flush LSN pgcdc last sent (pg_stat_replication.flush_lsn)
  wsnd       the walsender's pid
  acked      {sink: durable position}: LMDB's from `pgcdc status --json`;
             for the postgres sink "pg" (TG_HOST, TG_PORT set) the larger of
             that and what the target holds (pgcdc.positions), which a
             restarted sink acks before LMDB has caught up

The slot is read first, the sinks after: a sink's position only grows, so
a sample never shows a sink behind the slot that was not (check.py).
Samples that fail (server restarting) are skipped.  Runs until killed.

  sampler.py PGCDC CONFIG SLOT OUT.jsonl INTERVAL
"""
import json
import os
import subprocess
import sys
import time

pgcdc, config, slot, out, interval = sys.argv[1:6]


def lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


psql = os.path.join(os.environ.get("PGC_BIN", "/usr/lib/postgresql/15/bin"), "psql")
SQL = ("SELECT s.confirmed_flush_lsn, r.flush_lsn, r.pid FROM pg_replication_slots s "
       "LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = '%s'" % slot)

with open(out, "a") as fh:
    while True:
        time.sleep(float(interval))
        try:
            row = subprocess.run([psql, "-XAtq", "-F", "|", "-c", SQL], capture_output=True,
                                 text=True, timeout=10).stdout.strip().split("|")
            st = subprocess.run([pgcdc, "status", "-c", config, "--json"], capture_output=True,
                                text=True, timeout=10).stdout
            sinks = {k["sink"]: k["acked"].get(slot) for k in json.loads(st)["sinks"]}
            if os.environ.get("TG_HOST") and "pg" in sinks:
                tg = subprocess.run([psql, "-XAtq", "-h", os.environ["TG_HOST"], "-p",
                                     os.environ["TG_PORT"], "-U", "postgres", "-d", "postgres", "-c",
                                     "SELECT end_lsn FROM pgcdc.positions WHERE sink = 'pg' AND "
                                     "slot = '%s' AND tbl = ''" % slot],
                                    capture_output=True, text=True, timeout=10).stdout.strip()
                if tg and (sinks["pg"] is None or lsn(tg) > lsn(sinks["pg"])):
                    sinks["pg"] = tg
        except (subprocess.TimeoutExpired, ValueError, KeyError):
            continue
        if len(row) != 3 or not row[0]:
            continue
        fh.write(json.dumps({"t": time.time(), "confirmed": row[0], "sent": row[1] or None,
                             "wsnd": row[2] or None, "acked": sinks}) + "\n")
        fh.flush()
