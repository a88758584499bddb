"""Memory vs depth: compile the full training step (forward, backward, Adam update) for each model
and depth on one fixed graph and record XLA's compiled memory analysis (nothing is executed).

The measure is `temp_size_in_bytes` of `jax.jit(step).lower(state, data).compile().memory_analysis()`:
the scratch buffers XLA allocates for the step (activations kept for the backward pass and other
intermediates); arguments (params, optimizer state, graph) and outputs are reported separately.

    python -m projects.revgnn.memory [--dataset cora] [--depths 2,4,...] -> results/memory_vs_depth.json
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax

from configs.revgnn import cora as cora_cfg
from projects.revgnn import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MODELS = ("reversible", "grouped", "residual")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="cora")
    ap.add_argument("--depths", default="2,4,8,16,32,64,128")
    ap.add_argument("--hidden", type=int, default=64)
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    base = cora_cfg.get_config(a.dataset)
    base.model.hidden = a.hidden
    prepared = train.prepare(base)
    rows = []
    t_all = time.time()
    for depth in [int(d) for d in a.depths.split(",")]:
        for m in MODELS:
            c = cora_cfg.get_config(a.dataset)
            c.model.hidden, c.model.layers, c.model.model = a.hidden, depth, m
            stats = train.compiled_memory(c, prepared)
            row = {"dataset": a.dataset, "model": m, "layers": depth, "hidden": a.hidden, "groups": c.model.groups,
                   "num_nodes_padded": int(prepared[0]["x"].shape[0]), **stats}
            rows.append(row)
            print(f"{m:10s} L={depth:4d} temp={stats['temp_size_in_bytes'] / 2**20:8.2f} MiB "
                  f"params={stats['param_bytes'] / 2**20:6.2f} MiB compile={stats['compile_s']:.1f}s", flush=True)
    out = {"measure": "temp_size_in_bytes of the compiled train step (XLA memory_analysis)",
           "backend": jax.devices()[0].device_kind, "jax": jax.__version__,
           "hardware": "2-core CPU (shared, loaded)", "wall_time_s": time.time() - t_all, "rows": rows}
    (RESULTS / "memory_vs_depth.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
