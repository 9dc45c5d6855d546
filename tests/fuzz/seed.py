#!/usr/bin/env python3
"""seed: write the seed corpus of fuzz_pgo from captured pgoutput fixtures.

fuzz_pgo reads frames: a 2-byte big-endian length, then that many bytes of
one pgoutput message.  Seeds are every message alone, and every transaction
with the Type and Relation messages its changes need in front of it, so that
the fuzzer starts from inputs that reach the JSON rendering.  Seeds longer
than the fuzzer's -max_len (4096) are left out.

usage: seed.py OUTDIR FIXTURE.hex...
"""
import os
import struct
import sys

MAX_LEN = 4096


def frame(msg):
    # a message past 64 kB makes a seed past MAX_LEN, which is dropped
    return struct.pack(">H", min(len(msg), 0xFFFF)) + msg


def relid(msg):
    return struct.unpack(">I", msg[1:5])[0]


def truncate_relids(msg):
    n = struct.unpack(">I", msg[1:5])[0]
    return [struct.unpack(">I", msg[6 + 4 * i:10 + 4 * i])[0] for i in range(n)]


def needed(msg):
    """The relids a message refers to."""
    kind = msg[:1]
    if kind in (b"I", b"U", b"D"):
        return [relid(msg)]
    if kind == b"T":
        return truncate_relids(msg)
    return []


def seeds(lines):
    """Yield (suffix, bytes) for one fixture."""
    described = {}     # relid -> its last Relation, with the Types before it
    types = b""
    txn = None
    for i, line in enumerate(lines):
        msg = bytes.fromhex(line.split("\t")[1].strip())
        yield "%04d" % i, frame(msg)
        kind = msg[:1]
        if kind == b"Y":
            types += frame(msg)
        elif kind == b"R":
            described[relid(msg)] = types + frame(msg)
            types = b""
        if kind == b"B":
            txn, front, sent = [], [], set()
        if txn is None:
            continue
        for r in needed(msg):
            if r not in sent and r in described:
                front.append(described[r])
                sent.add(r)
        if kind == b"R":
            sent.add(relid(msg))
        txn.append(frame(msg))
        if kind == b"C":
            yield "%04d-txn" % i, b"".join(front + txn)
            txn = None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    written = 0
    for path in sys.argv[2:]:
        base = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            for suffix, data in seeds(f):
                if len(data) > MAX_LEN:
                    continue
                with open(os.path.join(out, "%s-%s" % (base, suffix)), "wb") as s:
                    s.write(data)
                written += 1
    print("seed: %d inputs in %s" % (written, out))


if __name__ == "__main__":
    main()
