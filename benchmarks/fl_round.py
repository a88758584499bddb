"""One FedAvg round: the lib.fl engine vs the loops researchers write, same inputs, one run.

Setting (issue 10): cohorts of 20 and 200 clients x 64 samples, batch 16, 1 local epoch
(4 SGD steps per client), FedAvg with server lr 1. Models: the LEAF EMNIST CNN (5x5 convs
32/64, dense 2048), the small EMNIST CNN (3x3 convs 32/64, one 2x2 max-pool, dense 128,
62 classes: FedJAX's / TFF's EMNIST model without dropout) and an MLP 784-200-200-10.

Implementations, timed interleaved in one process after a warm-up round (compile excluded
from the round times; compile time reported separately):

- peer A: the client as Flower and FedJAX write it: a Python loop over the client's
  minibatches (NumPy permutation per epoch) calling one jitted SGD step per batch, a
  Python loop over clients, then a jitted weighted mean for the server.
- peer B: one jitted `train_client` per client with its steps in a `lax.fori_loop`, called
  from a Python loop over clients (the previous benchmark's peer).
- ours: `lib.fl.engine` round (one jitted program, all local devices on the `clients` axis)
  in its default mode for the platform (client_batch='auto') and each alternative mode:
  all clients vmapped (None) and one client at a time (1).

Reported: client-steps per second, ratio to peer A, and the first call's compile time
(lower + compile of each implementation's jitted functions). Results go to
benchmarks/results/fl_round[_<platform>].json and .md.

    python benchmarks/fl_round.py [--repeats 3] [--cohorts 20,200] [--models leaf_cnn,small_cnn,mlp]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from lib import autotune  # noqa: E402
from lib.fl import client as client_lib  # noqa: E402
from lib.fl import engine, participation, server  # noqa: E402
from lib.models.cnn import LeafCNN  # noqa: E402
from lib.models.mlp import MLP  # noqa: E402

SAMPLES, BATCH, EPOCHS, LR = 64, 16, 1, 0.05
STEPS = EPOCHS * SAMPLES // BATCH


class SmallEmnistCNN(nn.Module):
    """conv3x3-32, conv3x3-64, maxpool 2, dense 128, dense 62 (ReLU)."""

    @nn.compact
    def __call__(self, x):
        x = x[..., None]
        x = nn.relu(nn.Conv(32, (3, 3))(x))
        x = nn.relu(nn.Conv(64, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), (2, 2)).reshape(x.shape[0], -1)
        return nn.Dense(62)(nn.relu(nn.Dense(128)(x)))


class FlatMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return MLP(hidden=(200, 200), num_classes=10)(x.reshape(x.shape[0], -1))


MODELS = {"leaf_cnn": (LeafCNN(num_classes=62), 62), "small_cnn": (SmallEmnistCNN(), 62), "mlp": (FlatMLP(), 10)}
LABELS = {"peer_a": "peer A: Python loop of one jitted SGD step per batch",
          "peer_b": "peer B: per-client jitted fori_loop",
          "ours_auto": "ours, default for the platform (client_batch='auto')",
          "ours_vmap": "ours, all clients vmapped (client_batch=None)",
          "ours_seq": "ours, one client at a time (client_batch=1)"}


def setup(model_name, clients, seed=0):
    model, classes = MODELS[model_name]
    rng = np.random.default_rng(seed)
    x = rng.random((clients * SAMPLES, 28, 28), dtype=np.float32)
    y = rng.integers(0, classes, clients * SAMPLES).astype(np.int32)
    parts = [np.arange(k * SAMPLES, (k + 1) * SAMPLES) for k in range(clients)]
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(x[:1]))["params"]

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb)

    return x, y, parts, params, loss_fn


def _timed_compile(fn, *args):
    t = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - t


def ours(x, y, parts, params, loss_fn, client_batch, **build_kw):
    """One engine round (FedAvg unless `build_kw` says otherwise: aggregator, rule_params, ...)."""
    n = len(parts)
    sim = engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(BATCH, "epochs", num_epochs=EPOCHS),
                       participation=participation.uniform(n, n), server_opt=server.make("sgd", 1.0),
                       capacity=n, mesh=engine.clients_mesh(), client_batch=client_batch, **build_kw)
    data = engine.put_data(sim, client_lib.pack_clients(x, y, parts, BATCH))
    state = engine.put_state(sim, engine.init(sim, params, seed=0))
    hp = {"lr": LR}
    step, compile_s = _timed_compile(engine.jit(sim, engine.round_fn(sim)), state, data, hp)

    def run_round():
        nonlocal state
        state, _ = step(state, data, hp)
        jax.block_until_ready(state["params"])

    return run_round, compile_s


def _server(params, n):
    @jax.jit
    def server_step(p, deltas, w):
        w = w / w.sum()
        return jax.tree.map(lambda a, *d: a + sum(wi * di for wi, di in zip(w, d)), p, *deltas)

    return server_step, jnp.full((n,), float(SAMPLES))


def peer_a(x, y, parts, params, loss_fn):
    """What a Flower / FedJAX client does: one jitted SGD step per minibatch."""
    opt = optax.sgd(LR)

    @jax.jit
    def sgd_step(p, o, xb, yb):
        g = jax.grad(lambda q: loss_fn(q, xb, yb).mean())(p)
        u, o = opt.update(g, o, p)
        return optax.apply_updates(p, u), o

    xs = [x[p] for p in parts]
    ys = [y[p] for p in parts]
    server_step, weights = _server(params, len(parts))
    _, compile_s = _timed_compile(sgd_step, params, opt.init(params), xs[0][:BATCH], ys[0][:BATCH])
    state = {"params": params, "round": 0}

    def run_round():
        rng = np.random.default_rng(state["round"])
        deltas = []
        for xc, yc in zip(xs, ys):
            p, o = state["params"], opt.init(state["params"])
            for _ in range(EPOCHS):
                perm = rng.permutation(len(yc))
                for s in range(0, len(yc), BATCH):
                    sel = perm[s:s + BATCH]
                    p, o = sgd_step(p, o, xc[sel], yc[sel])
            deltas.append(jax.tree.map(lambda a, b: a - b, p, state["params"]))
        state["params"] = server_step(state["params"], deltas, weights)
        state["round"] += 1
        jax.block_until_ready(state["params"])

    return run_round, compile_s


def peer_b(x, y, parts, params, loss_fn):
    """One jitted fori_loop per client (all its local steps inside the program)."""
    xs = [jnp.asarray(x[p]) for p in parts]
    ys = [jnp.asarray(y[p]) for p in parts]
    opt = optax.sgd(LR)

    @jax.jit
    def train_client(p0, xc, yc, key):
        perm = jax.random.permutation(key, SAMPLES)

        def body(s, carry):
            p, o = carry
            sel = jax.lax.dynamic_slice(perm, (s * BATCH,), (BATCH,))
            g = jax.grad(lambda q: loss_fn(q, xc[sel], yc[sel]).mean())(p)
            u, o = opt.update(g, o, p)
            return optax.apply_updates(p, u), o

        p, _ = jax.lax.fori_loop(0, STEPS, body, (p0, opt.init(p0)))
        return jax.tree.map(lambda a, b: a - b, p, p0)

    server_step, weights = _server(params, len(parts))
    train_client, compile_s = _timed_compile(train_client, params, xs[0], ys[0], jax.random.PRNGKey(0))
    state = {"params": params, "round": 0}

    def run_round():
        key = jax.random.fold_in(jax.random.PRNGKey(0), state["round"])
        deltas = [train_client(state["params"], xs[k], ys[k], jax.random.fold_in(key, k)) for k in range(len(xs))]
        state["params"] = server_step(state["params"], deltas, weights)
        state["round"] += 1
        jax.block_until_ready(state["params"])

    return run_round, compile_s


def step_flops(params, loss_fn, xb, yb) -> float:
    """FLOPs of one client SGD step (forward, backward, update) by XLA's cost analysis."""
    def step(p):
        g = jax.grad(lambda q: loss_fn(q, xb, yb).mean())(p)
        return jax.tree.map(lambda a, b: a - LR * b, p, g)

    cost = jax.jit(step).lower(params).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan")))


