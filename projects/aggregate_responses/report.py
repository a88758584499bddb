"""results/{linear,credit_default}.json -> README tables (metric by bag size x rho, with and without DP).

    python -m projects.aggregate_responses.report
"""

from __future__ import annotations

import json
import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
METRIC = {"linear": ("excess_risk", "excess risk |theta_hat - theta|^2 (lower is better)", min),
          "credit_default": ("test_auc", "test AUC (higher is better)", max)}


def table(res: dict, metric: str, eps: float, best) -> str:
    rows = {}
    for name, r in res["runs"].items():
        c = r["config"]
        if float(c["dp_epsilon"]) != eps:
            continue
        rows.setdefault(c["bag_size"], {})[c["rho"]] = r["final"][metric]
    rhos = sorted(set.intersection(*[set(v) for v in rows.values()]))  # the rho grid every bag size has
    out = ["| bag size k | " + " | ".join(f"rho={r:g}" + (" (bag)" if r == 0 else " (instance)" if r == 1 else "")
                                           for r in rhos) + " | best rho |", "|---" * (len(rhos) + 2) + "|"]
    for k in sorted(rows):
        vals = [rows[k].get(r) for r in rhos]
        b = best((v, r) for v, r in zip(vals, rhos) if v is not None)
        out.append(f"| {k} | " + " | ".join(f"**{v:.4f}**" if r == b[1] else f"{v:.4f}" for v, r in zip(vals, rhos))
                   + f" | {b[1]:g} |")
    ks = sorted(rows)
    best_k = [best((rows[k][r], k) for k in ks if r in rows[k])[1] for r in rhos]
    out.append("| best k | " + " | ".join(str(k) for k in best_k) + " | |")
    return "\n".join(out)


def main() -> None:
    parts = []
    for ds, (metric, label, best) in METRIC.items():
        path = os.path.join(HERE, "results", f"{ds}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            res = json.load(f)
        c0 = next(iter(res["runs"].values()))["config"]
        head = (f"linear simulation: n = {c0['linear']['n']}, d = {c0['linear']['d']}, noise sigma = "
                f"{c0['linear']['sigma']}, responses clipped to [-{c0['clip']}, {c0['clip']}]" if ds == "linear" else
                "credit default: logistic model on the joined guest + host features, 24,000 train / 6,000 test")
        for eps in sorted({float(r["config"]["dp_epsilon"]) for r in res["runs"].values()}):
            parts.append(f"**{head}; {label}; " + ("no privacy noise" if eps == 0 else
                                                   f"Laplace label DP on bag means, epsilon = {eps:g}") + "**\n")
            parts.append(table(res, metric, eps, best) + "\n")
        parts.append(f"Full-batch Adam, lr {c0['lr']}, {c0['total']} steps, seed {c0['seed']}; machine: {res['machine']}; "
                     f"config `{os.path.relpath(res['config'], os.path.dirname(os.path.dirname(HERE)))}`.\n")
    text = "\n".join(parts)
    readme = os.path.join(HERE, "README.md")
    if os.path.exists(readme):
        report.replace_section(readme, "results", text)
    print(text)


if __name__ == "__main__":
    main()
