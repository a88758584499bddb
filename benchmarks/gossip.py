"""Decentralized rounds: the lib.dl engine vs the per-node loop the papers' code runs; dense vs ppermute gossip.

Part `round` (1 device; issue 13's target: >= 3x on CPU, MLP, 64 nodes): 64 nodes on a ring
(Metropolis-Hastings W), 64 random MNIST-shaped samples per node, MLP 784-200-200-10, DSGDm-N
(Nesterov 0.9), H = 4 local SGD steps of batch 16 per round, then one gossip step. Same inputs
for every implementation:

- peer: what the papers' PyTorch code and FedML's decentralized simulator do, in JAX: a Python
  loop over nodes, each running its H steps as calls of one jitted optax SGD-Nesterov step on a
  NumPy-drawn minibatch, then a NumPy mixing step (node models flattened and stacked on the host,
  W @ X in NumPy, unflattened back to per-node device arrays).
- ours: `lib.dl.engine.round_fn` (local steps for every node + gossip, one jitted program) in its
  CPU default (node_batch='auto': nodes stepped one after another in a lax.map) and with all
  nodes vmapped (node_batch=None).

Part `gossip` (8 simulated CPU devices, a subprocess with XLA_FLAGS set): 1024 nodes, each with
a state of D floats (default the 25,450 parameters of an MLP 784-32-10), ring and torus;
`lib.dl.gossip.mix` dense (W @ X under GSPMD) vs ppermute (neighbour exchange per edge colour),
one gossip step, and the bytes of the state each device holds.

Reported: node-steps/s and its ratio to the peer (round), seconds per gossip step and the
ratio dense/ppermute (gossip); medians of interleaved repeats after a warm-up; CPU model, core
count and load average. Results: benchmarks/results/gossip.json and gossip.md.

    python benchmarks/gossip.py [--repeats 5] [--nodes 64] [--gossip-nodes 1024] [--parts round,gossip]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
if "--child-gossip" in sys.argv:  # before jax is imported
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from lib import loop_jit  # noqa: E402
from lib.dl import engine, gossip as gossip_lib, topology as topo_lib  # noqa: E402
from lib.fl import client as client_lib  # noqa: E402
from lib.models.mlp import MLP  # noqa: E402

SAMPLES, BATCH, H, LR, MU = 64, 16, 4, 0.05, 0.9


class FlatMLP(nn.Module):
    hidden: tuple = (200, 200)

    @nn.compact
    def __call__(self, x):
        return MLP(hidden=self.hidden, num_classes=10)(x.reshape(x.shape[0], -1))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def setup(nodes: int, hidden=(200, 200), seed: int = 0):
    r = np.random.default_rng(seed)
    x = r.random((nodes * SAMPLES, 28, 28), dtype=np.float32)
    y = r.integers(0, 10, nodes * SAMPLES).astype(np.int32)
    parts = [np.arange(i * SAMPLES, (i + 1) * SAMPLES) for i in range(nodes)]
    model = FlatMLP(hidden=tuple(hidden))
    params = model.init(jax.random.PRNGKey(seed), jnp.asarray(x[:1]))["params"]

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb)

    w = gossip_lib.validated(topo_lib.ring(nodes), "metropolis_hastings")
    return x, y, parts, params, loss_fn, w


def ours(x, y, parts, params, loss_fn, w, node_batch):
    local = client_lib.LocalConfig(batch_size=BATCH, num_steps=H)
    eng = engine.build(loss_fn=loss_fn, local=local, method=engine.dsgd(MU, nesterov=True), w=w,
                       mesh=engine.nodes_mesh(1), gossip="auto", node_batch=node_batch)
    data = engine.put_data(eng, client_lib.pack_clients(x, y, parts, BATCH))
    state = {"s": engine.place(eng, engine.init(eng, params, seed=0))}
    hp = {"lr": jnp.float32(LR)}
    fn = loop_jit.jit(engine.round_fn(eng), eng.mesh.devices.flat[0].platform)
    t = time.perf_counter()
    compiled = fn.lower(state["s"], data, hp).compile()
    compile_s = time.perf_counter() - t

    def run_round():
        state["s"], m = compiled(state["s"], data, hp)
        jax.block_until_ready(state["s"])

    return run_round, compile_s


def peer(x, y, parts, params, loss_fn, w):
    opt = optax.sgd(LR, momentum=MU, nesterov=True)
    n = len(parts)

    @jax.jit
    def sgd_step(p, o, xb, yb):
        g = jax.grad(lambda q: jnp.mean(loss_fn(q, xb, yb)))(p)
        u, o = opt.update(g, o, p)
        return optax.apply_updates(p, u), o

    models = [params for _ in range(n)]
    opts = [opt.init(params) for _ in range(n)]
    rng = np.random.default_rng(0)
    leaves0, treedef = jax.tree.flatten(params)
    shapes = [l.shape for l in leaves0]
    sizes = [int(np.prod(s)) for s in shapes]
    w0 = np.asarray(w[0], np.float32)
    t = time.perf_counter()
    sgd_step.lower(params, opts[0], x[:BATCH], y[:BATCH]).compile()
    compile_s = time.perf_counter() - t

    def run_round():
        for i in range(n):
            p, o = models[i], opts[i]
            xi, yi = x[parts[i]], y[parts[i]]
            for _ in range(H):
                b = rng.choice(len(parts[i]), BATCH, replace=False)
                p, o = sgd_step(p, o, xi[b], yi[b])
            models[i], opts[i] = p, o
        flat = np.stack([np.concatenate([np.asarray(l).ravel() for l in jax.tree.leaves(m)]) for m in models])
        mixed = w0 @ flat  # the NumPy mixing step
        for i in range(n):
            out, off = [], 0
            for s, k in zip(shapes, sizes):
                out.append(jnp.asarray(mixed[i, off:off + k].reshape(s)))
                off += k
            models[i] = jax.tree.unflatten(treedef, out)
        jax.block_until_ready(models)

    return run_round, compile_s


def timed(fns: dict, repeats: int) -> dict:
    for f in fns.values():
        f()  # warm-up
    times = {k: [] for k in fns}
    for _ in range(repeats):  # interleaved
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return times


def part_round(nodes: int, repeats: int, hidden) -> dict:
    x, y, parts, params, loss_fn, w = setup(nodes, hidden)
    made = {"peer": peer(x, y, parts, params, loss_fn, w),
            "ours_auto": ours(x, y, parts, params, loss_fn, w, "auto"),
            "ours_vmap": ours(x, y, parts, params, loss_fn, w, None)}
    times = timed({k: v[0] for k, v in made.items()}, repeats)
    steps = nodes * H
    out = {k: {"times_s": ts, "median_s": statistics.median(ts), "node_steps_per_s": steps / statistics.median(ts),
               "compile_s": made[k][1]} for k, ts in times.items()}
    for k in out:
        out[k]["ratio_vs_peer"] = out[k]["node_steps_per_s"] / out["peer"]["node_steps_per_s"]
    return out


def part_gossip(nodes: int, dim: int, repeats: int) -> dict:
    mesh = engine.nodes_mesh(8)
    x = jax.device_put(jnp.asarray(np.random.default_rng(0).normal(size=(nodes, dim)), jnp.float32),
                       gossip_lib.node_sharding(mesh))
    res = {}
    for topo in ("ring", "torus"):
        w = gossip_lib.validated(topo_lib.make(topo, nodes), "metropolis_hastings")
        fns, cols, outs = {}, {}, {}
        for kind in ("dense", "ppermute"):
            g = gossip_lib.build(w, kind=kind, mesh=mesh)
            f = jax.jit(lambda t, g=g: gossip_lib.mix(g, {"x": t}, 0)["x"])
            out = outs[kind] = f(x)
            fns[kind] = lambda f=f: jax.block_until_ready(f(x))
            cols[kind] = g.num_collectives
            res.setdefault(topo, {})[f"{kind}_shard_bytes"] = int(out.addressable_shards[0].data.nbytes)
        a, b = (np.asarray(outs[k]) for k in ("dense", "ppermute"))
        times = timed(fns, repeats)
        res[topo].update({k: {"median_s": statistics.median(ts), "times_s": ts} for k, ts in times.items()})
        res[topo]["ppermutes_per_step"] = cols["ppermute"]
        res[topo]["max_abs_diff"] = float(np.abs(a - b).max())
        res[topo]["dense_over_ppermute"] = res[topo]["dense"]["median_s"] / res[topo]["ppermute"]["median_s"]
    res["state_bytes_total"] = nodes * dim * 4
    return res


def markdown(res: dict) -> str:
    rows = ["## Decentralized round: lib.dl engine vs a per-node loop (cpu)", "",
            f"Generated by `benchmarks/gossip.py` from `gossip.json`. Host CPU: {res['cpu_model']}, {res['cpu_count']} "
            f"cores, shared with other jobs while measured (1-minute load averages below; 2 = both cores busy); "
            f"jax {res['jax']}; median of {res['repeats']} interleaved repeats after a warm-up.", ""]

    def load(part):
        m = res.get(f"{part}_measured") or {}
        if m.get("load_avg_1m_before") is None:
            return ""
        return f" Load average {m['load_avg_1m_before']:.1f} before, {m['load_avg_1m_after']:.1f} after."
    if "round" in res:
        rows += [f"**Full round**, {res['nodes']} nodes on a ring (Metropolis-Hastings), {SAMPLES} samples per node, "
                 f"DSGDm-N, {H} local steps of batch {BATCH} per node + 1 gossip step (ours: gossip='auto', the sparse "
                 "neighbour gathers; peer: dense NumPy W @ X), 1 CPU device. Ratio = node-steps/s over the peer's." + load("round"), "",
                 "| MLP | implementation | round (s) | node-steps/s | vs peer | compile (s) |", "|---|---|---|---|---|---|"]
        labels = {"peer": "peer: Python loop over nodes of a jitted SGD step + NumPy W @ X",
                  "ours_auto": "ours, CPU default (node_batch='auto': lax.map over nodes)",
                  "ours_vmap": "ours, all nodes vmapped (node_batch=None)"}
        for name, r in res["round"].items():
            for k, v in r.items():
                rows.append(f"| {name} | {labels[k]} | {v['median_s']:.3f} | {v['node_steps_per_s']:.0f} | "
                            f"**{v['ratio_vs_peer']:.2f}x** | {v['compile_s']:.1f} |")
        rows.append("")
    if "gossip" in res:
        g = res["gossip"]
        rows += [f"**One gossip step**, {res['gossip_nodes']} nodes x {res['gossip_dim']} floats "
                 f"({g['state_bytes_total'] / 2**20:.0f} MiB in all) on 8 simulated CPU devices (the 2 host cores "
                 "run all 8)." + load("gossip"), "",
                 "| graph | dense W @ X (s) | ppermute (s) | dense / ppermute | ppermutes per step | state bytes per device | max abs diff |",
                 "|---|---|---|---|---|---|---|"]
        for topo in ("ring", "torus"):
            t = g[topo]
            rows.append(f"| {topo} | {t['dense']['median_s']:.4f} | {t['ppermute']['median_s']:.4f} | "
                        f"**{t['dense_over_ppermute']:.1f}x** | {t['ppermutes_per_step']} | "
                        f"{t['ppermute_shard_bytes'] / 2**20:.1f} MiB | {t['max_abs_diff']:.1e} |")
        rows.append("")
    return "\n".join(rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--gossip-nodes", type=int, default=1024)
    ap.add_argument("--gossip-dim", type=int, default=784 * 32 + 32 + 32 * 10 + 10)
    ap.add_argument("--parts", default="round,gossip")
    ap.add_argument("--hidden", default="200,200;32", help="MLP hidden sizes per round setting, ';'-separated")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--child-gossip", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_gossip:
        print(json.dumps(part_gossip(args.gossip_nodes, args.gossip_dim, args.repeats)))
        return
    res = {"cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "jax": jax.__version__, "repeats": args.repeats,
           "load_avg_1m_before": os.getloadavg()[0], "nodes": args.nodes, "gossip_nodes": args.gossip_nodes,
           "gossip_dim": args.gossip_dim, "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    parts = args.parts.split(",")
    if "round" in parts:
        res["round"] = {}
        for hidden in args.hidden.split(";"):
            hid = tuple(int(h) for h in hidden.split(","))
            name = "784-" + "-".join(map(str, hid)) + "-10"
            res["round"][name] = r = part_round(args.nodes, args.repeats, hid)
            for k, v in r.items():
                print(f"   {name} {k:10s} {v['median_s']:.3f} s  {v['node_steps_per_s']:.0f} node-steps/s  "
                      f"{v['ratio_vs_peer']:.2f}x  compile {v['compile_s']:.1f} s", flush=True)
    if "gossip" in parts:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-gossip", "--repeats", str(args.repeats),
                              "--gossip-nodes", str(args.gossip_nodes), "--gossip-dim", str(args.gossip_dim)],
                             capture_output=True, text=True, check=True)
        res["gossip"] = json.loads(out.stdout.strip().splitlines()[-1])
    res["load_avg_1m_after"] = os.getloadavg()[0]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gossip.json")
    if os.path.exists(path) and set(parts) != {"round", "gossip"}:  # a partial rerun keeps the other part
        with open(path) as f:
            old = json.load(f)
        for part in {"round", "gossip"} - set(parts):
            if part in old:
                res[part] = old[part]
                res[f"{part}_measured"] = old.get(f"{part}_measured", {k: old.get(k) for k in (
                    "uptime", "load_avg_1m_before", "load_avg_1m_after")})
    for part in parts:
        res[f"{part}_measured"] = {k: res[k] for k in ("uptime", "load_avg_1m_before", "load_avg_1m_after")}
    with open(os.path.join(args.out, "gossip.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(args.out, "gossip.md"), "w") as f:
        f.write(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
