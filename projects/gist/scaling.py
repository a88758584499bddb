"""Wide GCNs: per-device memory of a training step (from the compiled programs: nothing is
allocated) and time per epoch + accuracy of full training vs GIST, on a generated contextual SBM.
Writes projects/gist/results/scaling.json and the README table.

    python -m projects.gist.scaling            # about 10 min on 2 CPU cores
    python -m projects.gist.scaling --table    # the table from the JSON only

Memory: mode full compiles the whole GCN's step on one device; GIST compiles the round with the
m sub-GCNs one per device (a mesh of m simulated devices) and reports one device's program. That
program still holds the full, replicated weights (to partition and merge); the sub-GCN training
alone (what a GIST worker keeps while it trains) is the second column.
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs.gist import default  # noqa: E402
from lib import autotune, report  # noqa: E402
from lib import mesh as mesh_lib  # noqa: E402
from projects.gist import train  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "results", "scaling.json")
GRAPH = {"num_nodes": 8192, "num_classes": 8, "num_features": 128, "avg_degree": 10.0, "homophily": 0.7,
         "feature_snr": 1.0, "train_per_class": 100, "num_val": 500, "num_test": 1000, "seed": 0}
MEM_WIDTHS, MS = (1024, 4096, 16384), (2, 4, 8)
TIME_WIDTH, TIME_EPOCHS = 1024, 40
GiB = 2 ** 30


def _config(width, mode, m=2, mesh=None, epochs=TIME_EPOCHS):
    c = default.get_config()
    c.csbm.update(GRAPH)
    c.model.hidden = (width, width)
    c.mode, c.gist.m, c.epochs = mode, m, epochs
    c.eval_every = 0
    return c


def _bytes(compiled) -> int:
    a = compiled.memory_analysis()
    return int(a.argument_size_in_bytes + a.output_size_in_bytes + a.temp_size_in_bytes - a.alias_size_in_bytes)


def _abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.asarray(x).dtype), tree)


def memory(data, dims_of) -> list[dict]:
    rows = []
    for width in MEM_WIDTHS:
        c = _config(width, "full")
        dims = dims_of(c)
        state, step, _, _ = train.build(c, dims)
        row = {"width": width, "dims": list(dims), "full_bytes": _bytes(step.lower(_abstract(state), data).compile())}
        for m in MS:
            mesh = mesh_lib.make_mesh([("subnet", m)], devices=jax.devices()[:m])
            step, _ = train.make_steps(tuple(dims), "gist", m, False, 5, 0.5, 5e-4, (0.01, True, 40), mesh)
            gstate = {k: v for k, v in state.items() if k != "opt_state"}
            row[f"gist{m}_bytes"] = _bytes(step.lower(_abstract(gstate), data).compile())
            sub_dims = (dims[0],) + tuple(d // m for d in dims[1:-1]) + (dims[-1],)
            one, _ = train.make_steps(sub_dims, "full", 1, False, 5, 0.5, 5e-4, (0.01, True, 40))
            sstate, _, _, _ = train.build(_config(width // m, "full"), sub_dims)
            row[f"gist{m}_worker_bytes"] = _bytes(one.lower(_abstract(sstate), data).compile())
        rows.append(row)
        print(row, flush=True)
    return rows


def timing(data, dims_of) -> list[dict]:
    train.make_steps.cache_clear()
    jax.clear_caches()  # the first step below compiles, as in a fresh run
    rows = []
    for mode, m in (("full", 1), ("gist", 2), ("gist", 4), ("gist", 8)):
        c = _config(TIME_WIDTH, mode, max(m, 2))
        dims = dims_of(c)
        state, step, evaluate, n = train.build(c, dims)
        t0 = time.perf_counter()
        state, _ = step(state, data)
        jax.block_until_ready(state)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n - 1):
            state, met = step(state, data)
        jax.block_until_ready(state)
        per_epoch = (time.perf_counter() - t0) / ((n - 1) * (c.epochs // n))
        acc = {k: float(v) for k, v in evaluate(state["params"], data).items()}
        rows.append({"mode": mode, "m": m, "width": TIME_WIDTH, "epochs": c.epochs, "first_step_s": first,
                     "epoch_s": per_epoch, **acc, "load_avg_1min": os.getloadavg()[0]})
        print(rows[-1], flush=True)
    return rows


def run():
    c = _config(TIME_WIDTH, "full")
    data, _, info = train.prepare(c)

    def dims_of(cfg):
        return train.dims_of(cfg, int(data["x"].shape[1]), GRAPH["num_classes"])
    res = {"graph": {**GRAPH, **info}, "machine": f"{autotune.cpu_model()}, {os.cpu_count()} CPU cores (shared)",
           "load_avg_1min_before": os.getloadavg()[0]}
    res["memory"] = memory(data, dims_of)
    res["timing"] = timing(data, dims_of)
    os.makedirs(os.path.dirname(PATH), exist_ok=True)
    with open(PATH, "w") as f:
        json.dump(res, f, indent=1)


def table() -> str:
    with open(PATH) as f:
        res = json.load(f)
    g = res["graph"]
    rows = [{"w": f"{r['width']:,} x 2", "full": f"{r['full_bytes'] / GiB:.2f}",
             **{f"g{m}": f"{r[f'gist{m}_bytes'] / GiB:.2f} ({r[f'gist{m}_worker_bytes'] / GiB:.2f})" for m in MS}}
            for r in res["memory"]]
    cols = [("hidden widths", "w"), ("full GCN, one device (GiB)", "full")] + [
        (f"GIST m = {m}: per device (worker only) GiB", f"g{m}") for m in MS]
    full = next(r for r in res["timing"] if r["mode"] == "full")
    trows = [{"method": "full GCN" if r["mode"] == "full" else f"GIST m = {r['m']}",
              "epoch": f"{r['epoch_s']:.3f}", "rel": f"{full['epoch_s'] / r['epoch_s']:.2f}x",
              "first": f"{r['first_step_s']:.1f}", "acc": f"{100 * r['test_accuracy']:.1f}",
              "load": f"{r['load_avg_1min']:.1f}"} for r in res["timing"]]
    tcols = [("method", "method"), ("s per epoch", "epoch"), ("speed vs full", "rel"),
             ("first step s (compile)", "first"), (f"test acc % after {full['epochs']} epochs", "acc"),
             ("load (1 min)", "load")]
    return (f"Generated contextual SBM: {g['num_nodes']:,} nodes, {g['num_edges']:,} edges, {g['num_features']} "
            f"features, {g['num_classes']} classes; GCN {g['num_features']} -> hidden -> hidden -> "
            f"{g['num_classes']}. Machine: {res['machine']}. GIST timings: the m sub-GCNs vmapped on one "
            "device (CPU), so the speed-up is the smaller work per epoch only, not parallel devices.\n\n"
            + report.markdown_table(rows, cols) + f"\n\nTime and accuracy, hidden {TIME_WIDTH:,} x 2:\n\n"
            + report.markdown_table(trows, tcols))


def main(argv):
    if "--table" not in argv:
        run()
    text = table()
    report.replace_section(os.path.join(HERE, "README.md"), "scaling", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
