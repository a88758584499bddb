"""Results JSON (from launch/sweep.py) -> README table and plot. `python -m projects.dadao.report`.

For every (mu, method): the gradient and communication events after which the mean squared distance to
x*, relative to its start (mean_i ||x_i - x*||^2 / ||x0 - x*||^2), first fell below each target
(resolution: one chunk of events), and where it ended."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = (1e-2, 1e-4, 1e-6)
NAMES = {"dadao": "DADAO", "gossip_gd": "gossip + gradient (1/L)", "adom_plus": "ADOM+",
         "adom_plus_mc": "ADOM+ multi-consensus"}
ORDER = list(NAMES)


def _first(curve, target):
    for p in curve:
        if p["train_rel_dist2"] <= target:
            return f"{p['train_grad_events'] / 1e3:.1f}k / {p['train_comm_events'] / 1e3:.1f}k"
    return "not reached"


def _plot(series, out_png):
    """Log-scale error curves, one panel per kappa (lib.report.line_plot draws linear axes with markers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kappas = sorted({k for k, _ in series})
    fig, axes = plt.subplots(1, len(kappas), figsize=(4 * len(kappas), 3.6), sharey=True, squeeze=False)
    for ax, kappa in zip(axes[0], kappas):
        for (k, name), (xs, ys) in series.items():
            if k == kappa:
                ax.plot(xs, ys, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("gradient events")
        ax.set_title(f"κ = L/μ ≈ {kappa:.0f}")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean ||x_i − x*||² / ||x0 − x*||²")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def table(setting: str = "rgg") -> str:
    rows = [r for r in report.load_results(os.path.join(HERE, "results", setting)) if r.get("status") == "ok"]
    if not rows:
        return "(not run yet)"
    rows.sort(key=lambda r: (-r["config"]["mu"], ORDER.index(r["config"]["method"])))
    head = " | ".join(f"rel. error ≤ {t:.0e}: grad / comm events" for t in TARGETS)
    out = [f"| μ | κ = L/μ | λ_mix | method | {head} | final rel. error | events | wall (s) |",
           "|---|---|---|---|" + "---|" * len(TARGETS) + "---|---|---|"]
    series = {}
    for r in rows:
        f, c, cur = r["final"], r["config"], r["curve"]
        lam = f"{f['lambda_mix']:.1f}" if not c["method"].startswith("adom") else "– (sync.)"
        out.append(f"| {c['mu']:g} | {f['kappa']:.0f} | {lam} | {NAMES[c['method']]} | "
                   + " | ".join(_first(cur, t) for t in TARGETS)
                   + f" | {f['train_rel_dist2']:.1e} | {(f['train_grad_events'] + f['train_comm_events']) / 1e3:.0f}k "
                   f"| {f['wall_time_s']:.0f} |")
        series[(round(f["kappa"]), NAMES[c["method"]])] = (
            [p["train_grad_events"] for p in cur], [max(p["train_rel_dist2"], 1e-13) for p in cur])
    _plot(series, os.path.join(HERE, "results", f"{setting}.png"))
    return "\n".join(out)


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", table("rgg"))
    print(table("rgg"))


if __name__ == "__main__":
    main()
