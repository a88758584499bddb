"""The MNIST runs of configs/vanishing_variance/mnist.py, each in its own resumable workdir, into
projects/vanishing_variance/results/mnist_s<seed>.json (rewritten after every run).

    nice -n 10 python -m projects.vanishing_variance.reproduce [--seeds 0] [--root runs/vv_mnist]
"""

from __future__ import annotations

import argparse
import functools
import os

from lib import report
from projects.vanishing_variance import train

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = "configs/vanishing_variance/mnist.py"
RUNS = {"gossip_corrected": "merge=corrected", "gossip_average": "merge=average",
        "gossip_shared_init": "merge=average,independent_init=false",
        "fl": "method=fl,merge=average,independent_init=false"}
CURVES = ("accuracy", "test_accuracy", "weight_std_dense_0_kernel", "weight_std_dense_1_kernel",
          "weight_std_head_kernel")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--root", default="runs/vv_mnist")
    args = ap.parse_args(argv)
    for seed in (int(s) for s in args.seeds.split(",")):
        runs = {k: f"{v},seed={seed}" for k, v in RUNS.items()}
        report.run_sweep(CONFIG, runs, os.path.join(args.root, f"s{seed}"),
                         os.path.join(HERE, "results", f"mnist_s{seed}.json"), train.train_and_evaluate,
                         collect=functools.partial(report.collect_run, curve_keys=CURVES))


if __name__ == "__main__":
    main()
