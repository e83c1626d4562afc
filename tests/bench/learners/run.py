#!/usr/bin/env python3
"""The learners' benchmarks of issue 6 (TARGETS.md §3), each side by side in one run:

  wal         WAL bytes/txn and txn/s of walquorum-compute against 3 safekeepers at
              1, 8 and 32 clients, FPW on vs off; with --wal-mbps the compute's WAL
              path to each safekeeper goes through a proxy in this script that caps
              compute->safekeeper bytes at that rate once the load phase is over (a
              WAL-bandwidth-bound configuration: a network link or a volume's
              throughput cap); --uncapped also runs the same matrix direct.
  pageserver  one long FPW-off compute run and one FPW-on run (same seed and hot
              set) on two timelines; then, for every --thresholds value, a fresh
              walquorum-pageserver ingests the FPW-off timeline from the
              safekeepers' pg ports from its start: ingest rate (WAL bytes / time
              until ingest reaches the end LSN and the image queue is empty),
              GetPage@LSN p50/p99 on the compute's hot pages at the end LSN
              (getpage-bench, client side, one request in flight), deltas
              replayed per read (mean, max), images generated, store size; the
              FPW-on timeline is read the same way at --fpw-on-thresholds.
              With --plot PNG a gnuplot chart of the sweep.

The safekeepers are started with scripts/cluster (3 on 127.0.0.1, no pageserver)
and stopped at the end, whatever happens; pageservers are started and stopped by
PID here. Prints Markdown tables and, with --json FILE, every raw result.
A benchmark, never a test: nothing is asserted.

usage: run.py wal [--build B] [--clients 1,8,32] [--duration S] [--wal-mbps M] [--uncapped]
       run.py pageserver [--build B] [--thresholds 0,4,...] [--duration S] [--repeat R] [--plot PNG]
       run.py plot OUT.png LABEL=ROWS.jsonl ...   (sweeps recorded with --rows, one line each)
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLUSTER = os.path.join(REPO, "scripts", "cluster")
TENANT = "ab" * 16
START_LSN = "0/1000000"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def lsn_int(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def timeline_id(n):
    return "%032x" % (0xbe000000 + n)


class Cluster:
    """3 safekeepers through scripts/cluster (no pageserver); down() stops them."""

    def __init__(self, build, d):
        self.build, self.dir = build, d

    def cmd(self, *args):
        build = ["--build", self.build] if args[0] == "up" else []
        r = subprocess.run([CLUSTER, args[0], "--dir", self.dir] + build + list(args[1:]),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("scripts/cluster %s: %s" % (args[0], r.stderr.strip()))
        return r.stdout

    def up(self):
        self.cmd("up", "--pageservers", "0")
        env = {}
        for line in self.cmd("env").splitlines():
            line = line.replace("export ", "")
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip("'\"")
        self.wal = env["WQ_SAFEKEEPERS"].split(",")
        self.pg = env["WQ_SAFEKEEPERS_PG"]

    def down(self):
        try:
            self.cmd("down")
        except Exception as e:  # noqa: BLE001 - report and go on
            log("cluster down: %s" % e)


class Throttle:
    """TCP proxy in front of one safekeeper's WAL port. Bytes from the compute
    are forwarded at most at `rate` bytes/s (token bucket, 64 KiB burst) once
    rate is set; replies flow back unthrottled. Threads end with the sockets."""

    def __init__(self, upstream):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.rate = None
        self.lock = threading.Lock()
        self.next_free = 0.0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        self.socks = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [c, u]
            threading.Thread(target=self.pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, False), daemon=True).start()

    def pump(self, src, dst, throttled):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if throttled and self.rate:
                    with self.lock:
                        now = time.monotonic()
                        start = max(now - 65536 / self.rate, self.next_free)
                        self.next_free = start + len(data) / self.rate
                        wait = self.next_free - now
                    if wait > 0:
                        time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.ls.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def run_compute(build, safekeepers, timeline, args, extra, on_loaded=None, timeout=900):
    """One walquorum-compute run; returns its --json summary."""
    exe = os.path.join(build, "src", "compute", "walquorum-compute")
    argv = [exe, "--safekeepers", ",".join(safekeepers), "--tenant", TENANT, "--timeline", timeline,
            "--json"] + extra
    log("$ " + " ".join(os.path.relpath(a, REPO) if a.startswith(REPO) else a for a in argv))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tail = []

    def read_err():
        for line in p.stderr:
            tail.append(line.rstrip())
            del tail[:-5]
            if on_loaded and " loaded " in line:
                on_loaded()

    t = threading.Thread(target=read_err, daemon=True)
    t.start()
    # stdout here, stderr in read_err (communicate() would read stderr too, and
    # the "loaded" line that starts the cap would never reach on_loaded).
    killer = threading.Timer(timeout, p.kill)
    killer.start()
    try:
        out = p.stdout.read()
        p.wait()
    finally:
        killer.cancel()
    t.join(5)
    if p.returncode != 0:
        raise RuntimeError("compute exited %d: %s" % (p.returncode, " | ".join(tail)))
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- wal

def cmd_wal(a, cluster):
    rows = []
    clients = [int(c) for c in a.clients.split(",")]
    modes = [("capped", a.wal_mbps)] if a.wal_mbps else []
    if a.uncapped or not a.wal_mbps:
        modes.append(("direct", None))
    n = 0
    for mode, mbps in modes:
        for c in clients:
            for fpw in ("on", "off"):
                for rep in range(a.repeat):
                    n += 1
                    proxies = [Throttle(s) for s in cluster.wal] if mbps else []
                    targets = [p.addr for p in proxies] if mbps else cluster.wal

                    def cap():
                        for p in proxies:
                            p.rate = mbps * 1e6

                    extra = ["--clients", str(c), "--duration", str(a.duration), "--fpw", fpw,
                             "--blocks", str(a.blocks), "--checkpoint-interval", str(a.checkpoint_interval),
                             "--seed", str(rep + 1)]
                    try:
                        s = run_compute(a.build, targets, timeline_id(n), a, extra, on_loaded=cap)
                    finally:
                        for p in proxies:
                            p.close()
                    rows.append({"mode": mode, "wal_mbps": mbps, "clients": c, "fpw": fpw, "rep": rep,
                                 "txn_per_s": s["txn_per_s"], "wal_bytes_per_txn": s["wal_bytes_per_txn"],
                                 "wal_mb_per_s": s["wal_mb_per_s"], "commit_p50_us": s["commit_p50_us"],
                                 "commit_p99_us": s["commit_p99_us"], "fpi_per_txn": s["fpi_per_txn"]})
                    if a.rows:
                        with open(a.rows, "a") as f:
                            f.write(json.dumps(rows[-1]) + "\n")
                    log("  %s %d clients fpw %s: %.0f txn/s, %.0f B/txn" %
                        (mode, c, fpw, s["txn_per_s"], s["wal_bytes_per_txn"]))
    print("\n| WAL path | clients | FPW on: B/txn, txn/s, commit p50/p99 | FPW off: B/txn, txn/s, "
          "commit p50/p99 | WAL/txn off vs on | txn/s off vs on |")
    print("|---|---|---|---|---|---|")
    for mode, mbps in modes:
        for c in clients:
            def med(fpw, k):
                return statistics.median(r[k] for r in rows if r["mode"] == mode and r["clients"] == c
                                         and r["fpw"] == fpw)
            on = {k: med("on", k) for k in ("wal_bytes_per_txn", "txn_per_s", "commit_p50_us", "commit_p99_us")}
            off = {k: med("off", k) for k in on}
            label = "capped %.1f MB/s per safekeeper" % mbps if mbps else "direct (loopback)"
            print("| %s | %d | %s B, %s txn/s, %.1f / %.1f ms | %s B, %s txn/s, %.1f / %.1f ms | "
                  "**%.1f %% less** | **%.2f×** |" %
                  (label, c, f"{on['wal_bytes_per_txn']:,.0f}", f"{on['txn_per_s']:,.0f}",
                   on["commit_p50_us"] / 1e3, on["commit_p99_us"] / 1e3,
                   f"{off['wal_bytes_per_txn']:,.0f}", f"{off['txn_per_s']:,.0f}",
                   off["commit_p50_us"] / 1e3, off["commit_p99_us"] / 1e3,
                   100 * (1 - off["wal_bytes_per_txn"] / on["wal_bytes_per_txn"]),
                   off["txn_per_s"] / on["txn_per_s"]))
    return rows


# ---------------------------------------------------------------- pageserver

def hold_wal(pg_addr, timeline, slot="bench_hold"):
    """Keeps a safekeeper's WAL of `timeline` from being removed while several
    pageservers ingest it one after another: opens a replication stream on slot
    `slot` from the timeline's start and reports a flush position of 0, which
    leaves a learner slot that has confirmed nothing (the safekeeper keeps
    everything above the slowest learner; ON-DISK.md §6). The slot lives in the
    safekeeper's memory only and disappears with the cluster."""
    import struct
    host, port = pg_addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)

    def msg(kind, body):
        s.sendall(kind + struct.pack("!I", len(body) + 4) + body)

    def read_msg():
        head = b""
        while len(head) < 5:
            chunk = s.recv(5 - len(head))
            if not chunk:
                raise RuntimeError("%s closed the connection" % pg_addr)
            head += chunk
        n = struct.unpack("!I", head[1:5])[0] - 4
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                raise RuntimeError("%s closed the connection" % pg_addr)
            body += chunk
        return head[:1], body

    params = b"user\0bench\0replication\0true\0options\0-c tenant_id=%s -c timeline_id=%s\0\0" % (
        TENANT.encode(), timeline.encode())
    s.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    for _ in range(100):
        k, body = read_msg()
        if k == b"E":
            raise RuntimeError("%s: %s" % (pg_addr, body))
        if k == b"Z":
            break
    msg(b"Q", b"START_REPLICATION SLOT %s PHYSICAL %s\0" % (slot.encode(), START_LSN.encode()))
    for _ in range(100):
        k, body = read_msg()
        if k == b"E":
            raise RuntimeError("%s: %s" % (pg_addr, body))
        if k == b"W":
            break
    msg(b"d", b"r" + struct.pack("!QQQQB", 0, 0, 0, 0, 0))
    time.sleep(0.3)
    s.close()


