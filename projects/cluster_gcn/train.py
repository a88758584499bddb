"""Cluster-GCN (Chiang et al., KDD 2019) and the full-batch GCN it is compared against.

mode='cluster': METIS splits the graph into `num_parts` clusters once; every epoch the clusters
are shuffled and taken `clusters_per_batch` at a time; a batch is the induced subgraph of their
union (the between-cluster edges among the chosen clusters are kept), built by
lib.graph.sampling.ClusterBatches on ClusterSampler and normalised per batch as
Ã = (D+I)^-1 (A+I) + λ diag(Ã) (diagonal enhancement,
lib.graph.norm 'cluster_gcn'). The loss is the mean cross-entropy over the training nodes in
the batch. `batches_per_step` batches are stacked per step (gradient of their pooled loss); with
`config.mesh` set their leading axis is sharded over the mesh axis 'data' (data parallel).
Evaluation runs the trained model on the full graph with the same normalisation.

mode='full': one step = one epoch on the whole graph (Kipf & Welling GCN with norm='gcn').

Batches are padded to one static bucket shape (the sampler's largest possible union) with node
and edge masks, so the step compiles once. The sampler is a pure function of (seed, epoch,
index); the position of the next batch is kept in the train state (`state['sampler']`), so it
is saved in every checkpoint and checked against the step on resume.
"""
from __future__ import annotations

import functools
import math
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import train as train_lib
from lib.data import graphs
from lib.graph import GCNConv, build_adjacency
from lib.graph.dropout import dropout
from lib.graph.parallel import shard_batch
from lib.graph.sampling import ClusterBatches

DATASETS = ("csbm", "cora", "citeseer", "random")
MODES = ("cluster", "full")
NORMS = ("gcn", "cluster_gcn")


class SamplerStateError(RuntimeError):
    """The checkpoint's sampler position does not match the batches this config would draw."""


# ----------------------------------------------------------------------------- config


def _integer(config, key):
    value = config_lib.positive(config, key)
    if not isinstance(value, int):
        raise config_lib.ConfigError(f"config.{key}={value!r} must be a positive integer")
    return value


def validate(config) -> None:
    """Everything that can be checked without the graph; raises ConfigError before any compile."""
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "mode", MODES)
    config_lib.choice(config, "model.norm", NORMS)
    config_lib.positive(config, "epochs")  # may be fractional (stops mid-epoch): ceil(epochs * steps/epoch) steps
    for key in ("model.layers", "model.hidden", "cluster.num_parts",
                "cluster.clusters_per_batch", "cluster.batches_per_step"):
        _integer(config, key)
    config_lib.positive(config, "learning_rate")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    config_lib.in_range(config, "model.dropout", 0.0, 0.99)
    lam = config_lib.get(config, "model.diag_lambda")
    if not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < -1:
        raise config_lib.ConfigError(f"config.model.diag_lambda={lam!r} must be a finite number >= -1 "
                                     "(-1 removes the self loop, 0 is plain (D+I)^-1 (A+I))")
    if config.model.norm == "gcn" and lam != 0:
        raise config_lib.ConfigError(f"config.model.diag_lambda={lam} is the diagonal enhancement of "
                                     "norm='cluster_gcn'; with config.model.norm='gcn' set it to 0")
    c = config.cluster
    if config.mode == "cluster" and c.clusters_per_batch > c.num_parts:
        raise config_lib.ConfigError(f"config.cluster.clusters_per_batch={c.clusters_per_batch} must be <= "
                                     f"config.cluster.num_parts={c.num_parts}")
    if config.mode == "full" and c.batches_per_step != 1:
        raise config_lib.ConfigError(f"config.cluster.batches_per_step={c.batches_per_step}: mode='full' "
                                     "has one batch (the whole graph) per step; use 1")


