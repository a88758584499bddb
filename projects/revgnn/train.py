"""Full-batch node classification with deep reversible / residual GNNs (RevGNN, Li et al. 2021).

`train_and_evaluate` is the generic-loop entry (checkpoint/resume via lib/train.py);
`run_seeds` runs several seeds of one setting in one vmapped jit (reproduction tables);
`compiled_memory` compiles the training step and returns XLA's memory analysis (memory vs depth).
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import precision
from lib import train as train_lib
from lib.data import graphs
from lib.graph import build_adjacency
from projects.revgnn import model as model_lib

DATASETS = ("csbm", "cora", "citeseer")


def validate(config) -> None:
    """Named ConfigError for bad values, before any data loading or compile."""
    config_lib.choice(config, "dataset", DATASETS)
    m = config_lib.choice(config, "model.model", model_lib.MODELS)
    for key in ("model.layers", "model.hidden", "epochs", "learning_rate"):
        config_lib.positive(config, key)
    for key in ("model.layers", "model.hidden", "model.groups", "epochs"):
        v = config_lib.get(config, key)
        if not isinstance(v, int) or isinstance(v, bool):
            raise config_lib.ConfigError(f"config.{key}={v!r} must be an int")
    config_lib.positive(config, "weight_decay", allow_zero=True)
    config_lib.in_range(config, "model.dropout", 0.0, 0.99)
    config_lib.in_range(config, "model.input_dropout", 0.0, 0.99)
    if m in ("reversible", "grouped"):
        if config.model.groups < 2:
            raise config_lib.ConfigError(f"config.model.groups={config.model.groups} must be >= 2 for "
                                         f"model={m!r} (a reversible block splits channels into >= 2 groups)")
        config_lib.divisible(config, "model.hidden", config.model.groups,
                             f"model={m!r} splits the hidden channels into model.groups={config.model.groups} groups")
    precision.policy(config)
    config_lib.choice(config, "model.remat", model_lib.REMAT)
    if config.model.remat != "none" and m not in ("residual", "gcn"):
        raise config_lib.ConfigError(f"config.model.remat={config.model.remat!r} is for model='residual' or 'gcn' "
                                     f"(model={m!r} already recomputes in its backward pass or stores by design)")
    if m == "gcn" and config.model.layers < 2:
        raise config_lib.ConfigError(f"config.model.layers={config.model.layers} must be >= 2 for model='gcn'")


def prepare(config):
    """Host side, before any compile: validated config, graph arrays on device, num_classes."""
    validate(config)
    g = graphs.load(config)
    adj = build_adjacency(g, "gcn", self_loops=True)
    real = np.asarray(g.node_mask)
    data = {"x": np.asarray(g.x, np.float32), "adj": adj, "y": np.asarray(g.y),
            "train": np.asarray(g.train_mask), "val": np.asarray(g.val_mask), "test": np.asarray(g.test_mask)}
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    return jax.tree.map(jnp.asarray, data), num_classes


def make_functions(config, in_features: int, num_classes: int):
    m = config.model
    kw = dict(model=m.model, groups=m.groups, rate=m.dropout, input_rate=m.input_dropout,
              shared_dropout=m.shared_dropout, dtype=precision.policy(config).compute_dtype,
              remat=m.get("remat", "none"))
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay), optax.adam(config.learning_rate))

    def init(seed, data):
        params = model_lib.init(jax.random.split(jax.random.key(seed))[0], m.model, in_features, m.hidden,
                                num_classes, m.layers, m.groups)
        return {"step": jnp.int32(0), "params": params, "opt_state": tx.init(params)}

    def loss_fn(params, data, key):
        logits = model_lib.apply(params, data["adj"], data["x"], key, train=True, **kw)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, data["y"])
        mask = data["train"]
        return jnp.sum(ce * mask) / jnp.maximum(mask.sum(), 1)

    def train_step(seed, state, data):
        key = jax.random.fold_in(jax.random.split(jax.random.key(seed))[1], state["step"])
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], data, key)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        return ({"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
                 "opt_state": opt_state}, {"loss": loss})

    def evaluate(params, data):
        logits = model_lib.apply(params, data["adj"], data["x"], jax.random.key(0), train=False, **kw)
        ok = jnp.argmax(logits, -1) == data["y"]
        return {f"{s}_accuracy": jnp.sum(ok * data[s]) / jnp.maximum(data[s].sum(), 1)
                for s in ("train", "val", "test")}

    return init, train_step, evaluate


def train_and_evaluate(config, workdir: str) -> dict:
    data, num_classes = prepare(config)
    init, train_step, evaluate = make_functions(config, data["x"].shape[1], num_classes)
    state = jax.jit(init, static_argnums=0)(config.seed, data)
    step = jax.jit(lambda s, d: train_step(config.seed, s, d))
    ev = jax.jit(evaluate)
    return train_lib.run(config, workdir, state=state, step_fn=step, batch_fn=lambda i: data,
                         num_steps=int(config.epochs), eval_fn=lambda s: ev(s["params"], data),
                         desc=f"revgnn/{config.dataset}/{config.model.model}-{config.model.layers}")


def run_seeds(config, seeds, prepared=None):
    """All seeds of one setting in one jit (vmapped over the seed) with the same init, step and
    evaluation functions as train_and_evaluate; returns per-seed final accuracies."""
    data, num_classes = prepared or prepare(config)
    init, train_step, evaluate = make_functions(config, data["x"].shape[1], num_classes)

    def run(seed, data):
        def body(s, _):
            return train_step(seed, s, data)[0], None
        st, _ = jax.lax.scan(body, init(seed, data), None, length=int(config.epochs))
        return evaluate(st["params"], data)
    out = jax.jit(jax.vmap(run, in_axes=(0, None)))(jnp.asarray(seeds), data)
    return {k: np.asarray(v).tolist() for k, v in out.items()}


def compiled_memory(config, prepared=None) -> dict:
    """Compile one training step (no execution) and return XLA's CompiledMemoryStats in bytes."""
    data, num_classes = prepared or prepare(config)
    init, train_step, _ = make_functions(config, data["x"].shape[1], num_classes)
    state = jax.eval_shape(lambda d: init(config.seed, d), data)
    t0 = time.perf_counter()
    compiled = jax.jit(lambda s, d: train_step(config.seed, s, d)).lower(state, data).compile()
    wall = time.perf_counter() - t0
    ma = compiled.memory_analysis()
    fields = ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes",
              "generated_code_size_in_bytes")
    out = {f: int(getattr(ma, f)) for f in fields}
    out["param_bytes"] = int(sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(state["params"])))
    out["compile_s"] = wall
    return out
