#!/usr/bin/env python3
"""The pageserver against real safekeepers: three walquorum-safekeeper
processes (--listen-pg for learners), walquorum-pageserver following them, the
synthetic compute writing a truth journal (--truth-dir) and
`walquorum-compute verify` reading pages back at random committed LSNs and
comparing them byte for byte. Everything binds 127.0.0.1 with kernel-chosen
ports (read back from <data>/*.port); every process started is stopped by PID
in a finally block; every wait is a bounded poll with a deadline; no time is
asserted.

usage: learners_test.py SCENARIO SAFEKEEPER_EXE PAGESERVER_EXE COMPUTE_EXE

scenarios:
  fpw        verify is clean after a compute with FPW on, one with FPW off and
             one switching on -> off at run time (three terms on one timeline);
             a truth directory that does not match the WAL gives exit 1
  ps_kill9   the pageserver is killed with kill -9 mid-run and restarted: it
             resumes from its durable LSN and verify stays clean
  failover   the safekeeper the pageserver follows is killed with kill -9: the
             pageserver fails over (failovers grows) and verify stays clean
  pushdown   two pageservers on the same WAL (FPW off): --image-threshold 8
             never replays more than 8 deltas per read, threshold 0 does
  removal    with --retention-bytes 1 MiB, the pageserver's slot (moved on
             every safekeeper: the one it streams from by status updates, the
             others by its probe rounds) keeps every segment at and above the
             slot's confirmed LSN on ALL safekeepers while the pageserver is
             killed (kill -9) and the compute writes four more segments; after
             the restart and catch-up the segments below go on all of them,
             never one above the pageserver's durable LSN
  behind     the compute is killed with kill -9 while sk3 is down, so the
             restarted sk3 never learns the last commits; the pageserver starts
             following sk3 (sk1 and sk2 frozen meanwhile) and, once they are
             back, its probes see them ahead: it switches (failover reason
             "behind", in /v1/status and /metrics), reaches the highest
             position a safekeeper offers, and verify is clean up to it
  hostile    garbage, truncated and oversized frames, a bad version, unknown
             ids and a far-future LSN on the GetPage port: clear errors or a
             closed connection; the pageserver stays up and verify stays clean
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wqtest import lsn, lsn_text, check, wait_for  # noqa: E402

TENANT = "1e" * 16
TIMELINE = "a1" * 16
SEG = 16 * 1024 * 1024
START = SEG  # a new timeline starts at 0/1000000
STARTED = []  # every process started, stopped by PID at the end
# Small relations: the load is quick, hot pages collect many changes, and a
# short checkpoint interval makes FPW-on images recur.
SMALL = ["--relations", "2", "--blocks", "128", "--checkpoint-interval", "1", "--clients", "4"]


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Proc:
    """A daemon with a data dir whose port files appear once it listens."""

    def __init__(self, name, root, argv_fn, ports):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(root, name + ".log")
        self.argv_fn = argv_fn
        self.port_names = ports
        self.ports = {}
        self.proc = None

    def start(self):
        if self not in STARTED:
            STARTED.append(self)
        for p in self.port_names:
            f = os.path.join(self.dir, p + ".port")
            if os.path.exists(f):
                os.unlink(f)
        with open(self.log_path, "a") as lf:
            self.proc = subprocess.Popen(self.argv_fn(self), stdout=lf, stderr=lf)
        for p in self.port_names:
            f = os.path.join(self.dir, p + ".port")
            wait_for("%s %s.port" % (self.name, p), lambda: self.alive() and os.path.exists(f), timeout=30)
            self.ports[p] = int(open(f).read())

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s; log tail:\n%s" % (self.name, self.proc.returncode,
                                                                       self.log()[-3000:]))
        return True

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def http_json(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.ports["http"], path), timeout=5) as r:
            return json.loads(r.read().decode())

    def http_text(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.ports["http"], path), timeout=5) as r:
            return r.read().decode()


class Cluster:
    def __init__(self, args, root):
        self.sk_exe, self.ps_exe, self.compute_exe = args
        self.root = root
        self.truth = os.path.join(root, "truth")
        self.sks = []
        self.pss = []
        self.computes = []

    def start_safekeepers(self, extra=(), per_node=None):
        for i in range(3):
            node_id = i + 1
            own = list(extra) + list((per_node or {}).get(node_id, ()))
            sk = Proc("sk%d" % node_id, self.root,
                      lambda p, node_id=node_id, own=own: [
                          self.sk_exe, "--id", str(node_id), "--data-dir", p.dir,
                          "--listen-wal", "127.0.0.1:%d" % p.ports.get("wal", 0),
                          "--listen-http", "127.0.0.1:0",
                          "--listen-pg", "127.0.0.1:%d" % p.ports.get("pg", 0)] + own,
                      ["wal", "http", "pg"])
            sk.start()
            self.sks.append(sk)

    def sk_pg_list(self):
        return ",".join("127.0.0.1:%d" % s.ports["pg"] for s in self.sks)

    def sk_wal_list(self):
        return ",".join("127.0.0.1:%d" % s.ports["wal"] for s in self.sks)

    def start_pageserver(self, name="ps", threshold=8, extra=()):
        ps = Proc(name, self.root,
                  lambda p: [self.ps_exe, "--data-dir", p.dir, "--safekeepers", self.sk_pg_list(),
                             "--listen-page", "127.0.0.1:%d" % p.ports.get("page", 0),
                             "--listen-http", "127.0.0.1:0",
                             "--tenant-id", TENANT, "--timeline-id", TIMELINE,
                             "--start-lsn", lsn_text(START), "--image-threshold", str(threshold),
                             "--stall-timeout-ms", "2000", "--log-level", "info"] + list(extra),
                  ["page", "http"])
        ps.start()
        self.pss.append(ps)
        return ps

    def compute(self, *args, truth=True):
        """Starts a compute in the background; returns the Popen."""
        argv = [self.compute_exe, "--safekeepers", self.sk_wal_list(), "--tenant", TENANT,
                "--timeline", TIMELINE, "--json", "--commit-timeout-ms", "20000"] + SMALL + list(args)
        if truth:
            argv += ["--truth-dir", self.truth]
        n = len(self.computes)
        out = open(os.path.join(self.root, "compute%d.out" % n), "w")
        err = open(os.path.join(self.root, "compute%d.err" % n), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=err)
        out.close()
        err.close()
        p.name = "compute%d" % n
        self.computes.append(p)
        return p

    def finish(self, p, timeout=120):
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            raise AssertionError("%s did not finish within %d s" % (p.name, timeout))
        out = open(os.path.join(self.root, p.name + ".out")).read()
        err = open(os.path.join(self.root, p.name + ".err")).read()
        check(rc == 0, "%s exited %s:\n%s\n%s" % (p.name, rc, out[-2000:], err[-3000:]))
        return json.loads(out.strip().splitlines()[-1])

    def end(self, p, timeout=120):
        """Ends a compute started with a long --duration (SIGTERM: it commits
        what is pending and prints its summary) and returns the summary."""
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        return self.finish(p, timeout)

    def committed(self):
        return lsn(open(os.path.join(self.truth, "committed")).read().strip())

    def wait_ingested(self, ps, target, timeout=60):
        last = {}

        def reached():
            ps.alive()
            last["status"] = ps.http_json("/v1/status")
            return lsn(last["status"]["durable_lsn"]) >= target and last["status"]
        try:
            return wait_for("%s durable LSN >= %s" % (ps.name, lsn_text(target)), reached, timeout=timeout)
        except AssertionError as e:
            raise AssertionError("%s; its last status: %s; safekeepers: %s" % (
                e, json.dumps(last.get("status")), [sk_timeline(sk) for sk in self.sks if sk.running()]))

    def verify(self, ps, samples, *extra, truth=None, expect=0, seed=1):
        argv = [self.compute_exe, "verify", "--pageserver", "127.0.0.1:%d" % ps.ports["page"],
                "--truth-dir", truth or self.truth, "--samples", str(samples), "--seed", str(seed),
                "--timeout-ms", "20000", "--json"] + list(extra)
        t0 = time.monotonic()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
        dt = time.monotonic() - t0
        check(r.returncode == expect, "verify exited %d (expected %d):\nstdout: %s\nstderr (tail): %s" %
              (r.returncode, expect, r.stdout, r.stderr[-4000:]))
        v = json.loads(r.stdout.strip().splitlines()[-1])
        log("verify %s: %s (%.1f s)" % (ps.name, json.dumps(v), dt))
        return v, r.stderr

    def stop_all(self):
        for p in self.computes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for p in reversed(STARTED):
            p.stop()


def sk_timeline(sk):
    try:
        return sk.http_json("/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))
    except Exception as e:  # noqa: BLE001  (diagnostics only)
        return str(e)


def status(ps):
    return ps.http_json("/v1/status")


def clean(v, samples):
    check(v["samples"] == samples and v["mismatches"] == 0 and v["errors"] == 0, "verify not clean: %s" % v)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def wal_bytes(sk, start, end):
    """The WAL stream bytes [start, end) from sk's segment files."""
    d = os.path.join(sk.dir, "timelines", TENANT, TIMELINE)
    out = b""
    pos = start
    while pos < end:
        segno = pos // SEG
        name = "%08X%08X%08X" % (1, segno // (0x100000000 // SEG), segno % (0x100000000 // SEG))
        path = os.path.join(d, name)
        if not os.path.exists(path):
            path += ".partial"
        n = min(end, (segno + 1) * SEG) - pos
        with open(path, "rb") as f:
            f.seek(pos % SEG)
            out += f.read(n)
        pos += n
    return out


def check_history(c, path, summary, sk):
    """Every whole line of the ack history names a commit record span whose
    crc32c matches the WAL the safekeeper holds."""
    text = open(path).read()
    lines = text.split("\n")
    whole = lines[:-1]  # a torn last line (none here: the compute exited) is ignored
    check(lines[-1] == "", "history ends with a torn line after a clean exit: %r" % lines[-1])
    check(len(whole) == summary["txns"], "history has %d lines for %d transactions" % (len(whole), summary["txns"]))
    commit = lsn(summary["commit_lsn"])
    for ln in whole:
        m = re.fullmatch(r"([0-9A-F]+/[0-9A-F]+) ([0-9A-F]+/[0-9A-F]+) ([0-9a-f]{8})", ln)
        check(m, "history line %r" % ln)
        a, b, crc = lsn(m.group(1)), lsn(m.group(2)), int(m.group(3), 16)
        check(a < b <= commit, "history span %s above the commit LSN %s" % (ln, summary["commit_lsn"]))
        got = crc32c(wal_bytes(sk, a, b))
        check(got == crc, "history line %s: the WAL on %s has crc32c %08x" % (ln, sk.name, got))
    return len(whole)


# ----------------------------------------------------------------- scenarios

def scenario_fpw(c):
    c.start_safekeepers()
    ps = c.start_pageserver(threshold=8)
    total = 0
    history = os.path.join(c.root, "history")
    runs = [("fpw on", ["--fpw", "on", "--duration", "4", "--seed", "11", "--history", history]),
            ("fpw off", ["--fpw", "off", "--duration", "4", "--seed", "12"]),
            ("fpw on->off", ["--fpw", "on", "--fpw-off-after", "2", "--duration", "5", "--seed", "13"])]
    prev_end, during = 0, 0
    for name, args in runs:
        p = c.compute(*args)
        if prev_end:
            # verify while the compute runs: <truth-dir>/committed only names
            # LSNs whose journal entries are written, so this is clean too.
            wait_for("%s commits 1 MiB" % name, lambda: p.poll() is not None or
                     c.committed() > prev_end + 1024 * 1024, timeout=60)
            if p.poll() is None:
                v, _ = c.verify(ps, 500, "--min-lsn", lsn_text(prev_end), seed=21 + len(name))
                clean(v, 500)
                total += v["samples"]
                during += 1
        s = c.finish(p)
        prev_end = lsn(s["end_lsn"])
        log("%s: %d txns, %.0f WAL bytes/txn, %d FPIs, end %s" % (name, s["txns"], s["wal_bytes_per_txn"],
                                                                  s["fpi_count"], s["end_lsn"]))
        if name == "fpw on":
            check(s["fpi_count"] > 0, "fpw on took no full-page images")
            n = check_history(c, history, s, c.sks[0])
            log("ack history: %d lines, every crc32c matches sk1's WAL" % n)
        if name == "fpw off":
            check(s["fpi_count"] == 0, "fpw off took %d full-page images" % s["fpi_count"])
        if name == "fpw on->off":
            check(len(s["phases"]) == 2 and not s["phases"][1]["fpw"], "no switch: %s" % s["phases"])
        committed = c.committed()
        check(committed == lsn(s["commit_lsn"]), "committed file %s != commit %s" %
              (lsn_text(committed), s["commit_lsn"]))
        c.wait_ingested(ps, committed)
        # Samples from this run's WAL on (pages of every term, read at LSNs of this run).
        v, _ = c.verify(ps, 1500, "--min-lsn", s["run_start_lsn"], seed=len(name))
        clean(v, 1500)
        total += v["samples"]
    # And over the whole timeline.
    v, _ = c.verify(ps, 1000, seed=99)
    clean(v, 1000)
    total += v["samples"]
    check(during > 0, "no verify ran while a compute was running")
    log("%d samples clean over three terms (%d verify runs during a compute)" % (total, during))

    # A wrong truth: the FPW-off journal's entries named as another term's
    # relations' neighbours -> a corrupted copy must be caught (exit 1).
    bad = os.path.join(c.root, "truth-bad")
    shutil.copytree(c.truth, bad)
    journals = sorted(f for f in os.listdir(bad) if f.startswith("journal-"))
    path = os.path.join(bad, journals[-1])
    data = bytearray(open(path, "rb").read())
    n = (len(data) - 16) // 40
    # Flip the nonce of every 50th entry: the bytes those updates wrote differ.
    for i in range(0, n, 50):
        off = 16 + i * 40 + 32
        data[off] ^= 0xFF
    open(path, "wb").write(bytes(data))
    v, err = c.verify(ps, 500, "--min-lsn", lsn_text(START), truth=bad, expect=1, seed=5)
    check(v["mismatches"] > 0, "a corrupted truth journal gave no mismatch: %s" % v)
    check(re.search(r"MISMATCH tenant %s timeline %s rel \d+/\d+/\d+ blk \d+ lsn [0-9A-F]+/[0-9A-F]+: first "
                    r"difference at byte \d+" % (TENANT, TIMELINE), err), "mismatch line: %s" % err[-2000:])
    log("corrupted truth: %d mismatches of %d samples (exit 1)" % (v["mismatches"], v["samples"]))
    # Unreadable truth directories are exit 2.
    empty = os.path.join(c.root, "truth-empty")
    os.makedirs(empty)
    for d in (os.path.join(c.root, "no-such-dir"), empty):
        r = subprocess.run([c.compute_exe, "verify", "--pageserver", "127.0.0.1:%d" % ps.ports["page"],
                            "--truth-dir", d, "--samples", "10"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 2 and "verify:" in r.stderr, "verify on %s: exit %d, %s" % (d, r.returncode, r.stderr))


def scenario_ps_kill9(c):
    c.start_safekeepers()
    ps = c.start_pageserver(threshold=8)
    p = c.compute("--fpw", "on", "--fpw-off-after", "3", "--duration", "120", "--seed", "21")
    wait_for("pageserver ingests past 0/2000000", lambda: p.poll() is None and
             lsn(status(ps)["durable_lsn"]) > START + SEG, timeout=60)
    before = lsn(status(ps)["durable_lsn"])
    stream_re = r"event=streaming source=\S+ start=([0-9A-F]+/[0-9A-F]+)"
    streams_before = len(re.findall(stream_re, ps.log()))
    ps.kill9()
    log("pageserver killed at durable %s" % lsn_text(before))
    ps.start()
    m = wait_for("store_open line after the restart",
                 lambda: (lambda x: len(x) >= 2 and x)(
                     re.findall(r"event=store_open durable_lsn=([0-9A-F]+/[0-9A-F]+)", ps.log())), timeout=30)
    check(len(m) == 2, "expected two store_open lines: %s" % m)
    reopened = lsn(m[1])
    check(reopened >= before, "durable LSN went back across kill -9: %s < %s" % (m[1], lsn_text(before)))
    starts = wait_for("streaming line after the restart",
                      lambda: (lambda m: len(m) > streams_before and m)(re.findall(stream_re, ps.log())),
                      timeout=30)
    resumed = lsn(starts[-1])
    check(resumed == reopened, "restart streamed from %s, not its durable %s" % (starts[-1], m[1]))
    log("reopened at durable %s, streaming from %s" % (m[1], starts[-1]))
    wait_for("ingest 1 MiB past the restart while the compute runs", lambda: p.poll() is None and
             lsn(status(ps)["durable_lsn"]) > reopened + 1024 * 1024, timeout=60)
    s = c.end(p)
    c.wait_ingested(ps, c.committed())
    v, _ = c.verify(ps, 1500, seed=3)
    clean(v, 1500)
    # Pages read at LSNs below the kill point and above it.
    v, _ = c.verify(ps, 500, "--max-lsn", lsn_text(reopened), seed=4)
    clean(v, 500)
    log("ps_kill9: %d txns, verify clean" % s["txns"])


def scenario_failover(c):
    c.start_safekeepers()
    ps = c.start_pageserver(threshold=8)
    p = c.compute("--fpw", "off", "--duration", "120", "--seed", "31")
    st = wait_for("pageserver streaming past 0/1100000", lambda: p.poll() is None and
                  status(ps)["receiver"]["source"] and lsn(status(ps)["durable_lsn"]) > START + 1024 * 1024 and
                  status(ps), timeout=60)
    source = st["receiver"]["source"]
    failovers = st["receiver"]["failovers"]
    victim = [s for s in c.sks if "127.0.0.1:%d" % s.ports["pg"] == source]
    check(len(victim) == 1, "source %s is none of the safekeepers" % source)
    victim = victim[0]
    victim.kill9()
    log("killed %s, the source %s, at durable %s" % (victim.name, source, st["durable_lsn"]))
    st = wait_for("failover to another safekeeper", lambda: (lambda s: s["receiver"]["failovers"] > failovers and
                  s["receiver"]["source"] not in ("", source) and s)(status(ps)), timeout=60)
    log("now following %s (failovers %d -> %d)" % (st["receiver"]["source"], failovers,
                                                   st["receiver"]["failovers"]))
    here = lsn(st["durable_lsn"])
    wait_for("ingest 1 MiB past the failover while the compute runs", lambda: p.poll() is None and
             lsn(status(ps)["durable_lsn"]) > here + 1024 * 1024, timeout=60)
    s = c.end(p)
    c.wait_ingested(ps, c.committed())
    v, _ = c.verify(ps, 1500, seed=7)
    clean(v, 1500)
    metrics = ps.http_text("/metrics")
    m = re.search(r'^walquorum_ps_receiver_failovers_total\{reason="broken"\} (\d+)', metrics, re.M)
    check(m and int(m.group(1)) >= 1, "/metrics broken failovers: %s" % (m.group(0) if m else "missing"))
    log("failover: %d txns, verify clean; metrics failover lines: %s" %
        (s["txns"], [l for l in metrics.splitlines() if "failover" in l and not l.startswith("#")]))


def scenario_pushdown(c):
    c.start_safekeepers()
    on = c.start_pageserver("ps_t8", threshold=8)
    off = c.start_pageserver("ps_t0", threshold=0)
    p = c.compute("--fpw", "off", "--duration", "6", "--seed", "41")
    c.finish(p)
    committed = c.committed()
    for ps in (on, off):
        c.wait_ingested(ps, committed)
    wait_for("image queue drained", lambda: status(on)["image_queue_depth"] == 0, timeout=60)
    res = {}
    for ps in (on, off):
        v, _ = c.verify(ps, 1000, seed=8)
        clean(v, 1000)
        # Hot pages at the newest LSN: the reads that would replay the most deltas.
        h, _ = c.verify(ps, 400, "--min-lsn", lsn_text(committed), seed=9)
        clean(h, 400)
        st = status(ps)
        res[ps.name] = (max(v["deltas_replayed_max"], h["deltas_replayed_max"]), st["deltas_replayed_max"],
                        st["images_generated"])
        log("%s: verify max deltas %d, status deltas_replayed_max %d, images %d" %
            ((ps.name,) + res[ps.name]))
    check(res["ps_t8"][1] <= 8, "threshold 8 replayed %d deltas in a read" % res["ps_t8"][1])
    check(res["ps_t8"][0] <= 8, "verify saw %d deltas at threshold 8" % res["ps_t8"][0])
    check(res["ps_t8"][2] > 0, "threshold 8 generated no image")
    check(res["ps_t0"][1] > 8, "threshold 0 replayed only %d deltas: the check could not fail" % res["ps_t0"][1])
    check(res["ps_t0"][2] == 0, "threshold 0 generated images")
    for ps, ok in ((on, lambda m: m <= 8), (off, lambda m: m > 8)):
        m = re.search(r"^walquorum_ps_deltas_replayed_max (\d+)", ps.http_text("/metrics"), re.M)
        check(m and ok(int(m.group(1))), "%s /metrics walquorum_ps_deltas_replayed_max: %s" %
              (ps.name, m.group(0) if m else "missing"))
        log("%s /metrics: %s" % (ps.name, m.group(0)))


def segments(sk):
    d = os.path.join(sk.dir, "timelines", TENANT, TIMELINE)
    out = []
    for f in os.listdir(d) if os.path.isdir(d) else []:
        m = re.fullmatch(r"([0-9A-F]{24})(\.partial)?", f)
        if m:
            out.append(int(m.group(1)[8:16], 16) * 0x100000000 // SEG + int(m.group(1)[16:], 16))
    return sorted(out)


def slot_flush(sk, slot):
    """The slot's confirmed flush on sk (None: not listed there)."""
    tl = sk_timeline(sk)
    for x in (tl.get("learners", []) if isinstance(tl, dict) else []):
        if x.get("slot") == slot:
            return lsn(x["flush_lsn"])
    return None


def sk_position(sk):
    """What the safekeeper offers learners: min(commit, flush) (IDENTIFY_SYSTEM)."""
    tl = sk.http_json("/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))
    return min(lsn(tl["commit_lsn"]), lsn(tl["flush_lsn"]))


def scenario_removal(c):
    # 1 MiB retention: without the pageserver's slot, every safekeeper would
    # remove all but the last MiB below its commit LSN.
    c.start_safekeepers(["--retention-bytes", str(1 << 20)])
    ps = c.start_pageserver(threshold=8, extra=["--status-interval-ms", "200", "--probe-interval-ms", "500"])
    p = c.compute("--fpw", "on", "--duration", "150", "--checkpoint-interval", "0.5", "--seed", "51")
    st = wait_for("pageserver confirmed past 0/3000000", lambda: p.poll() is None and
                  lsn(status(ps)["durable_lsn"]) > START + 2 * SEG and status(ps), timeout=90)
    slot = st["receiver"]["slot"]
    check(re.fullmatch(r"pageserver_[0-9a-f]{16}", slot), "default slot name %r" % slot)
    wait_for("slot %s past 0/2000000 on every safekeeper" % slot,
             lambda: p.poll() is None and all((slot_flush(x, slot) or 0) > START + SEG for x in c.sks), timeout=60)
    source = status(ps)["receiver"]["source"]
    ps.kill9()
    log("pageserver killed (followed %s); slot %s on %s" % (source, slot,
        {x.name: lsn_text(slot_flush(x, slot)) for x in c.sks}))
    # The compute commits four more segments meanwhile (seconds of the
    # safekeepers' once-a-second housekeeping).
    top_slot = max(slot_flush(x, slot) for x in c.sks)
    target = top_slot + 4 * SEG
    wait_for("commit 4 segments past the killed pageserver", lambda: p.poll() is None and
             c.committed() > target, timeout=90)
    # Removal runs (up to the slot: the segment holding it stays) and stops there on every safekeeper.
    keep_from = {}
    for x in c.sks:
        conf = slot_flush(x, slot)
        check(conf is not None, "%s lost slot %s while the pageserver is down" % (x.name, slot))
        keep_from[x.name] = conf // SEG
        wait_for("%s removes the segments below its slot's %s" % (x.name, lsn_text(conf)),
                 lambda: segments(x) and segments(x)[0] >= keep_from[x.name], timeout=30)
    for x in c.sks:
        segs = segments(x)
        conf = slot_flush(x, slot)
        check(segs[0] == conf // SEG, "%s removed segment %d or above while the slot is at %s: %s" %
              (x.name, conf // SEG, lsn_text(conf), segs[:3]))
        top = lsn(sk_timeline(x)["flush_lsn"]) // SEG  # its own WAL end (the commit may be ahead of it)
        missing = [n for n in range(conf // SEG, top + 1) if n not in segs]
        check(not missing, "%s lacks segments %s above the slot's %s" % (x.name, missing, lsn_text(conf)))
        log("while down: %s keeps segments %d..%d (slot %s, committed %s)" %
            (x.name, segs[0], segs[-1], lsn_text(conf), lsn_text(c.committed())))
    ps.start()
    resumed_at = c.committed()
    wait_for("the restarted pageserver catches up to %s" % lsn_text(resumed_at), lambda: p.poll() is None and
             lsn(status(ps)["durable_lsn"]) >= resumed_at, timeout=90)
    check(status(ps)["receiver"]["slot"] == slot, "the slot name changed across the restart")
    for x in c.sks:
        wait_for("%s removes segments below the restarted pageserver's confirmed LSN" % x.name,
                 lambda: p.poll() is None and segments(x)[0] > keep_from[x.name], timeout=60)
    s = c.end(p)
    committed = c.committed()
    st = c.wait_ingested(ps, committed, timeout=90)
    durable_seg = lsn(st["durable_lsn"]) // SEG
    for x in c.sks:
        segs = segments(x)
        check(segs[0] <= durable_seg, "%s removed segments above the pageserver's durable %s: %s" %
              (x.name, st["durable_lsn"], segs[:3]))
        log("after the restart: %s keeps segments from %d (was %d; durable %s, slot %s)" %
            (x.name, segs[0], keep_from[x.name], st["durable_lsn"], lsn_text(slot_flush(x, slot) or 0)))
    v, _ = c.verify(ps, 800, seed=12)
    clean(v, 800)
    log("removal: %d txns, verify clean" % s["txns"])


def scenario_behind(c):
    c.start_safekeepers()
    sk1, sk2, sk3 = c.sks
    p = c.compute("--fpw", "off", "--duration", "120", "--seed", "71")
    wait_for("commit 2 MiB", lambda: p.poll() is None and os.path.exists(os.path.join(c.truth, "committed")) and
             c.committed() > START + 2 * 1024 * 1024, timeout=60)
    sk3.kill9()
    at = c.committed()
    wait_for("commit 2 MiB more without sk3", lambda: p.poll() is None and c.committed() > at + 2 * 1024 * 1024,
             timeout=60)
    p.kill()  # kill -9: no compute follows, nobody tells sk3 the last commits
    p.wait(timeout=10)
    sk3.start()
    low = wait_for("sk3 answers", lambda: sk_position(sk3), timeout=30)
    high = max(sk_position(x) for x in (sk1, sk2))
    check(low < high, "sk3 offers %s, not below sk1/sk2's %s: the scenario did not happen" %
          (lsn_text(low), lsn_text(high)))
    log("compute killed; sk3 offers %s, the others up to %s (committed file %s)" %
        (lsn_text(low), lsn_text(high), lsn_text(c.committed())))
    addr3 = "127.0.0.1:%d" % sk3.ports["pg"]
    # Frozen sk1 and sk2 answer no connection: the pageserver can only pick sk3.
    for x in (sk1, sk2):
        x.proc.send_signal(signal.SIGSTOP)
    try:
        ps = c.start_pageserver(threshold=8, extra=["--probe-interval-ms", "500", "--behind-grace-ms", "1500"])
        wait_for("the pageserver follows sk3 up to %s" % lsn_text(low),
                 lambda: (lambda s: s["receiver"]["source"] == addr3 and
                          (low <= START or lsn(s["durable_lsn"]) >= low))(status(ps)),
                 timeout=90)
    finally:
        for x in (sk1, sk2):
            x.proc.send_signal(signal.SIGCONT)
    log("following sk3 at %s; sk1 and sk2 thawed" % status(ps)["durable_lsn"])
    st = wait_for("the pageserver leaves sk3 and reaches %s" % lsn_text(high),
                  lambda: (lambda s: s["receiver"]["failovers_behind"] >= 1 and
                           lsn(s["durable_lsn"]) >= high and s)(status(ps)), timeout=90)
    check(st["receiver"]["source"] != addr3, "still on sk3: %s" % st["receiver"])
    m = re.search(r'^walquorum_ps_receiver_failovers_total\{reason="behind"\} (\d+)', ps.http_text("/metrics"), re.M)
    check(m and int(m.group(1)) >= 1, "/metrics behind failovers: %s" % (m.group(0) if m else "missing"))
    log("switched to %s (%s); durable %s; probes %s" % (st["receiver"]["source"], m.group(0), st["durable_lsn"],
                                                        [(x["source"], x["position"]) for x in st["receiver"]["probes"]]))
    v, _ = c.verify(ps, 800, "--max-lsn", lsn_text(high), seed=17)
    clean(v, 800)
    log("behind: verify clean up to %s" % lsn_text(high))


def scenario_refused(c):
    """A fresh pageserver starts at the timeline start; the first safekeeper
    it picks (sk1: all offer the same position, the first listed wins the tie)
    already removed that WAL (--retention-bytes on sk1 only) and refuses
    START_REPLICATION. The pageserver must go to sk2/sk3, which keep it,
    instead of picking sk1 again and again."""
    c.start_safekeepers(per_node={1: ["--retention-bytes", str(1 << 20)]})
    sk1 = c.sks[0]
    p = c.compute("--fpw", "on", "--duration", "120", "--checkpoint-interval", "0.5", "--seed", "81")
    wait_for("commit 4 segments", lambda: p.poll() is None and os.path.exists(os.path.join(c.truth, "committed"))
             and c.committed() > START + 4 * SEG, timeout=90)
    c.end(p)
    committed = c.committed()
    wait_for("sk1 removes the timeline's first segment", lambda: segments(sk1) and segments(sk1)[0] > START // SEG,
             timeout=60)
    check(all(segments(x)[0] == START // SEG for x in c.sks[1:]), "sk2/sk3 removed WAL without retention")
    positions = [sk_position(x) for x in c.sks]
    check(positions[0] >= max(positions), "sk1 is not among the highest (%s): the tie this scenario needs" %
          [lsn_text(x) for x in positions])
    ps = c.start_pageserver(threshold=8)
    st = c.wait_ingested(ps, committed, timeout=90)
    addr1 = "127.0.0.1:%d" % sk1.ports["pg"]
    check(st["receiver"]["source"] != addr1, "streaming from sk1, which removed the start: %s" % st["receiver"])
    refused = [ln for ln in ps.log().splitlines() if "receiver_error" in ln and addr1 in ln and "removed" in ln]
    check(refused, "sk1 never refused (the scenario did not happen); receiver: %s" % st["receiver"])
    check(len(refused) <= 3, "sk1 was picked %d times after refusing" % len(refused))
    log("sk1 refused %d time(s) (%s); streamed from %s to %s" % (len(refused), refused[0][-120:],
                                                                 st["receiver"]["source"], st["durable_lsn"]))
    v, _ = c.verify(ps, 600, seed=19)
    clean(v, 600)
    log("refused: verify clean")


# A GetPage request encoded by hand (Cap'n Proto, schemas/pageserver.capnp):
# segment table, root struct pointer (4 data words, 2 pointers), data
# (spc, db | rel, fork | blk, version | lsn), then tenant and timeline as
# 16-byte lists.
def getpage_request(spc, db, rel, fork, blk, lsn_value, version=1, tenant=TENANT, timeline=TIMELINE):
    words = struct.pack("<II", 0, 11)
    words += struct.pack("<Q", (4 << 32) | (2 << 48))  # struct pointer, offset 0
    words += struct.pack("<IIIBxxxIIQ", spc, db, rel, fork, blk, version, lsn_value)
    words += struct.pack("<II", (1 << 2) | 1, (16 << 3) | 2)  # list of 16 bytes, 1 word ahead
    words += struct.pack("<II", (2 << 2) | 1, (16 << 3) | 2)
    words += bytes.fromhex(tenant) + bytes.fromhex(timeline)
    return words


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


def recv_frame(sock, timeout=20.0):
    """One response frame's payload, or None if the server closed the connection."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 4:
            b = sock.recv(65536)
            if not b:
                return None
            buf += b
        n = struct.unpack("<I", buf[:4])[0]
        while len(buf) < 4 + n:
            b = sock.recv(65536)
            if not b:
                return None
            buf += b
        return buf[4:4 + n]
    except ConnectionResetError:
        return None


TEXTS = {}  # case -> the text of the error response, or "closed"


def error_text(r):
    return "closed" if r is None else " ".join(t.decode() for t in re.findall(rb"[ -~]{8,}", r))


def closed_or_error(case, sock, timeout=20.0, words=()):
    """After bad input: the server closes the connection (EOF or reset), or
    answers with an error response (no page) whose text has all of `words`."""
    r = recv_frame(sock, timeout)
    TEXTS[case] = error_text(r)
    if r is None:
        return not words
    return len(r) < 8192 and all(w in TEXTS[case] for w in words)


def scenario_hostile(c):
    c.start_safekeepers()
    ps = c.start_pageserver(threshold=8, extra=["--getpage-timeout-ms", "1500"])
    p = c.compute("--fpw", "off", "--duration", "4", "--seed", "61")
    c.finish(p)
    committed = c.committed()
    c.wait_ingested(ps, committed)
    v, _ = c.verify(ps, 300, seed=1)
    clean(v, 300)
    port = ps.ports["page"]
    journal = sorted(f for f in os.listdir(c.truth) if f.startswith("journal-"))[-1]
    data = open(os.path.join(c.truth, journal), "rb").read()
    spc, db = struct.unpack("<II", data[8:16])
    rel, blk = struct.unpack("<II", data[16 + 8:16 + 16])

    def conn():
        return socket.create_connection(("127.0.0.1", port), timeout=10)

    # A good request on the hand encoding first: the encoding is right.
    with conn() as s:
        s.sendall(frame(getpage_request(spc, db, rel, 0, blk, committed)))
        r = recv_frame(s)
        check(r is not None and len(r) > 8192, "hand-encoded request got no page: %r" % (r[:200] if r else r))
    results = {}
    # 1. Garbage bytes.
    with conn() as s:
        s.sendall(os.urandom(4096))
        results["garbage"] = closed_or_error("garbage", s)
    # 2. A frame whose payload is not Cap'n Proto.
    with conn() as s:
        s.sendall(frame(b"\x01\x02\x03 not a message" * 3))
        results["bad message"] = closed_or_error("bad message", s)
    # 3. Truncated frame: header promises 1000 bytes, 10 arrive, then the writer closes.
    with conn() as s:
        s.sendall(struct.pack("<I", 1000) + b"x" * 10)
        s.shutdown(socket.SHUT_WR)
        results["truncated"] = recv_frame(s) is None
    # 4. Oversized frame length.
    with conn() as s:
        s.sendall(struct.pack("<I", 0xFFFFFFF0) + b"y" * 64)
        results["oversized"] = closed_or_error("oversized", s)
    # 5. Zero-length frame.
    with conn() as s:
        s.sendall(struct.pack("<I", 0))
        results["zero length"] = closed_or_error("zero length", s)
    # 6. Bad version: an error naming the version, or a closed connection.
    with conn() as s:
        s.sendall(frame(getpage_request(spc, db, rel, 0, blk, committed, version=99)))
        results["bad version"] = closed_or_error("bad version", s)
        check(TEXTS["bad version"] == "closed" or "version" in TEXTS["bad version"],
              "bad version answer: %s" % TEXTS["bad version"])
    # 7. Unknown tenant / timeline: an error naming it.
    for name, t, tl, word in (("wrong tenant", "ff" * 16, TIMELINE, "ff" * 16),
                              ("wrong timeline", TENANT, "ee" * 16, "ee" * 16)):
        with conn() as s:
            s.sendall(frame(getpage_request(spc, db, rel, 0, blk, committed, tenant=t, timeline=tl)))
            results[name] = closed_or_error(name, s, words=(word,))
    # 8. A page that never existed (an error, on a connection that stays usable), and a bad fork.
    with conn() as s:
        s.sendall(frame(getpage_request(spc, db, 999999, 0, 5, committed)))
        results["unknown page"] = closed_or_error("unknown page", s, words=("999999",))
        s.sendall(frame(getpage_request(spc, db, rel, 0, blk, committed)))
        r = recv_frame(s)
        results["same connection after an error"] = r is not None and len(r) > 8192
        s.sendall(frame(getpage_request(spc, db, rel, 9, blk, committed)))
        results["bad fork"] = closed_or_error("bad fork", s)
    # 9. An LSN far in the future: a timeout error (--getpage-timeout-ms), not a hang.
    with conn() as s:
        s.sendall(frame(getpage_request(spc, db, rel, 0, blk, committed + 1024 * SEG)))
        results["future LSN"] = closed_or_error("future LSN", s, timeout=30, words=("timed out",))
    # 10. Many connections opened and dropped.
    socks = [conn() for _ in range(50)]
    for s in socks:
        s.close()
    for k, t in TEXTS.items():
        log("  %-14s -> %s" % (k, t[:200]))
    log("hostile results: %s" % results)
    bad = [k for k, ok in results.items() if not ok]
    check(not bad, "unclear handling of: %s" % bad)
    ps.alive()
    # A pageserver that does not answer (stopped): verify reports GetPage
    # errors (exit 1) with progress lines while it waits, instead of hanging.
    ps.proc.send_signal(signal.SIGSTOP)
    try:
        v, err = c.verify(ps, 2, "--timeout-ms", "2500", expect=1, seed=3)
    finally:
        ps.proc.send_signal(signal.SIGCONT)
    check(v["errors"] == 2 and "waiting" in err and "no answer within 2500 ms" in err,
          "verify against a stopped pageserver: %s\n%s" % (v, err[-2000:]))
    st = status(ps)
    log("after hostile input: getpage_errors %d, reads %d" % (st["getpage_errors"], st["getpage_reads"]))
    v, _ = c.verify(ps, 800, seed=2)
    clean(v, 800)


SCENARIOS = {
    "fpw": scenario_fpw,
    "ps_kill9": scenario_ps_kill9,
    "failover": scenario_failover,
    "pushdown": scenario_pushdown,
    "removal": scenario_removal,
    "behind": scenario_behind,
    "refused": scenario_refused,
    "hostile": scenario_hostile,
}


def main(argv):
    if len(argv) != 5 or argv[1] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="wq-learners-%s-" % argv[1])
    c = Cluster(argv[2:5], root)
    t0 = time.monotonic()
    ok = False
    try:
        SCENARIOS[argv[1]](c)
        ok = True
    finally:
        c.stop_all()
        if not ok:
            for p in STARTED:
                print("---- %s log (tail) ----\n%s" % (p.name, p.log()[-3000:]), file=sys.stderr)
            for i in range(len(c.computes)):
                e = os.path.join(root, "compute%d.err" % i)
                if os.path.exists(e):
                    print("---- compute%d stderr (tail) ----\n%s" % (i, open(e).read()[-2000:]), file=sys.stderr)
            print("kept %s for inspection" % root, file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    log("%s passed in %.1f s" % (argv[1], time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
