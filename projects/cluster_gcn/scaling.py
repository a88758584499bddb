"""Peak memory and time per epoch of the Cluster-GCN vs the full-batch GCN training step as the
graph grows (settings: configs/cluster_gcn/scaling.py). Appends one row per (size, mode) to
projects/cluster_gcn/results/scaling.json after each measurement.

    nice -n 10 python -m projects.cluster_gcn.scaling [--sizes 20000,50000,...]

Memory is XLA's compiled memory analysis of the jitted train step (`jit(step).lower(state,
batch).compile().memory_analysis()`): argument + output + temporary buffers - aliased bytes,
i.e. what the step needs on the device while it runs. It is computed by the compiler, not
sampled from the process (on CPU the process RSS also holds the host graph, the METIS
partition and Python). Cluster-GCN's arguments hold only its batch (its features are gathered
on the host), the full-batch step's hold the whole graph.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import jax

from configs.cluster_gcn import scaling as scaling_cfg
from projects.cluster_gcn import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def memory(compiled) -> dict:
    m = compiled.memory_analysis()
    out = {k: int(getattr(m, f"{k}_size_in_bytes")) for k in ("argument", "output", "temp", "alias",
                                                               "generated_code")}
    out["peak"] = out["argument"] + out["output"] + out["temp"] - out["alias"]
    return out


def measure(config, n: int, mode: str) -> dict:
    c = config.copy_and_resolve_references()
    c.random.num_nodes = n
    c.random.num_edges = int(c.avg_degree * n)
    c.mode = mode
    if mode == "full":
        c.model.norm, c.model.diag_lambda = "gcn", 0.0
    else:
        c.cluster.num_parts = max(c.cluster.clusters_per_batch, n // c.nodes_per_part)
    t0 = time.perf_counter()
    run, init, step, _, put = train.build(c)
    setup_s = time.perf_counter() - t0
    batches = run["batches"]
    f = jax.jit(lambda s, b: step(0, s, b))
    b0 = put(batches(0))
    state = jax.jit(init, static_argnums=0)(0, b0)
    t0 = time.perf_counter()
    compiled = f.lower(state, b0).compile()
    compile_s = time.perf_counter() - t0
    row = {"num_nodes": n, "num_edges": run["info"]["num_edges"], "mode": mode, **run["info"],
           "memory_bytes": memory(compiled), "setup_s": setup_s, "compile_s": compile_s,
           "features": int(c.random.num_features), "layers": int(c.model.layers), "hidden": int(c.model.hidden)}
    state, m = compiled(state, b0)  # warm-up
    jax.block_until_ready(state)
    if mode == "full":
        times, cpu = [], []
        for _ in range(int(c.timed_full_steps)):
            t, tc = time.perf_counter(), time.process_time()
            state, m = compiled(state, b0)
            jax.block_until_ready(state)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - tc)
        row.update(epoch_s=statistics.median(times), epoch_times_s=times, host_s=0.0,
                   device_s=statistics.median(times), epoch_cpu_s=statistics.median(cpu), host_cpu_s=0.0)
    else:
        spe = batches.steps_per_epoch
        host = dev = host_cpu = dev_cpu = 0.0
        epochs = int(c.timed_cluster_epochs)
        for i in range(1, 1 + epochs * spe):
            t, tc = time.perf_counter(), time.process_time()
            b = put(batches(i))
            jax.block_until_ready(b)
            t1, tc1 = time.perf_counter(), time.process_time()
            state, m = compiled(state, b)
            jax.block_until_ready(state)
            host += t1 - t
            host_cpu += tc1 - tc
            dev += time.perf_counter() - t1
            dev_cpu += time.process_time() - tc1
        row.update(epoch_s=(host + dev) / epochs, host_s=host / epochs, device_s=dev / epochs,
                   epoch_cpu_s=(host_cpu + dev_cpu) / epochs, host_cpu_s=host_cpu / epochs,
                   num_parts=int(c.cluster.num_parts), clusters_per_batch=int(c.cluster.clusters_per_batch))
    row["final_loss"] = float(m["loss"])
    row["hardware"] = f"{jax.devices()[0].device_kind}, 2-core CPU (shared, loaded)"
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default=None, help="comma-separated node counts (default: the config's)")
    ap.add_argument("--modes", default="full,cluster")
    a = ap.parse_args()
    config = scaling_cfg.get_config()
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else list(config.sizes)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "scaling.json"
    for n in sizes:
        for mode in a.modes.split(","):
            cpu0 = time.process_time()
            row = measure(config, n, mode)
            row["cpu_time_s"] = time.process_time() - cpu0
            rows = json.loads(path.read_text()) if path.exists() else []
            rows = [r for r in rows if not (r["num_nodes"] == n and r["mode"] == mode)] + [row]
            path.write_text(json.dumps(rows, indent=1))
            mb = row["memory_bytes"]["peak"] / 2 ** 20
            print(f"N={n} {mode}: step memory {mb:.1f} MiB, epoch {row['epoch_s']:.2f} s wall "
                  f"{row['epoch_cpu_s']:.2f} s CPU (host {row['host_s']:.2f} s), setup {row['setup_s']:.1f} s, CPU {row['cpu_time_s']:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
