#!/usr/bin/env python3
"""Proposer library integration tests: three real walquorum-safekeeper
processes on 127.0.0.1 (ports chosen by the kernel, read back from
<data>/wal.port and <data>/http.port) and proposer_check, a test compute that
uses only src/proposer/client.h. Every process a test starts is stopped by PID
in a finally block; every wait is a bounded poll with a deadline.

usage: proposer_test.py SCENARIO SAFEKEEPER_EXE PROPOSER_CHECK_EXE
scenarios:
  write     elect, append, wait_committed from 4 threads at once, on_committed order
  junction  a second client after the first stopped continues its WAL: term_start_lsn
            and prev_record_lsn match, pg_waldump reads across the junction
  kill9     kill -9 one safekeeper mid-stream: commits continue; after restart it
            reconnects (stats count it) and catches up
  takeover  a second client takes over; the first fails with "superseded by term T"
  sigstop   SIGSTOP 2 of 3: wait_committed times out; SIGCONT: commits resume
  backpressure  the same while appending without waiting: append() blocks on the full
            buffer until its timeout; SIGCONT: the buffer drains
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wqtest import lsn, lsn_text, check, wait_for  # noqa: E402


PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
TENANT = "22" * 16
SEG = 16 * 1024 * 1024
START = SEG  # the client's default timeline_start_lsn: 0/1000000
STARTED = []  # every process started by this run, stopped by PID at the end


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
        if self not in STARTED:
            STARTED.append(self)
        for name in ("wal.port", "http.port"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                os.unlink(p)
        # A restart reuses the first run's WAL port so running clients find it again.
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [self.exe, "--id", str(self.id), "--data-dir", self.dir,
                 "--listen-wal", "127.0.0.1:%d" % self.wal_port, "--listen-http", "127.0.0.1:0"],
                stdout=log, stderr=log)
        wait_for("sk%d port files" % self.id,
                 lambda: self.alive() and os.path.exists(os.path.join(self.dir, "http.port")), timeout=20)
        self.wal_port = int(open(os.path.join(self.dir, "wal.port")).read())
        self.http_port = int(open(os.path.join(self.dir, "http.port")).read())

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("sk%d exited with %s" % (self.id, self.proc.returncode))
        return True

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a SIGSTOPped node must see the SIGTERM
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


class Check:
    """proposer_check in the background; stdout lines are queued as they come."""

    def __init__(self, exe, root, nodes, tl, name, *args):
        sks = ",".join("127.0.0.1:%d" % n.wal_port for n in nodes)
        self.name = name
        self.log_path = os.path.join(root, "%s.log" % name)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [exe, "--safekeepers", sks, "--tenant", TENANT, "--timeline", tl] + list(args),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        STARTED.append(self)
        self.lines = []
        self.q = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            self.lines.append(line)
            self.q.put(line)

    def expect(self, pattern, timeout=30.0):
        """The first line from now on matching pattern (re.search), within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no line matching %r within %.0f s; last lines:\n%s\nlog tail:\n%s" %
                                     (self.name, pattern, timeout, self.tail(), self.log_tail()))
            try:
                line = self.q.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self.q.empty():
                    raise AssertionError("%s exited (%s) before a line matching %r; last lines:\n%s\nlog tail:\n%s" %
                                         (self.name, self.proc.returncode, pattern, self.tail(), self.log_tail()))
                continue
            if line.startswith("fail "):
                raise AssertionError("%s: %s\nlog tail:\n%s" % (self.name, line, self.log_tail()))
            m = re.search(pattern, line)
            if m:
                return m

    def fields(self, line_match):
        return dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", line_match.string))

    def quit(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self):
        return "\n".join(self.lines[-15:])

    def log_tail(self):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-15:])


def new_timeline(n):
    return ("%02x" % n) * 16


def start_cluster(exe, root, count=3):
    nodes = [Node(exe, root, i + 1) for i in range(count)]
    for n in nodes:
        n.start()
    return nodes


def run_write(check_exe, root, nodes, tl, name, *args):
    """One proposer_check --mode write run to completion; returns its fields."""
    c = Check(check_exe, root, nodes, tl, name, "--mode", "write", "--log-level", "debug", *args)
    try:
        el = c.fields(c.expect(r"^elected "))
        done = c.fields(c.expect(r"^done ", timeout=60))
        rc = c.wait()
        check(rc == 0, "%s exited %s:\n%s" % (name, rc, c.tail()))
    finally:
        c.stop()
    return el, done