def make_mesh(config):
    """The 'data' mesh when config.mesh is set (batches_per_step must divide over it), else None."""
    spec = config.get("mesh")
    if not spec:
        return None
    mesh = mesh_lib.make_mesh(spec)
    if "data" not in mesh.shape:
        raise config_lib.ConfigError(f"config.mesh={spec} has no 'data' axis to shard batches over")
    config_lib.divisible(config, "cluster.batches_per_step", mesh.shape["data"],
                         f"the stacked cluster batches are split over mesh axis 'data' of size {mesh.shape['data']}")
    return mesh


def check_graph(config, g) -> None:
    n = int(np.asarray(g.node_mask).sum())
    if config.mode == "cluster" and config.cluster.num_parts > n:
        raise config_lib.ConfigError(f"config.cluster.num_parts={config.cluster.num_parts} must be <= the "
                                     f"number of nodes ({n}) of dataset {config.dataset!r}")
    if not np.asarray(g.train_mask).any():
        raise config_lib.ConfigError(f"dataset {config.dataset!r} has an empty train split")


# ----------------------------------------------------------------------------- batches


def full_batch(g, norm: str, lam: float) -> dict:
    """Host arrays of the whole graph: features, labels, masks and the normalised adjacency."""
    real = np.asarray(g.node_mask)
    return {"x": np.asarray(g.x, np.float32), "y": np.asarray(g.y, np.int32),
            "loss_mask": np.asarray(g.train_mask) & real,
            "adj": build_adjacency(g, norm, self_loops=True, lam=lam)}


class FullBatch:
    """mode='full': every step is one epoch on the whole graph (a leading axis of 1, like a cluster step)."""
    steps_per_epoch = 1

    def __init__(self, full: dict):
        self.batch = jax.tree.map(lambda a: np.asarray(a)[None], full)

    def __call__(self, step: int) -> dict:
        return self.batch


# ----------------------------------------------------------------------------- model and step


class GCN(nn.Module):
    """L graph-conv layers X' = σ(Â X W + b), dropout on every layer's input."""
    layers: int
    hidden: int
    num_classes: int
    rate: float

    @nn.compact
    def __call__(self, adj, x, train: bool):
        h = x
        for i in range(self.layers):
            if train and self.rate > 0:
                h = dropout(self.make_rng("dropout"), h, self.rate)
            last = i == self.layers - 1
            h = GCNConv(self.num_classes if last else self.hidden, name=f"l{i}")(adj, h)
            if not last:
                h = nn.relu(h)
        return h


def make_functions(config, num_classes: int, steps_per_epoch: int):
    """(init, train_step, evaluate): pure functions of (seed, state, batch); vmappable over seeds.
    The same settings give the same function objects, so repeated runs in one process (resume,
    seeds) reuse jit's compiled code."""
    m = config.model
    k = config.cluster.batches_per_step if config.mode == "cluster" else 1
    return _functions(int(m.layers), int(m.hidden), float(m.dropout), float(config.learning_rate),
                      float(config.weight_decay), int(k), int(steps_per_epoch), int(num_classes))


