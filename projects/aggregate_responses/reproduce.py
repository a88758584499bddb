"""Bag size x rho x label-DP sweeps on the linear simulation and on credit default ->
projects/aggregate_responses/results/{linear,credit_default}.json, then the README tables.

    TESSERA_DATA_DIR=/path/to/data python -m projects.aggregate_responses.reproduce [--root runs/agg_repro]
"""

from __future__ import annotations

import argparse
import os

from lib import report
from projects.aggregate_responses import train

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "configs", "aggregate_responses")
BAG_SIZES = (1, 2, 4, 8, 16, 32, 64)
RHOS = (0.0, 0.25, 0.5, 1.0)
EPSILONS = (0.0, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="runs/agg_repro")
    ap.add_argument("--datasets", default="linear,credit_default")
    args = ap.parse_args()
    for ds in args.datasets.split(","):
        cfg = os.path.join(CONFIGS, "default.py" if ds == "linear" else f"{ds}.py")
        runs = {f"k{k}_rho{r}_eps{e}": f"bag_size={k},rho={r},dp_epsilon={e}"
                for e in EPSILONS for k in BAG_SIZES for r in RHOS}
        report.run_sweep(cfg, runs, os.path.join(args.root, ds), os.path.join(HERE, "results", f"{ds}.json"),
                         train.train_and_evaluate)
    from projects.aggregate_responses import report as agg_report

    agg_report.main()


if __name__ == "__main__":
    main()
