#!/usr/bin/env python3
"""Disk faults on the real walquorum-safekeeper (issue 7 point 3). Three
safekeepers on 127.0.0.1 driven by sk_client, as in
tests/integration/safekeeper/sk_test.py, whose Node/Client/wait helpers this
driver imports. One scenario per run:

  eio      sk3 runs under libfiu (fiu-run -x) and WQ_STORAGE_FAULT=powercut; with
           sk2 stopped (so every commit needs sk3's ack), one fdatasync of sk3
           returns EIO: sk3 exits 70 with a "FATAL I/O: fdatasync" line, never
           retries (the fault is one-shot: a retry would succeed and keep it
           alive), every commit the client saw is on sk3's disk (the powercut
           mode drops the writes of the failed sync), every flush LSN sk3
           reported is on its disk, and commits go on with sk1 + sk2.
  enospc   sk1's data directory is an 80 MiB tmpfs in sk1's own mount namespace
           (unshare -m), 56 MiB of it taken by a filler file: appends are refused
           with a disk_full line, HTTP status and pg_receivewal still read its
           WAL (identical to sk2's), and once the filler is deleted sk1 takes
           appends again and holds the same WAL as the others.
  corrupt  a byte flipped below sk3's commit LSN: restarted, sk3 cuts its WAL at
           the damage and serves pg_receivewal only the valid prefix (identical to
           sk1's, nothing after); restarted with --peers it repairs, and a
           pg_receivewal continuing from the same files gets the rest, identical.
  corrupt_live
           bytes flipped under RUNNING safekeepers (os.pwrite through the page
           cache, which the server's reads see), below the commit LSN. With
           sk1/sk2 stopped, pg_receivewal streams sk3's damaged segment from its
           start (inside a record): it gets an XX001 error naming the LSN and only
           bytes before the damaged record (identical to sk1's); sk3 logs
           event=corrupt, cuts, reports corrupt in status and /metrics, refuses a
           vote. sk1/sk2 back: sk3 repairs from them and pg_receivewal gets the
           rest, identical. Then sk1 lags, a byte flips in sk2's WAL above sk1's
           end, and sk1 (--peers sk2) fetches from sk2: sk2 withholds the bytes,
           marks itself corrupt and repairs; all three identical at the end.
  torn     sk3 runs with WQ_STORAGE_FAULT=powercut and is killed -9 mid-stream;
           the test tears its tail (a prefix of the lost bytes, one sector of it
           missing, ending mid-record); restarted, sk3 cuts the tail, every flush
           LSN it reported is still on its disk, every commit acknowledged is on a
           quorum with identical bytes, and sk3 catches up and votes again.

usage: diskfaults.py SCENARIO SAFEKEEPER_EXE SK_CLIENT_EXE
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "safekeeper"))
sys.path.insert(0, os.path.join(HERE, ".."))

import sk_test  # noqa: E402
from sk_test import (START, SEG, Client, Node, check, lsn, lsn_text, new_timeline,  # noqa: E402
                     wait_for)

PG_RECEIVEWAL = sk_test.PG_RECEIVEWAL


def wrapper(root, name, body):
    """An executable shell script that ends by exec'ing the safekeeper, so the
    PID sk_test.Node records is the safekeeper's own."""
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


class FlushWatcher:
    """Polls a node's HTTP flush_lsn for one timeline every 10 ms in a thread
    and keeps the highest value it answered (what it reported as durable)."""

    def __init__(self, node, tl):
        self.node, self.tl = node, tl
        self.max_flush = 0
        self.samples = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 300
        while not self.stop_flag and time.monotonic() < deadline:
            try:
                f = lsn(self.node.timeline(self.tl)["flush_lsn"])
                self.max_flush = max(self.max_flush, f)
                self.samples += 1
            except Exception:  # not created yet, or the node is down
                pass
            time.sleep(0.01)

    def stop(self):
        self.stop_flag = True
        self.thread.join(timeout=10)
        return self.max_flush


def last_loaded(node):
    lines = re.findall(r"event=timeline_loaded .*", node.log())
    check(lines, "sk%d logged no timeline_loaded line" % node.id)
    m = re.search(r"end_of_wal=(\S+)", lines[-1])
    return lsn(m.group(1)), lines[-1]


def data_end(node, tl):
    """The LSN after the last non-zero byte of the node's newest segment file."""
    segno = sk_test.segnos(node.timeline_dir(tl))[-1]
    base = os.path.join(node.timeline_dir(tl), sk_test.seg_name(segno))
    path = base + ".partial" if os.path.exists(base + ".partial") else base
    with open(path, "rb") as f:
        return segno * SEG + len(f.read().rstrip(b"\0"))


