"""Time per epoch and train-step memory of L-GCN vs full-batch GCN on generated graphs
(`random_graph`, average degree 20, 128 features, 16 classes, every node a training node).

Full batch: one epoch = one jitted update of the 2-layer GCN on the whole graph.
L-GCN: one epoch of layer 0 = ceil(N / batch) jitted minibatch updates on rows of the
precomputed ÂX (the precomputation, one spmm per layer, is timed separately). Step memory is
XLA's compiled memory analysis (arguments + temporaries + outputs) of one update. Results go to
projects/l2gcn/results/scaling.json.

    nice python -m projects.l2gcn.scaling [--nodes 20000,100000] [--batch 256,4096]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from lib import autotune
from lib.graph.propagation import normalized_adjacency
from lib.graph.synthetic import random_graph
from projects.l2gcn import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _mem(compiled):
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes)


def _median_time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", default="20000,100000")
    ap.add_argument("--batch", default="256,4096")
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "scaling.json"
    sizes = [int(x) for x in a.nodes.split(",")]
    rows = [r for r in (json.loads(path.read_text()) if path.exists() else []) if r["num_nodes"] not in sizes]
    for n in sizes:
        load0 = os.getloadavg()[0]
        g = random_graph(n, 20 * n, a.features, num_classes=16, seed=0)
        adj = normalized_adjacency(g, "row")
        x = jnp.asarray(g.x); y = jnp.asarray(g.y, jnp.int32)
        mask = jnp.asarray(np.asarray(g.train_mask) & np.asarray(g.node_mask))
        d = {"adj": adj, "x": x, "y": y, "train": mask, "val": mask, "test": mask}
        init, step, _ = train.full_functions(16, 16, 0.01, 5e-4)
        state = init(0, adj, x)
        full_mem = _mem(step.lower(state, d).compile())
        holder = {"s": state}

        def full_epoch():
            holder["s"], m = step(holder["s"], d)
            jax.block_until_ready(m["loss"])
        full_s = _median_time(full_epoch, a.repeats)
        jax.block_until_ready(train._propagate(adj, x))  # compile
        t0 = time.perf_counter()
        h0 = jax.block_until_ready(train._propagate(adj, x))
        pre_s = time.perf_counter() - t0
        row = {"num_nodes": n, "num_edges": int(np.asarray(g.edge_mask).sum()), "features": a.features,
               "full_epoch_s": full_s, "full_step_bytes": full_mem, "precompute_s": pre_s, "layerwise": []}
        lstep, tx = train.layer_step(0, 0.005, 5e-4)
        lstate = train.init_layerwise(0, a.features, 16, 16, 2, tx)
        train_idx = np.arange(n)
        for b in [int(x) for x in a.batch.split(",")]:
            spe = -(-n // b)
            gather = jax.jit(lambda h, i, yy: (h[i], yy[i]))
            idx0 = jnp.asarray(train_idx[:b], jnp.int32)
            xb, yb = gather(h0, idx0, y)
            batch = {"x": xb, "y": yb, "m": jnp.ones(b)}
            mem = _mem(lstep.lower(lstate, batch).compile())
            perm = np.random.default_rng(0).permutation(n)
            idxs = [jnp.asarray(np.resize(perm[i * b:(i + 1) * b], b), jnp.int32) for i in range(spe)]
            hold = {"s": lstate}

            def epoch():
                for i in idxs:
                    xb, yb = gather(h0, i, y)
                    hold["s"], m = lstep(hold["s"], {"x": xb, "y": yb, "m": batch["m"]})
                jax.block_until_ready(m["loss"])
            row["layerwise"].append({"batch": b, "steps_per_epoch": spe, "epoch_s": _median_time(epoch, a.repeats),
                                     "step_bytes": mem})
        row.update(load_avg_1min=[load0, os.getloadavg()[0]],
                   machine=f"{autotune.cpu_model()}, {os.cpu_count()} cores, shared with other jobs")
        rows.append(row)
        print(json.dumps(row), flush=True)
        rows.sort(key=lambda r: r["num_nodes"])
        path.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
