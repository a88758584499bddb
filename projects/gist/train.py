"""GIST: independent subnetwork training for GCNs (Wolfe et al., 2021), and full training.

mode='gist'. A training step is one round: the hidden widths of the GCN (and, with
`gist.split_input`, its input features, as the reference code does by default) are cut into m random disjoint groups
(`lib.graph.subnets`); sub-GCN j keeps only the weights between its groups, so it is 1/m as
wide and shares no hidden unit with the others. The m sub-GCNs then train independently for
`gist.local_epochs` full-batch epochs (Adam, a fresh optimizer state each round, as in the
reference code), vmapped on one device or one per device over the `subnet` mesh axis with
`jax.shard_map` (no collective inside a round). At the end of the round their slices are copied
back into the full GCN and the unsplit leaves (the output bias) averaged; the next round draws a
new partition. Evaluation always uses the full, merged GCN.

mode='full': the same GCN trained whole, one Adam update per epoch (a persistent optimizer).

Both use the reference code's recipe: dropout on every layer's input but the first,
coupled L2 weight decay (added to the gradient), learning rate divided by 10 at 50 % and
again at 75 % of the epochs (`lr_decay`). Epochs are counted the same way in both modes
(a GIST round of 5 local epochs is 5 epochs), so the two train for the same number of
updates per parameter.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import train as train_lib
from lib.data import graphs
from lib.graph import subnets
from lib.graph.dropout import dropout
from lib.graph.ops import spmm
from lib.graph.propagation import KINDS, normalized_adjacency

DATASETS = ("csbm", "cora", "citeseer", "random")
MODES = ("gist", "full")


# ----------------------------------------------------------------------------- config


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "mode", MODES)
    config_lib.choice(config, "model.norm", KINDS)
    hidden = tuple(config.model.hidden)
    if not hidden or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden):
        raise config_lib.ConfigError(f"config.model.hidden={hidden!r} must be a non-empty tuple of positive "
                                     "integers (the hidden widths)")
    for key in ("epochs", "gist.local_epochs"):
        v = config_lib.get(config, key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise config_lib.ConfigError(f"config.{key}={v!r} must be a positive integer")
    if config.mode == "gist" and config.epochs % config.gist.local_epochs:
        raise config_lib.ConfigError(f"config.epochs={config.epochs} is not a multiple of "
                                     f"config.gist.local_epochs={config.gist.local_epochs} (a round is "
                                     "local_epochs epochs)")
    config_lib.positive(config, "learning_rate")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    d = config.model.dropout
    if not 0.0 <= d < 1.0:
        raise config_lib.ConfigError(f"config.model.dropout={d!r} must be in [0, 1)")


def dims_of(config, num_features: int, num_classes: int) -> tuple[int, ...]:
    return (num_features, *config.model.hidden, num_classes)


def check_split(config, dims) -> None:
    """The partition and the mesh, checked before any compile."""
    if config.mode != "gist":
        return
    m = config.gist.m
    subnets.check_split(dims, m, bool(config.gist.split_input))
    if config.get("mesh"):
        mesh = mesh_lib.make_mesh(config.mesh)
        if tuple(mesh.axis_names) != ("subnet",):
            raise config_lib.ConfigError(f"config.mesh={config.mesh!r}: gist shards sub-GCNs over one axis "
                                         "named 'subnet', e.g. (('subnet', -1),)")
        if m % mesh.shape["subnet"]:
            raise config_lib.ConfigError(f"config.gist.m={m} is not divisible by the 'subnet' mesh axis "
                                         f"size {mesh.shape['subnet']}")


# ----------------------------------------------------------------------------- model


def init_params(key, dims) -> list[dict]:
    """Glorot-uniform weights, zero biases (Kipf & Welling's GCN init)."""
    out = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        w = jax.nn.initializers.glorot_uniform()(jax.random.fold_in(key, i), (a, b), jnp.float32)
        out.append({"w": w, "b": jnp.zeros(b, jnp.float32)})
    return out


def gcn(params, adj, x, key=None, rate: float = 0.0):
    """Â (H W) + b per layer, ReLU between; dropout (training only) on every layer's input but the
    first. The dense map goes first: Â (H W) = (Â H) W and W narrows the features."""
    h = x
    for i, p in enumerate(params):
        if i and key is not None:
            h = dropout(jax.random.fold_in(key, i), h, rate)
        h = spmm(adj, h @ p["w"]) + p["b"]
        if i < len(params) - 1:
            h = jax.nn.relu(h)
    return h


def loss_fn(params, adj, x, y, mask, key, rate, weight_decay):
    del weight_decay  # coupled decay is added to the gradient (torch Adam's weight_decay)
    ce = optax.softmax_cross_entropy_with_integer_labels(gcn(params, adj, x, key, rate), y)
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def learning_rate(lr: float, decay: bool, epochs: int, epoch):
    """lr, /10 from 50 % and /100 from 75 % of the epochs (the reference's schedule) if decay."""
    if not decay:
        return jnp.float32(lr)
    return lr * jnp.where(epoch >= int(epochs * 0.75), 0.01, jnp.where(epoch >= int(epochs * 0.5), 0.1, 1.0))


def adam_step(params, opt, grads, lr, weight_decay, tx):
    grads = jax.tree.map(lambda g, p: g + weight_decay * p, grads, params)
    upd, opt = tx.update(grads, opt, params)
    return jax.tree.map(lambda p, u: p - lr * u, params, upd), opt


# ----------------------------------------------------------------------------- steps


@functools.lru_cache(maxsize=16)
def make_steps(dims: tuple, mode: str, m: int, split_input: bool, local_epochs: int, rate: float,
               weight_decay: float, schedule: tuple, mesh=None):
    """(step, evaluate); `schedule` = (lr, lr_decay, epochs)."""
    tx = optax.scale_by_adam()
    grad = jax.value_and_grad(loss_fn)

    def evaluate(params, d):
        ok = jnp.argmax(gcn(params, d["adj"], d["x"]), -1) == d["y"]
        return {f"{s}_accuracy": jnp.sum(ok * d[s]) / jnp.maximum(d[s].sum(), 1) for s in ("train", "val", "test")}

    if mode == "full":
        @jax.jit
        def step(state, d):
            epoch = state["step"]
            key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), epoch)
            loss, g = grad(state["params"], d["adj"], d["x"], d["y"], d["train"], key, rate, weight_decay)
            params, opt = adam_step(state["params"], state["opt_state"], g, learning_rate(*schedule, epoch),
                                    weight_decay, tx)
            return {**state, "step": epoch + 1, "params": params, "opt_state": opt}, {"loss": loss}
        return step, jax.jit(evaluate)

    def train_one(sub, xs, key, first_epoch, adj, y, train):
        """One sub-GCN's local epochs (fresh Adam state, as the reference code makes each round)."""
        def body(carry, e):
            p, opt = carry
            loss, g = grad(p, adj, xs, y, train, jax.random.fold_in(key, e), rate, weight_decay)
            return adam_step(p, opt, g, learning_rate(*schedule, first_epoch + e), weight_decay, tx), loss
        (p, _), losses = jax.lax.scan(body, (sub, tx.init(sub)), jnp.arange(local_epochs))
        return p, losses[-1]

    x_axis = 0 if split_input else None  # unsplit inputs: every sub-GCN reads the same features

    def train_all(subs, xs, keys, first_epoch, adj, y, train):
        return jax.vmap(train_one, in_axes=(0, x_axis, 0, None, None, None, None))(subs, xs, keys, first_epoch,
                                                                                   adj, y, train)

    if mesh is not None:  # one (or m / devices) sub-GCN per device; nothing crosses devices in a round
        s = P("subnet")
        train_all = jax.shard_map(train_all, mesh=mesh, in_specs=(s, s if split_input else P(), s, P(), P(), P(),
                                                                  P()), out_specs=(s, s))

    @jax.jit
    def step(state, d):
        rnd = state["step"]
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), rnd)
        groups = subnets.partition(key, dims, m, split_input)
        subs = subnets.extract(state["params"], groups)
        xs = jax.vmap(lambda g: d["x"][:, g])(groups[0]) if split_input else d["x"]
        keys = jax.vmap(lambda j: jax.random.fold_in(key, 1000 + j))(jnp.arange(m))
        subs, losses = train_all(subs, xs, keys, rnd * local_epochs, d["adj"], d["y"], d["train"])
        params = subnets.merge(state["params"], subs, groups, split_input)
        return {**state, "step": rnd + 1, "params": params}, {"loss": jnp.mean(losses)}
    return step, jax.jit(evaluate)


