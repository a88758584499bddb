"""Accuracy of L-GCN (layer-wise) vs full-batch GCN on Cora and CiteSeer (public split), several seeds,
with configs/l2gcn/cora.py; each finished (dataset, mode) is appended to
projects/l2gcn/results/accuracy.json. `python -m projects.l2gcn.report` renders the README table.

    TESSERA_DATA_DIR=/work/shared/data nice python -m projects.l2gcn.reproduce [--seeds 5]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

from configs.l2gcn import cora as cfg
from lib import autotune
from projects.l2gcn import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--modes", default="layerwise,full")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "accuracy.json"
    for ds in a.datasets.split(","):
        for mode in a.modes.split(","):
            rows = json.loads(path.read_text()) if path.exists() else []
            if any(r["dataset"] == ds and r["mode"] == mode and r["seeds"] == a.seeds for r in rows):
                continue
            arg = f"{ds},mode={mode}"
            acc, val, wall, cpu, steps = [], [], [], [], 0
            load0 = os.getloadavg()[0]
            for seed in range(a.seeds):
                c = cfg.get_config(arg)
                c.seed = seed
                c.data_dir = os.environ.get("TESSERA_DATA_DIR", "./data")
                t0, p0 = time.perf_counter(), time.process_time()
                f = train.train_and_evaluate(c, tempfile.mkdtemp(prefix="l2gcn_"))
                wall.append(time.perf_counter() - t0); cpu.append(time.process_time() - p0)
                acc.append(f["test_accuracy"]); val.append(f["val_accuracy"]); steps = f["step"]
            rows.append({"dataset": ds, "mode": mode, "seeds": a.seeds, "test_accuracy": acc, "val_accuracy": val,
                         "steps": steps, "wall_s_per_run": wall, "cpu_s_per_run": cpu,
                         "config": f"configs/l2gcn/cora.py:{arg}",
                         "machine": f"{autotune.cpu_model()}, {os.cpu_count()} cores, shared with other jobs",
                         "load_avg_1min": [load0, os.getloadavg()[0]]})
            path.write_text(json.dumps(rows, indent=1))
            print(ds, mode, acc, flush=True)


if __name__ == "__main__":
    main()