def pg_waldump(node, tl, start, end):
    """pg_waldump reads [start, end) of the node's segments without error; returns its
    record lines. It does not open .partial names, so segments are copied first."""
    tmp = tempfile.mkdtemp(prefix="proposer_waldump_")
    try:
        for f in os.listdir(node.timeline_dir(tl)):
            if re.fullmatch(r"[0-9A-F]{24}(\.partial)?", f):
                shutil.copy(os.path.join(node.timeline_dir(tl), f), os.path.join(tmp, f[:24]))
        r = subprocess.run([PG_WALDUMP, "-p", tmp, "-s", lsn_text(start), "-e", lsn_text(end)],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "pg_waldump on sk%d failed (%d): %s" % (node.id, r.returncode, r.stderr[-2000:]))
        return r.stdout.splitlines()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ scenarios

def scenario_write(exe, check_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0x51)
    el, done = run_write(check_exe, root, nodes, tl, "c1", "--records", "3000", "--record-bytes", "1500",
                         "--waiters", "4", "--lsn-waiters", "32")
    check(lsn(el["term_start_lsn"]) == START, "a new timeline starts at %s, not %s" %
          (lsn_text(START), el["term_start_lsn"]))
    check(lsn(el["prev_record_lsn"]) == 0, "prev_record_lsn on a new timeline: %s" % el["prev_record_lsn"])
    end = lsn(done["end"])
    check(lsn(done["commit"]) >= end, "commit %s below end %s" % (done["commit"], done["end"]))
    check(int(done["callbacks"]) == int(done["waits"]) > 0, "callbacks/waits: %s" % done)
    check(done["misuse"] == "refused", "an append with a wrong page header was accepted: %s" % done)
    # 32 concurrent waiters at different LSNs: the 24 at or below the end
    # returned ok, the 8 past it timed out.
    check(int(done["lsn_waiters_ok"]) == 24 and int(done["lsn_waiters_timed_out"]) == 8,
          "lsn waiters: %s" % done)
    print("wrote %d records, %d bytes; %s batches waited by 4 threads and callbacks" %
          (int(done["records"]), end - START, done["waits"]))
    flushes = [lsn(n.timeline(tl)["flush_lsn"]) for n in nodes]
    check(sum(1 for f in flushes if f >= end) >= 2, "no quorum holds %s: %s" % (done["end"], flushes))

    # A compute of another PostgreSQL system is refused by every safekeeper
    # (wrong timeline) and never elected; the refusal is logged.
    c = Check(check_exe, root, nodes, tl, "other", "--mode", "write", "--system-id", "12345",
              "--elect-timeout-ms", "1500")
    try:
        rc = c.wait()
    finally:
        c.stop()
    check(rc == 1 and any('wait_elected: not elected within 1500 ms' in l and
                          'last refusal: ' in l and 'wrong timeline' in l for l in c.lines),
          "a compute of another system: exit %s:\n%s" % (rc, c.tail()))
    with open(c.log_path) as f:
        log = f.read()
    check("event=proposer_refused" in log and "wrong timeline" in log, "no refusal logged:\n%s" % c.log_tail())
    terms = [n.timeline(tl)["term"] for n in nodes]
    check(all(t == int(el["term"]) for t in terms), "the refused compute changed a term: %s" % terms)
    print("a compute with another system id: refused (wrong timeline), not elected, terms unchanged %s" % terms)


