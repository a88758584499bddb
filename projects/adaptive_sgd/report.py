"""Runs configs/adaptive_sgd/fashion_mnist.py's methods x seeds (resumable) and writes the README table.

    python -m projects.adaptive_sgd.report --run    # train, then the table
    python -m projects.adaptive_sgd.report          # the table from projects/adaptive_sgd/results/fashion_mnist.json
"""

from __future__ import annotations

import os
import sys

from lib import report
from lib.fl.clock import report as clock_report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results", "fashion_mnist.json")
SEEDS = (0, 1)
NAMES = {"adaptive": "Adaptive SGD (speed-proportional batches, normalised merging)",
         "adaptive_equal_merge": "speed-proportional batches, plain averaging (ablation)",
         "static": "static equal batches (fast workers wait)", "async": "plain asynchronous (equal batches)"}


def main(argv):
    if "--run" in argv:
        from projects.adaptive_sgd import train

        args = {f"{k}_s{s}": f"{k}_s{s}" for k in NAMES for s in SEEDS}
        clock_report.run_all(os.path.join(REPO, "configs/adaptive_sgd/fashion_mnist.py"), args,
                             os.path.join(REPO, "runs/adaptive_sgd_fmnist"), RESULTS, train.train_and_evaluate)
    names = {label: [f"{k}_s{s}" for s in SEEDS] for k, label in NAMES.items()}
    text = clock_report.table(RESULTS, names, times=(6, 15, 30, 60), targets=(0.8, 0.84))
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
