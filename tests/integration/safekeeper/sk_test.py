#!/usr/bin/env python3
"""Safekeeper integration tests: real walquorum-safekeeper processes on
127.0.0.1 (ports chosen by the kernel: --listen-* 127.0.0.1:0, read back from
<data>/wal.port and <data>/http.port), driven by sk_client (the real
core::Proposer, codec and net). Every server a test starts is stopped by PID in
a finally block; every wait is a bounded poll with a deadline.

usage: sk_test.py SCENARIO SAFEKEEPER_EXE SK_CLIENT_EXE
scenarios: basic, kill9, hostile, cli, restart, diskfull, retention, sigstop, takeover,
           peer_recovery, corrupt_repair, many_timelines, pg_receivewal, learner_removal
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PG_WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
PG_RECEIVEWAL = "/usr/lib/postgresql/15/bin/pg_receivewal"
TENANT = "11" * 16
SEG = 16 * 1024 * 1024
STARTED = []  # every Node started by this run
START = SEG  # sk_client starts brand-new timelines at 0/1000000


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


def wait_for(what, pred, timeout=30.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Node:
    def __init__(self, exe, root, node_id, extra_args=()):
        self.exe = exe
        self.extra_args = list(extra_args)
        self.id = node_id
        self.dir = os.path.join(root, "sk%d" % node_id)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(root, "sk%d.log" % node_id)
        self.proc = None
        self.wal_port = 0
        self.http_port = 0
        self.pg_port = 0

    def start(self):
        if self not in STARTED:
            STARTED.append(self)  # stopped by PID at the end, whatever happens
        # Restarts reuse the first run's WAL port, so a running client finds the node again.
        for name in ("wal.port", "http.port", "pg.port"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                os.unlink(p)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.exe, "--id", str(self.id), "--data-dir", self.dir,
             "--listen-wal", "127.0.0.1:%d" % self.wal_port, "--listen-http", "127.0.0.1:0"] + self.extra_args,
            stdout=log, stderr=log)
        log.close()
        wait_for("sk%d port files" % self.id, lambda: self.alive_or_fail() and
                 os.path.exists(os.path.join(self.dir, "http.port")), timeout=20)
        self.wal_port = int(open(os.path.join(self.dir, "wal.port")).read())
        self.http_port = int(open(os.path.join(self.dir, "http.port")).read())
        if "--listen-pg" in self.extra_args:
            wait_for("sk%d pg.port" % self.id, lambda: self.alive_or_fail() and
                     os.path.exists(os.path.join(self.dir, "pg.port")), timeout=20)
            self.pg_port = int(open(os.path.join(self.dir, "pg.port")).read())

    def alive_or_fail(self):
        if self.proc.poll() is not None:
            raise AssertionError("sk%d exited with %s; log:\n%s" % (self.id, self.proc.returncode, self.log()))
        return True

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def http(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=5) as r:
            return r.status, r.read().decode()

    def timeline(self, tl):
        _, body = self.http("/v1/tenant/%s/timeline/%s" % (TENANT, tl))
        return json.loads(body)

    def timeline_dir(self, tl):
        return os.path.join(self.dir, "timelines", TENANT, tl)

    def wal_bytes(self, tl, begin, end):
        """Bytes [begin, end) from this node's segment files (.partial or complete)."""
        out = bytearray()
        pos = begin
        while pos < end:
            segno = pos // SEG
            # PostgreSQL names: TLI, then segno split at 2^32 / SEG segments per "xlogid".
            name = "%08X%08X%08X" % (1, segno // (0x100000000 // SEG), segno % (0x100000000 // SEG))
            base = os.path.join(self.timeline_dir(tl), name)
            n = min(end, (segno + 1) * SEG) - pos
            # The node may rename X.partial to X meanwhile: one of the two opens.
            for path in (base + ".partial", base, base + ".partial"):
                try:
                    with open(path, "rb") as f:
                        f.seek(pos % SEG)
                        out += f.read(n)
                    break
                except FileNotFoundError:
                    continue
            else:
                raise AssertionError("segment %s missing on sk%d" % (base, self.id))
            pos += n
        return bytes(out)


class Client:
    """sk_client in the background; its stdout lines are parsed as they come."""

    def __init__(self, exe, nodes, tl, *args):
        sks = ",".join("127.0.0.1:%d" % n.wal_port for n in nodes)
        self.proc = subprocess.Popen(
            [exe, "--safekeepers", sks, "--tenant", TENANT, "--timeline", tl] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.commit = 0
        self.done = None
        self.elected_term = None
        self.term_start_lsn = None
        self.superseded_by = None
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            with self.lock:
                self.lines.append(line)
                m = re.match(r"commit lsn=(\S+)", line)
                if m:
                    self.commit = max(self.commit, lsn(m.group(1)))
                m = re.match(r"done commit=(\S+)", line)
                if m:
                    self.done = lsn(m.group(1))
                    self.commit = max(self.commit, self.done)
                m = re.match(r"elected term=(\d+) term_start_lsn=(\S+)", line)
                if m:
                    self.elected_term = int(m.group(1))
                    self.term_start_lsn = lsn(m.group(2))
                m = re.match(r"superseded term=(\d+) commit=(\S+)", line)
                if m:
                    self.superseded_by = int(m.group(1))
                    self.commit = max(self.commit, lsn(m.group(2)))

    def wait(self, timeout=120):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def output(self):
        with self.lock:
            return "\n".join(self.lines[-20:])


def pg_waldump_check(node, tl, end):
    """pg_waldump reads [0/1000000, end) of the node's segments with no error.
    pg_waldump does not open .partial names, so the segments are copied under
    their plain names first."""
    tmp = tempfile.mkdtemp(prefix="sk_waldump_")
    try:
        for f in os.listdir(node.timeline_dir(tl)):
            if re.fullmatch(r"[0-9A-F]{24}(\.partial)?", f):
                shutil.copy(os.path.join(node.timeline_dir(tl), f), os.path.join(tmp, f[:24]))
        r = subprocess.run([PG_WALDUMP, "-p", tmp, "-s", lsn_text(START), "-e", lsn_text(end)],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "pg_waldump on sk%d failed (%d): %s" % (node.id, r.returncode, r.stderr[-2000:]))
        records = r.stdout.count("\n")
        check(records > 0, "pg_waldump printed no records for sk%d" % node.id)
        return records
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def new_timeline(n):
    return ("%02x" % n) * 16


def start_cluster(exe, root, count=3):
    nodes = [Node(exe, root, i + 1) for i in range(count)]
    for n in nodes:
        n.start()
    return nodes


def check_status_fields(node, tl):
    st = node.timeline(tl)
    for field in ("term", "term_history", "flush_lsn", "commit_lsn", "truncate_lsn", "term_start_lsn",
                  "connections", "disk_bytes"):
        check(field in st, "status of sk%d lacks %s: %s" % (node.id, field, st))
    for field in ("flush_lsn", "commit_lsn", "truncate_lsn", "term_start_lsn"):
        check(re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", st[field]), "%s is not X/Y: %s" % (field, st[field]))
    return st


# ------------------------------------------------------------------ scenarios

def scenario_basic(exe, client_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xB1)
    # --wait-all: the client stays until every node acknowledged the end (there
    # is no peer recovery yet to bring a node that lagged at exit up to date).
    c = Client(client_exe, nodes, tl, "--records", "6000", "--record-bytes", "3000", "--timeout-s", "90",
               "--wait-all")
    try:
        rc = c.wait()
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    end = c.done
    print("committed %s (%d bytes)" % (lsn_text(end), end - START))
    check(end > 2 * SEG, "expected the run to cross into the second segment")
    for n in nodes:
        wait_for("sk%d flush_lsn >= %s" % (n.id, lsn_text(end)),
                 lambda n=n: lsn(n.timeline(tl)["flush_lsn"]) >= end)
        st = check_status_fields(n, tl)
        check(st["term"] >= 1 and st["term_history"], "sk%d has no term: %s" % (n.id, st))
    ref = nodes[0].wal_bytes(tl, START, end)
    for n in nodes[1:]:
        check(n.wal_bytes(tl, START, end) == ref, "committed WAL of sk%d differs from sk1" % n.id)
    for n in nodes:
        print("pg_waldump sk%d: %d records" % (n.id, pg_waldump_check(n, tl, end)))
    _, metrics = nodes[0].http("/metrics")
    for name in ("walquorum_sk_wal_bytes_appended_total", "walquorum_sk_fsync_seconds_bucket",
                 "walquorum_sk_sync_batch_bytes_bucket", "walquorum_sk_commit_lsn{",
                 "walquorum_sk_connections", "walquorum_sk_refusals_total{reason="):
        check(name in metrics, "/metrics lacks %s" % name)
    m = re.search(r"^walquorum_sk_wal_bytes_appended_total (\d+)$", metrics, re.M)
    check(m and int(m.group(1)) >= end - START, "bytes appended too small: %s" % (m and m.group(1)))
    # A timeline created over HTTP exists before any greeting and survives a restart.
    n = nodes[0]
    url = "http://127.0.0.1:%d/v1/tenant/%s/timeline/%s" % (n.http_port, TENANT, new_timeline(0xB2))

    def post(u):
        try:
            with urllib.request.urlopen(urllib.request.Request(u, data=b"", method="POST"), timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    status, body = post(url + "?system_id=42&wal_seg_size=16777216")
    check(status == 201 and body["term"] == 0 and body["flush_lsn"] == "0/0", "POST create: %s %s" % (status, body))
    status, _ = post(url)
    check(status == 200, "POST on an existing timeline: %s" % status)
    status, body = post(url.replace(new_timeline(0xB2), new_timeline(0xB3)) + "?system_id=x")
    check(status == 400 and "error" in body, "POST with a bad parameter: %s %s" % (status, body))
    n.stop()
    n.start()
    check(n.timeline(new_timeline(0xB2))["term"] == 0, "HTTP-created timeline lost on restart")
    check(lsn(n.timeline(tl)["flush_lsn"]) >= end, "sk1 lost WAL across a clean restart")
    print("timeline created over HTTP; both timelines reloaded after a restart")
    return nodes


def scenario_kill9(exe, client_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xC2)
    c = Client(client_exe, nodes, tl, "--records", "20000", "--record-bytes", "2000", "--timeout-s", "150",
               "--wait-all")
    try:
        wait_for("first commits", lambda: c.commit >= START + 1024 * 1024, timeout=60)
        nodes[2].kill9()
        at_kill = c.commit
        print("killed sk3 (kill -9) at commit %s" % lsn_text(at_kill))
        wait_for("commits to continue without sk3",
                 lambda: c.commit >= at_kill + 2 * 1024 * 1024 or (c.proc.poll() is not None and c.done),
                 timeout=60)
        check(c.commit > at_kill, "no commit after the kill")
        print("commit continued to %s with sk3 down" % lsn_text(c.commit))
        nodes[2].start()
        print("restarted sk3: %s" % re.findall(r"event=timeline_loaded.*", nodes[2].log())[-1:])
        rc = c.wait(timeout=180)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    end = c.done
    for n in nodes:
        wait_for("sk%d to reach %s" % (n.id, lsn_text(end)),
                 lambda n=n: lsn(n.timeline(tl)["flush_lsn"]) >= end, timeout=60)
    print("sk3 caught up: flush_lsn %s" % nodes[2].timeline(tl)["flush_lsn"])
    ref = nodes[0].wal_bytes(tl, START, end)
    for n in nodes[1:]:
        check(n.wal_bytes(tl, START, end) == ref, "committed WAL of sk%d differs from sk1" % n.id)
    print("pg_waldump sk3: %d records" % pg_waldump_check(nodes[2], tl, end))
    # sk3 votes again: with sk1 down, no proposer can be elected without it.
    term_before = nodes[2].timeline(tl)["term"]
    nodes[0].kill9()
    c2 = Client(client_exe, nodes, tl, "--elect-only", "--proposer-id", "2", "--timeout-s", "30")
    try:
        rc = c2.wait(timeout=60)
        check(rc == 0 and c2.elected_term, "second proposer not elected (%s):\n%s" % (rc, c2.output()))
    finally:
        c2.stop()
    st3 = nodes[2].timeline(tl)
    check(st3["term"] == c2.elected_term and st3["term"] > term_before,
          "sk3 did not vote for term %s: %s" % (c2.elected_term, st3))
    print("sk3 voted again: term %d -> %d" % (term_before, st3["term"]))
    return nodes


def raw_send(port, data, wait_close=True, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not wait_close:
            return None
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return "closed"
        except ConnectionResetError:
            return "closed"
        except socket.timeout:
            return "open"
    finally:
        s.close()


def scenario_hostile(exe, client_exe, root):
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xD3)
    c = Client(client_exe, nodes, tl, "--records", "500", "--timeout-s", "60")
    try:
        rc = c.wait()
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    n = nodes[0]
    before = n.timeline(tl)
    before_bytes = n.wal_bytes(tl, START, lsn(before["flush_lsn"]))
    port = n.wal_port
    cases = [
        ("garbage payload", b"\x00\x10\x00\x00" + os.urandom(4096), "malformed message"),
        ("an HTTP request on the WAL port", b"GET / HTTP/1.1\r\n\r\n", "frame too large"),
        ("oversized frame", b"\xff\xff\xff\x7f" + b"x" * 64, "bad frame"),
        ("zero-length frame", b"\x00\x00\x00\x00", "zero-length frame"),
        ("truncated capnp", b"\x10\x00\x00\x00" + b"\x00" * 16, "malformed message"),
    ]
    for name, data, reason in cases:
        check(raw_send(port, data) == "closed", "%s: connection not closed" % name)
        wait_for("log line for %s" % name, lambda reason=reason: reason in n.log(), timeout=10)
        n.alive_or_fail()
        print("%s: closed (%s)" % (name, reason))
    for mode, reason in (("wrong-version", "protocol version"),
                         ("out-of-order", "out of order"),
                         ("other-timeline", "on a connection bound to"),
                         ("wrong-system", "wrong timeline")):
        r = subprocess.run([client_exe, "--hostile", mode, "--safekeepers", "127.0.0.1:%d" % port,
                            "--tenant", TENANT, "--timeline", tl], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and "closed" in r.stdout, "%s: %s %s" % (mode, r.returncode, r.stdout))
        wait_for("log line for %s" % mode, lambda reason=reason: reason in n.log(), timeout=10)
        n.alive_or_fail()
        print("%s: closed (%s)" % (mode, reason))
    # HTTP port: garbage, an oversized request line, unknown paths, bad ids.
    # The HTTP server may answer 400 and keep the connection: only liveness matters.
    check(raw_send(n.http_port, b"\x00\x01garbage\r\n\r\n", timeout=1) in ("closed", "open"), "http garbage")
    raw_send(n.http_port, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", timeout=1)
    for path, code in (("/nope", 404), ("/v1/tenant/zz/timeline/zz", 404),
                       ("/v1/tenant/%s/timeline/%s" % ("ab" * 3, "cd" * 3), 400),
                       ("/v1/tenant/%s/timeline/%s" % (TENANT, "ee" * 16), 404)):
        try:
            status, _ = n.http(path)
        except urllib.error.HTTPError as e:
            status = e.code
        check(status == code, "GET %s: %s, expected %s" % (path, status, code))
    n.alive_or_fail()
    after = n.timeline(tl)
    check(after["flush_lsn"] == before["flush_lsn"] and after["commit_lsn"] == before["commit_lsn"],
          "WAL moved: %s -> %s" % (before, after))
    check(n.wal_bytes(tl, START, lsn(before["flush_lsn"])) == before_bytes, "committed WAL changed")
    _, metrics = n.http("/metrics")
    m = re.search(r"^walquorum_sk_connections_rejected_total (\d+)$", metrics, re.M)
    check(m and int(m.group(1)) >= 8, "rejected connections not counted: %s" % (m and m.group(1)))
    check('walquorum_sk_refusals_total{reason="wrong timeline"} 1' in metrics, "refusal not counted")
    return nodes


def scenario_cli(exe, client_exe, root):
    def run(*args):
        return subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=30)

    r = run("--help")
    check(r.returncode == 0 and "--listen-wal" in r.stdout and "--peers" in r.stdout, "--help: %s" % r.returncode)
    d = os.path.join(root, "cli")
    os.makedirs(d)
    good = ["--id", "1", "--data-dir", d, "--listen-wal", "127.0.0.1:0", "--listen-http", "127.0.0.1:0"]
    bad_cases = [
        ["--id", "x"] + good[2:],
        good[:6],  # no --listen-http
        good[:4] + ["--listen-wal", "127.0.0.1"] + good[6:],
        good[:4] + ["--listen-wal", "127.0.0.1:99999"] + good[6:],
        good + ["--bogus"],
        good + ["--log-level", "loud"],
        good + ["--peers", "127.0.0.1:5454,nohost"],
    ]
    toml_bad = os.path.join(root, "bad.toml")
    with open(toml_bad, "w") as f:
        f.write("id = \n")
    toml_unknown = os.path.join(root, "unknown.toml")
    with open(toml_unknown, "w") as f:
        f.write("id = 1\nlisten_wall = \"127.0.0.1:0\"\n")
    bad_cases += [["--config", toml_bad], ["--config", toml_unknown], ["--config", os.path.join(root, "missing.toml")]]
    for args in bad_cases:
        r = run(*args)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2, "%s: exit %s, expected 2 (%s)" % (args, r.returncode, r.stderr))
        check(len(lines) == 1 and "error" in lines[0], "%s: not one error line: %r" % (args, r.stderr))
        print("exit 2: %s" % lines[0])
    # A config file with flags overriding it starts a working node.
    toml_good = os.path.join(root, "good.toml")
    with open(toml_good, "w") as f:
        f.write('id = 7\ndata_dir = "%s"\nlisten_wal = "127.0.0.1:0"\nlisten_http = "127.0.0.1:1"\n'
                'peers = ["127.0.0.1:1", "127.0.0.1:2"]\nlisten_pg = "127.0.0.1:0"\n' % d)
    log = open(os.path.join(root, "cli.log"), "w")
    p = subprocess.Popen([exe, "--config", toml_good, "--listen-http", "127.0.0.1:0"],
                         stdout=log, stderr=log)
    try:
        wait_for("http.port", lambda: p.poll() is None and os.path.exists(os.path.join(d, "http.port")), timeout=20)
        port = int(open(os.path.join(d, "http.port")).read())
        with urllib.request.urlopen("http://127.0.0.1:%d/v1/status" % port, timeout=5) as resp:
            st = json.loads(resp.read())
        check(st["node_id"] == 7, "config id not used: %s" % st)
        # TOML listen_pg with port 0: the kernel's port is in <data>/pg.port and accepts.
        wait_for("pg.port", lambda: os.path.exists(os.path.join(d, "pg.port")), timeout=10)
        socket.create_connection(("127.0.0.1", int(open(os.path.join(d, "pg.port")).read())), timeout=5).close()
        check("event=peer_recovery_enabled peers=127.0.0.1:1,127.0.0.1:2" in open(os.path.join(root, "cli.log")).read(),
              "TOML peers not used")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        log.close()
    check(p.returncode == 0, "SIGTERM exit status %s" % p.returncode)
    return []


def flip_byte(node, tl, at):
    segno = at // SEG
    d = node.timeline_dir(tl)
    names = [f for f in os.listdir(d) if f.startswith("%08X%08X%08X" % (1, segno // 256, segno % 256))]
    with open(os.path.join(d, names[0]), "r+b") as f:
        f.seek(at % SEG)
        b = f.read(1)
        f.seek(at % SEG)
        f.write(bytes([b[0] ^ 0xFF]))


def write_garbage(node, tl, at, n):
    segno = at // SEG
    d = node.timeline_dir(tl)
    names = [f for f in os.listdir(d) if f.startswith("%08X%08X%08X" % (1, segno // 256, segno % 256))]
    with open(os.path.join(d, names[0]), "r+b") as f:
        f.seek(at % SEG)
        f.write(os.urandom(n))


def scenario_restart(exe, client_exe, root):
    """Restart scan: a torn tail (garbage after the end of WAL) is cut and the
    node votes again; a CRC error below the persisted commit LSN marks the
    timeline corrupt: logged, shown in HTTP, and the node refuses to vote."""
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xE4)
    # > 16 MiB, so the lazily persisted commit LSN moves into the second segment.
    c = Client(client_exe, nodes, tl, "--records", "9000", "--timeout-s", "90", "--wait-all")
    try:
        rc = c.wait()
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    st1, st3 = nodes[0].timeline(tl), nodes[2].timeline(tl)
    # The first record that starts in the persisted commit LSN's segment (after
    # the long page header and the continuation of the record crossing into it).
    pc = lsn(st3["persisted_commit_lsn"])
    seg_start = pc - pc % SEG
    hdr = nodes[2].wal_bytes(tl, seg_start, seg_start + 40)
    rem_len = int.from_bytes(hdr[16:20], "little")
    check(rem_len < 8192 - 40, "test assumes the continuation ends on the first page")
    first_rec = seg_start + ((40 + rem_len + 7) // 8) * 8
    check(pc > first_rec + 4096, "sk3 persisted commit LSN %s is not past the first record at %s" %
          (lsn_text(pc), lsn_text(first_rec)))
    for n in nodes:
        n.stop()
    # sk1: a torn tail above its end of WAL.
    end1 = lsn(st1["flush_lsn"])
    write_garbage(nodes[0], tl, end1, 3000)
    # sk3: one flipped byte in a record below its persisted commit LSN.
    flip_byte(nodes[2], tl, first_rec + 0x40)
    nodes[0].start()
    nodes[2].start()
    log1 = nodes[0].log()
    loaded = re.findall(r"event=timeline_loaded.*", log1)[-1]
    check("end_of_wal=%s " % lsn_text(end1) in loaded, "sk1 end of WAL moved: %s" % loaded)
    check('stop="zero tail"' not in loaded, "sk1 did not see the torn tail: %s" % loaded)
    print("sk1 torn tail cut: %s" % loaded)
    check(nodes[0].wal_bytes(tl, end1, end1 + 3000) == bytes(3000), "sk1 tail not zeroed")
    corrupt = re.findall(r"event=corrupt.*", nodes[2].log())
    check(corrupt, "sk3 did not log corruption")
    print("sk3: %s" % corrupt[-1])
    check(nodes[2].timeline(tl)["corrupt"] is True, "sk3 status not corrupt")
    # With sk2 down, sk1 + corrupt sk3 cannot elect anyone.
    c2 = Client(client_exe, nodes, tl, "--elect-only", "--proposer-id", "2", "--timeout-s", "3")
    try:
        rc = c2.wait(timeout=30)
    finally:
        c2.stop()
    check(rc == 4 and c2.elected_term is None, "elected with a corrupt acceptor (%s):\n%s" % (rc, c2.output()))
    _, metrics = nodes[2].http("/metrics")
    m = re.search(r'^walquorum_sk_refusals_total\{reason="corrupt"\} (\d+)$', metrics, re.M)
    check(m and int(m.group(1)) >= 1, "sk3 refused no vote as corrupt")
    print("sk3 refused to vote (corrupt); no election with sk2 down")
    # sk1 (torn tail cut) votes again: sk1 + sk2 elect.
    nodes[1].start()
    # Only sk1 and sk2 are named: both must vote. (With sk3 named too, the
    # proposer may choose its term from sk2's and sk3's greetings, below the
    # term sk1 reached while refusing the last proposer, and stop superseded.)
    c3 = Client(client_exe, nodes[:2], tl, "--elect-only", "--proposer-id", "3", "--timeout-s", "30")
    try:
        rc = c3.wait(timeout=60)
    finally:
        c3.stop()
    check(rc == 0 and c3.elected_term, "no election with sk1 + sk2 (%s):\n%s" % (rc, c3.output()))
    check(nodes[0].timeline(tl)["term"] == c3.elected_term, "sk1 did not vote")
    print("sk1 votes again after the torn tail was cut: term %d" % c3.elected_term)
    return nodes


def scenario_diskfull(exe, client_exe, root):
    """sk1's data directory is a 40 MiB tmpfs: once its WAL fills it, appends
    are refused (logged, counted as "no space"), the process and its HTTP keep
    working, and the other two keep committing. Skipped (77) without mount rights."""
    nodes = [Node(exe, root, i + 1) for i in range(3)]
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", nodes[0].dir],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        print("SKIP: cannot mount a tmpfs: %s" % mounted.stderr.strip())
        return "skip"
    try:
        for n in nodes:
            n.start()
        tl = new_timeline(0xF5)
        c = Client(client_exe, nodes, tl, "--records", "24000", "--record-bytes", "2000", "--timeout-s", "120")
        try:
            rc = c.wait(timeout=180)
            check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
        finally:
            c.stop()
        print("committed %s with sk1 out of space" % lsn_text(c.done))
        wait_for("sk1 disk_full log line", lambda: "event=disk_full" in nodes[0].log(), timeout=10)
        print("sk1: %s" % re.findall(r"event=disk_full.*", nodes[0].log())[0][:200])
        nodes[0].alive_or_fail()
        st = nodes[0].timeline(tl)
        check(lsn(st["flush_lsn"]) < c.done, "sk1 holds all WAL on a full disk? %s" % st)
        _, metrics = nodes[0].http("/metrics")
        m = re.search(r'^walquorum_sk_refusals_total\{reason="no space"\} (\d+)$', metrics, re.M)
        check(m and int(m.group(1)) >= 1, "no-space refusals not counted")
        # What sk1 holds is still readable WAL.
        print("pg_waldump sk1 up to its flush_lsn %s: %d records" %
              (st["flush_lsn"], pg_waldump_check(nodes[0], tl, lsn(st["flush_lsn"]))))
    finally:
        for n in nodes:
            n.stop()
        subprocess.run(["umount", "-l", nodes[0].dir], capture_output=True)
    return nodes


def scenario_retention(exe, client_exe, root):
    """--retention-bytes: whole segments more than that far below the persisted
    commit LSN are removed; the rest stays readable by pg_waldump."""
    nodes = [Node(exe, root, i + 1, ["--retention-bytes", str(SEG)]) for i in range(3)]
    for n in nodes:
        n.start()
    tl = new_timeline(0xA6)
    c = Client(client_exe, nodes, tl, "--records", "6000", "--record-bytes", "8000",
               "--batch-bytes", "131072", "--timeout-s", "120", "--wait-all")
    try:
        rc = c.wait(timeout=180)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    print("committed %s" % lsn_text(c.done))
    for n in nodes:
        pc = lsn(n.timeline(tl)["persisted_commit_lsn"])
        keep_from = (pc - SEG) - (pc - SEG) % SEG
        check(keep_from > START, "sk%d: persisted commit %s too low for removal" % (n.id, lsn_text(pc)))
        def removed(n=n, keep_from=keep_from):
            segs = sorted(f[:24] for f in os.listdir(n.timeline_dir(tl)) if re.fullmatch(r"[0-9A-F]{24}(\.partial)?", f))
            return segs and int(segs[0][8:16], 16) * 0x100000000 + int(segs[0][16:], 16) * SEG >= keep_from and segs
        segs = wait_for("sk%d to remove segments below %s" % (n.id, lsn_text(keep_from)), removed, timeout=20)
        print("sk%d keeps %s (persisted commit %s)" % (n.id, segs, lsn_text(pc)))
        # disk_bytes is refreshed by the I/O thread's housekeeping, once a second.
        wait_for("sk%d disk_bytes" % n.id, lambda n=n: n.timeline(tl)["disk_bytes"] > 0, timeout=10)
    return nodes


def seg_name(segno):
    return "%08X%08X%08X" % (1, segno // (0x100000000 // SEG), segno % (0x100000000 // SEG))


def segnos(d):
    """Segment numbers of the WAL files in directory d (complete or .partial)."""
    out = []
    for f in os.listdir(d):
        if re.fullmatch(r"[0-9A-F]{24}(\.partial)?", f):
            out.append(int(f[8:16], 16) * (0x100000000 // SEG) + int(f[16:24], 16))
    return sorted(out)


def pg_conninfo(node, tl):
    return ("host=127.0.0.1 port=%d user=learner application_name=sk_test "
            "options='-c tenant_id=%s -c timeline_id=%s'" % (node.pg_port, TENANT, tl))


def receivewal(node, tl, dest, *extra, timeout=120):
    """One bounded pg_receivewal run (--no-loop): ends with the stream (the
    safekeeper stopped, or --endpos reached) or is killed after `timeout`."""
    cmd = [PG_RECEIVEWAL, "-d", pg_conninfo(node, tl), "-D", dest, "--no-loop", "-n",
           "--status-interval", "1"] + list(extra)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate(timeout=10)
    return p.returncode, out


def check_received(node, tl, dest, commit, complete_upto):
    """pg_receivewal's files equal the safekeeper's WAL below `complete_upto`
    (what it must have: --endpos, or the commit LSN); from there up to the
    commit LSN they hold either the safekeeper's bytes or a zero tail (not
    received yet); at and beyond the commit LSN they are zero."""
    for segno in segnos(dest):
        base = os.path.join(dest, seg_name(segno))
        path = base if os.path.exists(base) else base + ".partial"
        with open(path, "rb") as f:
            data = f.read()
        seg_start = segno * SEG
        begin = max(seg_start, START)
        end = max(begin, min(commit, seg_start + len(data)))
        mine = node.wal_bytes(tl, begin, end)
        got = data[begin - seg_start:end - seg_start]
        i = 0
        while i < len(got) and got[i] == mine[i]:
            i += 1
        check(begin + i >= min(end, complete_upto) and not any(got[i:]),
              "%s differs from sk%d's WAL at %s (complete up to %s, commit %s)" % (
                  path, node.id, lsn_text(begin + i), lsn_text(complete_upto), lsn_text(commit)))
        check(not any(data[max(0, commit - seg_start):]),
              "%s holds bytes at or beyond the commit LSN %s" % (path, lsn_text(commit)))


def run_client(client_exe, nodes, tl, *args):
    c = Client(client_exe, nodes, tl, *args)
    try:
        rc = c.wait(timeout=180)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    return c.done


def start_receivewal(node, tl, dest, *extra):
    return subprocess.Popen([PG_RECEIVEWAL, "-d", pg_conninfo(node, tl), "-D", dest, "--no-loop", "-n",
                             "--status-interval", "1"] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_receivewal(p):
    if p.poll() is None:
        p.send_signal(signal.SIGCONT)
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def last_received(dest):
    """(segno, path) of the newest file pg_receivewal wrote, or None."""
    s = segnos(dest)
    if not s:
        return None
    base = os.path.join(dest, seg_name(s[-1]))
    return s[-1], (base + ".partial" if os.path.exists(base + ".partial") else base)


def scenario_pg_receivewal(exe, client_exe, root):
    """A real pg_receivewal streams committed WAL from --listen-pg: its
    segments equal the safekeeper's WAL up to the commit LSN and hold nothing
    beyond it; after kill -9 and restart a second run continues; a connection
    that names no timeline, or an unknown one, gets a clear error."""
    if not os.path.exists(PG_RECEIVEWAL):
        print("skip: %s not installed" % PG_RECEIVEWAL)
        return "skip"
    nodes = [Node(exe, root, i + 1, ["--listen-pg", "127.0.0.1:0"]) for i in range(3)]
    for n in nodes:
        n.start()
    tl = new_timeline(0xB1)
    sk = nodes[0]
    # A small first batch creates the timeline: pg_receivewal without a slot
    # starts at the segment of the commit LSN, so it joins in the first segment.
    # (A safekeeper learns commit LSNs from later appends, so it may lag the client's last.)
    run_client(client_exe, nodes, tl, "--records", "400", "--record-bytes", "1000",
               "--batch-bytes", "8192", "--timeout-s", "60", "--wait-all")
    wait_for("sk1 to know a commit LSN", lambda: lsn(sk.timeline(tl)["commit_lsn"]) > START, timeout=30)

    # No options: the error names what is missing.
    r = subprocess.run([PG_RECEIVEWAL, "-d", "host=127.0.0.1 port=%d user=x" % sk.pg_port, "-D",
                        root, "--no-loop", "-n"], capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "tenant_id" in r.stderr, "no-options error unclear (%d): %s" % (r.returncode, r.stderr))
    print("no options: %s" % r.stderr.strip().splitlines()[-1])
    # An unknown timeline: the not-found message reaches the client.
    r = subprocess.run([PG_RECEIVEWAL, "-d", pg_conninfo(sk, new_timeline(0xB2)), "-D", root, "--no-loop", "-n"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "not found" in r.stderr, "unknown timeline error unclear (%d): %s" % (r.returncode, r.stderr))
    print("unknown timeline: %s" % r.stderr.strip().splitlines()[-1])

    dest = os.path.join(root, "recv")
    os.makedirs(dest)
    endpos = START + SEG + SEG // 2
    # First run: streams while the bulk is written, ends at --endpos (in the second segment).
    p = start_receivewal(sk, tl, dest, "--endpos", lsn_text(endpos))
    try:
        run_client(client_exe, nodes, tl, "--records", "5000", "--record-bytes", "8000",
                   "--batch-bytes", "131072", "--timeout-s", "120", "--wait-all")
        commit = lsn(sk.timeline(tl)["commit_lsn"])  # what sk1 knows as committed
        check(commit - START >= 2 * SEG, "WAL does not cross two segments: %s" % lsn_text(commit))
        rc1 = p.wait(timeout=60)
        out1 = p.stdout.read()
        check(rc1 == 0, "first pg_receivewal failed (%d): %s" % (rc1, out1))
    finally:
        stop_receivewal(p)
    print("committed %s; first run ended at --endpos %s with %s" % (
        lsn_text(commit), lsn_text(endpos), [seg_name(s) for s in segnos(dest)]))
    check(segnos(dest)[0] == START // SEG, "first run did not start in the first segment: %s" % segnos(dest))
    check_received(sk, tl, dest, commit, endpos)
    # kill -9 and restart the safekeeper; the second run continues from its files.
    sk.kill9()
    sk.start()
    # After a restart the commit LSN is the persisted one (it may lag the one before).
    commit = lsn(sk.timeline(tl)["commit_lsn"])
    check(commit > endpos, "sk1's commit LSN after restart %s is below the first run's end" % lsn_text(commit))
    p = start_receivewal(sk, tl, dest)
    try:
        def received():
            check(p.poll() is None, "pg_receivewal exited early: %s" % (p.poll(),))
            last = last_received(dest)
            return last and last[0] == (commit - 1) // SEG and sk_bytes_match(sk, tl, last[1], last[0], commit)
        wait_for("pg_receivewal to reach the commit LSN %s" % lsn_text(commit), received, timeout=60, interval=0.2)
        wait_for("the learner in sk1's status", lambda: any(
            l.get("application_name") == "sk_test" and "conn" in l for l in sk.timeline(tl)["learners"]), timeout=10)
    finally:
        stop_receivewal(p)
    check_received(sk, tl, dest, commit, commit)
    print("second run: %s, identical to sk1 up to %s, zero beyond" % ([seg_name(s) for s in segnos(dest)], lsn_text(commit)))
    _, metrics = sk.http("/metrics")
    m = re.search(r"^walquorum_sk_learner_bytes_sent_total (\d+)", metrics, re.M)
    check(m and int(m.group(1)) > 0, "no learner bytes in /metrics")
    print("learner bytes sent after restart: %s" % m.group(1))
    return nodes


def sk_bytes_match(sk, tl, path, segno, commit):
    """The last received segment holds the safekeeper's bytes up to `commit`."""
    seg_start = segno * SEG
    begin = max(seg_start, START)
    with open(path, "rb") as f:
        f.seek(begin - seg_start)
        data = f.read(commit - begin)
    return data == sk.wal_bytes(tl, begin, commit)


def scenario_learner_removal(exe, client_exe, root):
    """With a learner on a slot, sk1 removes segments below min(persisted
    commit, its confirmed flush, truncate_lsn) and never one it has not confirmed: checked
    while the learner is stopped (SIGSTOP) and after sk1 restarts (the slot's
    position is persisted); once it confirms, the old segments go. sk2, with
    no learner and no --retention-bytes, keeps everything."""
    if not os.path.exists(PG_RECEIVEWAL):
        print("skip: %s not installed" % PG_RECEIVEWAL)
        return "skip"
    nodes = [Node(exe, root, i + 1, ["--listen-pg", "127.0.0.1:0"]) for i in range(3)]
    for n in nodes:
        n.start()
    tl = new_timeline(0xB3)
    sk = nodes[0]
    run_client(client_exe, nodes, tl, "--records", "400", "--record-bytes", "1000",
               "--batch-bytes", "8192", "--timeout-s", "60", "--wait-all")
    wait_for("sk1 to know a commit LSN", lambda: lsn(sk.timeline(tl)["commit_lsn"]) > START, timeout=30)
    dest = os.path.join(root, "recv")
    os.makedirs(dest)

    def slot_flush():
        for l in sk.timeline(tl)["learners"]:
            if l.get("slot") == "learner1":
                return lsn(l["flush_lsn"])
        return 0

    def oldest():
        return segnos(sk.timeline_dir(tl))[0]

    p = start_receivewal(sk, tl, dest, "--slot", "learner1")
    try:
        wait_for("the slot's first confirmed flush", slot_flush, timeout=30)
        # From here the learner confirms nothing: all it can have confirmed is in the first segment.
        p.send_signal(signal.SIGSTOP)
        run_client(client_exe, nodes, tl, "--records", "5000", "--record-bytes", "8000",
                   "--batch-bytes", "131072", "--timeout-s", "120", "--wait-all")
        held = slot_flush()
        check(held // SEG == START // SEG, "the stopped learner confirmed %s" % lsn_text(held))
        wait_for("sk1's persisted commit two segments on",
                 lambda: lsn(sk.timeline(tl)["persisted_commit_lsn"]) // SEG >= START // SEG + 2, timeout=30)
        # Housekeeping (removal, then disk_bytes) has run after the bulk was written.
        wait_for("a housekeeping round", lambda: sk.timeline(tl)["disk_bytes"] >= 2 * SEG, timeout=20)
        check(oldest() == START // SEG, "sk1 removed WAL the stopped learner needs: %s" % segnos(sk.timeline_dir(tl)))
        # Restart: the slot's position comes back from the control store.
        sk.kill9()
        sk.start()
        check(slot_flush() == held, "slot position lost across restart: %s" % sk.timeline(tl)["learners"])
        wait_for("a housekeeping round after restart", lambda: sk.timeline(tl)["disk_bytes"] >= 2 * SEG, timeout=20)
        check(oldest() == START // SEG, "sk1 removed WAL the slot needs after restart")
        print("learner stopped at %s: sk1 keeps %s" % (lsn_text(held), [seg_name(s) for s in segnos(sk.timeline_dir(tl))]))
    finally:
        stop_receivewal(p)
    # The learner comes back (the port changed with the restart) and confirms: removal follows.
    commit = lsn(sk.timeline(tl)["commit_lsn"])
    p = start_receivewal(sk, tl, dest, "--slot", "learner1")
    try:
        wait_for("the slot to confirm %s" % lsn_text(commit), lambda: slot_flush() >= commit, timeout=60, interval=0.2)
        # Removal also never passes truncate_lsn (what every safekeeper holds).
        st = sk.timeline(tl)
        keep = min(slot_flush(), lsn(st["persisted_commit_lsn"]), lsn(st["truncate_lsn"]))
        check(keep // SEG > START // SEG, "nothing to remove: keep %s" % lsn_text(keep))
        wait_for("sk1 to remove segments below %s" % lsn_text(keep), lambda: oldest() == keep // SEG, timeout=20)
        print("learner confirmed %s: sk1 keeps %s" % (lsn_text(keep), [seg_name(s) for s in segnos(sk.timeline_dir(tl))]))
    finally:
        stop_receivewal(p)
    check(segnos(nodes[1].timeline_dir(tl))[0] == START // SEG, "sk2 removed WAL without a learner")
    _, metrics = sk.http("/metrics")
    check(re.search(r'^walquorum_sk_learner_flush_lsn\{[^}]*timeline_id="%s"\} %d$' % (tl, slot_flush()), metrics, re.M),
          "walquorum_sk_learner_flush_lsn missing or wrong")
    return nodes


def scenario_sigstop(exe, client_exe, root):
    """SIGSTOP two of three under load: no commit is acknowledged while they are
    stopped; after SIGCONT commits resume and nothing committed is lost."""
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xA7)
    c = Client(client_exe, nodes, tl, "--records", "20000", "--record-bytes", "2000", "--timeout-s", "150",
               "--wait-all")
    try:
        wait_for("first commits", lambda: c.commit >= START + 1024 * 1024, timeout=60)
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGSTOP)
        # Acks already in socket buffers may still land: wait until the commit LSN
        # has not moved for 300 ms, then watch it for a second.
        last = [c.commit, time.monotonic()]

        def settled():
            if c.commit != last[0]:
                last[0], last[1] = c.commit, time.monotonic()
            return time.monotonic() - last[1] >= 0.3
        wait_for("commit LSN to settle", settled, timeout=10)
        stopped_at = c.commit
        window_end = time.monotonic() + 1.0
        while time.monotonic() < window_end:
            check(c.commit == stopped_at, "commit advanced to %s with two of three stopped (was %s)" %
                  (lsn_text(c.commit), lsn_text(stopped_at)))
            time.sleep(0.02)
        print("no commit for 1 s with sk2, sk3 stopped (commit %s)" % lsn_text(stopped_at))
        for n in nodes[1:]:
            n.proc.send_signal(signal.SIGCONT)
        wait_for("commits to resume", lambda: c.commit > stopped_at, timeout=30)
        print("commits resumed after SIGCONT: %s" % lsn_text(c.commit))
        rc = c.wait(timeout=180)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        for n in nodes[1:]:
            if n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
        c.stop()
    end = c.done
    for n in nodes:
        wait_for("sk%d to reach %s" % (n.id, lsn_text(end)),
                 lambda n=n: lsn(n.timeline(tl)["flush_lsn"]) >= end, timeout=60)
    ref = nodes[0].wal_bytes(tl, START, end)
    for n in nodes[1:]:
        check(n.wal_bytes(tl, START, end) == ref, "committed WAL of sk%d differs from sk1" % n.id)
    print("all three hold identical WAL up to %s" % lsn_text(end))
    return nodes


def scenario_takeover(exe, client_exe, root):
    """A second compute takes over with a higher term; the first stops with
    "superseded" and commits nothing past the second one's term start."""
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xA8)
    a = Client(client_exe, nodes, tl, "--records", "40000", "--record-bytes", "2000", "--timeout-s", "120")
    try:
        wait_for("first commits", lambda: a.commit >= START + 1024 * 1024, timeout=60)
        b = Client(client_exe, nodes, tl, "--elect-only", "--proposer-id", "2", "--timeout-s", "30")
        try:
            rc_b = b.wait(timeout=60)
        finally:
            b.stop()
        check(rc_b == 0 and b.elected_term and b.elected_term > (a.elected_term or 0),
              "second compute not elected (%s):\n%s" % (rc_b, b.output()))
        rc_a = a.wait(timeout=60)
    finally:
        a.stop()
    check(rc_a == 3 and a.superseded_by is not None and a.superseded_by >= b.elected_term,
          "first compute not superseded (%s):\n%s" % (rc_a, a.output()))
    check(a.commit <= b.term_start_lsn, "first compute committed %s past the new term's start %s" %
          (lsn_text(a.commit), lsn_text(b.term_start_lsn)))
    in_new_term = [n.id for n in nodes if n.timeline(tl)["term"] >= b.elected_term]
    check(len(in_new_term) >= 2, "no quorum in the new term: %s" % in_new_term)
    print("term %d took over at %s; the first compute stopped at commit %s (superseded by term %d)" %
          (b.elected_term, lsn_text(b.term_start_lsn), lsn_text(a.commit), a.superseded_by))
    return nodes


def peers_of(nodes, me):
    return ["--peers", ",".join("127.0.0.1:%d" % n.wal_port for n in nodes if n is not me)]


def max_commit(nodes, tl):
    return max(lsn(n.timeline(tl)["commit_lsn"]) for n in nodes)


def scenario_peer_recovery(exe, client_exe, root):
    """sk3 misses most of the WAL; restarted with --peers and no proposer
    running, it fetches the committed WAL from sk1/sk2 up to their commit LSN;
    the committed WAL is then byte-identical on all three. Reports the catch-up
    rate (TARGETS.md §4: >= 100 MB/s; reported, not asserted)."""
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xA9)
    c = Client(client_exe, nodes, tl, "--records", "300", "--timeout-s", "60", "--wait-all")
    try:
        rc = c.wait()
        check(rc == 0 and c.done, "first client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    nodes[2].stop()
    lag_at = c.done
    print("sk3 stopped at %s" % lsn_text(lag_at))
    c = Client(client_exe, nodes, tl, "--records", "12000", "--record-bytes", "6000",
               "--batch-bytes", "262144", "--proposer-id", "2", "--timeout-s", "150")
    try:
        rc = c.wait(timeout=200)
        check(rc == 0 and c.done, "second client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    target = max_commit(nodes[:2], tl)
    check(target >= c.done - 1024 * 1024 and target > lag_at + 32 * 1024 * 1024,
          "peers' commit %s too low (client commit %s)" % (lsn_text(target), lsn_text(c.done)))
    print("sk1/sk2 committed up to %s (%d MB beyond sk3)" % (lsn_text(target), (target - lag_at) // 10**6))
    nodes[2].extra_args = peers_of(nodes, nodes[2])
    t0 = time.monotonic()
    nodes[2].start()
    wait_for("sk3 to catch up to %s" % lsn_text(target),
             lambda: lsn(nodes[2].timeline(tl)["flush_lsn"]) >= target, timeout=120)
    took = time.monotonic() - t0
    st = nodes[2].timeline(tl)
    check(lsn(st["commit_lsn"]) >= target, "sk3 commit_lsn %s below %s" % (st["commit_lsn"], lsn_text(target)))
    check(st["peer_recovery"]["bytes"] >= target - lag_at - 1024 * 1024, "status: %s" % st["peer_recovery"])
    ref = nodes[0].wal_bytes(tl, START, target)
    for n in nodes[1:]:
        check(n.wal_bytes(tl, START, target) == ref, "committed WAL of sk%d differs from sk1" % n.id)
    print("committed WAL identical on all three up to %s" % lsn_text(target))
    # (No pg_waldump here: sk_client's second proposer writes its first record
    # with xl_prev 0, which pg_waldump rejects on every node alike.)
    _, metrics = nodes[2].http("/metrics")
    m = re.search(r"^walquorum_sk_peer_recovery_bytes_total (\d+)$", metrics, re.M)
    check(m and int(m.group(1)) >= target - lag_at - 1024 * 1024, "peer recovery bytes: %s" % (m and m.group(1)))
    check("walquorum_sk_peer_recoveries_active" in metrics, "/metrics lacks active recoveries")
    rates = re.findall(r"event=peer_recovery_done .* bytes=(\d+) seconds=([0-9.]+) mb_per_s=([0-9.]+)",
                       nodes[2].log())
    print("catch-up: %.1f MB in %.2f s from process start = %.1f MB/s; per peer: %s" %
          ((target - lag_at) / 1e6, took, (target - lag_at) / 1e6 / took,
           ", ".join("%s MB/s (%s bytes)" % (r[2], r[0]) for r in rates)))
    # No proposer, nothing more to fetch: the round ended.
    wait_for("sk3 round to end", lambda: not nodes[2].timeline(tl)["peer_recovery"]["active"], timeout=20)
    return nodes


def corrupt_point(node, tl):
    """An LSN inside the first record that starts in the segment of the node's
    persisted commit LSN, well below that LSN."""
    pc = lsn(node.timeline(tl)["persisted_commit_lsn"])
    seg_start = pc - pc % SEG
    hdr = node.wal_bytes(tl, seg_start, seg_start + 40)
    rem_len = int.from_bytes(hdr[16:20], "little")
    check(rem_len < 8192 - 40, "test assumes the continuation ends on the first page")
    first_rec = seg_start + ((40 + rem_len + 7) // 8) * 8
    check(pc > first_rec + 4096, "persisted commit LSN %s is not past the first record at %s" %
          (lsn_text(pc), lsn_text(first_rec)))
    return first_rec + 0x40


def scenario_corrupt_repair(exe, client_exe, root):
    """A byte flipped below sk3's persisted commit LSN: sk3 refuses to vote;
    restarted with --peers it repairs the WAL from a peer (sk1 is down, so the
    first peer may fail), votes again (sk2 + sk3 elect a proposer) and holds
    the same committed bytes as the others."""
    nodes = start_cluster(exe, root)
    tl = new_timeline(0xAA)
    c = Client(client_exe, nodes, tl, "--records", "9000", "--timeout-s", "90", "--wait-all")
    try:
        rc = c.wait()
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    end = c.done
    at = corrupt_point(nodes[2], tl)
    nodes[2].stop()
    flip_byte(nodes[2], tl, at)
    nodes[2].start()
    check(re.findall(r"event=corrupt .*", nodes[2].log()), "sk3 did not log corruption")
    check(nodes[2].timeline(tl)["corrupt"] is True, "sk3 status not corrupt")
    nodes[0].stop()
    c2 = Client(client_exe, nodes, tl, "--elect-only", "--proposer-id", "2", "--timeout-s", "3")
    try:
        rc = c2.wait(timeout=30)
    finally:
        c2.stop()
    check(rc == 4 and c2.elected_term is None, "elected with a corrupt acceptor (%s):\n%s" % (rc, c2.output()))
    print("sk3 corrupt at %s: refuses to vote; no election with sk1 down" % lsn_text(at))
    nodes[2].stop()
    nodes[2].extra_args = peers_of(nodes, nodes[2])
    nodes[2].start()
    wait_for("sk3 repaired", lambda: nodes[2].timeline(tl)["corrupt"] is False, timeout=60)
    repaired = re.findall(r"event=repaired.*", nodes[2].log())
    check(repaired, "no repaired log line")
    print("sk3: %s" % repaired[-1][:200])
    # Repaired up to the committed WAL the peers know of (the client's last
    # commit LSN may not have reached them before it exited).
    st3 = nodes[2].timeline(tl)
    end = lsn(st3["flush_lsn"])
    check(end >= lsn(st3["persisted_commit_lsn"]) and end >= lsn(nodes[1].timeline(tl)["commit_lsn"]),
          "sk3 repaired only to %s: %s" % (lsn_text(end), st3))
    c3 = Client(client_exe, nodes[1:], tl, "--elect-only", "--proposer-id", "3", "--timeout-s", "30")
    try:
        rc = c3.wait(timeout=60)
    finally:
        c3.stop()
    check(rc == 0 and c3.elected_term, "sk2 + sk3 did not elect (%s):\n%s" % (rc, c3.output()))
    check(nodes[2].timeline(tl)["term"] == c3.elected_term, "sk3 did not vote")
    print("sk3 votes again: elected term %d with sk2 + sk3" % c3.elected_term)
    ref = nodes[1].wal_bytes(tl, START, end)
    check(nodes[2].wal_bytes(tl, START, end) == ref, "sk3's repaired WAL differs from sk2's")
    nodes[0].start()
    check(nodes[0].wal_bytes(tl, START, end) == ref, "sk1's WAL differs from sk2's")
    print("committed WAL identical on all three up to %s" % lsn_text(end))
    _, metrics = nodes[2].http("/metrics")
    check(re.search(r"^walquorum_sk_peer_recovery_repairs_total 1$", metrics, re.M), "repair not counted")
    return nodes


def proc_rss_kb(node):
    with open("/proc/%d/status" % node.proc.pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def proc_cpu_s(node):
    with open("/proc/%d/stat" % node.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario_many_timelines(exe, client_exe, root):
    """300 timelines on each of three safekeepers (created over HTTP), 30 of
    them with WAL from sk_client: a timeline with a little WAL costs about one
    allocation chunk of disk, not a 16 MiB segment plus a preallocated next one;
    the daemons stay healthy and reload every timeline after a restart. RSS and
    idle CPU are reported (the 1,000-timeline figures come from tests/bench)."""
    nodes = start_cluster(exe, root)
    count, with_wal = 300, 30
    tls = ["%08x" % (0x51000000 + i) + "ab" * 12 for i in range(count)]

    def post(node, tl):
        url = "http://127.0.0.1:%d/v1/tenant/%s/timeline/%s" % (node.http_port, TENANT, tl)
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=20) as r:
            return r.status
    t0 = time.monotonic()
    for n in nodes:
        for tl in tls:
            check(post(n, tl) in (200, 201), "create %s on sk%d" % (tl, n.id))
    print("created %d timelines on each of 3 nodes in %.1f s" % (count, time.monotonic() - t0))
    # WAL into the first `with_wal` timelines, ten clients at a time.
    ends = {}
    for batch in range(0, with_wal, 10):
        cs = [(tl, Client(client_exe, nodes, tl, "--records", "200", "--timeout-s", "60", "--wait-all"))
              for tl in tls[batch:batch + 10]]
        try:
            for tl, c in cs:
                rc = c.wait(timeout=90)
                check(rc == 0 and c.done, "client on %s failed (%s):\n%s" % (tl, rc, c.output()))
                ends[tl] = c.done
        finally:
            for _, c in cs:
                c.stop()
    print("WAL written to %d timelines (about %d KiB each)" % (with_wal, (max(ends.values()) - START) // 1024))

    def disk_report(n):
        st = json.loads(n.http("/v1/status")[1])
        check(len(st["timelines"]) == count, "sk%d lists %d timelines" % (n.id, len(st["timelines"])))
        per = {t["timeline_id"]: t["disk_bytes"] for t in st["timelines"]}
        return per
    for n in nodes:
        # disk_bytes is refreshed by housekeeping once a second.
        per = wait_for("sk%d disk_bytes of the WAL timelines" % n.id,
                       lambda n=n: (lambda p: p if all(p[tl] > 0 for tl in ends) else None)(disk_report(n)),
                       timeout=20)
        worst = max(per[tl] for tl in ends)
        check(worst <= 4 * 1024 * 1024, "sk%d: a timeline with %d KiB of WAL uses %d bytes of disk" %
              (n.id, (max(ends.values()) - START) // 1024, worst))
        empty = [tl for tl in tls if tl not in ends and per[tl] != 0]
        check(not empty, "sk%d: timelines without WAL use disk: %s" % (n.id, empty[:3]))
        total = sum(per.values())
        print("sk%d: %d timelines, WAL timelines use at most %d KiB each, %d MiB in all; RSS %d MiB" %
              (n.id, count, worst // 1024, total // 2**20, proc_rss_kb(n) // 1024))
    cpu0 = [proc_cpu_s(n) for n in nodes]
    t0 = time.monotonic()
    time.sleep(2.0)  # a measurement window, not a wait for a condition
    el = time.monotonic() - t0
    print("idle CPU over %.1f s: %s" % (el, ", ".join("sk%d %.1f%%" % (n.id, 100 * (proc_cpu_s(n) - c) / el)
                                                      for n, c in zip(nodes, cpu0))))
    # A restart reloads every timeline, scans each WAL, and stays small.
    n = nodes[0]
    n.stop()
    t0 = time.monotonic()
    n.start()
    per = wait_for("sk1 reloaded", lambda: disk_report(n), timeout=30)
    print("sk1 restarted with %d timelines in %.1f s" % (count, time.monotonic() - t0))
    for tl, end in ends.items():
        check(lsn(n.timeline(tl)["flush_lsn"]) >= end, "sk1 lost WAL of %s" % tl)
    per = wait_for("sk1 disk_bytes", lambda: (lambda p: p if all(p[tl] > 0 for tl in ends) else None)(disk_report(n)),
                   timeout=20)
    check(max(per[tl] for tl in ends) <= 4 * 1024 * 1024, "sk1 grew after restart: %d" % max(per.values()))
    for x in nodes:
        x.alive_or_fail()
    return nodes


SCENARIOS = {"basic": scenario_basic, "kill9": scenario_kill9, "hostile": scenario_hostile, "cli": scenario_cli,
             "restart": scenario_restart, "diskfull": scenario_diskfull,
             "retention": scenario_retention, "sigstop": scenario_sigstop,
             "takeover": scenario_takeover, "peer_recovery": scenario_peer_recovery,
             "corrupt_repair": scenario_corrupt_repair, "many_timelines": scenario_many_timelines,
             "pg_receivewal": scenario_pg_receivewal, "learner_removal": scenario_learner_removal}


def main():
    scenario, exe, client_exe = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    root = tempfile.mkdtemp(prefix="sk_%s_" % scenario)
    nodes = STARTED
    ok = False
    try:
        if SCENARIOS[scenario](exe, client_exe, root) == "skip":
            shutil.rmtree(root, ignore_errors=True)
            return 77
        ok = True
        print("PASS %s" % scenario)
    finally:
        for n in nodes:
            try:
                n.stop()
            except Exception as e:  # keep stopping the others
                print("stopping sk%d: %s" % (n.id, e))
        if not ok:
            for n in nodes:
                if os.path.exists(n.log_path):
                    print("---- sk%d log (tail) ----\n%s" % (n.id, n.log()[-4000:]))
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("data kept in %s" % root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
