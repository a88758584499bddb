"""Data-parallel classifier training with LAMB, LARS, AdamW or momentum SGD.

The global batch is sharded over the mesh axis `data`; parameters and optimizer state
are replicated; `jax.jit` with these shardings makes XLA all-reduce the gradients. The
same code runs on 1 device, 8 simulated CPU devices, or many hosts (each process builds
only its own devices' slice of every global batch, see lib.mesh.global_array).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import mesh as mesh_lib
from lib import train as train_lib
from lib.data import mnist as mnist_data
from lib.data.iterators import EpochBatcher, padded_batches
from lib.models.mlp import MLP
from lib.optim import large_batch

DATASETS = ("digits", "mnist")


DEFAULT_LR_SCALING = {"lamb": "sqrt", "adamw": "sqrt", "lars": "linear", "sgd": "linear"}


def resolve(config) -> None:
    """Derived values, after overrides: base LR and scaling rule per optimizer when not given."""
    with config.unlocked():
        if config.get("base_lr") is None:
            config.base_lr = config.tuned_base_lr[config.optimizer]
        if config.get("lr_scaling") is None:
            config.lr_scaling = DEFAULT_LR_SCALING[config.optimizer]


def validate(config) -> None:
    """Every check that can fail on bad input, before any data is loaded or anything compiled."""
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "optimizer", large_batch.OPTIMIZERS)
    resolve(config)
    config_lib.choice(config, "lr_scaling", large_batch.LR_SCALING)
    for key in ("batch_size", "base_batch_size", "base_lr", "eval_batch_size"):
        config_lib.positive(config, key)
    config_lib.positive(config, "weight_decay", allow_zero=True)
    config_lib.positive(config, "eps")
    config_lib.positive(config, "lr_decay_power", allow_zero=True)
    for key in ("b1", "b2", "momentum"):  # decay rates: 1 or more never forgets (or diverges)
        v = config[key]
        if not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise config_lib.ConfigError(f"config.{key}={v!r} must be in [0, 1)")
    if not all(isinstance(h, int) and h > 0 for h in config.model.hidden):
        raise config_lib.ConfigError(f"config.model.hidden={config.model.hidden!r} must be positive ints")


def load_data(config):
    if config.dataset == "digits":
        return mnist_data.load_digits(seed=config.seed)
    return mnist_data.load_mnist(config_lib.data_dir(config), flatten=True)


def train_and_evaluate(config, workdir: str) -> dict:
    validate(config)
    mesh = mesh_lib.make_mesh(config.mesh, config.get("mesh_dcn"))
    mesh_lib.check_batch(config.batch_size, mesh)
    mesh_lib.check_batch(config.eval_batch_size, mesh, key="eval_batch_size")
    x_train, y_train, x_test, y_test = load_data(config)

    batcher = EpochBatcher(len(x_train), config.batch_size, seed=config.seed)
    total = config_lib.steps(config, "total", batcher.steps_per_epoch)
    warmup = config_lib.steps(config, "warmup", batcher.steps_per_epoch, default=0)
    peak_lr = large_batch.scale_lr(config.base_lr, config.batch_size, config.base_batch_size, config.lr_scaling)
    schedule = large_batch.warmup_poly_decay(peak_lr, warmup, total, power=config.lr_decay_power)
    tx = large_batch.make(config.optimizer, schedule, weight_decay=config.weight_decay,
                          b1=config.b1, b2=config.b2, eps=config.eps, momentum=config.momentum)

    num_classes = int(max(y_train.max(), y_test.max())) + 1
    model = MLP(hidden=tuple(config.model.hidden), num_classes=num_classes)
    params = model.init(jax.random.fold_in(jax.random.PRNGKey(config.seed), 0), x_train[:1])["params"]
    repl = mesh_lib.replicated(mesh)
    batch_sharding = mesh_lib.batch_sharding(mesh)
    state = jax.device_put({"step": jnp.int32(0), "params": params, "opt_state": tx.init(params)}, repl)

    def loss_fn(params, x, y):
        logits = model.apply({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits

    @functools.partial(jax.jit, in_shardings=(repl, batch_sharding), out_shardings=(repl, repl))
    def train_step(state, batch):
        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], batch["x"], batch["y"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["y"]),
                   "lr": schedule(state["step"]), "grad_norm": optax.global_norm(grads)}
        new = {"step": state["step"] + 1, "params": optax.apply_updates(state["params"], updates),
               "opt_state": opt_state}
        return new, metrics

    @functools.partial(jax.jit, in_shardings=(repl, batch_sharding), out_shardings=repl)
    def eval_sums(params, batch):
        logits = model.apply({"params": params}, batch["x"])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
        m = batch["mask"]
        return {"loss": jnp.sum(ce * m), "correct": jnp.sum((jnp.argmax(logits, -1) == batch["y"]) * m)}

    def batch_fn(step):
        idx = batcher.indices(step)
        return mesh_lib.put_tree({"x": x_train[idx], "y": y_train[idx]}, batch_sharding)

    def eval_fn(state):
        tot = {"loss": 0.0, "correct": 0.0}
        for idx, mask in padded_batches(len(x_test), config.eval_batch_size):
            b = mesh_lib.put_tree({"x": x_test[idx], "y": y_test[idx], "mask": mask.astype(np.float32)},
                                  batch_sharding)
            for k, v in jax.device_get(eval_sums(state["params"], b)).items():
                tot[k] += float(v)
        return {"test_loss": tot["loss"] / len(x_test), "test_accuracy": tot["correct"] / len(x_test)}

    return train_lib.run(config, workdir, state=state, step_fn=train_step, batch_fn=batch_fn,
                         num_steps=total, eval_fn=eval_fn, examples_per_step=config.batch_size,
                         desc=f"lamb/{config.optimizer}/b{config.batch_size}")
