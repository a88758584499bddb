"""Results JSON (projects/vanishing_variance/reproduce.py) -> README table and plots.
`python -m projects.vanishing_variance.report`."""

from __future__ import annotations

import glob
import json
import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"fl": "FL (fixed server, reference)", "gossip_corrected": "gossip, independent inits, corrected averaging",
         "gossip_average": "gossip, independent inits, plain averaging",
         "gossip_shared_init": "gossip, shared init, plain averaging"}
TARGETS = (0.8, 0.9)
LAYERS = ("weight_std_dense_0_kernel", "weight_std_dense_1_kernel", "weight_std_head_kernel")


def table(dataset: str = "mnist") -> str:
    paths = sorted(glob.glob(os.path.join(HERE, "results", f"{dataset}_s*.json")))
    if not paths:
        return "(not run yet)"
    out = ["| seed | run | final acc. (%) | acc. at round 10 / 25 / 50 | " + " | ".join(
        f"rounds to {100 * t:.0f} %" for t in TARGETS) + " | layer std at round 5 (node 0) | at the end | "
        "rounds | wall (s) |", "|---" * (8 + len(TARGETS)) + "|"]
    machines = set()
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        seed = int(os.path.basename(path)[len(dataset) + 2:-5])
        runs = res["runs"]
        series = {}
        for name, label in NAMES.items():
            if name not in runs:
                continue
            r = runs[name]
            c, fin = r["curves"], r["final"]
            acc = dict(c.get("accuracy", []))
            at = " / ".join(f"{100 * acc[s]:.1f}" if s in acc else "–" for s in (10, 25, 50))
            reach = []
            for t in TARGETS:
                s = report.steps_to_reach(c.get("accuracy", []), t, higher_is_better=True)
                reach.append("not reached" if s is None else str(s))
            first = " / ".join(f"{c[k][0][1]:.3f}" for k in LAYERS if c.get(k))
            last = " / ".join(f"{fin[k]:.3f}" for k in LAYERS if k in fin)
            out.append(f"| {seed} | {label} | {100 * fin['accuracy']:.2f} | {at} | " + " | ".join(reach)
                       + f" | {first} | {last} | {fin['step']} | {fin['wall_time_s']:.0f} |")
            pts = c.get("accuracy", [])
            series[label] = ([s for s, _ in pts], [100 * a for _, a in pts])
        report.line_plot(series, os.path.join(HERE, "results", f"{dataset}_s{seed}.png"), xlabel="round",
                         ylabel="test accuracy (%)", title=f"MNIST, 50 nodes, seed {seed}")
        machines.add(res.get("machine", ""))
    out += ["", f"Hardware: {'; '.join(sorted(machines))}. Layer std: the three kernels (784-128, 128-128, 128-10) "
                "of node 0's model (the server's for FL)."]
    return "\n".join(out)


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", table("mnist"))
    print(table("mnist"))


if __name__ == "__main__":
    main()