def scenario_junction(exe, check_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0x52)
    # 2500-byte records so some cross page boundaries; ~5.6 MB in all.
    el1, d1 = run_write(check_exe, root, nodes, tl, "c1", "--records", "2000", "--record-bytes", "2500",
                        "--proposer-id", "1")
    el2, d2 = run_write(check_exe, root, nodes, tl, "c2", "--records", "500", "--record-bytes", "700",
                        "--proposer-id", "2", "--expect-term-start", d1["end"], "--expect-prev",
                        d1["last_record"])
    check(int(el2["term"]) > int(el1["term"]), "second term %s not above %s" % (el2["term"], el1["term"]))
    check(lsn(el2["term_start_lsn"]) == lsn(d1["end"]),
          "term_start_lsn %s != first client's end %s" % (el2["term_start_lsn"], d1["end"]))
    check(lsn(el2["prev_record_lsn"]) == lsn(d1["last_record"]),
          "prev_record_lsn %s != first client's last record %s" % (el2["prev_record_lsn"], d1["last_record"]))
    print("second client: term %s, term_start_lsn %s, prev_record_lsn %s (first's last record)" %
          (el2["term"], el2["term_start_lsn"], el2["prev_record_lsn"]))
    end = lsn(d2["end"])
    node = wait_for("a node with flush_lsn >= %s" % d2["end"],
                    lambda: next((n for n in nodes if lsn(n.timeline(tl)["flush_lsn"]) >= end), None))
    lines = pg_waldump(node, tl, START, end)
    junction = lsn(el2["term_start_lsn"])
    after = [l for l in lines if re.search(r"lsn: ([0-9A-F]+/[0-9A-F]+)", l) and
             lsn(re.search(r"lsn: ([0-9A-F]+/[0-9A-F]+)", l).group(1)) >= junction]
    n1, n2 = int(d1["records"]), int(d2["records"])
    check(len(lines) == n1 + n2, "pg_waldump read %d records, expected %d" % (len(lines), n1 + n2))
    check(len(after) == n2, "pg_waldump read %d records after the junction, expected %d" % (len(after), n2))
    prev = re.search(r"prev ([0-9A-F]+/[0-9A-F]+)", after[0]).group(1)
    check(lsn(prev) == lsn(d1["last_record"]), "first record after the junction has prev %s" % prev)
    print("pg_waldump on sk%d read %d records across the junction at %s" % (node.id, len(lines), el2["term_start_lsn"]))

    # The last record before the junction is 1.5 MB: the client widens its
    # window from 64 KiB by doubling and reads it in several peer fetches.
    tl = new_timeline(0x56)
    _, d1 = run_write(check_exe, root, nodes, tl, "c3", "--records", "3", "--record-bytes", "1500000",
                      "--batch-records", "1", "--proposer-id", "3")
    el2, d2 = run_write(check_exe, root, nodes, tl, "c4", "--records", "16", "--record-bytes", "100",
                        "--proposer-id", "4", "--expect-term-start", d1["end"], "--expect-prev",
                        d1["last_record"])
    end = lsn(d2["end"])
    node = wait_for("a node with flush_lsn >= %s" % d2["end"],
                    lambda: next((n for n in nodes if lsn(n.timeline(tl)["flush_lsn"]) >= end), None))
    lines = pg_waldump(node, tl, START, end)
    check(len(lines) == 3 + 16, "pg_waldump read %d records, expected 19" % len(lines))
    print("after 1.5 MB records: prev_record_lsn %s, pg_waldump read %d records" %
          (el2["prev_record_lsn"], len(lines)))


def stats_of(c):
    m = c.expect(r"^stats ")
    return c.fields(m)


def scenario_kill9(exe, check_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0x53)
    c = Check(check_exe, root, nodes, tl, "c1", "--mode", "stream", "--records", "400000",
              "--record-bytes", "1000")
    try:
        c.expect(r"^elected ")
        first = lsn(c.fields(c.expect(r"^committed "))["lsn"])
        wait_for("1 MiB committed", lambda: lsn(stats_of(c)["commit"]) >= first + 1024 * 1024, timeout=60)
        nodes[2].kill9()
        at_kill = lsn(stats_of(c)["commit"])
        print("killed sk3 (kill -9) at commit %s" % lsn_text(at_kill))
        wait_for("commits to continue without sk3",
                 lambda: lsn(stats_of(c)["commit"]) >= at_kill + 1024 * 1024, timeout=60)
        s = stats_of(c)
        check(s["sk3"].startswith("0:"), "sk3 still shown connected: %s" % s)
        print("commit continued to %s with sk3 down" % s["commit"])
        nodes[2].start()
        s = wait_for("sk3 reconnected", lambda: (lambda s: s if s["sk3"].startswith("1:") and
                                                 int(s["reconnects"]) >= 1 else None)(stats_of(c)), timeout=60)
        print("sk3 restarted and reconnected: reconnects=%s" % s["reconnects"])
        target = lsn(s["commit"])
        wait_for("sk3 to acknowledge %s" % lsn_text(target),
                 lambda: lsn(stats_of(c)["sk3"].split(":")[1]) >= target, timeout=60)
        c.quit()
        st = c.fields(c.expect(r"^stopped "))
        check(c.wait() == 0, "client exit:\n%s" % c.tail())
    finally:
        c.stop()
    print("stopped at commit %s; sk3 caught up to %s" % (st["commit"], lsn_text(target)))


