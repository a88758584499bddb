"""Accuracy of L-GCN (layer-wise) vs full-batch GCN on Cora and CiteSeer (public split), several seeds,
with configs/l2gcn/cora.py; each finished (dataset, mode) is appended to
projects/l2gcn/results/accuracy.json. `--controller` instead runs the L²-GCN variants below (epochs
used and accuracy) into results/controller.json. `python -m projects.l2gcn.report` renders the tables.

    TESSERA_DATA_DIR=/work/shared/data nice python -m projects.l2gcn.reproduce [--seeds 5]
    TESSERA_DATA_DIR=/work/shared/data nice python -m projects.l2gcn.reproduce --controller
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
# name -> (mode, config overrides): fixed-epoch L-GCN (80 + 80, the reference config); the controller
# as configured from the reference; the same with only 10 warm-up episodes (40 on-policy ones);
# fixed-epoch L-GCN at the controller's minimum 40 + 40. Each on the public split and on the reference
# code's split ("full": 1208 training nodes on Cora, so an epoch is 5 minibatches of 256, not 1).
_BASE = {"layerwise": ("layerwise", {}), "l2gcn": ("l2gcn", {}),
         "l2gcn_onpolicy": ("l2gcn", {"controller.warmup_episodes": 10}),
         "layerwise_40": ("layerwise", {"epochs_per_layer": (40, 40)})}
VARIANTS = {**_BASE, **{f"{k}@full": (m, {**o, "split": "full"}) for k, (m, o) in _BASE.items()}}


def controller_runs(a):
    path = RESULTS / "controller.json"
    for ds in a.datasets.split(","):
        for name in a.variants.split(","):
            rows = json.loads(path.read_text()) if path.exists() else []
            if any(r["dataset"] == ds and r["variant"] == name and r["seeds"] == a.seeds for r in rows):
                continue
            mode, over = VARIANTS[name]
            acc, wall, epochs, per_layer, thr, search, ctrl = [], [], [], [], [], [], []
            load0 = os.getloadavg()[0]
            for seed in range(a.seeds):
                c = cfg.get_config(f"{ds},mode={mode}")
                c.update_from_flattened_dict(over)
                c.seed = seed
                c.data_dir = os.environ.get("TESSERA_DATA_DIR", "./data")
                t0 = time.perf_counter()
                f = train.train_and_evaluate(c, tempfile.mkdtemp(prefix="l2gcn_"))
                wall.append(time.perf_counter() - t0)
                acc.append(f["test_accuracy"])
                e = f.get("epochs_per_layer_used", list(c.epochs_per_layer))
                per_layer.append(e); epochs.append(sum(e))
                thr.append(f.get("stop_threshold")); search.append(f.get("search_s")); ctrl.append(f.get("controlled_s"))
            rows.append({"dataset": ds, "variant": name, "mode": mode, "overrides": {k: list(v) if isinstance(v, tuple)
                         else v for k, v in over.items()}, "seeds": a.seeds, "test_accuracy": acc,
                         "epochs_used": epochs, "epochs_per_layer_used": per_layer, "stop_threshold": thr,
                         "search_s": search, "controlled_s": ctrl, "wall_s_per_run": wall,
                         "config": f"configs/l2gcn/cora.py:{ds},mode={mode}" + "".join(
                             f" --config.{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                             for k, v in over.items()),
                         "machine": f"{autotune.cpu_model()}, {os.cpu_count()} cores, shared with other jobs",
                         "load_avg_1min": [load0, os.getloadavg()[0]]})
            path.write_text(json.dumps(rows, indent=1))
            print(ds, name, acc, epochs, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--modes", default="layerwise,full")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--controller", action="store_true", help="run the L²-GCN VARIANTS instead")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if a.controller:
        return controller_runs(a)
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
