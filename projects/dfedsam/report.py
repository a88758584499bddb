"""Results JSON (from launch/sweep.py) -> README table and plots. `python -m projects.dfedsam.report`.

Runs are grouped by (topology, method) and averaged over the seeds present; with two or more seeds
the table also shows the spread (half the max - min)."""

from __future__ import annotations

import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"dfedsam_mgs": "DFedSAM-MGS", "dfedsam": "DFedSAM", "dfedavgm": "DFedAvgM", "dfedavg": "DFedAvg",
         "dpsgd": "D-PSGD", "fedavg": "FedAvg (centralized)"}
ORDER = list(NAMES)
TOPOLOGIES = ["ring", "torus"]


def _groups(rows):
    out = {}
    for r in rows:
        c = r["config"]
        topo = "server" if c["method"] == "fedavg" else c["topology"]
        out.setdefault((topo, c["method"]), []).append(r)
    return out


def _stat(runs, fn, scale=100.0, spec=".2f"):
    vals = [fn(r) for r in runs]
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–", None
    m = scale * float(np.mean(vals))
    s = f"{m:{spec}}"
    if len(vals) > 1:
        s += f" ± {scale * (max(vals) - min(vals)) / 2:{spec}}"
    return s, m


def table(dataset: str = "fashion_mnist") -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    groups = _groups(rows)
    out = ["| topology | method | Q | seeds | mean node acc. (%) | averaged model acc. (%) | node acc. at round 50 / 100 (%) "
           "| consensus distance | MB sent per node | rounds | wall (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    means = {}
    keys = sorted(groups, key=lambda k: ((TOPOLOGIES + ["server"]).index(k[0]), ORDER.index(k[1])))
    for topo, m in keys:
        runs = groups[(topo, m)]
        c, f0 = runs[0]["config"], runs[0]["final"]
        fed = m == "fedavg"  # one global model: its node accuracy is the model's accuracy
        node_s, node_m = _stat(runs, lambda r: r["final"]["test_accuracy" if fed else "node_accuracy_mean"])
        avg_s, _ = _stat(runs, lambda r: r["final"]["test_accuracy"])
        key = "test_accuracy" if fed else "node_accuracy_mean"
        at = " / ".join(_stat(runs, lambda r, s=s: dict(report.eval_curve(r, key)).get(s), spec=".1f")[0] for s in (50, 100))
        cons = "0 (one model)" if fed else f"{np.mean([r['final']['train_consensus_distance'] for r in runs]):.2e}"
        sent = "–" if fed else f"{f0['train_sent_mb_per_node']:.0f}"
        q = "–" if fed else str(c["mgs_steps"] if m == "dfedsam_mgs" else c["gossip"]["steps"])
        wall = np.mean([r["final"]["wall_time_s"] for r in runs])
        out.append(f"| {topo} | {NAMES[m]} | {q} | {len(runs)} | {node_s} | {avg_s} | {at} | {cons} | {sent} | "
                   f"{f0['step']} | {wall:.0f} |")
        means[(topo, m)] = node_m
    notes = []
    fed = means.get(("server", "fedavg"))
    for topo in TOPOLOGIES:
        g = {m: means.get((topo, m)) for m in ORDER}
        parts = []
        if g["dfedsam"] is not None and g["dfedavg"] is not None:
            parts.append(f"DFedSAM − DFedAvg = {g['dfedsam'] - g['dfedavg']:+.2f}")
        if g["dfedsam_mgs"] is not None and g["dfedsam"] is not None:
            parts.append(f"DFedSAM-MGS − DFedSAM = {g['dfedsam_mgs'] - g['dfedsam']:+.2f}")
        base = [g[m] for m in ("dfedavg", "dfedavgm", "dpsgd") if g[m] is not None]
        if g["dfedsam_mgs"] is not None and base:
            parts.append(f"DFedSAM-MGS − best baseline = {g['dfedsam_mgs'] - max(base):+.2f}")
        if fed is not None and g["dfedsam_mgs"] is not None:
            parts.append(f"FedAvg − DFedSAM-MGS = {fed - g['dfedsam_mgs']:+.2f}")
        if parts:
            notes.append(f"{topo}: " + "; ".join(parts) + " points (mean node accuracy)")
        series = {}
        for m in ORDER:
            runs = groups.get(("server", m) if m == "fedavg" else (topo, m), [])
            key = "test_accuracy" if m == "fedavg" else "node_accuracy_mean"
            curves = [dict(report.eval_curve(r, key)) for r in runs]
            steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
            if steps:
                series[NAMES[m]] = (steps, [100 * np.mean([c[s] for c in curves]) for s in steps])
        if series:
            report.line_plot(series, os.path.join(HERE, "results", f"{dataset}_{topo}.png"), xlabel="round",
                             ylabel="mean node test accuracy (%)",
                             title=f"Fashion-MNIST, {rows[0]['config']['num_nodes']} nodes, {topo}")
    return "\n".join(out) + ("\n\n" + ".\n".join(notes) + "." if notes else "")


def rho_table(dataset: str = "fashion_mnist") -> str:
    """DFedSAM on the ring, seed 0, over rho: the ablation runs plus the main sweep's rho and its
    DFedAvg run (rho = 0: SAM's gradient is then the plain one)."""
    main = [r for r in report.load_results(os.path.join(HERE, "results", dataset))
            if r["config"]["seed"] == 0 and r["config"].get("topology") == "ring"
            and r["config"]["method"] in ("dfedsam", "dfedavg")]
    rows = main + report.load_results(os.path.join(HERE, "results", f"{dataset}_rho"))
    if len(rows) <= len(main):
        return "(not run yet)"
    rows.sort(key=lambda r: 0.0 if r["config"]["method"] == "dfedavg" else r["config"]["rho"])
    out = ["| ρ | mean node acc. (%) | averaged model acc. (%) | consensus distance | wall (s) |", "|---|---|---|---|---|"]
    for r in rows:
        f = r["final"]
        rho = "0 (DFedAvg)" if r["config"]["method"] == "dfedavg" else f"{r['config']['rho']:g}"
        out.append(f"| {rho} | {100 * f['node_accuracy_mean']:.2f} | {100 * f['test_accuracy']:.2f} | "
                   f"{f['train_consensus_distance']:.2e} | {f['wall_time_s']:.0f} |")
    return "\n".join(out)


def q_table(dataset: str = "fashion_mnist") -> str:
    """Which of DFedSAM-MGS's two ingredients helps on the ring: SAM (rho) and Q gossip steps, 2 x 2,
    over the seeds of the main sweep; DFedAvg with Q = 4 comes from results/<dataset>_q/."""
    rows = [r for r in report.load_results(os.path.join(HERE, "results", dataset))
            if r["config"].get("topology") == "ring" and r["config"]["method"] in ("dfedavg", "dfedsam", "dfedsam_mgs")]
    extra = report.load_results(os.path.join(HERE, "results", f"{dataset}_q"))
    if not extra:
        return "(not run yet)"
    cells = {}
    for r in rows + extra:
        c = r["config"]
        q = c["mgs_steps"] if c["method"] == "dfedsam_mgs" else c["gossip"]["steps"]
        local = "SGD (DFedAvg)" if c["method"] == "dfedavg" else f"SAM ρ = {c['rho']:g}"
        cells.setdefault((local, q), []).append(r)
    out = ["| local steps | Q = 1: mean node acc. (%) | Q = 4: mean node acc. (%) | Q = 1: consensus distance | "
           "Q = 4: consensus distance |", "|---|---|---|---|---|"]
    for local in sorted({k[0] for k in cells}, reverse=True):
        acc = [_stat(cells.get((local, q), []), lambda r: r["final"]["node_accuracy_mean"])[0] for q in (1, 4)]
        cons = [f"{np.mean([r['final']['train_consensus_distance'] for r in cells[(local, q)]]):.2e}"
                if (local, q) in cells else "–" for q in (1, 4)]
        n = {len(cells.get((local, q), [])) for q in (1, 4)}
        out.append(f"| {local} ({'/'.join(map(str, sorted(n)))} seeds) | {acc[0]} | {acc[1]} | {cons[0]} | {cons[1]} |")
    return "\n".join(out)


def main():
    readme = os.path.join(HERE, "README.md")
    report.replace_section(readme, "results", table("fashion_mnist"))
    report.replace_section(readme, "rho", rho_table("fashion_mnist"))
    report.replace_section(readme, "q", q_table("fashion_mnist"))
    print(table("fashion_mnist"))
    print(rho_table("fashion_mnist"))
    print(q_table("fashion_mnist"))


if __name__ == "__main__":
    main()
