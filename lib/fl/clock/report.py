"""Results of virtual-clock runs -> README tables: accuracy at fixed virtual times, time to accuracy,
bytes. Rows come from lib.report.run_sweep results ({runs: {name: {final, curves, config}}}) whose
curves hold the eval rows (`test_accuracy` with `marks`, the virtual times they stand for)."""

from __future__ import annotations

import json
import os

from lib import report


def _marks(row: dict, every: float) -> list[float]:
    """The virtual-time marks an eval row stands for (first_mark .. virtual_time, every `every`)."""
    lo, hi = float(row.get("first_mark", row["virtual_time"])), float(row["virtual_time"])
    return [lo + j * every for j in range(int(round((hi - lo) / every)) + 1)]


def curve(run: dict) -> list[tuple[float, float, float]]:
    """[(virtual time, test accuracy, bytes)] at every evaluated mark, the initial model first."""
    every = float(run["config"]["clock"]["eval_every_time"])
    rows = ([run["final"]["initial_eval"]] if run["final"].get("initial_eval") else []) + [
        p for p in run.get("evals", []) if "test_accuracy" in p]
    return sorted((m, p["test_accuracy"], float(p.get("bytes", 0.0))) for p in rows for m in _marks(p, every))


def accuracy_at(run: dict, t: float):
    pts = [a for (m, a, _) in curve(run) if m <= t + 1e-9]
    return pts[-1] if pts else None


def time_to(run: dict, target: float):
    """First evaluated virtual time at which test accuracy >= target (None if never)."""
    return report.steps_to_reach([(m, a) for (m, a, _) in curve(run)], target, higher_is_better=True)


def bytes_to(run: dict, target: float):
    return report.steps_to_reach([(b, a) for (_, a, b) in curve(run)], target, higher_is_better=True)


def _mean(vals):
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def table(results_path: str, names: dict, times, targets) -> str:
    """names: label -> [run names] (seeds): every cell is the mean over those runs; time and bytes
    to a target are the mean over the runs that reached it (with how many did when not all)."""
    if not os.path.exists(results_path):
        return "(not run yet)"
    with open(results_path) as f:
        res = json.load(f)
    rows = []
    for label, keys in names.items():
        runs = [res["runs"][k] for k in keys if k in res["runs"]]
        if not runs:
            continue
        r = {"method": label, "n": str(len(runs))}
        for t in times:
            a = _mean([accuracy_at(x, t) for x in runs])
            r[f"a{t:g}"] = "–" if a is None else f"{100 * a:.1f}"
        for g in targets:
            key = round(100 * g)
            tt, bb = [time_to(x, g) for x in runs], [bytes_to(x, g) for x in runs]
            hit = sum(v is not None for v in tt)
            note = "" if hit == len(runs) else f" ({hit}/{len(runs)})"
            r[f"t{key}"] = "not reached" if not hit else f"{_mean(tt):.0f}{note}"
            r[f"b{key}"] = "–" if not hit else f"{_mean(bb) / 1e6:.0f}{note}"
        r["aggs"] = f"{_mean([x['final'].get('aggregations', x['final']['step']) for x in runs]):.0f}"
        r["wall"] = f"{_mean([x['final']['wall_time_s'] for x in runs]):.0f}"
        rows.append(r)
    cols = ([(f"acc % at {t:g} s", f"a{t:g}") for t in times]
            + [(f"virtual s to {round(100 * g)} %", f"t{round(100 * g)}") for g in targets]
            + [(f"MB sent to {round(100 * g)} %", f"b{round(100 * g)}") for g in targets]
            + [("aggregations", "aggs"), ("wall s / run", "wall"), ("runs", "n")])
    return report.markdown_table(rows, [("method", "method")] + cols)


def collect_evals(workdir: str) -> dict:
    """{final, evals}: final_metrics.json and the eval rows (with their virtual-time marks) of metrics.jsonl."""
    from lib.metrics import read_jsonl

    with open(os.path.join(workdir, "final_metrics.json")) as f:
        final = json.load(f)
    return {"final": final, "evals": [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))
                                      if "test_accuracy" in r]}


def run_all(config_path: str, args: dict, root: str, results_path: str, train_fn) -> dict:
    """lib.report.run_sweep keeping each run's eval rows: {config, machine, runs: {name: {final,
    evals, config}}}."""
    return report.run_sweep(config_path, args, root, results_path, train_fn, collect=collect_evals)
