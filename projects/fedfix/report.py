"""Runs configs/fedfix/{mnist,femnist}.py's variants x seeds (resumable) and writes the README tables.

    python -m projects.fedfix.report --run          # MNIST (about 8 min on 2 CPU cores), then the tables
    python -m projects.fedfix.report --run-femnist  # FEMNIST, then the tables
    python -m projects.fedfix.report                # the tables from projects/fedfix/results/{mnist,femnist}.json

A run already in the results JSON is skipped; the JSON is rewritten after every run.
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
FEMNIST = os.path.join(HERE, "results", "femnist.json")
FEMNIST_SEEDS = (0, 1, 2)
FEMNIST_NAMES = {"sync": NAMES["sync"], "fedasync": NAMES["fedasync"], "async": NAMES["async"],
                 "fedbuff-10": "FedBuff-10", "fedfix-0.2": NAMES["fedfix-0.2"], "fedfix-0.5": NAMES["fedfix-0.5"]}


def _run(config, names, seeds, root, results):
    """Every variant x seed not yet in `results` (seed by seed), through clock_report.run_all."""
    import json

    from projects.fedfix import train

    done = set()
    if os.path.exists(results):
        with open(results) as f:
            done = set(json.load(f).get("runs", {}))
    args = {f"{k}_s{s}": f"{k}_s{s}" for s in seeds for k in names if f"{k}_s{s}" not in done}
    for name, arg in args.items():  # one at a time, so that the JSON holds each run as it finishes
        clock_report.run_all(os.path.join(REPO, config), {name: arg}, os.path.join(REPO, root), results,
                             train.train_and_evaluate)


def main(argv):
    if "--run" in argv:
        _run("configs/fedfix/mnist.py", NAMES, SEEDS, "runs/fedfix_mnist", RESULTS)
    if "--run-femnist" in argv:
        _run("configs/fedfix/femnist.py", FEMNIST_NAMES, FEMNIST_SEEDS, "runs/fedfix_femnist", FEMNIST)
    names = {label: [f"{k}_s{s}" for s in SEEDS] for k, label in NAMES.items()}
    text = clock_report.table(RESULTS, names, times=(25, 50, 100, 150), targets=(0.8, 0.85))
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)
    names = {label: [f"{k}_s{s}" for s in FEMNIST_SEEDS] for k, label in FEMNIST_NAMES.items()}
    text = clock_report.table(FEMNIST, names, times=(50, 100, 200, 300), targets=(0.5, 0.6))
    report.replace_section(os.path.join(HERE, "README.md"), "results-femnist", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