def scenario_takeover(exe, check_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0x54)
    a = Check(check_exe, root, nodes, tl, "a", "--mode", "stream", "--records", "400000", "--proposer-id", "1")
    try:
        ea = a.fields(a.expect(r"^elected "))
        a.expect(r"^committed ")
        el_b, done_b = run_write(check_exe, root, nodes, tl, "b", "--records", "100", "--proposer-id", "2")
        term_b = int(el_b["term"])
        check(term_b > int(ea["term"]), "b's term %d not above a's %s" % (term_b, ea["term"]))
        r = a.fields(a.expect(r"^refused ", timeout=30))
        check(r["error"] == '"superseded by term %d"' % int(r["superseded_by"]) and
              int(r["superseded_by"]) >= term_b, "a refused with %s" % r)
        after = a.fields(a.expect(r"^after_refusal "))
        check(after["state"] == "superseded" and after["append"] == r["error"] and
              after["wait_elected"] == r["error"], "after the refusal: %s" % after)
        rc = a.wait()
        check(rc == 3, "a exited %s" % rc)
    finally:
        a.stop()
    print("a (term %s) stopped with %s; b elected in term %d" % (ea["term"], r["error"], term_b))


def scenario_sigstop(exe, check_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0x55)
    c = Check(check_exe, root, nodes, tl, "c1", "--mode", "stream", "--records", "400000",
              "--commit-timeout-ms", "1000")
    try:
        c.expect(r"^elected ")
        c.expect(r"^committed ")
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGSTOP)
        t = c.fields(c.expect(r"^commit_timeout ", timeout=30))
        check(lsn(t["commit"]) < lsn(t["lsn"]), "timeout line with commit past its LSN: %s" % t)
        # Two more timeouts in a row: no commit is acknowledged while two are stopped.
        t2 = c.fields(c.expect(r"^commit_timeout |^committed ", timeout=30))
        check("commit" in t2 and t2.get("lsn") == t["lsn"], "commit acknowledged with two stopped: %s" % t2)
        print("wait_committed(%s) timed out with sk2, sk3 stopped (commit %s)" % (t["lsn"], t2["commit"]))
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGCONT)
        m = c.fields(c.expect(r"^committed ", timeout=30))
        check(lsn(m["lsn"]) >= lsn(t["lsn"]), "resumed below the stalled LSN: %s" % m)
        print("commits resumed after SIGCONT: %s" % m["lsn"])
        c.quit()
        c.expect(r"^stopped ")
        check(c.wait() == 0, "client exit:\n%s" % c.tail())
    finally:
        for n in nodes[1:]:
            if n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
        c.stop()


def scenario_backpressure(exe, check_exe, root):
    """Appends without waiting for commits while 2 of 3 are stopped: the client's
    buffer fills and append() blocks until its timeout; after SIGCONT it drains."""
    nodes = start_cluster(exe, root)
    tl = new_timeline(0x57)
    c = Check(check_exe, root, nodes, tl, "c1", "--mode", "stream", "--pipelined", "--records", "150000",
              "--record-bytes", "1000", "--commit-timeout-ms", "1500")
    try:
        c.expect(r"^elected ")
        c.expect(r"^committed ")
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGSTOP)
        t = c.fields(c.expect(r"^append_timeout ", timeout=60))
        held = lsn(t["end"]) - lsn(t["commit"])
        # The client keeps buffer_bytes_max (64 MiB by default) of uncommitted WAL.
        check(held >= 32 * 1024 * 1024, "append blocked with only %d uncommitted bytes: %s" % (held, t))
        t2 = c.fields(c.expect(r"^append_timeout ", timeout=30))
        check(t2["commit"] == t["commit"] and t2["end"] == t["end"],
              "something moved with two of three stopped: %s then %s" % (t, t2))
        print("append() blocked with %.1f MiB uncommitted (commit %s), twice" % (held / 1048576.0, t["commit"]))
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGCONT)
        m = c.fields(c.expect(r"^committed lsn=", timeout=30))
        while lsn(m["lsn"]) <= lsn(t["end"]):
            m = c.fields(c.expect(r"^committed lsn=", timeout=30))
        print("after SIGCONT the buffer drained: commit %s > %s" % (m["lsn"], t["end"]))
        c.quit()
        c.expect(r"^stopped ")
        check(c.wait() == 0, "client exit:\n%s" % c.tail())
    finally:
        for n in nodes[1:]:
            if n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
        c.stop()


SCENARIOS = {
    "backpressure": scenario_backpressure,
    "write": scenario_write,
    "junction": scenario_junction,
    "kill9": scenario_kill9,
    "takeover": scenario_takeover,
    "sigstop": scenario_sigstop,
}


def main():
    scenario, exe, check_exe = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    root = tempfile.mkdtemp(prefix="proposer_%s_" % scenario)
    ok = False
    try:
        SCENARIOS[scenario](exe, check_exe, root)
        ok = True
        print("PASS %s" % scenario)
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
