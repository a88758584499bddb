"""Results of virtual-clock runs -> README tables: accuracy at fixed virtual times, time to accuracy,
bytes. Rows come from lib.report.run_sweep results ({runs: {name: {final, curves, config}}}) whose
curves hold the eval rows (`test_accuracy` with `marks`, the virtual times they stand for)."""

from __future__ import annotations

import json
import os

from lib import report


def curve(run: dict) -> list[tuple[float, float, float]]:
    """[(virtual time, test accuracy, bytes)] at every evaluated mark, the initial model first."""
    out = []
    init = run["final"].get("initial_eval")
    if init:
        out += [(float(m), init["test_accuracy"], 0.0) for m in init.get("marks", [0.0])]
    for p in run.get("evals", []):
        if "test_accuracy" in p:
            out += [(float(m), p["test_accuracy"], p.get("bytes", 0.0)) for m in p.get("marks", [p["virtual_time"]])]
    return sorted(out)


def accuracy_at(run: dict, t: float):
    pts = [a for (m, a, _) in curve(run) if m <= t + 1e-9]
    return pts[-1] if pts else None


def time_to(run: dict, target: float):
    """First evaluated virtual time at which test accuracy >= target (None if never)."""
    return report.steps_to_reach([(m, a) for (m, a, _) in curve(run)], target, higher_is_better=True)


def bytes_to(run: dict, target: float):
    return report.steps_to_reach([(b, a) for (_, a, b) in curve(run)], target, higher_is_better=True)


def table(results_path: str, names: dict, times, targets) -> str:
    if not os.path.exists(results_path):
        return "(not run yet)"
    with open(results_path) as f:
        res = json.load(f)
    rows = []
    for key, label in names.items():
        run = res["runs"].get(key)
        if run is None:
            continue
        r = {"method": label}
        for t in times:
            a = accuracy_at(run, t)
            r[f"a{t:g}"] = "–" if a is None else f"{100 * a:.1f}"
        for g in targets:
            tt, bb = time_to(run, g), bytes_to(run, g)
            r[f"t{g}"] = "not reached" if tt is None else f"{tt:g} s"
            r[f"b{g}"] = "–" if bb is None else f"{bb / 1e6:.1f}"
        fin = run["final"]
        r["aggs"] = str(fin.get("aggregations", fin.get("step")))
        r["wall"] = f"{fin['wall_time_s']:.0f}"
        rows.append(r)
    cols = ([(f"acc % at t={t:g} s", f"a{t:g}") for t in times]
            + [(f"virtual s to {100 * g:.0f} %", f"t{g}") for g in targets]
            + [(f"MB to {100 * g:.0f} %", f"b{g}") for g in targets]
            + [("aggregations", "aggs"), ("wall s", "wall")])
    return report.markdown_table(rows, [("method", "method")] + cols)


def run_all(config_path: str, args: dict, root: str, results_path: str, train_fn) -> dict:
    """Runs train_fn(get_config(arg), <root>/<name>) for each name -> config arg (a finished run is
    skipped, an interrupted one resumes) and writes {config, machine, runs: {name: {final, evals,
    config}}} after each run (evals: the eval rows of metrics.jsonl)."""
    import importlib.util
    import platform

    import jax

    from lib.autotune import cpu_model
    from lib.metrics import read_jsonl

    res = {}
    if os.path.exists(results_path):
        with open(results_path) as f:
            res = json.load(f)
    runs = res.get("runs", {})
    for name, arg in args.items():
        spec = importlib.util.spec_from_file_location("cfg", config_path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cfg = mod.get_config(arg)
        wd = os.path.join(root, name)
        os.makedirs(wd, exist_ok=True)
        if not os.path.exists(os.path.join(wd, "final_metrics.json")):
            train_fn(cfg, wd)
        with open(os.path.join(wd, "final_metrics.json")) as f:
            final = json.load(f)
        evals = [r for r in read_jsonl(os.path.join(wd, "metrics.jsonl")) if "test_accuracy" in r]
        runs[name] = {"final": final, "evals": evals, "config": cfg.to_dict()}
        res = {"config": config_path, "machine": f"{cpu_model()}, {os.cpu_count()} CPU cores (shared)",
               "platform": platform.machine(), "device_kind": jax.devices()[0].device_kind, "runs": runs}
        os.makedirs(os.path.dirname(results_path) or ".", exist_ok=True)
        with open(results_path, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return res
