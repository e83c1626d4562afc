#!/usr/bin/env python3
"""pgwire integration tests: real PostgreSQL 15 clients (pg_receivewal, psql)
and raw sockets against pgwire::ReplicationServer, hosted by pgwire_dirserver
over WAL segments written by walquorum-walgen (1 MiB segments). The server
listens on 127.0.0.1:0 and writes its port to a file; the commit LSN moves
forward when the test writes "commit X/Y" to the server's stdin. Every process
is stopped by PID in a finally block; every wait is a bounded poll.

usage: pgwire_test.py SCENARIO PGWIRE_DIRSERVER WALGEN
scenarios:
  stream    pg_receivewal streams up to the commit LSN only (byte-identical
            prefix, zeros after), follows the commit LSN, ends on SIGINT
  slot      --slot: READ_REPLICATION_SLOT gives the last confirmed flush,
            --create-slot / --drop-slot, feedback reaches the host
  refusals  clear errors for connections without replication=true or the
            timeline options, an unknown timeline, SQL, lower-case keywords,
            unknown SHOW parameters, a foreign timeline
  standby   a real PG15 hot standby replays a real primary's WAL from the
            server up to the commit LSN, sending status and hot-standby feedback
  hostile   raw sockets: garbage, truncated and oversized packets, unknown
            message types and subtypes, start beyond commit, removed WAL,
            keepalive on request; the server stays up and still streams
"""
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wqtest import lsn, lsn_text, check  # noqa: E402
import wqtest  # noqa: E402


def wait_for(what, pred, timeout=60.0, interval=0.05):
    return wqtest.wait_for(what, pred, timeout, interval)


PG_BIN = "/usr/lib/postgresql/15/bin"
TENANT = "0123456789abcdef0123456789abcdef"
TIMELINE = "fedcba9876543210fedcba9876543210"
SEG = 1 << 20
PROCS = []  # every process started: stopped by PID at the end


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


class DirServer:
    def __init__(self, exe, root, src, commit):
        self.log_path = os.path.join(root, "dirserver.log")
        port_file = os.path.join(root, "dirserver.port")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [exe, "--dir", src, "--tenant", TENANT, "--timeline", TIMELINE,
             "--commit", lsn_text(commit), "--port-file", port_file, "--keepalive-ms", "500"],
            stdin=subprocess.PIPE, stdout=self.log, stderr=self.log)
        PROCS.append(self.proc)
        self.port = int(wait_for("the server's port file",
                                 lambda: (read_file(port_file) or b"").strip(), timeout=30))

    def commit(self, value):
        self.proc.stdin.write(("commit %s\n" % lsn_text(value)).encode())
        self.proc.stdin.flush()

    def log_text(self):
        return (read_file(self.log_path) or b"").decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None


def conninfo(port, options=True, replication="true", tenant=TENANT, timeline=TIMELINE):
    s = "host=127.0.0.1 port=%d user=walquorum_test connect_timeout=10" % port
    if replication is not None:
        s += " replication=%s" % replication
    if options:
        s += " options='-c tenant_id=%s -c timeline_id=%s'" % (tenant, timeline)
    return s


def start_receivewal(root, name, port, target, extra=()):
    log_path = os.path.join(root, name + ".log")
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [os.path.join(PG_BIN, "pg_receivewal"), "-d", conninfo(port), "-D", target, "--no-loop",
         "-v", "--no-password", "-s", "1"] + list(extra),
        stdout=log, stderr=log, env=dict(os.environ, PGCONNECT_TIMEOUT="10"))
    PROCS.append(proc)
    return proc, log_path


def stop(proc, sig=signal.SIGINT, timeout=30):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError("pid %d did not exit within %d s of signal %d" % (proc.pid, timeout, sig))


