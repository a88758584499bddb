"""The 1M-client run twice: uninterrupted, and killed with SIGKILL mid-round then resumed.

    python -m projects.fedavg.reproduce [--config configs/fedavg/population_1m.py] [--workdir runs/fedavg_1m]

Writes projects/fedavg/results/<config name>.json: the final metrics, the accuracy curve,
wall times, peak host memory, and whether the resumed run's final checkpoint equals the
uninterrupted one bit for bit (parameters, server state, and the per-client state of
every client). Then `python -m projects.fedavg.report` rebuilds the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _cmd(config, workdir):
    return [sys.executable, "-m", "projects.fedavg.main", f"--config={config}", f"--workdir={workdir}"]


def _run(config, workdir) -> float:
    t = time.perf_counter()
    subprocess.run(_cmd(config, workdir), cwd=REPO, check=True, capture_output=True, text=True)
    return time.perf_counter() - t


def _kill_after_checkpoint(config, workdir, step: int) -> None:
    proc = subprocess.Popen(_cmd(config, workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = os.path.join(workdir, "checkpoints", str(step))
    while not os.path.isdir(target):
        if proc.poll() is not None:
            raise RuntimeError(f"the run ended before its step-{step} checkpoint")
        time.sleep(0.1)
    time.sleep(0.3)  # well inside a later round
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/fedavg/population_1m.py")
    ap.add_argument("--workdir", default="runs/fedavg_1m")
    ap.add_argument("--kill-after", type=int, default=20, help="SIGKILL once this step's checkpoint exists")
    args = ap.parse_args(argv)
    sys.path.insert(0, REPO)
    from tests.helpers import assert_trees_equal, load_checkpoint

    a, b = (os.path.abspath(os.path.join(args.workdir, d)) for d in ("uninterrupted", "killed"))
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
    wall_a = _run(args.config, a)
    _kill_after_checkpoint(args.config, b, args.kill_after)
    wall_b = _run(args.config, b)
    fa = json.load(open(os.path.join(a, "final_metrics.json")))
    fb = json.load(open(os.path.join(b, "final_metrics.json")))
    step = fa["step"]
    try:
        assert_trees_equal(load_checkpoint(a, step), load_checkpoint(b, step))
        exact = True
    except AssertionError:
        exact = False
    curve = [json.loads(line) for line in open(os.path.join(a, "metrics.jsonl"))]
    config = json.load(open(os.path.join(a, "config.json")))
    name = os.path.splitext(os.path.basename(args.config))[0]
    out = {"config": args.config, "population": config["population"]["num_clients"], "cohort": config["cohort"], "rounds": step,
           "local": config["local"], "model_hidden": config["model"]["hidden"],
           "test_accuracy": fa["test_accuracy"], "test_loss": fa["test_loss"],
           "eval_clients": config["population"]["eval_clients"],
           "accuracy_curve": [(r["step"], r["test_accuracy"]) for r in curve if "test_accuracy" in r],
           "train_wall_s": fa["wall_time_s"], "process_wall_s": wall_a, "resumed_process_wall_s": wall_b,
           "killed_after_step": args.kill_after, "resumed_from": fb["resumed_from"],
           "resumed_equals_uninterrupted": exact, "device_kind": fa["device_kind"], "devices": fa["devices"],
           "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"{name}.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
