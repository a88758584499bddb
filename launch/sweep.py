"""Runs a grid of config overrides, each run in its own workdir; resumable.

    python launch/sweep.py --project lamb --config configs/lamb/mnist.py --workdir runs/lamb_mnist \\
        --grid optimizer=lamb,adamw --grid batch_size=512,4096 --set total=10ep \\
        --results projects/lamb/results [--parallel 2]

A run whose workdir already holds final_metrics.json for its full length is skipped; an
interrupted run resumes from its own checkpoint. When a run finishes, its final metrics,
its overrides and its eval curve are written to `<results>/<run name>.json`, the small
file that is committed and that report scripts turn into README tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def grid(specs: list[str]) -> list[dict]:
    axes = []
    for spec in specs:
        key, _, values = spec.partition("=")
        if not key or not values:
            raise SystemExit(f"--grid {spec!r}: expected key=v1,v2,...")
        axes.append([(key, v) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def run_name(overrides: dict) -> str:
    return "_".join(f"{k.replace('.', '-')}-{v}" for k, v in overrides.items()) or "default"


def _finished(workdir: str) -> bool:
    path = os.path.join(workdir, "final_metrics.json")
    if not os.path.exists(path):
        return False
    cfg = os.path.join(workdir, "config.json")
    return os.path.exists(cfg) and os.path.getmtime(path) >= os.path.getmtime(cfg)


def collect(workdir: str, name: str, overrides: dict, results_dir: str, curve_keys=("test_accuracy",)) -> str:
    from lib.metrics import read_jsonl

    with open(os.path.join(workdir, "final_metrics.json")) as f:
        final = json.load(f)
    curve = []
    mpath = os.path.join(workdir, "metrics.jsonl")
    if os.path.exists(mpath):
        for row in read_jsonl(mpath):
            pts = {k: row[k] for k in curve_keys if k in row}
            if pts:
                curve.append({"step": row["step"], **pts})
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    out = {"name": name, "overrides": overrides, "status": "ok", "final": final, "curve": curve, "config": config}
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    return path


def record_failure(workdir: str, name: str, overrides: dict, results_dir: str, returncode: int) -> str:
    """A failed run is a result too (e.g. a diverged optimizer): keep its last error line."""
    error = f"exit {returncode}"
    log = os.path.join(workdir, "stdout.log")
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            lines = [l.strip() for l in f if "Error" in l]
        error = lines[-1] if lines else error
    out = {"name": name, "overrides": overrides, "status": "diverged" if "NonFinite" in error else "failed",
           "error": error[-500:]}
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--workdir", required=True, help="parent folder; each run gets <workdir>/<run name>")
    ap.add_argument("--grid", action="append", default=[], help="key=v1,v2 (repeat for more axes)")
    ap.add_argument("--set", action="append", default=[], help="key=value applied to every run")
    ap.add_argument("--results", help="folder for the per-run result JSON (default: projects/<p>/results)")
    ap.add_argument("--parallel", type=int, default=1, help="runs at a time")
    ap.add_argument("--curve", default="test_accuracy", help="comma-separated eval keys kept as curves")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    fixed = dict(s.split("=", 1) for s in args.set)
    results = args.results or os.path.join(REPO, "projects", args.project, "results")
    runs = []
    for combo in grid(args.grid):
        name = run_name(combo)
        wd = os.path.join(args.workdir, name)
        if _finished(wd):
            print(f"[sweep] skip {name} (finished)")
            collect(wd, name, combo, results, args.curve.split(","))
            continue
        overrides = {**fixed, **combo}
        cmd = [args.python, "-m", f"projects.{args.project}.main", f"--config={args.config}", f"--workdir={wd}"]
        cmd += [f"--config.{k}={v}" for k, v in overrides.items()]
        runs.append((name, wd, combo, cmd))
    failed = []
    pending = list(runs)
    active: list[tuple] = []
    while pending or active:
        while pending and len(active) < args.parallel:
            name, wd, combo, cmd = pending.pop(0)
            os.makedirs(wd, exist_ok=True)
            log = open(os.path.join(wd, "stdout.log"), "a")
            print(f"[sweep] start {name}: {' '.join(cmd)}", flush=True)
            active.append((name, wd, combo, subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT), log))
        time.sleep(0.5)
        for item in list(active):
            name, wd, combo, proc, log = item
            if proc.poll() is None:
                continue
            active.remove(item)
            log.close()
            if proc.returncode == 0 and _finished(wd):
                print(f"[sweep] done {name} -> {collect(wd, name, combo, results, args.curve.split(','))}", flush=True)
            else:
                failed.append(name)
                rec = record_failure(wd, name, combo, results, proc.returncode)
                print(f"[sweep] FAILED {name} (exit {proc.returncode}); see {wd}/stdout.log; recorded in {rec}",
                      flush=True)
    print(f"[sweep] {len(runs) - len(failed)} ran, {len(failed)} failed" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
