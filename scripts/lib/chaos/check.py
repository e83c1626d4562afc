"""The offline checker: reads OUT/run.json, OUT/samples.json, the computes'
history files and the safekeepers' final segment files, and decides.

Properties (each failure is listed with what and where):
  1. every acknowledged commit (a history line: start, end, crc32c) is held
     with identical bytes by a quorum of safekeepers;
  2. no two safekeepers differ below the commit LSN (bytes compared up to the
     smaller of their flush LSNs and the final commit LSN);
  3. commit LSNs only grew: per safekeeper incarnation the reported commit
     LSN, per safekeeper the persisted commit LSN and the term; the final
     commit LSN is at least every commit LSN ever reported; a compute with a
     higher term acknowledged nothing below what an earlier one acknowledged;
  4. progress after the last fault healed, the closing computes exited 0,
     and every safekeeper then reached their commit LSN;
  5. the pageserver matched every truth journal (`walquorum-compute verify`);
  6. no process exited or failed unexpectedly during the run."""
import json
import os

from .util import SegmentDir, crc32c, lsn, lsn_text

CMP_CHUNK = 1 << 20


def _load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def parse_history(path):
    """(entries, torn, errors): entries are (start, end, crc) in file order; a
    torn last line (a kill -9 mid-write) is ignored; any other bad line is an error."""
    entries, errors, torn = [], [], 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return [], 0, ["cannot read %s: %s" % (path, e)]
    lines = data.split(b"\n")
    last_complete = data.endswith(b"\n")
    for i, raw in enumerate(lines):
        if not raw:
            continue
        is_last = i == len(lines) - 1
        try:
            s, e, c = raw.decode("ascii").split()
            if len(c) != 8 or c != c.lower():
                raise ValueError("crc is not 8 lowercase hex digits")
            entry = (lsn(s), lsn(e), int(c, 16))
            if entry[1] <= entry[0]:
                raise ValueError("end not above start")
        except (ValueError, UnicodeDecodeError) as ex:
            if is_last and not last_complete:
                torn += 1
                continue
            errors.append("%s line %d: %r: %s" % (os.path.basename(path), i + 1, raw[:80], ex))
            continue
        if is_last and not last_complete:
            torn += 1  # complete-looking but unterminated: may be cut short, ignore it
            continue
        entries.append(entry)
    return entries, torn, errors


