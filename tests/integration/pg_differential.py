#!/usr/bin/env python3
"""Differential test, PostgreSQL -> walquorum: our decoder must read real PG15 WAL
exactly as pg_waldump does.

Usage: pg_differential.py WALDUMP [--scale N] [--transactions N] [--keep]

Runs a throwaway PostgreSQL 15 (pgharness.py) with full_page_writes=on and
frequent checkpoints, pgbench -i + a bounded pgbench run, then
wal_compression=lz4 + CHECKPOINT + another run, and stops it by PID. Then it runs
`pg_waldump -b` and `walquorum-waldump --json` over the same range and compares
every record: start LSN, prev LSN, rmgr, total length, FPI length, xid, and each
block reference (id, rel, fork, blk, image, apply, hole offset/length,
compression method). It also compares the --stats tables of both tools, and
checks that without --end our tool reports a normal end of WAL where
PostgreSQL's does. Requires zero mismatches on >= 10,000 records spanning
several segments, with FPIs, holes and lz4 images among them.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgharness  # noqa: E402
from pgharness import format_lsn, parse_lsn, pg_tool  # noqa: E402

MIN_RECORDS = 10000
MIN_SEGMENTS = 3
TOOL_TIMEOUT_S = 300

BLOCK_RE = re.compile(
    r"^\tblkref #(?P<id>\d+): rel (?P<spc>\d+)/(?P<db>\d+)/(?P<rel>\d+) fork (?P<fork>\S+) "
    r"blk (?P<blk>\d+)(?P<img> \(FPW(?P<verify> for WAL verification)?\); hole: offset: "
    r"(?P<hoff>\d+), length: (?P<hlen>\d+)(?:, compression saved: \d+, method: (?P<method>\w+))?)?$")

FORKS = {0: "main", 1: "fsm", 2: "vm", 3: "init"}


def parse_pg_waldump_b(text):
    """Records of `pg_waldump -b` output: header line + one tab-indented line per block."""
    records, bad = [], []
    for line in text.splitlines():
        if line.startswith("rmgr: "):
            m = pgharness.RECORD_RE.match(line)
            if not m:
                bad.append(line)
                continue
            records.append({
                "lsn": m.group("lsn"), "prev": m.group("prev"), "rmgr": m.group("rmgr"),
                "tot": int(m.group("tot")), "rec": int(m.group("rec")), "xid": int(m.group("xid")),
                "desc": m.group("desc"), "blocks": [],
            })
        elif line.startswith("\tblkref #"):
            m = BLOCK_RE.match(line)
            if not m or not records:
                bad.append(line)
                continue
            img = m.group("img") is not None
            records[-1]["blocks"].append({
                "id": int(m.group("id")), "spc": int(m.group("spc")), "db": int(m.group("db")),
                "rel": int(m.group("rel")), "fork": m.group("fork"), "blk": int(m.group("blk")),
                "has_image": img, "apply_image": img and m.group("verify") is None,
                "hole_offset": int(m.group("hoff")) if img else 0,
                "hole_length": int(m.group("hlen")) if img else 0,
                "compression": (m.group("method") or "none") if img else "none",
            })
        elif line.strip():
            bad.append(line)
    return records, bad


def norm_lsn(text):
    return parse_lsn(text)


def compare(pg_records, our_records, max_report=10):
    """List of mismatch descriptions (empty when identical)."""
    mismatches = []
    if len(pg_records) != len(our_records):
        mismatches.append(f"record count: pg_waldump {len(pg_records)}, ours {len(our_records)}")
    for i, (p, o) in enumerate(zip(pg_records, our_records)):
        diffs = []
        if norm_lsn(p["lsn"]) != norm_lsn(o["start_lsn"]):
            diffs.append(f"lsn {p['lsn']} vs {o['start_lsn']}")
        if norm_lsn(p["prev"]) != norm_lsn(o["prev_lsn"]):
            diffs.append(f"prev {p['prev']} vs {o['prev_lsn']}")
        if p["rmgr"] != o["rmgr"]:
            diffs.append(f"rmgr {p['rmgr']} vs {o['rmgr']}")
        if p["tot"] != o["total_len"]:
            diffs.append(f"total_len {p['tot']} vs {o['total_len']}")
        if p["tot"] - p["rec"] != o["fpi_len"]:
            diffs.append(f"fpi_len {p['tot'] - p['rec']} vs {o['fpi_len']}")
        if p["xid"] != o["xid"]:
            diffs.append(f"xid {p['xid']} vs {o['xid']}")
        ob = [{
            "id": b["id"], "spc": b["spc"], "db": b["db"], "rel": b["rel"],
            "fork": FORKS.get(b["fork"], str(b["fork"])), "blk": b["blk"],
            "has_image": b["has_image"], "apply_image": b["has_image"] and b["apply_image"],
            "hole_offset": b["hole_offset"] if b["has_image"] else 0,
            "hole_length": b["hole_length"] if b["has_image"] else 0,
            "compression": b["compression"] if b["has_image"] else "none",
        } for b in o["blocks"]]
        if p["blocks"] != ob:
            diffs.append(f"blocks {p['blocks']} vs {ob}")
        if diffs:
            mismatches.append(f"record #{i} at {p['lsn']}: " + "; ".join(diffs))
            if len(mismatches) >= max_report:
                mismatches.append("(more mismatches not shown)")
                break
    return mismatches


STATS_ROW_RE = re.compile(r"^(?P<name>\S+)\s+(?P<n>\d+) \(\s*[\d.]+\)\s+(?P<rec>\d+) \(\s*[\d.]+\)\s+"
                          r"(?P<fpi>\d+) \(\s*[\d.]+\)\s+(?P<comb>\d+) \(\s*[\d.]+\)$")
STATS_TOTAL_RE = re.compile(r"^Total\s+(?P<n>\d+)\s+(?P<rec>\d+) \[[\d.]+%\]\s+(?P<fpi>\d+) "
                            r"\[[\d.]+%\]\s+(?P<comb>\d+) \[100%\]$")


def parse_stats(text):
    rows = {}
    for line in text.splitlines():
        m = STATS_ROW_RE.match(line)
        if m:
            rows[m.group("name")] = tuple(int(m.group(k)) for k in ("n", "rec", "fpi", "comb"))
        m = STATS_TOTAL_RE.match(line)
        if m:
            rows["Total"] = tuple(int(m.group(k)) for k in ("n", "rec", "fpi", "comb"))
    return rows


def run(argv, timeout_s=TOOL_TIMEOUT_S):
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout_s)
    return r, time.monotonic() - t0


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    return 1


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("waldump")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--transactions", type=int, default=300)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (for debugging)")
    a = ap.parse_args(argv)
    waldump = os.path.abspath(a.waldump)

    with pgharness.PgCluster(keep=a.keep) as cluster:
        cluster.init().start()
        pgharness.run_workload(cluster, a.scale, a.clients, a.transactions, lz4=True, progress=False)
        cluster.stop()
        wal_dir = cluster.wal_dir()
        seg_size = cluster.seg_size
        start, end, pg_end_msg = pgharness.find_wal_range(wal_dir, seg_size)
        s, e = format_lsn(start), format_lsn(end)
        print(f"WAL range {s} .. {e} in {wal_dir}; pg_waldump ended with: {pg_end_msg}", flush=True)

        # 1. Record by record.
        pg, pg_s = run([pg_tool("pg_waldump"), "-b", "-p", wal_dir, "-s", s, "-e", e])
        if pg.returncode != 0:
            return fail(f"pg_waldump -b exited {pg.returncode}: {pg.stderr.strip()}")
        ours, ours_s = run([waldump, "--json", "--start", s, "--end", e, wal_dir])
        if ours.returncode != 0:
            return fail(f"walquorum-waldump --json exited {ours.returncode}: {ours.stderr.strip()}")
        pg_records, bad = parse_pg_waldump_b(pg.stdout)
        if bad:
            return fail(f"{len(bad)} pg_waldump lines not understood, first: {bad[0]!r}")
        our_records = []
        for i, line in enumerate(ours.stdout.splitlines()):
            try:
                our_records.append(json.loads(line))
            except json.JSONDecodeError as ex:
                return fail(f"our JSON line {i + 1} does not parse ({ex}): {line[:200]!r}")
        mismatches = compare(pg_records, our_records)

        segments = {parse_lsn(r["lsn"]) // seg_size for r in pg_records}
        blocks = [b for r in pg_records for b in r["blocks"]]
        fpis = [b for b in blocks if b["has_image"]]
        holes = [b for b in fpis if b["hole_length"] > 0]
        lz4 = [b for b in fpis if b["compression"] == "lz4"]
        rmgrs = sorted({r["rmgr"] for r in pg_records})
        checkpoints = sum(1 for r in pg_records
                          if r["rmgr"] == "XLOG" and r["desc"].startswith("CHECKPOINT_ONLINE"))
        print(f"compared {len(pg_records)} records ({len(our_records)} ours) over "
              f"{len(segments)} segments; {len(blocks)} block refs, {len(fpis)} FPIs, "
              f"{len(holes)} with holes, {len(lz4)} lz4-compressed, {checkpoints} online "
              f"checkpoints; rmgrs: {', '.join(rmgrs)}")
        print(f"decode time: pg_waldump -b {pg_s:.2f}s, walquorum-waldump --json {ours_s:.2f}s")
        if mismatches:
            for m in mismatches:
                print(f"MISMATCH {m}")
            return fail(f"{len(mismatches)} mismatches")

        # 2. --stats tables.
        pgst, _ = run([pg_tool("pg_waldump"), "--stats", "-p", wal_dir, "-s", s, "-e", e])
        ourst, _ = run([waldump, "--stats", "--start", s, "--end", e, wal_dir])
        if pgst.returncode != 0 or ourst.returncode != 0:
            return fail(f"--stats exit codes: pg_waldump {pgst.returncode}, ours {ourst.returncode}: "
                        f"{ourst.stderr.strip()}")
        pg_rows, our_rows = parse_stats(pgst.stdout), parse_stats(ourst.stdout)
        if not pg_rows or pg_rows != our_rows:
            for k in sorted(set(pg_rows) | set(our_rows)):
                if pg_rows.get(k) != our_rows.get(k):
                    print(f"STATS MISMATCH {k}: pg_waldump {pg_rows.get(k)}, ours {our_rows.get(k)}")
            return fail("--stats tables differ")
        identical = pgst.stdout == ourst.stdout
        print(f"--stats: {len(pg_rows) - 1} rmgr rows and totals agree; text identical: {identical}")

        # 3. End of WAL without --end: a normal end (exit 0) at PostgreSQL's end.
        tail, _ = run([waldump, "--stats", "--start", s, wal_dir])
        last = tail.stderr.strip().splitlines()[-1] if tail.stderr.strip() else ""
        if tail.returncode != 0 or f"end of WAL at {e} " not in last:
            return fail(f"without --end: exit {tail.returncode}, last stderr line {last!r}; "
                        f"expected exit 0 and 'end of WAL at {e}'")
        print(f"without --end: exit 0, {last}")

        # 4. Starting at segment boundaries (usually inside a continued record):
        # both tools must find the same first record and the same records after it.
        for segno in sorted(segments)[1:]:
            seg_start = format_lsn(segno * seg_size)
            pgs, _ = run([pg_tool("pg_waldump"), "-p", wal_dir, "-s", seg_start, "-e", e])
            ous, _ = run([waldump, "--start", seg_start, "--end", e, wal_dir])
            pg_lsns = [m.group("lsn") for m in map(pgharness.RECORD_RE.match, pgs.stdout.splitlines()) if m]
            our_lsns = [m.group("lsn") for m in map(pgharness.RECORD_RE.match, ous.stdout.splitlines()) if m]
            if pgs.returncode != 0 or ous.returncode != 0 or pg_lsns != our_lsns or not pg_lsns:
                return fail(f"from segment start {seg_start}: exit {pgs.returncode}/{ous.returncode}, "
                            f"{len(pg_lsns)}/{len(our_lsns)} records, first {pg_lsns[:1]}/{our_lsns[:1]}")
        print(f"starting at each of {len(segments) - 1} segment boundaries: same first record and "
              f"same records as pg_waldump")

        if len(pg_records) < MIN_RECORDS:
            return fail(f"only {len(pg_records)} records compared, need {MIN_RECORDS}")
        if len(segments) < MIN_SEGMENTS:
            return fail(f"records span only {len(segments)} segments, need {MIN_SEGMENTS}")
        if checkpoints < 3:
            return fail(f"only {checkpoints} online checkpoints; need several so first-touch FPIs recur")
        if not holes or not lz4:
            return fail(f"need FPIs with holes ({len(holes)}) and lz4 images ({len(lz4)})")
    print(f"PASS: 0 mismatches on {len(pg_records)} records, {len(segments)} segments, "
          f"{len(fpis)} FPIs, {len(lz4)} lz4 images")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except pgharness.HarnessError as ex:
        print(f"FAIL: harness: {ex}")
        sys.exit(1)
