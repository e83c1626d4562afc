#!/usr/bin/env python3
"""Hostile clients on every port of every daemon while a compute commits.

Three walquorum-safekeeper processes (WAL, HTTP and PostgreSQL replication
ports), one walquorum-pageserver following them (GetPage and HTTP ports) and
the synthetic compute committing with a truth journal. For --seconds (default
40) several threads (--workers, default 6) send, to ports chosen at random, a
random kind of abuse: garbage bytes, truncated frames or requests, oversized
lengths and bodies, out-of-order protocol messages (a message before the
greeting or startup, CopyData outside a stream, pipelined requests never read),
mutated valid messages (the committed fuzz seeds of the codec and the GetPage
requests), slow partial writes, and resets. Everything is drawn from a seeded
random generator (--seed, default random; printed, with the line that replays
the run). Afterwards:
  - every daemon process is still running and answers GET /v1/status;
  - the compute's commits continued during the abuse (commit LSN grew), and
    the compute ends cleanly;
  - the committed WAL is byte-identical on every safekeeper up to the commit
    LSN (segment files compared; a safekeeper the quorum left behind is
    compared up to its own flush LSN, and at least two hold all of it);
  - `walquorum-compute verify` against the pageserver with the compute's
    truth directory exits 0 (every sampled page identical).
Uses the cluster helpers of tests/integration/learners/learners_test.py.

usage: hostile_test.py SAFEKEEPER_EXE PAGESERVER_EXE COMPUTE_EXE CODEC_SEEDS_DIR
                       [--seconds S] [--workers N] [--seed N] [--samples N]
"""
import argparse
import hashlib
import os
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "learners"))
from wqtest import lsn, lsn_text, check, wait_for  # noqa: E402
import learners_test as lt  # noqa: E402

log = lt.log


# ------------------------------------------------------------------ payloads

def junk(rng, n):
    return rng.randbytes(n)


