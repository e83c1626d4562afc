#!/usr/bin/env python3
"""The cluster demo (called by scripts/demo once the programs are built).

Starts 3 walquorum-safekeeper processes with scripts/cluster, runs the
synthetic compute (walquorum-compute) with full_page_writes on and then off
(switched at run time: XLOG_FPW_CHANGE, no restart), kills one safekeeper with
kill -9 in the middle of the FPW-off phase and restarts it, measures how fast
it catches up, checks that pg_waldump reads every safekeeper's segments and
that the committed WAL is byte-identical on all three, prints one table and
stops everything it started (by PID, through scripts/cluster down).

usage: demo_cluster.py BUILD_DIR [--seconds-per-phase S] [--clients N] [--keep]
"""
import argparse
import hashlib
import json
import os
import shutil
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
T0 = time.monotonic()


def say(msg):
    print("\033[1m== %s\033[0m (%ds)" % (msg, time.monotonic() - T0), flush=True)


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


def cluster(*args, check=True, capture=False):
    r = subprocess.run([sys.executable, CLUSTER] + list(args), text=True,
                       stdout=subprocess.PIPE if capture else None)
    if check and r.returncode != 0:
        raise SystemExit("demo: scripts/cluster %s failed (exit %d)" % (" ".join(args), r.returncode))
    return r.stdout