def check(out, quiet=False):
    """Returns (ok, summary). Prints the verdict unless quiet."""
    run = _load(os.path.join(out, "run.json"))
    if run is None:
        raise SystemExit("chaos check: no readable %s/run.json (did a run finish writing there?)" % out)
    samples = _load(os.path.join(out, "samples.json"), [])
    fails = []
    n_sks = run["safekeepers"]
    quorum = n_sks // 2 + 1
    tenant = run["tenant"]
    final = run.get("final_status") or {}
    summary = {"lost": 0, "divergent_bytes": 0, "acked": 0, "acked_by_timeline": {}, "copies_checked": 0,
               "commit_regressions": 0, "torn_lines": 0, "unheld_copies": 0, "mismatched_copies": 0}

    if run.get("interrupted"):
        fails.append("the run was interrupted; its disks are not final")

    # ---------------------------------------------------------- final commit and flush LSNs
    final_commit, flush, tl_start = {}, {}, {}
    for label in run["timelines"]:
        cands = []
        c = (run.get("closing_commit") or {}).get(label)
        if c:
            cands.append(lsn(c))
        for sk, st in final.items():
            s = (st or {}).get(label)
            if s:
                cands.append(lsn(s["commit_lsn"]))
                flush[(sk, label)] = lsn(s["flush_lsn"])
                tl_start[label] = max(tl_start.get(label, 0), lsn(s["timeline_start_lsn"]))
        final_commit[label] = max(cands) if cands else 0
    summary["final_commit"] = {k: lsn_text(v) for k, v in final_commit.items()}

    segdirs = {}
    sks = {n: v["dir"] for n, v in run.get("sk_nodes", {}).items()}
    for sk, d in sorted(sks.items()):
        for label, tl in run["timelines"].items():
            segdirs[(sk, label)] = SegmentDir(os.path.join(d, "timelines", tenant, tl))

    # ---------------------------------------------------------- 1. acknowledged commits on a quorum
    by_term = {}
    for c in run["computes"]:
        if not c.get("history"):
            continue
        if not os.path.exists(c["history"]):
            continue
        entries, torn, errors = parse_history(c["history"])
        summary["torn_lines"] += torn
        fails.extend(errors)
        label = c["timeline"]
        summary["acked_by_timeline"][label] = summary["acked_by_timeline"].get(label, 0) + len(entries)
        summary["acked"] += len(entries)
        if entries:
            by_term.setdefault(label, []).append((c.get("term") or 0, c["n"], c["name"], entries))
        lost_here = 0
        for (start, end, crc) in sorted(entries):
            copies = {}
            for sk in sks:
                fl = flush.get((sk, label))
                if fl is not None and end > fl:
                    summary["unheld_copies"] += 1
                    continue
                data = segdirs[(sk, label)].read(start, end)
                if data is None:
                    summary["unheld_copies"] += 1
                    continue
                copies.setdefault(data, []).append(sk)
            good = 0
            for data, holders in copies.items():
                summary["copies_checked"] += len(holders)
                if crc32c(data) == crc:
                    good += len(holders)
                else:
                    summary["mismatched_copies"] += len(holders)
            if good < quorum:
                summary["lost"] += 1
                lost_here += 1
                if lost_here <= 5:
                    fails.append("acknowledged commit %s..%s (crc %08x) of %s held intact by %d of %d "
                                 "safekeepers, quorum is %d" % (lsn_text(start), lsn_text(end), crc, c["name"],
                                                                 good, n_sks, quorum))
        if lost_here > 5:
            fails.append("... %d more lost commits of %s" % (lost_here - 5, c["name"]))

    # ---------------------------------------------------------- 2. no divergence below the commit LSN
    names = sorted(sks)
    for label in run["timelines"]:
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                fa, fb = flush.get((a, label)), flush.get((b, label))
                if fa is None or fb is None:
                    continue
                lo = tl_start.get(label, 0)
                hi = min(fa, fb, final_commit[label])
                diff, first = _compare(segdirs[(a, label)], segdirs[(b, label)], lo, hi)
                if diff:
                    summary["divergent_bytes"] += diff
                    fails.append("timeline %s: %s and %s differ in %d bytes below the commit LSN %s, first at %s"
                                 % (label, a, b, diff, lsn_text(final_commit[label]), lsn_text(first)))

    # ---------------------------------------------------------- 3. commit LSNs only grew
    reg = []
    last_inc, last_sk, last_term = {}, {}, {}
    for s in samples:
        key_i = (s["sk"], s["inc"], s["tl"])
        key_s = (s["sk"], s["tl"])
        c = lsn(s["commit"])
        if key_i in last_inc and c < last_inc[key_i][0]:
            reg.append("%s (incarnation %d) timeline %s: commit LSN went back from %s to %s at %.1fs"
                       % (s["sk"], s["inc"], s["tl"], lsn_text(last_inc[key_i][0]), s["commit"], s["t"]))
        last_inc[key_i] = (max(c, last_inc.get(key_i, (0,))[0]),)
        pc = s.get("persisted_commit")
        if pc:
            pcv = lsn(pc)
            if key_s in last_sk and pcv < last_sk[key_s]:
                reg.append("%s timeline %s: persisted commit LSN went back from %s to %s at %.1fs"
                           % (s["sk"], s["tl"], lsn_text(last_sk[key_s]), pc, s["t"]))
            last_sk[key_s] = max(pcv, last_sk.get(key_s, 0))
        term = s.get("term")
        if term is not None:
            if key_s in last_term and term < last_term[key_s]:
                reg.append("%s timeline %s: term went back from %d to %d at %.1fs"
                           % (s["sk"], s["tl"], last_term[key_s], term, s["t"]))
            last_term[key_s] = max(term, last_term.get(key_s, 0))
    for label in run["timelines"]:
        seen = [lsn(s["commit"]) for s in samples if s["tl"] == label]
        if seen and final_commit[label] and max(seen) > final_commit[label]:
            reg.append("timeline %s: a safekeeper reported commit LSN %s but the final commit LSN is %s"
                       % (label, lsn_text(max(seen)), lsn_text(final_commit[label])))
    for label, incs in by_term.items():
        incs.sort()
        for i, (term, n, name, entries) in enumerate(incs):
            top = max(e for _, e, _ in entries)
            for term2, n2, name2, entries2 in incs[i + 1:]:
                if term2 == term:
                    reg.append("%s and %s both report term %d" % (name, name2, term))
                    continue
                low = min(s for s, _, _ in entries2)
                if low < top:
                    reg.append("timeline %s: %s (term %s) acknowledged a commit starting at %s below %s, "
                               "acknowledged by %s (term %s)" % (label, name2, term2, lsn_text(low),
                                                                 lsn_text(top), name, term))
    summary["commit_regressions"] = len(reg)
    fails.extend(reg[:20])

    # ---------------------------------------------------------- 4. progress; 5. pageserver; 6. findings
    prog = run.get("progress_after_heal") or {}
    for label in run["timelines"]:
        if not prog.get(label):
            fails.append("timeline %s: no commit acknowledged after every fault healed" % label)
    summary["progress_after_heal"] = prog
    for label, ok in (run.get("settled") or {}).items():
        if not ok:
            fails.append("timeline %s: not every safekeeper reached the closing commit LSN %s within 90 s "
                         "of the closing compute's exit (peer recovery)" % (label, lsn_text(final_commit[label])))
    ver = run.get("verify") or {}
    vruns = ver.get("runs") or []
    summary["verify"] = "skipped (%s)" % ver["skipped"] if "skipped" in ver else \
        "%d of %d clean" % (sum(1 for v in vruns if v.get("exit") == 0), sum(1 for v in vruns if "exit" in v))
    for v in vruns:
        if "exit" in v and v["exit"] != 0:
            fails.append("pageserver verify of %s exited %s: %s" % (v["compute"], v["exit"], v["output"][-300:]))
    if "skipped" not in ver and not any("exit" in v for v in vruns):
        fails.append("pageserver verify ran for no incarnation of timeline A")
    for f in run.get("findings", []):
        fails.append("during the run at %.1fs: %s (%s)" % (f.get("t", 0), f["what"],
                     ", ".join("%s=%s" % (k, v) for k, v in f.items() if k not in ("what", "t"))[:400]))

    # ---------------------------------------------------------- verdict
    counts = run.get("counts", {})
    total = sum(counts.values())
    minutes = run.get("minutes", 0) or 1
    summary["faults_skipped"] = sum(1 for e in run.get("executed", []) if e.get("skipped"))
    summary.update({"faults": total, "faults_by_kind": counts, "faults_per_min": round(total / minutes, 1),
                    "ok": not fails, "failures": fails, "seed": run["seed"], "notes": run.get("notes", [])})
    with open(os.path.join(out, "verdict.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if not quiet:
        print_verdict(run, summary, out)
    return not fails, summary


def _compare(da, db, lo, hi):
    """(differing bytes, first differing LSN) of two safekeepers' WAL in [lo, hi)."""
    diff, first = 0, None
    pos = lo
    while pos < hi:
        n = min(CMP_CHUNK, hi - pos)
        n = min(n, da.seg_size - pos % da.seg_size)
        x, y = da.read(pos, pos + n), db.read(pos, pos + n)
        if x != y:
            if x is None or y is None:
                diff += n
                first = pos if first is None else first
            else:
                for i in range(n):
                    if x[i] != y[i]:
                        diff += 1
                        if first is None:
                            first = pos + i
        pos += n
    return diff, first


def print_verdict(run, s, out):
    print()
    print("chaos verdict: %s" % ("PASS" if s["ok"] else "FAIL"))
    print("  command              %s" % run.get("command"))
    kinds = ", ".join("%s %d" % (k, v) for k, v in s["faults_by_kind"].items() if v)
    print("  faults injected      %d in %g min = %.1f/min (%s)%s" % (
        s["faults"], run.get("minutes"), s["faults_per_min"], kinds,
        "; %d planned faults skipped (their target never became ready)" % s["faults_skipped"]
        if s["faults_skipped"] else ""))
    print("  acknowledged commits %d (%s) by %d compute incarnations, %d torn last lines ignored" %
          (s["acked"], ", ".join("%s %d" % kv for kv in sorted(s["acked_by_timeline"].items())),
           len(run.get("computes", [])), s["torn_lines"]))
    print("  lost                 %d   (copies checked %d, mismatched %d, beyond a node's flush %d)" %
          (s["lost"], s["copies_checked"], s["mismatched_copies"], s["unheld_copies"]))
    print("  divergent bytes      %d   (below final commit LSNs %s)" %
          (s["divergent_bytes"], ", ".join("%s %s" % kv for kv in sorted(s["final_commit"].items()))))
    print("  commit regressions   %d" % s["commit_regressions"])
    print("  progress after heal  %s" % ", ".join("%s %s" % (k, v or "NONE") for k, v in sorted(s["progress_after_heal"].items())))
    print("  pageserver verify    %s" % s["verify"])
    for n in s["notes"]:
        print("  note: %s" % n)
    if not s["ok"]:
        print("failures:")
        for f in s["failures"][:40]:
            print("  - " + f)
        print("seed %d; fault schedule %s" % (run["seed"], os.path.join(out, "schedule.json")))
        print("replay: %s   (or --schedule %s)" % (run.get("command"), os.path.join(out, "schedule.json")))
