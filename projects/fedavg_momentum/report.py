"""Results JSON (launch/sweep.py) -> README table and plot. `python -m projects.fedavg_momentum.report`."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ("fedavg", "fedavg_m", "scaffold", "scaffold_m")
NAMES = {"fedavg": "FedAvg", "fedavg_m": "FedAvg-M", "scaffold": "SCAFFOLD", "scaffold_m": "SCAFFOLD-M"}


def tables(dataset: str = "mnist", targets=(0.8, 0.9)) -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    rows.sort(key=lambda r: ORDER.index(r["config"]["method"]))
    for r in rows:
        r["name"] = NAMES[r["config"]["method"]] + (f" (β = {r['config']['beta']})"
                                                    if r["config"]["method"].endswith("_m") else "")
    cols = [("method", "name")] + report.accuracy_columns(rows, targets)
    c = rows[0]["config"]
    head = (f"MNIST, {c['num_clients']} clients with Dirichlet(α = {c['dirichlet_alpha']}) labels, "
            f"{c['clients_per_round']} sampled per round, MLP {tuple(c['model']['hidden'])}, K = "
            f"{c['local']['num_steps']} local SGD steps (batch {c['local']['batch_size']}, lr {c['local']['lr']}), "
            f"server lr {c['server']['lr']}, {c['total']} rounds, seed {c['seed']} (evaluated every "
            f"{c['eval_every']} rounds); config `configs/fedavg_momentum/{dataset}.py`. 2-core CPU shared with other "
            "jobs, 1 device.\n")
    table = report.markdown_table(rows, cols)
    series = {r["name"]: ([s for s, _ in report.eval_curve(r)], [a for _, a in report.eval_curve(r)]) for r in rows}
    png = os.path.join(HERE, "results", f"{dataset}.png")
    report.line_plot(series, png, xlabel="round", ylabel="test accuracy", title=f"{dataset.upper()}, Dirichlet 0.1")
    return head + "\n" + table + f"\n\n![{dataset}](results/{dataset}.png)"


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", tables("mnist"))


if __name__ == "__main__":
    main()
