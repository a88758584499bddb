"""Renders the README table from projects/fedpub/results/accuracy.json.

    python -m projects.fedpub.report
"""
from __future__ import annotations

import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
NAMES = {"fedpub": "FED-PUB", "fedavg": "FedAvg", "local": "Local"}
ORDER = {("disjoint", 5): 0, ("disjoint", 10): 1, ("overlapping", 10): 2}


def _pct(v):
    a = np.asarray(v, np.float64) * 100
    return f"{a.mean():.2f} ± {a.std():.2f}"


def main():
    path = os.path.join(RESULTS, "accuracy.json")
    rows_in = json.load(open(path)) if os.path.exists(path) else []
    rows_in.sort(key=lambda r: (r["dataset"], ORDER.get((r["mode"], r["clients"]), 9), r["variant"] != "",
                                list(NAMES).index(r["method"])))
    best = {}
    for r in rows_in:
        if r["variant"] == "":
            key = (r["dataset"], r["mode"], r["clients"])
            best.setdefault(key, {})[r["method"]] = float(np.mean(r["test_accuracy"]))
    rows = []
    for r in rows_in:
        key = (r["dataset"], r["mode"], r["clients"])
        name = NAMES[r["method"]] + (f" ({r['variant']}: {r['overrides']})" if r["variant"] else "")
        others = [v for m, v in best.get(key, {}).items() if m != "fedpub"]
        gap = ""
        if r["method"] == "fedpub" and others:
            gap = f"{(np.mean(r['test_accuracy']) - max(others)) * 100:+.2f}"
        rows.append({"ds": r["dataset"], "set": f"{r['mode']}, {r['clients']} clients", "m": name,
                     "ours": _pct(r["test_accuracy"]), "recv": _pct(r["received_test_accuracy"]),
                     "pool": _pct(r["test_accuracy_pooled"]), "gap": gap,
                     "sp": f"{np.mean(r['mask_sparsity']) * 100:.1f}" if r["method"] == "fedpub" else "",
                     "seeds": r["seeds"], "rounds": r["rounds"],
                     "time": f"{np.mean(r['wall_s_per_run']):.0f} s", "hw": "2-core CPU (shared)",
                     "cfg": f"`{r['config']}`"})
    cols = [("dataset", "ds"), ("clients", "set"), ("method", "m"),
            ("ours: mean client test acc % (final round, mean ± std over seeds)", "ours"),
            ("FED-PUB − best baseline (points)", "gap"), ("received model acc %", "recv"),
            ("pooled acc %", "pool"), ("masks pruned %", "sp"), ("seeds", "seeds"), ("rounds", "rounds"),
            ("wall per run", "time"), ("hardware", "hw"), ("config", "cfg")]
    report.replace_section(os.path.join(HERE, "README.md"), "results", report.markdown_table(rows, cols))


if __name__ == "__main__":
    main()
