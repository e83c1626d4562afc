#!/usr/bin/env python3
"""walquorum-compute integration test: three real walquorum-safekeeper
processes on 127.0.0.1 (ports chosen by the kernel, read back from
<data>/wal.port and <data>/http.port) and the synthetic compute. Every process
started is stopped by PID in a finally block; every wait is a bounded poll with
a deadline; no figure is compared with a time.

usage: compute_test.py SAFEKEEPER_EXE COMPUTE_EXE

  flags      --help exits 0, a bad flag exits 2 with one line
  fpw on     a run writes generic records and FPIs, its summary is sane, and
             pg_waldump reads every segment on every safekeeper
  fpw off    no FPIs from the FPW rule and fewer WAL bytes per transaction
  switch     --fpw-off-after: XLOG_FPW_CHANGE in the WAL, two phases, none
             of the second phase's transactions takes an FPI
  takeover   a second compute takes over; the first exits 3 with "superseded by term T"
  continue   a third compute continues the timeline after the committed end
             without local files; pg_waldump reads across both junctions
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wqtest import lsn, lsn_text, check, wait_for  # noqa: E402


PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
TENANT = "c0" * 16
SEG = 16 * 1024 * 1024
START = SEG  # a new timeline starts at 0/1000000
STARTED = []  # every process started, stopped by PID at the end
# Small data so the load is quick and short checkpoints make FPIs recur.
SMALL = ["--relations", "4", "--blocks", "64", "--checkpoint-interval", "1", "--clients", "4"]


class Node:
    def __init__(self, exe, root, node_id):
        self.exe = exe
        self.id = node_id
        self.dir = os.path.join(root, "sk%d" % node_id)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(root, "sk%d.log" % node_id)
        self.proc = None
        self.wal_port = 0
        self.http_port = 0

    def start(self):
        STARTED.append(self)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [self.exe, "--id", str(self.id), "--data-dir", self.dir,
                 "--listen-wal", "127.0.0.1:0", "--listen-http", "127.0.0.1:0"],
                stdout=log, stderr=log)
        wait_for("sk%d port files" % self.id,
                 lambda: self.alive() and os.path.exists(os.path.join(self.dir, "http.port")), timeout=20)
        self.wal_port = int(open(os.path.join(self.dir, "wal.port")).read())
        self.http_port = int(open(os.path.join(self.dir, "http.port")).read())

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("sk%d exited with %s" % (self.id, self.proc.returncode))
        return True

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def timeline(self, tl):
        url = "http://127.0.0.1:%d/v1/tenant/%s/timeline/%s" % (self.http_port, TENANT, tl)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read().decode())

    def timeline_dir(self, tl):
        return os.path.join(self.dir, "timelines", TENANT, tl)


class Compute:
    """walquorum-compute in the background: stdout and stderr go to files."""

    def __init__(self, exe, root, nodes, tl, name, *args):
        sks = ",".join("127.0.0.1:%d" % n.wal_port for n in nodes)
        self.name = name
        self.out_path = os.path.join(root, "%s.out" % name)
        self.err_path = os.path.join(root, "%s.err" % name)
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([exe, "--safekeepers", sks, "--tenant", TENANT, "--timeline", tl] +
                                         list(args), stdout=out, stderr=err)
        STARTED.append(self)

    def wait(self, timeout=60):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def summary(self):
        return json.loads(self.stdout().strip().splitlines()[-1])

    def finish(self, expect_rc=0, timeout=90):
        rc = self.wait(timeout)
        check(rc == expect_rc, "%s exited %s, expected %s\nstdout:\n%s\nstderr tail:\n%s" %
              (self.name, rc, expect_rc, self.stdout()[-2000:], self.stderr()[-2000:]))
        return self.summary()


def new_timeline(n):
    return ("%02x" % n) * 16


def run_compute(exe, root, nodes, tl, name, *args):
    c = Compute(exe, root, nodes, tl, name, "--json", *args)
    try:
        return c.finish()
    finally:
        c.stop()


def sane(s, name):
    check(s["txns"] > 0, "%s: no transactions: %s" % (name, s))
    check(s["new_order"] + s["payment"] == s["txns"], "%s: mix does not add up: %s" % (name, s))
    check(s["new_order"] > 0 and s["payment"] > 0, "%s: one kind missing: %s" % (name, s))
    check(s["commit_lsn"] == s["end_lsn"], "%s: commit %s below end %s" % (name, s["commit_lsn"], s["end_lsn"]))
    check(lsn(s["start_lsn"]) < lsn(s["run_start_lsn"]) < lsn(s["end_lsn"]), "%s: LSNs out of order: %s" % (name, s))
    check(s["wal_bytes"] == lsn(s["end_lsn"]) - lsn(s["run_start_lsn"]), "%s: wal_bytes: %s" % (name, s))
    check(0 < s["commit_p50_us"] <= s["commit_p99_us"], "%s: commit latencies: %s" % (name, s))
    check(sum(p["txns"] for p in s["phases"]) == s["txns"], "%s: phases do not add up: %s" % (name, s))
    check(s["superseded_by"] == 0, "%s: superseded: %s" % (name, s))


def waldump(node, tl, start, end):
    """pg_waldump over [start, end) of every segment the node has (.partial ones
    copied under their full names, as pg_waldump does not open them); returns
    its record lines. Fails on any pg_waldump error."""
    end = lsn(end) if isinstance(end, str) else end
    wait_for("sk%d flush_lsn >= %s" % (node.id, lsn_text(end)),
             lambda: lsn(node.timeline(tl)["flush_lsn"]) >= end, timeout=30)
    tmp = tempfile.mkdtemp(prefix="compute_waldump_")
    try:
        names = [f for f in os.listdir(node.timeline_dir(tl)) if re.fullmatch(r"[0-9A-F]{24}(\.partial)?", f)]
        check(names, "sk%d has no segments for %s" % (node.id, tl))
        for f in names:
            shutil.copy(os.path.join(node.timeline_dir(tl), f), os.path.join(tmp, f[:24]))
        r = subprocess.run([PG_WALDUMP, "-p", tmp, "-s", lsn_text(start), "-e", lsn_text(end)],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "pg_waldump on sk%d failed (%d): %s" % (node.id, r.returncode, r.stderr[-2000:]))
        return r.stdout.splitlines()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def record_lsn(line):
    return lsn(re.search(r"lsn: ([0-9A-F]+/[0-9A-F]+)", line).group(1))


def scenario_flags(compute_exe):
    r = subprocess.run([compute_exe, "--help"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "--fpw-off-after" in r.stdout, "--help: %d %r" % (r.returncode, r.stdout[:200]))
    r = subprocess.run([compute_exe, "--safekeepers", "127.0.0.1:1", "--tenant", TENANT, "--timeline", TENANT,
                        "--clients", "zero"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2, "bad --clients exited %d" % r.returncode)
    lines = r.stderr.strip().splitlines()
    check(len(lines) == 1 and "--clients" in lines[0], "bad --clients said %r" % r.stderr)
    print("flags: --help exits 0; a bad flag exits 2 with: %s" % lines[0])


def main():
    sk_exe, compute_exe = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    root = tempfile.mkdtemp(prefix="compute_test_")
    ok = False
    try:
        scenario_flags(compute_exe)
        nodes = [Node(sk_exe, root, i + 1) for i in range(3)]
        for n in nodes:
            n.start()

        # fpw on: generic records and FPIs, read back by pg_waldump on every safekeeper.
        tl = new_timeline(0x61)
        truth = os.path.join(root, "truth")
        on = run_compute(compute_exe, root, nodes, tl, "on", "--duration", "4", "--fpw", "on",
                         "--truth-dir", truth, *SMALL)
        sane(on, "fpw on")
        check(lsn(on["start_lsn"]) == START, "a new timeline starts at %s" % on["start_lsn"])
        check(on["fpi_count"] > 0, "fpw on took no FPI: %s" % on)
        check(on["checkpoints"] >= 2, "fewer than 2 checkpoints: %s" % on)
        for n in nodes:
            lines = waldump(n, tl, START, on["end_lsn"])
            generic = [l for l in lines if l.startswith("rmgr: Generic")]
            commits = [l for l in lines if "desc: COMMIT" in l]
            run_start = lsn(on["run_start_lsn"])
            fpis = [l for l in generic if " FPW" in l and record_lsn(l) >= run_start]
            check(generic and fpis, "sk%d: no generic records or FPIs in pg_waldump output" % n.id)
            check(len(commits) == on["txns"], "sk%d: %d commit records, summary says %d transactions" %
                  (n.id, len(commits), on["txns"]))
            check(any("CHECKPOINT_ONLINE" in l for l in lines), "sk%d: no checkpoint record" % n.id)
        journal = os.path.join(truth, "journal-%d.bin" % on["term"])
        size = os.path.getsize(journal)
        check(size > 16 and (size - 16) % 40 == 0, "truth journal %s has %d bytes" % (journal, size))
        print("fpw on: %d txns, %.0f WAL bytes/txn, %d FPIs; pg_waldump read %d records on each safekeeper" %
              (on["txns"], on["wal_bytes_per_txn"], on["fpi_count"], len(lines)))

        # fpw off: no FPIs from the rule, fewer WAL bytes per transaction.
        tl = new_timeline(0x62)
        off = run_compute(compute_exe, root, nodes, tl, "off", "--duration", "4", "--fpw", "off", *SMALL)
        sane(off, "fpw off")
        check(off["fpi_count"] == 0, "fpw off took FPIs: %s" % off)
        check(off["wal_bytes_per_txn"] < on["wal_bytes_per_txn"],
              "fpw off wrote %.0f WAL bytes/txn, fpw on %.0f" % (off["wal_bytes_per_txn"], on["wal_bytes_per_txn"]))
        waldump(nodes[0], tl, START, off["end_lsn"])
        print("fpw off: %.0f WAL bytes/txn vs %.0f with fpw on (%.1fx less)" %
              (off["wal_bytes_per_txn"], on["wal_bytes_per_txn"], on["wal_bytes_per_txn"] / off["wal_bytes_per_txn"]))

        # Run-time switch: XLOG_FPW_CHANGE, two phases.
        tl = new_timeline(0x63)
        sw = run_compute(compute_exe, root, nodes, tl, "switch", "--duration", "4", "--fpw", "on",
                         "--fpw-off-after", "2", *SMALL)
        sane(sw, "switch")
        check(len(sw["phases"]) == 2, "phases: %s" % sw["phases"])
        p0, p1 = sw["phases"]
        check(p0["fpw"] and not p1["fpw"], "phase fpw flags: %s" % sw["phases"])
        check(p0["txns"] > 0 and p1["txns"] > 0, "a phase without transactions: %s" % sw["phases"])
        check(p0["fpi_count"] > 0 and p1["fpi_count"] == 0, "phase FPIs: %s" % sw["phases"])
        check(p0["end_lsn"] == p1["start_lsn"], "phases do not meet: %s" % sw["phases"])
        lines = waldump(nodes[1], tl, START, sw["end_lsn"])
        changes = [l for l in lines if "FPW_CHANGE" in l]
        check(len(changes) == 1 and "false" in changes[0], "FPW_CHANGE records: %s" % changes)
        after = [l for l in lines if record_lsn(l) >= lsn(p1["start_lsn"]) and "CHECKPOINT" in l]
        check(all("fpw false" in l for l in after), "a checkpoint after the switch says fpw true: %s" % after)
        print("switch: %s; phase 0 %.0f WAL bytes/txn, phase 1 %.0f" %
              (changes[0].split("desc: ")[1], p0["wal_bytes_per_txn"], p1["wal_bytes_per_txn"]))

        # Takeover: a second compute on the same timeline supersedes the first.
        tl = new_timeline(0x64)
        first = Compute(compute_exe, root, nodes, tl, "first", "--duration", "60", "--proposer-id", "1", "--json",
                        *SMALL)
        try:
            wait_for("the first compute's progress line", lambda: first.proc.poll() is None and
                     "txn/s=" in first.stderr(), timeout=30)
            second = run_compute(compute_exe, root, nodes, tl, "second", "--duration", "2", "--proposer-id", "2",
                                 *SMALL)
            s1 = first.finish(expect_rc=3, timeout=30)
        finally:
            first.stop()
        sane(second, "second")
        m = re.search(r"superseded by term (\d+)", first.stderr())
        check(m is not None, "first compute's stderr has no 'superseded by term': %s" % first.stderr()[-1000:])
        check(int(m.group(1)) >= second["term"] > s1["term"], "terms: first %s, superseded by %s, second %s" %
              (s1["term"], m.group(1), second["term"]))
        check(s1["superseded_by"] == int(m.group(1)), "summary superseded_by %s" % s1["superseded_by"])
        print("takeover: the first compute (term %d) exited 3: superseded by term %s" % (s1["term"], m.group(1)))

        # Continue: a third compute starts at the committed end, with no files from the others.
        third = run_compute(compute_exe, root, nodes, tl, "third", "--duration", "2", "--proposer-id", "3", *SMALL)
        sane(third, "third")
        check(third["term"] > second["term"], "third term %s" % third["term"])
        check(third["start_lsn"] == second["end_lsn"], "third starts at %s, second ended at %s" %
              (third["start_lsn"], second["end_lsn"]))
        check(third["rel_base"] != second["rel_base"], "third reuses the second's relations")
        for n in nodes:
            lines = waldump(n, tl, START, third["end_lsn"])
            junction = [l for l in lines if record_lsn(l) == lsn(third["start_lsn"])]
            prev = [lsn(re.search(r"prev ([0-9A-F]+/[0-9A-F]+)", l).group(1)) for l in junction]
            check(prev == [lsn(second["last_record_lsn"])],
                  "sk%d: the record at the junction %s: %s" % (n.id, third["start_lsn"], junction))
            check(record_lsn(lines[-1]) == lsn(third["last_record_lsn"]), "sk%d: last record %s" % (n.id, lines[-1]))
        print("continue: term %d started at %s (prev %s); pg_waldump read %d records across the junctions" %
              (third["term"], third["start_lsn"], second["last_record_lsn"], len(lines)))
        ok = True
        print("PASS")
    finally:
        for p in reversed(STARTED):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print("stopping: %s" % e)
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept %s for inspection" % root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
