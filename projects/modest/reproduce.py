"""The MNIST sweep of configs/modest/mnist.py: FL, MoDeST with 0 / 50 / 80 % unresponsive nodes,
D-PSGD and gossip learning, each seed in its own resumable workdir, into
projects/modest/results/mnist_s<seed>.json (rewritten after every run).

    nice -n 10 python -m projects.modest.reproduce [--seeds 0,1] [--root runs/modest_mnist]
"""

from __future__ import annotations

import argparse
import functools
import os

from lib import report
from projects.modest import train

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = "configs/modest/mnist.py"
RUNS = {"fl": "method=fl", "modest_u0": "method=modest", "modest_u50": "method=modest,unresponsive=0.5",
        "modest_u80": "method=modest,unresponsive=0.8", "dpsgd": "method=dpsgd", "gossip": "method=gossip"}
CURVES = ("accuracy", "train_mb_sent_total", "train_sent_mb_per_node", "train_timed_out", "train_counted_updates")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--root", default="runs/modest_mnist")
    ap.add_argument("--only", default="", help="comma-separated run names (default: all)")
    args = ap.parse_args(argv)
    only = [r for r in args.only.split(",") if r]
    for seed in (int(s) for s in args.seeds.split(",")):
        runs = {k: f"{v},seed={seed}" for k, v in RUNS.items() if not only or k in only}
        report.run_sweep(CONFIG, runs, os.path.join(args.root, f"s{seed}"),
                         os.path.join(HERE, "results", f"mnist_s{seed}.json"), train.train_and_evaluate,
                         collect=functools.partial(report.collect_run, curve_keys=CURVES))


if __name__ == "__main__":
    main()
