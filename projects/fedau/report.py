"""Results JSON (from launch/sweep.py) -> README table and plots. `python -m projects.fedau.report`."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ["fedau", "participating", "all", "known_prob"]
LABELS = {"fedau": "FedAU (K=∞)", "participating": "FedAvg over participants",
          "all": "FedAvg over all (÷N)", "known_prob": "FedAvg, known p (oracle)"}
PATTERNS = ["bernoulli", "markov", "cyclic"]


def _last(row, k=4):
    """Mean test accuracy over the last k evaluations (less noisy than the final one)."""
    c = [p["test_accuracy"] for p in row.get("curve", []) if "test_accuracy" in p][-k:]
    return sum(c) / len(c) if c else None


def _cell(row):
    return f"{100 * row['final']['test_accuracy']:.1f} ({100 * _last(row):.1f})"


def tables() -> str:
    out = []
    for ds in ("mnist", "femnist"):
        rows = report.load_results(os.path.join(HERE, "results", ds))
        if not rows:
            continue
        for r in rows:
            r["method"] = LABELS[r["config"]["weighting"]]
            r["pattern"] = r["config"]["participation"]
        c0 = rows[0]["config"]
        pats = [p for p in PATTERNS if any(r["pattern"] == p for r in rows)]
        out.append(f"**{ds.upper()}** — {c0['num_clients']} clients, {c0['partition']}"
                   f"{' (alpha=%s)' % c0['dirichlet_alpha'] if c0['partition'] == 'dirichlet' else ''}, "
                   f"MLP {c0['model']['hidden']}, {c0['total']} rounds x {c0['local']['num_steps']} local steps "
                   f"(batch {c0['local']['batch_size']}, lr {c0['local']['lr']}), seed {c0['seed']}. "
                   "Test accuracy % at the last round (mean of the last 4 evaluations, every "
                   f"{c0['eval_every']} rounds):\n")
        out.append(report.pivot(rows, "method", "pattern", _cell, row_label="weighting",
                                row_order=[LABELS[m] for m in METHODS], col_order=pats))
        out.append("\nClaim check (mean of the last 4 evaluations, percentage points):\n")
        out.append("| pattern | FedAU − best unknown-p baseline | FedAU − oracle (known p) |\n|---|---|---|")
        for p in pats:
            by = {r["config"]["weighting"]: 100 * _last(r) for r in rows if r["pattern"] == p}
            base = [by[m] for m in ("participating", "all") if m in by]
            d1 = f"{by['fedau'] - max(base):+.1f}" if "fedau" in by and base else "–"
            d2 = f"{by['fedau'] - by['known_prob']:+.1f}" if "fedau" in by and "known_prob" in by else "–"
            out.append(f"| {p} | {d1} | {d2} |")
        walls = [r["final"]["wall_time_s"] for r in rows]
        out.append(f"\nWall time per run: {min(walls):.0f}-{max(walls):.0f} s on 2 shared CPU cores "
                   f"(1 device). Config: `configs/fedau/{ds}.py`.\n")
        for p in pats:
            series = {}
            for r in rows:
                if r["pattern"] == p:
                    cur = [(q["step"], q["test_accuracy"]) for q in r["curve"] if "test_accuracy" in q]
                    series[r["method"]] = ([a for a, _ in cur], [b for _, b in cur])
            png = os.path.join(HERE, "results", f"{ds}_{p}.png")
            report.line_plot(series, png, xlabel="round", ylabel="test accuracy", title=f"{ds} / {p}")
            out.append(f"![{ds} {p}](results/{ds}_{p}.png)")
        out.append("")
    return "\n".join(out)


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", tables())


if __name__ == "__main__":
    main()