def timeline_state(http_port):
    """The timeline's JSON from one safekeeper, or None if it does not answer."""
    url = "http://127.0.0.1:%d/v1/tenant/%s/timeline/%s" % (http_port, TENANT, TIMELINE)
    try:
        with urllib.request.urlopen(url, timeout=1.0) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def wait_for(what, pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit("demo: timed out after %.0f s waiting for %s" % (timeout, what))


def segments(node_dir):
    d = os.path.join(node_dir, "timelines", TENANT, TIMELINE)
    return d, sorted(f for f in os.listdir(d) if len(f.split(".")[0]) == 24)


def committed_digest(node_dir, start, commit):
    """sha256 of the node's WAL bytes [start, commit)."""
    d, names = segments(node_dir)
    h = hashlib.sha256()
    pos = start
    for name in names:
        seg_no = int(name[8:16], 16) * 0x100000000 // SEG + int(name[16:24], 16)
        seg_start = seg_no * SEG
        if seg_start + SEG <= pos or seg_start >= commit:
            continue
        with open(os.path.join(d, name), "rb") as f:
            f.seek(pos - seg_start)
            n = min(commit, seg_start + SEG) - pos
            data = f.read(n)
            if len(data) != n:
                raise SystemExit("demo: %s/%s is short" % (d, name))
            h.update(data)
            pos += n
    if pos != commit:
        raise SystemExit("demo: %s lacks WAL up to %s" % (node_dir, lsn_text(commit)))
    return h.hexdigest()


def waldump_records(node_dir, start, end, scratch):
    """pg_waldump --stats over the node's segments; the open one is named
    .partial, so pg_waldump reads all of them through a folder of symlinks."""
    d, names = segments(node_dir)
    links = os.path.join(scratch, os.path.basename(node_dir.rstrip("/")) + "-waldump")
    os.makedirs(links, exist_ok=True)
    for name in names:
        os.symlink(os.path.join(d, name), os.path.join(links, name.split(".")[0]))
    r = subprocess.run([PG_WALDUMP, "-p", links, "-s", lsn_text(start), "-e", lsn_text(end), "--stats"],
                       text=True, capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:] or ["exit %d" % r.returncode]
    for line in r.stdout.splitlines():
        if line.startswith("Total"):
            return int(line.split()[1]), None
    return None, ["no Total line"]


def main():
    ap = argparse.ArgumentParser(description="walquorum cluster demo")
    ap.add_argument("build")
    ap.add_argument("--seconds-per-phase", type=float, default=25.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--checkpoint-interval", type=float, default=10.0,
                    help="seconds between the compute's checkpoints (each is followed by FPIs with FPW on)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster directory")
    a = ap.parse_args()
    compute_exe = os.path.join(a.build, "src", "compute", "walquorum-compute")
    for exe in (compute_exe, os.path.join(a.build, "src", "safekeeper", "walquorum-safekeeper")):
        if not os.access(exe, os.X_OK):
            raise SystemExit("demo: %s is missing; build first (scripts/demo does)" % exe)

    work = tempfile.mkdtemp(prefix="wq-demo.")
    cdir = os.path.join(work, "cluster")
    compute = None
    try:
        say("starting 3 safekeepers on 127.0.0.1 (scripts/cluster up --dir %s)" % cdir)
        cluster("up", "--dir", cdir, "--build", a.build, "--safekeepers", "3")
        nodes = json.load(open(os.path.join(cdir, "cluster.json")))["nodes"]
        sks = ",".join("127.0.0.1:%d" % n["ports"]["wal"] for n in nodes)
        phase = a.seconds_per_phase
        say("compute: %d clients, FPW on for %.0f s, then off for %.0f s; "
            "sk3 gets kill -9 in the FPW-off phase" % (a.clients, phase, phase))
        out_path = os.path.join(work, "compute.json")
        with open(out_path, "w") as out:
            compute = subprocess.Popen(
                [compute_exe, "--safekeepers", sks, "--tenant", TENANT, "--timeline", TIMELINE,
                 "--clients", str(a.clients), "--duration", str(2 * phase),
                 "--fpw", "on", "--fpw-off-after", str(phase), "--json",
                 "--checkpoint-interval", str(a.checkpoint_interval)],
                stdout=out, stderr=subprocess.PIPE, text=True)
            # Echo the compute's progress lines and note when FPW went off.
            fpw_off_at = []

            def relay():
                for line in compute.stderr:
                    sys.stderr.write("  " + line)
                    if "fpw=off" in line and not fpw_off_at:
                        fpw_off_at.append(time.monotonic())

            relay_thread = threading.Thread(target=relay, daemon=True)
            relay_thread.start()
            sk3 = nodes[2]
            wait_for("the FPW-off phase", lambda: fpw_off_at or compute.poll() is not None,
                     phase + 120)
            kill_at = (fpw_off_at[0] if fpw_off_at else time.monotonic()) + phase / 4
            while time.monotonic() < kill_at and compute.poll() is None:
                time.sleep(0.1)
            say("kill -9 sk3 (pid %s)" % sk3.get("pid"))
            cluster("kill", "--dir", cdir, "3", "--signal", "KILL")
            down_since = time.monotonic()
            time.sleep(min(5.0, phase / 5))  # the compute keeps committing on sk1+sk2 meanwhile
            others = [timeline_state(n["ports"]["http"]) for n in nodes[:2]]
            target = max(lsn(s["commit_lsn"]) for s in others if s)
            say("restart sk3 (down %.1f s); the cluster's commit LSN is %s" %
                (time.monotonic() - down_since, lsn_text(target)))
            cluster("start", "--dir", cdir, "3")
            restarted = time.monotonic()
            first = wait_for("sk3 answering HTTP", lambda: timeline_state(sk3["ports"]["http"]), 30)
            behind_bytes = target - lsn(first["flush_lsn"])
            wait_for("sk3 catching up to %s" % lsn_text(target),
                     lambda: lsn((timeline_state(sk3["ports"]["http"]) or {"flush_lsn": "0/0"})
                                 ["flush_lsn"]) >= target, 120)
            catchup_s = time.monotonic() - restarted
            say("sk3 caught up %.1f MB in %.2f s after its restart" % (behind_bytes / 1e6, catchup_s))
            rc = compute.wait(timeout=4 * phase + 120)
            relay_thread.join(timeout=5)
        compute = None
        if rc != 0:
            raise SystemExit("demo: walquorum-compute exited %d" % rc)
        summary = json.load(open(out_path))

        say("checking the WAL on every safekeeper")
        commit = lsn(summary["commit_lsn"])
        wait_for("every safekeeper flushed to %s" % lsn_text(commit),
                 lambda: all(lsn((timeline_state(n["ports"]["http"]) or {"flush_lsn": "0/0"})
                                 ["flush_lsn"]) >= commit for n in nodes), 60)
        start = lsn(summary["start_lsn"])
        digests = [committed_digest(n["dir"], start, commit) for n in nodes]
        dumps = [waldump_records(n["dir"], start, commit, work) for n in nodes]

        phases = summary["phases"]
        print()
        print("walquorum demo: 3 safekeepers, walquorum-compute with %d clients, TPC-C-like generic WAL"
              % a.clients)
        print()
        hdr = "%-32s %10s %14s %14s %14s %10s" % ("phase", "txn/s", "WAL bytes/txn", "commit p50 us",
                                                   "commit p99 us", "FPIs")
        print(hdr)
        print("-" * len(hdr))
        for p in phases:
            name = "FPW %s%s" % ("on" if p["fpw"] else "off",
                                 " (sk3 killed, restarted)" if not p["fpw"] else "")
            print("%-32s %10.0f %14.0f %14d %14d %10d" % (name, p["txn_per_s"], p["wal_bytes_per_txn"],
                                                         p["commit_p50_us"], p["commit_p99_us"],
                                                         p["fpi_count"]))
        if len(phases) == 2 and phases[0]["wal_bytes_per_txn"] > 0:
            on, off = phases
            print("%-32s %9.2fx %13.1f%% less" % ("FPW off vs on", off["txn_per_s"] / on["txn_per_s"],
                                                   100.0 * (1 - off["wal_bytes_per_txn"] / on["wal_bytes_per_txn"])))
        print()
        print("sk3 after kill -9: %.1f MB behind on restart, caught up in %.2f s (%.0f MB/s)" %
              (behind_bytes / 1e6, catchup_s, behind_bytes / 1e6 / max(catchup_s, 1e-3)))
        print("committed WAL %s..%s (%.1f MB): sha256 %s on sk1, sk2, sk3" %
              (lsn_text(start), lsn_text(commit), (commit - start) / 1e6,
               "identical" if len(set(digests)) == 1 else "DIFFERENT: " + " ".join(x[:12] for x in digests)))
        for n, (records, err) in zip(nodes, dumps):
            print("pg_waldump over %s's segments: %s" %
                  (n["name"], "%d records, no error" % records if records is not None else "ERROR " + err[0]))
        ok = len(set(digests)) == 1 and all(r is not None for r, _ in dumps)
        print()
        print("demo: %s in %.0f s" % ("OK" if ok else "FAILED", time.monotonic() - T0))
        return 0 if ok else 1
    finally:
        if compute is not None and compute.poll() is None:
            compute.kill()
            compute.wait()
        say("stopping the cluster (scripts/cluster down)")
        cluster("down", "--dir", cdir, check=False)
        if a.keep:
            print("demo: cluster directory kept: %s" % cdir)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
