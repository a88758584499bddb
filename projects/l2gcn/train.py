"""L-GCN: layer-wise GCN training on precomputed propagations (You, Chen, Wang, Shen; CVPR 2020),
and the full-batch GCN it is compared against.

mode='layerwise' (L-GCN). Layer l is trained alone: its input H~_l = Â H_l is computed once
when the layer starts (one `spmm`, `lib.graph.propagation`, Â = D^-1 (A+I) by default), then
the layer's weights W_l and a throw-away linear classifier Theta_l are trained as a one-hidden-
layer MLP on rows of H~_l: logits = Theta_l relu(H~_l W_l + b_l), mean cross-entropy over a
minibatch of `batch_size` training nodes. After `epochs_per_layer[l]` epochs W_l is frozen,
H_{l+1} = relu(H~_l W_l + b_l) and Theta_l is dropped (only the last layer's classifier is
kept for prediction). A step touches only the minibatch's rows: its cost and memory do not
depend on the graph size; the graph is touched once per layer.

mode='full': the 2-layer Kipf & Welling GCN on the whole graph (GCNConv, the same Â), one
Adam update per epoch.

Steps run under lib.train.run (checkpoints, bit-exact resume). The minibatches are a pure
function of (seed, layer, epoch); the propagated input of the current layer is recomputed
from the checkpointed frozen weights after a resume, so an interrupted run continues exactly.
mode='l2gcn' (L²-GCN): the epochs of each layer are decided by a learned stopping controller
(projects/l2gcn/controller.py, the run in projects/l2gcn/learned.py) instead of `epochs_per_layer`.
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
from lib import train as train_lib
from lib.data import graphs
from lib.graph import GCNConv
from lib.graph.ops import spmm
from lib.graph.propagation import KINDS, normalized_adjacency

DATASETS = ("csbm", "cora", "citeseer", "random")
MODES = ("layerwise", "full", "l2gcn")
SPLITS = ("public", "full")  # full: every labelled node before the test block that is not in val (the
                             # reference code's Cora split: 1208 training nodes; FastGCN's)


# ----------------------------------------------------------------------------- config


def validate(config) -> None:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "mode", MODES)
    config_lib.choice(config, "model.norm", KINDS)
    config_lib.choice(config, "split", SPLITS)
    if config.split == "full" and config.dataset not in ("cora", "citeseer"):
        raise config_lib.ConfigError(f"config.split='full' is for the Planetoid sets (cora, citeseer), "
                                     f"not config.dataset={config.dataset!r}")
    for key in ("model.hidden", "batch_size", "full_epochs"):
        v = config_lib.get(config, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise config_lib.ConfigError(f"config.{key}={v!r} must be a positive integer")
    e = tuple(config_lib.get(config, "epochs_per_layer"))
    if not e or not all(isinstance(x, int) and x >= 1 for x in e):
        raise config_lib.ConfigError(f"config.epochs_per_layer={e!r} must be a non-empty tuple of positive "
                                     "integers (one per layer)")
    if config.mode == "full" and len(e) != 2:
        raise config_lib.ConfigError(f"config.epochs_per_layer={e!r}: mode='full' is the 2-layer GCN; "
                                     "give two entries (only their number is used)")
    config_lib.positive(config, "learning_rate")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    if config.mode == "l2gcn":
        from projects.l2gcn import learned
        learned.validate(config)


# ----------------------------------------------------------------------------- layer-wise


def schedule(config, n_train: int):
    """(steps per epoch, per-layer first step, total steps)."""
    spe = max(1, math.ceil(n_train / config.batch_size))
    starts = np.concatenate([[0], np.cumsum([e * spe for e in config.epochs_per_layer])]).astype(int)
    return spe, starts, int(starts[-1])


def _dense(key, fan_in, fan_out):
    return jax.nn.initializers.glorot_uniform()(key, (fan_in, fan_out), jnp.float32)


def init_layerwise(seed, num_features, hidden, num_classes, num_layers, tx, key=None):
    key = jax.random.key(seed) if key is None else key
    params = []
    for i in range(num_layers):
        k1, k2 = jax.random.split(jax.random.fold_in(key, i))
        params.append({"w": _dense(k1, num_features if i == 0 else hidden, hidden), "b": jnp.zeros(hidden),
                       "theta": _dense(k2, hidden, num_classes), "c": jnp.zeros(num_classes)})
    return {"step": jnp.int32(0), "params": params, "opt_state": [tx.init(p) for p in params]}


def layer_output(p, h_tilde):
    return nn.relu(h_tilde @ p["w"] + p["b"])


def layer_loss(p, x, y, m, weight_decay):
    """(objective, cross-entropy) of one layer and its classifier on rows x with mask m."""
    logits = layer_output(p, x) @ p["theta"] + p["c"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    loss = jnp.sum(ce * m) / jnp.maximum(jnp.sum(m), 1.0)
    return loss + weight_decay / 2 * jnp.sum(p["w"] ** 2), loss


@functools.lru_cache(maxsize=32)
def layer_step(layer: int, learning_rate: float, weight_decay: float):
    tx = optax.adam(learning_rate)
    loss_fn = functools.partial(layer_loss, weight_decay=weight_decay)

    @jax.jit
    def step(state, batch):
        p = state["params"][layer]
        (_, loss), g = jax.value_and_grad(loss_fn, has_aux=True)(p, batch["x"], batch["y"], batch["m"])
        upd, opt = tx.update(g, state["opt_state"][layer], p)
        params = list(state["params"]); params[layer] = optax.apply_updates(p, upd)
        opts = list(state["opt_state"]); opts[layer] = opt
        return {"step": state["step"] + 1, "params": params, "opt_state": opts}, {"loss": loss}
    return step, tx


@jax.jit
def _propagate(adj, h):
    return spmm(adj, h)


def layer_inputs(adj, x, params, upto: int):
    """H~_0 .. H~_upto: H~_0 = Â X, H~_{l+1} = Â relu(H~_l W_l + b_l) (frozen layers)."""
    out = [_propagate(adj, x)]
    for i in range(upto):
        out.append(_propagate(adj, layer_output(params[i], out[-1])))
    return out


def evaluate_layerwise(adj, x, params, data):
    hs = layer_inputs(adj, x, params, len(params) - 1)
    logits = layer_output(params[-1], hs[-1]) @ params[-1]["theta"] + params[-1]["c"]
    ok = jnp.argmax(logits, -1) == data["y"]
    return {f"{s}_accuracy": jnp.sum(ok * data[s]) / jnp.maximum(data[s].sum(), 1) for s in ("train", "val", "test")}


# ----------------------------------------------------------------------------- full batch


class GCN(nn.Module):
    hidden: int
    num_classes: int

    @nn.compact
    def __call__(self, adj, x):
        return GCNConv(self.num_classes, name="l1")(adj, nn.relu(GCNConv(self.hidden, name="l0")(adj, x)))


@functools.lru_cache(maxsize=8)
def full_functions(hidden, num_classes, learning_rate, weight_decay):
    model = GCN(hidden, num_classes)
    tx = optax.adam(learning_rate)

    def init(seed, adj, x):
        params = model.init(jax.random.key(seed), adj, x)["params"]
        return {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params)}

    def loss_fn(params, adj, x, y, m):
        ce = optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": params}, adj, x), y)
        loss = jnp.sum(ce * m) / jnp.maximum(jnp.sum(m), 1.0)
        return loss + weight_decay / 2 * sum(jnp.sum(w ** 2) for w in jax.tree.leaves(params["l0"])), loss

    @jax.jit
    def step(state, d):
        (_, loss), g = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], d["adj"], d["x"], d["y"], d["train"])
        upd, opt = tx.update(g, state["opt_state"], state["params"])
        return {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], upd),
                "opt_state": opt}, {"loss": loss}

    @jax.jit
    def evaluate(params, d):
        ok = jnp.argmax(model.apply({"params": params}, d["adj"], d["x"]), -1) == d["y"]
        return {f"{s}_accuracy": jnp.sum(ok * d[s]) / jnp.maximum(d[s].sum(), 1) for s in ("train", "val", "test")}
    return init, step, evaluate


# ----------------------------------------------------------------------------- runs


def prepare(config):
    validate(config)
    g = graphs.load(config)
    real = np.asarray(g.node_mask)
    train = np.asarray(g.train_mask) & real
    if config.split == "full":
        test = np.asarray(g.test_mask)
        train = real & ~np.asarray(g.val_mask) & ~test & (np.arange(real.size) < np.nonzero(test)[0].min())
    if not train.any():
        raise config_lib.ConfigError(f"dataset {config.dataset!r} has an empty train split")
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    adj = normalized_adjacency(g, config.model.norm)
    data = {"x": jnp.asarray(g.x, jnp.float32), "y": jnp.asarray(g.y, jnp.int32), "adj": adj,
            "train": jnp.asarray(train),
            **{s: jnp.asarray(np.asarray(getattr(g, f"{s}_mask")) & real) for s in ("val", "test")}}
    return {"graph": g, "data": data, "num_classes": num_classes, "train_idx": np.nonzero(train)[0],
            "info": {"num_nodes": int(real.sum()), "num_edges": int(np.asarray(g.edge_mask).sum()),
                     "num_train": int(train.sum())}}


def minibatch(config, train_idx, spe, starts, step: int):
    """Node indices and mask of the minibatch of `step` (pure function of seed, layer, epoch, index)."""
    layer = int(np.searchsorted(starts, step, side="right") - 1)
    local = step - starts[layer]
    epoch, i = divmod(int(local), spe)
    return (layer, *epoch_batch(config, train_idx, layer, epoch, i))


def epoch_batch(config, train_idx, layer: int, epoch: int, i: int):
    """Padded node indices and mask of minibatch i of `epoch` of `layer` (a pure function of them and the seed)."""
    rng = np.random.default_rng([config.seed, layer, epoch])
    perm = rng.permutation(train_idx)
    b = config.batch_size
    idx = perm[i * b:(i + 1) * b]
    mask = np.zeros(b, np.float32); mask[:idx.size] = 1.0
    return np.concatenate([idx, np.full(b - idx.size, train_idx[0])]).astype(np.int32), mask


def train_and_evaluate(config, workdir: str) -> dict:
    run = prepare(config)
    data, info = run["data"], run["info"]
    lr, wd = float(config.learning_rate), float(config.weight_decay)
    if config.mode == "full":
        init, step, evaluate = full_functions(int(config.model.hidden), run["num_classes"], lr, wd)
        state = init(config.seed, data["adj"], data["x"])
        final = train_lib.run(config, workdir, state=state, step_fn=lambda s, _: step(s, data),
                              num_steps=int(config.full_epochs), eval_fn=lambda s: evaluate(s["params"], data),
                              desc=f"l2gcn/{config.dataset}/full")
        final.update(info)
        return final
    if config.mode == "l2gcn":
        from projects.l2gcn import learned
        return learned.train_and_evaluate(config, workdir, run)
    num_layers = len(config.epochs_per_layer)
    spe, starts, total = schedule(config, info["num_train"])
    steps = [layer_step(i, lr, wd) for i in range(num_layers)]
    state = init_layerwise(config.seed, data["x"].shape[1], int(config.model.hidden), run["num_classes"],
                           num_layers, steps[0][1])
    cache: dict = {}  # layer -> H~_layer (recomputed from the frozen layers after a resume)
    timing = {"precompute_s": 0.0}

    def step_fn(state, step):
        layer, idx, mask = minibatch(config, run["train_idx"], spe, starts, step)
        if layer not in cache:
            t0 = time.perf_counter()
            cache.clear()
            cache[layer] = jax.block_until_ready(layer_inputs(data["adj"], data["x"], state["params"], layer)[-1])
            timing["precompute_s"] += time.perf_counter() - t0
        h = cache[layer]
        batch = {"x": h[idx], "y": data["y"][idx], "m": jnp.asarray(mask)}
        return steps[layer][0](state, batch)

    final = train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=lambda s: s, num_steps=total,
                          eval_fn=lambda s: evaluate_layerwise(data["adj"], data["x"], s["params"], data),
                          desc=f"l2gcn/{config.dataset}/layerwise")
    final.update(info, steps_per_epoch=spe, precompute_s=timing["precompute_s"])
    return final
