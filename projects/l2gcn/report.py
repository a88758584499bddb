"""Renders the README tables from projects/l2gcn/results/{accuracy,scaling}.json.

    python -m projects.l2gcn.report
"""
from __future__ import annotations

import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
# Kipf & Welling's GCN numbers (public split); the L-GCN paper reports no Cora/CiteSeer accuracy table.
PAPER = {("cora", "full"): "81.5 (GCN, Kipf & Welling)", ("citeseer", "full"): "70.3 (GCN, Kipf & Welling)",
         ("cora", "layerwise"): "not reported (paper: 'comparable' to GCN)",
         ("citeseer", "layerwise"): "not reported"}
MiB = 2 ** 20


def _load(name):
    p = os.path.join(RESULTS, name)
    return json.load(open(p)) if os.path.exists(p) else []


def main():
    rows = []
    for r in _load("accuracy.json"):
        t = np.array(r["test_accuracy"]) * 100
        rows.append({"ds": r["dataset"], "mode": "L-GCN (layer-wise)" if r["mode"] == "layerwise" else "full-batch GCN",
                     "paper": PAPER[(r["dataset"], r["mode"])], "ours": f"{t.mean():.2f} ± {t.std():.2f}",
                     "seeds": r["seeds"], "steps": r["steps"],
                     "time": f"{np.mean(r['wall_s_per_run']):.1f} s wall / {np.mean(r['cpu_s_per_run']):.1f} s CPU",
                     "hw": "2-core CPU (shared, loaded)", "cfg": f"`{r['config']}`"})
    cols = [("dataset", "ds"), ("method", "mode"), ("paper / reference", "paper"), ("ours: test acc % (mean ± std)", "ours"),
            ("seeds", "seeds"), ("updates", "steps"), ("time per run (incl. compile)", "time"), ("hardware", "hw"),
            ("config", "cfg")]
    report.replace_section(os.path.join(HERE, "README.md"), "accuracy", report.markdown_table(rows, cols))
    srows = []
    for r in _load("scaling.json"):
        for lw in r["layerwise"]:
            srows.append({"n": f"{r['num_nodes']:,}", "e": f"{r['num_edges']:,}", "b": lw["batch"],
                          "full": f"{r['full_epoch_s']:.3f}", "lw": f"{lw['epoch_s']:.3f}",
                          "ratio": f"{r['full_epoch_s'] / lw['epoch_s']:.2f}x",
                          "pre": f"{r['precompute_s']:.3f}", "fm": f"{r['full_step_bytes'] / MiB:.1f}",
                          "lm": f"{lw['step_bytes'] / MiB:.2f}",
                          "load": "/".join(f"{x:.1f}" for x in r["load_avg_1min"])})
    cols = [("nodes", "n"), ("edges", "e"), ("L-GCN batch", "b"), ("full-batch epoch s", "full"),
            ("L-GCN epoch s", "lw"), ("full / L-GCN", "ratio"), ("L-GCN precompute per layer s", "pre"),
            ("full step MiB", "fm"), ("L-GCN step MiB", "lm"), ("load before/after", "load")]
    report.replace_section(os.path.join(HERE, "README.md"), "scaling", report.markdown_table(srows, cols))


if __name__ == "__main__":
    main()
