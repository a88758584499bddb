"""Results JSON (from launch/sweep.py) -> README table and plot. `python -m projects.qgm.report`."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"qg_dsgdm_n": "QG-DSGDm-N", "qg_dsgdm": "QG-DSGDm", "dsgdm_n": "DSGDm-N", "dsgd": "DSGD"}
ORDER = ["QG-DSGDm-N", "DSGDm-N", "DSGD", "QG-DSGDm"]


def table(dataset: str = "mnist") -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    out = ["| Dirichlet α | method | averaged model acc. (%) | acc. at round 100 / 200 / 400 | mean node acc. (%) "
           "[min, max] | consensus distance | MB sent per node | rounds | wall (s) |", "|---|---|---|---|---|---|---|---|---|"]
    rows.sort(key=lambda r: (-float(r["config"]["dirichlet_alpha"]), ORDER.index(NAMES[r["config"]["method"]])))
    for r in rows:
        f, c = r["final"], r["config"]
        at = {p["step"]: p["test_accuracy"] for p in r.get("curve", []) if "test_accuracy" in p}
        early = " / ".join(f"{100 * at[s]:.1f}" if s in at else "–" for s in (100, 200, 400))
        out.append(f"| {c['dirichlet_alpha']} | {NAMES[c['method']]} | {100 * f['test_accuracy']:.2f} | {early} | "
                   f"{100 * f['node_accuracy_mean']:.2f} [{100 * f['node_accuracy_min']:.1f}, "
                   f"{100 * f['node_accuracy_max']:.1f}] | {f['train_consensus_distance']:.2e} | "
                   f"{f['train_sent_mb_per_node']:.0f} | {f['step']} | {f['wall_time_s']:.0f} |")
    by = {(float(r["config"]["dirichlet_alpha"]), r["config"]["method"]): r["final"]["test_accuracy"] for r in rows}
    gaps = []
    for a in sorted({k[0] for k in by}, reverse=True):
        if (a, "qg_dsgdm_n") in by and (a, "dsgdm_n") in by:
            gaps.append(f"α = {a}: QG-DSGDm-N − DSGDm-N = {100 * (by[(a, 'qg_dsgdm_n')] - by[(a, 'dsgdm_n')]):+.2f} points")
    series = {}
    for r in rows:
        pts = [(p["step"], 100 * p["test_accuracy"]) for p in r.get("curve", []) if "test_accuracy" in p]
        if pts:
            series[f"{NAMES[r['config']['method']]}, α={r['config']['dirichlet_alpha']}"] = tuple(zip(*pts))
    if series:
        report.line_plot(series, os.path.join(HERE, "results", f"{dataset}_ring16.png"), xlabel="round",
                         ylabel="test accuracy of the averaged model (%)", title="MNIST, ring of 16")
    return "\n".join(out) + ("\n\n" + "; ".join(gaps) + "." if gaps else "")


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", table("mnist"))
    print(table("mnist"))


if __name__ == "__main__":
    main()
