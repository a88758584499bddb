"""Runs configs/diloco/shakespeare.py's variants (resumable) and writes the README tables.

    python -m projects.diloco.report --run     # train (a few minutes per run on 2 CPU cores), then the tables
    python -m projects.diloco.report --austen  # DiLoCo H = 50 and synchronous DP on Austen's novels
    python -m projects.diloco.report           # the tables from projects/diloco/results/*.json

Virtual time depends only on the config (never on the model's values), so the bandwidth table
re-times the same measured loss curves under other WAN bandwidths (projects.diloco.train.timeline).
"""

from __future__ import annotations

import json
import os
import sys

from ml_collections import ConfigDict

from lib import report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results", "shakespeare.json")
AUSTEN = os.path.join(HERE, "results", "austen.json")
NAMES = {"sync_dp": "synchronous data parallel (all-reduce every step)",
         "diloco_h10": "DiLoCo H = 10", "diloco_h50": "DiLoCo H = 50",
         "diloco_delayed_h50": "DiLoCo H = 50, one-step delayed (outer momentum 0.9)",
         "diloco_delayed_h50_mu05": "DiLoCo H = 50, one-step delayed, outer momentum 0.5"}
TARGETS = (2.4, 2.3)  # validation loss (nats per character)
BANDWIDTHS = (1e8, 1e7, 1e6)  # bytes/s
TIMES = (30, 60)  # virtual seconds: the loss of the model that exists then


def collect(workdir: str) -> dict:
    from lib.metrics import read_jsonl

    with open(os.path.join(workdir, "final_metrics.json")) as f:
        final = json.load(f)
    return {"final": final, "evals": [{k: r[k] for k in ("round", "val_loss", "virtual_time", "bytes")}
                                      for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "val_loss" in r]}


def curve(run: dict) -> list[tuple[int, float]]:
    """[(rounds done, val loss)], the initial model first."""
    return [(0, run["final"]["initial_val_loss"])] + [(e["round"], e["val_loss"]) for e in run["evals"]]


def first_round_below(run: dict, target: float):
    return next((r for r, loss in curve(run) if loss <= target), None)


def loss_at(run: dict, t: dict, seconds: float):
    pts = [loss for r, loss in curve(run) if t["start"][r] <= seconds + 1e-9]
    return pts[-1] if pts else None


def retimed(run: dict, bandwidth: float | None = None) -> dict:
    from projects.diloco import train

    cfg = ConfigDict(run["config"])
    if bandwidth is not None:
        cfg.clock.bandwidth = bandwidth
    return train.timeline(cfg, run["final"]["num_params"])


def tables(res: dict, suffix: str = "") -> str:
    runs = {k: res["runs"][k + suffix] for k in NAMES if k + suffix in res["runs"]}
    if not runs:
        return "(not run yet)"
    rows = []
    for k, run in runs.items():
        f, t = run["final"], retimed(run)
        r = {"method": NAMES[k], "syncs": f"{round(f['bytes'] / (t['bytes'][1] / t['syncs_per_round']))}",
             "mb": f"{f['bytes'] / 1e6:.1f}", "loss": f"{f['val_loss']:.3f}", "bpc": f"{f['val_bpc']:.3f}",
             "vt": f"{f['virtual_time']:.0f}", "wall": f"{f['wall_time_s']:.0f}"}
        for i, sec in enumerate(TIMES):
            v = loss_at(run, t, sec)
            r[f"l{i}"] = "–" if v is None else f"{v:.3f}"
        for i, g in enumerate(TARGETS):  # (keys without dots: lib.report reads "a.b" as nested)
            rnd = first_round_below(run, g)
            r[f"t{i}"] = "not reached" if rnd is None else f"{t['start'][rnd]:.0f}"
            r[f"b{i}"] = "–" if rnd is None else f"{t['bytes'][rnd] / 1e6:.1f}"
        rows.append(r)
    cols = [("method", "method"), ("all-reduces", "syncs"), ("MB sent / worker", "mb"),
            ("final val loss", "loss"), ("bits / char", "bpc")]
    cols += [(f"MB to loss {g}", f"b{i}") for i, g in enumerate(TARGETS)]
    cols += [(f"val loss at {sec} virtual s", f"l{i}") for i, sec in enumerate(TIMES)]
    cols += [("virtual s (run)", "vt")] + [(f"virtual s to loss {g}", f"t{i}") for i, g in enumerate(TARGETS)]
    cols += [("wall s", "wall")]
    main = report.markdown_table(rows, cols)
    g = TARGETS[0]
    rows = []
    for k, run in runs.items():
        r = {"method": NAMES[k]}
        rnd = first_round_below(run, g)
        for i, bw in enumerate(BANDWIDTHS):
            t = retimed(run, bw)
            r[f"w{i}"] = f"{t['start'][-1]:.0f}"
            r[f"t{i}"] = "not reached" if rnd is None else f"{t['start'][rnd]:.0f}"
        rows.append(r)
    cols = [("method", "method")]
    for i, bw in enumerate(BANDWIDTHS):
        cols += [(f"{bw / 1e6:g} MB/s: s to loss {g}", f"t{i}"), (f"{bw / 1e6:g} MB/s: run s", f"w{i}")]
    machine = f"\n\nHardware: {res.get('machine', '?')}, one {res.get('device_kind', 'cpu')} device."
    return main + "\n\nThe same runs re-timed on other WAN bandwidths (virtual seconds):\n\n" + \
        report.markdown_table(rows, cols) + machine


def main(argv):
    if "--run" in argv:
        from projects.diloco import train

        report.run_sweep(os.path.join(REPO, "configs/diloco/shakespeare.py"), {k: k for k in NAMES},
                         os.path.join(REPO, "runs/diloco_shakespeare"), RESULTS, train.train_and_evaluate,
                         collect=collect)
    if "--austen" in argv:  # the same config on Austen's six novels: DiLoCo H = 50 and synchronous DP
        from projects.diloco import train

        report.run_sweep(os.path.join(REPO, "configs/diloco/shakespeare.py"),
                         {f"{k}_austen": f"{k}_austen" for k in ("sync_dp", "diloco_h50")},
                         os.path.join(REPO, "runs/diloco_austen"), AUSTEN, train.train_and_evaluate, collect=collect)
    for path, section, suffix in ((RESULTS, "results", ""), (AUSTEN, "austen", "_austen")):
        if os.path.exists(path):
            with open(path) as f:
                text = tables(json.load(f), suffix)
            report.replace_section(os.path.join(HERE, "README.md"), section, text)
            print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
