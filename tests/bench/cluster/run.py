#!/usr/bin/env python3
"""The safekeeper cluster benchmarks of issue 5, in one run, with the machine's
own limits measured beside them (TARGETS.md §1, §2, §4):

  limits      cluster-limits: 8 KiB and BATCH write+fdatasync loops into a
              pre-zeroed file, 3 concurrent writers fdatasyncing every BATCH,
              loopback TCP ping-pong; all in the safekeepers' filesystem
  latency     quorum commit latency, 1 client, 256 B records (commit-bench)
  stream      committed WAL throughput of one large stream, BATCH appends
  committers  32 threads committing 8 KiB records each
  timelines   N active timelines on one safekeeper set, one record each per
              100 ms (timelines-bench); the safekeepers' RSS and CPU

The safekeepers are started with scripts/cluster (3 on 127.0.0.1) and stopped
by PID at the end, whatever happens. Parts that need a program that is not
built are skipped with a message. Each latency/stream/committers figure is
the median of --repeat runs, each on a fresh timeline. Prints one table
(Markdown) and, with --json FILE ("-" = stdout), every raw result.
A benchmark, never a test: nothing is asserted.

usage: run.py [--build DIR] [--dir DIR] [--parts a,b,...] [--repeat R]
              [--timelines N] [--timeline-seconds S] [--json FILE] [--keep]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLUSTER = os.path.join(REPO, "scripts", "cluster")
PARTS = ("limits", "latency", "stream", "committers", "timelines")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run_json(argv, timeout):
    """Runs a benchmark program; returns its JSON lines (stdout) as dicts."""
    log("$ " + " ".join(os.path.relpath(a, REPO) if a.startswith(REPO) else a for a in argv))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (os.path.basename(argv[0]), r.returncode, (r.stderr or r.stdout).strip()[-500:]))
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]


def proc_sample(pid):
    """(cpu seconds, VmRSS bytes, VmHWM bytes) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu, rss, hwm


def allocated_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


class Cluster:
    """N safekeepers (default 3) through scripts/cluster; stopped by PID in stop()."""

    def __init__(self, build, d, size=3):
        self.build, self.dir, self.size = build, d, size

    def cmd(self, *args):
        r = subprocess.run([sys.executable, CLUSTER] + list(args) + ["--dir", self.dir, ] +
                           (["--build", self.build] if args[0] == "up" else []),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("scripts/cluster %s: %s" % (args[0], r.stderr.strip()))
        return r.stdout

    def up(self):
        self.cmd("up", "--safekeepers", str(self.size), "--pageservers", "0")
        with open(os.path.join(self.dir, "cluster.json")) as f:
            st = json.load(f)
        self.nodes = [n for n in st["nodes"] if n["role"] == "safekeeper"]
        self.safekeepers = ",".join("127.0.0.1:%d" % n["ports"]["wal"] for n in self.nodes)
        self.pids = [n["pid"] for n in self.nodes]

    def sample(self):
        return [proc_sample(p) for p in self.pids]

    def metrics(self):
        """Per safekeeper: fsyncs, seconds in fsync, bytes synced (from /metrics)."""
        out = []
        for n in self.nodes:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % n["ports"]["http"], timeout=10) as r:
                text = r.read().decode()
            m = {}
            for line in text.splitlines():
                for key in ("walquorum_sk_fsyncs_total", "walquorum_sk_fsync_seconds_sum",
                            "walquorum_sk_sync_batch_bytes_sum"):
                    if line.startswith(key + " "):
                        m[key] = float(line.split()[1])
            out.append(m)
        return out

    def stop(self):
        if os.path.exists(os.path.join(self.dir, "cluster.json")):
            self.cmd("down")


def cpu_delta(before, after):
    return [aft[0] - bef[0] for bef, aft in zip(before, after)]


def median_of(results, key):
    return statistics.median(r[key] for r in results)