@functools.lru_cache(maxsize=16)
def _functions(layers, hidden, rate, learning_rate, weight_decay, k, steps_per_epoch, num_classes):
    model = GCN(layers, hidden, num_classes, rate)
    tx = optax.adam(learning_rate)

    def init(seed, batch):
        one = jax.tree.map(lambda a: a[0], batch)
        params = model.init(jax.random.fold_in(jax.random.key(seed), 0), one["adj"], one["x"], False)["params"]
        return {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params),
                "sampler": {"epoch": jnp.int32(0), "index": jnp.int32(0)}}

    def loss_fn(params, batch, key):
        def one(b, key_b):
            logits = model.apply({"params": params}, b["adj"], b["x"], True, rngs={"dropout": key_b})
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, b["y"])
            return jnp.sum(ce * b["loss_mask"]), jnp.sum(b["loss_mask"])
        keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(k))
        tot, cnt = jax.vmap(one)(batch, keys)
        loss = jnp.sum(tot) / jnp.maximum(jnp.sum(cnt), 1)
        l2 = sum(jnp.sum(w ** 2) for w in jax.tree.leaves(params["l0"]))
        return loss + weight_decay / 2 * l2, (loss, jnp.sum(cnt))

    def train_step(seed, state, batch):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 1), state["step"])
        (total, (loss, count)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], batch, key)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        nxt = (state["step"] + 1) * k
        new = {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
               "opt_state": opt_state,
               "sampler": {"epoch": (nxt // steps_per_epoch).astype(jnp.int32),
                           "index": (nxt % steps_per_epoch).astype(jnp.int32)}}
        return new, {"loss": loss, "total_loss": total, "train_nodes_in_batch": count}

    def evaluate(params, data):
        logits = model.apply({"params": params}, data["adj"], data["x"], False)
        ok = jnp.argmax(logits, -1) == data["y"]
        return {f"{s}_accuracy": jnp.sum(ok * data[s]) / jnp.maximum(data[s].sum(), 1)
                for s in ("train", "val", "test")}

    return init, train_step, evaluate


def eval_data(g, adj) -> dict:
    real = np.asarray(g.node_mask)
    return {"x": np.asarray(g.x, np.float32), "y": np.asarray(g.y, np.int32), "adj": adj,
            **{s: np.asarray(getattr(g, f"{s}_mask")) & real for s in ("train", "val", "test")}}


# ----------------------------------------------------------------------------- runs


def prepare(config, seed=None):
    """Host side, before any compile: validated config, graph, batch source, eval data."""
    validate(config)
    mesh = make_mesh(config)
    g = graphs.load(config)
    check_graph(config, g)
    num_classes = int(np.asarray(g.y)[np.asarray(g.node_mask)].max()) + 1
    lam = float(config.model.diag_lambda)
    full = full_batch(g, config.model.norm, lam)
    seed = config.seed if seed is None else seed
    if config.mode == "cluster":
        c = config.cluster
        batches = ClusterBatches(g, c.num_parts, c.clusters_per_batch, c.batches_per_step,
                                 config.model.norm, lam, seed, cache=c.get("cache_batches", 256))
        info = {"steps_per_epoch": math.ceil(batches.steps_per_epoch / c.batches_per_step),
                "batches_per_epoch": batches.steps_per_epoch, "batch_nodes_pad": batches.num_nodes_pad,
                "batch_edges_pad": batches.num_edges_pad, "partition_time_s": batches.partition_time_s}
    else:
        batches = FullBatch(full)
        info = {"steps_per_epoch": 1, "batches_per_epoch": 1, "batch_nodes_pad": g.num_nodes,
                "batch_edges_pad": int(np.asarray(full["adj"].mask).shape[0])}
    info.update(num_nodes=int(np.asarray(g.node_mask).sum()), num_edges=int(np.asarray(g.edge_mask).sum()),
                num_classes=num_classes)
    return {"graph": g, "batches": batches, "eval": eval_data(g, full["adj"]), "info": info,
            "num_classes": num_classes, "mesh": mesh}


def num_steps(config, info) -> int:
    k = config.cluster.batches_per_step if config.mode == "cluster" else 1
    return int(math.ceil(float(config.epochs) * info["batches_per_epoch"] / k))


@functools.lru_cache(maxsize=64)
def _jit(fn, static_argnums=()):
    return jax.jit(fn, static_argnums=static_argnums)


def build(config):
    """(run, init, train_step, evaluate, put): prepared data, the pure functions, and `put`, which
    moves a host batch to the device(s) (sharded over 'data' when config.mesh is set)."""
    run = prepare(config)
    mesh = run["mesh"]
    init, train_step, evaluate = make_functions(config, run["num_classes"], run["batches"].steps_per_epoch)
    put = (lambda t: shard_batch(t, mesh)) if mesh is not None else (lambda t: jax.tree.map(jnp.asarray, t))
    return run, init, train_step, evaluate, put


def train_and_evaluate(config, workdir: str) -> dict:
    run, init, train_step, evaluate, put = build(config)
    info, batches, mesh = run["info"], run["batches"], run["mesh"]
    first = put(batches(0))
    state = _jit(init, static_argnums=0)(config.seed, first)
    if mesh is not None:
        state = jax.device_put(state, mesh_lib.replicated(mesh))
    step_jit = _jit(train_step, static_argnums=0)
    jstep = lambda s, b: step_jit(config.seed, s, b)  # noqa: E731
    ev_data = jax.tree.map(jnp.asarray, run["eval"])
    ev = _jit(evaluate)
    spe = batches.steps_per_epoch
    checked = []

    def batch_fn(step):
        return {"position": divmod(step * (config.cluster.batches_per_step if config.mode == "cluster" else 1), spe),
                "data": first if step == 0 or config.mode == "full" else put(batches(step))}

    def step_fn(state, batch):
        if not checked:  # first step of this process: the restored sampler position must match
            got = jax.device_get(state["sampler"])
            got = (int(got["epoch"]), int(got["index"]))
            if got != tuple(batch["position"]):
                raise SamplerStateError(
                    f"checkpointed sampler position (epoch, batch)={got} but step {int(state['step'])} of this "
                    f"config draws {tuple(batch['position'])}: was the run resumed with different "
                    "cluster.num_parts / clusters_per_batch / batches_per_step?")
            checked.append(True)
        return jstep(state, batch["data"])

    final = train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=batch_fn,
                          num_steps=num_steps(config, info), eval_fn=lambda s: ev(s["params"], ev_data),
                          desc=f"cluster_gcn/{config.dataset}/{config.mode}")
    final.update(info)
    return final


