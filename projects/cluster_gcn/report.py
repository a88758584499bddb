"""Renders the README tables and plots from projects/cluster_gcn/results/{accuracy,scaling}.json.

    python -m projects.cluster_gcn.report
"""
from __future__ import annotations

import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
REFERENCE = {"cora": "81.5 (GCN, Kipf & Welling)", "citeseer": "70.3 (GCN, Kipf & Welling)"}
PAPER_CLUSTER = "not reported (paper: PPI 99.36, Reddit 96.60 micro-F1)"
MiB = 2 ** 20


def _load(name):
    path = os.path.join(RESULTS, name)
    return json.load(open(path)) if os.path.exists(path) else []


def accuracy_rows():
    out = []
    for r in _load("accuracy.json"):
        t = np.array(r["test_accuracy"]) * 100
        out.append({**r, "test": f"{t.mean():.2f} ± {t.std():.2f}", "val": f"{np.mean(r['val_accuracy']) * 100:.2f}",
                    "paper": REFERENCE[r["dataset"]] if r["mode"] == "full" else PAPER_CLUSTER,
                    "updates": f"{r['steps']} ({r['epochs']:g} ep)",
                    "wall": f"{r['wall_time_s']:.0f} s wall / {r['cpu_time_s']:.0f} s CPU",
                    "hw": "2-core CPU (shared, loaded)", "cfg": f"`{r['config']}`"})
    order = {"full-batch GCN": 0}
    return sorted(out, key=lambda r: (r["dataset"], order.get(r["setting"], 1), r["setting"]))


def scaling_rows():
    rows = _load("scaling.json")
    by = {(r["num_nodes"], r["mode"]): r for r in rows}
    out = []
    for n in sorted({r["num_nodes"] for r in rows}):
        f, c = by.get((n, "full")), by.get((n, "cluster"))
        row = {"n": f"{n:,}", "e": f"{(f or c)['num_edges']:,}"}
        if f:
            row.update(fm=f"{f['memory_bytes']['peak'] / MiB:.1f}", ft=f"{f['epoch_s']:.2f} / {f['epoch_cpu_s']:.2f}")
        if c:
            row.update(cm=f"{c['memory_bytes']['peak'] / MiB:.1f}",
                       ct=f"{c['epoch_s']:.2f} / {c['epoch_cpu_s']:.2f}",
                       ch=f"{c['host_s']:.2f} / {c['host_cpu_s']:.2f}",
                       cb=f"{c['num_parts']} / {c['clusters_per_batch']} / {c['batch_nodes_pad'] - 1:,}",
                       metis=f"{c['partition_time_s']:.1f}")
        if f and c:
            row["ratio"] = f"{f['memory_bytes']['peak'] / c['memory_bytes']['peak']:.1f}x"
        out.append(row)
    return out, rows


def main():
    acc = accuracy_rows()
    cols = [("dataset", "dataset"), ("setting", "setting"), ("paper / reference", "paper"),
            ("ours: test acc % (mean ± std)", "test"), ("seeds", "seeds"), ("val acc %", "val"),
            ("updates", "updates"), ("hardware", "hw"), ("time (all seeds)", "wall"), ("config", "cfg")]
    report.replace_section(os.path.join(HERE, "README.md"), "accuracy", report.markdown_table(acc, cols))
    srows, raw = scaling_rows()
    cols = [("nodes", "n"), ("edges (directed)", "e"), ("full-batch step MiB", "fm"),
            ("Cluster-GCN step MiB", "cm"), ("memory ratio", "ratio"),
            ("full-batch epoch s (wall / CPU)", "ft"), ("Cluster-GCN epoch s (wall / CPU)", "ct"),
            ("of which batch building (wall / CPU)", "ch"), ("parts / per batch / batch nodes", "cb"),
            ("METIS s", "metis")]
    report.replace_section(os.path.join(HERE, "README.md"), "scaling", report.markdown_table(srows, cols))
    for key, fname, label in (("memory", "scaling_memory.png", "train-step memory (MiB, XLA analysis)"),
                              ("time", "scaling_epoch_cpu.png", "CPU seconds per epoch")):
        series = {}
        for mode, name in (("full", "full-batch GCN"), ("cluster", "Cluster-GCN")):
            pts = sorted((r["num_nodes"], r["memory_bytes"]["peak"] / MiB if key == "memory" else r["epoch_cpu_s"])
                         for r in raw if r["mode"] == mode)
            if pts:
                series[name] = ([p[0] for p in pts], [p[1] for p in pts])
        if series:
            report.line_plot(series, os.path.join(RESULTS, fname), xlabel="nodes (random graph, avg degree 20)",
                             ylabel=label, title="Cluster-GCN vs full-batch GCN", logx=True)


if __name__ == "__main__":
    main()
