"""The feature-age sweep (results/<setting>.json) -> README tables and plots.

    python -m projects.feature_age.report --run   # runs what is missing (resumable), then reports
    python -m projects.feature_age.report         # tables and plots from the committed results
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "configs", "feature_age")
SEEDS = (0, 1)
SETTINGS = {  # name: (config file, extra config argument, what it is)
    "synthetic_markov": ("synthetic.py", "markov=True", "generated Markov series (AR(1), a = 0.6)"),
    "synthetic_nonmarkov": ("synthetic.py", "", "generated non-Markov series (AR(1) + seasonal AR(8), b = 0.9)"),
    "sunspots": ("sunspots.py", "", "sunspots, yearly 1700-2008 (statsmodels)"),
    "macrodata": ("macrodata.py", "", "US macro quarterly 1959-2009, 7 features, target inflation (statsmodels)"),
}
MODELS = (("per_age", "one model per age"), ("pooled", "pooled, age as input"),
          ("pooled_no_age", "pooled, no age input"))


def run(root: str) -> None:
    from projects.feature_age.train import train_and_evaluate

    for name, (cfg, extra, _) in SETTINGS.items():
        args = {f"seed{s}": ",".join(a for a in (extra, f"seed={s}") if a) for s in SEEDS}
        report.run_sweep(os.path.join(CONFIGS, cfg), args, os.path.join(root, name),
                         os.path.join(HERE, "results", f"{name}.json"), train_and_evaluate,
                         collect=report.collect_final)


def curves(res: dict, key: str) -> np.ndarray:
    """[seeds, ages] of one per-age curve."""
    return np.array([r["final"][key] for r in res["runs"].values()])


def largest_dip(curve: np.ndarray) -> float:
    """How far the curve falls below its running maximum (0 for a non-decreasing curve)."""
    return float(np.max(np.maximum.accumulate(curve) - curve))


def setting_section(name: str, res: dict) -> tuple[str, dict]:
    c = next(iter(res["runs"].values()))["final"]
    ages = c["ages"]
    mean = {f"{part}/{m}": curves(res, f"{part}_mse_by_age/{m}").mean(0) for part in ("train", "test") for m, _ in MODELS}
    least = np.array(c["least_mse_by_age"]) if "least_mse_by_age" in c else None
    head = ["age"] + (["least MSE (theory)"] if least is not None else []) + \
        [f"train: {label}" for _, label in MODELS[:2]] + [f"test: {label}" for _, label in MODELS]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for i, a in enumerate(ages):
        cells = [str(a)] + ([f"{least[i]:.3f}"] if least is not None else [])
        cells += [f"{mean[f'train/{m}'][i]:.3f}" for m, _ in MODELS[:2]]
        cells += [f"{mean[f'test/{m}'][i]:.3f}" for m, _ in MODELS]
        lines.append("| " + " | ".join(cells) + " |")
    per, pooled = curves(res, "test_mse_by_age/per_age"), curves(res, "test_mse_by_age/pooled")
    summary = {
        "setting": SETTINGS[name][2], "n": f"{c['train_samples']} / {c['test_samples']}",
        "dip": f"{largest_dip(mean['train/per_age']):.3f}",
        "per_age": f"{per.mean():.3f}", "pooled": f"{pooled.mean():.3f}",
        "no_age": f"{curves(res, 'test_mse_by_age/pooled_no_age').mean():.3f}",
        "wins": f"{int((pooled.mean(0) <= per.mean(0)).sum())} / {len(ages)}",
        "wall": f"{np.mean([r['final']['wall_time_s'] for r in res['runs'].values()]):.0f}",
        "model": (lambda k: f"MLP {tuple(k['hidden'])}, wd {k['weight_decay']:g}, {k['total']} steps")(
            next(iter(res["runs"].values()))["config"]),
    }
    series = {("least MSE" if k == "least" else k): (ages, list(v)) for k, v in
              ([("least", least)] if least is not None else []) + [
                  ("train, per age", mean["train/per_age"]), ("test, per age", mean["test/per_age"]),
                  ("test, pooled + age", mean["test/pooled"]), ("test, pooled, no age", mean["test/pooled_no_age"])]}
    report.line_plot(series, os.path.join(HERE, "results", f"{name}.png"), xlabel="feature age (steps)",
                     ylabel="MSE / var(target)", title=SETTINGS[name][2][:60])
    text = (f"**{SETTINGS[name][2]}** (MSE in units of the target's training variance, mean of "
            f"{len(res['runs'])} seeds; ![{name}](results/{name}.png))\n\n" + "\n".join(lines) + "\n")
    return text, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="store_true", help="run the missing runs first (resumable)")
    ap.add_argument("--root", default="runs/feature_age")
    args = ap.parse_args()
    if args.run:
        run(args.root)
    sections, rows, machine, cfg = [], [], None, None
    for name in SETTINGS:
        path = os.path.join(HERE, "results", f"{name}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            res = json.load(f)
        text, row = setting_section(name, res)
        sections.append(text)
        rows.append(row)
        machine, cfg = res["machine"], next(iter(res["runs"].values()))["config"]
    if not rows:
        return
    cols = [("setting", "setting"), ("train / test samples per age", "n"),
            ("largest dip of the per-age training loss below its running max", "dip"),
            ("test MSE: per age", "per_age"), ("pooled + age", "pooled"), ("pooled, no age", "no_age"),
            ("ages where pooled + age <= per age", "wins"), ("model", "model"), ("wall s per run", "wall")]
    text = (report.markdown_table(rows, cols) + "\n\n"
            f"Full-batch AdamW lr {cfg['lr']}, window {cfg['window']}, first {cfg['train_fraction']:.0%} of target times for "
            f"training; seeds {', '.join(map(str, SEEDS))}; machine: {machine}. Configs: "
            "`configs/feature_age/{synthetic,sunspots,macrodata}.py`.\n\n" + "\n".join(sections))
    report.replace_section(os.path.join(HERE, "README.md"), "results", text)
    print(text)


if __name__ == "__main__":
    main()
