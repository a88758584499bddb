"""Results JSON (projects/modest/reproduce.py) -> README table and plots. `python -m projects.modest.report`."""

from __future__ import annotations

import glob
import json
import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"fl": "FL (fixed server)", "modest_u0": "MoDeST", "modest_u50": "MoDeST, 50 % unresponsive",
         "modest_u80": "MoDeST, 80 % unresponsive", "dpsgd": "D-PSGD (10-regular)", "gossip": "gossip learning"}
TARGETS = (0.85, 0.9)


def _mb_curve(run: dict) -> dict:
    """step -> MB sent by all nodes so far (model size x messages)."""
    c = run["curves"]
    if "train_mb_sent_total" in c:
        return {s: v for s, v in c["train_mb_sent_total"]}
    n = run["config"]["num_nodes"]
    return {s: v * n for s, v in c.get("train_sent_mb_per_node", [])}


def _first(run: dict, target: float):
    """(round, MB) of the first evaluation at or above target, or None."""
    mb = _mb_curve(run)
    for s, a in run["curves"].get("accuracy", []):
        if a >= target:
            return s, mb.get(s)
    return None


def load(dataset: str = "mnist") -> dict:
    """seed -> {run name -> run}."""
    out = {}
    for path in sorted(glob.glob(os.path.join(HERE, "results", f"{dataset}_s*.json"))):
        with open(path) as f:
            res = json.load(f)
        out[int(os.path.basename(path)[len(dataset) + 2:-5])] = res
    return out


def table(dataset: str = "mnist") -> str:
    seeds = load(dataset)
    if not seeds:
        return "(not run yet)"
    head = ("| seed | method | final acc. (%) | best (%) | " + " | ".join(
        f"rounds / MB to {100 * t:.0f} %" for t in TARGETS) + " | MB in all | rounds | wall (s) |")
    out = [head, "|---" * (7 + len(TARGETS)) + "|"]
    notes = []
    for seed, res in sorted(seeds.items()):
        runs = res["runs"]
        for name in NAMES:
            if name not in runs:
                continue
            r = runs[name]
            f, acc = r["final"], [a for _, a in r["curves"].get("accuracy", [])]
            reach = []
            for t in TARGETS:
                hit = _first(r, t)
                reach.append("not reached" if hit is None else f"{hit[0]} / {hit[1]:,.0f}")
            total = _mb_curve(r).get(f["step"], float("nan"))
            out.append(f"| {seed} | {NAMES[name]} | {100 * f['accuracy']:.2f} | {100 * max(acc):.2f} | "
                       + " | ".join(reach) + f" | {total:,.0f} | {f['step']} | {f['wall_time_s']:.0f} |")
        for t in TARGETS:
            d, m = (_first(runs[k], t) if k in runs else None for k in ("dpsgd", "modest_u0"))
            if d and m:
                notes.append(f"seed {seed}, {100 * t:.0f} %: D-PSGD sent {d[1] / m[1]:.1f}x the bytes of MoDeST "
                             f"(D-PSGD {d[1]:,.0f} MB at round {d[0]}, MoDeST {m[1]:,.0f} MB at round {m[0]})")
        plot(runs, seed, dataset)
        res_machine = res.get("machine", "")
        notes.append(f"seed {seed} hardware: {res_machine}")
    return "\n".join(out) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def plot(runs: dict, seed: int, dataset: str) -> None:
    by_round, by_mb = {}, {}
    for name, label in NAMES.items():
        if name not in runs:
            continue
        r = runs[name]
        mb = _mb_curve(r)
        pts = r["curves"].get("accuracy", [])
        by_round[label] = ([s for s, _ in pts], [100 * a for _, a in pts])
        both = [(mb[s], 100 * a) for s, a in pts if s in mb]
        by_mb[label] = tuple(zip(*both)) if both else ((), ())
    base = os.path.join(HERE, "results", f"{dataset}_s{seed}")
    report.line_plot(by_round, base + "_round.png", xlabel="round", ylabel="test accuracy (%)",
                     title=f"MNIST, 100 nodes, seed {seed}")
    report.line_plot(by_mb, base + "_mb.png", xlabel="MB sent by all nodes (model size x messages)",
                     ylabel="test accuracy (%)", title=f"MNIST, 100 nodes, seed {seed}", logx=True)


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", table("mnist"))
    print(table("mnist"))


if __name__ == "__main__":
    main()
