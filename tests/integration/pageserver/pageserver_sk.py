#!/usr/bin/env python3
"""walquorum-pageserver against walquorum's own replication server.

pgwire_dirserver (pgwire::ReplicationServer over a directory of segments, the
safekeeper's stand-in) serves WAL written by walquorum-walgen (1 MiB segments:
FPIs, generic WAL, commits, a switch) to a pageserver that connects with
-c tenant_id/-c timeline_id. Checked: ingest reaches the server's commit LSN;
it picks the server with the higher commit LSN (IDENTIFY_SYSTEM's xlogpos) and,
when that one goes away, fails over to the other once it is not behind; the
flush the pageserver reports in its standby status updates reaches it too
(the durable LSN); every walgen page reads back through GetPage@LSN with no
more deltas replayed than the threshold, and its pd_lsn is the end of a record
at or below the read LSN; a page of the wrong tenant is refused; retention
compacts below durable - 64 KiB and refuses reads there.

Usage: pageserver_sk.py PAGESERVER_EXE GETPAGE_EXE DIRSERVER_EXE WALGEN_EXE
Standard library only; every wait polls a condition with a deadline.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pageserver_pg import Pageserver, check  # noqa: E402
import pageserver_pg  # noqa: E402
from pgharness import format_lsn, log, parse_lsn  # noqa: E402

TENANT = "5e" * 16
TIMELINE = "0b" * 16


def start_server(dirserver_exe, src, root, name, commit):
    """A pgwire_dirserver with commit LSN `commit`; returns (process, port)."""
    port_file = os.path.join(root, f"dirserver-{name}.port")
    srv_log = open(os.path.join(root, f"dirserver-{name}.log"), "ab")
    srv = subprocess.Popen([dirserver_exe, "--dir", src, "--tenant", TENANT, "--timeline", TIMELINE,
                            "--commit", format_lsn(commit), "--port-file", port_file,
                            "--keepalive-ms", "500"],
                           stdin=subprocess.PIPE, stdout=srv_log, stderr=srv_log)
    srv_log.close()
    deadline = time.monotonic() + 30
    for _ in range(3000):
        check(srv.poll() is None, f"dirserver {name} exited with {srv.returncode}")
        try:
            with open(port_file) as f:
                return srv, int(f.read().strip())
        except (FileNotFoundError, ValueError):
            check(time.monotonic() < deadline, f"dirserver {name} wrote no port file")
            try:
                srv.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
    raise AssertionError("unreachable")


def stop_server(srv):
    if srv is not None and srv.poll() is None:
        srv.terminate()
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait(timeout=30)


def main(argv):
    ps_exe, getpage_exe, dirserver_exe, walgen_exe = argv[1:5]
    root = tempfile.mkdtemp(prefix="wq-ps-sk-")
    src = os.path.join(root, "src")
    out = subprocess.run([walgen_exe, "--out", src, "--segments", "3", "--segment-size-mb", "1"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    start = parse_lsn(re.search(r"start=(\S+)", out).group(1))
    end = parse_lsn(re.search(r"end=(\S+)", out).group(1))
    mid = start + (end - start) // 2
    srv = srv_a = ps = None
    srv_log_path = os.path.join(root, "dirserver-b.log")
    try:
        srv, port = start_server(dirserver_exe, src, root, "b", end)
        srv_a, port_a = start_server(dirserver_exe, src, root, "a", mid)
        data = os.path.join(root, "ps")
        os.makedirs(data)
        pageserver_pg.THRESHOLD = 3
        # A (lower commit LSN) is listed first: the pageserver must pick B.
        ps = Pageserver(ps_exe, data, [f"127.0.0.1:{port_a}", f"127.0.0.1:{port}"],
                        ["--start-lsn", format_lsn(start - start % 8192), "--wal-segment-mb", "1",
                         "--tenant-id", TENANT, "--timeline-id", TIMELINE,
                         "--retention-bytes", "65536", "--compaction-interval-ms", "100"])
        # Pageserver.start adds --plain-postgres and --pg-user; drop them for this server.
        ps.plain = False
        ps.start()
        s = ps.wait_status(lambda s: parse_lsn(s["durable_lsn"]) >= end, f"durable LSN {format_lsn(end)}")
        check(s["receiver"]["source"] == f"127.0.0.1:{port}", f"streams from {s['receiver']}, not B")
        check(parse_lsn(s["ingest_lsn"]) == end, f"ingested to {s['ingest_lsn']}, commit {format_lsn(end)}")
        want = f"flush={format_lsn(end)}"
        deadline = time.monotonic() + 30
        for _ in range(3000):
            with open(srv_log_path, errors="replace") as f:
                if want in f.read():
                    break
            check(time.monotonic() < deadline, f"the server never saw {want}")
            try:
                srv.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        log(f"ingested and reported durable to {format_lsn(end)}: {s['records']} records, "
            f"fpis {s['fpis']}")
        reqs = [(1663, 5, 16384 if i % 2 == 0 else 16390, 0, i, format_lsn(end)) for i in range(8)]
        got = ps.getpages(getpage_exe, reqs, ["--tenant-id", TENANT, "--timeline-id", TIMELINE])
        check(len(got) == 8, f"{len(got)} responses")
        for i, r in enumerate(got):
            check(r["ok"], f"page {i}: {r.get('error')}")
            check(r["deltas_replayed"] <= 3, f"page {i}: {r['deltas_replayed']} deltas replayed")
            page = bytes.fromhex(r["page"])
            pd_lsn = (int.from_bytes(page[0:4], "little") << 32) | int.from_bytes(page[4:8], "little")
            check(start < pd_lsn <= end, f"page {i}: pd_lsn {format_lsn(pd_lsn)} outside the WAL")
        s = ps.wait_status(lambda s: s["image_queue_depth"] == 0, "image queue drained")
        check(s["images_generated"] > 0 and s["deltas_replayed_max"] <= 3, f"pushdown: {s}")
        r = subprocess.run([getpage_exe, "--server", f"127.0.0.1:{ps.page}", "--tenant-id", "11" * 16,
                            "--timeline-id", TIMELINE], input=f"1663 5 16384 0 0 {format_lsn(end)}\n",
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and "is not served here" in r.stdout, f"other tenant: {r.stdout}")
        # Retention: versions below durable - 64 KiB were compacted; reads there are refused.
        s = ps.wait_status(lambda s: parse_lsn(s["retention_horizon"]) == end - 65536 and
                           s["compacted_keys"] > 0, "retention at durable - 64 KiB")
        r = ps.getpages(getpage_exe, [(1663, 5, 16384, 0, 0, format_lsn(end - 65537))],
                        ["--tenant-id", TENANT, "--timeline-id", TIMELINE])[0]
        check(not r["ok"] and "below the retention horizon" in r["error"], f"read below horizon: {r}")
        log(f"retention: {s['compacted_keys']} versions compacted below {s['retention_horizon']}")

        # Failover: B goes away; A is behind us until its commit LSN reaches ours.
        connects = ps.status()["receiver"]["connects"]
        stop_server(srv)
        ps.wait_status(lambda s: "behind us" in s["receiver"]["last_error"], "A refused as behind")
        srv_a.stdin.write(f"commit {format_lsn(end)}\n".encode())
        srv_a.stdin.flush()
        s = ps.wait_status(lambda s: s["receiver"]["source"] == f"127.0.0.1:{port_a}" and
                           s["receiver"]["connects"] > connects, "failover to A")
        check(parse_lsn(s["durable_lsn"]) == end, f"durable LSN after failover: {s}")
        log("failed over to A")
        log("ok")
    finally:
        if ps is not None:
            ps.stop()
        stop_server(srv)
        stop_server(srv_a)
        if os.environ.get("WQ_KEEP") is None:
            subprocess.run(["rm", "-rf", root], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
