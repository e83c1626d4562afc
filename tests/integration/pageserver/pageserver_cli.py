#!/usr/bin/env python3
"""walquorum-pageserver's command line and TOML config: --help exits 0; missing
or bad flags and bad config keys exit 2 with one line naming the problem; a
TOML file alone starts the daemon (flags override it), which writes its port
files and answers /v1/status, and stops cleanly on SIGTERM.

Usage: pageserver_cli.py PAGESERVER_EXE
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run(exe, args):
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=30)


def main(argv):
    exe = argv[1]
    root = tempfile.mkdtemp(prefix="wq-ps-cli-")
    proc = None
    try:
        r = run(exe, ["--help"])
        check(r.returncode == 0 and "--image-threshold" in r.stdout, f"--help: {r.returncode} {r.stdout}")
        base = ["--data-dir", root, "--safekeepers", "127.0.0.1:1", "--listen-page", "127.0.0.1:0",
                "--listen-http", "127.0.0.1:0", "--plain-postgres"]
        cases = [
            ([], "--data-dir DIR is required"),
            (base[:2], "--safekeepers"),
            (base[:-1], "--tenant-id and --timeline-id are required"),
            (base + ["--start-lsn", "nope"], "--start-lsn"),
            (base + ["--tenant-id", "xyz"], "--tenant-id"),
            (["--data-dir", root, "--safekeepers", "127.0.0.1", "--listen-page", "127.0.0.1:0",
              "--listen-http", "127.0.0.1:0", "--plain-postgres"], "--safekeepers"),
            (base + ["--wal-segment-mb", "3"], "--wal-segment-mb"),
            (base + ["--image-threshold", "-1"], "image-threshold"),
            (base + ["--bogus"], "bogus"),
            (base + ["--slot-name", "Bad-Name"], "--slot-name 'Bad-Name'"),
            (base + ["--slot-name", "x" * 64], "--slot-name"),
            (base + ["--slot-name", "ps_1", "--no-slot"], "exclude each other"),
            (base + ["--probe-interval-ms", "50"], "--probe-interval-ms"),
        ]
        for args, want in cases:
            r = run(exe, args)
            check(r.returncode == 2, f"{args}: exit {r.returncode}, stderr {r.stderr}")
            check(want in r.stderr and r.stderr.count("\n") == 1, f"{args}: stderr {r.stderr!r}")
        bad = os.path.join(root, "bad.toml")
        with open(bad, "w") as f:
            f.write('data_dir = "x"\nsurprise = 1\n')
        r = run(exe, ["--config", bad])
        check(r.returncode == 2 and "unknown key 'surprise'" in r.stderr, f"bad toml: {r.stderr}")

        data = os.path.join(root, "data")
        conf = os.path.join(root, "ps.toml")
        with open(conf, "w") as f:
            f.write(f'data_dir = "{data}"\nsafekeepers = "127.0.0.1:1"\nlisten_page = "127.0.0.1:0"\n'
                    f'listen_http = "127.0.0.1:0"\nplain_postgres = true\nimage_threshold = 7\n')
        log = open(os.path.join(root, "ps.log"), "ab")
        proc = subprocess.Popen([exe, "--config", conf, "--image-threshold", "9"], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        port = None
        for _ in range(3000):
            check(proc.poll() is None, f"exited with {proc.returncode}")
            try:
                with open(os.path.join(data, "http.port")) as f:
                    port = int(f.read())
                break
            except (FileNotFoundError, ValueError):
                check(time.monotonic() < deadline, "no http.port")
                try:
                    proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=10) as resp:
            s = json.loads(resp.read())
        check(s["image_threshold"] == 9, f"flag did not override the file: {s}")
        # A stock primary: no slot unless one is named.
        check(s["receiver"]["slot"] == "" and not os.path.exists(os.path.join(data, "pageserver.id")),
              f"--plain-postgres made a slot: {s['receiver']}")
        check(os.path.exists(os.path.join(data, "page.port")), "no page.port")
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=30) == 0, f"exit {proc.returncode} after SIGTERM")
        proc = None
        print("ok")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        subprocess.run(["rm", "-rf", root], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
