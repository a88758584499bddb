"""Results JSON (from launch/sweep.py) -> README table and plot. `python -m projects.single_merge.report`.

Every run ends with the merge step (step total + 1); its evaluation at step `total` is the reading
without the merge (each node's own model), the one at total + 1 the reading with it."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["server", "every", "budgeted", "late", "ramp"]


def label(c: dict) -> str:
    s = c["schedule"]
    if c["topology"] == "complete":
        return "server"
    return s["kind"] if s["kind"] != "ramp" else "ramp"


def _name(c: dict) -> str:
    s, T = c["schedule"], c["total"]
    if c["topology"] == "complete":
        return "server baseline (complete graph, exact average every round)"
    if s["kind"] == "every":
        return "D-SGD, gossip every round"
    pct = f"{100 * s['budget'] / T:.0f} % budget"
    return {"budgeted": f"D-SGD, {pct} spread uniformly", "late": f"D-SGD, {pct} in the last rounds",
            "ramp": f"D-SGD, {pct} ramped (power {s['ramp_power']})"}[s["kind"]]


def table(dataset: str = "mnist") -> str:
    rows = [r for r in report.load_results(os.path.join(HERE, "results", dataset)) if r.get("status") == "ok"]
    if not rows:
        return "(not run yet)"
    groups = defaultdict(list)
    for r in rows:
        c = r["config"]
        T = c["total"]
        at = {p["step"]: p for p in r["curve"]}
        if T not in at or T + 1 not in at:
            continue
        budget = T if c["schedule"]["kind"] == "every" or c["topology"] == "complete" else c["schedule"]["budget"]
        groups[(float(c["dirichlet_alpha"]), budget, label(c), _name(c))].append(
            (at[T]["node_accuracy_mean"], at[T]["node_accuracy_min"], at[T]["node_accuracy_max"],
             at[T + 1]["test_accuracy"], r["final"]["train_sent_mb_per_node"], r["final"]["wall_time_s"], c["seed"]))
    out = ["| Dirichlet α | setting | seeds | no merge: mean node acc. (%) [min, max] | with final merge: acc. (%) | "
           "MB sent per node (incl. merge) | wall (s) per run |", "|---|---|---|---|---|---|---|"]
    best = {}
    for (alpha, budget, lab, name), vals in sorted(groups.items(),
                                                   key=lambda kv: (-kv[0][0], -kv[0][1], ORDER.index(kv[0][2]))):
        v = np.asarray([x[:6] for x in vals], np.float64)
        m = v.mean(0)
        pm = f" ± {100 * v[:, 3].std():.2f}" if len(v) > 1 else ""
        out.append(f"| {alpha} | {name} | {len(v)} | {100 * m[0]:.2f} [{100 * v[:, 1].min():.1f}, "
                   f"{100 * v[:, 2].max():.1f}] | {100 * m[3]:.2f}{pm} | {m[4]:.1f} | {m[5]:.0f} |")
        best[(alpha, budget, lab)] = (m[0], m[3])
    notes = []
    for alpha in sorted({k[0] for k in best}, reverse=True):
        server = [v for k, v in best.items() if k[0] == alpha and k[2] == "server"]
        for budget in sorted({k[1] for k in best if k[0] == alpha and k[2] == "late"}):
            g = {k[2]: v for k, v in best.items() if k[0] == alpha and k[1] == budget}
            parts = [f"late + merge − server = {100 * (g['late'][1] - server[0][1]):+.2f}"] if server else []
            if "budgeted" in g:
                parts.append(f"late + merge − uniform + merge = {100 * (g['late'][1] - g['budgeted'][1]):+.2f}")
                parts.append(f"merge gain: late {100 * (g['late'][1] - g['late'][0]):+.2f}, "
                             f"uniform {100 * (g['budgeted'][1] - g['budgeted'][0]):+.2f}")
            notes.append(f"α = {alpha}, budget {budget} rounds: " + "; ".join(parts) + " points")
    series = {}
    for r in rows:
        c = r["config"]
        pts = [(p["step"], 100 * p["node_accuracy_mean"]) for p in r["curve"] if p["step"] <= c["total"]]
        if pts and c["seed"] == 0 and c["schedule"]["budget"] == 100:  # the main budget (every/server ignore it)
            series[f"{label(c)}, α={c['dirichlet_alpha']}"] = tuple(zip(*pts))
    if series:
        report.line_plot(series, os.path.join(HERE, "results", f"{dataset}_ring16.png"), xlabel="round",
                         ylabel="mean accuracy of the nodes' own models (%)", title="MNIST, ring of 16, before the merge")
    return "\n".join(out) + ("\n\n" + ".\n".join(notes) + "." if notes else "")


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", table("mnist"))
    print(table("mnist"))


if __name__ == "__main__":
    main()
