"""Regenerates the tables and plot in projects/lamb/README.md from projects/lamb/results/.

    python -m projects.lamb.report
"""

from __future__ import annotations

import os
import re

from lib import report
from lib.optim.large_batch import scale_lr
from projects.lamb.train import DEFAULT_LR_SCALING

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
OPTIMIZERS = ["lamb", "lars", "adamw", "sgd"]


def _acc(r):
    if r.get("status", "ok") != "ok":
        m = re.search(r"at step (\d+)", r.get("error", ""))
        return f"NaN at step {m.group(1)}" if m else r["status"]
    return f"{100 * r['final']['test_accuracy']:.2f}"


def _wall(r):
    return f"{r['final']['wall_time_s']:.0f}" if "final" in r else "–"


def _ok(r):
    return r.get("status", "ok") == "ok"


def _peak_lr(r) -> float:
    """The peak LR a run used: from its config, else the defaults of configs/lamb/mnist.py."""
    from configs.lamb import mnist

    cfg = r.get("config") or mnist.get_config().to_dict()
    base = float(r["overrides"].get("base_lr") or cfg.get("base_lr") or cfg["tuned_base_lr"][r["opt"]])
    rule = cfg.get("lr_scaling") or DEFAULT_LR_SCALING[r["opt"]]
    return scale_lr(base, r["bs"], cfg["base_batch_size"], rule)


def main() -> None:
    runs = [r for r in report.load_results(RESULTS) if "batch_size" in r["overrides"]]
    for r in runs:
        r["bs"] = int(r["overrides"]["batch_size"])
        r["opt"] = r["overrides"]["optimizer"]
        r["lr"] = f"{_peak_lr(r):.3g}"
    opts = [o for o in OPTIMIZERS if any(r["opt"] == o for r in runs)]
    hw = sorted({f"{r['final']['devices']}x {r['final']['device_kind']}" for r in runs if _ok(r)}) or ["–"]
    parts = [
        "Test accuracy (%) on MNIST after 10 epochs, by batch size (rows) and optimizer (columns):\n",
        report.pivot(runs, "bs", "opt", _acc, row_label="batch size", col_order=opts),
        "\nPeak learning rate used (base LR tuned at batch 512, scaled by the optimizer's rule):\n",
        report.pivot(runs, "bs", "opt", lambda r: r["lr"], row_label="batch size", col_order=opts),
        "\nWall time per run (s, training + final eval, incl. compile):\n",
        report.pivot(runs, "bs", "opt", _wall, row_label="batch size", col_order=opts),
        f"\nHardware: {', '.join(hw)} (a 2-core machine shared with other jobs while these ran, so wall "
        "times are upper bounds). Config: `configs/lamb/mnist.py`; command in its docstring.",
        "\n![test accuracy vs batch size](results/accuracy_vs_batch.png)\n\n(Diverged runs are left out of "
        "the plot.)",
    ]
    grid = report.load_results(os.path.join(RESULTS, "lr_grid"))
    if grid:
        for r in grid:
            r["opt"], r["bs"] = r["overrides"]["optimizer"], int(r["overrides"]["batch_size"])
            r["setting"] = f"{r['opt']} @ {r['bs']}"
            r["base"] = float(r["overrides"]["base_lr"])
            r["cell"] = f"{_acc(r)} (peak {_peak_lr(r):.3g})"
        order = [f"{o} @ {b}" for o in opts for b in sorted({r["bs"] for r in grid})
                 if any(r["setting"] == f"{o} @ {b}" for r in grid)]
        parts += ["\n### Sensitivity to the learning rate at large batch\n",
                  "Test accuracy (%) after 10 epochs for three base LRs per optimizer (peak LR after scaling "
                  "in brackets), `projects/lamb/results/lr_grid/`:\n",
                  report.pivot(grid, "setting", "base", lambda r: r["cell"], row_label="optimizer @ batch",
                               row_order=order)]
    if runs:
        series = {}
        for o in opts:
            pts = sorted((r["bs"], 100 * r["final"]["test_accuracy"]) for r in runs if r["opt"] == o and _ok(r))
            series[o] = ([p[0] for p in pts], [p[1] for p in pts])
        report.line_plot(series, os.path.join(RESULTS, "accuracy_vs_batch.png"), xlabel="batch size",
                         ylabel="test accuracy (%)", title="MNIST MLP, 10 epochs", logx=True)
    report.replace_section(os.path.join(HERE, "README.md"), "results", "\n".join(parts))

    tune = report.load_results(os.path.join(RESULTS, "tune"))
    for r in tune:
        r["opt"], r["base_lr"] = r["overrides"]["optimizer"], float(r["overrides"]["base_lr"])
    table = report.pivot(tune, "base_lr", "opt", _acc, row_label="base LR", col_order=opts)
    report.replace_section(os.path.join(HERE, "README.md"), "tuning",
                           "Test accuracy (%) after 3 epochs at batch 512, by base LR:\n\n" + table)


if __name__ == "__main__":
    main()
