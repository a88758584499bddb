"""10-seed accuracy of Cluster-GCN vs full-batch GCN on Cora and CiteSeer (public Planetoid split).

Each setting = configs/cluster_gcn/cora.py (dataset, mode) plus the overrides in SETTINGS; all seeds
of a setting run at once (vmapped over the seed) with the functions of train.py; in cluster mode
each seed has its own METIS partition and cluster order. Results are appended to
projects/cluster_gcn/results/accuracy.json after every setting (a cut run keeps what finished);
`python -m projects.cluster_gcn.report` renders the README tables.

    nice -n 10 python -m projects.cluster_gcn.reproduce [--datasets cora,citeseer] [--seeds 10] [--only N]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import jax
import numpy as np

from configs.cluster_gcn import cora as cora_cfg
from projects.cluster_gcn import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

# (name, mode, overrides, datasets or None for all) in priority order
SETTINGS = [
    ("full-batch GCN", "full", {}, None),
    ("Cluster-GCN p8 q2 λ1", "cluster", {}, None),
    ("Cluster-GCN p8 q1 λ1", "cluster", {"cluster.clusters_per_batch": 1, "epochs": 25.0}, ("cora",)),
    ("Cluster-GCN p8 q2 λ0", "cluster", {"model.diag_lambda": 0.0}, ("cora",)),
]


def config_for(dataset, mode, overrides):
    c = cora_cfg.get_config(f"{dataset},mode={mode}")
    c.update_from_flattened_dict(dict(overrides))  # dotted keys, type-checked
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", type=int, default=len(SETTINGS), help="first N settings")
    a = ap.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    path = RESULTS / "accuracy.json"
    for name, mode, ov, only in SETTINGS[:a.only]:
        for ds in a.datasets.split(","):
            if only and ds not in only:
                continue
            rows = json.loads(path.read_text()) if path.exists() else []
            if any(r["dataset"] == ds and r["setting"] == name and r["seeds"] == a.seeds for r in rows):
                continue
            c = config_for(ds, mode, ov)
            cpu0 = time.process_time()
            acc, info = train.run_seeds(c, list(range(a.seeds)))
            row = {"dataset": ds, "setting": name, "seeds": a.seeds, "mode": mode, "epochs": float(c.epochs),
                   "config": f"configs/cluster_gcn/cora.py:{ds},mode={mode}" + "".join(
                       f" --config.{k}={v}" for k, v in ov.items()),
                   "model": c.model.to_dict(), "cluster": c.cluster.to_dict() if mode == "cluster" else None,
                   **info, **acc, "cpu_time_s": time.process_time() - cpu0,
                   "hardware": f"{jax.devices()[0].device_kind}, 2-core CPU (shared, loaded)"}
            rows = [r for r in rows if not (r["dataset"] == ds and r["setting"] == name)] + [row]
            path.write_text(json.dumps(rows, indent=1))
            print(f"{ds} {name}: test {np.mean(acc['test_accuracy']):.4f} +- {np.std(acc['test_accuracy']):.4f} "
                  f"({row['wall_time_s']:.0f} s wall, {row['cpu_time_s']:.0f} s CPU)", flush=True)


if __name__ == "__main__":
    main()
