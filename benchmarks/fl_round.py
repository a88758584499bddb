"""One FedAvg round through lib.fl vs the same round client by client (jitted per client).

Setting (issue 3): the LEAF 2-conv EMNIST CNN (lib.models.cnn.LeafCNN, 62 classes),
20 clients x 64 samples, batch 16, 1 local epoch (4 SGD steps per client), FedAvg.

- ours: lib.fl.engine round (one jitted program, sharded over the `clients` mesh axis = all
  local devices), participation uniform 20 of 20; twice: all clients vmapped at once
  (client_batch=None, the accelerator setting) and one client at a time inside the program
  (client_batch=1, lax.map: no batched per-client convolutions, which XLA:CPU runs slowly).
- peer: a jitted `train_client` (its 4 steps in a lax.fori_loop) called once per client
  from Python, then a jitted weighted mean + server step: the usual simulation loop.

Both are timed in the same process, interleaved, median of `--repeats` rounds after a
warm-up (compile excluded). Reported: client-steps per second (20 x 4 / round time) and
the ratio ours/peer. Writes benchmarks/results/fl_round.json and the table fl_round.md.

    python benchmarks/fl_round.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from lib.fl import client as client_lib  # noqa: E402
from lib.fl import engine, participation, server  # noqa: E402
from lib.models.cnn import LeafCNN  # noqa: E402

CLIENTS, SAMPLES, BATCH, EPOCHS, LR = 20, 64, 16, 1, 0.05
STEPS = EPOCHS * SAMPLES // BATCH


def setup(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((CLIENTS * SAMPLES, 28, 28), dtype=np.float32)
    y = rng.integers(0, 62, CLIENTS * SAMPLES).astype(np.int32)
    parts = [np.arange(k * SAMPLES, (k + 1) * SAMPLES) for k in range(CLIENTS)]
    model = LeafCNN(num_classes=62)
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(x[:1]))["params"]

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb)

    return x, y, parts, params, loss_fn


def ours(x, y, parts, params, loss_fn, client_batch=None):
    sim = engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(BATCH, "epochs", num_epochs=EPOCHS),
                       participation=participation.uniform(CLIENTS, CLIENTS), server_opt=server.make("sgd", 1.0),
                       capacity=CLIENTS, mesh=engine.clients_mesh(), client_batch=client_batch)
    data = engine.put_data(sim, client_lib.pack_clients(x, y, parts, BATCH))
    state = engine.put_state(sim, engine.init(sim, params, seed=0))
    step = jax.jit(engine.round_fn(sim))
    hp = {"lr": LR}

    def run_round():
        nonlocal state
        state, m = step(state, data, hp)
        jax.block_until_ready(state["params"])

    return run_round


def peer(x, y, parts, params, loss_fn):
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

    @jax.jit
    def server_step(p, deltas, w):
        w = w / w.sum()
        return jax.tree.map(lambda a, *d: a + sum(wi * di for wi, di in zip(w, d)), p, *deltas)

    state = {"params": params, "round": 0}
    weights = jnp.full((CLIENTS,), float(SAMPLES))

    def run_round():
        key = jax.random.fold_in(jax.random.PRNGKey(0), state["round"])
        deltas = [train_client(state["params"], xs[k], ys[k], jax.random.fold_in(key, k)) for k in range(CLIENTS)]
        state["params"] = server_step(state["params"], deltas, weights)
        state["round"] += 1
        jax.block_until_ready(state["params"])

    return run_round


IMPLS = ("ours", "ours_client_batch_1", "peer")
LABELS = {"ours": "lib.fl engine (all clients vmapped, one jitted round)",
          "ours_client_batch_1": "lib.fl engine (client_batch=1: clients in sequence inside one jitted round)",
          "peer": "per-client jitted loop (Python loop over clients)"}
SHORT = {"ours": "all clients vmapped", "ours_client_batch_1": "client_batch=1"}


def markdown(res: dict) -> str:
    rows = ["| implementation | round time (s, median) | client-steps / s |", "|---|---|---|"]
    for name in IMPLS:
        r = res[name]
        rows.append(f"| {r['label']} | {r['median_s']:.3f} | {r['client_steps_per_s']:.1f} |")
    rows.append("")
    ratios = ", ".join(f"{SHORT[k]} **{res[k]['ratio']:.2f}x**" for k in IMPLS if k != "peer")
    rows.append(f"Ratio ours / peer (client-steps per second): {ratios}. "
                f"{res['setting']}. Device: {res['device']} ({res['devices']} device(s)), {res['note']}")
    return "\n".join(rows) + "\n"


def main(argv=None):
    global CLIENTS, SAMPLES, STEPS
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--clients", type=int, default=CLIENTS, help="smaller values: quick sanity runs only")
    ap.add_argument("--samples", type=int, default=SAMPLES)
    ap.add_argument("--note", default="2 CPU cores, no GPU lent in this session; ratio from interleaved runs")
    args = ap.parse_args(argv)
    CLIENTS, SAMPLES = args.clients, args.samples
    STEPS = EPOCHS * SAMPLES // BATCH
    x, y, parts, params, loss_fn = setup()
    fns = {"ours": ours(x, y, parts, params, loss_fn), "ours_client_batch_1": ours(x, y, parts, params, loss_fn, 1),
           "peer": peer(x, y, parts, params, loss_fn)}
    t0 = time.perf_counter()
    for f in fns.values():  # warm-up: compile
        f()
    compile_s = time.perf_counter() - t0
    times = {k: [] for k in fns}
    for _ in range(args.repeats):  # interleaved
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    steps = CLIENTS * STEPS
    res = {
        "setting": f"LEAF CNN (62 classes), {CLIENTS} clients x {SAMPLES} samples, batch {BATCH}, "
                   f"{EPOCHS} local epoch ({STEPS} steps/client), FedAvg",
        "device": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform,
        "devices": jax.device_count(), "host": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "repeats": args.repeats, "warmup_incl_compile_s": compile_s,
        "load_avg_1m_before": os.getloadavg()[0], "note": args.note,
    }
    for k, ts in times.items():
        med = statistics.median(ts)
        res[k] = {"label": LABELS[k], "times_s": ts, "median_s": med, "client_steps_per_s": steps / med}
    for k in IMPLS:
        res[k]["ratio"] = res[k]["client_steps_per_s"] / res["peer"]["client_steps_per_s"]
    res["ratio"] = res["ours"]["ratio"]
    res["load_avg_1m_after"] = os.getloadavg()[0]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fl_round.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(args.out, "fl_round.md"), "w") as f:
        f.write(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
