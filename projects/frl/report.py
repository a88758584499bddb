"""Results JSON (launch/sweep.py) -> README table. `python -m projects.frl.report`."""

from __future__ import annotations

import math
import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ("frl", "fedavg", "trimmed_mean", "multi_krum")
NAMES = {"frl": "FRL (vote of rankings)", "fedavg": "FedAvg", "trimmed_mean": "trimmed mean",
         "multi_krum": "Multi-Krum"}
# the paper's claim per method (no per-setting MNIST numbers were available to us; see README)
PAPER = {"frl": "robust: accuracy barely moves", "fedavg": "collapses under attack",
         "trimmed_mean": "drops under attack", "multi_krum": "drops under attack"}


def _bits(c) -> tuple[int, int]:
    """(upload bits per client and round, trained values) of a run's config (MNIST 784 inputs)."""
    sizes = (784,) + tuple(c["model"]["hidden"]) + (10,)
    layers = list(zip(sizes[:-1], sizes[1:]))
    if c["method"] == "frl":
        return sum(a * b * math.ceil(math.log2(a * b)) for a, b in layers), sum(a * b for a, b in layers)
    n = sum(a * b + b for a, b in layers)
    return 32 * n, n


def _mbit(bits: int) -> str:
    return f"{bits / 1e6:.2f}"


def tables(dataset: str = "mnist") -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    fracs = sorted({r["config"]["byzantine_fraction"] for r in rows})
    by = {(r["config"]["method"], r["config"]["byzantine_fraction"]): r for r in rows}
    out, fedavg_bits = [], None
    for r in rows:
        r["final"]["upload_bits_per_client_round"], r["final"]["weights"] = _bits(r["config"])
        if r["config"]["method"] == "fedavg":
            fedavg_bits = r["final"]["upload_bits_per_client_round"]
    for m in ORDER:
        if not any((m, f) in by for f in fracs):
            continue
        row = {"method": NAMES[m], "paper": PAPER[m]}
        for f in fracs:
            r = by.get((m, f))
            row[f"a{round(100 * f)}"] = f"{100 * r['final']['test_accuracy']:.2f}" if r else "–"
            row[f"w{round(100 * f)}"] = f"{r['final']['wall_time_s']:.0f}" if r else "–"
        any_r = next(by[(m, f)] for f in fracs if (m, f) in by)
        bits = any_r["final"]["upload_bits_per_client_round"]
        row["bits"] = _mbit(bits)
        row["ratio"] = f"{bits / fedavg_bits:.3f}" if fedavg_bits else "–"
        row["weights"] = str(any_r["final"]["weights"])
        row["lr"] = str(any_r["config"]["local"]["lr"])
        out.append(row)
    cols = ([("method", "method"), ("paper (claim)", "paper")]
            + [(f"clean acc %, {round(100 * f)} % malicious", f"a{round(100 * f)}") for f in fracs]
            + [("trained values", "weights"), ("upload Mbit / client / round", "bits"), ("vs FedAvg", "ratio"),
               ("local lr", "lr")] + [(f"wall s ({round(100 * f)} %)", f"w{round(100 * f)}") for f in fracs])
    c = rows[0]["config"]
    head = (f"{dataset.upper()}, {c['num_clients']} clients with Dirichlet(α = {c['dirichlet_alpha']}) labels, all "
            f"{c['clients_per_round']} in every round, MLP {tuple(c['model']['hidden'])} (FRL: frozen signed weights, "
            f"no biases, sparsity {c['frl']['sparsity']}, mask by {c['frl']['mask']} score), {c['local']['num_steps']} "
            f"local SGD steps (batch {c['local']['batch_size']}, momentum {c['local']['momentum']}), {c['total']} "
            f"rounds, seed {c['seed']}; the malicious clients are the same in every run. FRL attack: reversed "
            f"collective ranking; baselines' attack: `{c['attack']}` ({dict(c['attack_params'])}). Accuracy: the "
            f"global model after the last round on the 10k test images. Upload: FRL n⌈log2 n⌉ bits per layer of n "
            f"edges, baselines 32 bits per weight. Config `configs/frl/{dataset}.py`; 2-core CPU shared with other "
            "jobs (wall times are loaded-machine times).\n")
    return head + "\n" + report.markdown_table(out, cols)


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "mnist", tables("mnist"))


if __name__ == "__main__":
    main()
