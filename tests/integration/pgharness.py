#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 cluster for tests, the demo and benchmarks.

PgCluster runs initdb in a temporary directory, starts `postgres` itself (so the
PID is ours to stop), listens only on 127.0.0.1 (unix socket inside the temp
dir), and stops the server by PID: SIGINT (fast shutdown), then
`pg_ctl stop -m immediate`, then SIGKILL, each bounded by a deadline. Used as a
context manager it always stops the server and removes the directory.

When run as root, PostgreSQL programs that refuse root (initdb, postgres,
pg_ctl) run as the `postgres` user through setpriv, which execs in place so the
PID we hold is the postmaster's.

Command line (used by scripts/demo and tests/bench/waldump_vs_pg.sh):
  pgharness.py workload --dir DIR [--scale N] [--clients N] [--transactions N]
                        [--lz4] [--progress]
runs initdb + start + pgbench -i + pgbench + (optionally lz4 + a second run) +
stop in DIR/pg (DIR must not exist or be empty; the caller removes it) and
prints shell-friendly lines: WAL_DIR=..., START_LSN=..., END_LSN=...,
WAL_BYTES=..., SEG_SIZE=..., PG_BIN=... (also to --result FILE if given).

Only the Python standard library is used. Every wait polls a condition with a
deadline; nothing sleeps to "wait for" something.
"""

import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("WQ_PG_BIN", "/usr/lib/postgresql/15/bin")
BLCKSZ = 8192


def pg_tool(name):
    return os.path.join(PG_BIN, name)


def log(msg):
    print(f"[pgharness] {msg}", file=sys.stderr, flush=True)


# ---- LSN helpers ---------------------------------------------------------------------

def parse_lsn(text):
    hi, lo = text.strip().split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def format_lsn(v):
    return f"{v >> 32:X}/{v & 0xFFFFFFFF:X}"


def maxalign(v):
    return (v + 7) & ~7


def page_header_size(page_lsn, seg_size):
    return 40 if page_lsn % seg_size == 0 else 24


def record_end_lsn(start, tot_len, seg_size):
    """End LSN of a record (the reader's EndRecPtr), counting page headers it crosses."""
    pos, remaining = start, tot_len
    while True:
        page_end = (pos // BLCKSZ + 1) * BLCKSZ
        take = min(page_end - pos, remaining)
        pos += take
        remaining -= take
        if remaining == 0:
            return maxalign(pos)
        pos = page_end + page_header_size(page_end, seg_size)


def segment_name(tli, segno, seg_size):
    per_id = 0x100000000 // seg_size
    return f"{tli:08X}{segno // per_id:08X}{segno % per_id:08X}"


def parse_segment_name(name, seg_size):
    """(tli, segno) for a 24-hex segment file name, else None."""
    if not re.fullmatch(r"[0-9A-F]{24}", name):
        return None
    per_id = 0x100000000 // seg_size
    return int(name[0:8], 16), int(name[8:16], 16) * per_id + int(name[16:24], 16)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HarnessError(Exception):
    pass


class PgCluster:
    """One PostgreSQL 15 server in a private directory. Not thread-safe."""

    def __init__(self, base_dir=None, wal_segsize_mb=16, settings=None, keep=False):
        self.owns_base = base_dir is None
        self.base = base_dir or tempfile.mkdtemp(prefix="wq-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgres.log")
        self.wal_segsize_mb = wal_segsize_mb
        self.seg_size = wal_segsize_mb << 20
        self.port = None
        self.proc = None
        self.keep = keep
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": self.sockdir,
            "full_page_writes": "on",
            "wal_level": "replica",
            # Frequent checkpoints so many first-touch full-page images appear.
            "checkpoint_timeout": "30s",
            "max_wal_size": "32MB",
            "min_wal_size": "32MB",
            # Keep every segment: the differential test reads the whole history.
            "wal_keep_size": "4GB",
            "max_wal_senders": "0",
            "fsync": "off",
            "synchronous_commit": "off",
            "shared_buffers": "32MB",
            "log_checkpoints": "on",
        }
        if settings:
            self.settings.update(settings)
        self.as_postgres = os.geteuid() == 0
        self.pg_uid = self.pg_gid = None
        if self.as_postgres:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as e:
                raise HarnessError("running as root needs a 'postgres' user to run the server") from e
            self.pg_uid, self.pg_gid = pw.pw_uid, pw.pw_gid

    # ---- process helpers ---------------------------------------------------------------

    def _server_cmd(self, argv):
        """Prefix for programs that refuse to run as root."""
        if not self.as_postgres:
            return argv
        return ["setpriv", f"--reuid={self.pg_uid}", f"--regid={self.pg_gid}",
                "--init-groups", "--"] + argv

    def _run(self, argv, timeout_s, server_side=False, check=True, capture=True, env=None):
        cmd = self._server_cmd(argv) if server_side else argv
        try:
            r = subprocess.run(cmd, cwd=self.base, timeout=timeout_s, env=env,
                               stdout=subprocess.PIPE if capture else None,
                               stderr=subprocess.PIPE if capture else None, text=True)
        except subprocess.TimeoutExpired as e:
            raise HarnessError(f"{argv[0]} did not finish within {timeout_s}s") from e
        if check and r.returncode != 0:
            err = (r.stderr or "").strip().splitlines()[-5:] if capture else []
            raise HarnessError(f"{' '.join(argv)} exited {r.returncode}: {' | '.join(err)}")
        return r

    def client_env(self):
        env = dict(os.environ)
        env.update({"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": "postgres",
                    "PGDATABASE": "postgres", "PGCONNECT_TIMEOUT": "10"})
        return env

    # ---- lifecycle ---------------------------------------------------------------------

    def init(self):
        os.makedirs(self.sockdir, exist_ok=True)
        if self.as_postgres:
            for d in (self.base, self.sockdir):
                os.chown(d, self.pg_uid, self.pg_gid)
        self._run([pg_tool("initdb"), "-D", self.datadir, "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8", "--locale=C",
                   f"--wal-segsize={self.wal_segsize_mb}"], timeout_s=180, server_side=True)
        return self

    def start(self, ready_timeout_s=60):
        WQ_ASSERT(self.proc is None, "server already started")
        self.port = free_port()
        argv = [pg_tool("postgres"), "-D", self.datadir, "-p", str(self.port)]
        for k, v in self.settings.items():
            argv += ["-c", f"{k}={v}"]
        logf = open(self.logfile, "ab")
        if self.as_postgres:
            os.chown(self.logfile, self.pg_uid, self.pg_gid)
        # A new session: Ctrl-C in the caller's terminal reaches us, not the server;
        # we stop it ourselves by PID.
        self.proc = subprocess.Popen(self._server_cmd(argv), cwd=self.base, stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        logf.close()
        log(f"postgres started, pid {self.proc.pid}, 127.0.0.1:{self.port}, data {self.datadir}")
        self.wait_ready(ready_timeout_s)
        return self

    def wait_ready(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        attempts = 0
        while attempts < 600:
            attempts += 1
            if self.proc.poll() is not None:
                raise HarnessError(f"postgres exited with {self.proc.returncode} during startup; "
                                   f"log tail: {self.log_tail()}")
            r = subprocess.run([pg_tool("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                "-t", "1", "-q"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                break
            # pg_isready -t 1 already waits up to 1 s for the connection; no extra sleep.
            try:
                self.proc.wait(timeout=0.1)  # returns early only if the server died
            except subprocess.TimeoutExpired:
                pass
        raise HarnessError(f"postgres not ready within {timeout_s}s; log tail: {self.log_tail()}")

    def log_tail(self, n=5):
        try:
            with open(self.logfile, errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s=60):
        """Stops the server by PID: fast shutdown, then immediate, then SIGKILL."""
        if self.proc is None:
            return
        pid = self.proc.pid
        if self.proc.poll() is None:
            try:
                os.kill(pid, signal.SIGINT)  # fast shutdown: writes a shutdown checkpoint
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log(f"postgres pid {pid} ignored fast shutdown; pg_ctl stop -m immediate")
                try:
                    self._run([pg_tool("pg_ctl"), "stop", "-D", self.datadir, "-m", "immediate",
                               "-t", "20"], timeout_s=30, server_side=True, check=False)
                except HarnessError:
                    pass
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    log(f"killing postgres pid {pid}")
                    try:
                        os.killpg(pid, signal.SIGKILL)  # its own session: the whole group
                    except ProcessLookupError:
                        pass
                    self.proc.wait(timeout=20)
        log(f"postgres pid {pid} stopped (exit {self.proc.returncode})")
        self.proc = None

    def cleanup(self):
        self.stop()
        if self.owns_base and not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # ---- clients -----------------------------------------------------------------------

    def psql(self, sql, timeout_s=120):
        r = self._run([pg_tool("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                      timeout_s=timeout_s, env=self.client_env())
        return r.stdout.strip()

    def pgbench(self, args, timeout_s=600, progress=False):
        r = self._run([pg_tool("pgbench")] + list(args), timeout_s=timeout_s,
                      env=self.client_env(), capture=not progress)
        return r

    def wal_dir(self):
        return os.path.join(self.datadir, "pg_wal")


def WQ_ASSERT(cond, msg):
    if not cond:
        raise HarnessError(msg)


# ---- pg_waldump helpers ----------------------------------------------------------------

def wal_segments(wal_dir, seg_size, tli=1):
    """Sorted (segno, name) of the timeline's segment files in wal_dir."""
    out = []
    for name in os.listdir(wal_dir):
        p = parse_segment_name(name, seg_size)
        if p and p[0] == tli:
            out.append((p[1], name))
    return sorted(out)


def find_wal_range(wal_dir, seg_size, timeout_s=300):
    """(start, end) of the valid WAL in wal_dir, as PostgreSQL's pg_waldump sees it.

    start is the first record of the oldest segment; end is where pg_waldump
    stopped (the end of the last valid record)."""
    segs = wal_segments(wal_dir, seg_size)
    WQ_ASSERT(segs, f"no WAL segments in {wal_dir}")
    first = segs[0][0] * seg_size
    r = subprocess.run([pg_tool("pg_waldump"), "-p", wal_dir, "-s", format_lsn(first)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout_s)
    start = last = last_len = None
    for line in r.stdout.splitlines():
        m = RECORD_RE.match(line)
        if not m:
            continue
        if start is None:
            start = parse_lsn(m.group("lsn"))
        last, last_len = parse_lsn(m.group("lsn")), int(m.group("tot"))
    WQ_ASSERT(start is not None, f"pg_waldump found no records: {r.stderr.strip()}")
    m = re.search(r"invalid record length at ([0-9A-F]+/[0-9A-F]+): wanted 24, got 0", r.stderr)
    end = parse_lsn(m.group(1)) if m else record_end_lsn(last, last_len, seg_size)
    return start, end, r.stderr.strip()


RECORD_RE = re.compile(
    r"^rmgr: (?P<rmgr>\S+)\s+len \(rec/tot\):\s*(?P<rec>\d+)/\s*(?P<tot>\d+), "
    r"tx:\s*(?P<xid>\d+), lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), prev (?P<prev>[0-9A-F]+/[0-9A-F]+), "
    r"desc: (?P<desc>.*)$")


# ---- the standard workload -------------------------------------------------------------

def run_workload(cluster, scale, clients, transactions, lz4, progress):
    """pgbench -i + a bounded run; with lz4, a second run with wal_compression=lz4."""
    t0 = time.monotonic()
    log(f"pgbench -i -s {scale}")
    cluster.pgbench(["-i", "-s", str(scale), "-q"], progress=progress)
    bench = ["-c", str(clients), "-j", str(min(clients, 2)), "-t", str(transactions), "-n"]
    if progress:
        bench += ["-P", "1"]
    log(f"pgbench {' '.join(bench)}")
    cluster.pgbench(bench, progress=progress)
    cluster.psql("CHECKPOINT")
    if lz4:
        log("ALTER SYSTEM SET wal_compression = lz4; reload; CHECKPOINT")
        cluster.psql("ALTER SYSTEM SET wal_compression = 'lz4'")
        cluster.psql("SELECT pg_reload_conf()")
        # The reload is asynchronous: poll the setting with a deadline.
        deadline = time.monotonic() + 30
        for _ in range(300):
            if cluster.psql("SHOW wal_compression") == "lz4":
                break
            WQ_ASSERT(time.monotonic() < deadline, "wal_compression did not become lz4")
        cluster.psql("CHECKPOINT")
        log(f"pgbench {' '.join(bench)} (lz4 images)")
        cluster.pgbench(bench, progress=progress)
    log(f"workload done in {time.monotonic() - t0:.1f}s")


def _interrupt(signum, frame):
    # One interrupt is enough: later ones must not cut the server's shutdown short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt()


def main(argv):
    ap = argparse.ArgumentParser(description="Throwaway PostgreSQL 15 cluster with a pgbench workload.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workload", help="initdb, start, pgbench, stop; print WAL_DIR/START_LSN/END_LSN")
    w.add_argument("--dir", required=True, help="work directory (created; caller removes it)")
    w.add_argument("--scale", type=int, default=5)
    w.add_argument("--clients", type=int, default=4)
    w.add_argument("--transactions", type=int, default=500, help="per client")
    w.add_argument("--lz4", action="store_true", help="second run with wal_compression=lz4")
    w.add_argument("--progress", action="store_true", help="show pgbench output and progress")
    w.add_argument("--result", help="also write the KEY=VALUE result lines to this file")
    a = ap.parse_args(argv)

    os.makedirs(a.dir, exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(a.dir, 0o755)  # the postgres user must reach DIR/pg
    base = os.path.join(a.dir, "pg")
    os.makedirs(base, exist_ok=False)
    cluster = PgCluster(base_dir=base)
    # Ctrl-C or SIGTERM from the caller: stop the server by PID before exiting.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        cluster.init().start()
        run_workload(cluster, a.scale, a.clients, a.transactions, a.lz4, a.progress)
        cluster.stop()
        start, end, _ = find_wal_range(cluster.wal_dir(), cluster.seg_size)
    except (HarnessError, KeyboardInterrupt, subprocess.TimeoutExpired) as e:
        log(f"error: {str(e) or 'interrupted'}")
        return 2
    finally:
        cluster.stop()
    lines = [f"WAL_DIR={cluster.wal_dir()}", f"START_LSN={format_lsn(start)}",
             f"END_LSN={format_lsn(end)}", f"WAL_BYTES={end - start}",
             f"SEG_SIZE={cluster.seg_size}", f"PG_BIN={PG_BIN}"]
    print("\n".join(lines), flush=True)
    if a.result:
        with open(a.result, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