def run_seeds(config, seeds):
    """All seeds of one setting at once (vmapped over the seed) with the functions above, for the
    reproduction tables. Full mode: one jit with a scan over epochs. Cluster mode: every seed has
    its own METIS partition and cluster order; per step the seeds' batches are stacked and one
    vmapped step runs. Returns per-seed accuracies and timing."""
    seeds = [int(s) for s in seeds]
    t0 = time.perf_counter()
    runs = [prepare(config, seed=s) for s in seeds] if config.mode == "cluster" else [prepare(config)]
    if config.mode == "cluster":  # one static shape for all seeds' partitions
        pad = [max(r["batches"].num_nodes_pad for r in runs), max(r["batches"].num_edges_pad for r in runs)]
        pad[1] = max(pad[1], max(r["batches"].num_edges_pad - r["batches"].num_nodes_pad for r in runs) + pad[0])
        for r in runs:
            r["batches"].pad_to(*pad)
            r["info"].update(batch_nodes_pad=pad[0], batch_edges_pad=pad[1])
    info, ev_data = dict(runs[0]["info"]), jax.tree.map(jnp.asarray, runs[0]["eval"])
    init, train_step, evaluate = make_functions(config, runs[0]["num_classes"], runs[0]["batches"].steps_per_epoch)
    n = num_steps(config, info)
    sj = jnp.asarray(seeds)
    host_s = 0.0
    if config.mode == "full":
        data = jax.tree.map(jnp.asarray, runs[0]["batches"](0))

        def run(seed, data, ev_data):  # graph arrays are arguments (closed over, XLA would constant-fold them)
            st, _ = jax.lax.scan(lambda s, _: (train_step(seed, s, data)[0], None), init(seed, data), None, length=n)
            return evaluate(st["params"], ev_data)
        out = jax.jit(jax.vmap(run, in_axes=(0, None, None)))(sj, data, ev_data)
    else:
        def batch(step):
            return jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *[r["batches"](step) for r in runs])
        b0 = batch(0)
        state = jax.jit(jax.vmap(init))(sj, b0)
        step = jax.jit(jax.vmap(train_step), donate_argnums=1)
        for i in range(n):
            t = time.perf_counter()
            b = b0 if i == 0 else batch(i)
            host_s += time.perf_counter() - t
            state, _ = step(sj, state, b)
        out = jax.jit(jax.vmap(evaluate, in_axes=(0, None)))(state["params"], ev_data)
    out = {k: np.asarray(v).tolist() for k, v in out.items()}
    info.update(wall_time_s=time.perf_counter() - t0, host_sampling_s=host_s, steps=n)
    return out, info