def segment_file(segno):
    return "00000001%08X%08X" % (segno * SEG >> 32, (segno * SEG & 0xFFFFFFFF) // SEG)


def make_wal(walgen, root):
    src = os.path.join(root, "src")
    out = subprocess.run([walgen, "--out", src, "--segments", "3", "--segment-size-mb", "1"],
                         check=True, capture_output=True, text=True).stdout
    end = lsn(re.search(r"end=(\S+)", out).group(1))
    check(end > 2 * SEG + SEG // 2, "walgen ended at %s, expected in the third segment" % lsn_text(end))
    return src, end


def prefix_matches(src, dst, segno, upto, complete):
    """dst holds segment segno with the source's bytes below offset `upto`
    (relative to the segment) and zeros after it. complete: renamed, full copy."""
    name = segment_file(segno)
    want = read_file(os.path.join(src, name))
    got = read_file(os.path.join(dst, name if complete else name + ".partial"))
    if got is None or len(got) != SEG:
        return False
    if complete:
        return got == want
    return got[:upto] == want[:upto] and got[upto:] == bytes(SEG - upto)


def partial_state(src, dst, segno, upto):
    """Why prefix_matches failed, for the assertion message."""
    name = segment_file(segno)
    got = read_file(os.path.join(dst, name + ".partial"))
    want = read_file(os.path.join(src, name))
    if got is None:
        return "%s.partial missing (dir: %s)" % (name, sorted(os.listdir(dst)))
    first_diff = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
    last_nonzero = max((i for i in range(len(got)) if got[i] != 0), default=-1)
    return "%s.partial: %d bytes, first difference at %s, last non-zero byte at %d, expected " \
           "source bytes below %d and zeros after" % (name, len(got), first_diff, last_nonzero, upto)


# ---------------------------------------------------------------- scenarios

def scenario_stream(dirserver_exe, walgen, root):
    src, end = make_wal(walgen, root)
    commit1 = 2 * SEG + 300001  # mid-segment, not page-aligned, likely mid-record
    srv = DirServer(dirserver_exe, root, src, commit1)
    dst = os.path.join(root, "dst")
    os.makedirs(dst)
    # An empty .partial of the first segment makes pg_receivewal start there
    # instead of at the segment of IDENTIFY_SYSTEM's xlogpos.
    open(os.path.join(dst, segment_file(1) + ".partial"), "wb").close()
    proc, log_path = start_receivewal(root, "receivewal", srv.port, dst, ["--no-sync"])
    try:
        wait_for("segment 1 complete and identical",
                 lambda: prefix_matches(src, dst, 1, SEG, True) or proc.poll() is not None)
        check(proc.poll() is None, "pg_receivewal exited: %s" % read_file(log_path))
        # pg_receivewal reports write = everything received; once it reports
        # commit1, the file must hold exactly the source up to commit1.
        wait_for("feedback write=%s" % lsn_text(commit1),
                 lambda: "write=%s " % lsn_text(commit1) in srv.log_text())
        check(prefix_matches(src, dst, 2, commit1 - 2 * SEG, False),
              "after commit 1: " + partial_state(src, dst, 2, commit1 - 2 * SEG))
        check(not os.path.exists(os.path.join(dst, segment_file(3) + ".partial")),
              "segment 3 was started although the commit LSN is in segment 2")

        srv.commit(end)
        wait_for("segment 2 complete", lambda: prefix_matches(src, dst, 2, SEG, True))
        wait_for("feedback write=%s" % lsn_text(end),
                 lambda: "write=%s " % lsn_text(end) in srv.log_text())
        check(prefix_matches(src, dst, 3, end - 3 * SEG, False),
              "after commit 2: " + partial_state(src, dst, 3, end - 3 * SEG))
        rc = stop(proc, signal.SIGINT)
        log = (read_file(log_path) or b"").decode(errors="replace")
        check(rc == 0, "pg_receivewal exited %d after SIGINT: %s" % (rc, log))
        check("starting log streaming at 0/100000 (timeline 1)" in log, "start point: " + log)
        check(prefix_matches(src, dst, 3, end - 3 * SEG, False),
              "after SIGINT: " + partial_state(src, dst, 3, end - 3 * SEG))
        check(srv.alive(), "the server died")
        check("event=pg_conn_closed" in srv.log_text(), "the server did not log the close")
    finally:
        stop(proc, signal.SIGKILL)


def receivewal_until_write(srv, root, name, dst, upto, extra):
    proc, log_path = start_receivewal(root, name, srv.port, dst, extra)
    try:
        wait_for("%s: feedback with write=%s" % (name, lsn_text(upto)),
                 lambda: ("write=%s " % lsn_text(upto)) in srv.log_text() and
                 srv.log_text().count("write=%s " % lsn_text(upto)) > 0 or proc.poll() is not None)
        check(proc.poll() is None, "%s exited: %s" % (name, read_file(log_path)))
        rc = stop(proc, signal.SIGINT)
        log = (read_file(log_path) or b"").decode(errors="replace")
        check(rc == 0, "%s exited %d: %s" % (name, rc, log))
        return log
    finally:
        stop(proc, signal.SIGKILL)


def run_receivewal_action(port, args):
    r = subprocess.run([os.path.join(PG_BIN, "pg_receivewal"), "-d", conninfo(port), "--no-password",
                        "-v"] + args, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def scenario_slot(dirserver_exe, walgen, root):
    src, end = make_wal(walgen, root)
    commit1 = 2 * SEG + 300001
    srv = DirServer(dirserver_exe, root, src, commit1)

    rc, out = run_receivewal_action(srv.port, ["--slot", "learner1", "--create-slot"])
    check(rc == 0, "--create-slot failed (%d): %s" % (rc, out))

    # Run 1: no slot position yet -> IDENTIFY_SYSTEM's xlogpos (segment 2).
    dst1 = os.path.join(root, "dst1")
    os.makedirs(dst1)
    log = receivewal_until_write(srv, root, "run1", dst1, commit1,
                                 ["--slot", "learner1", "--synchronous"])
    check("starting log streaming at 0/200000 (timeline 1)" in log, "run1 start: " + log)
    wait_for("flush feedback for slot learner1",
             lambda: "slot=learner1 write=%s flush=%s" % (lsn_text(commit1), lsn_text(commit1))
             in srv.log_text())
    check(prefix_matches(src, dst1, 2, commit1 - 2 * SEG, False),
          "run1: " + partial_state(src, dst1, 2, commit1 - 2 * SEG))

    # Run 2, commit now in segment 3, empty directory: READ_REPLICATION_SLOT
    # gives the slot's confirmed flush (segment 2), not xlogpos (segment 3).
    srv.commit(end)
    dst2 = os.path.join(root, "dst2")
    os.makedirs(dst2)
    log = receivewal_until_write(srv, root, "run2", dst2, end, ["--slot", "learner1", "--synchronous"])
    check("starting log streaming at 0/200000 (timeline 1)" in log, "run2 start: " + log)
    check(prefix_matches(src, dst2, 2, SEG, True), "run2: segment 2 is not a full copy")
    check(prefix_matches(src, dst2, 3, end - 3 * SEG, False),
          "run2: " + partial_state(src, dst2, 3, end - 3 * SEG))

    # Drop: the slot position is forgotten, run 3 starts at xlogpos (segment 3).
    rc, out = run_receivewal_action(srv.port, ["--slot", "learner1", "--drop-slot"])
    check(rc == 0, "--drop-slot failed (%d): %s" % (rc, out))
    dst3 = os.path.join(root, "dst3")
    os.makedirs(dst3)
    marker = srv.log_text().count("slot=learner1 write=%s " % lsn_text(end))
    proc, log_path = start_receivewal(root, "run3", srv.port, dst3, ["--slot", "learner1"])
    try:
        wait_for("run3 streaming", lambda: srv.log_text().count(
            "slot=learner1 write=%s " % lsn_text(end)) > marker or proc.poll() is not None)
        check(proc.poll() is None, "run3 exited: %s" % read_file(log_path))
        stop(proc, signal.SIGINT)
        log = (read_file(log_path) or b"").decode(errors="replace")
        check("starting log streaming at 0/300000 (timeline 1)" in log, "run3 start: " + log)
    finally:
        stop(proc, signal.SIGKILL)
    check(srv.alive(), "the server died")


def psql(port, sql, **kw):
    r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-w", "-d", conninfo(port, **kw),
                        "-c", sql], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def expect_psql_error(port, sql, needle, **kw):
    rc, out, err = psql(port, sql, **kw)
    check(rc != 0, "psql %r (%s) succeeded: %r" % (sql, kw, out))
    check(needle in err, "psql %r (%s): expected %r in the error, got %r" % (sql, kw, needle, err))


def scenario_refusals(dirserver_exe, walgen, root):
    src, end = make_wal(walgen, root)
    srv = DirServer(dirserver_exe, root, src, end)
    port = srv.port
    expect_psql_error(port, "IDENTIFY_SYSTEM",
                      "the connection does not name its timeline: tenant_id and timeline_id missing",
                      options=False)
    expect_psql_error(port, "IDENTIFY_SYSTEM", "timeline_id \"xyz\" is not 32 hex digits",
                      timeline="xyz")
    expect_psql_error(port, "IDENTIFY_SYSTEM", "does not exist on this server", timeline="ab" * 16)
    expect_psql_error(port, "SELECT 1", "serves only physical replication connections",
                      replication=None)
    expect_psql_error(port, "SELECT 1", "serves only physical replication connections",
                      replication="false")
    expect_psql_error(port, "IDENTIFY_SYSTEM", "invalid value for parameter \"replication\"",
                      replication="maybe")
    expect_psql_error(port, "SELECT 1",
                      "cannot execute SQL commands in WAL sender for physical replication")
    expect_psql_error(port, "identify_system",
                      "cannot execute SQL commands in WAL sender for physical replication")
    expect_psql_error(port, "SHOW no_such_parameter",
                      "unrecognized configuration parameter \"no_such_parameter\"")
    expect_psql_error(port, "TIMELINE_HISTORY 1", "could not open file \"pg_wal/00000001.history\"")
    expect_psql_error(port, "TIMELINE_HISTORY 0", "invalid timeline 0")
    expect_psql_error(port, "START_REPLICATION 0/100000 TIMELINE 2",
                      "requested timeline 2 is not in this server's history")
    expect_psql_error(port, "START_REPLICATION SLOT \"Bad-Name\" 0/100000",
                      "contains invalid character")
    expect_psql_error(port, "BASE_BACKUP", "BASE_BACKUP is not supported by this server")
    expect_psql_error(port, "START_REPLICATION SLOT s LOGICAL 0/0", "logical replication is not supported")

    rc, out, err = psql(port, "IDENTIFY_SYSTEM")
    check(rc == 0, "IDENTIFY_SYSTEM failed: %s" % err)
    fields = out.strip().split("|")
    check(len(fields) == 4 and fields[1] == "1" and fields[2] == lsn_text(end) and fields[3] == "",
          "IDENTIFY_SYSTEM row: %r" % out)
    with open(os.path.join(src, segment_file(1)), "rb") as f:
        sysid = struct.unpack_from("<Q", f.read(40), 24)[0]
    check(fields[0] == str(sysid), "systemid %s, the segments say %d" % (fields[0], sysid))
    for sql, want in (("SHOW wal_segment_size", "1MB"), ("SHOW data_directory_mode", "0700"),
                      ("SHOW WAL_SEGMENT_SIZE;", "1MB"), ("SHOW server_version_num", "150000")):
        rc, out, err = psql(port, sql)
        check(rc == 0 and out.strip() == want, "%s: rc %d out %r err %r" % (sql, rc, out, err))
    rc, out, err = psql(port, "READ_REPLICATION_SLOT unknown_slot")
    check(rc == 0 and out.strip() == "physical||", "READ_REPLICATION_SLOT: %r %r" % (out, err))
    check(srv.alive(), "the server died")


# ---- raw protocol client for the hostile scenario

def startup_packet(params):
    body = struct.pack("!I", 196608)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


GOOD_PARAMS = {"user": "t", "database": "replication", "replication": "true",
               "options": "-c tenant_id=%s -c timeline_id=%s" % (TENANT, TIMELINE),
               "application_name": "hostile"}


class Raw:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed with %d of %d bytes" % (len(self.buf), n))
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def msg(self):
        t = self.recv_exact(1)
        (n,) = struct.unpack("!I", self.recv_exact(4))
        return t.decode("latin1"), self.recv_exact(n - 4)

    def until(self, types):
        """Messages up to and including the first of a type in `types`."""
        out = []
        for _ in range(10000):
            t, body = self.msg()
            out.append((t, body))
            if t in types:
                return out
        raise AssertionError("no message of type %s in 10000" % types)

    def closed(self):
        """True if the server closes the connection (after any bytes it sends)."""
        try:
            for _ in range(1000):
                if not self.s.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        return False

    def query(self, text):
        b = text.encode() + b"\0"
        self.send(b"Q" + struct.pack("!I", len(b) + 4) + b)

    def copy_data(self, payload):
        self.send(b"d" + struct.pack("!I", len(payload) + 4) + payload)

    def close(self):
        self.s.close()


def error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def login(port):
    c = Raw(port)
    c.send(struct.pack("!II", 8, 80877103))  # SSLRequest
    check(c.recv_exact(1) == b"N", "SSLRequest not answered 'N'")
    c.send(startup_packet(GOOD_PARAMS))
    msgs = c.until("ZE")
    check(msgs[-1][0] == "Z", "login failed: %r" % msgs)
    params = {b.split(b"\0")[0].decode(): b.split(b"\0")[1].decode() for t, b in msgs if t == "S"}
    check(params.get("integer_datetimes") == "on" and params.get("server_version", "").startswith("15."),
          "ParameterStatus: %r" % params)
    check(msgs[0] == ("R", struct.pack("!I", 0)), "no AuthenticationOk first: %r" % (msgs[0],))
    return c


def expect_fatal_and_close(c, needle):
    t, body = c.msg()
    check(t == "E", "expected ErrorResponse, got %r %r" % (t, body))
    f = error_fields(body)
    check(f.get("S") == "FATAL" and needle in f.get("M", ""), "error fields %r, wanted %r" % (f, needle))
    check(c.closed(), "the connection stayed open after FATAL")
    c.close()


def scenario_hostile(dirserver_exe, walgen, root):
    src, end = make_wal(walgen, root)
    commit = 2 * SEG + 12345
    srv = DirServer(dirserver_exe, root, src, commit)
    port = srv.port

    c = Raw(port)  # a length field below 8
    c.send(b"\x00\x00\x00\x03garbage")
    expect_fatal_and_close(c, "invalid length of startup packet")
    c = Raw(port)  # oversized startup packet
    c.send(struct.pack("!II", 20000, 196608) + b"x" * 100)
    expect_fatal_and_close(c, "invalid length of startup packet")
    c = Raw(port)  # HTTP at the replication port
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect_fatal_and_close(c, "invalid length of startup packet")
    c = Raw(port)  # wrong protocol version
    c.send(struct.pack("!II", 9, 2 << 16) + b"\0")
    expect_fatal_and_close(c, "unsupported frontend protocol 2.0")
    c = Raw(port)  # a key without its value
    c.send(struct.pack("!II", 13, 196608) + b"user\0")
    expect_fatal_and_close(c, "has no value")
    c = Raw(port)  # truncated startup packet, then the client goes away
    c.send(startup_packet(GOOD_PARAMS)[:20])
    c.close()
    c = Raw(port)  # CancelRequest: closed without an answer
    c.send(struct.pack("!IIII", 16, 80877102, 1, 2))
    check(c.closed(), "CancelRequest: connection not closed")
    c.close()
    c = Raw(port)  # GSSENCRequest then SSLRequest, both refused, then a missing user
    c.send(struct.pack("!II", 8, 80877104))
    check(c.recv_exact(1) == b"N", "GSSENCRequest not answered 'N'")
    c.send(startup_packet({"replication": "true"}))
    expect_fatal_and_close(c, "no PostgreSQL user name")

    c = login(port)
    c.send(b"P" + struct.pack("!I", 8) + b"\0\0\0\0")  # extended protocol Parse
    msgs = c.until("Z")
    check([t for t, _ in msgs] == ["E", "Z"] and "message type 'P' is not supported" in
          error_fields(msgs[0][1]).get("M", ""), "Parse: %r" % msgs)
    c.query("START_REPLICATION foo")
    msgs = c.until("Z")
    check(msgs[0][0] == "E" and error_fields(msgs[0][1]).get("C") == "42601", "syntax error: %r" % msgs)
    c.query("IDENTIFY_SYSTEM")
    msgs = c.until("Z")
    check([t for t, _ in msgs] == ["T", "D", "C", "Z"], "IDENTIFY_SYSTEM after errors: %r" % msgs)
    c.query("START_REPLICATION 9/0")  # beyond the commit LSN: after CopyBothResponse
    msgs = c.until("Z")
    check([t for t, _ in msgs] == ["W", "E", "Z"] and "ahead of the WAL commit position" in
          error_fields(msgs[1][1]).get("M", ""), "start beyond commit: %r" % msgs)
    c.query("START_REPLICATION 0/0")  # segment 0 does not exist: removed
    msgs = c.until("Z")
    check([t for t, _ in msgs] == ["W", "E", "Z"] and error_fields(msgs[1][1]).get("C") == "58P01" and
          "000000010000000000000000 has already been removed" in error_fields(msgs[1][1]).get("M", ""),
          "removed WAL: %r" % msgs)

    # Stream from segment 2 start: everything below the commit LSN, nothing after.
    c.query("START_REPLICATION 0/200000 TIMELINE 1")
    t, _ = c.msg()
    check(t == "W", "no CopyBothResponse: %r" % t)
    got = bytearray()
    pos = 2 * SEG
    for _ in range(10000):
        if pos == commit:
            break
        t, body = c.msg()
        check(t == "d", "unexpected %r while streaming" % t)
        if body[:1] == b"k":
            continue
        check(body[:1] == b"w", "unexpected CopyData subtype %r" % body[:1])
        start, wal_end = struct.unpack_from("!QQ", body, 1)
        check(start == pos, "XLogData at %s, expected %s" % (lsn_text(start), lsn_text(pos)))
        check(wal_end == commit, "walEnd %s, commit %s" % (lsn_text(wal_end), lsn_text(commit)))
        check(len(body) - 25 <= 128 * 1024, "XLogData of %d bytes" % (len(body) - 25))
        got += body[25:]
        pos += len(body) - 25
        check(pos <= commit, "streamed up to %s beyond the commit LSN %s" % (lsn_text(pos), lsn_text(commit)))
    with open(os.path.join(src, segment_file(2)), "rb") as f:
        check(bytes(got) == f.read()[:commit - 2 * SEG], "streamed bytes differ from the segment")
    # Ask for a reply: a standby status update with replyRequested=1 gets a keepalive.
    c.copy_data(b"r" + struct.pack("!QQQqB", commit, commit, 0, 0, 1))
    t, body = c.msg()
    check(t == "d" and body[:1] == b"k" and len(body) == 18 and
          struct.unpack_from("!Q", body, 1)[0] == commit, "reply to 'r': %r %r" % (t, body))
    wait_for("feedback at the host", lambda: "slot=- write=%s flush=%s" % (lsn_text(commit), lsn_text(commit))
             in srv.log_text())
    # A flush beyond the commit LSN is clamped before it reaches the host.
    c.copy_data(b"r" + struct.pack("!QQQqB", 7 << 32, 7 << 32, 0, 0, 0))
    wait_for("clamped feedback", lambda: srv.log_text().count(
        "slot=- write=%s flush=%s" % (lsn_text(commit), lsn_text(commit))) >= 2)
    check("flush=7/0" not in srv.log_text(), "a flush beyond the commit LSN reached the host")
    c.copy_data(b"h" + struct.pack("!qIIII", 0, 739, 0, 0, 0))
    wait_for("hot standby feedback", lambda: "xmin=739" in srv.log_text())
    # Idle keepalives arrive without asking (interval 500 ms), reply requested.
    for _ in range(100):
        t, body = c.msg()
        if t == "d" and body[:1] == b"k" and body[17] == 1:
            break
    else:
        raise AssertionError("no keepalive with replyRequested=1")
    # CopyDone ends the stream: CopyDone, one CommandComplete, ReadyForQuery.
    c.send(b"c" + struct.pack("!I", 4))
    msgs = c.until("Z")
    kinds = [t for t, b in msgs if not (t == "d" and b[:1] == b"k")]
    check(kinds == ["c", "C", "Z"], "end of stream: %r" % msgs)
    # Back in command mode; an unknown CopyData subtype while streaming is FATAL.
    c.query("START_REPLICATION 0/200000")
    check(c.msg()[0] == "W", "no CopyBothResponse for the second stream")
    c.copy_data(b"z1234")
    for _ in range(10000):
        t, body = c.msg()
        if t == "E":
            f = error_fields(body)
            check(f.get("S") == "FATAL" and "unexpected CopyData subtype 'z'" in f.get("M", ""),
                  "bad subtype: %r" % f)
            break
    check(c.closed(), "not closed after a bad subtype")
    c.close()

    c = login(port)  # a message over the size bound
    c.send(b"Q" + struct.pack("!I", 1 << 20) + b"x" * 1000)
    expect_fatal_and_close(c, "invalid length")

    # Still serving: a real client streams.
    check(srv.alive(), "the server died")
    dst = os.path.join(root, "dst")
    os.makedirs(dst)
    proc, log_path = start_receivewal(root, "receivewal", port, dst, ["--no-sync"])
    try:
        wait_for("pg_receivewal after the hostile clients",
                 lambda: "write=%s " % lsn_text(commit) in srv.log_text().split("hostile")[-1]
                 and prefix_matches(src, dst, 2, commit - 2 * SEG, False) or proc.poll() is not None)
        check(proc.poll() is None, "pg_receivewal exited: %s" % read_file(log_path))
    finally:
        stop(proc, signal.SIGKILL)


def scenario_standby(dirserver_exe, walgen, root):
    """A real PG15 hot standby (its walreceiver) replays WAL served by the
    replication server: the WAL of a real primary, copied after a base backup,
    with the commit LSN at the primary's flush position. The standby answers
    with status updates and hot-standby feedback and ends with the primary's
    rows."""
    del walgen
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pgharness  # the shared throwaway-PostgreSQL helper

    settings = {"max_wal_senders": "5", "wal_keep_size": "1GB", "hot_standby": "on"}
    primary = pgharness.PgCluster(base_dir=os.path.join(root, "primary"), wal_segsize_mb=1,
                                  settings=settings)
    os.makedirs(primary.base)
    standby_base = os.path.join(root, "standby")
    os.makedirs(os.path.join(standby_base, "sock"))
    standby = pgharness.PgCluster(base_dir=standby_base, wal_segsize_mb=1, settings=dict(
        settings, hot_standby_feedback="on", wal_receiver_status_interval="1",
        wal_retrieve_retry_interval="1s"))
    if standby.as_postgres:
        for d in (root, standby_base, os.path.join(standby_base, "sock")):
            os.chown(d, standby.pg_uid, standby.pg_gid)
    try:
        primary.init().start()
        primary.psql("CREATE TABLE t (id int primary key, v text)")
        primary.psql("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
        # The standby's data directory: everything but WAL, which comes from us.
        primary._run([pgharness.pg_tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                      "-U", "postgres", "-D", standby.datadir, "-X", "none", "-c", "fast",
                      "--no-sync"], timeout_s=120, server_side=True)
        primary.psql("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1001, 20000) g")
        primary.psql("UPDATE t SET v = 'after backup' WHERE id % 7 = 0")
        primary.psql("CHECKPOINT")
        flush = lsn(primary.psql("SELECT pg_current_wal_flush_lsn()"))
        query = "SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'after backup') FROM t"
        want = primary.psql(query)
        wal = os.path.join(root, "wal")
        os.makedirs(wal)
        for segno, name in pgharness.wal_segments(primary.wal_dir(), SEG):
            if segno <= flush // SEG:
                shutil.copyfile(os.path.join(primary.wal_dir(), name), os.path.join(wal, name))
        primary.stop()

        srv = DirServer(dirserver_exe, root, wal, flush)
        with open(os.path.join(standby.datadir, "standby.signal"), "w"):
            pass
        conn = "host=127.0.0.1 port=%d user=postgres application_name=sb1 " \
               "options=''-c tenant_id=%s -c timeline_id=%s''" % (srv.port, TENANT, TIMELINE)
        with open(os.path.join(standby.datadir, "postgresql.auto.conf"), "a") as f:
            f.write("primary_conninfo = '%s'\n" % conn)
        if standby.as_postgres:
            for name in ("standby.signal", "postgresql.auto.conf"):
                os.chown(os.path.join(standby.datadir, name), standby.pg_uid, standby.pg_gid)
        standby.start()

        def replayed():
            r = standby._run([pgharness.pg_tool("psql"), "-X", "-A", "-t", "-c", query],
                             timeout_s=30, env=standby.client_env(), check=False)
            return r.returncode == 0 and r.stdout.strip() == want
        wait_for("the standby to replay the primary's rows (%s)" % want, replayed, timeout=120,
                 interval=0.2)
        status = standby.psql("SELECT status, sender_port FROM pg_stat_wal_receiver")
        check(status == "streaming|%d" % srv.port, "pg_stat_wal_receiver: %r" % status)
        check(lsn(standby.psql("SELECT pg_last_wal_receive_lsn()")) <= flush,
              "the standby received WAL beyond the commit LSN")
        wait_for("the standby's flush feedback",
                 lambda: "flush=%s " % lsn_text(flush) in srv.log_text())
        wait_for("hot standby feedback", lambda: "event=hot_standby_feedback" in srv.log_text())
        check("application_name=\"sb1\"" in srv.log_text(), "application_name not seen")
        check(srv.alive(), "the server died")
    finally:
        standby.cleanup()
        primary.cleanup()


SCENARIOS = {"stream": scenario_stream, "slot": scenario_slot, "refusals": scenario_refusals,
             "hostile": scenario_hostile, "standby": scenario_standby}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    scenario, dirserver_exe, walgen = sys.argv[1:]
    if not os.path.exists(os.path.join(PG_BIN, "pg_receivewal")):
        print("PostgreSQL 15 client programs not found in %s: skipped" % PG_BIN)
        return 77
    root = tempfile.mkdtemp(prefix="pgwire_%s_" % scenario)
    ok = False
    try:
        SCENARIOS[scenario](dirserver_exe, walgen, root)
        ok = True
        print("pgwire %s: ok" % scenario)
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("logs kept in %s" % root, file=sys.stderr)
            for name in sorted(os.listdir(root)):
                if name.endswith(".log"):
                    print("---- %s" % name, file=sys.stderr)
                    print((read_file(os.path.join(root, name)) or b"").decode(errors="replace")[-4000:],
                          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