def mutate(rng, data):
    """A few random edits: flipped bytes, a cut, an insertion."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        kind = rng.randrange(4)
        i = rng.randrange(len(b))
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[i] = rng.getrandbits(8)
        elif kind == 2:
            del b[i:i + rng.randint(1, 16)]
        else:
            b[i:i] = junk(rng, rng.randint(1, 16))
    return bytes(b)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def pg_msg(tag, body):
    return tag + struct.pack(">I", len(body) + 4) + body


def startup(params):
    body = struct.pack(">I", 196608)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack(">I", len(body) + 4) + body


def query(text):
    return pg_msg(b"Q", text.encode() + b"\0")


class Abuse:
    """Builds one abusive exchange for a port kind: a list of byte chunks to send
    (sent with small pauses between them) and whether to half-close after."""

    def __init__(self, rng, codec_seeds, spc_db_rel):
        self.rng = rng
        self.seeds = codec_seeds
        self.spc, self.db, self.rel = spc_db_rel

    def generic(self):
        r = self.rng
        k = r.randrange(5)
        if k == 0:
            return "garbage", [junk(r, r.randint(1, 4096))]
        if k == 1:
            return "oversized", [junk(r, r.randint(256 * 1024, 2 * 1024 * 1024))]
        if k == 2:
            return "nothing", []
        if k == 3:
            return "byte-by-byte", [bytes([r.getrandbits(8)]) for _ in range(r.randint(1, 40))]
        return "zeros", [b"\0" * r.randint(1, 70000)]

    def wal(self):
        r = self.rng
        k = r.randrange(6)
        if k == 0:
            return self.generic()
        if k == 1:  # a valid message of any kind, out of order (no greeting first)
            m = r.choice(self.seeds)
            return "out-of-order", [u32(len(m)) + m]
        if k == 2:  # mutated messages, several in a row
            return "mutated", [u32(len(m)) + m for m in (mutate(r, r.choice(self.seeds)) for _ in range(r.randint(1, 8)))]
        if k == 3:  # length promises more than arrives
            m = r.choice(self.seeds)
            return "truncated", [u32(len(m) + r.randint(1, 1000)) + m[:r.randint(0, len(m))]]
        if k == 4:  # a length beyond the frame limit, or zero
            return "bad-length", [u32(r.choice([0, 0xFFFFFFFF, 33 * 1024 * 1024, 0x7FFFFFFF])) + junk(r, 64)]
        # a frame of the right length with random payload
        n = r.randint(1, 20000)
        return "random-frame", [u32(n) + junk(r, n)]

    def http(self):
        r = self.rng
        k = r.randrange(8)
        tl = "/v1/tenant/%s/timeline/%s" % (lt.TENANT, lt.TIMELINE)
        if k == 0:
            return self.generic()
        if k == 1:
            return "truncated", [b"GET /v1/sta"]
        if k == 2:
            return "huge-header", [b"GET /v1/status HTTP/1.1\r\nX-A: " + b"a" * r.randint(10000, 200000) + b"\r\n\r\n"]
        if k == 3:
            return "huge-path", [b"GET /" + b"v" * r.randint(9000, 100000) + b" HTTP/1.1\r\n\r\n"]
        if k == 4:  # body before headers, bad content length, bad chunking
            return "out-of-order", [b"{\"x\":1}\r\nPOST " + tl.encode() + b" HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc"]
        if k == 5:
            return "bad-chunked", [b"POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nxx"]
        if k == 6:
            m = r.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW", "\x00"])
            p = r.choice(["/v1/status", "/metrics", tl, "/v1/tenant/zz/timeline/zz", "/v1/tenant/" + "ab" * 16 +
                          "/timeline/" + "cd" * 15, "/%00%ff", "/v1/status?" + "a=b&" * 2000, "*"])
            return "methods", [("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (m, p)).encode(errors="replace")]
        # many pipelined requests, never read
        return "pipelined", [b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * r.randint(10, 200)]

    def pg(self):
        r = self.rng
        k = r.randrange(8)
        opts = {"user": "hostile", "database": "replication", "replication": "true",
                "options": "-c tenant_id=%s -c timeline_id=%s" % (lt.TENANT, lt.TIMELINE)}
        if k == 0:
            return self.generic()
        if k == 1:  # startup length lies
            s = startup(opts)
            return "bad-length", [struct.pack(">I", r.choice([0, 3, 7, 0x7FFFFFFF, len(s) + 100])) + s[4:]]
        if k == 2:  # SSLRequest, then garbage
            return "ssl-then-garbage", [struct.pack(">II", 8, 80877103), junk(r, r.randint(1, 500))]
        if k == 3:  # CopyData before any START_REPLICATION
            return "out-of-order", [startup(opts), pg_msg(b"d", junk(r, r.randint(1, 200))), query("IDENTIFY_SYSTEM")]
        if k == 4:  # bad commands
            cmds = ["START_REPLICATION PHYSICAL FFFFFFFF/FFFFFFFF TIMELINE 1", "START_REPLICATION 0/0",
                    "TIMELINE_HISTORY 99", "READ_REPLICATION_SLOT %s" % ("x" * 500), "DROP_REPLICATION_SLOT nope",
                    "SELECT 1", "BASE_BACKUP", "START_REPLICATION PHYSICAL 0/1000001 TIMELINE 1", ""]
            return "commands", [startup(opts)] + [query(r.choice(cmds)) for _ in range(r.randint(1, 5))]
        if k == 5:  # a real stream, then hostile standby feedback and garbage
            fb = b"r" + struct.pack(">QQQqB", r.getrandbits(64), r.getrandbits(64), r.getrandbits(64), 0, 1)
            return "stream-then-garbage", [startup(opts), query("START_REPLICATION PHYSICAL %s TIMELINE 1" %
                                                                 lt.lsn_text(lt.START)),
                                           pg_msg(b"d", fb), pg_msg(b"d", junk(r, 30)), pg_msg(b"X", b"")]
        if k == 6:  # startup with unknown timeline, huge options, or missing zero
            o = dict(opts)
            o["options"] = r.choice(["-c tenant_id=zz", "-c timeline_id=" + "ee" * 16, "x" * 20000, "-c"])
            s = startup(o)
            return "bad-startup", [s if r.random() < 0.5 else s[:-1]]
        return "mutated", [mutate(r, startup(opts) + query("IDENTIFY_SYSTEM"))]

    def page(self):
        r = self.rng
        k = r.randrange(6)
        if k == 0:
            return self.generic()
        req = lt.getpage_request(self.spc, self.db, self.rel if r.random() < 0.5 else r.getrandbits(32),
                                 r.choice([0, 1, 2, 3, 200]), r.randrange(0, 1 << r.choice([3, 8, 32])),
                                 r.choice([0, lt.START, r.getrandbits(64), 0xFFFFFFFFFFFFFFFF]),
                                 version=r.choice([1, 1, 1, 0, 2, 99]))
        if k == 1:
            return "random-request", [lt.frame(req)]
        if k == 2:
            return "mutated", [lt.frame(mutate(r, req)) for _ in range(r.randint(1, 6))]
        if k == 3:
            return "truncated", [u32(len(req) + 50) + req[:r.randint(0, len(req))]]
        if k == 4:
            return "bad-length", [u32(r.choice([0, 0xFFFFFFFF, 0x10000000])) + req]
        return "pipelined", [lt.frame(req) * r.randint(10, 300)]


def exchange(rng, port, chunks, stats, key):
    """Connects, sends the chunks (pausing a little between some), maybe
    half-closes, reads a little, closes (sometimes with a reset). Bounded."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
    except OSError:
        stats[key + ("refused",)] = stats.get(key + ("refused",), 0) + 1
        return
    outcome = "sent"
    try:
        s.settimeout(2)
        for c in chunks:
            s.sendall(c)
            if rng.random() < 0.2:
                time.sleep(rng.random() * 0.05)
        if rng.random() < 0.5:
            s.shutdown(socket.SHUT_WR)
        if rng.random() < 0.7:
            s.settimeout(0.5)
            got = 0
            while got < 1 << 20:
                b = s.recv(65536)
                if not b:
                    outcome = "closed-by-server"
                    break
                got += len(b)
    except socket.timeout:
        outcome = "timeout"
    except OSError:
        outcome = "reset"
    finally:
        if rng.random() < 0.3:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    stats[key + (outcome,)] = stats.get(key + (outcome,), 0) + 1


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("safekeeper")
    ap.add_argument("pageserver")
    ap.add_argument("compute")
    ap.add_argument("codec_seeds")
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--samples", type=int, default=400)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    log("seed %d (replay: hostile_test.py ... --seed %d --seconds %g --workers %d)" % (seed, seed, a.seconds, a.workers))
    seeds = [open(os.path.join(a.codec_seeds, f), "rb").read() for f in sorted(os.listdir(a.codec_seeds))]
    check(seeds, "no codec seeds in %s" % a.codec_seeds)

    root = tempfile.mkdtemp(prefix="wq-hostile-")
    c = lt.Cluster([a.safekeeper, a.pageserver, a.compute], root)
    ok = False
    try:
        # Keep every segment (a learner's confirmed flush would let them go), so the
        # whole committed WAL can be compared at the end.
        c.start_safekeepers(extra=["--retention-bytes", str(1 << 40)])
        ps = c.start_pageserver(threshold=8, extra=["--getpage-timeout-ms", "1500"])
        comp = c.compute("--fpw", "off", "--duration", str(int(a.seconds) + 120), "--seed", str(seed % 1000 + 1))
        wait_for("the compute's first commits", lambda: comp.poll() is None and os.path.exists(
            os.path.join(c.truth, "committed")) and c.committed() > lt.START, timeout=60)
        journal = sorted(f for f in os.listdir(c.truth) if f.startswith("journal-"))[-1]
        head = open(os.path.join(c.truth, journal), "rb").read(16 + 16)
        spc, db = struct.unpack("<II", head[8:16])
        rel = struct.unpack("<I", head[16 + 8:16 + 12])[0] if len(head) >= 28 else 16384

        ports = []
        for sk in c.sks:
            ports += [(sk.name, "wal", sk.ports["wal"]), (sk.name, "http", sk.ports["http"]),
                      (sk.name, "pg", sk.ports["pg"])]
        ports += [(ps.name, "page", ps.ports["page"]), (ps.name, "http", ps.ports["http"])]
        daemons = c.sks + [ps]

        def commit_lsn():
            return max(lsn(lt.sk_timeline(sk)["commit_lsn"]) for sk in c.sks)

        before = commit_lsn()
        before_truth = c.committed()
        log("abusing %d ports with %d workers for %g s; commit LSN %s" % (len(ports), a.workers, a.seconds,
                                                                          lsn_text(before)))
        stats = {}
        locks = threading.Lock()
        end = time.monotonic() + a.seconds
        errors = []
        done = [0] * a.workers  # exchanges per worker, for the progress line

        def worker(i):
            rng = random.Random(seed * 1000 + i)
            gen = Abuse(rng, seeds, (spc, db, rel))
            local = {}
            try:
                while time.monotonic() < end:
                    name, kind, port = rng.choice(ports)
                    what, chunks = getattr(gen, "wal" if kind == "wal" else kind)()
                    exchange(rng, port, chunks, local, (kind, what))
                    done[i] += 1
            except Exception as e:  # noqa: BLE001  (reported after the join)
                errors.append("worker %d: %r" % (i, e))
            with locks:
                for k, v in local.items():
                    stats[k] = stats.get(k, 0) + v

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(a.workers)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=5)
            for d in daemons:
                d.alive()
            check(comp.poll() is None, "the compute exited during the abuse: %s" % comp.returncode)
            log("abuse: %d exchanges so far, commit LSN %s" % (sum(done), lsn_text(commit_lsn())))
        check(not errors, "abuse workers failed: %s" % errors)
        total = sum(stats.values())
        by_port = {}
        for (kind, what, outcome), n in sorted(stats.items()):
            by_port.setdefault(kind, []).append("%s/%s=%d" % (what, outcome, n))
        for kind in sorted(by_port):
            log("  %-5s %s" % (kind, " ".join(by_port[kind])))

        # 1. Everyone is up and answers HTTP.
        for d in daemons:
            d.alive()
            st = d.http_json("/v1/status")
            check(isinstance(st, dict), "%s /v1/status: %r" % (d.name, st))
        after = commit_lsn()
        after_truth = c.committed()
        check(after > before and after_truth > before_truth,
              "commits did not continue during the abuse: commit LSN %s -> %s, compute committed %s -> %s" %
              (lsn_text(before), lsn_text(after), lsn_text(before_truth), lsn_text(after_truth)))
        log("%d hostile exchanges; every process up; commit LSN %s -> %s during the abuse" %
            (total, lsn_text(before), lsn_text(after)))

        # 2. The compute ends cleanly; the committed WAL is identical on the safekeepers.
        summary = c.end(comp)
        commit = lsn(summary["commit_lsn"])
        flushes = {}

        def caught_up():
            for sk in c.sks:
                flushes[sk.name] = lsn(lt.sk_timeline(sk)["flush_lsn"])
            return sum(1 for f in flushes.values() if f >= commit) >= 2 and flushes
        wait_for("two safekeepers holding the commit LSN %s" % lsn_text(commit), caught_up, timeout=30)
        full = [sk for sk in c.sks if flushes[sk.name] >= commit]
        ref = lt.wal_bytes(full[0], lt.START, commit)
        for sk in c.sks:
            upto = min(commit, flushes[sk.name])
            got = lt.wal_bytes(sk, lt.START, upto)
            check(got == ref[:upto - lt.START], "%s's WAL differs from %s's below %s" %
                  (sk.name, full[0].name, lsn_text(upto)))
            log("%s: WAL [%s, %s) sha256 %s, identical" % (sk.name, lsn_text(lt.START), lsn_text(upto), sha(got)))

        # 3. The pageserver's pages match the compute's truth.
        c.wait_ingested(ps, commit)
        v, _ = c.verify(ps, a.samples, seed=seed % 1000 + 7)
        lt.clean(v, a.samples)
        for d in daemons:
            d.alive()
        log("hostile: seed %d, %d exchanges, %d txns, commit LSN %s, verify clean (%d samples)" %
            (seed, total, summary["txns"], lsn_text(commit), a.samples))
        ok = True
    finally:
        c.stop_all()
        if not ok:
            for p in lt.STARTED:
                print("---- %s log (tail) ----\n%s" % (p.name, p.log()[-3000:]), file=sys.stderr)
            print("seed %d; kept %s for inspection" % (seed, root), file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
