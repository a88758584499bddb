"""Runs configs/fedfix/mnist.py's five schedules (resumable) and writes the README table.

    python -m projects.fedfix.report --run     # train (about 10 min on 2 CPU cores), then the table
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
NAMES = {"sync": "sync FedAvg", "fedasync": "FedAsync (Xie, a = 0.6 (u+1)^-0.5)",
         "async": "async FedAvg (Fraboni, d_i = 1)", "fedbuff": "FedBuff-10", "fedfix": "FedFix-0.5 (dt = 2.5 s)"}


def main(argv):
    if "--run" in argv:
        from projects.fedfix import train

        clock_report.run_all(os.path.join(REPO, "configs/fedfix/mnist.py"), {k: k for k in NAMES},
                             os.path.join(REPO, "runs/fedfix_mnist"), RESULTS, train.train_and_evaluate)
    text = clock_report.table(RESULTS, NAMES, times=(25, 50, 100, 150), targets=(0.8, 0.85))
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
