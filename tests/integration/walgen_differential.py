#!/usr/bin/env python3
"""Differential test, walquorum -> PostgreSQL: pg_waldump must read the WAL our
encoder writes.

Usage: walgen_differential.py WALGEN WALDUMP [--segments N] [--keep]

walquorum-walgen writes full, zero-padded 16 MiB segments (generic-WAL deltas
on real pages, FPIs with holes, FPW_CHANGE, commits, online checkpoints, large
records crossing pages and a segment boundary, records ending exactly at a page
boundary, an XLOG_SWITCH) and reports how many records it wrote and the end
LSN. Then `pg_waldump -p DIR -s START -e END` must exit 0 with the same number
of records, its --stats totals must equal walgen's (records and bytes), and
`pg_waldump -b` must agree with `walquorum-waldump --json` record by record.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_differential  # noqa: E402
from pgharness import pg_tool  # noqa: E402

TIMEOUT_S = 300


def run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT_S)


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    return 1


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("walgen")
    ap.add_argument("waldump")
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="wq-walgen-")
    try:
        out = os.path.join(tmp, "wal")
        g = run([os.path.abspath(a.walgen), "--out", out, "--segments", str(a.segments)])
        if g.returncode != 0:
            return fail(f"walgen exited {g.returncode}: {g.stderr.strip()}")
        info = dict(kv.split("=", 1) for kv in g.stdout.split())
        print(f"walgen: {g.stdout.strip()}", flush=True)
        n = int(info["records"])
        start, end = info["start"], info["end"]
        for key in ("page_end_records", "segment_crossing_records", "fpi_records",
                    "generic_records", "large_records", "exotic_records"):
            if int(info[key]) == 0:
                return fail(f"walgen wrote no {key}")

        pg = run([pg_tool("pg_waldump"), "-p", out, "-s", start, "-e", end])
        if pg.returncode != 0:
            return fail(f"pg_waldump exited {pg.returncode}: {pg.stderr.strip()}")
        pg_n = sum(1 for line in pg.stdout.splitlines() if line.startswith("rmgr: "))
        if pg_n != n:
            return fail(f"pg_waldump shows {pg_n} records, walgen wrote {n}")

        st = run([pg_tool("pg_waldump"), "--stats", "-p", out, "-s", start, "-e", end])
        rows = pg_differential.parse_stats(st.stdout)
        total = rows.get("Total")
        if st.returncode != 0 or total is None:
            return fail(f"pg_waldump --stats exited {st.returncode}: {st.stderr.strip()}")
        if total[0] != n or total[3] != int(info["total_bytes"]):
            return fail(f"pg_waldump --stats totals {total[0]} records / {total[3]} bytes; "
                        f"walgen wrote {n} records / {info['total_bytes']} bytes")
        print(f"pg_waldump --stats: {total[0]} records, {total[3]} bytes "
              f"({total[2]} FPI bytes) — equal to walgen's")

        pgb = run([pg_tool("pg_waldump"), "-b", "-p", out, "-s", start, "-e", end])
        ours = run([os.path.abspath(a.waldump), "--json", "--start", start, "--end", end, out])
        if pgb.returncode != 0 or ours.returncode != 0:
            return fail(f"exit codes: pg_waldump -b {pgb.returncode}, ours {ours.returncode}: "
                        f"{ours.stderr.strip()}")
        pg_records, bad = pg_differential.parse_pg_waldump_b(pgb.stdout)
        if bad:
            return fail(f"{len(bad)} pg_waldump lines not understood, first: {bad[0]!r}")
        our_records = [json.loads(line) for line in ours.stdout.splitlines()]
        mismatches = pg_differential.compare(pg_records, our_records)
        if mismatches:
            for m in mismatches:
                print(f"MISMATCH {m}")
            return fail(f"{len(mismatches)} mismatches between pg_waldump -b and ours")
        holes = sum(1 for r in pg_records for b in r["blocks"] if b["hole_length"] > 0)
        if holes == 0:
            return fail("no FPI with a hole seen by pg_waldump")
        print(f"PASS: pg_waldump read all {n} records ({holes} FPIs with holes) "
              f"from {info['segments']} segments, {start} .. {end}; our decoder agrees "
              f"record by record")
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
