"""A chaos run: the cluster, the workload, the injector, the sampler and the
end sequence (heal, progress, closing computes, pageserver verify, stop).
Everything it learns goes to OUT/run.json for the offline checker."""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from . import proxy as proxymod
from . import schedule as schedmod
from .procs import Compute, Pageserver, Safekeeper, log_tail
from .util import lsn, lsn_text

TENANT = "c4" * 16
TIMELINES = {"A": "0a" * 16, "B": "0b" * 16}
CLIENTS = {"A": 4, "B": 2}
START_TIMEOUT_S = 60.0
KEEP_ALL = 1 << 60  # --retention-bytes: keep every segment so every acknowledged span stays checkable


class Abort(Exception):
    pass


def http_json(port, path, timeout=1.0):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return json.loads(r.read())
    except Exception:
        return None


def help_text(exe, *args):
    try:
        r = subprocess.run([exe] + list(args) + ["--help"], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired):
        return ""


class Runner:
    def __init__(self, a, bins, out):
        self.a = a
        self.bins = bins
        self.out = out
        self.n = a.safekeepers
        self.minority = (self.n - 1) // 2
        self.t0 = None
        self.plan = a.plan
        self.proxy = None
        self.sks = {}
        self.ps = None
        self.computes = {"A": [], "B": []}
        self.findings = []        # unexpected events (bugs or suspicious), each a dict
        self.executed = []        # faults as run
        self.counts = collections.Counter()
        self.samples = []
        self.sample_lock = threading.Lock()
        self.stop_sampler = threading.Event()
        self.sampler_rounds = 0
        self.sample_cv = threading.Condition()
        self.hist_count = {"A": 0, "B": 0}
        self.hist_offsets = {}
        chelp = help_text(bins["compute"])
        self.has_history = "--history" in chelp
        self.has_verify = "verify" in chelp
        skhelp_env = "WQ_STORAGE_FAULT"
        self.powercut_supported = _binary_mentions(bins["safekeeper"], skhelp_env)
        self.notes = []
        if not self.has_history:
            self.notes.append("walquorum-compute has no --history: acknowledged commits are not recorded")
        if not self.powercut_supported:
            self.notes.append("walquorum-safekeeper does not know WQ_STORAGE_FAULT: power cuts lose nothing "
                              "more than kill -9")

    # ------------------------------------------------------------ helpers

    def now(self):
        return time.monotonic() - self.t0 if self.t0 else 0.0

    def finding(self, what, **kw):
        kw.update({"what": what, "t": round(self.now(), 2)})
        self.findings.append(kw)
        print("\n[chaos] FINDING at %.1fs: %s %s" % (self.now(), what,
              " ".join("%s=%s" % (k, v) for k, v in kw.items() if k not in ("what", "t"))), flush=True)

    def sk_names(self):
        return ["sk%d" % i for i in range(1, self.n + 1)]

    def peers_of(self, node):
        return ",".join("127.0.0.1:%d" % self.proxy.port(node.name, other)
                        for other in self.sk_names() if other != node.name)

    def sks_for(self, client):
        return ",".join("127.0.0.1:%d" % self.proxy.port(client, s) for s in self.sk_names())

    def on_ready(self, node):
        """A (re)started node listens: point its proxies at its new ports."""
        if isinstance(node, Safekeeper):
            for client in ("cA", "cB") + tuple(self.sk_names()):
                if client != node.name:
                    self.proxy.set_upstream(client, node.name, ("127.0.0.1", node.ports["wal"]))
            self.proxy.set_upstream("ps", node.name, ("127.0.0.1", node.ports["pg"]))

    def start_node(self, node, env=None, wait=False):
        node.spawn(env)
        if wait:
            self.wait_ready(node, START_TIMEOUT_S)

    def wait_ready(self, node, timeout):
        deadline = time.monotonic() + timeout
        while not node.poll_ready():
            if not node.alive():
                raise Abort("%s exited with %s while starting: %s" % (node.name, node.popen.returncode,
                                                                      log_tail(node.log)))
            if time.monotonic() > deadline:
                raise Abort("%s not ready within %.0f s: %s" % (node.name, timeout, log_tail(node.log)))
            time.sleep(0.05)
        self.on_ready(node)

    def sk_env(self, powercut):
        return {"WQ_STORAGE_FAULT": "powercut"} if powercut else {}

    def current_compute(self, label):
        cs = self.computes[label]
        return cs[-1] if cs else None

    def new_compute(self, label, duration=None, closing=False):
        n = len(self.computes[label]) + 1
        c = Compute(label, n, self.bins["compute"], self.out, self.sks_for("c" + label), TENANT,
                    TIMELINES[label], CLIENTS[label], self.a.seed * 1000 + n + (500 if label == "B" else 0),
                    duration if duration is not None else 10 ** 6, self.has_history)
        c.closing = closing
        self.computes[label].append(c)
        c.spawn()
        return c

    # ------------------------------------------------------------ sampler

    def sampler(self):
        while not self.stop_sampler.wait(1.0):
            with self.sample_cv:
                self.sampler_rounds += 1  # a round starts
                self.sample_cv.notify_all()
            t = self.now()
            for s in list(self.sks.values()):
                if s.state != "up" or "http" not in s.ports:
                    continue
                for label, tl in TIMELINES.items():
                    j = http_json(s.ports["http"], "/v1/tenant/%s/timeline/%s" % (TENANT, tl))
                    if not j or "commit_lsn" not in j:
                        continue
                    with self.sample_lock:
                        self.samples.append({"t": round(t, 2), "sk": s.name, "inc": s.incarnation,
                                             "tl": label, "term": j.get("term"), "commit": j["commit_lsn"],
                                             "flush": j["flush_lsn"],
                                             "persisted_commit": j.get("persisted_commit_lsn"),
                                             "corrupt": j.get("corrupt")})

    def max_commit(self, label):
        with self.sample_lock:
            vals = [lsn(x["commit"]) for x in self.samples if x["tl"] == label]
        return max(vals) if vals else 0

    def count_history(self):
        for label, cs in self.computes.items():
            for c in cs:
                if not c.history or not os.path.exists(c.history):
                    continue
                off = self.hist_offsets.get(c.history, 0)
                try:
                    with open(c.history, "rb") as f:
                        f.seek(off)
                        data = f.read()
                except OSError:
                    continue
                cut = data.rfind(b"\n") + 1
                self.hist_count[label] += data[:cut].count(b"\n")
                self.hist_offsets[c.history] = off + cut

    def last_acked_end(self, c):
        """End LSN of the last complete line of a compute's history (0 if none)."""
        try:
            with open(c.history, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 4096))
                lines = f.read().split(b"\n")[:-1]
            return lsn(lines[-1].split()[1].decode()) if lines else 0
        except (OSError, ValueError, IndexError, TypeError):
            return 0

    # ------------------------------------------------------------ setup

    def setup(self):
        self.proxy = proxymod.Proxy()
        rate = self.a.rate_kbps * 1024 if self.a.rate_kbps > 0 else None
        for s in self.sk_names():
            for c in ("cA", "cB"):
                self.proxy.add_link(c, s, rate_bytes=rate)
            self.proxy.add_link("ps", s)
            for other in self.sk_names():
                if other != s:
                    self.proxy.add_link(other, s)
        modes = self.plan["initial_powercut_modes"]
        for i in range(1, self.n + 1):
            sk = Safekeeper(i, self.bins["safekeeper"], self.out, self.peers_of, KEEP_ALL)
            self.sks[sk.name] = sk
            sk.spawn(self.sk_env(modes[sk.name]))
        for sk in self.sks.values():
            self.wait_ready(sk, START_TIMEOUT_S)
        self.t0 = time.monotonic()
        threading.Thread(target=self.sampler, name="chaos-sampler", daemon=True).start()
        ca = self.new_compute("A")
        self.wait_ready(ca, START_TIMEOUT_S)
        st = None
        for s in self.sks.values():
            st = http_json(s.ports["http"], "/v1/tenant/%s/timeline/%s" % (TENANT, TIMELINES["A"])) or st
        start = st["timeline_start_lsn"] if st else "0/1000000"
        self.ps = Pageserver(self.bins["pageserver"], self.out,
                             lambda: ",".join("127.0.0.1:%d" % self.proxy.port("ps", s) for s in self.sk_names()),
                             TENANT, TIMELINES["A"], start)
        self.start_node(self.ps, wait=True)
        cb = self.new_compute("B")
        self.wait_ready(cb, START_TIMEOUT_S)
        self.t0 = time.monotonic()  # the plan's clock starts with the workload

    # ------------------------------------------------------------ faults

    def impaired(self):
        """Safekeepers a compute cannot use right now: not up, or a compute link cut."""
        out = {n for n, s in self.sks.items() if s.state != "up"}
        for d in self.proxy.cut_directions():
            link = d.split(":")[0]
            src, dst = link.split("->")
            if src in ("cA", "cB"):
                out.add(dst)
        return out

    def fault_impairs(self, f):
        k = f["kind"]
        if k in ("kill9", "powercut", "stop", "restart", "isolate"):
            return {f["target"]} - {"ps"}
        if k.startswith("partition"):
            if f["a"] in ("cA", "cB"):
                return {f["b"]}
            if f["b"] in ("cA", "cB"):
                return {f["a"]}
        return set()

    def node(self, name):
        return self.ps if name == "ps" else self.sks[name]

    def apply(self, f):
        """Starts fault f. Returns False if it must wait (state does not allow it yet)."""
        k = f["kind"]
        imp = self.fault_impairs(f)
        if imp and len(self.impaired() | imp) > self.minority:
            return False
        if k in ("kill9", "powercut", "stop", "restart"):
            node = self.node(f["target"])
            if node.state not in ("up",):
                return False
            if k == "stop":
                node.stop()
            elif k == "restart":
                rc = node.terminate()
                if rc not in (0, -signal.SIGTERM):
                    self.finding("clean stop did not exit 0", node=node.name, code=rc, log=log_tail(node.log))
            else:
                node.kill9()
        elif k.startswith("partition"):
            a, b = f["a"], f["b"]
            self.proxy.cut(a, b, reset=f.get("reset_on_cut", False))
            if k == "partition_sym":
                self.proxy.cut(b, a, reset=f.get("reset_on_cut", False))
        elif k == "isolate":
            t = f["target"]
            others = ["cA", "cB"] + [s for s in self.sk_names() if s != t] + (["ps"] if f.get("cut_pageserver") else [])
            for o in others:
                self.proxy.cut(t, o)
                self.proxy.cut(o, t)
            if f.get("reset_on_cut"):
                self.proxy.reset_links_of(t)
        elif k == "compute_replace":
            label = f["target"][1:]
            old = self.current_compute(label)
            if old is None or old.state != "up":
                return False
            if f["variant"] == "kill_first":
                old.kill9()
                old.exit_code = old.popen.returncode
            else:
                old.expect_superseded = True
                old.superseded_deadline = time.monotonic() + 60.0
            self.new_compute(label)
        return True

    def heal(self, f):
        k = f["kind"]
        if k in ("kill9", "powercut", "restart"):
            node = self.node(f["target"])
            if node.state == "down":
                env = self.sk_env(f.get("next_powercut_mode", False)) if node is not self.ps else {}
                self.start_node(node, env)
        elif k == "stop":
            self.node(f["target"]).cont()
        elif k.startswith("partition"):
            a, b = f["a"], f["b"]
            self.proxy.heal(a, b, reset=f.get("reset_on_heal", False))
            if k == "partition_sym":
                self.proxy.heal(b, a, reset=f.get("reset_on_heal", False))
        elif k == "isolate":
            t = f["target"]
            others = ["cA", "cB"] + [s for s in self.sk_names() if s != t] + (["ps"] if f.get("cut_pageserver") else [])
            for o in others:
                self.proxy.heal(t, o)
                self.proxy.heal(o, t)
            if f.get("reset_on_heal"):
                self.proxy.reset_links_of(t)

    def watch(self):
        """Readiness of starting nodes, and exits nobody asked for."""
        for node in list(self.sks.values()) + [self.ps]:
            if node.state == "starting" and node.alive() and node.poll_ready():
                self.on_ready(node)
            if node.popen is not None and not node.expect_exit and node.popen.poll() is not None:
                rc = node.popen.returncode
                self.finding("unexpected exit", node=node.name, incarnation=node.incarnation, code=rc,
                             log=log_tail(node.log))
                node.state = "down"
                env = self.sk_env(False) if node is not self.ps else {}
                self.start_node(node, env)
        for label, cs in self.computes.items():
            for c in cs:
                if c.state == "starting" and c.alive():
                    c.poll_ready()
                if c.popen is None or c.exit_code is not None:
                    continue
                rc = c.popen.poll()
                if rc is None:
                    if c.expect_superseded and time.monotonic() > c.superseded_deadline:
                        self.finding("replaced compute still running 60 s after its successor started",
                                     node=c.name, log=log_tail(c.log))
                        c.kill9()
                        c.exit_code = c.popen.returncode
                    continue
                c.exit_code = rc
                c.state = "down"
                if c.expect_exit:
                    continue
                if rc == 3 and c.expect_superseded:
                    self.counts["superseded_exit_3"] += 1
                    continue
                if getattr(c, "closing", False) and rc == 0:
                    continue
                self.finding("compute exited", node=c.name, code=rc, log=log_tail(c.log))
                if c is self.current_compute(label) and not getattr(c, "closing", False) and not self.finishing:
                    self.new_compute(label)

    def live_line(self, final=False):
        self.count_history()
        kinds = " ".join("%s %d" % (k, self.counts[k]) for k in schedmod.KINDS if self.counts[k])
        total = sum(self.counts[k] for k in schedmod.KINDS)
        down = sorted(self.impaired())
        line = ("[chaos] %s/%s faults %d (%s) | acked A %d B %d | commit A %s B %s | impaired %s" %
                (_mmss(self.now()), _mmss(self.a.minutes * 60), total, kinds or "-", self.hist_count["A"],
                 self.hist_count["B"], lsn_text(self.max_commit("A")), lsn_text(self.max_commit("B")),
                 ",".join(down) or "-"))
        if sys.stderr.isatty() and not final:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def inject(self):
        horizon = self.a.minutes * 60.0
        pending = [(f["at"], 0, f["id"], "start", f) for f in self.plan["faults"]]
        pending.sort(key=lambda x: (x[0], x[1], x[2]))
        active = {}
        last_line = 0.0
        while pending or active:
            t = self.now()
            self.watch()
            if t - last_line >= 2.0:
                self.live_line()
                last_line = t
            due = [p for p in pending if p[0] <= t]
            for p in due:
                at, _, fid, what, f = p
                pending.remove(p)
                if what == "start":
                    if self.apply(f):
                        rec = {"id": fid, "kind": f["kind"], "planned_at": f["at"], "started": round(self.now(), 2)}
                        rec.update({k: v for k, v in f.items() if k not in ("id", "at", "kind", "dur")})
                        self.executed.append(rec)
                        active[fid] = rec
                        self.counts[f["kind"]] += 1
                        pending.append((self.now() + f["dur"], 1, fid, "heal", f))
                    elif t - at < 30.0 and t < horizon + 30.0:
                        pending.append((t + 0.25, 0, fid, "start", f))  # wait until the state allows it
                    else:
                        self.executed.append({"id": fid, "kind": f["kind"], "planned_at": f["at"], "skipped": True})
                else:
                    self.heal(f)
                    active.pop(fid)["healed"] = round(self.now(), 2)
            if not pending and not active:
                break
            time.sleep(0.05)

    # ------------------------------------------------------------ end

    def heal_everything(self):
        self.proxy.heal_all()
        for node in list(self.sks.values()) + [self.ps]:
            if node.state == "stopped":
                node.cont()
            if node.state == "down":
                self.start_node(node, self.sk_env(False) if node is not self.ps else {})
        for node in list(self.sks.values()) + [self.ps]:
            if node.state == "starting":
                self.wait_ready(node, START_TIMEOUT_S)

    def finish(self):
        self.finishing = True
        result = {}
        self.heal_everything()
        heal_t = self.now()
        result["healed_at"] = round(heal_t, 2)
        # Wait for a sampler round that started after healing (bounded).
        with self.sample_cv:
            first = self.sampler_rounds + 1
            self.sample_cv.wait_for(lambda: self.sampler_rounds > first, timeout=10.0)
        heal_commit = {label: self.max_commit(label) for label in TIMELINES}
        result["commit_at_heal"] = {k: lsn_text(v) for k, v in heal_commit.items()}
        # Progress: each timeline's running compute acknowledges beyond the commit LSN at healing.
        progress = {}
        deadline = time.monotonic() + 90.0
        for label in TIMELINES:
            while True:
                self.watch()
                c = self.current_compute(label)
                end = self.last_acked_end(c) if (c and self.has_history) else self.max_commit(label)
                if end > heal_commit[label]:
                    progress[label] = lsn_text(end)
                    break
                if time.monotonic() > deadline:
                    progress[label] = None
                    self.finding("no progress after healing", timeline=label,
                                 commit_at_heal=lsn_text(heal_commit[label]))
                    break
                time.sleep(0.2)
        result["progress_after_heal"] = progress
        # Closing computes: a last incarnation per timeline runs briefly and exits 0; the ones
        # they replace must exit 3 (superseded).
        closing = {}
        for label in TIMELINES:
            old = self.current_compute(label)
            if old and old.alive():
                old.expect_superseded = True
                old.superseded_deadline = time.monotonic() + 60.0
            closing[label] = self.new_compute(label, duration=3, closing=True)
        deadline = time.monotonic() + 120.0
        while any(c.alive() for cs in self.computes.values() for c in cs) and time.monotonic() < deadline:
            self.watch()
            time.sleep(0.1)
        self.watch()
        final_commit = {}
        for label, c in closing.items():
            if c.alive():
                self.finding("closing compute did not finish", node=c.name, log=log_tail(c.log))
                c.kill9()
            summ = _read_json(c.summary)
            if c.popen.returncode != 0 or not summ:
                self.finding("closing compute failed", node=c.name, code=c.popen.returncode, log=log_tail(c.log))
            final_commit[label] = lsn(summ["commit_lsn"]) if summ and "commit_lsn" in summ else self.max_commit(label)
        result["closing_commit"] = {k: lsn_text(v) for k, v in final_commit.items()}
        for cs in self.computes.values():
            for c in cs:
                if c.alive():
                    c.kill9()
        # Settle: every safekeeper holds the closing commit LSN (peer recovery fills laggards).
        settled = {}
        deadline = time.monotonic() + 90.0
        for label, tl in TIMELINES.items():
            while True:
                sts = {n: http_json(s.ports["http"], "/v1/tenant/%s/timeline/%s" % (TENANT, tl))
                       for n, s in self.sks.items()}
                ok = all(st and lsn(st["flush_lsn"]) >= final_commit[label] for st in sts.values())
                if ok or time.monotonic() > deadline:
                    settled[label] = ok
                    break
                self.watch()
                time.sleep(0.2)
        result["settled"] = settled
        # The pageserver against each incarnation's truth journal of timeline A.
        result["verify"] = self.verify(final_commit["A"])
        # Final state of every safekeeper, then stop everything.
        final = {}
        for n, s in self.sks.items():
            final[n] = {label: http_json(s.ports["http"], "/v1/tenant/%s/timeline/%s" % (TENANT, tl), timeout=5.0)
                        for label, tl in TIMELINES.items()}
        result["final_status"] = final
        self.stop_sampler.set()
        return result

    def verify(self, commit_a):
        if not self.has_verify:
            self.notes.append("walquorum-compute has no verify: the pageserver was not checked")
            return {"skipped": "walquorum-compute has no verify subcommand"}
        # The pageserver ingests up to the closing commit first (bounded wait).
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            st = http_json(self.ps.ports["http"], "/v1/status")
            got = _ps_lsn(st)
            if got is not None and got >= commit_a:
                break
            time.sleep(0.5)
        out = []
        for c in self.computes["A"]:
            committed = os.path.join(c.truth_dir, "committed")
            if not os.path.exists(committed):
                out.append({"compute": c.name, "skipped": "no committed file"})
                continue
            cmd = [self.bins["compute"], "verify", "--pageserver", "127.0.0.1:%d" % self.ps.ports["page"],
                   "--truth-dir", c.truth_dir, "--samples", str(self.a.verify_samples), "--json"]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                rc, text = r.returncode, (r.stdout.strip() or r.stderr.strip())[-2000:]
            except subprocess.TimeoutExpired:
                rc, text = None, "timed out after 300 s"
            out.append({"compute": c.name, "exit": rc, "output": text, "command": " ".join(cmd)})
        return {"runs": out}

    def stop_all(self):
        for cs in self.computes.values():
            for c in cs:
                if c.alive():
                    c.kill9()
        for node in list(self.sks.values()) + ([self.ps] if self.ps else []):
            if node.alive():
                node.terminate(timeout=10.0)
        if self.proxy:
            self.proxy.close()

    def report(self):
        def comp(c):
            return {"name": c.name, "timeline": c.label, "n": c.n, "term": c.read_term(), "history": c.history,
                    "truth_dir": c.truth_dir, "exit": c.exit_code if c.exit_code is not None else
                    (c.popen.returncode if c.popen else None), "closing": getattr(c, "closing", False),
                    "log": c.log}
        return {"computes": [comp(c) for cs in self.computes.values() for c in cs],
                "sk_nodes": {n: {"dir": s.dir, "incarnations": s.incarnation, "log": s.log}
                                for n, s in self.sks.items()},
                "pageserver": {"dir": self.ps.dir if self.ps else None, "log": self.ps.log if self.ps else None},
                "executed": self.executed, "counts": {k: self.counts[k] for k in schedmod.KINDS},
                "superseded_exit_3": self.counts["superseded_exit_3"],
                "findings": self.findings, "notes": self.notes,
                "has_history": self.has_history, "powercut_supported": self.powercut_supported}


