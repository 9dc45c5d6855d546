#!/usr/bin/env python3
"""seed_sink: seeds of fuzz_sink from those of fuzz_pgo (seed.py).

A fuzz_pgo seed is frames of a 2-byte big-endian length and one pgoutput
message.  Each becomes a fuzz_sink input: peer "a" says HELLO, then sends
every message as a WIRE_PGO record in a frame of its own (wire.h), and one
snapshot row (WIRE_ROW) per Insert.

usage: seed_sink.py OUTDIR PGO_SEED_DIR
"""
import os
import struct
import sys


def rec(kind, body):
    return kind + struct.pack(">I", len(body)) + body


def msg(peer, frame):
    return bytes([peer]) + struct.pack(">H", len(frame)) + frame


def convert(data):
    out = msg(0, b"\x01" + rec(b"H", struct.pack(">Q", 1) + b"a\0postgres\0"))
    at, lsn = 0, 0x1000000
    while at + 2 <= len(data):
        n = struct.unpack(">H", data[at:at + 2])[0]
        m = data[at + 2:at + 2 + n]
        at += 2 + n
        lsn += 0x100
        out += msg(0, b"\x01" + rec(b"P", struct.pack(">Q", lsn) + m))
        if m[:1] == b"I":
            out += msg(0, b"\x01" + rec(b"W", struct.pack(">QB", 1, 0) + m))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    os.makedirs(sys.argv[1], exist_ok=True)
    names = sorted(os.listdir(sys.argv[2]))
    for name in names:
        with open(os.path.join(sys.argv[2], name), "rb") as f:
            data = convert(f.read())
        if len(data) <= 8192:
            with open(os.path.join(sys.argv[1], name), "wb") as f:
                f.write(data)
    print("seed_sink: %d inputs in %s" % (len(names), sys.argv[1]))


if __name__ == "__main__":
    main()
