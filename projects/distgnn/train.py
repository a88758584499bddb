"""DistGNN: full-batch GraphSAGE over a vertex-cut partition with delayed partial aggregates
(Md et al., SC'21), and the unpartitioned model it is compared against.

The graph is cut into k = (size of the `graph` mesh axis) partitions by `lib.graph.vertex_cut`
(every edge in one partition; vertices replicated where their edges go), one partition per device.
Each layer is GraphSAGE with the mean aggregator, h' = h W_self + mean_{u -> v} h_u W_neigh + b:
a device sums over its own edges (a partial aggregate for each of its replicas) and then, by mode,
- '0c':   never exchanges: a replica averages over its local edges only;
- 'cd-0': sums the split vertices' partials over all devices every layer of every epoch (one psum;
          the gradient flows back through it): the numbers of unpartitioned training;
- 'cd-r': exchanges every `delay` epochs and, in between, adds the remote part kept from the last
          exchange (a constant to the gradient), so only 1 epoch in `delay` communicates;
- 'single': the whole graph on one device (k = 1), the baseline.
The parameters are replicated; their gradient is summed over devices. Loss and accuracy count each
vertex once (at its master replica). Evaluation uses the mode's own aggregation ('cd-r' a fresh
exchange). The stale remote aggregates are part of the train state: a resumed run is bit-exact.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import train as train_lib
from lib.data import graphs
from lib.graph import vertex_cut
from lib.graph.dropout import dropout

DATASETS = ("csbm", "cora", "citeseer", "random")
MODES = ("single", "0c", "cd-0", "cd-r")
AXIS = "graph"


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "mode", MODES)
    hidden = tuple(config.model.hidden)
    if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden):
        raise config_lib.ConfigError(f"config.model.hidden={hidden!r} must be a non-empty tuple of positive integers")
    for key in ("epochs", "delay"):
        v = config_lib.get(config, key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise config_lib.ConfigError(f"config.{key}={v!r} must be a positive integer")
    config_lib.positive(config, "learning_rate")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    if not 0.0 <= config.model.dropout < 1.0:
        raise config_lib.ConfigError(f"config.model.dropout={config.model.dropout!r} must be in [0, 1)")


def make_mesh(config):
    if config.mode == "single":
        return mesh_lib.make_mesh([(AXIS, 1)], devices=jax.devices()[:1])
    mesh = mesh_lib.make_mesh(config.mesh)
    if tuple(mesh.axis_names) != (AXIS,):
        raise config_lib.ConfigError(f"config.mesh={config.mesh!r}: distgnn places one partition per device on "
                                     "one axis named 'graph', e.g. (('graph', -1),)")
    return mesh


# ----------------------------------------------------------------------------- model


def init_params(key, dims):
    init = jax.nn.initializers.glorot_uniform()
    return [{"self": init(jax.random.fold_in(key, 2 * i), (a, b), jnp.float32),
             "neigh": init(jax.random.fold_in(key, 2 * i + 1), (a, b), jnp.float32),
             "b": jnp.zeros(b, jnp.float32)} for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))]


def _forward(params, d, stale, *, mode, exchange_now, num_split, key, rate):
    """This device's partitions ([kl, n, ...]) through the SAGE layers. Returns (logits, new stale)."""
    h, new_stale = d["x"], []
    part = jax.vmap(vertex_cut.partial_sum)
    for i, p in enumerate(params):
        if i and key is not None:
            h = dropout(jax.random.fold_in(key, i), h, rate)
        local = part(h, d["senders"], d["receivers"], d["edge_mask"])
        if mode == "0c":
            agg = local / jnp.maximum(d["local_degree"], 1.0)[..., None]
        else:
            if exchange_now:
                full = vertex_cut.exchange(local, d["split_id"], num_split, AXIS)
                if mode == "cd-r":
                    new_stale.append(jax.lax.stop_gradient(full - local))
            else:  # cd-r between exchanges: fresh local part + the remote part of the last exchange
                full = local + stale[i]
                new_stale.append(stale[i])
            agg = full / jnp.maximum(d["degree"], 1.0)[..., None]
        h = h @ p["self"] + agg @ p["neigh"] + p["b"]
        if i < len(params) - 1:
            h = jax.nn.relu(h)
    return h, new_stale


