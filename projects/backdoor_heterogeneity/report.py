"""Results JSON (projects/backdoor_heterogeneity/sweep.py) -> README tables and plot.
`python -m projects.backdoor_heterogeneity.report`."""

from __future__ import annotations

import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHAS = ("0.05", "0.1", "0.5", "1.0", "10.0", "iid")
RULES = ("fedavg", "median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median", "centered_clipping")


def _load(ds):
    return {r["name"]: r for r in report.load_results(os.path.join(HERE, "results", ds))}


def asr_last(row, k=3):
    """Mean ASR over the last k evaluations (every 5 rounds: rounds 30, 35, 40 on MNIST)."""
    c = [v for _, v in row["curves"].get("backdoor_asr", [])][-k:]
    return float(np.mean(c)) if c else None


def _pct(v):
    return "–" if v is None else f"{100 * v:.1f}"


def _cell(row):
    if row is None:
        return "–"
    return f"{_pct(asr_last(row))} ({_pct(row['final']['test_accuracy'])})"


def hetero_table(rows):
    out = ["| Dirichlet alpha | heterogeneity index | ASR % seed 0 | ASR % seed 1 | ASR % mean | ASR % without attackers "
           "(mean) | clean acc % with / without attackers (mean) |", "|" + "---|" * 7]
    for a in ALPHAS:
        att = [rows.get(f"hetero_a{a}_s{s}") for s in (0, 1)]
        cl = [rows.get(f"hetero_clean_a{a}_s{s}") for s in (0, 1)]
        if not any(att):
            continue
        hi = next(r["final"]["heterogeneity_index"] for r in att if r)
        mean = lambda rs, f: _pct(np.mean([f(r) for r in rs if r])) if any(rs) else "–"  # noqa: E731
        acc = lambda r: r["final"]["test_accuracy"]  # noqa: E731
        out.append(f"| {a} | {hi:.2f} | {_pct(asr_last(att[0])) if att[0] else '–'} | "
                   f"{_pct(asr_last(att[1])) if att[1] else '–'} | {mean(att, asr_last)} | {mean(cl, asr_last)} | "
                   f"{mean(att, acc)} / {mean(cl, acc)} |")
    return "\n".join(out)


def variant_table(rows):
    variants = [("every round (baseline)", "hetero_a{a}_s0"), ("early only: rounds 0-14", "timing_early_a{a}"),
                ("late only: rounds 25-39", "timing_late_a{a}"), ("attacker holds IID data", "data_iid_a{a}"),
                ("model replacement (boost n/eta = 10), rounds 30-39", "replace_a{a}")]
    out = ["| attack (FedAvg) | alpha = 0.1, seed 0 | alpha = 0.1, seed 1 | IID, seed 0 | IID, seed 1 |",
           "|---|---|---|---|---|"]
    for label, pat in variants:
        s1 = pat.replace("_s0", "") + "_s1"
        cells = [_cell(rows.get(p.format(a=a))) for a in ("0.1", "iid") for p in (pat, s1)]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def rule_table(rows):
    out = ["| rule | alpha = 0.1 | IID |", "|---|---|---|"]
    for rule in RULES:
        pat = "hetero_a{a}_s0" if rule == "fedavg" else f"rule_{rule}_a{{a}}"
        out.append(f"| {rule} | {_cell(rows.get(pat.format(a='0.1')))} | {_cell(rows.get(pat.format(a='iid')))} |")
    return "\n".join(out)


def disguise_table(rows):
    out = ["| rule | boost 5, alpha 0.1 | boost 5 + disguise (norm <= 1), alpha 0.1 | boost 5, IID | "
           "boost 5 + disguise, IID |", "|---|---|---|---|---|"]
    for rule in ("krum", "multi_krum", "centered_clipping"):
        cells = [_cell(rows.get(f"{k}_{rule}_a{a}")) for a in ("0.1", "iid") for k in ("boost", "disguise")]
        out.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def femnist_table(rows):
    out = ["| run | ASR % (clean acc %) |", "|---|---|"]
    for name, label in [("femnist_clean", "no attackers"), ("femnist_fedavg", "FedAvg"),
                        ("femnist_data_iid", "FedAvg, attacker holds IID data"),
                        ("femnist_rule_median", "median"), ("femnist_rule_trimmed_mean", "trimmed mean (beta 0.2)"),
                        ("femnist_rule_multi_krum", "Multi-Krum")]:
        if name in rows:
            out.append(f"| {label} | {_cell(rows[name])} |")
    return "\n".join(out)


def plot(rows):
    xs = [i for i, a in enumerate(ALPHAS)]
    series = {}
    for s in (0, 1):
        pts = [(i, asr_last(rows[f"hetero_a{a}_s{s}"])) for i, a in zip(xs, ALPHAS) if f"hetero_a{a}_s{s}" in rows]
        if pts:
            series[f"attack, seed {s}"] = tuple(zip(*pts))
    pts = [(i, np.mean([asr_last(rows[f"hetero_clean_a{a}_s{s}"]) for s in (0, 1)
                        if f"hetero_clean_a{a}_s{s}" in rows])) for i, a in zip(xs, ALPHAS)
           if any(f"hetero_clean_a{a}_s{s}" in rows for s in (0, 1))]
    if pts:
        series["no attackers (mean)"] = tuple(zip(*pts))
    if not series:
        return None
    out = os.path.join(HERE, "results", "mnist_asr_vs_alpha.png")
    report.line_plot(series, out, xlabel="alpha: " + " | ".join(ALPHAS) + " (left: most heterogeneous)",
                     ylabel="ASR (mean of last 3 evals)", title="MNIST backdoor ASR vs heterogeneity")
    return out


def tables() -> str:
    m, f = _load("mnist"), _load("femnist")
    c0 = next(iter(m.values()))["config"] if m else None
    parts = []
    if m:
        parts.append(f"**MNIST** — {c0['num_clients']} clients, {c0['clients_per_round']} per round, MLP "
                     f"{c0['model']['hidden']}, {c0['total']} rounds x {c0['local']['num_steps']} local SGD steps "
                     f"(batch {c0['local']['batch_size']}, lr {c0['local']['lr']}); {int(100 * c0['byzantine_fraction'])} % "
                     f"attackers poisoning {int(100 * c0['backdoor']['poison_fraction'])} % of each batch "
                     f"(4x4 white square -> class {c0['backdoor']['target']}). ASR = mean over the last 3 evaluations "
                     "(rounds 30, 35, 40); clean accuracy at round 40.\n\n*ASR vs heterogeneity (FedAvg, attack "
                     "every round, boost 1):*\n\n" + hetero_table(m))
        parts.append("*Attack timing, attacker data and model replacement, ASR % (clean acc %):*\n\n" + variant_table(m))
        parts.append("*Robust rules (f = 1 attacker per round of 10; seed 0), plain poisoning, ASR % (clean acc %):*\n\n"
                     + rule_table(m))
        parts.append("*Boosted vs disguised (norm-constrained) attack under distance/norm-based rules, ASR % "
                     "(clean acc %):*\n\n" + disguise_table(m))
    if f:
        g = next(iter(f.values()))["config"]
        parts.append(f"**FEMNIST** — {g['num_clients']} writers (natural split), {g['clients_per_round']} per round, MLP "
                     f"{g['model']['hidden']}, {g['total']} rounds; ASR % (mean of last 3 evals; clean acc %):\n\n"
                     + femnist_table(f))
    return "\n\n".join(parts)


def main():
    m = _load("mnist")
    if m:
        plot(m)
    report.replace_section(os.path.join(HERE, "README.md"), "results", tables())


if __name__ == "__main__":
    main()