def verdict(ok, how):
    return ("met" if ok else "**missed**") + (" (%s)" % how if how else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("WQ_BUILD") or os.path.join(REPO, "build"))
    ap.add_argument("--dir", help="where the safekeepers' data goes (default: a new directory under the build dir)")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-bytes", type=int, default=128 * 1024)
    ap.add_argument("--stream-mib", type=int, default=512)
    ap.add_argument("--latency-count", type=int, default=3000)
    ap.add_argument("--committers", type=int, default=32)
    ap.add_argument("--committer-seconds", type=int, default=10)
    ap.add_argument("--timelines", type=int, default=1000)
    ap.add_argument("--timeline-seconds", type=int, default=30)
    ap.add_argument("--timeline-safekeepers", type=int, choices=(0, 1, 3), default=0,
                    help="safekeepers for the timelines part: 3, 1, or 0 = 3 if the disk holds it, else 1")
    ap.add_argument("--json", help="write every raw result as JSON to this file (- = stdout)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    a = ap.parse_args()
    parts = [p for p in a.parts.split(",") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        print("run.py: error: unknown part %s (parts: %s)" % (",".join(bad), ",".join(PARTS)), file=sys.stderr)
        return 2
    build = os.path.abspath(a.build)
    exe = {n: os.path.join(build, "tests", "bench", "cluster", n) for n in ("cluster-limits", "timelines-bench", "commit-bench")}
    if not os.path.exists(os.path.join(build, "src", "safekeeper", "walquorum-safekeeper")):
        print("run.py: error: no walquorum-safekeeper in %s: ninja -C %s src/safekeeper/walquorum-safekeeper "
              "tests/bench/cluster/cluster-limits tests/bench/cluster/timelines-bench tests/bench/cluster/commit-bench"
              % (build, build), file=sys.stderr)
        return 1
    for p, prog in (("limits", "cluster-limits"), ("latency", "commit-bench"), ("stream", "commit-bench"),
                    ("committers", "commit-bench"), ("timelines", "timelines-bench")):
        if p in parts and not os.path.exists(exe[prog]):
            log("skipping %s: %s is not built (ninja -C %s tests/bench/cluster/%s)" % (p, prog, build, prog))
            parts.remove(p)
    root = os.path.abspath(a.dir) if a.dir else tempfile.mkdtemp(prefix="bench-cluster-", dir=build)
    os.makedirs(root, exist_ok=True)
    out = {"command": " ".join(["tests/bench/cluster/run.py"] + sys.argv[1:]), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "loadavg_start": os.getloadavg(), "nproc": os.cpu_count(), "results": {}}
    res = out["results"]
    rows = []  # (what, figure, target, verdict)
    cluster = None
    batch = a.batch_bytes
    try:
        # ---------------------------------------------------------------- limits
        # Measured before and again after the commit parts: this machine's
        # virtual disk changes speed over minutes (fdatasync of 8 KiB took
        # ~0.1 ms in some runs and ~4 ms in others), so one pass could compare
        # our figures with a disk that was not there when they were taken.
        lim = exe["cluster-limits"]

        def limits_pass():
            d8 = run_json([lim, "disk", "--dir", root, "--block", "8192", "--ops", "2000"], 600)[0]
            db = run_json([lim, "disk", "--dir", root, "--block", str(batch), "--ops", "500"], 600)[0]
            w3 = run_json([lim, "writers", "--dir", root, "--block", str(batch), "--writers", "3",
                           "--mib-each", str(a.stream_mib)], 600)[0]
            w3_8k = run_json([lim, "writers", "--dir", root, "--block", "8192", "--writers", "3", "--mib-each", "16"], 600)[0]
            rtt = run_json([lim, "rtt", "--bytes", "8192", "--count", "20000"], 120)[0]
            rtt256 = run_json([lim, "rtt", "--bytes", "256", "--count", "20000"], 120)[0]
            return {"disk_8k": d8, "disk_batch": db, "writers3_batch": w3, "writers3_8k": w3_8k, "rtt_8k": rtt,
                    "rtt_256": rtt256}

        def limit_rows(passes):
            def both(fmt_one, get):
                return " / ".join(fmt_one(get(p)) for p in passes)
            ceiling = statistics.median(p["writers3_batch"]["mb_per_s"] for p in passes) / 3
            return ceiling, [
                ("machine: 8 KiB write+fdatasync, 1 writer", both(lambda d: "%d/s, p50 %d µs, p99 %d µs" % (
                    d["ops_per_s"], d["p50_us"], d["p99_us"]), lambda p: p["disk_8k"]), "", ""),
                ("machine: %d KiB write+fdatasync, 1 writer" % (batch // 1024), both(lambda d: "%.0f MB/s, p50 %d µs" % (
                    d["mb_per_s"], d["p50_us"]), lambda p: p["disk_batch"]), "", ""),
                ("machine: 3 writers, %d MiB each, fdatasync per %d KiB: total" % (a.stream_mib, batch // 1024),
                 both(lambda d: "%.0f MB/s" % d["mb_per_s"], lambda p: p["writers3_batch"]), "", ""),
                ("  what each of the 3 writers gets (median)", "%.0f MB/s" % ceiling, "", ""),
                ("machine: 3 writers, fdatasync per 8 KiB: total", both(lambda d: "%.0f MB/s, p50 %d µs" % (
                    d["mb_per_s"], d["p50_us"]), lambda p: p["writers3_8k"]), "", ""),
                ("machine: loopback TCP ping-pong, 8 KiB / 256 B request", both(lambda p: "p50 %d / %d µs, p99 %d / %d µs" % (
                    p["rtt_8k"]["p50_us"], p["rtt_256"]["p50_us"], p["rtt_8k"]["p99_us"], p["rtt_256"]["p99_us"]),
                    lambda p: p), "", ""),
                ("machine: floor of one quorum commit (RTT 256 B + 8 KiB fdatasync p50)", both(
                    lambda p: "%d µs" % (p["rtt_256"]["p50_us"] + p["disk_8k"]["p50_us"]), lambda p: p), "", ""),
            ]

        ceiling = None
        if "limits" in parts:
            res["limits"] = [limits_pass()]
            ceiling, _ = limit_rows(res["limits"])

        tl_byte = [0]

        def next_timeline():
            tl_byte[0] += 1
            return str(tl_byte[0])

        commit_parts = [p for p in ("latency", "stream", "committers") if p in parts]
        if commit_parts:
            cluster = Cluster(build, os.path.join(root, "commit"))
            cluster.up()
            cb = exe["commit-bench"]
            for part in commit_parts:
                runs = []
                for _ in range(a.repeat):
                    args = [cb, part, "--safekeepers", cluster.safekeepers, "--timeline-byte", next_timeline()]
                    if part == "latency":
                        args += ["--count", str(a.latency_count)]
                    elif part == "stream":
                        args += ["--mib", str(a.stream_mib), "--batch-bytes", str(batch)]
                    else:
                        args += ["--threads", str(a.committers), "--seconds", str(a.committer_seconds)]
                    if part == "stream" and "limits" in parts:
                        # The ceiling right beside each stream run (same batch, same volume).
                        w = run_json([lim, "writers", "--dir", root, "--block", str(batch), "--writers", "3",
                                      "--mib-each", str(a.stream_mib)], 600)[0]
                    before, m0 = cluster.sample(), cluster.metrics()
                    r = run_json(args, 900)[0]
                    r["sk_cpu_s"] = cpu_delta(before, cluster.sample())
                    if part == "stream" and "limits" in parts:
                        r["beside_writers3"] = w
                    r["sk_sync"] = []
                    for a0, a1 in zip(m0, cluster.metrics()):
                        d = {k: a1.get(k, 0) - a0.get(k, 0) for k in a1}
                        n = max(1.0, d.get("walquorum_sk_fsyncs_total", 0))
                        r["sk_sync"].append({"fsyncs": n, "mean_batch_bytes": d.get("walquorum_sk_sync_batch_bytes_sum", 0) / n,
                                             "mean_fsync_us": 1e6 * d.get("walquorum_sk_fsync_seconds_sum", 0) / n})
                    runs.append(r)
                res[part] = runs
            if "latency" in res:
                p50, p99 = median_of(res["latency"], "p50_us"), median_of(res["latency"], "p99_us")
                ok = p50 <= 500 and p99 <= 1000
                how = []
                if p50 > 500:
                    how.append("p50 %.2f× the goal" % (p50 / 500))
                if p99 > 1000:
                    how.append("p99 %.2f× the goal" % (p99 / 1000))
                rows.append(("quorum commit latency, 1 client, 256 B records", "p50 %d µs, p99 %d µs (runs: %s)" % (
                    p50, p99, "; ".join("%d/%d" % (r["p50_us"], r["p99_us"]) for r in res["latency"])),
                    "p50 ≤ 500 µs, p99 ≤ 1,000 µs", verdict(ok, ", ".join(how))))
                sync = [x for r in res["latency"] for x in r["sk_sync"]]
                rows.append(("  safekeepers' fdatasync in that run", "mean %d µs (median over safekeepers and runs)" %
                             statistics.median(x["mean_fsync_us"] for x in sync), "", ""))
            if "stream" in res:
                mbs = median_of(res["stream"], "mb_per_s")
                sync = [x for r in res["stream"] for x in r["sk_sync"]]
                own_batch = statistics.median(x["mean_batch_bytes"] for x in sync)
                own_fsync = statistics.median(x["mean_fsync_us"] for x in sync)
                rows.append(("  safekeepers' own fdatasync batches in the stream", "mean %.0f KiB, mean fdatasync %d µs" % (
                    own_batch / 1024, own_fsync), "", ""))
                if "limits" in parts:
                    blk = max(8192, int(own_batch) // 4096 * 4096)
                    wo = [run_json([exe["cluster-limits"], "writers", "--dir", root, "--block", str(blk), "--writers", "3",
                                    "--mib-each", str(a.stream_mib)], 600)[0] for _ in range(a.repeat)]
                    res["writers3_sk_batch"] = wo
                    own_ceiling = median_of(wo, "mb_per_s") / 3
                    rows.append(("machine: 3 writers, fdatasync per %d KiB (the safekeepers' mean batch)" % (blk // 1024),
                                 "%.0f MB/s per writer (median of %d)" % (own_ceiling, len(wo)), "", ""))
                cpu_mb = statistics.median(sum(r["sk_cpu_s"]) / r["mb"] * 1000 for r in res["stream"])
                if "limits" in parts:
                    ceiling = statistics.median(r["beside_writers3"]["mb_per_s"] for r in res["stream"]) / 3
                    rows.append(("machine, beside each stream run: 3 writers, %d MiB each, fdatasync per %d KiB" % (
                        a.stream_mib, batch // 1024), "%s MB/s in total, so **%.0f MB/s per writer** (median): the "
                        "stream's ceiling" % (", ".join("%.0f" % r["beside_writers3"]["mb_per_s"] for r in res["stream"]),
                                              ceiling), "", ""))
                goal = max(150.0, 0.75 * ceiling) if ceiling else 150.0
                how = []
                if ceiling:
                    how.append("%.0f %% of the ceiling: %s" % (100 * mbs / ceiling, "met" if mbs >= 0.75 * ceiling else "missed"))
                else:
                    how.append("ceiling not measured")
                how.append("150 MB/s: %s" % ("met" if mbs >= 150 else "missed by %.0f %%" % (100 * (150 - mbs) / 150)))
                how = "; ".join(how)
                client_mb = statistics.median(r["client_cpu_s"] / r["mb"] * 1000 for r in res["stream"])
                rows.append(("committed WAL throughput, 1 stream, %d KiB appends of 8 KiB records" % (batch // 1024),
                             "%.0f MB/s (runs: %s); CPU per MB: safekeepers %.1f ms (3 together), client %.1f ms, "
                             "so %d cores allow at most %.0f MB/s" % (
                                 mbs, ", ".join("%.0f" % r["mb_per_s"] for r in res["stream"]), cpu_mb, client_mb,
                                 os.cpu_count(), os.cpu_count() * 1000 / (cpu_mb + client_mb)),
                             "≥ 75 %% of the per-writer ceiling and ≥ 150 MB/s (= %.0f MB/s here)" % goal,
                             verdict(mbs >= goal, how)))
            if "committers" in res:
                cps = median_of(res["committers"], "commits_per_s")
                mbs = median_of(res["committers"], "mb_per_s")
                p50, p99 = median_of(res["committers"], "p50_us"), median_of(res["committers"], "p99_us")
                rows.append(("%d concurrent committers, 8 KiB records" % a.committers,
                             "%.0f commits/s = %.1f MB/s; p50 %d µs, p99 %d µs" % (cps, mbs, p50, p99),
                             "≥ 5× etcd's MB/s (etcd not run here; 5× its 23.9 MB/s on the reference VM = 119.5)",
                             verdict(mbs >= 119.5, "%.2f× the reference etcd" % (mbs / 23.9))))
                sync = [x for r in res["committers"] for x in r["sk_sync"]]
                cpu_mb = statistics.median(sum(r["sk_cpu_s"]) / max(1e-9, r["mb_per_s"] * r["seconds"]) * 1000
                                           for r in res["committers"])
                rows.append(("  safekeepers' fdatasyncs in that run", "mean batch %.0f KiB, mean fdatasync %d µs; "
                             "safekeepers' CPU %.1f ms per MB (3 together)" % (
                                 statistics.median(x["mean_batch_bytes"] for x in sync) / 1024,
                                 statistics.median(x["mean_fsync_us"] for x in sync), cpu_mb), "", ""))
            cluster.stop()
            cluster = None
        if "limits" in parts:
            if commit_parts:
                res["limits"].append(limits_pass())
            _, lrows = limit_rows(res["limits"])
            if len(res["limits"]) > 1:
                lrows.insert(0, ("(machine limits: before / after the commit parts)", "", "", ""))
            rows[0:0] = lrows

        # ------------------------------------------------------------- timelines
        if "timelines" in parts:
            cluster = Cluster(build, os.path.join(root, "timelines"))
            cluster.up()
            tb = exe["timelines-bench"]
            # Disk one timeline takes on each safekeeper (segment preallocation),
            # measured with a single timeline first.
            run_json([tb, "--safekeepers", cluster.safekeepers, "--count", "1", "--seconds", "1", "--tenant-byte", "118"], 120)
            per_tl = max(allocated_bytes(os.path.join(n["dir"], "timelines")) for n in cluster.nodes)
            free = shutil.disk_usage(root).free
            count = a.timelines
            fits = int(free * 0.6 / max(1, 3 * per_tl))
            note = ""
            if fits < count and a.timeline_safekeepers != 3 and int(free * 0.6 / max(1, per_tl)) >= count:
                # The target is per safekeeper: one safekeeper hosting every
                # timeline gets the same appends it would get as one of three.
                note = ("disk: one timeline takes %.1f MiB on each safekeeper and %.1f GiB are free: %d timelines on 3 "
                        "safekeepers do not fit in 60 %% of it, so this part ran against 1 safekeeper (quorum of 1)"
                        % (per_tl / 2**20, free / 2**30, count))
                log(note)
                cluster.stop()
                cluster = Cluster(build, os.path.join(root, "timelines1"), size=1)
                cluster.up()
            elif fits < count:
                note = ("disk: one timeline takes %.1f MiB on each safekeeper and %.1f GiB are free, so %d timelines "
                        "(not %d) keep 40 %% of it free" % (per_tl / 2**20, free / 2**30, fits, count))
                log(note)
                count = max(1, fits)
            elif a.timeline_safekeepers == 1:
                cluster.stop()
                cluster = Cluster(build, os.path.join(root, "timelines1"), size=1)
                cluster.up()
            base = cluster.sample()
            idle0 = cluster.sample()
            time.sleep(3)  # a bounded measurement window, not a wait for a condition
            idle_empty = cpu_delta(idle0, cluster.sample())
            proc = subprocess.Popen([tb, "--safekeepers", cluster.safekeepers, "--count", str(count),
                                     "--seconds", str(a.timeline_seconds), "--tenant-byte", "119"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            log("$ timelines-bench --count %d --seconds %d" % (count, a.timeline_seconds))
            events = {}
            try:
                for line in proc.stdout:
                    if not line.startswith("{"):
                        continue
                    ev = json.loads(line)
                    events[ev["event"]] = ev
                    if ev["event"] == "window_start":
                        w0, t0, m0 = cluster.sample(), time.monotonic(), cluster.metrics()
                    elif ev["event"] == "window_end":
                        w1, t1, m1 = cluster.sample(), time.monotonic(), cluster.metrics()
                    log(line.strip())
                rc = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            if rc != 0 or "window_end" not in events:
                raise RuntimeError("timelines-bench exited %s: %s" % (rc, proc.stderr.read()[-500:]))
            # Hosted but idle (no proposer connected): CPU over 5 s.
            i0 = cluster.sample()
            time.sleep(5)  # a bounded measurement window
            i1 = cluster.sample()
            secs = t1 - t0
            cpu = cpu_delta(w0, w1)
            sync = []
            for a0, a1 in zip(m0, m1):
                n = max(1.0, a1["walquorum_sk_fsyncs_total"] - a0["walquorum_sk_fsyncs_total"])
                sync.append({"fsyncs_per_s": n / (t1 - t0), "mean_fsync_us": 1e6 * (
                    a1["walquorum_sk_fsync_seconds_sum"] - a0["walquorum_sk_fsync_seconds_sum"]) / n})
            res["timelines_sync"] = sync
            res["timelines"] = {"count": count, "safekeepers": cluster.size, "requested": a.timelines, "note": note, "per_timeline_disk_bytes": per_tl,
                                "elected": events.get("elected"), "window": events["window_end"],
                                "rss_before": [s[1] for s in base], "rss_window_end": [s[1] for s in w1],
                                "hwm": [s[2] for s in w1], "cpu_pct_window": [100 * c / secs for c in cpu],
                                "cpu_pct_idle_empty": [100 * c / 3 for c in idle_empty],
                                "cpu_pct_idle_hosted": [100 * c / 5 for c in cpu_delta(i0, i1)],
                                "rss_idle_hosted": [s[1] for s in i1]}
            t = res["timelines"]
            w = t["window"]
            rss = max(t["rss_window_end"])
            rows.append(("%d active timelines, 1 record each per 100 ms, %d safekeeper(s)" % (count, cluster.size),
                         "%.0f commits/s of %.0f wanted (%d late turns); p50 %d µs, p99 %d µs; elected in %.1f s" % (
                             w["commits_per_s"], w["wanted_per_s"], w["late"], w["p50_us"], w["p99_us"],
                             t["elected"]["seconds"] if t["elected"] else -1), "", ""))
            rows.append(("  safekeeper RSS (max) / CPU per safekeeper", "%.0f MiB (%.0f MiB before); CPU %s %% of a core" % (
                rss / 2**20, max(t["rss_before"]) / 2**20, " / ".join("%.0f" % c for c in t["cpu_pct_window"])),
                "RSS ≤ 1 GiB", verdict(rss <= 2**30, "%.0f MiB" % (rss / 2**20))))
            rows.append(("  safekeepers' fdatasyncs in the window", "; ".join(
                "%.0f/s, mean %d µs" % (x["fsyncs_per_s"], x["mean_fsync_us"]) for x in sync), "", ""))
            rows.append(("  same timelines hosted, no proposer connected", "CPU %s %% of a core; RSS %.0f MiB" % (
                " / ".join("%.1f" % c for c in t["cpu_pct_idle_hosted"]), max(t["rss_idle_hosted"]) / 2**20),
                "idle CPU ≈ 0", ""))
            cluster.stop()
            cluster = None
    finally:
        if cluster is not None:
            try:
                cluster.stop()
            except Exception as e:  # report, and still remove what can be removed
                log("stopping the cluster: %s" % e)
        out["loadavg_end"] = os.getloadavg()
        if not a.keep and not a.dir:
            shutil.rmtree(root, ignore_errors=True)

    print("`%s` — %s, %d CPUs, load average %.1f at the start and %.1f at the end\n" % (
        out["command"], out["date"], out["nproc"], out["loadavg_start"][0], out["loadavg_end"][0]))
    print("| what | figure | target | verdict |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %s |" % " | ".join(r))
    if "timelines" in res and res["timelines"]["note"]:
        print("\nNote: %s." % res["timelines"]["note"])
    if a.json:
        text = json.dumps(out, indent=2)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as f:
                f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