# ----------------------------------------------------------------------------- run


def prepare(config):
    validate(config)
    g = graphs.load(config)
    real = np.asarray(g.node_mask)
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    dims = dims_of(config, int(g.x.shape[1]), num_classes)
    check_split(config, dims)
    data = {"x": jnp.asarray(g.x, jnp.float32), "y": jnp.asarray(g.y, jnp.int32),
            "adj": normalized_adjacency(g, config.model.norm),
            **{s: jnp.asarray(np.asarray(getattr(g, f"{s}_mask")) & real) for s in ("train", "val", "test")}}
    info = {"num_nodes": int(real.sum()), "num_edges": int(np.asarray(g.edge_mask).sum()),
            "num_parameters": int(sum(a * b + b for a, b in zip(dims[:-1], dims[1:])))}
    return data, dims, info


def build(config, dims):
    """(state, step, evaluate, num_steps) for the config."""
    mesh = mesh_lib.make_mesh(config.mesh) if config.mode == "gist" and config.get("mesh") else None
    gist = config.mode == "gist"
    step, evaluate = make_steps(tuple(dims), config.mode, int(config.gist.m) if gist else 1,
                                bool(config.gist.split_input), int(config.gist.local_epochs),
                                float(config.model.dropout), float(config.weight_decay),
                                (float(config.learning_rate), bool(config.lr_decay), int(config.epochs)), mesh)
    key = jax.random.key(config.seed)
    params = init_params(jax.random.fold_in(key, 0), dims)
    state = {"step": jnp.int32(0), "key": jax.random.key_data(jax.random.fold_in(key, 1)), "params": params}
    if not gist:
        state["opt_state"] = optax.scale_by_adam().init(params)
    num_steps = config.epochs // config.gist.local_epochs if gist else config.epochs
    return state, step, evaluate, num_steps


def train_and_evaluate(config, workdir: str) -> dict:
    data, dims, info = prepare(config)
    state, step, evaluate, num_steps = build(config, dims)

    final = train_lib.run(config, workdir, state=state, step_fn=lambda s, _: step(s, data), batch_fn=None,
                          num_steps=num_steps, eval_fn=lambda s: evaluate(s["params"], data),
                          desc=f"gist/{config.dataset}/{config.mode}")
    final.update(info, dims=list(dims))
    return final
