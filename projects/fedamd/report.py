"""Runs the comparisons (launch/sweep.py, resumable) and writes the README tables and plots.

    python -m projects.fedamd.report --run   # MNIST and Fashion-MNIST x fedavg/scaffold/fedamd, then the tables
    python -m projects.fedamd.report         # the tables from projects/fedamd/results/<dataset>/*.json
"""

from __future__ import annotations

import os
import subprocess
import sys

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NAMES = {"fedamd": "FedAMD (anchor sampling)", "fedavg": "FedAvg", "scaffold": "SCAFFOLD"}
DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "femnist": "FEMNIST"}
TARGETS = {"mnist": (0.8, 0.9), "fashion_mnist": (0.6, 0.7, 0.75), "femnist": (0.5, 0.6, 0.7)}
WORKDIRS = {"mnist": "runs/fedamd_mnist", "fashion_mnist": "runs/fedamd_fmnist", "femnist": "runs/fedamd_femnist"}


def run(dataset: str) -> None:
    subprocess.run([sys.executable, os.path.join(REPO, "launch", "sweep.py"), "--project", "fedamd",
                    "--config", f"configs/fedamd/{dataset}.py", "--workdir", WORKDIRS[dataset],
                    "--results", f"projects/fedamd/results/{dataset}", "--grid", "method=" + ",".join(NAMES)],
                   cwd=REPO, check=True)


def tables(dataset: str = "mnist") -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return f"{DATASETS[dataset]}: not run yet."
    rows.sort(key=lambda r: list(NAMES).index(r["config"]["method"]))
    for r in rows:
        r["name"] = NAMES[r["config"]["method"]]
    cols = [("method", "name")] + report.accuracy_columns(rows, TARGETS[dataset])
    c = rows[0]["config"]
    split = ("one writer each (LEAF's natural split)" if c["partition"] == "natural"
             else f"with Dirichlet(α = {c['dirichlet_alpha']}) labels")
    head = (f"{DATASETS[dataset]}, {c['num_clients']} clients {split}, "
            f"{c['clients_per_round']} sampled per round, anchor probability {c['anchor_prob']}, MLP "
            f"{tuple(c['model']['hidden'])}, K = {c['local']['num_steps']} local steps (batch "
            f"{c['local']['batch_size']}, lr {c['local']['lr']}), server lr {c['server']['lr']}, {c['total']} rounds, "
            f"seed {c['seed']} (evaluated every {c['eval_every']} rounds); config `configs/fedamd/{dataset}.py`. "
            "2-core CPU shared with other jobs, 1 device.\n")
    series = {r["name"]: tuple(map(list, zip(*report.eval_curve(r)))) for r in rows}
    png = os.path.join(HERE, "results", f"{dataset}.png")
    report.line_plot(series, png, xlabel="round", ylabel="test accuracy", title=DATASETS[dataset])
    return head + "\n" + report.markdown_table(rows, cols) + f"\n\n![{dataset}](results/{dataset}.png)"


def main(argv):
    if "--run" in argv:  # or --run=<dataset>
        for d in DATASETS:
            run(d)
    for a in argv:
        if a.startswith("--run="):
            run(a.split("=", 1)[1])
    text = "\n\n".join(tables(d) for d in DATASETS)
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
