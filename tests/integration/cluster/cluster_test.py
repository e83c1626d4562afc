#!/usr/bin/env python3
"""scripts/cluster end to end: up with 3 safekeepers and 1 pageserver, status
shows them alive (table and --json, HTTP reachable), env exports their
addresses, kill -9 of one shows it down, start brings it back on the same
ports, a SIGSTOPped node shows "stopped", down leaves no process (checked by
PID), down again is fine, and bad command lines exit 2 with one error line.
The pageserver follows the cluster's timeline from the safekeepers' pg ports:
after a short walquorum-compute run its ingest LSN reaches the commit LSN (and
`compute verify` is clean); killed with kill -9 by role name and started
again, it resumes at its durable LSN on the same ports. The script runs as a separate process each time, as a
person would run it; every PID it recorded is killed in a finally block if
still there. Every wait is a bounded poll with a deadline.

usage: cluster_test.py CLUSTER_SCRIPT BUILD_DIR COMPUTE_EXE
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wqtest import check, lsn, wait_for  # noqa: E402


def pid_alive(pid):
    """True while `pid` is a process that is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Cluster:
    def __init__(self, script, build, d):
        self.script, self.build, self.dir = script, build, d
        self.pids = set()  # every PID the script ever recorded, for the finally block

    def run(self, *args, expect=0):
        where = ["--dir", self.dir] if args else []  # no arguments at all is one of the bad command lines
        r = subprocess.run([sys.executable, self.script] + list(args) + where,
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, WQ_BUILD=self.build))
        self.remember()
        check(expect is None or r.returncode == expect,
              "cluster %s: exit %d, expected %s\nstdout:\n%s\nstderr:\n%s" %
              (" ".join(args), r.returncode, expect, r.stdout, r.stderr))
        return r

    def remember(self):
        try:
            with open(os.path.join(self.dir, "cluster.json")) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return
        self.pids.update(n["pid"] for n in st["nodes"] if n.get("pid"))

    def status(self):
        return {n["name"]: n for n in json.loads(self.run("status", "--json").stdout)["nodes"]}

    def kill_leftovers(self):
        for pid in self.pids:
            if pid_alive(pid):
                print("killing leftover pid %d" % pid)
                try:
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def http_ok(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/status" % port, timeout=5) as r:
        return r.status == 200 and "timelines" in json.loads(r.read())


def main():
    script, build, compute = (os.path.abspath(a) for a in sys.argv[1:4])
    root = tempfile.mkdtemp(prefix="cluster_test_")
    c = Cluster(script, build, os.path.join(root, "c"))
    ok = False
    try:
        # Bad command lines: exit 2, one line on stderr naming the problem.
        for args in (["up", "--safekeepers", "0"], ["up", "--safekeepers", "three"], ["frobnicate"], [],
                     ["kill"], ["kill", "1", "--signal", "HUP"], ["status", "--max-timelines", "x"],
                     ["up", "--pageservers", "2"], ["up", "--tenant", "xyz"], ["up", "--image-threshold", "-1"],
                     ["up", "--retention-bytes", "lots"]):
            r = c.run(*args, expect=2)
            lines = r.stderr.strip().splitlines()
            check(len(lines) == 1 and lines[0].startswith("cluster: error: "),
                  "%s: not one error line: %r" % (args, r.stderr))
            print("exit 2: %s" % lines[0])
        # No cluster yet: status fails (1), down is a no-op (0).
        check("no cluster" in c.run("status", expect=1).stderr, "status without a cluster")
        c.run("down")
        # Missing binaries: exit 1 naming the build step, nothing started.
        r = subprocess.run([sys.executable, script, "up", "--dir", c.dir, "--build", os.path.join(root, "nobuild")],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 1 and "meson setup build" in r.stderr, "missing build: %d %r" % (r.returncode, r.stderr))

        out = c.run("up", "--safekeepers", "3").stdout
        print(out.strip())
        st = c.status()
        check(sorted(st) == ["ps1", "sk1", "sk2", "sk3"], "nodes: %s" % sorted(st))
        for name, n in st.items():
            check(n["state"] == "running" and pid_alive(n["pid"]), "%s not running: %s" % (name, n))
            check(os.path.getsize(n["log"]) > 0, "%s: empty log" % name)
            if n["role"] == "safekeeper":
                check(n["status"] is not None and n["status"]["node_id"] == n["id"],
                      "%s: no HTTP status: %s" % (name, n))
        ps = st["ps1"]
        check(ps["role"] == "pageserver" and ps["status"] is not None, "ps1: no HTTP status: %s" % ps)
        tenant, timeline = json.loads(c.run("status", "--json").stdout)["tenant_id"], ps["status"]["timeline_id"]
        check(ps["status"]["tenant_id"] == tenant and len(timeline) == 32, "ps1 follows another timeline: %s" % ps)
        sks = ",".join("127.0.0.1:%d" % st["sk%d" % i]["ports"]["wal"] for i in (1, 2, 3))
        check("--safekeepers %s" % sks in out, "up does not print the --safekeepers string")
        env = dict(line[len("export "):].split("=", 1) for line in c.run("env").stdout.splitlines())
        check(env.get("WQ_SAFEKEEPERS") == sks, "env does not export WQ_SAFEKEEPERS: %s" % env)
        check(env.get("WQ_PAGESERVER") == "127.0.0.1:%d" % ps["ports"]["page"] and
              env.get("WQ_PAGESERVER_HTTP") == "127.0.0.1:%d" % ps["ports"]["http"] and
              env.get("WQ_TENANT") == tenant and env.get("WQ_TIMELINE") == timeline,
              "env does not export the pageserver and timeline: %s" % env)
        check("--server 127.0.0.1:%d" % ps["ports"]["page"] in out, "up does not print the getpage line")
        # Peers: passed only when the safekeeper has the flag; then each node
        # names the other two nodes' WAL ports.
        with open(os.path.join(c.dir, "cluster.json")) as f:
            recorded = {n["name"]: n for n in json.load(f)["nodes"]}
        has_peers = "--peers" in subprocess.run([recorded["sk1"]["argv"][0], "--help"], capture_output=True,
                                                text=True, timeout=30).stdout
        pg = ",".join("127.0.0.1:%d" % st["sk%d" % i]["ports"]["pg"] for i in (1, 2, 3))
        argv = recorded["ps1"]["argv"]
        for flag, want in (("--safekeepers", pg), ("--tenant-id", tenant), ("--timeline-id", timeline),
                           ("--start-lsn", "0/1000000")):
            check(flag in argv and argv[argv.index(flag) + 1] == want, "ps1: %s is not %s: %s" % (flag, want, argv))
        for name, n in recorded.items():
            if n["role"] != "safekeeper":
                continue
            argv = n["argv"]
            if has_peers:
                want = ",".join("127.0.0.1:%d" % st[o]["ports"]["wal"] for o in ("sk1", "sk2", "sk3") if o != name)
                check("--peers" in argv and argv[argv.index("--peers") + 1] == want,
                      "%s: --peers is not the other nodes' WAL ports (%s): %s" % (name, want, argv))
            else:
                check("--peers" not in argv, "%s: --peers passed to a safekeeper without it" % name)
        print("--peers %s" % ("passed to each node" if has_peers else "not supported by this safekeeper"))
        table = c.run("status").stdout
        check(table.count("running") == 4, "table does not show 4 running:\n%s" % table)
        check("ingest_lsn" in table and "ps1" in table, "table does not show the pageserver:\n%s" % table)
        print(table.strip())
        # Up again on a running cluster starts nothing new.
        c.run("up")
        check({k: v["pid"] for k, v in c.status().items()} == {k: v["pid"] for k, v in st.items()},
              "up on a running cluster changed PIDs")
        check(c.run("up", "--safekeepers", "5", expect=2).stderr.count("\n") == 1, "up with another size")
        check(c.run("up", "--pageservers", "0", expect=2).stderr.count("\n") == 1, "up without the pageserver")
        check(c.run("up", "--timeline", "ef" * 16, expect=2).stderr.count("\n") == 1, "up with another timeline")
        check(c.run("kill", "ps9", expect=2).stderr.count("\n") == 1, "kill of a node that is not there")

        # A short compute run on the cluster's timeline: the pageserver ingests it to the commit LSN.
        r = subprocess.run([compute, "--safekeepers", sks, "--tenant", tenant, "--timeline", timeline,
                            "--clients", "2", "--duration", "1", "--relations", "2", "--blocks", "256",
                            "--truth-dir", os.path.join(root, "truth"), "--json"],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "compute exit %d: %s" % (r.returncode, r.stderr[-2000:]))
        commit = lsn(json.loads(r.stdout)["commit_lsn"])
        ingested = wait_for("ps1 ingesting to the commit LSN %X" % commit,
                            lambda: (lambda s: s if s and lsn(s["ingest_lsn"]) >= commit else None)(
                                c.status()["ps1"]["status"]), 60)
        check(lsn(ingested["ingest_lsn"]) == commit, "ps1 ingested past the commit LSN: %s" % ingested)
        table = c.run("status").stdout
        check(ingested["ingest_lsn"] in table and "sk" in table.split("ingest_lsn")[1], "table:\n%s" % table)
        print(table.strip())
        verify_help = subprocess.run([compute, "verify", "--help"], capture_output=True, text=True, timeout=30)
        if verify_help.returncode == 0:
            r = subprocess.run([compute, "verify", "--pageserver", env["WQ_PAGESERVER"], "--truth-dir",
                                os.path.join(root, "truth"), "--samples", "200"],
                               capture_output=True, text=True, timeout=120)
            check(r.returncode == 0, "verify exit %d: %s %s" % (r.returncode, r.stdout, r.stderr[-2000:]))
            print(r.stdout.strip())
        # kill -9 by role name; start by role name: same ports, resumes at its durable LSN.
        durable = lsn(wait_for("ps1 durable at the commit LSN",
                               lambda: (lambda s: s if s and lsn(s["durable_lsn"]) >= commit else None)(
                                   c.status()["ps1"]["status"]), 60)["durable_lsn"])
        old = c.status()["ps1"]
        c.run("kill", "pageserver")
        check(not pid_alive(old["pid"]), "ps1 pid %d alive after kill" % old["pid"])
        st = c.status()
        check(st["ps1"]["state"] == "down" and all(st["sk%d" % i]["state"] == "running" for i in (1, 2, 3)),
              "after kill pageserver: %s" % {k: v["state"] for k, v in st.items()})
        c.run("start", "pageserver")
        st = c.status()
        check(st["ps1"]["state"] == "running" and st["ps1"]["ports"] == old["ports"] and
              st["ps1"]["pid"] != old["pid"], "ps1 not restarted on its ports: %s" % st["ps1"])
        s = wait_for("ps1 answering after its restart", lambda: c.status()["ps1"]["status"], 30)
        check(lsn(s["ingest_lsn"]) >= durable, "ps1 restarted at %s, durable was %X" % (s["ingest_lsn"], durable))

        # kill -9 one node: down in status, its PID gone; the others untouched.
        old = st["sk2"]
        c.run("kill", "2", "--signal", "KILL")
        check(not pid_alive(old["pid"]), "sk2 pid %d still alive after kill" % old["pid"])
        st = c.status()
        check(st["sk2"]["state"] == "down" and st["sk2"]["pid"] is None, "sk2 not down: %s" % st["sk2"])
        check(st["sk1"]["state"] == "running" and st["sk3"]["state"] == "running", "others changed")
        check("down" in c.run("status").stdout, "table does not show sk2 down")
        # start brings it back on the same ports with a new PID.
        c.run("start", "2")
        st = c.status()
        check(st["sk2"]["state"] == "running" and st["sk2"]["pid"] != old["pid"], "sk2 not restarted: %s" % st["sk2"])
        check(st["sk2"]["ports"] == old["ports"], "sk2 ports changed: %s -> %s" % (old["ports"], st["sk2"]["ports"]))
        check(http_ok(st["sk2"]["ports"]["http"]), "sk2 HTTP not answering after restart")
        c.run("start", "2")  # already running: a message, exit 0
        # SIGSTOP shows as stopped, SIGCONT as running again.
        c.run("kill", "sk3", "--signal", "STOP")
        check(c.status()["sk3"]["state"] == "stopped", "sk3 not shown stopped")
        c.run("kill", "3", "--signal", "CONT")
        check(c.status()["sk3"]["state"] == "running", "sk3 not running after CONT")

        # down stops everything, including a stopped node; no recorded PID is left.
        c.run("kill", "1", "--signal", "STOP")
        pids = [n["pid"] for n in c.status().values()]
        print(c.run("down").stdout.strip())
        for pid in pids:
            check(not pid_alive(pid), "pid %d alive after down" % pid)
        st = c.status()
        check(all(n["state"] == "down" for n in st.values()), "not all down: %s" % st)
        c.run("down")  # idempotent
        # up on the stopped cluster restarts the same nodes on the same ports.
        c.run("up")
        st2 = c.status()
        check(all(st2[k]["state"] == "running" and st2[k]["ports"] == st[k]["ports"] for k in st2),
              "restart after down: %s" % st2)
        c.run("down")
        for n in st2.values():
            check(not pid_alive(n["pid"]), "pid %d alive after the second down" % n["pid"])
        ok = True
        print("PASS cluster")
    finally:
        c.kill_leftovers()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("data kept in %s" % root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