def matmul_gflops(n=2048, repeats=5) -> float:
    """This machine's float32 rate on a large square matmul (the practical compute ceiling)."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = min(_wall(lambda: f(a).block_until_ready()) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _wall(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(model_name, clients, repeats, impls):
    x, y, parts, params, loss_fn = setup(model_name, clients)
    flops = step_flops(params, loss_fn, jnp.asarray(x[parts[0][:BATCH]]), jnp.asarray(y[parts[0][:BATCH]]))
    makers = {"peer_a": lambda: peer_a(x, y, parts, params, loss_fn),
              "peer_b": lambda: peer_b(x, y, parts, params, loss_fn),
              "ours_auto": lambda: ours(x, y, parts, params, loss_fn, "auto"),
              "ours_vmap": lambda: ours(x, y, parts, params, loss_fn, None),
              "ours_seq": lambda: ours(x, y, parts, params, loss_fn, 1)}
    fns, compile_s = {}, {}
    for k in impls:
        fns[k], compile_s[k] = makers[k]()
        fns[k]()  # warm-up (first execution)
    times = {k: [] for k in fns}
    for _ in range(repeats):  # interleaved
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    steps = clients * STEPS
    out = {}
    for k, ts in times.items():
        med = statistics.median(ts)
        out[k] = {"times_s": ts, "median_s": med, "client_steps_per_s": steps / med, "compile_s": compile_s[k],
                  "gflops_per_s": steps / med * flops / 1e9, "flops_per_step": flops}
    for k in out:
        out[k]["ratio_vs_peer_a"] = out[k]["client_steps_per_s"] / out["peer_a"]["client_steps_per_s"]
    return out


def markdown(res: dict) -> str:
    dev = res["device"]
    rows = [f"## FL round: lib.fl engine vs per-client loops ({dev})", "",
            f"Generated by `benchmarks/fl_round.py` from `{res['file']}`. {res['setting']}. Device: {dev} "
            f"({res['devices']} device(s)); host CPU: {res['cpu_model']}, {res['cpu_count']} cores; load average "
            f"{res['load_avg_1m_before']:.2f} before, {res['load_avg_1m_after']:.2f} after; median of "
            f"{res['repeats']} interleaved rounds. Ratio = client-steps/s over peer A's. Default mode here: "
            f"{res['default_mode']}.", "",
            "| model | clients | implementation | round (s) | client-steps/s | vs peer A | compile (s) | GFLOP/s |",
            "|---|---|---|---|---|---|---|---|"]
    for cell in res["cells"]:
        for k, r in cell["results"].items():
            gf = f"{r['gflops_per_s']:.1f}" if "gflops_per_s" in r else "-"
            rows.append(f"| {cell['model']} | {cell['clients']} | {LABELS[k]} | {r['median_s']:.3f} | "
                        f"{r['client_steps_per_s']:.1f} | **{r['ratio_vs_peer_a']:.2f}x** | {r['compile_s']:.1f} | {gf} |")
    rows.append("")
    if "matmul_gflops" in res:
        rows += [f"Compute ceiling: a 2048 x 2048 float32 matmul runs at {res['matmul_gflops']:.0f} GFLOP/s on this "
                 "machine (best of 5). GFLOP/s = client-steps/s x the FLOPs of one step (XLA cost analysis: "
                 + ", ".join(f"{c['model']} {next(iter(c['results'].values()))['flops_per_step'] / 1e6:.1f} MFLOP"
                             for c in res["cells"] if c["clients"] == res["cells"][0]["clients"])
                 + "). 3x peer A would need, per model and cohort: "
                 + "; ".join(f"{c['model']}/{c['clients']}: {3 * c['results']['peer_a']['gflops_per_s']:.0f} GFLOP/s "
                             f"({300 * c['results']['peer_a']['gflops_per_s'] / res['matmul_gflops']:.0f} % of the "
                             "matmul rate)" for c in res["cells"] if "peer_a" in c["results"]) + ".", ""]
    rows.append(res["note"])
    return "\n".join(rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cohorts", default="20,200")
    ap.add_argument("--models", default="leaf_cnn,small_cnn,mlp")
    ap.add_argument("--impls", default=",".join(LABELS))
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--tag", default=None, help="results file suffix (default: the platform, e.g. cpu, gpu)")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    plat = jax.devices()[0].platform
    tag = args.tag or plat
    impls = args.impls.split(",")
    res = {"setting": f"{SAMPLES} samples per client, batch {BATCH}, {EPOCHS} local epoch ({STEPS} SGD steps "
                      f"per client), FedAvg",
           "device": jax.devices()[0].device_kind, "platform": plat, "devices": jax.device_count(),
           "cpu_model": autotune.cpu_model(), "cpu_count": os.cpu_count(), "repeats": args.repeats,
           "load_avg_1m_before": os.getloadavg()[0], "note": args.note, "jax": jax.__version__,
           "default_mode": "CPU: one client at a time (the auto and client_batch=1 rows run the same program: their difference is run-to-run noise); "
                           "GPU/TPU: all vmapped", "cells": [], "file": f"fl_round_{tag}.json"}
    res["matmul_gflops"] = matmul_gflops()
    for model in args.models.split(","):
        for clients in (int(c) for c in args.cohorts.split(",")):
            print(f"-- {model}, {clients} clients", flush=True)
            r = measure(model, clients, args.repeats, impls)
            res["cells"].append({"model": model, "clients": clients, "results": r})
            for k, v in r.items():
                print(f"   {k:10s} {v['median_s']:.3f} s  {v['client_steps_per_s']:.1f} steps/s  "
                      f"{v['ratio_vs_peer_a']:.2f}x  compile {v['compile_s']:.1f} s", flush=True)
    res["load_avg_1m_after"] = os.getloadavg()[0]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"fl_round_{tag}.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(args.out, f"fl_round_{tag}.md"), "w") as f:
        f.write(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
