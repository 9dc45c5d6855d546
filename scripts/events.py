#!/usr/bin/env python3
"""Read what a jsonl sink wrote: <dir>/<schema>.<table>/<segment>.jsonl.

Every line must be one valid JSON object (strict parser: a bad line is an
error, not skipped).  Used by the demo to show events and by the tests to
check them.

  events.py DIR [TABLE] --show          one readable line per event
            [--snapshot | --changes]    only snapshot rows (op r) / only changes
  events.py DIR [TABLE] --json          the events as one JSON array
  events.py DIR [TABLE] --count         number of events
  events.py DIR [TABLE] --lines         number of complete lines, without parsing
                                        (cheap enough to poll while waiting)
  events.py DIR TABLE --state KEY       final rows (replaying c/u/d/r/t) as JSON
"""
import json
import os
import sys


def table_dirs(root, table=None):
    if not os.path.isdir(root):
        return []
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    return [n for n in names if table is None or n == table]


def iter_events(root, table=None):
    """The events one by one, in file order (a table's segments in order)."""
    for t in table_dirs(root, table):
        d = os.path.join(root, t)
        for seg in sorted(f for f in os.listdir(d) if f.endswith(".jsonl")):
            with open(os.path.join(d, seg), "rb") as fh:
                data = fh.read()
            if data and not data.endswith(b"\n"):
                raise SystemExit("%s/%s: last line is incomplete" % (t, seg))
            for n, line in enumerate(data.splitlines(), 1):
                try:
                    ev = json.loads(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    raise SystemExit("%s/%s:%d: invalid JSON: %s" % (t, seg, n, e))
                yield ev


def events(root, table=None):
    return list(iter_events(root, table))


def lines(root, table=None):
    n = 0
    for t in table_dirs(root, table):
        d = os.path.join(root, t)
        for seg in os.listdir(d):
            if seg.endswith(".jsonl"):
                with open(os.path.join(d, seg), "rb") as fh:
                    n += fh.read().count(b"\n")
    return n


def apply(rows, ev, key):
    """Replay one event (c/u/d/r/t) into rows, a dict by key."""
    op = ev["op"]
    if op == "m":
        return
    if op == "t":
        rows.clear()
    elif op == "d":
        rows.pop(ev["before"][key], None)
    else:
        if op == "u" and ev["before"] and ev["before"].get(key) is not None:
            rows.pop(ev["before"][key], None)
        row = dict(rows.get(ev["after"][key], {}))
        row.update(ev["after"])
        rows[ev["after"][key]] = row


def state(evs, key):
    rows = {}
    for ev in evs:
        apply(rows, ev, key)
    return [rows[k] for k in sorted(rows)]


def show(ev):
    src = ev["source"]
    if ev["op"] == "m":
        return "m %s %s" % (ev["message"]["prefix"], ev["message"]["content"])
    fmt = lambda v: "null" if v is None else json.dumps(v, separators=(",", ":"))
    if ev["op"] == "r":
        return "r %s.%-10s %s" % (src["schema"], src["table"], fmt(ev["after"]))
    return "%s %s.%-10s before=%s after=%s" % (
        ev["op"], src["schema"], src["table"], fmt(ev["before"]), fmt(ev["after"]))


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    if not args:
        raise SystemExit(__doc__)
    root, table = args[0], (args[1] if len(args) > 1 else None)
    if "--lines" in flags:
        print(lines(root, table))
        return
    evs = events(root, table)
    if "--count" in flags:
        print(len(evs))
    elif "--json" in flags:
        json.dump(evs, sys.stdout)
    elif "--state" in flags:
        json.dump(state(evs, args[2]), sys.stdout)
    else:
        for ev in evs:
            if ("--snapshot" in flags and ev["op"] != "r") or ("--changes" in flags and ev["op"] == "r"):
                continue
            print(show(ev))


if __name__ == "__main__":
    main(sys.argv)
