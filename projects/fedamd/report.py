"""Results JSON (launch/sweep.py) -> README table and plot. `python -m projects.fedamd.report`."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {"fedamd": "FedAMD (anchor sampling)", "fedavg": "FedAvg"}


def tables(dataset: str = "mnist", targets=(0.8, 0.9)) -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    rows.sort(key=lambda r: list(NAMES).index(r["config"]["method"]))
    for r in rows:
        r["name"] = NAMES[r["config"]["method"]]
    cols = [("method", "name")] + report.accuracy_columns(rows, targets)
    c = rows[0]["config"]
    head = (f"MNIST, {c['num_clients']} clients with Dirichlet(α = {c['dirichlet_alpha']}) labels, "
            f"{c['clients_per_round']} sampled per round, anchor probability {c['anchor_prob']}, MLP "
            f"{tuple(c['model']['hidden'])}, K = {c['local']['num_steps']} local steps (batch {c['local']['batch_size']}, "
            f"lr {c['local']['lr']}), server lr {c['server']['lr']}, {c['total']} rounds, seed {c['seed']} (evaluated "
            f"every {c['eval_every']} rounds); config `configs/fedamd/{dataset}.py`. 2-core CPU shared with other "
            "jobs, 1 device.\n")
    series = {r["name"]: tuple(map(list, zip(*report.eval_curve(r)))) for r in rows}
    png = os.path.join(HERE, "results", f"{dataset}.png")
    report.line_plot(series, png, xlabel="round", ylabel="test accuracy", title=f"{dataset.upper()}, Dirichlet 0.1")
    return head + "\n" + report.markdown_table(rows, cols) + f"\n\n![{dataset}](results/{dataset}.png)"


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", tables("mnist"))


if __name__ == "__main__":
    main()
