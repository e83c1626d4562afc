"""The chaos checker can fail: a synthetic run directory (3 safekeepers' segment
files of random bytes, a history of acknowledged spans with their CRC-32C,
samples, final status) passes, and each planted fault makes it fail for the
right reason. No cluster is started.

usage: checker_selftest.py SCRIPTS_LIB_DIR"""
import copy
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, sys.argv[1])
from chaos import check as checkmod  # noqa: E402
from chaos.util import crc32c, lsn_text  # noqa: E402

SEG = 1 << 20
TENANT = "c4" * 16
TL = "0a" * 16
START = 1 * SEG
END = START + 2 * SEG + SEG // 2


def seg_name(segno):
    per = 0x100000000 // SEG
    return "%08X%08X%08X" % (1, segno // per, segno % per)


def build(root, rng):
    wal = bytes(rng.getrandbits(8) for _ in range(END - START))
    sks = {}
    for i in (1, 2, 3):
        d = os.path.join(root, "sk%d" % i)
        td = os.path.join(d, "timelines", TENANT, TL)
        os.makedirs(td)
        for segno in range(START // SEG, (END + SEG - 1) // SEG):
            data = bytearray(SEG)
            lo, hi = max(START, segno * SEG), min(END, (segno + 1) * SEG)
            data[lo - segno * SEG:hi - segno * SEG] = wal[lo - START:hi - START]
            name = seg_name(segno) + (".partial" if hi == END else "")
            with open(os.path.join(td, name), "wb") as f:
                f.write(data)
        sks["sk%d" % i] = {"dir": d}
    spans = []
    pos = START + 40
    while pos + 40 < END:
        spans.append((pos, pos + 40))
        pos += rng.randrange(2000, 30000)
    spans.append((2 * SEG - 16, 2 * SEG + 24))  # crosses a segment boundary
    spans.sort()
    os.makedirs(os.path.join(root, "history"))
    hist = [os.path.join(root, "history", "A-%d.txt" % n) for n in (1, 2)]
    half = len(spans) // 2
    for path, part in ((hist[0], spans[:half]), (hist[1], spans[half:])):
        with open(path, "w") as f:
            for s, e in part:
                f.write("%s %s %08x\n" % (lsn_text(s), lsn_text(e), crc32c(wal[s - START:e - START])))
    st = {"commit_lsn": lsn_text(END), "flush_lsn": lsn_text(END), "timeline_start_lsn": lsn_text(START)}
    run = {"seed": 7, "minutes": 1, "safekeepers": 3, "tenant": TENANT, "timelines": {"A": TL},
           "command": "selftest", "sk_nodes": sks,
           "computes": [{"name": "cA#%d" % n, "timeline": "A", "n": n, "term": n, "history": hist[n - 1]}
                        for n in (1, 2)],
           "final_status": {s: {"A": dict(st)} for s in sks}, "closing_commit": {"A": lsn_text(END)},
           "progress_after_heal": {"A": lsn_text(END)}, "verify": {"runs": [{"compute": "cA#1", "exit": 0,
                                                                           "output": "{}"}]},
           "counts": {"kill9": 12}, "findings": [], "notes": []}
    samples = [{"t": t, "sk": s, "inc": 1, "tl": "A", "term": 1, "commit": lsn_text(START + t * 1000),
                "flush": lsn_text(START + t * 1000), "persisted_commit": lsn_text(START)} for t in range(5)
               for s in sks]
    return run, samples, spans


def write(root, run, samples):
    with open(os.path.join(root, "run.json"), "w") as f:
        json.dump(run, f)
    with open(os.path.join(root, "samples.json"), "w") as f:
        json.dump(samples, f)


def flip(root, sk, at):
    td = os.path.join(root, sk, "timelines", TENANT, TL)
    segno = at // SEG
    name = [n for n in os.listdir(td) if n.startswith(seg_name(segno))][0]
    with open(os.path.join(td, name), "r+b") as f:
        f.seek(at - segno * SEG)
        b = f.read(1)
        f.seek(at - segno * SEG)
        f.write(bytes([b[0] ^ 0x40]))


def main():
    rng = random.Random(1)
    base = tempfile.mkdtemp(prefix="wq-chaos-selftest.")
    failures = []
    try:
        pristine = os.path.join(base, "pristine")
        os.makedirs(pristine)
        run0, samples0, spans = build(pristine, rng)

        def case(name, expect_ok, mutate, want=None, check_summary=None):
            d = os.path.join(base, name)
            shutil.copytree(pristine, d)
            run, samples = copy.deepcopy(run0), copy.deepcopy(samples0)
            for c in run["computes"]:
                c["history"] = c["history"].replace(pristine, d)
            for s in run["sk_nodes"].values():
                s["dir"] = s["dir"].replace(pristine, d)
            mutate(d, run, samples)
            write(d, run, samples)
            ok, summary = checkmod.check(d, quiet=True)
            text = " | ".join(summary["failures"])
            good = ok == expect_ok and (want is None or want in text) and \
                (check_summary is None or check_summary(summary))
            print("%-44s %s (verdict %s, lost %d, divergent %d)%s" % (
                name, "ok" if good else "WRONG", "PASS" if ok else "FAIL", summary["lost"],
                summary["divergent_bytes"], "" if good else ": " + text[:300]))
            if not good:
                failures.append(name)

        def nothing(d, run, samples):
            pass

        case("clean run passes", True, nothing, check_summary=lambda s: s["acked"] == len(spans))

        def bad_crc(d, run, samples):
            p = run["computes"][0]["history"]
            lines = open(p).read().splitlines()
            s, e, c = lines[3].split()
            lines[3] = "%s %s %08x" % (s, e, int(c, 16) ^ 1)
            open(p, "w").write("\n".join(lines) + "\n")
        case("one history line's crc changed", False, bad_crc, "held intact by 0 of 3",
             lambda s: s["lost"] == 1)

        s0, e0 = spans[5]

        def majority(d, run, samples):
            flip(d, "sk1", s0 + 3)
            flip(d, "sk2", s0 + 3)
        case("acked span flipped on 2 of 3", False, majority, "held intact by 1 of 3",
             lambda s: s["lost"] == 1 and s["divergent_bytes"] == 2)

        def minority_span(d, run, samples):
            flip(d, "sk3", s0 + 3)
        case("acked span flipped on 1 of 3", False, minority_span, "differ in 1 bytes",
             lambda s: s["lost"] == 0 and s["divergent_bytes"] == 2)

        def minority_other(d, run, samples):
            flip(d, "sk2", START + SEG + 12345)
        case("unacked byte below commit flipped on 1", False, minority_other, "sk1 and sk2 differ")

        def above_commit(d, run, samples):
            for st in run["final_status"].values():
                st["A"]["commit_lsn"] = lsn_text(END - 1000)
            run["closing_commit"]["A"] = lsn_text(END - 1000)
            flip(d, "sk2", END - 10)
        case("byte above the commit LSN flipped on 1", True, above_commit)

        def torn(d, run, samples):
            with open(run["computes"][1]["history"], "a") as f:
                f.write("0/2\n0/3 0/")
        case("a malformed middle history line fails", False, torn, "line")

        def torn_only(d, run, samples):
            with open(run["computes"][1]["history"], "a") as f:
                f.write("0/3 0/")
        case("torn last line alone is ignored", True, torn_only, check_summary=lambda s: s["torn_lines"] == 1)

        def regress(d, run, samples):
            samples.append({"t": 9, "sk": "sk1", "inc": 1, "tl": "A", "term": 1, "commit": lsn_text(START),
                            "flush": lsn_text(START), "persisted_commit": lsn_text(START)})
        case("commit LSN went back in one incarnation", False, regress, "commit LSN went back")

        def persisted_back(d, run, samples):
            samples.append({"t": 9, "sk": "sk1", "inc": 2, "tl": "A", "term": 1, "commit": lsn_text(START),
                            "flush": lsn_text(START), "persisted_commit": lsn_text(START - 8)})
        case("persisted commit LSN went back", False, persisted_back, "persisted commit LSN went back")

        def later_term_below(d, run, samples):
            run["computes"][0]["term"], run["computes"][1]["term"] = 2, 1
        case("higher term acked below a lower term", False, later_term_below, "acknowledged a commit starting")

        def reported_beyond(d, run, samples):
            samples.append({"t": 9, "sk": "sk2", "inc": 1, "tl": "A", "term": 1, "commit": lsn_text(END + 8),
                            "flush": lsn_text(END + 8), "persisted_commit": lsn_text(START)})
        case("commit reported above the final one", False, reported_beyond, "final commit LSN is")

        def verify_bad(d, run, samples):
            run["verify"]["runs"][0]["exit"] = 1
        case("pageserver verify mismatch", False, verify_bad, "pageserver verify")

        def no_progress(d, run, samples):
            run["progress_after_heal"]["A"] = None
        case("no progress after healing", False, no_progress, "no commit acknowledged after")

        def unsettled(d, run, samples):
            run["settled"] = {"A": False}
        case("a safekeeper never caught up after healing", False, unsettled, "not every safekeeper reached")

        def crash(d, run, samples):
            run["findings"].append({"what": "unexpected exit", "t": 3.0, "node": "sk2", "code": -6})
        case("unexpected exit during the run", False, crash, "unexpected exit")

        def missing_segment(d, run, samples):
            td = os.path.join(d, "sk1", "timelines", TENANT, TL)
            os.unlink(os.path.join(td, seg_name(START // SEG)))
            td = os.path.join(d, "sk2", "timelines", TENANT, TL)
            os.unlink(os.path.join(td, seg_name(START // SEG)))
        case("a segment removed on 2 of 3", False, missing_segment, "held intact by 1 of 3")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if failures:
        print("checker self-test FAILED: %s" % ", ".join(failures))
        return 1
    print("checker self-test: every case decided as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
