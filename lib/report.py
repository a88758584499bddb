"""Results JSON -> the markdown tables and plots in project READMEs.

No number in a README is typed by hand: a sweep (launch/sweep.py) writes one JSON per run
under `projects/<name>/results/`, and a project's report script turns them into tables
and PNGs with these helpers and splices the tables into its README between markers:

    <!-- BEGIN results -->  ...generated...  <!-- END results -->

`run_sweep` is the in-process alternative for a project's reproduce script: named runs of one
config file (e.g. every gate), each in its own resumable workdir, collected into one results JSON.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Callable, Iterable, Mapping, Sequence


def load_results(directory: str, pattern: str = "*.json") -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, pattern))):
        with open(path) as f:
            row = json.load(f)
        row.setdefault("_file", os.path.basename(path))
        rows.append(row)
    return rows


def get(row: Mapping, key: str, default=None):
    """row['a.b'] for nested dicts (e.g. 'overrides.batch_size')."""
    node = row
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def fmt(value, spec: str | Callable | None = None) -> str:
    if value is None:
        return "–"
    if callable(spec):
        return spec(value)
    if spec and isinstance(value, (int, float)):
        return format(value, spec)
    return str(value)


def markdown_table(rows: Sequence[Mapping], columns: Sequence[tuple[str, str]] ,
                   formats: Mapping[str, str | Callable] | None = None) -> str:
    """columns: (header, key) pairs; keys may be dotted."""
    formats = formats or {}
    out = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(fmt(get(r, k), formats.get(k)) for _, k in columns) + " |")
    return "\n".join(out)


def pivot(rows: Iterable[Mapping], row_key: str, col_key: str, value: Callable[[Mapping], str],
          row_label: str | None = None, row_order=None, col_order=None) -> str:
    """A table with one row per `row_key` value and one column per `col_key` value."""
    rows = list(rows)
    cells = {(get(r, row_key), get(r, col_key)): value(r) for r in rows}
    rvals = row_order or sorted({get(r, row_key) for r in rows}, key=_sort_key)
    cvals = col_order or sorted({get(r, col_key) for r in rows}, key=_sort_key)
    out = ["| " + (row_label or row_key) + " | " + " | ".join(str(c) for c in cvals) + " |",
           "|" + "---|" * (len(cvals) + 1)]
    for rv in rvals:
        out.append(f"| {rv} | " + " | ".join(cells.get((rv, cv), "–") for cv in cvals) + " |")
    return "\n".join(out)


def _sort_key(v):
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))


def replace_section(path: str, name: str, content: str) -> None:
    """Replaces the text between `<!-- BEGIN name -->` and `<!-- END name -->` in `path`."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n{content.strip()}\n{end}{tail}")


def line_plot(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], out_png: str, *,
              xlabel: str, ylabel: str, title: str | None = None, logx: bool = False) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(out_png) or ".", exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


# ----------------------------------------------------------------------------- sweeps of named runs


def collect_run(workdir: str, curve_keys: Sequence[str] = (
        "train_load_cv", "train_load_max_over_mean", "train_dropped_fraction", "train_bits_per_char",
        "val_bits_per_char", "val_load_cv", "examples_per_sec")) -> dict:
    """final_metrics.json and the `curve_keys` curves ([[step, value], ...]) from metrics.jsonl of one run."""
    from lib.metrics import read_jsonl

    with open(os.path.join(workdir, "final_metrics.json")) as f:
        final = json.load(f)
    rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    curves = {k: [[r["step"], r[k]] for r in rows if k in r] for k in curve_keys}
    return {"final": final, "curves": {k: v for k, v in curves.items() if v}}


def collect_final(workdir: str) -> dict:
    """{final: final_metrics.json} of one run (for sweeps whose curves live in the final metrics)."""
    with open(os.path.join(workdir, "final_metrics.json")) as f:
        return {"final": json.load(f)}


def steps_to_reach(curve, target: float, higher_is_better: bool = False):
    """First logged step whose value is <= target (>= with higher_is_better; None if never)."""
    for step, v in curve:
        if (v >= target) if higher_is_better else (v <= target):
            return step
    return None


def eval_curve(row: Mapping, key: str = "test_accuracy") -> list[tuple[int, float]]:
    """[(step, value)] of `key` from a results row's logged curve."""
    return [(p["step"], p[key]) for p in row.get("curve", []) if key in p]


def accuracy_columns(rows: Sequence[dict], targets: Sequence[float] = (0.8, 0.9)) -> list[tuple[str, str]]:
    """Adds to each results row 'acc' (final test accuracy %), 'best', 't<pct>' (first evaluated
    step at or above each target, or 'not reached') and 'wall' (s); returns their table columns."""
    for r in rows:
        cur = eval_curve(r)
        r["acc"] = f"{100 * r['final']['test_accuracy']:.2f}"
        r["best"] = f"{100 * max(a for _, a in cur):.2f}" if cur else "–"
        for t in targets:
            step = steps_to_reach(cur, t, higher_is_better=True)
            r[f"t{round(100 * t)}"] = "not reached" if step is None else str(step)
        r["wall"] = f"{r['final']['wall_time_s']:.0f}"
    return ([("final test acc %", "acc"), ("best %", "best")]
            + [(f"rounds to {100 * t:.0f} %", f"t{round(100 * t)}") for t in targets] + [("wall s", "wall")])


def run_sweep(config_path: str, config_args: Mapping[str, str], root: str, results_path: str,
              train_fn: Callable, collect: Callable[[str], dict] = collect_run) -> dict:
    """Runs `train_fn(config, workdir)` for each name -> config-file argument (e.g. "gate=base") in its
    own workdir under `root` (finished runs are skipped, interrupted ones resume) and writes one
    results JSON ({config, machine, platform, device_kind, runs: {name: {**collect(workdir), config}}};
    `collect_run` gives {final, curves}) after every run, so a cut-short sweep still leaves what
    finished."""
    import importlib.util
    import platform

    import jax

    from lib.autotune import cpu_model

    res = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            res = json.load(f)
    runs = res.get("runs", {})
    for name, arg in config_args.items():
        spec = importlib.util.spec_from_file_location("cfg", config_path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cfg = mod.get_config(arg)
        wd = os.path.join(root, name)
        os.makedirs(wd, exist_ok=True)
        if not os.path.exists(os.path.join(wd, "final_metrics.json")):
            train_fn(cfg, wd)
        runs[name] = {**collect(wd), "config": cfg.to_dict()}
        res = {"config": config_path, "machine": f"{cpu_model()}, {os.cpu_count()} CPU cores (shared)",
               "platform": platform.machine(), "device_kind": jax.devices()[0].device_kind, "runs": runs}
        os.makedirs(os.path.dirname(results_path) or ".", exist_ok=True)
        with open(results_path, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return res
