#!/usr/bin/env python3
"""walquorum-pageserver against a real PostgreSQL 15 primary (--plain-postgres).

The pageserver streams the primary's WAL with libpq (a dead source is listed
first, so it has to pick the live one). A bloom index (generic WAL) is built and
updated in three phases with wal_compression = pglz, lz4 and zstd, a CHECKPOINT
before each so first touches log compressed full-page images. After each phase
every bloom page read through GetPage@LSN must equal the primary's page
(pageinspect's get_raw_page), byte for byte. Also checked: heap pages name the
missing redo; deltas replayed never exceed --image-threshold and images were
generated; a walsender frozen with SIGSTOP is detected as a stall and streaming
resumes on a new connection; after SIGTERM and more WAL, a restarted pageserver
resumes from its durable LSN and catches up.

Usage: pageserver_pg.py PAGESERVER_EXE GETPAGE_EXE
Standard library only; every wait polls a condition with a deadline.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pgharness import PgCluster, HarnessError, format_lsn, log, parse_lsn  # noqa: E402

THRESHOLD = 4
TENANT = "00" * 16


def check(cond, msg):
    if not cond:
        raise HarnessError(msg)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pageserver:
    def __init__(self, exe, data_dir, sources, extra=()):
        self.exe, self.data_dir, self.sources, self.extra = exe, data_dir, sources, list(extra)
        self.proc = None
        self.http = self.page = None
        self.plain = True  # a stock PostgreSQL source: no tenant/timeline options

    def start(self):
        for f in ("page.port", "http.port"):
            try:
                os.unlink(os.path.join(self.data_dir, f))
            except FileNotFoundError:
                pass
        argv = [self.exe, "--data-dir", self.data_dir, "--safekeepers", ",".join(self.sources),
                "--listen-page", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
                "--image-threshold", str(THRESHOLD),
                "--stall-timeout-ms", "1500", "--status-interval-ms", "200",
                "--log-level", "debug"] + self.extra
        if self.plain:
            argv += ["--plain-postgres", "--pg-user", "postgres"]
        self.log = open(os.path.join(self.data_dir, "pageserver.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log(f"pageserver pid {self.proc.pid}")
        deadline = time.monotonic() + 30
        for _ in range(3000):
            check(self.proc.poll() is None, f"pageserver exited with {self.proc.returncode}")
            try:
                with open(os.path.join(self.data_dir, "http.port")) as f:
                    self.http = int(f.read())
                with open(os.path.join(self.data_dir, "page.port")) as f:
                    self.page = int(f.read())
                return
            except (FileNotFoundError, ValueError):
                pass
            check(time.monotonic() < deadline, "pageserver did not write its port files")
            try:
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        log(f"pageserver pid {self.proc.pid} stopped (exit {self.proc.returncode})")
        self.proc = None
        self.log.close()

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=10) as r:
            return r.read().decode()

    def status(self):
        return json.loads(self.get("/v1/status"))

    def wait_status(self, pred, what, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        for _ in range(100000):
            check(self.proc.poll() is None, f"pageserver exited with {self.proc.returncode}")
            s = self.status()
            if pred(s):
                return s
            check(time.monotonic() < deadline, f"timed out waiting for {what}; status {s}")
            try:
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        raise HarnessError(f"gave up waiting for {what}")

    def getpages(self, getpage_exe, requests, ids=()):
        text = "".join(f"{spc} {db} {rel} {fork} {blk} {lsn}\n" for spc, db, rel, fork, blk, lsn in requests)
        r = subprocess.run([getpage_exe, "--server", f"127.0.0.1:{self.page}"] + list(ids), input=text,
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"walquorum-getpage failed: {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines()]


def settle(pg):
    """The insert LSN after the workload, then a switch so the primary sends it all."""
    lsn = pg.psql("SELECT pg_current_wal_insert_lsn()")
    pg.psql("SELECT pg_switch_wal()")
    return lsn


def compare_bloom(pg, ps, getpage_exe, lsn, rel):
    db = int(pg.psql("SELECT oid FROM pg_database WHERE datname = current_database()"))
    node = int(pg.psql(f"SELECT pg_relation_filenode('{rel}')"))
    nblocks = int(pg.psql(f"SELECT pg_relation_size('{rel}') / 8192"))
    check(nblocks >= 2, f"{rel} has {nblocks} blocks")
    ps.wait_status(lambda s: parse_lsn(s["ingest_lsn"]) >= parse_lsn(lsn), f"ingest to {lsn}")
    got = ps.getpages(getpage_exe, [(1663, db, node, 0, b, lsn) for b in range(nblocks)])
    for b, resp in enumerate(got):
        check(resp["ok"], f"{rel} block {b} at {lsn}: {resp.get('error')}")
        want = pg.psql(f"SELECT encode(get_raw_page('{rel}', {b}), 'hex')")
        if resp["page"] != want:
            diff = next(i for i in range(0, len(want), 2) if want[i:i + 2] != resp["page"][i:i + 2]) // 2
            raise HarnessError(f"{rel} block {b} at {lsn} differs from the primary at byte {diff}")
    log(f"{nblocks} pages of {rel} identical to the primary at {lsn}")
    return nblocks


def phase(pg, method, first_id, rows):
    # Per database, so every later session has it (a reload would race the next connection).
    pg.psql(f"ALTER DATABASE postgres SET wal_compression = '{method}'")
    pg.psql("CHECKPOINT")
    pg.psql(f"INSERT INTO t SELECT i, i % 97, md5(i::text) FROM generate_series({first_id}, "
            f"{first_id + rows - 1}) i")
    pg.psql(f"DELETE FROM t WHERE id % 13 = 0 AND id >= {first_id}")
    pg.psql("VACUUM t")  # bloom's bulk delete rewrites index pages: more generic deltas


def main(argv):
    ps_exe, getpage_exe = argv[1], argv[2]
    workdir = tempfile.mkdtemp(prefix="wq-ps-")
    ps = None
    stopped_pid = None
    settings = {"max_wal_senders": "5", "checkpoint_timeout": "30min",
                "max_wal_size": "1GB", "synchronous_commit": "on"}
    with PgCluster(settings=settings) as pg:
        try:
            pg.init().start()
            pg.psql("CREATE EXTENSION bloom")
            pg.psql("CREATE EXTENSION pageinspect")
            pg.psql("CHECKPOINT")
            redo = pg.psql("SELECT redo_lsn FROM pg_control_checkpoint()")
            start = format_lsn(parse_lsn(redo) - parse_lsn(redo) % 8192)
            dead = f"127.0.0.1:{free_port()}"
            ps = Pageserver(ps_exe, workdir, [dead, f"127.0.0.1:{pg.port}"], ["--start-lsn", start])
            ps.start()
            ps.wait_status(lambda s: s["receiver"]["source"] == f"127.0.0.1:{pg.port}", "streaming")

            pg.psql("CREATE TABLE t (id int, a int, b text)")
            pg.psql("CREATE INDEX bidx ON t USING bloom (id, a) WITH (length = 80)")
            phase(pg, "pglz", 1, 3000)
            lsn = settle(pg)
            compare_bloom(pg, ps, getpage_exe, lsn, "bidx")

            phase(pg, "lz4", 10001, 3000)
            lsn = settle(pg)
            compare_bloom(pg, ps, getpage_exe, lsn, "bidx")

            # Heap records are stored but have no redo here: the read names it.
            db = int(pg.psql("SELECT oid FROM pg_database WHERE datname = current_database()"))
            heap = int(pg.psql("SELECT pg_relation_filenode('t')"))
            r = ps.getpages(getpage_exe, [(1663, db, heap, 0, 0, lsn)])[0]
            check(not r["ok"] and "no redo for resource manager Heap" in r["error"],
                  f"heap page read: {r}")

            # A frozen walsender is a stall: the pageserver reconnects.
            before = ps.status()["receiver"]
            stopped_pid = int(pg.psql("SELECT pid FROM pg_stat_replication "
                                      "WHERE application_name = 'walquorum-pageserver'"))
            os.kill(stopped_pid, signal.SIGSTOP)
            ps.wait_status(lambda s: s["receiver"]["stalls"] > before["stalls"] and
                           s["receiver"]["connects"] > before["connects"], "stall and reconnect")
            os.kill(stopped_pid, signal.SIGCONT)
            stopped_pid = None
            log("stall detected, streaming again")

            # Restart: more WAL while it is down; it resumes from its durable LSN.
            durable = ps.wait_status(lambda s: s["durable_lsn"] == s["ingest_lsn"], "durable")["durable_lsn"]
            fpis_before = ps.status()["fpis"]  # counters restart with the process
            ps.stop()
            phase(pg, "zstd", 20001, 3000)
            lsn = settle(pg)
            ps.start()
            s = ps.status()
            check(parse_lsn(s["durable_lsn"]) >= parse_lsn(durable), f"durable LSN went back: {s}")
            compare_bloom(pg, ps, getpage_exe, lsn, "bidx")

            s = ps.wait_status(lambda s: s["image_queue_depth"] == 0, "image queue drained")
            for method in ("pglz", "lz4", "zstd"):
                check(s["fpis"][method] + fpis_before[method] > 0, f"no {method}-compressed full-page image was ingested: {s}")
            check(s["images_generated"] > 0, f"no images generated: {s}")
            check(s["deltas_replayed_max"] <= THRESHOLD,
                  f"a read replayed {s['deltas_replayed_max']} deltas, threshold {THRESHOLD}")
            metrics = ps.get("/metrics")
            for name in ("walquorum_ps_ingest_lsn", "walquorum_ps_deltas_replayed_bucket",
                         "walquorum_ps_getpage_seconds_count", "walquorum_ps_image_queue_depth",
                         "walquorum_ps_images_generated_total", "walquorum_ps_ingest_lag_bytes"):
                check(name in metrics, f"/metrics lacks {name}")
            log(f"ok: images {s['images_generated']}, max deltas replayed {s['deltas_replayed_max']}, "
                f"records {s['records']}, full-page images {fpis_before} then {s['fpis']}")
        finally:
            if stopped_pid is not None:
                try:
                    os.kill(stopped_pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            if ps is not None:
                ps.stop()
            if os.environ.get("WQ_KEEP") is None:
                subprocess.run(["rm", "-rf", workdir], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
