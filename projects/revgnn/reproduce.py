"""Seed tables for deep RevGNN vs plain residual vs the 2-layer GCN reference on Cora and CiteSeer.
Each setting runs all seeds in one vmapped jit with the functions of train.py (final epoch, no
early stopping). Results are appended to projects/revgnn/results/accuracy_<dataset>.json after
every setting, so a cut run keeps what finished; `python -m projects.revgnn.report` renders tables.

    python -m projects.revgnn.reproduce [--datasets cora,citeseer] [--seeds 3] [--only N]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import jax
import numpy as np

from configs.revgnn import cora as cora_cfg
from projects.revgnn import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

# (name, overrides of configs/revgnn/cora.py) in priority order
SETTINGS = [
    ("gcn-2 (Kipf reference)", {"model.model": "gcn", "model.layers": 2, "model.hidden": 16, "learning_rate": 0.01}),
    ("reversible-64", {}),
    ("residual-64", {"model.model": "residual"}),
    ("reversible-112", {"model.layers": 112}),
]


def config_for(dataset, overrides):
    c = cora_cfg.get_config(dataset)
    c.update_from_flattened_dict(dict(overrides))  # dotted keys, type-checked
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated setting names (default: all, in order)")
    a = ap.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    names = [s for s in a.only.split(",") if s] or [n for n, _ in SETTINGS]
    for name, ov in [s for s in SETTINGS if s[0] in names]:
        for ds in a.datasets.split(","):
            path = RESULTS / f"accuracy_{ds}.json"
            rows = json.loads(path.read_text()) if path.exists() else []
            if any(r["setting"] == name and r["seeds"] == a.seeds for r in rows):
                continue
            c = config_for(ds, ov)
            t0 = time.time()
            cpu0 = time.process_time()
            acc = train.run_seeds(c, list(range(a.seeds)))
            row = {"dataset": ds, "setting": name, "seeds": a.seeds, "overrides": ov,
                   "config": "configs/revgnn/cora.py:" + ds, "model": c.model.to_dict(),
                   "epochs": int(c.epochs), "learning_rate": c.learning_rate, "weight_decay": c.weight_decay,
                   **acc, "wall_time_s": time.time() - t0, "cpu_time_s": time.process_time() - cpu0,
                   "hardware": "2-core CPU (shared, loaded)", "device_kind": jax.devices()[0].device_kind}
            rows = [r for r in rows if r["setting"] != name] + [row]
            path.write_text(json.dumps(rows, indent=1))
            t = np.array(acc["test_accuracy"]) * 100
            print(f"{ds} {name}: test {t.mean():.2f} +- {t.std():.2f} ({row['wall_time_s']:.0f} s wall, "
                  f"{row['cpu_time_s']:.0f} s cpu)", flush=True)


if __name__ == "__main__":
    main()
