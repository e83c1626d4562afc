"""Small helpers shared by the integration test drivers (standard library
only): LSN text, assertions that name what failed, and bounded waits. A
driver in a subfolder imports it after putting tests/integration on sys.path."""
import time

from pgharness import format_lsn as lsn_text, parse_lsn as lsn  # noqa: F401  (re-exported)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wait_for(what, pred, timeout=30.0, interval=0.02):
    """Polls pred() until it returns something true (returned), or raises
    AssertionError naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)