@functools.lru_cache(maxsize=16)
def make_steps(mesh, mode: str, num_split: int, n_train: int, rate: float, lr: float, weight_decay: float):
    """(step(exchange_now) -> jitted step, evaluate)."""
    tx = optax.adamw(lr, weight_decay=weight_decay) if weight_decay else optax.adam(lr)
    g, r = P(AXIS), P()

    def per_device(params, d, stale, key, exchange_now):
        key = jax.random.fold_in(key, jax.lax.axis_index(AXIS))  # each device its own dropout masks
        logits, new_stale = _forward(params, d, stale, mode=mode, exchange_now=exchange_now, num_split=num_split,
                                     key=key, rate=rate)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, d["y"])
        w = (d["master"] & d["train"]).astype(jnp.float32)
        return jax.lax.psum(jnp.sum(ce * w), AXIS) / n_train, new_stale

    def loss_fn(params, d, stale, key, exchange_now):
        fn = jax.shard_map(functools.partial(per_device, exchange_now=exchange_now), mesh=mesh,
                           in_specs=(r, g, g, r), out_specs=(r, g))
        return fn(params, d, stale, key)

    @functools.lru_cache(maxsize=2)
    def step(exchange_now: bool):
        @jax.jit
        def run(state, d):
            key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["step"])
            (loss, stale), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], d, state["stale"],
                                                                              key, exchange_now)
            upd, opt = tx.update(grads, state["opt_state"], state["params"])
            return {**state, "step": state["step"] + 1, "params": optax.apply_updates(state["params"], upd),
                    "opt_state": opt, "stale": stale}, {"loss": loss}
        return run

    def eval_device(params, d):
        logits, _ = _forward(params, d, [], mode=mode, exchange_now=True, num_split=num_split, key=None, rate=0.0)
        ok = (jnp.argmax(logits, -1) == d["y"]) & d["master"]
        return {s: jax.lax.psum(jnp.stack([jnp.sum(ok & d[s]), jnp.sum(d["master"] & d[s])]), AXIS)
                for s in ("train", "val", "test")}

    @jax.jit
    def evaluate(params, d):
        counts = jax.shard_map(eval_device, mesh=mesh, in_specs=(r, g), out_specs=r)(params, d)
        return {f"{s}_accuracy": c[0] / jnp.maximum(c[1], 1) for s, c in counts.items()}
    return step, evaluate


# ----------------------------------------------------------------------------- run


def prepare(config):
    """(partitions, device data, dims, info); named errors before any compile."""
    validate(config)
    mesh = make_mesh(config)
    g = graphs.load(config)
    real = np.asarray(g.node_mask)
    n = int(real.sum())
    k = mesh.shape[AXIS]
    parts = vertex_cut.build(g, k, seed=config.seed)
    host = {"x": vertex_cut.node_values(parts, np.asarray(g.x)[:n]),
            "y": vertex_cut.node_values(parts, np.asarray(g.y)[:n]).astype(np.int32),
            **{s: vertex_cut.node_values(parts, np.asarray(getattr(g, f"{s}_mask"))[:n], False)
               for s in ("train", "val", "test")},
            "master": parts.master, "split_id": parts.split_id, "senders": parts.senders,
            "receivers": parts.receivers, "edge_mask": parts.edge_mask, "degree": parts.degree,
            "local_degree": parts.local_degree}
    data = jax.tree.map(lambda a: mesh_lib.global_array(a, NamedSharding(mesh, P(AXIS))), host)
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    dims = (int(g.x.shape[1]), *config.model.hidden, num_classes)
    info = {"num_nodes": n, "num_edges": int(np.asarray(g.edge_mask).sum()), "partitions": k,
            "split_vertices": parts.num_split, "replication_factor": parts.replicas / n,
            "num_train": int((np.asarray(g.train_mask) & real).sum())}
    exchanges = 0 if config.mode in ("0c", "single") else 1.0 / (config.delay if config.mode == "cd-r" else 1)
    per_exchange = sum(parts.exchange_bytes(d) for d in dims[:-1])
    info["bytes_per_epoch"] = 2 * per_exchange * exchanges  # forward partials + backward cotangents
    return mesh, parts, data, dims, info


def train_and_evaluate(config, workdir: str) -> dict:
    mesh, parts, data, dims, info = prepare(config)
    step, evaluate = make_steps(mesh, config.mode, parts.num_split, info["num_train"], float(config.model.dropout),
                                float(config.learning_rate), float(config.weight_decay))
    key = jax.random.key(config.seed)
    params = init_params(jax.random.fold_in(key, 0), dims)
    tx = optax.adamw(config.learning_rate, weight_decay=config.weight_decay) if config.weight_decay else \
        optax.adam(config.learning_rate)
    k, n_pad = parts.global_id.shape
    stale = [np.zeros((k, n_pad, d), np.float32) for d in dims[:-1]] if config.mode == "cd-r" else []
    state = mesh_lib.place_state({"step": jnp.int32(0), "key": jax.random.key_data(jax.random.fold_in(key, 1)),
                                  "params": params, "opt_state": tx.init(params), "stale": stale},
                                 mesh, [(("stale",) + (str(i),), P(AXIS)) for i in range(len(stale))])
    delay = config.delay if config.mode == "cd-r" else 1

    def step_fn(state, epoch):
        return step(config.mode != "cd-r" or epoch % delay == 0)(state, data)

    final = train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=lambda s: s,
                          num_steps=config.epochs, eval_fn=lambda s: evaluate(s["params"], data),
                          desc=f"distgnn/{config.dataset}/{config.mode}", summary_fn=lambda _: info)
    return final

