#!/usr/bin/env python3
"""The cluster demo (called by scripts/demo once the programs are built).

Starts 3 walquorum-safekeeper processes and 1 walquorum-pageserver (image-
generation pushdown on, the pageserver's default threshold) with
scripts/cluster, and runs the synthetic compute (walquorum-compute, writing
its truth journal) with full_page_writes on and then off (switched at run
time: XLOG_FPW_CHANGE, no restart). In the FPW-off phase the safekeeper the
pageserver streams from is killed with kill -9 and restarted: the compute
keeps committing on the other two, the pageserver fails over, the restarted
node catches up. Then `walquorum-compute verify` reads random pages at random
committed LSNs of each phase through GetPage@LSN and compares them byte for
byte with the truth; one table compares the phases (WAL bytes/txn, txn/s,
commit p50/p99, GetPage p50/p99, most deltas replayed per read, verify).
Last, with the pageserver stopped (so the safekeepers remove no more WAL),
the committed WAL the safekeepers still hold must have the same sha256 on
all three and pg_waldump must read every node's segments.

A progress line at least every few seconds says what is happening. Every
process it started is stopped at the end, also on failure, Ctrl-C or SIGTERM
(scripts/cluster down, by recorded PID). Exit status 0 only if everything
passed: verify clean, identity and pg_waldump fine, no step failed.

usage: demo_cluster.py BUILD_DIR [--seconds-per-phase S] [--clients N]
                       [--checkpoint-interval S] [--samples N] [--keep]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.path.join(ROOT, "scripts", "cluster")
PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
TENANT = "de" * 16
TIMELINE = "11" * 16
SEG = 16 * 1024 * 1024
TICK_S = 3.0  # a progress line at least this often
T0 = time.monotonic()
OUT = threading.Lock()
last_out = [time.monotonic()]
CHILDREN = []  # processes started here (not the cluster's nodes), killed at the end


class Failed(Exception):
    """A step of the demo failed: one line, exit status 1."""


def emit(line):
    with OUT:
        print(line, flush=True)
        last_out[0] = time.monotonic()


def say(msg):
    emit("\033[1m== %s\033[0m (%ds)" % (msg, time.monotonic() - T0))


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


def mb(n):
    return "%.1f MB" % (n / 1e6)


def cluster(*args, capture=False):
    r = subprocess.run([sys.executable, CLUSTER] + list(args), text=True,
                       stdout=subprocess.PIPE if capture else None)
    if r.returncode != 0:
        raise Failed("scripts/cluster %s failed (exit %d)" % (" ".join(args), r.returncode))
    return r.stdout


def http_json(port, path, timeout=1.0):
    """JSON from 127.0.0.1:port/path, or None if it does not answer."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def sk_timeline(node):
    return http_json(node["ports"]["http"], "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINE))


def ps_status(node):
    return http_json(node["ports"]["http"], "/v1/status")


def ps_metrics(node):
    """The pageserver's /metrics as {name: value} for the plain samples (labels dropped)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % node["ports"]["http"], timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})?\s+(\S+)$", line)
        if m and m.group(2) is None:
            out[m.group(1)] = float(m.group(3))
        elif m:
            out[m.group(1) + m.group(2)] = float(m.group(3))
    return out


def quantile_from_histogram(metrics, name, q):
    """The upper bound of the bucket holding quantile q of a Prometheus histogram."""
    buckets = sorted((float(k.split('le="')[1].rstrip('"}')), v) for k, v in metrics.items()
                     if k.startswith(name + "_bucket{") and "+Inf" not in k)
    total = metrics.get(name + "_count", 0)
    if not total:
        return None
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return float("inf")


def wait_for(what, pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failed("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def segments(node_dir):
    d = os.path.join(node_dir, "timelines", TENANT, TIMELINE)
    return d, sorted(f for f in os.listdir(d) if len(f.split(".")[0]) == 24)


def seg_start(name):
    return (int(name[8:16], 16) * 0x100000000 // SEG + int(name[16:24], 16)) * SEG


def segment_digests(node_dir, start, commit):
    """{segment start: sha256 of the node's committed bytes of that segment}
    for every whole segment it holds in [start, commit), and where its
    contiguous WAL up to the commit LSN begins. Raises Failed if it lacks WAL
    below the commit LSN after its first segment."""
    d, names = segments(node_dir)
    out = {}
    pos = None
    for name in names:
        s = seg_start(name)
        lo, hi = max(s, start), min(s + SEG, commit)
        if lo >= hi:
            continue
        if pos is not None and s != pos:
            raise Failed("%s lacks WAL at %s (a hole before segment %s)" % (node_dir, lsn_text(pos), name))
        with open(os.path.join(d, name), "rb") as f:
            f.seek(lo - s)
            data = f.read(hi - lo)
        if len(data) != hi - lo:
            raise Failed("%s/%s is short" % (d, name))
        out[s] = hashlib.sha256(data).hexdigest()
        pos = s + SEG
    if pos is None or pos < commit:
        raise Failed("%s lacks WAL up to %s" % (node_dir, lsn_text(commit)))
    return out, max(start, min(out))


def waldump_records(node_dir, start, end, scratch):
    """Starts pg_waldump --stats over the node's segments from the first record
    at or after `start`; the open one is named .partial, so pg_waldump reads
    them through a folder of symlinks."""
    d, names = segments(node_dir)
    links = os.path.join(scratch, os.path.basename(node_dir.rstrip("/")) + "-waldump")
    shutil.rmtree(links, ignore_errors=True)
    os.makedirs(links)
    for name in names:
        os.symlink(os.path.join(d, name), os.path.join(links, name.split(".")[0]))
    return subprocess.Popen([PG_WALDUMP, "-p", links, "-s", lsn_text(start), "-e", lsn_text(end), "--stats"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def waldump_result(proc):
    """(records, None) from a finished pg_waldump --stats, or (None, its error)."""
    out, err = proc.communicate()
    r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
    for line in r.stdout.splitlines():
        if line.startswith("Total"):
            return int(line.split()[1]), None
    return None, "no Total line"


class Ticker(threading.Thread):
    """Prints what the demo is doing whenever nothing was printed for TICK_S:
    the step, the compute's last progress line, the safekeepers' commit LSN
    and the pageserver's ingest."""

    def __init__(self, nodes, ps):
        super().__init__(daemon=True)
        self.nodes, self.ps = nodes, ps
        self.step = "starting"
        self.compute_line = ""
        self.stop = threading.Event()

    def line(self):
        parts = ["[%3ds] %s" % (time.monotonic() - T0, self.step)]
        if self.compute_line:
            parts.append(self.compute_line)
        commits = [sk_timeline(n) for n in self.nodes]
        commit = max((lsn(t["commit_lsn"]) for t in commits if t), default=0)
        if commit:
            parts.append("commit %s" % lsn_text(commit))
        s = ps_status(self.ps)
        if s:
            src = s["receiver"]["source"]
            name = next((n["name"] for n in self.nodes if "127.0.0.1:%d" % n["ports"]["pg"] == src), "none")
            parts.append("pageserver ingested %s (lag %s) from %s, %d images" %
                         (s["ingest_lsn"], mb(max(0, commit - lsn(s["ingest_lsn"]))) if commit else "-",
                          name, s["images_generated"]))
        return " | ".join(parts)

    def run(self):
        while not self.stop.wait(0.5):
            if time.monotonic() - last_out[0] >= TICK_S:
                emit("  " + self.line())


def run_relayed(argv, ticker, note=None):
    """Runs argv; stderr lines are relayed (the compute's once-a-second progress
    lines only go to the ticker); returns (exit status, stdout)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    CHILDREN.append(proc)
    out = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    t.start()
    for line in proc.stderr:
        line = line.rstrip()
        if note:
            note(line)
        if re.match(r"walquorum-compute: +\d+\.\ds ", line):
            ticker.compute_line = re.sub(r"walquorum-compute: +\S+ ", "", line)
        else:
            emit("  " + line)
    rc = proc.wait()
    t.join(timeout=10)
    return rc, "".join(out)


def main():
    ap = argparse.ArgumentParser(description="walquorum cluster demo")
    ap.add_argument("build")
    ap.add_argument("--seconds-per-phase", type=float, default=25.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--checkpoint-interval", type=float, default=10.0,
                    help="seconds between the compute's checkpoints (each is followed by FPIs with FPW on)")
    ap.add_argument("--samples", type=int, default=2000, help="verify's GetPage reads per phase (at least 1)")
    ap.add_argument("--retention-bytes", type=int, default=0,
                    help="the safekeepers' --retention-bytes (0, the default: only what the pageserver has not "
                         "confirmed is kept)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster directory")
    a = ap.parse_args()
    if a.samples < 1 or a.seconds_per_phase <= 0 or a.clients < 1:
        ap.error("--samples and --clients must be at least 1, --seconds-per-phase above 0")
    exes = {p: os.path.join(a.build, "src", d, p) for d, p in
            (("compute", "walquorum-compute"), ("safekeeper", "walquorum-safekeeper"),
             ("pageserver", "walquorum-pageserver"))}
    for exe in exes.values():
        if not os.access(exe, os.X_OK):
            raise Failed("%s is missing; build first (scripts/demo does)" % exe)
    compute_exe = exes["walquorum-compute"]
    if not os.access(PG_WALDUMP, os.X_OK):
        raise Failed("%s is missing; scripts/setup installs postgresql-15" % PG_WALDUMP)

    work = tempfile.mkdtemp(prefix="wq-demo.")
    cdir = os.path.join(work, "cluster")
    truth = os.path.join(work, "truth")
    ticker = None
    ok = interrupted = finished = False
    try:
        say("starting 3 safekeepers and 1 pageserver on 127.0.0.1 (scripts/cluster up --dir %s)" % cdir)
        cluster("up", "--dir", cdir, "--build", a.build, "--safekeepers", "3", "--pageservers", "1",
                "--tenant", TENANT, "--timeline", TIMELINE, "--retention-bytes", str(a.retention_bytes))
        nodes = json.load(open(os.path.join(cdir, "cluster.json")))["nodes"]
        sks = [n for n in nodes if n["role"] == "safekeeper"]
        ps = next(n for n in nodes if n["role"] == "pageserver")
        threshold = (ps_status(ps) or {}).get("image_threshold")
        ticker = Ticker(sks, ps)
        ticker.start()
        phase = a.seconds_per_phase
        say("compute: %d clients load the pages, then FPW on for %.0f s and off for %.0f s "
            "(pushdown threshold %s); a safekeeper gets kill -9 in the FPW-off phase" %
            (a.clients, phase, phase, threshold))
        ticker.step = "load"
        fpw_off_at = []

        def note(line):
            if "loaded" in line:
                ticker.step = "FPW on"
            if "full_page_writes off" in line and not fpw_off_at:
                fpw_off_at.append(time.monotonic())
                ticker.step = "FPW off"

        result = {}
        argv = [compute_exe, "--safekeepers", ",".join("127.0.0.1:%d" % n["ports"]["wal"] for n in sks),
                "--tenant", TENANT, "--timeline", TIMELINE, "--clients", str(a.clients),
                "--duration", str(2 * phase), "--fpw", "on", "--fpw-off-after", str(phase), "--json",
                "--checkpoint-interval", str(a.checkpoint_interval), "--truth-dir", truth]
        compute_thread = threading.Thread(target=lambda: result.update(
            zip(("rc", "out"), run_relayed(argv, ticker, note))), daemon=True)
        compute_thread.start()

        wait_for("the FPW-off phase", lambda: fpw_off_at or not compute_thread.is_alive(), phase + 240)
        kill_at = (fpw_off_at[0] if fpw_off_at else time.monotonic()) + phase / 4
        while time.monotonic() < kill_at and compute_thread.is_alive():
            time.sleep(0.1)
        if not compute_thread.is_alive():
            raise Failed("walquorum-compute ended before the kill: exit %s" % result.get("rc"))
        # The safekeeper the pageserver streams from, so the kill also shows its failover.
        src = (ps_status(ps) or {}).get("receiver", {}).get("source", "")
        victim = next((n for n in sks if "127.0.0.1:%d" % n["ports"]["pg"] == src), sks[2])
        ticker.step = "FPW off, %s down" % victim["name"]
        say("kill -9 %s (pid %s)%s" % (victim["name"], victim.get("pid"),
                                       ", the safekeeper the pageserver streams from" if src else ""))
        cluster("kill", "--dir", cdir, victim["name"], "--signal", "KILL")
        down_since = time.monotonic()
        others = [n for n in sks if n is not victim]
        failover_s = None
        while time.monotonic() - down_since < min(5.0, phase / 5):  # commits continue on the other two
            s = ps_status(ps)
            if failover_s is None and s and s["receiver"]["source"] not in ("", src):
                failover_s = time.monotonic() - down_since
            time.sleep(0.1)
        target = max(lsn(t["commit_lsn"]) for t in map(sk_timeline, others) if t)
        say("restart %s (down %.1f s); the cluster's commit LSN is %s" %
            (victim["name"], time.monotonic() - down_since, lsn_text(target)))
        cluster("start", "--dir", cdir, victim["name"])
        restarted = time.monotonic()
        ticker.step = "FPW off, %s catching up" % victim["name"]
        first = wait_for("%s answering HTTP" % victim["name"], lambda: sk_timeline(victim), 30)
        behind_bytes = max(0, target - lsn(first["flush_lsn"]))
        wait_for("%s catching up to %s" % (victim["name"], lsn_text(target)),
                 lambda: lsn((sk_timeline(victim) or {"flush_lsn": "0/0"})["flush_lsn"]) >= target, 120)
        catchup_s = time.monotonic() - restarted
        say("%s caught up %s in %.2f s after its restart" % (victim["name"], mb(behind_bytes), catchup_s))
        ticker.step = "FPW off"
        compute_thread.join(timeout=4 * phase + 300)
        if compute_thread.is_alive():
            raise Failed("walquorum-compute did not end")
        if result.get("rc") != 0:
            raise Failed("walquorum-compute exited %s" % result.get("rc"))
        summary = json.loads(result["out"])
        ticker.compute_line = ""
        commit = lsn(summary["commit_lsn"])

        ticker.step = "waiting for the pageserver to ingest to %s" % lsn_text(commit)
        say(ticker.step)
        wait_for(ticker.step, lambda: lsn((ps_status(ps) or {"ingest_lsn": "0/0"})["ingest_lsn"]) >= commit, 180)
        phases = summary["phases"]
        if len(phases) != 2:
            raise Failed("the compute reports %d phases, expected FPW on and off" % len(phases))
        checks = []
        for p in phases:
            ticker.step = "verify, FPW %s phase" % ("on" if p["fpw"] else "off")
            say("walquorum-compute verify: %d GetPage@LSN reads at LSNs in the FPW-%s phase [%s, %s]" %
                (a.samples, "on" if p["fpw"] else "off", p["start_lsn"], p["end_lsn"]))
            checks.append(run_verify(compute_exe, ps, truth, a.samples, ticker,
                                     ["--min-lsn", p["start_lsn"], "--max-lsn", p["end_lsn"]]))
        ticker.step = "verify, whole timeline"
        say("walquorum-compute verify: %d reads at any committed LSN (load and both phases)" % a.samples)
        whole = run_verify(compute_exe, ps, truth, a.samples, ticker, [])
        status, metrics = ps_status(ps) or {}, ps_metrics(ps)

        # ------------------------------------------------------------ the table
        on, off = phases
        report = []
        rows = [("phase", "WAL B/txn", "txn/s", "commit p50/p99 ms", "GetPage p50/p99 us",
                 "max deltas/read", "verify")]
        for p, v in zip(phases, checks):
            name = "FPW on" if p["fpw"] else "FPW off + pushdown, %s kill -9" % victim["name"]
            rows.append((name, "{:,.0f}".format(p["wal_bytes_per_txn"]), "{:,.0f}".format(p["txn_per_s"]),
                         "%.1f / %.1f" % (p["commit_p50_us"] / 1e3, p["commit_p99_us"] / 1e3),
                         "%s / %s" % ("{:,}".format(v["getpage_p50_us"]), "{:,}".format(v["getpage_p99_us"]))
                         if v["ran"] else "-", str(v["deltas_replayed_max"]) if v["ran"] else "-", v["text"]))

        def ratio(x, y):
            return "%.2fx" % (x / y) if y else "-"

        v_on, v_off = checks
        rows.append(("FPW off vs on",
                     "%.1f %% less" % (100.0 * (1 - off["wal_bytes_per_txn"] / on["wal_bytes_per_txn"]))
                     if on["wal_bytes_per_txn"] else "-",
                     ratio(off["txn_per_s"], on["txn_per_s"]),
                     "%s / %s" % (ratio(off["commit_p50_us"], on["commit_p50_us"]),
                                  ratio(off["commit_p99_us"], on["commit_p99_us"])),
                     "%s / %s" % (ratio(v_off["getpage_p50_us"], v_on["getpage_p50_us"]),
                                  ratio(v_off["getpage_p99_us"], v_on["getpage_p99_us"]))
                     if v_on["ran"] and v_off["ran"] else "-", "", ""))
        rows.append(("whole timeline (load too)", "", "", "",
                     "%s / %s" % ("{:,}".format(whole["getpage_p50_us"]), "{:,}".format(whole["getpage_p99_us"]))
                     if whole["ran"] else "-", str(whole["deltas_replayed_max"]) if whole["ran"] else "-",
                     whole["text"]))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        report.append("")
        report.append("walquorum demo: 3 safekeepers, 1 pageserver (pushdown threshold %s), walquorum-compute with "
                      "%d clients, TPC-C-like generic WAL, %.0f s checkpoints" % (threshold, a.clients, a.checkpoint_interval))
        report.append("")
        for k, r in enumerate(rows):
            report.append("  ".join((v.ljust(w) if c in (0, len(r) - 1) else v.rjust(w))
                                    for c, (v, w) in enumerate(zip(r, widths))).rstrip())
            if k == 0:
                report.append("  ".join("-" * w for w in widths))
        report.append("")
        p99_ms = quantile_from_histogram(metrics, "walquorum_ps_getpage_seconds", 0.99)
        report.append("pageserver: ingested %s of WAL (%s records), %s images generated by pushdown; /metrics: "
                      "%d GetPage reads, p99 <= %s ms, at most %d deltas replayed per read (threshold %s)" %
                      (mb(status.get("wal_bytes", 0)), "{:,}".format(status.get("records", 0)),
                       "{:,}".format(status.get("images_generated", 0)),
                       metrics.get("walquorum_ps_getpage_seconds_count", 0),
                       "%g" % (p99_ms * 1e3) if p99_ms is not None else "-",
                       metrics.get("walquorum_ps_deltas_replayed_max", -1), threshold))
        if not src:
            how = "was not streaming from any safekeeper at the kill"
        elif failover_s is None:
            how = "did not switch to another safekeeper while %s was down" % victim["name"]
        else:
            how = "switched to another safekeeper within %.1f s" % failover_s
        report.append("%s after kill -9: %s behind on restart, caught up in %.2f s; the pageserver %s" %
                      (victim["name"], mb(behind_bytes), catchup_s, how))
        emit("\n".join(report))

        # With the pageserver gone the safekeepers keep all they hold (no learner, no
        # retention): the committed WAL two or more of them hold must be identical.
        ticker.step = "checking the safekeepers' WAL"
        say("stopping the pageserver; checking the WAL on every safekeeper")
        cluster("kill", "--dir", cdir, "pageserver", "--signal", "TERM")

        def flushed(n):
            return lsn((sk_timeline(n) or {"flush_lsn": "0/0"})["flush_lsn"])

        try:
            wait_for("every safekeeper flushed to %s" % lsn_text(commit),
                     lambda: all(flushed(n) >= commit for n in sks), 60)
        except Failed:
            pass
        lagging = [n for n in sks if flushed(n) < commit]
        good = [n for n in sks if n not in lagging]
        listing = lambda: [segments(n["dir"])[1] for n in sks]  # noqa: E731
        prev = [listing()]

        def settled():
            now = listing()
            same, prev[0] = now == prev[0], now
            return same

        wait_for("WAL removal to settle", settled, 15, interval=1.2)
        start_lsn = lsn(summary["start_lsn"])
        held = [segment_digests(n["dir"], start_lsn, commit) for n in good]
        procs = [waldump_records(n["dir"], first, commit, work) for n, (_, first) in zip(good, held)]
        CHILDREN.extend(procs)
        dumps = [waldump_result(p) for p in procs]
        # Every segment two or more nodes hold is compared; each node's bytes against the others'.
        compared = differ = 0
        for seg in sorted(set().union(*(h for h, _ in held))):
            copies = [h[seg] for h, _ in held if seg in h]
            if len(copies) > 1:
                compared += 1
                differ += len(set(copies)) > 1
        ticker.stop.set()
        all_segments = prev[0]
        print()
        print("WAL kept: %s hold %s of the %d segments written (a safekeeper removes segments below the "
              "pageserver's confirmed LSN once it has streamed to it%s)" %
              ("/".join(n["name"] for n in sks),
               "/".join(str(len([x for x in names if seg_start(x) < commit])) for names in all_segments),
               (commit - 1) // SEG - start_lsn // SEG + 1,
               ", keeping %s below the commit LSN" % mb(a.retention_bytes) if a.retention_bytes else ""))
        for n in lagging:
            at = flushed(n)
            peers_from = [seg_start(names[0]) for m, names in zip(sks, all_segments) if m is not n and names]
            why = ("its peers hold WAL only from %s on (removed below the pageserver's confirmed LSN), so peer "
                   "recovery cannot fetch what it lacks" % lsn_text(min(peers_from))
                   if peers_from and min(peers_from) > at else "see its log %s" % n["log"])
            print("FAILED: %s never caught up: flushed to %s, %s behind the commit LSN; %s" %
                  (n["name"], lsn_text(at), mb(commit - at), why))
        same = differ == 0
        print("committed WAL up to %s: %d segments held by two or more of %s compared by sha256: %s" %
              (lsn_text(commit), compared, ", ".join(n["name"] for n in good),
               "all identical" if same else "%d DIFFER" % differ))
        for n, (records, err), (_, first) in zip(good, dumps, held):
            print("pg_waldump over %s's segments %s..%s (%s): %s" %
                  (n["name"], lsn_text(first), lsn_text(commit), mb(commit - first),
                   "{:,} records, no error".format(records) if records is not None else "ERROR " + err))
        ok = (same and not lagging and all(r is not None for r, _ in dumps) and
              all(v["clean"] for v in checks + [whole]))
        finished = True
        return 0 if ok else 1
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # Stop everything even if Ctrl-C comes again meanwhile (ignored SIGINT is inherited by scripts/cluster).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if ticker is not None:
            ticker.stop.set()
        for proc in CHILDREN:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        say("stopping the cluster (scripts/cluster down)")
        subprocess.run([sys.executable, CLUSTER, "down", "--dir", cdir])
        if a.keep or (not ok and not interrupted):
            print("demo: cluster directory kept (logs in */log): %s" % cdir)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if finished:
            print()
            print("demo: %s in %.0f s" % ("OK" if ok else "FAILED", time.monotonic() - T0))


def run_verify(compute_exe, ps, truth, samples, ticker, extra):
    """walquorum-compute verify against the pageserver; its JSON plus 'ran',
    'clean' and a short 'text' for the table."""
    rc, out = run_relayed([compute_exe, "verify", "--pageserver", "127.0.0.1:%d" % ps["ports"]["page"],
                           "--truth-dir", truth, "--samples", str(samples), "--seed", "7", "--json"] + extra, ticker)
    try:
        v = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ran": False, "clean": False, "text": "FAILED: verify exit %d, no summary" % rc}
    v["ran"] = True
    v["clean"] = rc == 0 and v["mismatches"] == 0 and v["errors"] == 0 and v["samples"] == samples
    v["text"] = ("clean, %s reads" % "{:,}".format(v["samples"]) if v["clean"] else
                 "FAILED: %d mismatches, %d errors (exit %d)" % (v["mismatches"], v["errors"], rc))
    return v


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        sys.exit(main())
    except Failed as e:
        print("\ndemo: FAILED after %.0f s: %s" % (time.monotonic() - T0, e), file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started was stopped", file=sys.stderr)
        sys.exit(130)
