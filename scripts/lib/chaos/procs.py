"""The processes a chaos run starts: safekeepers, the pageserver and the
computes. Each is started by the chaos process itself (its child, in a
session of its own so a terminal's Ctrl-C reaches only chaos) and signalled
only by its PID."""
import os
import signal
import subprocess
import time


def log_tail(path, lines=6):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(l.strip() for l in f.read().splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Proc:
    """One node. argv() gives the command line of the next incarnation."""

    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.popen = None
        self.incarnation = 0
        self.state = "down"        # down | starting | up | stopped
        self.expect_exit = False   # we signalled it to end
        self.env = {}
        self.started_at = None

    def argv(self):
        raise NotImplementedError

    def port_files(self):
        return {}

    def spawn(self, env=None):
        assert self.popen is None or self.popen.poll() is not None, "%s still running" % self.name
        for p in self.port_files().values():
            if os.path.exists(p):
                os.unlink(p)
        self.incarnation += 1
        self.env = dict(env or {})
        full_env = dict(os.environ)
        full_env.pop("WQ_STORAGE_FAULT", None)
        full_env.update(self.env)
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        with open(self.log, "a") as log:
            log.write("==== chaos: starting %s incarnation %d env %s at %s\n" %
                      (self.name, self.incarnation, self.env, time.strftime("%H:%M:%S")))
            log.flush()
            self.popen = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self.stdout_target(log),
                                          stderr=log, start_new_session=True, close_fds=True, env=full_env)
        self.state = "starting"
        self.expect_exit = False
        self.started_at = time.monotonic()
        self.ports = {}

    def stdout_target(self, log):
        return log

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def poll_ready(self):
        """True once every port file is written (ports read into self.ports)."""
        if self.state != "starting":
            return self.state == "up"
        files = self.port_files()
        for p in files.values():
            if not (os.path.exists(p) and os.path.getsize(p) > 0):
                return False
        try:
            self.ports = {k: int(open(p).read().strip()) for k, p in files.items()}
        except (OSError, ValueError):
            return False
        self.state = "up"
        return True

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def kill9(self):
        self.expect_exit = True
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=30)
        self.state = "down"

    def terminate(self, timeout=15.0):
        """SIGTERM (with SIGCONT), SIGKILL after timeout. Returns the exit code."""
        if self.popen is None:
            return None
        self.expect_exit = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            rc = self.popen.wait(timeout=30)
        self.state = "down"
        return rc

    def stop(self):
        self.signal(signal.SIGSTOP)
        self.state = "stopped"

    def cont(self):
        self.signal(signal.SIGCONT)
        if self.state == "stopped":
            self.state = "up" if self.ports else "starting"


class Safekeeper(Proc):
    def __init__(self, i, exe, root, peers_fn, retention):
        super().__init__("sk%d" % i, os.path.join(root, "logs", "sk%d.log" % i))
        self.id = i
        self.exe = exe
        self.dir = os.path.join(root, "sk%d" % i)
        os.makedirs(self.dir, exist_ok=True)
        self.peers_fn = peers_fn
        self.retention = retention

    def argv(self):
        return [self.exe, "--id", str(self.id), "--data-dir", self.dir,
                "--listen-wal", "127.0.0.1:0", "--listen-http", "127.0.0.1:0", "--listen-pg", "127.0.0.1:0",
                "--peers", self.peers_fn(self), "--retention-bytes", str(self.retention)]

    def port_files(self):
        return {k: os.path.join(self.dir, "%s.port" % k) for k in ("wal", "http", "pg")}


class Pageserver(Proc):
    def __init__(self, exe, root, sks_fn, tenant, timeline, start_lsn):
        super().__init__("ps", os.path.join(root, "logs", "ps.log"))
        self.exe = exe
        self.dir = os.path.join(root, "ps")
        os.makedirs(self.dir, exist_ok=True)
        self.sks_fn = sks_fn
        self.tenant, self.timeline, self.start_lsn = tenant, timeline, start_lsn

    def argv(self):
        return [self.exe, "--data-dir", self.dir, "--safekeepers", self.sks_fn(),
                "--listen-page", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
                "--tenant-id", self.tenant, "--timeline-id", self.timeline, "--start-lsn", self.start_lsn,
                "--retention-bytes", "0"]

    def port_files(self):
        return {"page": os.path.join(self.dir, "page.port"), "http": os.path.join(self.dir, "http.port")}


class Compute(Proc):
    """One incarnation of a timeline's compute (a new Compute per incarnation)."""

    def __init__(self, label, n, exe, root, sks, tenant, timeline, clients, seed, duration, history,
                 extra=()):
        super().__init__("c%s#%d" % (label, n), os.path.join(root, "logs", "c%s-%d.log" % (label, n)))
        self.label, self.n = label, n
        self.exe = exe
        self.sks = sks
        self.tenant, self.timeline = tenant, timeline
        self.clients, self.seed, self.duration = clients, seed, duration
        self.truth_dir = os.path.join(root, "truth", "%s-%d" % (label, n))
        self.history = os.path.join(root, "history", "%s-%d.txt" % (label, n)) if history else None
        self.summary = os.path.join(root, "logs", "c%s-%d.json" % (label, n))
        self.extra = list(extra)
        self.expect_superseded = False
        self.term = None
        self.exit_code = None

    def argv(self):
        a = [self.exe, "--safekeepers", self.sks, "--tenant", self.tenant, "--timeline", self.timeline,
             "--clients", str(self.clients), "--duration", str(self.duration), "--relations", "2",
             "--blocks", "128", "--checkpoint-interval", "10", "--seed", str(self.seed),
             "--truth-dir", self.truth_dir, "--json"] + self.extra
        if self.history:
            os.makedirs(os.path.dirname(self.history), exist_ok=True)
            a += ["--history", self.history]
        return a

    def stdout_target(self, log):
        return open(self.summary, "w")

    def poll_ready(self):
        """Up once it has been elected and loaded its relations (its log says so)."""
        if self.state == "starting":
            t = self.read_term()
            if t is not None:
                self.state = "up"
        return self.state == "up"

    def read_term(self):
        if self.term is None:
            try:
                with open(self.log, errors="replace") as f:
                    for line in f:
                        if "walquorum-compute: term " in line:
                            self.term = int(line.split("term ", 1)[1].split(",")[0])
                            break
            except (OSError, ValueError):
                pass
        return self.term
