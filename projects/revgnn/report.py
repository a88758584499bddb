"""Renders the README tables and plots from projects/revgnn/results/*.json.

    python -m projects.revgnn.report
"""
from __future__ import annotations

import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "results")
MIB = 2 ** 20
PAPER = {("cora", "gcn-2 (Kipf reference)"): "81.5 (Kipf & Welling, GCN)",
         ("citeseer", "gcn-2 (Kipf reference)"): "70.3 (Kipf & Welling, GCN)"}
PAPER_DEEP = ("none on Planetoid; paper: ogbn-proteins ROC-AUC 87.74 ± 0.13 "
              "(RevGNN-Deep, 1001 layers × 80 ch)")
LABEL = {"reversible": "reversible (custom VJP)", "grouped": "same grouped net, plain autodiff",
         "residual": "plain residual (res+)"}


def memory_section():
    path = os.path.join(RES, "memory_vs_depth.json")
    if not os.path.exists(path):
        return None
    d = json.load(open(path))
    rows = d["rows"]
    models = [m for m in ("reversible", "grouped", "residual") if any(r["model"] == m for r in rows)]
    table = report.pivot(rows, "layers", "model", lambda r: f"{r['temp_size_in_bytes'] / MIB:.1f}",
                         row_label="layers", col_order=models)
    params = report.pivot([r for r in rows if r["model"] in ("reversible", "residual")], "layers", "model",
                          lambda r: f"{r['param_bytes'] / MIB:.2f}", row_label="layers")
    r0 = rows[0]
    report.line_plot({LABEL[m]: ([r["layers"] for r in rows if r["model"] == m],
                                 [r["temp_size_in_bytes"] / MIB for r in rows if r["model"] == m]) for m in models},
                     os.path.join(RES, "memory_vs_depth.png"), xlabel="layers (blocks)",
                     ylabel="XLA temp bytes of train step (MiB)", logx=True,
                     title=f"{r0['dataset']}, hidden {r0['hidden']}, {r0['groups']} groups")
    return (f"Measure: {d['measure']}; backend {d['backend']}, jax {d['jax']}; graph {r0['dataset']} "
            f"({r0['num_nodes_padded']} nodes padded), hidden {r0['hidden']}, {r0['groups']} groups; "
            f"hardware {d['hardware']}; all {len(rows)} compiles took {d['wall_time_s']:.0f} s wall. "
            "Command: `python -m projects.revgnn.memory`.\n\n"
            "Temp memory of the compiled training step, MiB:\n\n" + table +
            "\n\nParameter bytes (MiB; arguments, not in temp; optimizer state is 2x more):\n\n" + params)


def accuracy_rows():
    out = []
    for ds in ("cora", "citeseer"):
        path = os.path.join(RES, f"accuracy_{ds}.json")
        if not os.path.exists(path):
            continue
        for r in json.load(open(path)):
            t = np.array(r["test_accuracy"]) * 100
            m = r["model"]
            out.append({**r, "test": f"{t.mean():.2f} ± {t.std():.2f}", "val": f"{np.mean(r['val_accuracy']) * 100:.2f}",
                        "train": f"{np.mean(r['train_accuracy']) * 100:.1f}",
                        "paper": PAPER.get((ds, r["setting"]), PAPER_DEEP),
                        "wall": f"{r['wall_time_s']:.0f} s", "n": str(r["seeds"]),
                        "shape": f"{m['model']}, {m['layers']} layers × {m['hidden']} ch"
                                 + (f", {m['groups']} groups" if m["model"] in ("reversible", "grouped") else ""),
                        "cfg": f"`{r['config']}` + {json.dumps(r['overrides'])}", "hw": r["hardware"]})
    return out


def main():
    mem = memory_section()
    if mem:
        report.replace_section(os.path.join(HERE, "README.md"), "memory", mem)
    rows = accuracy_rows()
    if rows:
        cols = [("dataset", "dataset"), ("setting", "setting"), ("model", "shape"), ("seeds", "n"),
                ("test acc % (mean ± std)", "test"), ("val acc %", "val"), ("train acc %", "train"),
                ("paper's number", "paper"), ("hardware", "hw"), ("wall (all seeds)", "wall"), ("config", "cfg")]
        report.replace_section(os.path.join(HERE, "README.md"), "accuracy",
                               report.markdown_table(sorted(rows, key=lambda r: (r["dataset"], r["setting"])), cols))


if __name__ == "__main__":
    main()
