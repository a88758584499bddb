"""Results JSON (from launch/sweep.py) -> README table and plot. `python -m projects.fedstale.report`."""

from __future__ import annotations

import os

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {0.0: "β=0 (FedAvg)", 0.5: "β=0.5 (FedStale)", 1.0: "β=1 (FedVARP)"}
HET = {"shards": "strong (2 label shards / client)", "dirichlet": "Dirichlet α", "iid": "none (IID)",
       "natural": "natural (LEAF writers)"}
TITLE = {"mnist": "MNIST", "femnist": "FEMNIST"}


def _last(row, k=4):
    c = [p["test_accuracy"] for p in row.get("curve", []) if "test_accuracy" in p][-k:]
    return sum(c) / len(c) if c else None


def tables(dataset: str = "mnist") -> str:
    """Results of configs/fedstale/<dataset>.py (results/<dataset>/) -> table, claim check, plots."""
    rows = report.load_results(os.path.join(HERE, "results", dataset))
    if not rows:
        return "(not run yet)"
    for r in rows:
        r["method"] = NAMES.get(float(r["config"]["beta"]), f"β={r['config']['beta']}")
        r["het"] = HET[r["config"]["partition"]]
        r["seed"] = r["config"]["seed"]
    seeds = sorted({r["seed"] for r in rows})
    groups = {}
    for r in rows:
        groups.setdefault((r["method"], r["het"]), []).append(r)

    def cell(key):
        rs = groups[key]
        fin = [100 * x["final"]["test_accuracy"] for x in rs]
        last = [100 * _last(x) for x in rs]
        return f"{sum(fin) / len(fin):.1f} ({sum(last) / len(last):.1f})"

    merged = [{"method": m, "het": h, "v": cell((m, h))} for (m, h) in groups]
    c0 = rows[0]["config"]
    head = (f"{TITLE[dataset]}, {c0['num_clients']} clients, Bernoulli participation p = {c0['participation_prob']} "
            f"({c0['probs']} p), MLP {c0['model']['hidden']}, {c0['total']} rounds x {c0['local']['num_steps']} "
            f"local steps (batch {c0['local']['batch_size']}, lr {c0['local']['lr']}), seeds {seeds} (mean). "
            f"Test accuracy % at the last round (mean of the last 4 evaluations, every {c0['eval_every']} rounds):\n")
    hets = [HET[k] for k in HET if any(r["het"] == HET[k] for r in rows)]
    table = report.pivot(merged, "method", "het", lambda r: r["v"], row_label="heterogeneity →",
                         row_order=[NAMES[b] for b in (0.0, 0.5, 1.0)], col_order=hets)
    best = []
    for h in hets:
        vals = {m: sum(100 * _last(x) for x in groups[(m, h)]) / len(groups[(m, h)]) for (m, hh) in groups if hh == h}
        top = max(vals, key=vals.get)
        spread = max(vals.values()) - min(vals.values())
        best.append(f"| {h} | {top} | {spread:.1f} |")
    table += ("\n\nClaim check (mean of the last 4 evaluations):\n\n| heterogeneity | best β | best − worst (points) |\n"
              "|---|---|---|\n" + "\n".join(best))
    walls = [r["final"]["wall_time_s"] for r in rows]
    out = [head, table, f"\nWall time per run: {min(walls):.0f}-{max(walls):.0f} s on 2 shared CPU cores (1 device). "
           f"Config: `configs/fedstale/{dataset}.py`.\n"]
    for h in hets:
        series = {}
        for r in rows:
            if r["het"] == h and r["seed"] == seeds[0]:
                cur = [(q["step"], q["test_accuracy"]) for q in r["curve"] if "test_accuracy" in q]
                series[r["method"]] = ([a for a, _ in cur], [b for _, b in cur])
        tag = [k for k, v in HET.items() if v == h][0]
        png = os.path.join(HERE, "results", f"{dataset}_{tag}.png")
        report.line_plot(series, png, xlabel="round", ylabel="test accuracy",
                         title=f"{TITLE[dataset]}, heterogeneity: {tag}")
        out.append(f"![{dataset} {tag}](results/{dataset}_{tag}.png)")
    return "\n".join(out)


def swap_table() -> str:
    """configs/fedstale/mnist_swap.py: label-swap heterogeneity, participation groups."""
    rows = report.load_results(os.path.join(HERE, "results", "mnist_swap"))
    if not rows:
        return "(not run yet)"
    c0 = rows[0]["config"]
    for r in rows:
        r["method"] = NAMES.get(float(r["config"]["beta"]), f"β={r['config']['beta']}")
        r["acc"] = f"{100 * r['final']['test_accuracy']:.1f}"
        r["last"] = f"{100 * _last(r):.1f}" if _last(r) is not None else "–"
        r["wall"] = f"{r['final']['wall_time_s']:.0f}"
        r["h"] = r["config"]["label_swap"]
    head = (f"MNIST, {c0['num_clients']} clients (IID inputs), label swap h = fraction of clients with swapped "
            f"label pairs, participation groups p = {tuple(c0['participation_groups'])} (Bernoulli, known p), "
            f"MLP {c0['model']['hidden']}, {c0['total']} rounds x {c0['local']['num_steps']} local steps "
            f"(batch {c0['local']['batch_size']}, lr {c0['local']['lr']}), seed {c0['seed']}; config "
            "`configs/fedstale/mnist_swap.py`. Test accuracy % (true labels) at the last round, and the mean of "
            f"the last (up to 4) evaluations (every {c0['eval_every']} rounds):\n")
    table = report.markdown_table(sorted(rows, key=lambda r: (r["h"], r["config"]["beta"])),
                                  [("h", "h"), ("β", "method"), ("final", "acc"), ("last-4 mean", "last"),
                                   ("wall s", "wall")])
    return head + "\n" + table + "\n\nHardware: 2-core CPU (shared, loaded), 1 device."


def main():
    report.replace_section(os.path.join(HERE, "README.md"), "results", tables("mnist"))
    report.replace_section(os.path.join(HERE, "README.md"), "femnist", tables("femnist"))
    report.replace_section(os.path.join(HERE, "README.md"), "swap", swap_table())


if __name__ == "__main__":
    main()