def _ps_lsn(st):
    if not isinstance(st, dict):
        return None
    for key in ("durable_lsn", "ingest_lsn", "last_record_lsn", "flush_lsn", "applied_lsn"):
        v = st.get(key)
        if isinstance(v, str) and "/" in v:
            return lsn(v)
    for v in st.values():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            got = _ps_lsn(v[0])
            if got is not None:
                return got
    return None


def _read_json(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1]) if text else None
    except (OSError, ValueError, IndexError):
        return None


def _binary_mentions(exe, word):
    try:
        with open(exe, "rb") as f:
            return word.encode() in f.read()
    except OSError:
        return False


def _mmss(s):
    s = max(0, int(s))
    return "%02d:%02d" % (s // 60, s % 60)


def run(a, bins, out):
    """Runs the chaos and writes OUT/run.json. Returns the Runner's result dict."""
    os.makedirs(out, exist_ok=True)
    # A frozen copy of the programs: a rebuild during the run cannot change or remove what a
    # restart executes, and the run directory keeps the exact binaries a failure ran on.
    os.makedirs(os.path.join(out, "bin"), exist_ok=True)
    frozen = {}
    for k, exe in bins.items():
        frozen[k] = os.path.join(out, "bin", os.path.basename(exe))
        shutil.copy2(exe, frozen[k])
    bins = frozen
    with open(os.path.join(out, "schedule.json"), "w") as f:
        json.dump(a.plan, f, indent=1)
    r = Runner(a, bins, out)
    r.finishing = False
    meta = {"seed": a.seed, "minutes": a.minutes, "safekeepers": a.safekeepers, "tenant": TENANT,
            "timelines": TIMELINES, "rate_kbps": a.rate_kbps, "command": a.command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    result = {}
    interrupted = False
    try:
        print("[chaos] seed %d, %d safekeepers, %g min, out %s" % (a.seed, a.safekeepers, a.minutes, out), flush=True)
        for note in r.notes:
            print("[chaos] note: " + note, flush=True)
        r.setup()
        print("[chaos] cluster up: %s, pageserver, computes A (%d clients) and B (%d clients); %d faults planned"
              % (", ".join(r.sk_names()), CLIENTS["A"], CLIENTS["B"], len(a.plan["faults"])), flush=True)
        r.inject()
        r.live_line(final=True)
        print("[chaos] faults done at %s; healing, closing computes, verifying" % _mmss(r.now()), flush=True)
        result = r.finish()
    except KeyboardInterrupt:
        interrupted = True
        print("\n[chaos] interrupted: stopping every process it started", flush=True)
    except Abort as e:
        r.finding("aborted", reason=str(e))
    finally:
        r.stop_sampler.set()
        r.stop_all()
    meta.update(result)
    meta.update(r.report())
    meta["interrupted"] = interrupted
    meta["duration_s"] = round(r.now(), 1)
    with open(os.path.join(out, "samples.json"), "w") as f:
        json.dump(r.samples, f)
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta
