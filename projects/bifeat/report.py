"""Renders the README results tables and plot from projects/bifeat/results/*.json.

    python -m projects.bifeat.report
"""
from __future__ import annotations

import glob
import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER = {("cora", "gcn/float32"): "81.5 (Kipf & Welling)", ("citeseer", "gcn/float32"): "70.3 (Kipf & Welling)",
         ("cora", "gcn/int8-layers"): "81.7 [unverified, DQ]", ("cora", "gcn/int4-layers"): "78.3 [unverified, DQ]",
         ("citeseer", "gcn/int8-layers"): "71.0 [unverified, DQ]",
         ("citeseer", "gcn/int4-layers"): "66.9 [unverified, DQ]",
         ("cora", "gin/float32"): "77.6 [unverified, DQ]", ("cora", "gin/int8-layers"): "78.7 [unverified, DQ]",
         ("cora", "gin/int4-layers"): "69.9 [unverified, DQ]"}
ABLATION = "-noinputdrop"  # settings trained without dropout on the input features


def reference(setting: str, layer: str) -> str:
    """The float32 run a setting is compared with: same layer, same input-dropout choice."""
    return layer + "/float32" + (ABLATION if setting.endswith(ABLATION) else "")


def rows():
    loaded = [r for f in sorted(glob.glob(os.path.join(HERE, "results", "*.json"))) for r in json.load(open(f))]
    out = []
    for r in loaded:
        t = np.array(r["test_accuracy"]) * 100
        cpu = r.get("cpu_time_s")
        out.append({**r, "test": f"{t.mean():.2f} ± {t.std():.2f}", "test_mean": t.mean(),
                    "val": f"{np.mean(r['val_accuracy']) * 100:.2f}",
                    "ratio": f"{r['compression_ratio']:.1f}x", "paper": PAPER.get((r["dataset"], r["setting"]), "–"),
                    "wall": f"{r['wall_time_s']:.0f} s" + (f" ({cpu:.0f} s CPU)" if cpu is not None else "")})
    for r in out:  # accuracy change vs the float32 run of the same layer and dataset
        ref = [q for q in out if q["dataset"] == r["dataset"] and q["setting"] == reference(r["setting"], r["layer"])]
        r["delta"] = f"{r['test_mean'] - ref[0]['test_mean']:+.2f}" if ref else "–"
    return out


def main():
    rs = rows()
    cols = [("dataset", "dataset"), ("setting", "setting"), ("feature compression", "ratio"),
            ("test acc % (10 seeds)", "test"), ("Δ vs float32", "delta"), ("val acc %", "val"),
            ("paper / reference", "paper"), ("wall (10 seeds)", "wall")]
    main_rows = [r for r in rs if not r["setting"].endswith(ABLATION)]
    feat = [r for r in main_rows if r["quant"] == "none" and not r["setting"].startswith("gin/")]
    quant = [r for r in main_rows if r["quant"] != "none" or r["setting"] in ("gin/float32", "gcn/float32")]
    ablation = [r for r in rs if r["setting"].endswith(ABLATION)]
    ablation += [r for r in main_rows if r["setting"] in ("gcn/float32", "gcn/scalar-1bit")
                 and any(a["dataset"] == r["dataset"] for a in ablation)]
    key = lambda r: (r["dataset"], r["setting"])
    md = ("### Feature compression (BiFeat)\n\n" + report.markdown_table(sorted(feat, key=key), cols) +
          "\n\n### Quantized layers (Degree-Quant, int8 activations; int8 or int4 weights)\n\n" +
          report.markdown_table(sorted(quant, key=key), cols))
    if ablation:
        md += ("\n\n### 1-bit collapse ablation (GCN; `-noinputdrop`: no dropout on the input features, "
               "Δ vs float32 without input dropout)\n\n" + report.markdown_table(sorted(ablation, key=key), cols))
    report.replace_section(os.path.join(HERE, "README.md"), "results", md)
    series = {}  # one line per layer, data set and codec, each starting at its float32 point
    for layer in ("gcn", "sage"):
        for ds in sorted({r["dataset"] for r in feat}):
            for mode in ("vector", "scalar"):
                pts = sorted((r["compression_ratio"], r["test_mean"]) for r in feat
                             if r["dataset"] == ds and r["layer"] == layer and r["compression"]["mode"] in ("none", mode))
                if len(pts) > 1:
                    series[f"{'GCN' if layer == 'gcn' else 'SAGE'} {ds} {mode}"] = ([p[0] for p in pts],
                                                                                 [p[1] for p in pts])
    if series:
        report.line_plot(series, os.path.join(HERE, "results", "accuracy_vs_compression.png"),
                         xlabel="feature-store compression vs float32", ylabel="test accuracy % (mean of 10 seeds)",
                         title="BiFeat on Planetoid (GCN, GraphSAGE)", logx=True)


if __name__ == "__main__":
    main()
