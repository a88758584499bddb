"""Results JSON (launch/sweep.py) and benchmarks/results/secagg.json -> README tables.

`python -m projects.citadel.report`."""

from __future__ import annotations

import json
import os

from lib import report
from lib.fl import aggregate

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "benchmarks", "results", "secagg.json")


def _variant(cfg) -> str:
    if cfg["aggregator"] == "fedavg":
        return "plain FedAvg (the aggregator sees every update)"
    s = cfg["secagg"]
    parts = ["flat" if s["groups"] == 1 else f"{s['groups']} groups (hierarchical)"]
    if s["dropouts"]:
        parts.append(f"{s['dropouts']} dropouts/round recovered")
    nb = s.get("neighbours", aggregate.RULES["secure_fedavg"].defaults["neighbours"])  # the rule's default ran
    return f"masked: {', '.join(parts)}, {2 * nb} mask partners/client"


def results_table(dataset: str = "mnist") -> str:
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    plain = next((r for r in rows if r["config"]["aggregator"] == "fedavg"), None)
    for r in rows:
        r["variant"] = _variant(r["config"])
        r["acc"] = f"{100 * r['final']['test_accuracy']:.2f}"
        r["loss"] = f"{r['final']['test_loss']:.5f}"
        r["dloss"] = "–" if plain is None or r is plain else f"{abs(r['final']['test_loss'] - plain['final']['test_loss']):.1e}"
        r["wall"] = f"{r['final']['wall_time_s']:.0f}"
    rows.sort(key=lambda r: (r["config"]["aggregator"] != "fedavg", r["config"]["secagg"]["groups"],
                             r["config"]["secagg"]["dropouts"]))
    c = rows[0]["config"]
    head = (f"MNIST, {c['num_clients']} clients (Dirichlet α = {c['dirichlet_alpha']}), {c['clients_per_round']} per "
            f"round, MLP {tuple(c['model']['hidden'])}, {c['total']} rounds x {c['local']['num_steps']} local SGD "
            f"steps (batch {c['local']['batch_size']}, lr {c['local']['lr']}), {c['secagg']['frac_bits']} fractional "
            f"bits, seed {c['seed']}; config `configs/{'citadel'}/{dataset}.py`. 2-core CPU shared with other jobs, "
            "1 device (wall times are indicative only).\n")
    table = report.markdown_table(rows, [("aggregation", "variant"), ("test accuracy %", "acc"),
                                         ("test loss", "loss"), ("test loss diff vs plain", "dloss"), ("wall s", "wall")])
    return head + "\n" + table


def overhead_table() -> str:
    if not os.path.exists(BENCH):
        return "(benchmarks/secagg.py not run yet)"
    with open(BENCH) as f:
        res = json.load(f)
    lines = [f"`benchmarks/secagg.py` on {res['cpu_model']} ({res['cpu_count']} cores, load "
             f"{res['load_before']:.1f} → {res['load_after']:.1f}), medians of {res['repeats']} interleaved repeats; "
             "time relative to the plain round / plain FedAvg rule on the same inputs:\n",
             "| workload | plain (ms) | masked, flat | masked, 4 groups | masked, 2 dropouts |", "|---|---|---|---|---|"]
    for name, row in res["rows"].items():
        cells = [f"{row[v]['vs_plain']:.2f}x" for v in ("secure_flat", "secure_4_groups", "secure_2_dropouts")]
        lines.append(f"| {name} | {1e3 * row['plain']['median_s']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    readme = os.path.join(HERE, "README.md")
    report.replace_section(readme, "results", results_table("mnist"))
    report.replace_section(readme, "overhead", overhead_table())


if __name__ == "__main__":
    main()
