"""Runs configs/gist/cora.py's settings x seeds on Cora and CiteSeer (resumable), then writes the
README accuracy table from projects/gist/results/accuracy.json.

    TESSERA_DATA_DIR=/work/shared/data python -m projects.gist.report --run   # about 10 min on 2 cores
    python -m projects.gist.report                                            # the table only
"""
from __future__ import annotations

import functools
import json
import os
import sys

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
SEEDS = (0, 1, 2)
SETTINGS = {"full": ("mode=full", "full GCN"),
            "m2": ("m=2", "GIST m = 2"),
            "m4": ("m=4", "GIST m = 4"),
            "m2_split_input": ("m=2,split_input=True", "GIST m = 2, input features split too")}
# The paper reports no Cora/CiteSeer GIST numbers; Kipf & Welling's GCN is the reference point.
PAPER = {"cora": "81.5 (GCN, Kipf & Welling); GIST: not reported", "citeseer": "70.3 (GCN); GIST: not reported"}


def run(datasets=("cora", "citeseer")):
    from projects.gist import train
    collect = functools.partial(report.collect_run, curve_keys=("test_accuracy", "val_accuracy"))
    for ds in datasets:
        args = {f"{ds}_{k}_s{s}": f"{ds},{a},seed={s}" for k, (a, _) in SETTINGS.items() for s in SEEDS}
        report.run_sweep(os.path.join(REPO, "configs/gist/cora.py"), args, os.path.join(REPO, "runs/gist"),
                         os.path.join(RESULTS, "accuracy.json"), train.train_and_evaluate, collect=collect)


def table() -> str:
    with open(os.path.join(RESULTS, "accuracy.json")) as f:
        res = json.load(f)
    rows = []
    for ds in ("cora", "citeseer"):
        for k, (arg, label) in SETTINGS.items():
            runs = [res["runs"][n] for n in (f"{ds}_{k}_s{s}" for s in SEEDS) if n in res["runs"]]
            if not runs:
                continue
            acc = 100 * np.array([r["final"]["test_accuracy"] for r in runs])
            rows.append({"ds": ds, "method": label, "paper": PAPER[ds] if k == "full" else "–",
                         "ours": f"{acc.mean():.2f} ± {acc.std():.2f}", "seeds": len(runs),
                         "epochs": runs[0]["config"]["epochs"],
                         "wall": f"{np.mean([r['final']['wall_time_s'] for r in runs]):.1f}",
                         "cfg": f"`configs/gist/cora.py:{ds},{arg}`"})
    cols = [("dataset", "ds"), ("method", "method"), ("paper / reference", "paper"),
            ("ours: test acc % (mean ± std)", "ours"), ("seeds", "seeds"), ("epochs", "epochs"),
            ("wall s per run (incl. compile)", "wall"), ("config", "cfg")]
    return f"Machine: {res['machine']}.\n\n" + report.markdown_table(rows, cols)


def main(argv):
    if "--run" in argv:
        run()
    text = table()
    report.replace_section(os.path.join(HERE, "README.md"), "accuracy", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
