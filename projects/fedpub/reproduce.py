"""FED-PUB vs FedAvg vs local on Cora / CiteSeer METIS subgraphs (configs/fedpub/cora.py), several
seeds (model init, proxy graph, dropout; the data split and partition are fixed by data_seed as in
the reference generators). Each finished (dataset, mode, clients, method, variant) row is appended to
projects/fedpub/results/accuracy.json; `python -m projects.fedpub.report` renders the README table.

    TESSERA_DATA_DIR=/work/shared/data nice python -m projects.fedpub.reproduce [--seeds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

from configs.fedpub import cora as cfg
from lib import autotune
from projects.fedpub import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SETTINGS = ("disjoint:5", "disjoint:10", "overlapping:10")
# variants: name -> config overrides (paper_l1: the paper's L1 mask and proximal penalties with
# gradients; the reference code adds them from detached tensors, so they never train there)
VARIANTS = {"": {}, "paper_l1": {"l1": 1e-3, "loc_l2": 1e-3}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--methods", default="fedpub,fedavg,local")
    ap.add_argument("--variant", default="")
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "accuracy.json"
    for ds in a.datasets.split(","):
        for setting in a.settings.split(","):
            mode, k = setting.split(":")
            for method in a.methods.split(","):
                rows = json.loads(path.read_text()) if path.exists() else []
                key = (ds, mode, int(k), method, a.variant)
                if any((r["dataset"], r["mode"], r["clients"], r["method"], r["variant"]) == key and r["seeds"] == a.seeds
                       for r in rows):
                    continue
                arg = f"{ds},clients={k},mode={mode},method={method}"
                out = {s: [] for s in ("test", "val", "received_test", "pooled", "sparsity", "wall", "cpu")}
                curves = []
                load0 = os.getloadavg()[0]
                for seed in range(a.seeds):
                    c = cfg.get_config(arg)
                    c.update(VARIANTS[a.variant])
                    c.seed = seed
                    c.data_dir = os.environ.get("TESSERA_DATA_DIR", "./data")
                    wd = tempfile.mkdtemp(prefix="fedpub_")
                    t0, p0 = time.perf_counter(), time.process_time()
                    f = train.train_and_evaluate(c, wd)
                    out["wall"].append(time.perf_counter() - t0); out["cpu"].append(time.process_time() - p0)
                    out["test"].append(f["test_accuracy"]); out["val"].append(f["val_accuracy"])
                    out["received_test"].append(f["received_test_accuracy"])
                    out["pooled"].append(f["test_accuracy_pooled"]); out["sparsity"].append(f["mask_sparsity"])
                    from lib.metrics import read_jsonl
                    curves.append([(r["step"], round(r["test_accuracy"], 4)) for r in
                                   read_jsonl(os.path.join(wd, "metrics.jsonl")) if "test_accuracy" in r])
                rows.append({"dataset": ds, "mode": mode, "clients": int(k), "method": method, "variant": a.variant,
                             "seeds": a.seeds, "rounds": f["step"], "test_accuracy": out["test"],
                             "val_accuracy": out["val"], "received_test_accuracy": out["received_test"],
                             "test_accuracy_pooled": out["pooled"], "mask_sparsity": out["sparsity"],
                             "test_curve_seed0": curves[0], "client_nodes": f["client_nodes"],
                             "client_train": f["client_train"], "wall_s_per_run": out["wall"],
                             "cpu_s_per_run": out["cpu"], "overrides": VARIANTS[a.variant],
                             "config": f"configs/fedpub/cora.py:{arg}",
                             "machine": f"{autotune.cpu_model()}, {os.cpu_count()} cores, shared with other jobs",
                             "load_avg_1min": [load0, os.getloadavg()[0]]})
                path.write_text(json.dumps(rows, indent=1))
                print(key, [round(x, 4) for x in out["test"]], flush=True)


if __name__ == "__main__":
    main()
