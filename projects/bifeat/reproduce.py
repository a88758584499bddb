"""10-seed reproduction tables for BiFeat (feature compression) and Degree-Quant layers on Cora
and CiteSeer. Each setting runs all seeds in one jitted program (train.run_seeds: the
200-epoch loop is a lax.scan, the seeds a lax.map) with the functions of train.py.
Results are appended to projects/bifeat/results/<dataset>.json after every setting (so a cut
run keeps what finished; finished settings are skipped unless --rerun names them);
`python -m projects.bifeat.report` renders the README tables.

    python -m projects.bifeat.reproduce [--datasets cora,citeseer] [--seeds 10] [--only N]
        [--settings gcn/float32,sage/float32] [--rerun gcn/float32] [--seed-batch 1]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import time

import jax
import numpy as np

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
    # ablation of the 1-bit collapse: the same runs without dropout on the input features
    ("gcn/float32-noinputdrop", {"model.input_dropout": 0.0}),
    ("gcn/scalar-1bit-noinputdrop", {"compression.mode": "scalar", "compression.bits": 1,
                                     "model.input_dropout": 0.0}),
]
HARDWARE = "2-core CPU (shared, loaded)"


def config_for(dataset, overrides):
    c = cora_cfg.get_config(dataset)
    c.compression.mode = "none"
    c.update_from_flattened_dict(dict(overrides))  # dotted keys, type-checked
    return c


def _cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", type=int, default=len(SETTINGS), help="first N settings")
    ap.add_argument("--settings", default="", help="comma list of setting names, in this order (default: all)")
    ap.add_argument("--rerun", default="", help="comma list of settings to run again even if finished")
    ap.add_argument("--seed-batch", type=int, default=1, help="seeds vmapped together inside the lax.map")
    a = ap.parse_args()
    table = dict(SETTINGS)
    names = [n for n in a.settings.split(",") if n] or [n for n, _ in SETTINGS[:a.only]]
    unknown = [n for n in names + [n for n in a.rerun.split(",") if n] if n not in table]
    if unknown:
        raise SystemExit(f"unknown settings {unknown}; known: {list(table)}")
    rerun = set(n for n in a.rerun.split(",") if n)
    os.makedirs(RESULTS, exist_ok=True)
    for name in names:
        ov = table[name]
        for ds in a.datasets.split(","):
            path = RESULTS / f"{ds}.json"
            rows = json.loads(path.read_text()) if path.exists() else []
            if name not in rerun and any(r["setting"] == name and r["seeds"] == a.seeds for r in rows):
                continue
            c = config_for(ds, ov)
            t0, c0 = time.time(), _cpu_s()
            acc, info = train.run_seeds(c, list(range(a.seeds)), seed_batch=a.seed_batch)
            row = {"dataset": ds, "setting": name, "seeds": a.seeds, "epochs": int(c.epochs),
                   "layer": c.model.layer, "quant": c.model.quant, "compression": c.compression.to_dict(),
                   "input_dropout": c.model.get("input_dropout"), **info, **acc,
                   "wall_time_s": time.time() - t0, "cpu_time_s": _cpu_s() - c0,
                   "runner": f"run_seeds lax.map seed_batch={a.seed_batch}",
                   "hardware": f"{HARDWARE}, {jax.devices()[0].device_kind}"}
            rows = json.loads(path.read_text()) if path.exists() else []  # re-read: keep rows written meanwhile
            rows = [r for r in rows if r["setting"] != name] + [row]
            path.write_text(json.dumps(rows, indent=1))
            print(f"{ds} {name}: ratio {info['compression_ratio']:.1f}x test {np.mean(acc['test_accuracy']):.4f} "
                  f"+- {np.std(acc['test_accuracy']):.4f} ({row['wall_time_s']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
