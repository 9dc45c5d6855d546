#!/usr/bin/env python3
"""make bench: commit-to-sink latency from a jsonl sink's output, read live.

latency.py DIR STOPFILE: follows DIR/public.hist/*.jsonl as the sink writes
them (polled every 0.5 ms, the directory every 50 ms); for each complete line takes the row's "ts" (the
writer's clock_timestamp(), microseconds before its commit) and the time the
line became readable, same clock.  It creates STOPFILE.ready once it runs;
when STOPFILE exists it reads what is left and prints "n p50_ms p99_ms
max_ms".  LAT_DUMP=FILE also writes "unix_time latency_s" per row there.
"""
import datetime
import os
import re
import sys
import time

TS = re.compile(rb'"ts":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d(?::?\d\d)?)?"')


def main():
    d = os.path.join(sys.argv[1], "public.hist")
    stop = sys.argv[2]
    files, lat, base = {}, [], {}
    names, turn = [], 0
    dump = open(os.environ["LAT_DUMP"], "w") if os.environ.get("LAT_DUMP") else None
    open(stop + ".ready", "w").close()      # following from now on
    while True:
        last = os.path.exists(stop)
        if not files or turn % 100 == 0 or last:
            names = sorted(os.listdir(d)) if os.path.isdir(d) else []
        turn += 1
        for name in names:
            if not name.endswith(".jsonl"):
                continue
            if name not in files:
                files[name] = [open(os.path.join(d, name), "rb"), b""]
            fh, rest = files[name]
            data = fh.read()
            if not data:
                continue
            now = time.time()
            data = rest + data
            cut = data.rfind(b"\n") + 1
            files[name][1] = data[cut:]
            for m in TS.finditer(data, 0, cut):
                sec = base.get(m.group(1))
                if sec is None:
                    tz = (m.group(3) or b"Z").decode().replace("Z", "+00:00")
                    sec = datetime.datetime.fromisoformat(m.group(1).decode() + tz).timestamp()
                    base[m.group(1)] = sec
                lat.append(now - sec - float(m.group(2) or 0))
                if dump:
                    dump.write("%.6f %.6f\n" % (now, lat[-1]))
        if last:
            break
        time.sleep(0.0005)
    lat.sort()
    if not lat:
        print("0 0 0 0")
        return
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print("%d %.2f %.2f %.2f" % (len(lat), pick(0.5), pick(0.99), lat[-1] * 1000))


main()
