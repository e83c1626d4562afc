#!/usr/bin/env python3
"""walquorum-waldump's command line and end-of-WAL verdicts.

Usage: waldump_cli.py WALDUMP WALGEN

On segments written by walquorum-walgen (and altered copies of them) checks:
bad flags and bad LSNs give one line and exit 2; --help documents the options,
.partial handling and exit codes; a normal end of WAL gives exit 0 and a final
stderr line naming the LSN; a bad CRC, a bad page magic, a stale page address,
a truncated file and an --end past the end of WAL give exit 2 with one line
naming the LSN and the reason; .partial files are read only when named; the
segment size is detected from the first segment (1 MiB segments too).
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

TIMEOUT_S = 120
failures = []


def run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT_S)


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}", flush=True)
    if not cond:
        failures.append(what)


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def fmt_lsn(v):
    return f"{v >> 32:X}/{v & 0xFFFFFFFF:X}"


def one_error_line(r):
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    return len(lines) == 1 and "error" in lines[0]


def main(argv):
    waldump, walgen = (os.path.abspath(p) for p in argv[:2])
    tmp = tempfile.mkdtemp(prefix="wq-waldump-cli-")
    try:
        good = os.path.join(tmp, "good")
        g = run([walgen, "--out", good, "--segments", "3"])
        check(g.returncode == 0, f"walgen runs ({g.stderr.strip()})")
        info = dict(kv.split("=", 1) for kv in g.stdout.split())
        n, start, end = int(info["records"]), info["start"], info["end"]
        seg = 16 << 20
        names = sorted(os.listdir(good))

        # Flags.
        r = run([waldump, "--bogus", good])
        check(r.returncode == 2 and one_error_line(r), f"unknown flag: exit 2, one line: {r.stderr.strip()!r}")
        r = run([waldump, "--start", "zz/1", good])
        check(r.returncode == 2 and one_error_line(r) and "zz/1" in r.stderr,
              f"bad LSN: exit 2, one line quoting it: {r.stderr.strip()!r}")
        r = run([waldump, "--json", "--stats", good])
        check(r.returncode == 2 and one_error_line(r), f"--json with --stats: exit 2: {r.stderr.strip()!r}")
        r = run([waldump])
        check(r.returncode == 2 and one_error_line(r), f"no PATH: exit 2: {r.stderr.strip()!r}")
        r = run([waldump, os.path.join(tmp, "missing")])
        check(r.returncode == 2 and one_error_line(r), f"missing path: exit 2: {r.stderr.strip()!r}")
        r = run([waldump, "--help"])
        check(r.returncode == 0 and all(w in r.stdout for w in
                                        ("--start", "--end", "--stats", "--json", "--timeline",
                                         ".partial", "Exit status")),
              "--help documents options, .partial and exit status")

        # Normal end.
        r = run([waldump, "--json", good])
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        recs = [json.loads(x) for x in r.stdout.splitlines()]
        check(r.returncode == 0 and len(recs) == n and f"end of WAL at {end} " in last,
              f"whole directory: exit 0, {len(recs)}/{n} records, last line {last!r}")
        r = run([waldump, "--start", start, "--end", end] + [os.path.join(good, x) for x in names])
        check(r.returncode == 0 and r.stdout.count("\n") == n, "explicit files with --start/--end: exit 0, all records")
        mid = recs[len(recs) // 2]
        r = run([waldump, "--json", "--start", mid["start_lsn"], good])
        first = json.loads(r.stdout.splitlines()[0]) if r.stdout else {}
        check(r.returncode == 0 and first.get("start_lsn") == mid["start_lsn"],
              "--start at a record LSN shows that record first")
        page = lsn(mid["start_lsn"]) // 8192 * 8192
        r = run([waldump, "--json", "--start", fmt_lsn(page), good])
        first = json.loads(r.stdout.splitlines()[0]) if r.stdout else {}
        check(r.returncode == 0 and lsn(first.get("start_lsn", "0/0")) >= page,
              "--start at a page boundary finds the first record after it")
        r = run([waldump, "--end", fmt_lsn(lsn(end) + 8192 * 3), good])
        check(r.returncode == 2 and "before --end" in r.stderr.strip().splitlines()[-1],
              f"--end past the end of WAL: exit 2: {r.stderr.strip().splitlines()[-1]!r}")

        # Corruptions, each in a copy; pick a record in segment 2 that fits in its page.
        victim = next(x for x in recs if lsn(x["start_lsn"]) // seg == 2 and x["total_len"] > 100
                      and lsn(x["start_lsn"]) % 8192 + x["total_len"] < 8192)
        v = lsn(victim["start_lsn"])

        def altered(tag, offset, data, truncate=None, seg_index=1):
            d = os.path.join(tmp, tag)
            shutil.copytree(good, d)
            path = os.path.join(d, names[seg_index])
            with open(path, "r+b") as f:
                if data is not None:
                    f.seek(offset)
                    f.write(data)
                if truncate is not None:
                    f.truncate(truncate)
            return d

        def expect_error(tag, d, words, args=()):
            r = run([waldump, *args, d])
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            ok = r.returncode == 2 and all(w in last for w in words) and "Assert" not in r.stderr
            check(ok, f"{tag}: exit 2, last line names {words}: {last!r}")

        d = altered("crc", v % seg + 40, b"\xAA\x55")
        expect_error("bad CRC", d, [fmt_lsn(v), "checksum"])
        page2 = (v // 8192) * 8192
        d = altered("magic", page2 % seg, b"\x0D\xD1")
        expect_error("bad page magic", d, ["magic", "D10D"])
        d = altered("pageaddr", page2 % seg + 8, (page2 + 0x10000).to_bytes(8, "little"))
        expect_error("stale page address", d, ["pageaddr"])
        d = altered("truncated", 0, None, truncate=(v % seg) + 4000)
        expect_error("truncated segment", d, ["ends after"])
        r = run([waldump, "--end", victim["start_lsn"], d])
        check(r.returncode == 0, "truncated segment, --end before the cut: exit 0")

        # .partial: skipped in a directory, read when named.
        d = os.path.join(tmp, "partial")
        shutil.copytree(good, d)
        os.rename(os.path.join(d, names[2]), os.path.join(d, names[2] + ".partial"))
        r = run([waldump, "--json", d])
        k = r.stdout.count("\n")
        check(r.returncode == 0 and 0 < k < n, f"directory skips .partial: exit 0, {k} of {n} records")
        r = run([waldump, "--json", d, os.path.join(d, names[2] + ".partial")])
        check(r.returncode == 0 and r.stdout.count("\n") == n, "a named .partial file is read")

        # Timelines: only the chosen timeline's segments are read.
        r = run([waldump, "--timeline", "2", good])
        check(r.returncode == 2 and one_error_line(r) and "timeline 2" in r.stderr,
              f"--timeline 2 with only timeline 1 segments: exit 2: {r.stderr.strip()!r}")
        r = run([waldump, "--timeline", "1", "--stats", good])
        check(r.returncode == 0, "--timeline 1: exit 0")

        # Files with segment names but no WAL in them.
        junk = os.path.join(tmp, "junk")
        os.makedirs(junk)
        with open(os.path.join(junk, "000000010000000000000001"), "wb") as f:
            junk_rng = random.Random(1)
            f.write(bytes(junk_rng.getrandbits(8) for _ in range(65536)))
        r = run([waldump, junk])
        check(r.returncode == 2 and one_error_line(r), f"garbage segment: exit 2: {r.stderr.strip()!r}")
        open(os.path.join(junk, "000000010000000000000001"), "wb").close()
        r = run([waldump, junk])
        check(r.returncode == 2 and one_error_line(r), f"empty segment: exit 2: {r.stderr.strip()!r}")

        # Random damage (deterministic seed): never a crash, always exit 0 or 2
        # with a final line naming what happened.
        rng = random.Random(20261125)
        seg2 = os.path.join(good, names[1])
        crashes = []
        for i in range(80):
            with open(seg2, "r+b") as f:
                offset = rng.randrange(0, 400000) if i % 2 else rng.randrange(0, seg)
                length = rng.randrange(1, 64)
                f.seek(offset)
                saved = f.read(length)
                f.seek(offset)
                f.write(bytes(rng.getrandbits(8) for _ in range(length)))
            r = run([waldump, "--stats", good])
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
            if r.returncode not in (0, 2) or "ASSERTION" in r.stderr or not last:
                crashes.append(f"offset {offset} length {length}: exit {r.returncode}: {r.stderr[-300:]!r}")
            with open(seg2, "r+b") as f:
                f.seek(offset)
                f.write(saved)
        check(not crashes, f"80 random corruptions: exit 0 or 2, never a crash {crashes[:3]}")

        # 1 MiB segments: size detected from the long page header.
        small = os.path.join(tmp, "small")
        g = run([walgen, "--out", small, "--segments", "4", "--segment-size-mb", "1"])
        sinfo = dict(kv.split("=", 1) for kv in g.stdout.split())
        r = run([waldump, "--stats", small])
        total = [x for x in r.stdout.splitlines() if x.startswith("Total")]
        check(g.returncode == 0 and r.returncode == 0 and total and
              total[0].split()[1] == sinfo.get("records"),
              f"1 MiB segments: {total[0].split()[1] if total else '?'} of {sinfo.get('records')} records")
        r = run(["/usr/lib/postgresql/15/bin/pg_waldump", "-p", small, "-s", sinfo["start"],
                 "-e", sinfo["end"], "--stats"])
        ptotal = [x for x in r.stdout.splitlines() if x.startswith("Total")]
        check(r.returncode == 0 and ptotal and ptotal[0].split()[1] == sinfo.get("records"),
              "1 MiB segments: pg_waldump agrees")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"FAIL: {len(failures)} checks failed")
        return 1
    print("PASS: all checks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
