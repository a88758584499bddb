"""Runs CELU-VFL, local updates without weighting, and vanilla VFL on credit default (3 seeds) and
writes projects/celu_vfl/results/credit_default.json (curves of test AUC vs round, virtual time
and bytes), then the README table and plot (projects/celu_vfl/report.py).

    TESSERA_DATA_DIR=/path/to/data python -m projects.celu_vfl.reproduce [--root runs/celu_repro]

Finished runs are skipped and interrupted ones resume, so the command can be rerun.
"""

from __future__ import annotations

import argparse
import json
import os

from lib import report
from projects.celu_vfl import train

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(os.path.dirname(os.path.dirname(HERE)), "configs", "celu_vfl", "credit_default.py")
RESULTS = os.path.join(HERE, "results", "credit_default.json")
# name -> config args; the *stale runs are an ablation where caches go staler (W = R = 10, lr 0.2)
RUNS = {"celu": "method=celu,total=600", "local": "method=local,total=600", "vanilla": "method=vanilla,total=1500",
        "celustale": "method=celu,total=600,W=10,R=10,lr=0.2", "localstale": "method=local,total=600,W=10,R=10,lr=0.2",
        "vanillastale": "method=vanilla,total=1500,lr=0.2"}
CURVES = ("test_auc", "test_loss", "virtual_time_s", "bytes_sent", "updates", "train_loss", "train_guest_kept",
          "train_host_kept", "train_local_updates")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="runs/celu_repro")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    runs = {f"{m}_seed{s}": f"{a},seed={s}" for s in args.seeds.split(",") for m, a in RUNS.items()}
    res = report.run_sweep(CONFIG, runs, args.root, RESULTS, train.train_and_evaluate)
    for name in res["runs"]:
        res["runs"][name]["curves"] = report.collect_run(os.path.join(args.root, name), CURVES)["curves"]
    with open(RESULTS, "w") as f:
        json.dump(res, f, indent=1, default=str)
    from projects.celu_vfl import report as celu_report

    celu_report.main()


if __name__ == "__main__":
    main()
