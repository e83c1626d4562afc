"""The fault plan: a pure function of (seed, minutes, safekeepers), so a seed
replays the same faults in the same order at the same offsets.

Every fault starts at `at` seconds after the workload started and heals at
`at + dur` (1-8 s, one in seven 10-30 s). The plan never lets more than a minority of safekeepers be
impaired at once (down, stopped, restarting, or cut off from a compute), and
never cuts more than a minority of the pageserver's links. Partitions between
two safekeepers only slow peer recovery and do not count."""
import random

KINDS = ("kill9", "powercut", "stop", "restart", "partition_sym", "partition_oneway", "isolate",
         "compute_replace")
# Relative weights; with a mean gap of 3.5 s the plan has about 16 faults a minute.
WEIGHTS = {"kill9": 2.0, "powercut": 2.0, "stop": 2.0, "restart": 1.5, "partition_sym": 2.0,
           "partition_oneway": 2.0, "isolate": 1.0, "compute_replace": 1.2}
GAP_S = (1.5, 5.5)
COMPUTES = ("cA", "cB")


def sk(i):
    return "sk%d" % i


def plan(seed, minutes, n_sks):
    rng = random.Random(seed)
    horizon = minutes * 60.0
    minority = (n_sks - 1) // 2
    sks = [sk(i) for i in range(1, n_sks + 1)]
    # powercut mode of each safekeeper incarnation (WQ_STORAGE_FAULT=powercut)
    modes = {s: rng.random() < 0.7 for s in sks}
    initial_modes = dict(modes)
    active = []  # (end, impaired sks set, ps-cut sks set, process target or None)
    faults = []
    t = 5.0
    while True:
        t += rng.uniform(*GAP_S)
        if t >= horizon - 4.0:
            break
        active = [a for a in active if a[0] > t]
        impaired = set().union(*[a[1] for a in active]) if active else set()
        ps_cut = set().union(*[a[2] for a in active]) if active else set()
        busy = {a[3] for a in active if a[3]}
        free_sks = [s for s in sks if s not in impaired and s not in busy]
        can_impair = len(impaired) < minority
        # Mostly short faults; one in seven lasts 10-30 s, so a laggard has a large gap to catch up on.
        dur = round(rng.uniform(10.0, 30.0) if rng.random() < 1 / 7 else rng.uniform(1.0, 8.0), 2)
        dur = min(dur, horizon - 2.0 - t)
        for _attempt in range(20):
            kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            f = {"at": round(t, 2), "kind": kind, "dur": dur}
            imp, pscut, proc = set(), set(), None
            if kind in ("kill9", "powercut", "stop", "restart"):
                targets = [s for s in free_sks if can_impair]
                if kind == "kill9":
                    targets = [s for s in targets if not modes[s]] or targets
                if kind == "powercut":
                    targets = [s for s in targets if modes[s]]
                if kind in ("stop", "restart", "kill9") and "ps" not in busy and rng.random() < 0.2:
                    targets = ["ps"]
                if not targets:
                    continue
                target = rng.choice(targets)
                f["target"] = target
                proc = target
                if target != "ps":
                    imp = {target}
                    if kind in ("kill9", "powercut", "restart"):
                        modes[target] = rng.random() < 0.7
                        f["next_powercut_mode"] = modes[target]
                    if kind == "restart":
                        f["dur"] = dur = min(dur, 3.0)
            elif kind in ("partition_sym", "partition_oneway"):
                what = rng.choice(["compute", "compute", "peers", "pageserver"])
                if what == "compute":
                    if not can_impair:
                        continue
                    a, b = rng.choice(COMPUTES), rng.choice(free_sks or [None])
                    if b is None:
                        continue
                    imp = {b}
                elif what == "peers":
                    a, b = rng.sample(sks, 2)
                else:
                    cands = [s for s in sks if s not in ps_cut]
                    if len(ps_cut) >= minority or not cands:
                        continue
                    a, b = "ps", rng.choice(cands)
                    pscut = {b}
                if kind == "partition_oneway" and rng.random() < 0.5:
                    a, b = b, a
                f["a"], f["b"] = a, b
                f["reset_on_cut"] = kind == "partition_sym" and rng.random() < 0.5
                f["reset_on_heal"] = rng.random() < 0.5
            elif kind == "isolate":
                if not can_impair or not free_sks:
                    continue
                target = rng.choice(free_sks)
                f["target"] = target
                imp = {target}
                pscut = {target} if len(ps_cut) < minority else set()
                f["cut_pageserver"] = bool(pscut)
                f["reset_on_cut"] = rng.random() < 0.5
                f["reset_on_heal"] = rng.random() < 0.5
            elif kind == "compute_replace":
                c = rng.choice(COMPUTES)
                if c in busy:
                    continue
                f["target"] = c
                f["variant"] = rng.choice(["kill_first", "overlap"])
                f["dur"] = dur = 3.0
                proc = c
            faults.append(f)
            active.append((t + dur, imp, pscut, proc))
            break
    for i, f in enumerate(faults):
        f["id"] = i
    return {"seed": seed, "minutes": minutes, "safekeepers": n_sks, "initial_powercut_modes": initial_modes,
            "faults": faults}
