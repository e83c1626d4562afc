"""Command line of scripts/chaos (see its --help)."""
import argparse
import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
import time

from . import check as checkmod
from . import run as runmod
from . import schedule as schedmod

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TARGETS = {"safekeeper": "src/safekeeper/walquorum-safekeeper", "compute": "src/compute/walquorum-compute",
           "pageserver": "src/pageserver/walquorum-pageserver"}

DESCRIPTION = """\
Chaos on real walquorum processes, then an offline check of everything they acknowledged.

  scripts/chaos [--minutes M] [--safekeepers 3|5] [--seed S] [--out DIR] [...]
  scripts/chaos check --out DIR

A run builds the programs if needed (ninja in --build), starts 3 or 5 safekeepers, a
pageserver for timeline A, a compute with 4 clients on timeline A and one with 2 clients on
timeline B (each recording every acknowledged commit with --history), and routes every link
(compute->safekeeper, safekeeper->safekeeper peers, pageserver->safekeeper) through a
fault-injecting TCP proxy inside this process. A plan drawn from the seed injects about 16
faults a minute: kill -9 + restart, power cut (kill -9 of a safekeeper running with
WQ_STORAGE_FAULT=powercut, which loses its unsynced writes), SIGSTOP/SIGCONT, clean restart,
symmetric and one-way partitions, a safekeeper isolated from everyone, and a compute replaced
mid-stream (the old one killed, or left running to be superseded: exit 3). Never more than a
minority of safekeepers is down or cut off from a compute at once. A live line (every 2 s)
shows the time, faults by kind, acknowledged commits and commit LSNs.

At the end everything is healed, the computes must make progress, a closing compute per
timeline runs 3 s and exits 0, `walquorum-compute verify` checks the pageserver against each
incarnation's truth journal, every process is stopped (by PID, also on Ctrl-C), and the
checker reads the history files and the final segment files: every acknowledged commit intact
on a quorum, no two safekeepers different below the commit LSN, commit LSNs only grew,
progress after healing, pageserver clean, no unexpected exit. DIR keeps a copy of the
programs (bin/, so a rebuild cannot change a running test), the logs, histories,
schedule.json (the replayable plan), run.json, samples.json and verdict.json.

Exit status: 0 PASS, 1 FAIL, 2 bad command line, 130 interrupted."""


def parse_run(argv):
    ap = argparse.ArgumentParser(prog="scripts/chaos", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the fault phase (default 5)")
    ap.add_argument("--safekeepers", type=int, choices=(3, 5), default=3)
    ap.add_argument("--seed", type=int, default=None, help="seed of the fault plan (default: random, printed)")
    ap.add_argument("--schedule", help="replay this schedule.json instead of planning from the seed")
    ap.add_argument("--out", help="run directory (default /tmp/wq-chaos-SEED-TIME)")
    ap.add_argument("--build", help="build directory (default $WQ_BUILD or REPO/build)")
    ap.add_argument("--no-build", action="store_true", help="use the built programs as they are")
    ap.add_argument("--safekeeper-bin")
    ap.add_argument("--compute-bin")
    ap.add_argument("--pageserver-bin")
    ap.add_argument("--rate-kbps", type=int, default=768,
                    help="pace each compute->safekeeper link at this many KiB/s, bounding disk use (0: no limit)")
    ap.add_argument("--verify-samples", type=int, default=300, help="pages per truth journal that verify reads")
    ap.add_argument("--clean-on-pass", action="store_true", help="delete the run directory when the verdict is PASS")
    a = ap.parse_args(argv)
    if a.minutes <= 0 or a.minutes > 24 * 60:
        ap.error("--minutes must be in (0, 1440]")
    if a.rate_kbps < 0:
        ap.error("--rate-kbps must be >= 0")
    return a


def find_bins(a):
    bins = {}
    explicit = {"safekeeper": a.safekeeper_bin, "compute": a.compute_bin, "pageserver": a.pageserver_bin}
    build = os.path.abspath(a.build or os.environ.get("WQ_BUILD") or os.path.join(REPO, "build"))
    need = [k for k, v in explicit.items() if not v]
    if need and not a.no_build:
        build_programs(build, [TARGETS[k] for k in need])
    for k in TARGETS:
        bins[k] = os.path.abspath(explicit[k] or os.path.join(build, TARGETS[k]))
        if not os.access(bins[k], os.X_OK):
            raise SystemExit("scripts/chaos: %s is not an executable (build it, or give --%s-bin)" % (bins[k], k))
    return bins


def build_programs(build, targets):
    """meson setup if the build directory has none, then ninja for the targets.
    Holds the lock file $WQ_BUILD_LOCK (default /tmp/wq-build.lock when it
    exists) so parallel builds in one tree do not collide."""
    if not os.path.exists(os.path.join(build, "build.ninja")):
        print("[chaos] meson setup %s" % build, flush=True)
        subprocess.run(["meson", "setup", build, "--buildtype=debugoptimized"], cwd=REPO, check=True)
    lock_path = os.environ.get("WQ_BUILD_LOCK") or ("/tmp/wq-build.lock" if os.path.exists("/tmp/wq-build.lock") else None)
    lock = open(lock_path, "a") if lock_path else None
    try:
        if lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["ninja", "-C", build] + targets, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout[-4000:])
            raise SystemExit("scripts/chaos: building %s failed" % " ".join(targets))
    finally:
        if lock:
            lock.close()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        ap = argparse.ArgumentParser(prog="scripts/chaos check",
                                     description="Check a finished chaos run directory offline (see scripts/chaos --help).")
        ap.add_argument("--out", required=True)
        a = ap.parse_args(argv[1:])
        ok, _ = checkmod.check(a.out)
        return 0 if ok else 1
    a = parse_run(argv)
    if a.schedule:
        try:
            with open(a.schedule) as f:
                a.plan = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit("scripts/chaos: cannot read the schedule %s: %s" % (a.schedule, e))
        a.seed, a.minutes, a.safekeepers = a.plan["seed"], a.plan["minutes"], a.plan["safekeepers"]
    else:
        if a.seed is None:
            a.seed = random.SystemRandom().randrange(1, 2 ** 31)
        a.plan = schedmod.plan(a.seed, a.minutes, a.safekeepers)
    a.command = "scripts/chaos --minutes %g --safekeepers %d --seed %d" % (a.minutes, a.safekeepers, a.seed)
    if a.rate_kbps != 768:
        a.command += " --rate-kbps %d" % a.rate_kbps
    bins = find_bins(a)
    out = os.path.abspath(a.out or "/tmp/wq-chaos-%d-%s" % (a.seed, time.strftime("%H%M%S")))
    if os.path.exists(os.path.join(out, "run.json")):
        raise SystemExit("scripts/chaos: %s already holds a run; give another --out" % out)
    print("[chaos] seed %d (replay: %s)" % (a.seed, a.command), flush=True)
    meta = runmod.run(a, bins, out)
    if meta.get("interrupted"):
        print("[chaos] interrupted; run directory %s (not checked)" % out)
        return 130
    ok, _ = checkmod.check(out)
    print("[chaos] run directory %s" % out)
    if ok and a.clean_on_pass:
        shutil.rmtree(out, ignore_errors=True)
        print("[chaos] PASS: run directory removed (--clean-on-pass)")
    return 0 if ok else 1
