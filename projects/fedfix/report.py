"""Runs configs/fedfix/mnist.py's variants x seeds (resumable) and writes the README table.

    python -m projects.fedfix.report --run     # train (about 8 min on 2 CPU cores), then the table
    python -m projects.fedfix.report           # the table from projects/fedfix/results/mnist.json
"""

from __future__ import annotations

import os
import sys

from lib import report
from lib.fl.clock import report as clock_report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results", "mnist.json")
SEEDS = (0, 1, 2)
NAMES = {"sync": "sync FedAvg", "fedasync": "FedAsync (Xie: a = 0.6 (u+1)^-0.5)",
         "async": "async FedAvg (Fraboni: d_i = 1)", "fedbuff-5": "FedBuff-5", "fedbuff-10": "FedBuff-10",
         "fedfix-0.2": "FedFix-0.2 (dt = 1 s)", "fedfix-0.5": "FedFix-0.5 (dt = 2.5 s)",
         "fedfix-0.8": "FedFix-0.8 (dt = 4 s)"}


def main(argv):
    if "--run" in argv:
        from projects.fedfix import train

        args = {f"{k}_s{s}": f"{k}_s{s}" for k in NAMES for s in SEEDS}
        clock_report.run_all(os.path.join(REPO, "configs/fedfix/mnist.py"), args,
                             os.path.join(REPO, "runs/fedfix_mnist"), RESULTS, train.train_and_evaluate)
    names = {label: [f"{k}_s{s}" for s in SEEDS] for k, label in NAMES.items()}
    text = clock_report.table(RESULTS, names, times=(25, 50, 100, 150), targets=(0.8, 0.85))
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
