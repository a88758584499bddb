"""10-seed reproduction tables for BiFeat (feature compression) and Degree-Quant layers on Cora
and CiteSeer. Each setting runs all seeds in one vmapped jit with the functions of train.py.
Results are appended to projects/bifeat/results/<dataset>.json after every setting (so a cut
run keeps what finished); `python -m projects.bifeat.report` renders the README tables.

    python -m projects.bifeat.reproduce [--datasets cora,citeseer] [--seeds 10] [--only N]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import jax

from configs.bifeat import cora as cora_cfg
from projects.bifeat import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

# (name, overrides) in priority order
SETTINGS = [
    ("gcn/float32", {}),
    ("gcn/scalar-1bit", {"compression.mode": "scalar", "compression.bits": 1}),
    ("gcn/vector-w8-L256", {"compression.mode": "vector", "compression.width": 8, "compression.num_codewords": 256}),
    ("gcn/vector-w16-L256", {"compression.mode": "vector", "compression.width": 16, "compression.num_codewords": 256}),
    ("gcn/int8-layers", {"model.quant": "int8"}),
    ("gcn/int4-layers", {"model.quant": "int4"}),
    ("gin/float32", {"model.layer": "gin"}),
    ("gin/int8-layers", {"model.layer": "gin", "model.quant": "int8"}),
    ("gin/int4-layers", {"model.layer": "gin", "model.quant": "int4"}),
    ("sage/float32", {"model.layer": "sage"}),
    ("sage/scalar-1bit", {"model.layer": "sage", "compression.mode": "scalar", "compression.bits": 1}),
    ("sage/vector-w8-L256", {"model.layer": "sage", "compression.mode": "vector", "compression.width": 8,
                             "compression.num_codewords": 256}),
    ("gcn/scalar-2bit", {"compression.mode": "scalar", "compression.bits": 2}),
    ("gcn/scalar-4bit", {"compression.mode": "scalar", "compression.bits": 4}),
    ("gcn/scalar-8bit", {"compression.mode": "scalar", "compression.bits": 8}),
]


def config_for(dataset, overrides):
    c = cora_cfg.get_config(dataset)
    c.compression.mode = "none"
    for k, v in overrides.items():
        node = c
        *path, last = k.split(".")
        for p in path:
            node = node[p]
        node[last] = v
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", type=int, default=len(SETTINGS), help="first N settings")
    a = ap.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    for name, ov in SETTINGS[:a.only]:
        for ds in a.datasets.split(","):
            path = RESULTS / f"{ds}.json"
            rows = json.loads(path.read_text()) if path.exists() else []
            if any(r["setting"] == name and r["seeds"] == a.seeds for r in rows):
                continue
            c = config_for(ds, ov)
            t0 = time.time()
            acc, info = train.run_seeds(c, list(range(a.seeds)))
            row = {"dataset": ds, "setting": name, "seeds": a.seeds, "epochs": int(c.epochs),
                   "layer": c.model.layer, "quant": c.model.quant, "compression": c.compression.to_dict(),
                   **info, **acc, "wall_time_s": time.time() - t0,
                   "hardware": f"{jax.devices()[0].device_kind}, shared 2-core machine"}
            rows = [r for r in rows if r["setting"] != name] + [row]
            path.write_text(json.dumps(rows, indent=1))
            import numpy as np
            print(f"{ds} {name}: ratio {info['compression_ratio']:.1f}x test {np.mean(acc['test_accuracy']):.4f} "
                  f"+- {np.std(acc['test_accuracy']):.4f} ({row['wall_time_s']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
