"""The sparsity sweep: ROD, SGC and APPNP on Cora / CiteSeer with thinned edges and labels, several seeds
(the seed draws the thinned graph, the labels and the initialisation). Each finished run is appended to
projects/rod/results/sweep.json (runs already there are skipped, so the sweep resumes);
`python -m projects.rod.report` renders the README tables.

    TESSERA_DATA_DIR=/work/shared/data nice python -m projects.rod.reproduce [--seeds 2] [--datasets cora,citeseer]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

from configs.rod import citeseer as citeseer_cfg
from configs.rod import cora as cora_cfg
from lib import autotune
from projects.rod import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
CONFIGS = {"cora": ("configs/rod/cora.py", cora_cfg), "citeseer": ("configs/rod/citeseer.py", citeseer_cfg)}
# the sparsest settings first, so that a cut-short sweep still has the comparison the claim is about
SETTINGS = [(0.3, 5), (1.0, 20), (0.1, 5), (1.0, 5), (0.5, 5), (0.1, 20), (0.3, 20), (0.5, 20)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--methods", default="rod,sgc,appnp")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--settings", default="", help="edge_keep:labels,... (default: all eight)")
    ap.add_argument("--override", default="",
                    help="key=value added to the config arg (graph_weight=0.1, gate=confidence); such runs go to "
                         "results/sweep_<key>_<value>.json")
    ap.add_argument("--deadline", default="", help="UTC HH:MM after which no new run starts")
    a = ap.parse_args()
    settings = [tuple(float(x) if i == 0 else int(x) for i, x in enumerate(s.split(":")))
                for s in a.settings.split(",")] if a.settings else SETTINGS
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("sweep_" + a.override.replace("=", "_") + ".json" if a.override else "sweep.json")
    machine = f"{autotune.cpu_model()}, {os.cpu_count()} cores, shared with other jobs"
    for keep, labels in settings:
        for ds in a.datasets.split(","):
            cfg_path, mod = CONFIGS[ds]
            for method in a.methods.split(","):
                for seed in range(a.seeds):
                    rows = json.loads(path.read_text()) if path.exists() else []
                    if any((r["dataset"], r["method"], r["edge_keep"], r["labels_per_class"], r["seed"]) ==
                           (ds, method, keep, labels, seed) for r in rows):
                        continue
                    if a.deadline and time.strftime("%H:%M", time.gmtime()) >= a.deadline:
                        print("deadline reached; stopping", flush=True)
                        return
                    arg = f"method={method},edge_keep={keep},labels={labels}"
                    if a.override:
                        arg += "," + a.override
                    c = mod.get_config(arg)
                    c.seed = seed
                    c.data_dir = os.environ.get("TESSERA_DATA_DIR", "./data")
                    load0 = os.getloadavg()[0]
                    t0, p0 = time.perf_counter(), time.process_time()
                    f = train.train_and_evaluate(c, tempfile.mkdtemp(prefix="rod_"))
                    wall, cpu = time.perf_counter() - t0, time.process_time() - p0
                    keys = [k for k in f if k.startswith(("student", "alpha")) or k.endswith("_accuracy")]
                    row = {"dataset": ds, "method": method, "edge_keep": keep, "labels_per_class": labels,
                           "seed": seed, "graph_weight": c.rod.graph_weight, "gate": c.rod.gate, **{k: f[k] for k in keys}, "epochs": f["step"],
                           **{k: f[k] for k in ("num_nodes", "num_train", "undirected_edges_full",
                                                "undirected_edges_kept", "isolated_nodes")},
                           "wall_s": wall, "cpu_s": cpu, "config": f"{cfg_path}:{arg} seed={seed}",
                           "machine": machine, "load_avg_1min": [load0, os.getloadavg()[0]]}
                    rows = json.loads(path.read_text()) if path.exists() else []
                    rows.append(row)
                    path.write_text(json.dumps(rows, indent=1))
                    print(ds, method, keep, labels, seed, f"test={f['test_accuracy']:.4f}", f"{wall:.0f}s", flush=True)


if __name__ == "__main__":
    main()
