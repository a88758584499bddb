"""Every benchmark at accelerator sizes, in one run, with a device-labelled results file.

    python benchmarks/accelerator.py                 # all sections, accelerator sizes
    python benchmarks/accelerator.py --smoke         # tiny sizes (the test suite runs this on CPU)
    python benchmarks/accelerator.py --sections moe_layer,gcn --budget 300

Sections (each guarded: one that fails or runs past its share of the time budget is
recorded as such and the run goes on):
- fl_round: benchmarks/fl_round.py's peers and engine modes at 200 clients (LEAF CNN, small
  EMNIST CNN, MLP); target on a GPU: the vmapped engine >= 10x peer A.
- aggregators: lib.fl.aggregate rules at K = 1000 x D = 1M float32 (ours only: Flower is a
  NumPy peer, see benchmarks/aggregators.py for that comparison); target < 50 ms.
- gcn: 2-layer GCN training step (hidden 16) on random graphs of 100k and 1M nodes, ours
  (lib.graph spmm) vs PyTorch Geometric GCNConv (scatter and CSR) on the same device.
- moe_layer: MoE FFN forward+backward in bfloat16, E = 8, top-2, T 16k-32k, d 1024 and 4096
  (d_ff = 4 d): capacity, sorted tiles and ragged_dot dispatch, and a dense matmul floor doing
  the same routed FLOPs; TFLOP/s counted from the routed work.
- moe_lm: tokens/s and model FLOPs utilisation of the MoE language model (when present).
Writes benchmarks/results/accelerator_<device>.json and .md (or under --out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lib.autotune import cpu_model  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense, vendor datasheets


def _median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, list]:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


# ----------------------------------------------------------------------------- sections


def fl_round(smoke: bool) -> dict:
    from benchmarks import fl_round as fr

    if smoke:
        fr.SAMPLES, fr.STEPS = 16, 1
    cohorts = (4,) if smoke else (20, 200)
    models = ("mlp",) if smoke else ("leaf_cnn", "small_cnn", "mlp")
    impls = ["peer_a", "peer_b", "ours_auto", "ours_seq"]
    cells = []
    for m in models:
        for c in cohorts:
            r = fr.measure(m, c, 1 if smoke else 3, impls)
            cells.append({"model": m, "clients": c, "results": r})
            print(f"  fl_round {m} {c}: " + ", ".join(f"{k} {v['ratio_vs_peer_a']:.2f}x" for k, v in r.items()),
                  flush=True)
    return {"cells": cells, "samples_per_client": fr.SAMPLES, "batch": fr.BATCH, "steps_per_client": fr.STEPS}


def aggregators(smoke: bool) -> dict:
    from lib.fl import aggregate as agg

    k, d = (20, 1000) if smoke else (1000, 1_000_000)
    x = jax.random.normal(jax.random.PRNGKey(0), (k, d), jnp.float32)
    w = jnp.ones((k,), jnp.float32)
    f = k // 10
    rules = {"fedavg": {}, "median": {}, "trimmed_mean": {"beta": 0.1}, "krum": {"f": f},
             "multi_krum": {"f": f, "m": k - f}, "geometric_median": {}, "bulyan": {"f": f}}
    out = {"K": k, "D": d}
    for name, params in rules.items():
        try:
            fn = jax.jit(lambda x, w, name=name, params=params: agg.get_rule(name)(
                x, w, None, jax.random.PRNGKey(0), **params)[0])
            med, ts = _median_time(lambda: jax.block_until_ready(fn(x, w)), 1 if smoke else 5)
            out[name] = {"median_s": med, "times_s": ts, "params": params}
            print(f"  aggregators {name}: {med * 1e3:.2f} ms", flush=True)
        except Exception as e:  # a rule's validation may refuse the size: record it
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    return out


def gcn(smoke: bool) -> dict:
    import torch

    from benchmarks.gnn import ours_step
    from lib.graph import build_adjacency
    from lib.graph.synthetic import random_graph

    dev = "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"
    sizes = {"small": (2000, 20_000)} if smoke else {"100k": (100_000, 2_000_000), "1M": (1_000_000, 20_000_000)}
    f, c, hidden, lr = (32, 8, 16, 0.01) if smoke else (128, 16, 16, 0.01)
    out = {"torch_device": dev, "features": f, "classes": c, "hidden": hidden}
    for name, (n, e) in sizes.items():
        g = random_graph(n, e, f, c, seed=0, num_nodes_pad=n + 1, num_edges_pad=e)
        real = int(g.node_mask.sum())
        adj = jax.tree.map(jnp.asarray, build_adjacency(g, "gcn", num_edges_pad=int(g.edge_mask.sum()) + real))
        rng = np.random.default_rng(0)
        w1 = (rng.standard_normal((f, hidden)) / np.sqrt(f)).astype(np.float32)
        w2 = (rng.standard_normal((hidden, c)) / 4).astype(np.float32)
        params = {"w1": jnp.asarray(w1), "w2": jnp.asarray(w2)}
        x, y = jnp.asarray(g.x), jnp.asarray(g.y)
        step = ours_step()
        st = {"p": params}

        def ours():
            st["p"], l = step(st["p"], adj, x, y)
            jax.block_until_ready(l)

        t = time.perf_counter()
        ours()
        first = time.perf_counter() - t
        row = {"nodes": n, "edges": e, "ours_first_call_s": first}
        row["ours_s"], _ = _median_time(ours, 1 if smoke else 10)
        m = np.asarray(g.edge_mask)
        s_, r_ = np.asarray(g.senders)[m], np.asarray(g.receivers)[m]
        ei = torch.from_numpy(np.stack([s_, r_]).astype(np.int64)).to(dev)
        tx = torch.from_numpy(np.asarray(g.x)[:real]).to(dev)
        ty = torch.from_numpy(np.asarray(g.y)[:real].astype(np.int64)).to(dev)
        from torch_geometric.utils import to_torch_csr_tensor

        adj_t = to_torch_csr_tensor(torch.stack([ei[1], ei[0]]), size=(real, real))
        for label, graph_in in (("pyg_scatter", ei), ("pyg_csr", adj_t)):
            net_step = _pyg_gcn(w1, w2, dev, lr)

            def peer():
                net_step(tx, graph_in, ty)
                if dev == "cuda":
                    torch.cuda.synchronize()

            try:
                row[f"{label}_s"], _ = _median_time(peer, 1 if smoke else 10)
            except Exception as e:  # noqa: BLE001 (e.g. CSR SpMM unsupported for a dtype/device)
                row[f"{label}_s"] = float("nan")
                row[f"{label}_error"] = f"{type(e).__name__}: {e}"
        best = min(v for k, v in row.items() if k.startswith("pyg_") and k.endswith("_s") and v == v)
        row["ours_over_pyg_best"] = row["ours_s"] / best
        out[name] = row
        print(f"  gcn {name}: ours {row['ours_s'] * 1e3:.1f} ms, pyg best {best * 1e3:.1f} ms", flush=True)
    return out


def _pyg_gcn(w1, w2, dev, lr):
    import torch
    from torch_geometric.nn import GCNConv

    c1 = GCNConv(w1.shape[0], w1.shape[1], bias=False, cached=True).to(dev)
    c2 = GCNConv(w2.shape[0], w2.shape[1], bias=False, cached=True).to(dev)
    with torch.no_grad():
        c1.lin.weight.copy_(torch.from_numpy(w1.T.copy()))
        c2.lin.weight.copy_(torch.from_numpy(w2.T.copy()))
    opt = torch.optim.SGD(list(c1.parameters()) + list(c2.parameters()), lr=lr)

    def step(x, ei, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(c2(torch.relu(c1(x, ei)), ei), y)
        loss.backward()
        opt.step()

    return step


def moe_layer(smoke: bool) -> dict:
    from lib.moe import layer as L

    shapes = [(256, 64)] if smoke else [(16384, 1024), (32768, 1024), (16384, 4096)]
    e, k, cf = 8, 2, 1.25
    dt = jnp.bfloat16
    out = {"experts": e, "k": k, "capacity_factor": cf, "dtype": "bfloat16", "pass": "forward+backward", "rows": []}
    for t, d in shapes:
        f = 4 * d
        ks = jax.random.split(jax.random.PRNGKey(0), 4)
        x = jax.random.normal(ks[0], (t, d), dt)
        params = {"router": (jax.random.normal(ks[1], (d, e)) * 0.02).astype(dt),
                  "w1": (jax.random.normal(ks[2], (e, d, f)) / math.sqrt(d)).astype(dt),
                  "w2": (jax.random.normal(ks[3], (e, f, d)) / math.sqrt(f)).astype(dt)}
        routed_flops = 3 * 2 * 2 * t * k * d * f  # fwd + bwd (x3) of two matmuls over the T k routed rows
        row = {"tokens": t, "d_model": d, "d_ff": f, "routed_tflop": routed_flops / 1e12}

        def grad_fn(fn, p, xx):
            g = jax.jit(jax.grad(lambda p, xx: jnp.sum(fn(p, xx).astype(jnp.float32) ** 2), argnums=(0, 1)))
            return lambda: jax.block_until_ready(g(p, xx))

        cases = {}
        for impl in ("capacity", "dropless_tiles", "dropless_ragged"):
            spec = L.make_moe_spec("topk", e, f, router_kwargs={"k": k}, dispatch=impl, capacity_factor=cf)
            cases[impl] = grad_fn(lambda p, xx, spec=spec: L.moe_ffn(spec, p, {}, xx)[0], params, x)
        xr = jax.random.normal(ks[0], (t * k, d), dt)  # the routed rows through one expert: the floor
        dense = {"w1": params["w1"][0], "w2": params["w2"][0]}
        cases["dense_floor"] = grad_fn(lambda p, xx: jax.nn.gelu(xx @ p["w1"]) @ p["w2"], dense, xr)
        for name, fn in cases.items():
            try:
                med, _ = _median_time(fn, 1 if smoke else 5)
                row[name] = {"median_s": med, "tflops": routed_flops / med / 1e12}
            except Exception as ex:  # noqa: BLE001
                row[name] = {"error": f"{type(ex).__name__}: {str(ex)[:300]}"}
        out["rows"].append(row)
        print(f"  moe_layer T={t} d={d}: " + ", ".join(
            f"{n} {v['tflops']:.0f} TFLOP/s" for n, v in row.items() if isinstance(v, dict) and "tflops" in v),
            flush=True)
    return out


def moe_lm(smoke: bool) -> dict:
    """Training-step throughput of configs/lossfree_balance/large.py (d 1024, 8 MoE layers, 8 experts
    top-2, seq 512, bf16): tokens/s, model TFLOP/s (lib.moe.tasks.flops_per_token) and MFU."""
    import optax

    from configs.lossfree_balance import large
    from lib import perf
    from lib.moe import tasks
    from projects.lossfree_balance.train import update_router_state

    variants = [("capacity", "none")] if smoke else [("capacity", "none"), ("dropless_ragged", "none"),
                                                      ("dropless_tiles", "none"), ("capacity", "dots")]
    out = {"rows": []}
    for dispatch, remat in variants:
        c = large.get_config()
        c.moe.dispatch, c.model.remat = dispatch, remat
        if smoke:
            c.model.d_model, c.model.num_heads, c.model.num_layers, c.model.d_ff, c.model.seq_len = 64, 4, 2, 128, 64
            c.batch_size = 2
        task = tasks.load_task(c)
        tx, _ = tasks.optimizer(c)

        @jax.jit
        def step(params, opt_state, moe_state, batch, i):
            key = jax.random.fold_in(task.rng, i)
            params, opt_state, o = tasks.optimizer_step(task.model, tx, params, opt_state, moe_state, batch, i, key)
            return params, opt_state, update_router_state(task.spec, moe_state, o.intermediates, i), o.loss

        st = {"p": task.params, "o": tx.init(task.params), "m": task.moe_state, "i": 0}
        batch = jax.tree.map(jnp.asarray, task.batch_fn(0))

        def run():
            st["p"], st["o"], st["m"], loss = step(st["p"], st["o"], st["m"], batch, jnp.int32(st["i"]))
            st["i"] += 1
            jax.block_until_ready(loss)
            return float(loss)

        t = time.perf_counter()
        first_loss = run()
        compile_s = time.perf_counter() - t
        med, _ = _median_time(run, 2 if smoke else 8)
        tokens = c.batch_size * c.model.seq_len
        fpt = tasks.flops_per_token(c, task.corpus.vocab_size)
        u = perf.utilisation(fpt, tokens / med, c.compute_dtype)
        row = {"dispatch": dispatch, "remat": remat, "params_m": sum(a.size for a in jax.tree.leaves(st["p"])) / 1e6,
               "tokens_per_step": tokens, "step_s": med, "tokens_per_s": tokens / med, "first_step_s": compile_s,
               "flops_per_token_g": fpt / 1e9, "first_loss": first_loss, **u}
        out["rows"].append(row)
        print(f"  moe_lm {dispatch}/{remat}: {row['tokens_per_s']:.0f} tokens/s, {u['model_tflops_per_s']:.1f} TFLOP/s, "
              f"MFU {u['mfu']}", flush=True)
        del st, task
    return out


SECTIONS = {"fl_round": fl_round, "aggregators": aggregators, "gcn": gcn, "moe_layer": moe_layer, "moe_lm": moe_lm}


def _device_label() -> str:
    d = jax.devices()[0]
    return d.device_kind.replace(" ", "_") if d.platform != "cpu" else "cpu"


def markdown(res: dict) -> str:
    lines = [f"## Accelerator benchmarks: {res['device']}", "",
             f"Generated by `benchmarks/accelerator.py` from `{res['file']}` (jax {res['jax']}, "
             f"{res['devices']} device(s), host {res['host']}). Wall time {res['wall_s']:.0f} s.", ""]
    s = res["sections"]
    if "fl_round" in s and "cells" in s["fl_round"]:
        lines += ["### FL round (client-steps/s, ratio to peer A)", "",
                  "| model | clients | peer A | peer B | ours default | ours one-at-a-time | compile ours (s) |",
                  "|---|---|---|---|---|---|---|"]
        for c in s["fl_round"]["cells"]:
            r = c["results"]
            cell = lambda k: f"{r[k]['client_steps_per_s']:.0f} ({r[k]['ratio_vs_peer_a']:.2f}x)" if k in r else "-"  # noqa: E731
            lines.append(f"| {c['model']} | {c['clients']} | {cell('peer_a')} | {cell('peer_b')} | "
                         f"{cell('ours_auto')} | {cell('ours_seq')} | {r['ours_auto']['compile_s']:.1f} |")
        lines.append("")
    if "aggregators" in s and "K" in s["aggregators"]:
        a = s["aggregators"]
        lines += [f"### Aggregation rules, K = {a['K']} x D = {a['D']:,} float32 (target: < 50 ms)", "",
                  "| rule | median (ms) |", "|---|---|"]
        for k, v in a.items():
            if isinstance(v, dict):
                lines.append(f"| {k} | {v['median_s'] * 1e3:.2f} |" if "median_s" in v else f"| {k} | {v['error']} |")
        lines.append("")
    if "gcn" in s and "torch_device" in s["gcn"]:
        g = s["gcn"]
        lines += [f"### GCN step (2 layers, hidden {g['hidden']}, {g['features']} features) vs PyG on {g['torch_device']}",
                  "", "| graph | nodes | edges | ours (ms) | PyG scatter (ms) | PyG CSR (ms) | ours / PyG best |",
                  "|---|---|---|---|---|---|---|"]
        for k, v in g.items():
            if isinstance(v, dict):
                lines.append(f"| {k} | {v['nodes']:,} | {v['edges']:,} | {v['ours_s'] * 1e3:.2f} | "
                             f"{v['pyg_scatter_s'] * 1e3:.2f} | {v['pyg_csr_s'] * 1e3:.2f} | "
                             f"**{v['ours_over_pyg_best']:.2f}x** |")
        lines.append("")
    if "moe_layer" in s and "rows" in s["moe_layer"]:
        lines += ["### MoE layer forward+backward, bfloat16, 8 experts top-2 (TFLOP/s of the routed work)", "",
                  "| tokens | d_model | d_ff | capacity | sorted tiles | ragged_dot | dense floor |", "|---|---|---|---|---|---|---|"]
        for r in s["moe_layer"]["rows"]:
            cell = lambda n: f"{r[n]['tflops']:.0f}" if "tflops" in r.get(n, {}) else "err"  # noqa: E731
            lines.append(f"| {r['tokens']} | {r['d_model']} | {r['d_ff']} | {cell('capacity')} | "
                         f"{cell('dropless_tiles')} | {cell('dropless_ragged')} | {cell('dense_floor')} |")
        lines.append("")
    if "moe_lm" in s and "rows" in s["moe_lm"]:
        lines += ["### MoE LM training step (configs/lossfree_balance/large.py: d 1024, 8 MoE layers, 8 experts "
                  "top-2, seq 512, bf16)", "",
                  "| dispatch | remat | params (M) | tokens/step | step (ms) | tokens/s | model TFLOP/s | MFU |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in s["moe_lm"]["rows"]:
            mfu = f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "n/a (peak unknown)"
            lines.append(f"| {r['dispatch']} | {r['remat']} | {r['params_m']:.0f} | {r['tokens_per_step']} | "
                         f"{r['step_s'] * 1e3:.1f} | {r['tokens_per_s']:.0f} | {r['model_tflops_per_s']:.1f} | {mfu} |")
        lines.append("")
    for name, v in s.items():
        if isinstance(v, dict) and "error" in v and len(v) <= 2:
            lines.append(f"Section {name} failed: {v['error']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CPU test of the script)")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    label = _device_label() + ("_smoke" if args.smoke else "")
    res = {"device": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform,
           "devices": jax.device_count(), "jax": jax.__version__, "host": cpu_model(),
           "file": f"accelerator_{label}.json", "smoke": args.smoke, "sections": {}}
    for name in args.sections.split(","):
        print(f"== {name}", flush=True)
        ts = time.perf_counter()
        try:
            res["sections"][name] = SECTIONS[name](args.smoke)
        except Exception as e:  # noqa: BLE001: record and go on with the next section
            traceback.print_exc()
            res["sections"][name] = {"error": f"{type(e).__name__}: {str(e)[:500]}"}
        res["sections"][name]["section_wall_s"] = time.perf_counter() - ts
        res["wall_s"] = time.perf_counter() - t0
        os.makedirs(args.out, exist_ok=True)  # written after every section: a timeout keeps the rest
        with open(os.path.join(args.out, res["file"]), "w") as f:
            json.dump(res, f, indent=1, default=float)
        with open(os.path.join(args.out, res["file"][:-5] + ".md"), "w") as f:
            f.write(markdown(res))
    print(markdown(res))
    return 1 if any("error" in v and len(v) <= 2 for v in res["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