def first_difference(a, b):
    n = min(len(a), len(b))
    i = 0
    step = 65536
    while i < n and a[i:i + step] == b[i:i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


def wait_caught_up(nodes, tl, end, timeout=60):
    for n in nodes:
        wait_for("sk%d flush_lsn >= %s" % (n.id, lsn_text(end)),
                 lambda n=n: lsn(n.timeline(tl)["flush_lsn"]) >= end, timeout=timeout)


def check_identical(nodes, tl, end):
    ref = nodes[0].wal_bytes(tl, START, end)
    for n in nodes[1:]:
        got = n.wal_bytes(tl, START, end)
        check(got == ref, "WAL of sk%d differs from sk%d at %s (below %s)" % (
            n.id, nodes[0].id, lsn_text(START + first_difference(got, ref)), lsn_text(end)))


def elect_with(client_exe, nodes, tl, proposer_id):
    c = Client(client_exe, nodes, tl, "--elect-only", "--proposer-id", str(proposer_id), "--timeout-s", "30")
    try:
        rc = c.wait(timeout=60)
    finally:
        c.stop()
    check(rc == 0 and c.elected_term, "no election with %s (%s):\n%s" % (
        [n.id for n in nodes], rc, c.output()))
    return c.elected_term


# ------------------------------------------------------------------ eio

def scenario_eio(exe, client_exe, root):
    if not shutil.which("fiu-run") or not shutil.which("fiu-ctrl"):
        raise AssertionError("fiu-run/fiu-ctrl not installed (apt-get install fiu-utils): cannot inject EIO")
    fifo = os.path.join(root, "fiu")
    sk3_exe = wrapper(root, "sk3-fiu.sh", "export WQ_STORAGE_FAULT=powercut\nexec fiu-run -x -f %s %s \"$@\"" %
                      (fifo, exe))
    nodes = [Node(exe, root, 1), Node(exe, root, 2), Node(sk3_exe, root, 3)]
    for n in nodes:
        n.start()
    sk2, sk3 = nodes[1], nodes[2]
    check("event=storage_fault_mode mode=powercut" in sk3.log(), "sk3 did not log the power-cut mode")
    tl = new_timeline(0xE1)
    watch = FlushWatcher(sk3, tl)
    c = Client(client_exe, nodes, tl, "--records", "20000", "--record-bytes", "2000", "--timeout-s", "110")
    try:
        wait_for("first commits", lambda: c.commit >= START + 2 * 1024 * 1024, timeout=60)
        # sk2 stopped: from here every commit needs sk3's acknowledgement.
        sk2.proc.send_signal(signal.SIGSTOP)
        # sk2 can have acknowledged at most what it wrote before it stopped:
        # commits past that needed sk3's acknowledgement.
        sk2_end = data_end(sk2, tl)
        wait_for("commits with sk1 + sk3 past sk2's end %s" % lsn_text(sk2_end),
                 lambda: c.commit >= sk2_end + 512 * 1024, timeout=60)
        r = subprocess.run(["fiu-ctrl", "-f", fifo, "-c",
                            "enable name=posix/io/sync/fdatasync,failnum=1,failinfo=5,onetime",
                            str(sk3.proc.pid)], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "fiu-ctrl failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
        t0 = time.monotonic()
        print("EIO armed on sk3's next fdatasync at commit %s" % lsn_text(c.commit))
        try:
            rc3 = sk3.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("sk3 still runs 30 s after its fdatasync returned EIO: it ignored or retried "
                                 "the failed sync (the fault was one-shot)")
        print("sk3 exited %d after %.2f s" % (rc3, time.monotonic() - t0))
        check(rc3 == 70, "sk3 exit status %s, expected 70 (fatal I/O)" % rc3)
        fatal = re.findall(r"FATAL I/O: .*", sk3.log())
        check(len(fatal) == 1 and fatal[0].startswith("FATAL I/O: fdatasync ") and "errno 5" in fatal[0],
              "sk3's fatal line: %s" % fatal)
        check("/timelines/" in fatal[0], "the failed fdatasync was not a WAL segment's: %s" % fatal[0])
        print("sk3: %s" % fatal[0])
        # Acks in flight when sk3 died may still land: let the commit LSN settle.
        last = [c.commit, time.monotonic()]

        def settled():
            if c.commit != last[0]:
                last[0], last[1] = c.commit, time.monotonic()
            return time.monotonic() - last[1] >= 0.5
        wait_for("commit LSN to settle", settled, timeout=20)
        commit_at_death = c.commit
        max_flush = watch.stop()
        check(commit_at_death > sk2_end, "test premise: the commit did not pass sk2's end")
        # sk1 holds everything sk3 ever wrote (the reference for sk3's disk).
        wait_for("sk1 to pass sk3's data", lambda: lsn(nodes[0].timeline(tl)["flush_lsn"]) >= max(
            commit_at_death, max_flush, data_end(sk3, tl)), timeout=30)
        print("commit with sk2 stopped and sk3 dead: %s; highest flush_lsn sk3 reported: %s (%d samples)" %
              (lsn_text(commit_at_death), lsn_text(max_flush), watch.samples))
        # What sk3 has on disk: the synced prefix (the failed sync's writes were dropped).
        disk3 = sk3.wal_bytes(tl, START, max(commit_at_death, max_flush))
        ref = nodes[0].wal_bytes(tl, START, max(commit_at_death, max_flush))
        durable3 = START + first_difference(disk3, ref)
        print("sk3's disk matches sk1 up to %s" % lsn_text(durable3))
        check(durable3 >= commit_at_death,
              "the client saw commit %s but sk3's disk holds the WAL only to %s: sk3 acknowledged WAL "
              "whose sync failed" % (lsn_text(commit_at_death), lsn_text(durable3)))
        check(durable3 >= max_flush, "sk3 reported flush_lsn %s but its disk holds the WAL only to %s" %
              (lsn_text(max_flush), lsn_text(durable3)))
        # The cluster continues with sk1 + sk2.
        sk2.proc.send_signal(signal.SIGCONT)
        wait_for("commits with sk1 + sk2", lambda: c.commit >= commit_at_death + 1024 * 1024 or c.done,
                 timeout=60)
        print("commits resumed on sk1 + sk2: %s" % lsn_text(c.commit))
        # sk3 restarts without the fault: its end of WAL is its durable prefix, and it catches up.
        sk3.exe = exe
        sk3.start()
        end3, loaded = last_loaded(sk3)
        check(end3 >= max_flush and end3 >= commit_at_death, "sk3 restarted at %s: %s" % (lsn_text(end3), loaded))
        print("sk3 restarted: end_of_wal %s" % lsn_text(end3))
        rc = c.wait(timeout=150)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        watch.stop_flag = True
        if sk2.proc.poll() is None:
            sk2.proc.send_signal(signal.SIGCONT)
        c.stop()
    end = c.done
    wait_caught_up(nodes[:2], tl, end)
    check_identical(nodes[:2], tl, end)
    print("client done at %s; sk1 and sk2 identical" % lsn_text(end))
    return nodes


# ------------------------------------------------------------------ enospc

class NsNode(Node):
    """A node started in its own mount namespace: its data directory is a tmpfs
    only that process sees, so the driver reads it through /proc/PID/root."""

    @property
    def dir(self):
        p = getattr(self, "proc", None)
        if p is not None and p.poll() is None:
            return "/proc/%d/root%s" % (p.pid, self._dir)
        return self._dir

    @dir.setter
    def dir(self, value):
        self._dir = value


def fs_text(path):
    v = os.statvfs(path)
    return "%.1f MiB of %.1f MiB free" % (v.f_bavail * v.f_frsize / 2**20, v.f_blocks * v.f_frsize / 2**20)


def scenario_enospc(exe, client_exe, root):
    for tool in ("unshare", "mount"):
        check(shutil.which(tool), "%s is not installed: cannot make a private full filesystem" % tool)
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs %s" % root], capture_output=True, text=True)
    check(probe.returncode == 0, "a private mount namespace with a tmpfs is not permitted here (we need root or "
          "CAP_SYS_ADMIN; unshare -m + mount failed: %s); this test cannot run" % probe.stderr.strip())
    sk1_exe = wrapper(root, "sk1-ns.sh", (
        "exec unshare -m --propagation private sh -c '"
        "mount -t tmpfs -o size=80m tmpfs \"$1\" || exit 97; "
        "head -c 56M /dev/zero > \"$1/filler\" || exit 98; "
        "e=\"$2\"; shift 2; exec \"$e\" \"$@\"' sh %s %s \"$@\"") % (os.path.join(root, "sk1"), exe))
    pg = ["--listen-pg", "127.0.0.1:0"]
    nodes = [NsNode(sk1_exe, root, 1, pg), Node(exe, root, 2, pg), Node(exe, root, 3, pg)]
    for n in nodes:
        n.start()
    sk1 = nodes[0]
    print("sk1's filesystem (its own namespace): %s" % fs_text(sk1.dir))
    check(not os.path.exists(os.path.join(root, "sk1", "filler")), "sk1's tmpfs is visible outside its namespace")
    tl = new_timeline(0xE2)
    # --wait-all: the client ends only once sk1 holds everything too (after space returns).
    c = Client(client_exe, nodes, tl, "--records", "20000", "--record-bytes", "2000", "--timeout-s", "110",
               "--wait-all")
    try:
        # sk1's commit LSN as status shows it before the disk fills (sampled
        # until disk_full): after it, status must not show less.
        commit_before = 0
        def full():
            nonlocal commit_before
            if "event=disk_full" in sk1.log():
                return True
            try:
                commit_before = max(commit_before, lsn(sk1.timeline(tl)["commit_lsn"]))
            except Exception:  # not created yet
                pass
            return False
        wait_for("sk1's disk_full line", full, timeout=90, interval=0.1)
        line = re.findall(r"event=disk_full.*", sk1.log())[0]
        check("no space left" in line and "appends refused" in line, "unclear disk_full line: %s" % line)
        print("sk1: %s" % line[:240])
        full_at = lsn(sk1.timeline(tl)["flush_lsn"])
        wait_for("commits past sk1's end", lambda: c.commit >= full_at + 2 * 1024 * 1024, timeout=60)
        st = sk1.timeline(tl)
        check(lsn(st["flush_lsn"]) < c.commit, "sk1 holds all WAL on a full disk? %s" % st)
        check(lsn(st["commit_lsn"]) >= commit_before, "sk1's status commit_lsn went back from %s to %s after "
              "disk_full" % (lsn_text(commit_before), st["commit_lsn"]))
        _, metrics = sk1.http("/metrics")
        m = re.search(r'^walquorum_sk_refusals_total\{reason="no space"\} (\d+)$', metrics, re.M)
        check(m and int(m.group(1)) >= 1, "no-space refusals not counted")
        print("sk1 full at flush_lsn %s, commit_lsn %s; the others committed to %s; %s no-space refusals" %
              (st["flush_lsn"], st["commit_lsn"], lsn_text(c.commit), m.group(1)))
        # Reads: pg_receivewal streams sk1's committed WAL while its disk is full.
        # (sk1's acceptor restarts from the stored control state after disk_full;
        # its status keeps the commit LSN it knew. The stream is bounded by the
        # client's commit.)
        dest = os.path.join(root, "recv")
        os.makedirs(dest)
        p = sk_test.start_receivewal(sk1, tl, dest)
        try:
            seen = [0, 0.0]

            def received_settled():
                if p.poll() is not None:
                    raise AssertionError("pg_receivewal from the full sk1 exited (%s): %s" % (
                        p.returncode, p.stdout.read()))
                last = sk_test.last_received(dest)
                size = 0
                if last:
                    with open(last[1], "rb") as f:
                        data = f.read()
                    size = last[0] * SEG + len(data.rstrip(b"\0"))
                if size != seen[0]:
                    seen[0], seen[1] = size, time.monotonic()
                return size >= START + 1024 * 1024 and time.monotonic() - seen[1] >= 1.0
            wait_for("pg_receivewal to get sk1's committed WAL", received_settled, timeout=60, interval=0.1)
            check(sk1.timeline(tl)["no_space"] is True or "event=disk_full" in sk1.log(), "sk1 not full")
        finally:
            sk_test.stop_receivewal(p)
        got_to = seen[0]
        # Every byte it sent equals sk2's, none lies beyond what the client saw committed.
        sk_test.check_received(nodes[1], tl, dest, c.commit, got_to - 8)
        print("pg_receivewal from full sk1: %s, identical to sk2's WAL up to about %s, nothing past the commit" %
              ([sk_test.seg_name(s) for s in sk_test.segnos(dest)], lsn_text(got_to)))
        # Space returns: the filler goes (deleted through sk1's namespace).
        os.unlink(os.path.join(sk1.dir, "filler"))
        print("filler deleted: %s" % fs_text(sk1.dir))
        rc = c.wait(timeout=150)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    end = c.done
    wait_caught_up(nodes, tl, end)
    check(sk1.proc.poll() is None, "sk1 exited")
    check_identical(nodes, tl, end)
    print("sk1 recovered: all three hold identical WAL up to %s" % lsn_text(end))
    return nodes


# ------------------------------------------------------------------ corrupt

def scenario_corrupt(exe, client_exe, root):
    if not os.path.exists(PG_RECEIVEWAL):
        raise AssertionError("%s not installed: the learner side cannot be checked" % PG_RECEIVEWAL)
    pg = ["--listen-pg", "127.0.0.1:0"]
    nodes = [Node(exe, root, i + 1, pg) for i in range(3)]
    for n in nodes:
        n.start()
    sk1, sk3 = nodes[0], nodes[2]
    tl = new_timeline(0xE3)
    done = sk_test.run_client(client_exe, nodes, tl, "--records", "9000", "--timeout-s", "90", "--wait-all")
    # What sk1 knows as committed (safekeepers learn commit LSNs from later
    # appends, so it may lag the client's last; the client's is the bound).
    commit = lsn(sk1.timeline(tl)["commit_lsn"])
    # Inside a record a few pages into the segment of sk3's persisted commit LSN
    # (not its first record), so the valid prefix there is not empty.
    pc = lsn(sk3.timeline(tl)["persisted_commit_lsn"])
    at = sk_test.corrupt_point(sk3, tl) + 4 * 8192 + 1000
    check(at < pc - 8192, "persisted commit LSN %s too close to the segment start" % lsn_text(pc))
    sk3.stop()
    sk_test.flip_byte(sk3, tl, at)
    sk3.start()  # no --peers: it stays corrupt
    cut = re.findall(r"event=corrupt_cut .*valid_end=(\S+)", sk3.log())
    check(cut, "sk3 did not cut its WAL at the damage:\n%s" % sk3.log()[-2000:])
    valid_end = lsn(cut[-1])
    check(valid_end <= at, "sk3's valid end %s is past the flipped byte %s" % (lsn_text(valid_end), lsn_text(at)))
    st3 = sk3.timeline(tl)
    check(st3["corrupt"] is True, "sk3 status not corrupt: %s" % st3)
    print("byte flipped at %s; sk3 corrupt, WAL cut at %s (commit %s)" %
          (lsn_text(at), lsn_text(valid_end), lsn_text(commit)))
    dest = os.path.join(root, "recv")
    os.makedirs(dest)
    # A learner on corrupt sk3 gets the valid prefix and nothing after it.
    p = sk_test.start_receivewal(sk3, tl, dest)
    try:
        def got_prefix():
            check(p.poll() is None, "pg_receivewal exited early: %s" % (p.poll(),))
            last = sk_test.last_received(dest)
            return last and last[0] == (valid_end - 1) // SEG and \
                sk_test.sk_bytes_match(sk1, tl, last[1], last[0], valid_end)
        wait_for("pg_receivewal to get sk3's valid prefix", got_prefix, timeout=60, interval=0.2)
    finally:
        sk_test.stop_receivewal(p)
    # Identical to sk1 up to the valid end, zeros from there: the flipped byte never left sk3.
    sk_test.check_received(sk1, tl, dest, valid_end, valid_end)
    print("pg_receivewal from corrupt sk3: identical to sk1 up to %s, nothing after" % lsn_text(valid_end))
    # Repair from the peers, then the learner continues from its files.
    sk3.stop()
    sk3.extra_args = pg + sk_test.peers_of(nodes, sk3)
    sk3.start()
    wait_for("sk3 repaired", lambda: sk3.timeline(tl)["corrupt"] is False, timeout=60)
    print("sk3: %s" % re.findall(r"event=repaired.*", sk3.log())[-1][:200])
    repaired_to = min(lsn(sk3.timeline(tl)["flush_lsn"]), lsn(sk3.timeline(tl)["commit_lsn"]))
    check(repaired_to >= commit, "sk3 repaired only to %s (commit %s)" % (lsn_text(repaired_to), lsn_text(commit)))
    p = sk_test.start_receivewal(sk3, tl, dest)
    try:
        def got_all():
            check(p.poll() is None, "pg_receivewal exited early: %s" % (p.poll(),))
            last = sk_test.last_received(dest)
            return last and last[0] == (commit - 1) // SEG and sk_test.sk_bytes_match(sk1, tl, last[1], last[0], commit)
        wait_for("pg_receivewal to reach %s from repaired sk3" % lsn_text(commit), got_all, timeout=60, interval=0.2)
    finally:
        sk_test.stop_receivewal(p)
    sk_test.check_received(sk1, tl, dest, done, commit)
    check_identical(nodes, tl, commit)
    print("after repair: pg_receivewal from sk3 identical to sk1 up to %s; three nodes identical" % lsn_text(commit))
    return nodes


# ------------------------------------------------------------------ corrupt_live

def record_byte(node, tl, page):
    """An LSN 0x30 bytes into the first record starting on a page at or after
    `page` whose leading continuation ends on that page (not a padding byte)."""
    page -= page % 8192
    for k in range(64):
        p = page + k * 8192
        hdr_len = 40 if p % SEG == 0 else 24
        hdr = node.wal_bytes(tl, p, p + hdr_len)
        rem_len = int.from_bytes(hdr[16:20], "little")
        first = p + ((hdr_len + rem_len + 7) // 8) * 8
        if first + 0x200 < p + 8192:
            return first + 0x30
    raise AssertionError("no record starts within 64 pages of %s" % lsn_text(page))


def flip_live(node, tl, at):
    """Flips the byte at `at` in the running node's segment with os.pwrite (the
    page cache: the server's next read sees it). Returns (old, new)."""
    segno = at // SEG
    d = node.timeline_dir(tl)
    name = [f for f in os.listdir(d) if f.startswith(sk_test.seg_name(segno))][0]
    fd = os.open(os.path.join(d, name), os.O_RDWR)
    try:
        old = os.pread(fd, 1, at % SEG)[0]
        os.pwrite(fd, bytes([old ^ 0x5A]), at % SEG)
    finally:
        os.close(fd)
    return old, old ^ 0x5A


def metric(node, name):
    _, text = node.http("/metrics")
    m = re.search(r"^%s(?:\{[^}]*\})? (\d+)$" % name, text, re.M)
    return int(m.group(1)) if m else None


def scenario_corrupt_live(exe, client_exe, root):
    if not os.path.exists(PG_RECEIVEWAL):
        raise AssertionError("%s not installed: the learner side cannot be checked" % PG_RECEIVEWAL)
    pg = ["--listen-pg", "127.0.0.1:0"]
    nodes = [Node(exe, root, i + 1, pg) for i in range(3)]
    for n in nodes:
        n.start()
    sk1, sk2, sk3 = nodes
    for n in nodes:  # every node repairs from the other two
        n.stop()
        n.extra_args = pg + sk_test.peers_of(nodes, n)
        n.start()
    tl = new_timeline(0xE5)
    sk_test.run_client(client_exe, nodes, tl, "--records", "9000", "--timeout-s", "90", "--wait-all")
    commit3 = lsn(sk3.timeline(tl)["commit_lsn"])
    pc = lsn(sk3.timeline(tl)["persisted_commit_lsn"])
    at = record_byte(sk3, tl, sk_test.corrupt_point(sk3, tl) - 0x40 + 3 * 8192)
    check(at < pc - 8192, "persisted commit LSN %s too close to the damage %s" % (lsn_text(pc), lsn_text(at)))
    seg_start = at - at % SEG
    # --- learner: sk3 alone (its peers down, so it stays corrupt while checked).
    sk1.stop()
    sk2.stop()
    old, new = flip_live(sk3, tl, at)
    print("flipped %02x -> %02x at %s in running sk3 (commit %s)" % (old, new, lsn_text(at), lsn_text(commit3)))
    dest = os.path.join(root, "recv")
    os.makedirs(dest)
    # An empty .partial makes pg_receivewal start at that segment's start (inside a record).
    with open(os.path.join(dest, sk_test.seg_name(at // SEG) + ".partial"), "wb") as f:
        f.truncate(SEG)
    t0 = time.monotonic()
    rc, out = sk_test.receivewal(sk3, tl, dest, timeout=60)
    check(rc != 0 and "failed verification" in out, "pg_receivewal from damaged sk3: rc %s:\n%s" % (rc, out))
    print("pg_receivewal: %s" % [l for l in out.splitlines() if "verification" in l][0][:240])
    with open(os.path.join(dest, sk_test.seg_name(at // SEG) + ".partial"), "rb") as f:
        data = f.read()
    ref = sk1.wal_bytes(tl, seg_start, at + 1)
    got = data[:at + 1 - seg_start]
    i = first_difference(got, ref)
    check(not any(got[i:]) and not any(data[at + 1 - seg_start:]),
          "pg_receivewal's file differs from sk1's WAL at %s (damage at %s)" % (lsn_text(seg_start + i), lsn_text(at)))
    check(data[at - seg_start] != new, "the flipped byte reached pg_receivewal")
    print("pg_receivewal holds sk1's bytes up to %s, zeros after: the damaged record never left sk3" %
          lsn_text(seg_start + i))
    log3 = sk3.log()
    check(re.search(r"event=corrupt .*source=learner", log3), "sk3 logged no event=corrupt for the learner")
    cut = re.findall(r"event=corrupt_cut .*valid_end=(\S+) .*source=learner", log3)
    check(cut and lsn(cut[-1]) <= at, "sk3 did not cut at or below the damage: %s" % cut)
    st3 = sk3.timeline(tl)
    check(st3["corrupt"] is True and st3["last_damage"] and st3["last_damage"]["source"] == "learner",
          "sk3 status: %s" % st3)
    check(lsn(st3["commit_lsn"]) >= commit3, "sk3 status commit_lsn went back: %s" % st3["commit_lsn"])
    check(metric(sk3, "walquorum_sk_wal_damage_found_total") >= 1 and metric(sk3, "walquorum_sk_corrupt") == 1,
          "sk3 /metrics do not show the damage")
    print("sk3 corrupt, cut at %s; status last_damage %s" % (cut[-1], st3["last_damage"]))
    c = Client(client_exe, [sk3], tl, "--elect-only", "--proposer-id", "9", "--timeout-s", "5")
    try:
        c.wait(timeout=30)
    finally:
        c.stop()
    check(sk3.timeline(tl)["corrupt"] is True and re.search(r'event=refused .*reason="corrupt"', sk3.log()),
          "corrupt sk3 did not refuse the vote")
    print("sk3 refused to vote while corrupt")
    # --- repair: the peers come back; sk3, still running, fetches from them.
    sk1.start()
    sk2.start()
    wait_for("sk3 repaired", lambda: sk3.timeline(tl)["corrupt"] is False, timeout=90)
    print("sk3: %s" % re.findall(r"event=repaired.*", sk3.log())[-1][:200])
    # Repaired up to what the peers could serve (their commit LSNs after their
    # restart); the rest comes with the next proposer (below).
    held = lsn(sk3.timeline(tl)["flush_lsn"])
    check(held > at, "sk3 repaired only to %s, not past the damage %s" % (lsn_text(held), lsn_text(at)))
    rc, out = sk_test.receivewal(sk3, tl, dest, "--endpos", lsn_text(held - 1), timeout=60)  # stops once past it
    check(rc == 0, "pg_receivewal from repaired sk3: rc %s:\n%s" % (rc, out))
    sk_test.check_received(sk1, tl, dest, held, held)
    print("pg_receivewal from repaired sk3 identical to sk1 up to %s (%.1f s since the flip)" %
          (lsn_text(held), time.monotonic() - t0))
    # --- peer fetch: sk1 lags, sk2's WAL is damaged above sk1's end, sk1 fetches from sk2.
    sk1.stop()
    lag_at = data_end(sk1, tl)
    # Past a segment end, so sk2 persists a commit LSN above sk1's end.
    c = Client(client_exe, nodes, tl, "--records", "14000", "--proposer-id", "2", "--timeout-s", "120")
    try:
        rc = c.wait(timeout=150)
        check(rc == 0 and c.done, "second client failed (%s):\n%s" % (rc, c.output()))
    finally:
        c.stop()
    commit2 = min(lsn(sk2.timeline(tl)["commit_lsn"]), lsn(sk3.timeline(tl)["commit_lsn"]))
    check(commit2 > lag_at + 16 * 8192, "too little WAL beyond sk1 (%s .. %s)" % (lsn_text(lag_at), lsn_text(commit2)))
    at2 = record_byte(sk2, tl, lag_at - lag_at % 8192 + 2 * 8192)
    pc2 = lsn(sk2.timeline(tl)["persisted_commit_lsn"])
    check(at2 < pc2 - 8192, "damage %s not below sk2's persisted commit %s" % (lsn_text(at2), lsn_text(pc2)))
    old, new = flip_live(sk2, tl, at2)
    print("sk1 stopped at %s; flipped %02x -> %02x at %s in running sk2 (commit %s)" %
          (lsn_text(lag_at), old, new, lsn_text(at2), lsn_text(commit2)))
    sk1.extra_args = pg + ["--peers", "127.0.0.1:%d" % sk2.wal_port]
    sk1.start()
    wait_for("sk2 to find the damage", lambda: re.search(r"event=corrupt .*source=peer_fetch", sk2.log()), timeout=60)
    print("sk2: %s" % re.findall(r"event=corrupt_cut .*", sk2.log())[-1][:220])
    line = re.findall(r"event=corrupt_cut .*source=peer_fetch.*", sk2.log())[-1]
    check("refusing to vote" in line and lsn(re.search(r"valid_end=(\S+)", line).group(1)) <= at2,
          "sk2 did not mark itself corrupt at or below %s: %s" % (lsn_text(at2), line))
    st2 = sk2.timeline(tl)
    check(st2["last_damage"] and st2["last_damage"]["source"] == "peer_fetch", "sk2 status: %s" % st2)
    wait_for("sk2 repaired", lambda: sk2.timeline(tl)["corrupt"] is False and
             lsn(sk2.timeline(tl)["flush_lsn"]) >= commit2, timeout=90)
    print("sk2: %s" % re.findall(r"event=repaired.*", sk2.log())[-1][:200])
    # sk1 took the verified prefix, then was refused; with no proposer it
    # fetches again on its next start.
    sk1.stop()
    sk1.start()
    wait_caught_up(nodes, tl, commit2, timeout=90)
    check_identical(nodes, tl, commit2)
    check(sk1.wal_bytes(tl, at2, at2 + 1)[0] != new, "the flipped byte reached sk1")
    print("sk1 caught up through sk2; sk2 repaired; all three identical up to %s" % lsn_text(commit2))
    rc, out = sk_test.receivewal(sk3, tl, dest, "--endpos", lsn_text(commit2 - 1), timeout=60)
    check(rc == 0, "pg_receivewal from sk3 to %s: rc %s:\n%s" % (lsn_text(commit2), rc, out))
    sk_test.check_received(sk1, tl, dest, commit2, commit2)
    print("pg_receivewal from sk3 identical to sk1 up to %s" % lsn_text(commit2))
    return nodes


# ------------------------------------------------------------------ torn

def scenario_torn(exe, client_exe, root):
    sk3_exe = wrapper(root, "sk3-powercut.sh", "export WQ_STORAGE_FAULT=powercut\nexec %s \"$@\"" % exe)
    nodes = [Node(exe, root, 1), Node(exe, root, 2), Node(sk3_exe, root, 3)]
    for n in nodes:
        n.start()
    sk3 = nodes[2]
    check("event=storage_fault_mode mode=powercut" in sk3.log(), "sk3 did not log the power-cut mode")
    tl = new_timeline(0xE4)
    watch = FlushWatcher(sk3, tl)
    c = Client(client_exe, nodes, tl, "--records", "16000", "--record-bytes", "2000", "--timeout-s", "110",
               "--wait-all")
    try:
        wait_for("first commits", lambda: c.commit >= START + 3 * 1024 * 1024, timeout=60)
        sk3.kill9()
        at_kill = c.commit
        max_flush = watch.stop()
        print("sk3 killed (-9, power cut) at commit %s; highest flush_lsn it reported: %s" %
              (lsn_text(at_kill), lsn_text(max_flush)))
        # What the cut left: sk3's files match sk1's up to its durable end, then
        # zeros. sk1 (still committing with sk2) first gets past all of it.
        end3_data = max(data_end(sk3, tl), max_flush)
        wait_for("sk1 past sk3's data %s" % lsn_text(end3_data),
                 lambda: lsn(nodes[0].timeline(tl)["flush_lsn"]) >= end3_data + 64 * 1024, timeout=60)
        upto = min(lsn(nodes[0].timeline(tl)["flush_lsn"]),
                   (sk_test.segnos(sk3.timeline_dir(tl))[-1] + 1) * SEG)
        ref = nodes[0].wal_bytes(tl, START, upto)
        disk3 = sk3.wal_bytes(tl, START, upto)
        durable = START + first_difference(disk3, ref)
        check(durable >= max_flush, "sk3 reported flush_lsn %s but after the power cut its disk holds the WAL "
              "only to %s" % (lsn_text(max_flush), lsn_text(durable)))
        check(not any(disk3[durable - START:]), "bytes after sk3's durable end %s are not zero: unsynced writes "
              "reached the disk" % lsn_text(durable))
        # Tear the tail: part of the lost bytes reached the disk, ending mid-page
        # and mid-record, with one 512-byte sector inside them missing.
        page_end = durable - durable % 8192 + 8192
        tear_end = page_end + 8192 + 3001
        check(tear_end < upto, "not enough WAL on sk1 beyond sk3's end to tear with")
        torn = bytearray(ref[durable - START:tear_end - START])
        hole = page_end - durable + 4096
        torn[hole:hole + 512] = bytes(512)
        segno = durable // SEG
        check(tear_end // SEG == segno, "the tear crosses a segment boundary; test assumes one segment")
        d = sk3.timeline_dir(tl)
        name = [f for f in os.listdir(d) if f.startswith(sk_test.seg_name(segno))][0]
        with open(os.path.join(d, name), "r+b") as f:
            f.seek(durable % SEG)
            f.write(torn)
        print("tore sk3's tail: %d bytes of the lost WAL from %s written back to %s, a sector at %s zero" %
              (len(torn), lsn_text(durable), lsn_text(tear_end), lsn_text(durable + hole)))
        sk3.start()
        end3, loaded = last_loaded(sk3)
        print("sk3 restarted: %s" % loaded[:260])
        check(max_flush <= end3 <= durable + hole, "sk3's end of WAL %s is not in [%s, %s]" %
              (lsn_text(end3), lsn_text(max_flush), lsn_text(durable + hole)))
        check('stop="zero tail"' not in loaded, "sk3 did not see the torn bytes: %s" % loaded)
        rc = c.wait(timeout=150)
        check(rc == 0 and c.done, "client failed (%s):\n%s" % (rc, c.output()))
    finally:
        watch.stop_flag = True
        c.stop()
    end = c.done
    check(end >= at_kill, "commit went back")
    wait_caught_up(nodes, tl, end)
    check_identical(nodes, tl, end)
    print("every acknowledged commit (to %s) identical on all three; sk3 caught up" % lsn_text(end))
    # sk3 votes: with sk1 down, sk2 + sk3 elect.
    term_before = sk3.timeline(tl)["term"]
    nodes[0].stop()
    term = elect_with(client_exe, nodes[1:], tl, 2)
    check(sk3.timeline(tl)["term"] == term and term > term_before, "sk3 did not vote: %s" % sk3.timeline(tl))
    print("sk3 voted: term %d -> %d" % (term_before, term))
    return nodes


SCENARIOS = {"eio": scenario_eio, "enospc": scenario_enospc, "corrupt": scenario_corrupt,
             "corrupt_live": scenario_corrupt_live, "torn": scenario_torn}


def main():
    scenario, exe, client_exe = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    root = tempfile.mkdtemp(prefix="diskfaults_%s_" % scenario)
    ok = False
    t0 = time.monotonic()
    try:
        SCENARIOS[scenario](exe, client_exe, root)
        ok = True
        print("PASS %s in %.1f s" % (scenario, time.monotonic() - t0))
    finally:
        for n in sk_test.STARTED:
            try:
                if n.proc is not None and n.proc.poll() is None:
                    n.proc.send_signal(signal.SIGCONT)
                n.stop()
            except Exception as e:  # keep stopping the others
                print("stopping sk%d: %s" % (n.id, e))
        if not ok:
            for n in sk_test.STARTED:
                if os.path.exists(n.log_path):
                    print("---- sk%d log (tail) ----\n%s" % (n.id, n.log()[-4000:]))
            print("data kept in %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