class Pageserver:
    def __init__(self, build, d, pg, timeline, threshold, start_lsn=START_LSN):
        self.dir = d
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        exe = os.path.join(build, "src", "pageserver", "walquorum-pageserver")
        argv = [exe, "--data-dir", d, "--safekeepers", pg, "--listen-page", "127.0.0.1:0",
                "--listen-http", "127.0.0.1:0", "--tenant-id", TENANT, "--timeline-id", timeline,
                "--start-lsn", start_lsn, "--image-threshold", str(threshold), "--log-level", "warn"]
        self.log = open(os.path.join(d, "log"), "w")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with open(os.path.join(d, "page.port")) as f:
                    self.page = "127.0.0.1:%d" % int(f.read())
                with open(os.path.join(d, "http.port")) as f:
                    self.http = "127.0.0.1:%d" % int(f.read())
                return
            except (OSError, ValueError):
                if self.p.poll() is not None:
                    raise RuntimeError("pageserver exited %d (log %s)" % (self.p.returncode, d))
                time.sleep(0.02)
        raise RuntimeError("pageserver wrote no port files within 20 s")

    def status(self):
        with urllib.request.urlopen("http://%s/v1/status" % self.http, timeout=5) as r:
            return json.loads(r.read())

    def wait_ingested(self, end_lsn, timeout):
        """Seconds from start until ingest reached end_lsn with no image pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s = self.status()
                if lsn_int(s["ingest_lsn"]) >= end_lsn and s["image_queue_depth"] == 0:
                    return time.monotonic() - self.t0, s
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise RuntimeError("pageserver did not ingest to the end within %d s" % timeout)

    def cpu_seconds(self):
        """User + system CPU of the pageserver so far (all its threads, LevelDB's included)."""
        with open("/proc/%d/stat" % self.p.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def store_bytes(self):
        total = 0
        for root, _, files in os.walk(os.path.join(self.dir, "pages")):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass
        return total

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def getpage(build, ps, timeline, lsn, summary, a, seed):
    exe = os.path.join(build, "tests", "bench", "learners", "getpage-bench")
    argv = [exe, "--server", ps.page, "--tenant-id", TENANT, "--timeline-id", timeline, "--lsn", lsn,
            "--rel-base", str(summary["rel_base"]), "--relations", str(summary["relations"]),
            "--blocks", str(summary["blocks"]), "--hot-blocks-pct", str(a.hot_blocks_pct),
            "--reads", str(a.reads), "--seed", str(seed)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("getpage-bench: %s %s" % (r.stdout.strip(), r.stderr.strip()))
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(a, cluster, work, timeline, summary, threshold, rep, label):
    ps = Pageserver(a.build, os.path.join(work, "ps-%s-%d-%d" % (label, threshold, rep)), cluster.pg, timeline,
                    threshold)
    try:
        start, end = lsn_int(START_LSN), lsn_int(summary["end_lsn"])
        secs, st = ps.wait_ingested(end, 1800)
        cpu = ps.cpu_seconds()
        g = getpage(a.build, ps, timeline, summary["end_lsn"], summary, a, rep + 1)
        st = ps.status()
        row = {"wal": label, "threshold": threshold, "rep": rep, "ingest_s": secs,
               "ingest_mb_per_s": (end - start) / secs / 1e6, "ingest_cpu_s": cpu,
               "ingest_mb_per_cpu_s": (end - start) / cpu / 1e6, "images": st["images_generated"],
               "deltas_replayed_max_metric": st["deltas_replayed_max"],
               "store_mb": ps.store_bytes() / 1e6, **{"gp_" + k: v for k, v in g.items()}}
    finally:
        ps.stop()
        shutil.rmtree(ps.dir, ignore_errors=True)
    if a.rows:
        with open(a.rows, "a") as f:
            f.write(json.dumps(row) + "\n")
    log("  %s threshold %d: ingest %.1f MB/s (%.1f MB per CPU s), GetPage p50 %.0f us p99 %.0f us, deltas mean %.1f max %d, "
        "store %.0f MB" % (label, threshold, row["ingest_mb_per_s"], row["ingest_mb_per_cpu_s"], row["gp_p50_us"], row["gp_p99_us"],
                          row["gp_mean_deltas"], row["gp_max_deltas"], row["store_mb"]))
    return row


def cmd_pageserver(a, cluster, work):
    common = ["--clients", str(a.clients), "--duration", str(a.duration), "--blocks", str(a.blocks),
              "--hot-blocks-pct", str(a.hot_blocks_pct), "--hot-access-pct", str(a.hot_access_pct),
              "--checkpoint-interval", str(a.checkpoint_interval), "--seed", "7"]
    runs = {}
    runs["off"] = (timeline_id(101), run_compute(a.build, cluster.wal, timeline_id(101), a, common + ["--fpw", "off"]))
    runs["on"] = (timeline_id(102), run_compute(a.build, cluster.wal, timeline_id(102), a, common + ["--fpw", "on"]))
    for k, (_, s) in runs.items():
        log("compute FPW %s: %d txns, %.0f B/txn, %.1f MB of WAL to %s" %
            (k, s["txns"], s["wal_bytes_per_txn"], (lsn_int(s["end_lsn"]) - lsn_int(START_LSN)) / 1e6, s["end_lsn"]))
    for tl, _ in runs.values():
        for pg in cluster.pg.split(","):
            hold_wal(pg, tl)
    rows = []
    thresholds = [int(t) for t in a.thresholds.split(",")]
    on_thresholds = [int(t) for t in a.fpw_on_thresholds.split(",")] if a.fpw_on_thresholds else []
    for rep in range(a.repeat):
        # Interleaved, so a noisy minute hurts every threshold alike.
        for t in thresholds:
            rows.append(measure(a, cluster, work, runs["off"][0], runs["off"][1], t, rep, "off"))
        for t in on_thresholds:
            rows.append(measure(a, cluster, work, runs["on"][0], runs["on"][1], t, rep, "on"))

    def med(label, t, k):
        return statistics.median(r[k] for r in rows if r["wal"] == label and r["threshold"] == t)

    keys = ("ingest_mb_per_s", "ingest_mb_per_cpu_s", "gp_p50_us", "gp_p99_us", "gp_mean_deltas", "gp_max_deltas", "images", "store_mb")
    table = []
    for label, ts in (("off", thresholds), ("on", on_thresholds)):
        for t in ts:
            table.append((label, t, {k: med(label, t, k) for k in keys}))
    base = {k: med("off", 0, k) for k in keys} if 0 in thresholds else None
    print("\n| WAL | threshold | ingest MB/s | vs no pushdown | MB per CPU s | vs no pushdown | GetPage p50 µs "
          "| p99 µs | deltas/read mean | max | images | store MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, t, m in table:
        ratio = "%.2f×" % (m["ingest_mb_per_s"] / base["ingest_mb_per_s"]) if base and label == "off" else "—"
        cratio = "%.2f×" % (m["ingest_mb_per_cpu_s"] / base["ingest_mb_per_cpu_s"]) if base and label == "off" else "—"
        print("| FPW %s | %d | %.1f | %s | %.1f | %s | %.0f | %.0f | %.1f | %d | %d | %.0f |" %
              (label, t, m["ingest_mb_per_s"], ratio, m["ingest_mb_per_cpu_s"], cratio, m["gp_p50_us"], m["gp_p99_us"], m["gp_mean_deltas"],
               m["gp_max_deltas"], m["images"], m["store_mb"]))
    if a.plot:
        plot(a.plot, [(t, m) for label, t, m in table if label == "off"], base, runs["off"][1])
    return {"computes": {k: v[1] for k, v in runs.items()}, "rows": rows}


def plot(path, points, base, summary):
    if not shutil.which("gnuplot"):
        log("no gnuplot (scripts/setup installs gnuplot-nox): no plot")
        return
    pts = [(t, m) for t, m in points if t > 0]
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for t, m in pts:
            f.write("%d %f %f %f %f %f %f\n" % (t, m["ingest_mb_per_s"], m["gp_p50_us"], m["gp_p99_us"],
                                               m["gp_mean_deltas"], m["gp_max_deltas"], m["store_mb"]))
        dat = f.name
    b = base or {}
    script = """
set terminal pngcairo size 1200,800 font ",10" noenhanced
set output '%(out)s'
set multiplot layout 2,2 title "Image-generation pushdown: threshold sweep (FPW off, %(txns)d txns, %(mb).0f MB of WAL); dashed = threshold 0 (no pushdown)"
set logscale x 2
set xlabel "image threshold (deltas per page)"
set grid
set key top left
set title "ingest rate"
set ylabel "MB/s of WAL"
set yrange [0:*]
plot '%(dat)s' u 1:2 w lp lw 2 t 'pushdown', %(ing)f w l dt 2 t 'no pushdown'
set title "GetPage@LSN on hot pages (client side)"
set ylabel "microseconds"
set logscale y
set yrange [*:*]
plot '%(dat)s' u 1:3 w lp lw 2 t 'p50', '%(dat)s' u 1:4 w lp lw 2 t 'p99', %(p50)f w l dt 2 t 'p50 no pushdown', %(p99)f w l dt 2 t 'p99 no pushdown'
set title "deltas replayed per read"
set ylabel "deltas"
plot '%(dat)s' u 1:5 w lp lw 2 t 'mean', '%(dat)s' u 1:6 w lp lw 2 t 'max', %(md)f w l dt 2 t 'mean no pushdown'
unset logscale y
set title "page store size"
set ylabel "MB"
set yrange [0:*]
plot '%(dat)s' u 1:7 w lp lw 2 t 'store', %(st)f w l dt 2 t 'no pushdown'
unset multiplot
""" % {"out": path, "dat": dat, "txns": summary["txns"],
       "mb": (lsn_int(summary["end_lsn"]) - lsn_int(START_LSN)) / 1e6,
       "ing": b.get("ingest_mb_per_s", 0), "p50": b.get("gp_p50_us", 1), "p99": b.get("gp_p99_us", 1),
       "md": max(b.get("gp_mean_deltas", 1), 0.1), "st": b.get("store_mb", 0)}
    r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True, timeout=60)
    os.unlink(dat)
    if r.returncode != 0:
        log("gnuplot failed: %s" % r.stderr.strip())
    else:
        log("plot written to %s" % path)


def plot_runs(path, runs):
    """A chart of one or more sweeps (label, rows): ingest rate relative to the
    same run's threshold 0, GetPage p50/p99, deltas per read, store size."""
    if not shutil.which("gnuplot"):
        log("no gnuplot (scripts/setup installs gnuplot-nox): no plot")
        return
    dats, plots = [], {"ratio": [], "lat": [], "deltas": [], "store": []}
    for i, (label, rows) in enumerate(runs):
        off = [r for r in rows if r["wal"] == "off"]
        base = statistics.median(r["ingest_mb_per_s"] for r in off if r["threshold"] == 0)
        on0 = [r for r in rows if r["wal"] == "on" and r["threshold"] == 0]
        with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
            for t in sorted({r["threshold"] for r in off if r["threshold"] > 0}):
                m = {k: statistics.median(r[k] for r in off if r["threshold"] == t)
                     for k in ("ingest_mb_per_s", "gp_p50_us", "gp_p99_us", "gp_mean_deltas", "gp_max_deltas",
                               "store_mb")}
                f.write("%d %f %f %f %f %f %f\n" % (t, m["ingest_mb_per_s"] / base, m["gp_p50_us"], m["gp_p99_us"],
                                                   m["gp_mean_deltas"], m["gp_max_deltas"], m["store_mb"]))
            dats.append(f.name)
        d = f.name
        z = [r for r in off if r["threshold"] == 0]
        p99_0 = statistics.median(r["gp_p99_us"] for r in z)
        plots["ratio"].append("'%s' u 1:2 w lp lw 2 t '%s'" % (d, label))
        plots["lat"].append("'%s' u 1:3 w lp lw 2 t '%s p50'" % (d, label))
        plots["lat"].append("'%s' u 1:4 w lp lw 2 t '%s p99'" % (d, label))
        plots["lat"].append("%f w l dt 2 t '%s p99, no pushdown'" % (p99_0, label))
        if on0:
            plots["lat"].append("%f w l dt 3 t '%s p99, FPW on'" % (statistics.median(r["gp_p99_us"] for r in on0),
                                                                  label))
        plots["deltas"].append("'%s' u 1:5 w lp lw 2 t '%s mean'" % (d, label))
        plots["deltas"].append("%f w l dt 2 t '%s mean, no pushdown'" %
                               (statistics.median(r["gp_mean_deltas"] for r in z), label))
        plots["store"].append("'%s' u 1:7 w lp lw 2 t '%s'" % (d, label))
        plots["store"].append("%f w l dt 2 t '%s no pushdown'" % (statistics.median(r["store_mb"] for r in z), label))
    script = """
set terminal pngcairo size 1300,850 font ",10" noenhanced
set output '%s'
set multiplot layout 2,2 title "Image-generation pushdown, threshold sweep: a real pageserver ingesting the synthetic compute's FPW-off WAL from 3 safekeepers"
set logscale x 2
set xlabel "image threshold (deltas per page)"
set grid
set key top left
set title "ingest throughput, pushdown / no pushdown (same run)"
set ylabel "ratio"
set yrange [0:1.4]
plot %s, 0.9 w l dt 2 lc rgb 'red' t 'target 0.9'
set title "GetPage@LSN on the hot set at the end LSN (client side)"
set ylabel "microseconds"
set logscale y
set yrange [*:*]
set key top right
plot %s
set title "deltas replayed per read"
set ylabel "deltas"
set key top left
plot %s
unset logscale y
set title "page store size"
set ylabel "MB"
set yrange [0:*]
plot %s
unset multiplot
""" % (path, ", ".join(plots["ratio"]), ", ".join(plots["lat"]), ", ".join(plots["deltas"]), ", ".join(plots["store"]))
    r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True, timeout=60)
    for d in dats:
        os.unlink(d)
    if r.returncode != 0:
        log("gnuplot failed: %s" % r.stderr.strip())
    else:
        log("plot written to %s" % path)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "plot":
        # run.py plot OUT.png LABEL=ROWS.jsonl ...: a chart of sweeps recorded with --rows.
        runs = []
        for spec in sys.argv[3:]:
            label, f = spec.split("=", 1)
            with open(f) as fh:
                runs.append((label, [json.loads(line) for line in fh if line.strip()]))
        plot_runs(sys.argv[2], runs)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("wal", "pageserver"):
        s = sub.add_parser(name)
        s.add_argument("--build", default=os.path.join(REPO, "build"))
        s.add_argument("--dir", default=None, help="work directory (default: a temporary one, removed)")
        s.add_argument("--json", default=None, help="raw results to this file ('-' = stdout)")
        s.add_argument("--repeat", type=int, default=1)
        s.add_argument("--rows", default=None, help="append each measured row to this JSON-lines file as it comes")
        s.add_argument("--blocks", type=int, default=2048, help="compute --blocks (per data relation)")
        s.add_argument("--checkpoint-interval", type=int, default=30)
        if name == "wal":
            s.add_argument("--clients", default="1,8,32")
            s.add_argument("--duration", type=int, default=20)
            s.add_argument("--wal-mbps", type=float, default=None,
                           help="cap compute->safekeeper bytes per link at this many MB/s after the load")
            s.add_argument("--uncapped", action="store_true", help="also run the matrix without the cap")
        else:
            s.add_argument("--clients", type=int, default=8)
            s.add_argument("--duration", type=int, default=60)
            s.add_argument("--hot-blocks-pct", type=int, default=10)
            s.add_argument("--hot-access-pct", type=int, default=50)
            s.add_argument("--thresholds", default="0,4,8,16,32,64,128,256")
            s.add_argument("--fpw-on-thresholds", default="0")
            s.add_argument("--reads", type=int, default=2000)
            s.add_argument("--plot", default=None, help="PNG of the sweep (gnuplot)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    work = a.dir or tempfile.mkdtemp(prefix="wq-learners-bench-")
    os.makedirs(work, exist_ok=True)
    cluster = Cluster(a.build, os.path.join(work, "cluster"))
    try:
        cluster.up()
        result = cmd_wal(a, cluster) if a.cmd == "wal" else cmd_pageserver(a, cluster, work)
    finally:
        cluster.down()
        if not a.dir:
            shutil.rmtree(work, ignore_errors=True)
    if a.json:
        text = json.dumps(result, indent=1)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as f:
                f.write(text + "\n")


if __name__ == "__main__":
    main()
