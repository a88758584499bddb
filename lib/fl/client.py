"""Local training of one client: a pure function, vmapped over clients by the engine.

Client data layout (`ClientData`): every sample of every client lives once in a flat
pool (`x` [T, ...], `y` [T]); client k owns the row `index[k]` of a padded table
[N, n_pad] whose first `num_samples[k]` entries are its pool rows (the rest are padding).
So clients of different sizes share one static shape without copying data, and
`n_pad` is a bucket size (a multiple of the batch size from a short geometric ladder),
so data sets of similar size compile once.

Exactness: a padded sample never enters a gradient. Batches are drawn only among the
client's real samples (per-sample random scores, padding forced last/out), the batch
loss is the mean over real samples of the batch, and the number of local steps of
client k is its own (`epochs * ceil(n_k / B)` or `num_steps`): the step loop is a
`while_loop`, so under `vmap` a client that is done is frozen by selects, not stepped
on empty batches. Per-sample scores come from `fold_in(key, sample_index)`, so the
batch order does not depend on n_pad: an unpadded reference reproduces it exactly.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.config import ConfigError

LOCAL_OPTIMIZERS = ("sgd", "adam")
MODES = ("steps", "epochs")


class ClientData(NamedTuple):
    x: Any  # [T, ...] flat pool of inputs
    y: Any  # [T] labels
    index: Any  # [N, n_pad] int32 pool rows of each client (padding rows point at 0)
    num_samples: Any  # [N] int32


def bucket_size(n: int, batch_size: int) -> int:
    """Smallest size >= n on the ladder batch_size * {1, 2, 3, 4, 6, 8, 12, 16, ...}."""
    units = math.ceil(max(n, 1) / batch_size)
    p = 1
    while True:
        for m in (p, p * 3 // 2 if p >= 2 else p):
            if m >= units:
                return m * batch_size
        p *= 2


def pack_clients(x, y, parts, batch_size: int) -> ClientData:
    """Stacks client index lists `parts` (list of int arrays into x/y) into ClientData.

    The pool is x/y reordered client by client so each client's samples are contiguous.
    """
    sizes = np.array([len(p) for p in parts], np.int32)
    if len(parts) == 0 or sizes.min() < 1:
        bad = [k for k, s in enumerate(sizes) if s < 1][:5]
        raise ConfigError(f"every client needs at least one sample; empty clients: {bad}")
    order = np.concatenate([np.asarray(p, np.int64) for p in parts])
    n_pad = bucket_size(int(sizes.max()), batch_size)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cols = np.arange(n_pad)[None, :]
    index = np.where(cols < sizes[:, None], offsets[:, None] + cols, 0).astype(np.int32)
    return ClientData(np.asarray(x)[order], np.asarray(y)[order], index, sizes)


def make_local_optimizer(name: str, learning_rate, momentum: float = 0.0) -> optax.GradientTransformation:
    if name == "sgd":
        return optax.sgd(learning_rate, momentum=momentum or None)
    if name == "adam":
        return optax.adam(learning_rate)
    raise ConfigError(f"local optimizer {name!r} is unknown; choose one of {list(LOCAL_OPTIMIZERS)}")


class LocalConfig(NamedTuple):
    """Static description of local training (hashable; changing it recompiles)."""

    batch_size: int
    mode: str = "steps"  # "steps": num_steps minibatches; "epochs": num_epochs passes
    num_steps: int = 1
    num_epochs: int = 1
    optimizer: str = "sgd"
    momentum: float = 0.0


def check_local_config(cfg: LocalConfig) -> None:
    if cfg.mode not in MODES:
        raise ConfigError(f"local mode={cfg.mode!r} is unknown; choose one of {list(MODES)}")
    if cfg.optimizer not in LOCAL_OPTIMIZERS:
        raise ConfigError(f"local optimizer={cfg.optimizer!r} is unknown; choose one of {list(LOCAL_OPTIMIZERS)}")
    for k in ("batch_size", "num_steps", "num_epochs"):
        if getattr(cfg, k) < 1:
            raise ConfigError(f"local {k}={getattr(cfg, k)} must be >= 1")


def sample_scores(key, n: int) -> jax.Array:
    """Uniform score per sample index, independent of how many indices exist."""
    return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i)))(jnp.arange(n))


def batch_positions(key, step, num_samples, n_pad: int, cfg: LocalConfig):
    """Positions (into the client's rows) and validity mask of the batch at `step`."""
    b = cfg.batch_size
    real = jnp.arange(n_pad) < num_samples
    if cfg.mode == "steps":
        scores = jnp.where(real, sample_scores(jax.random.fold_in(key, step), n_pad), -1.0)
        _, pos = jax.lax.top_k(scores, b)
        return pos, jnp.arange(b) < num_samples
    spe = (num_samples + b - 1) // b  # steps per epoch of this client
    epoch, within = step // spe, step % spe
    scores = jnp.where(real, sample_scores(jax.random.fold_in(key, epoch), n_pad), 2.0)
    perm = jnp.argsort(scores)
    pos = jax.lax.dynamic_slice(perm, (within * b,), (b,))
    return pos, (within * b + jnp.arange(b)) < num_samples


def num_local_steps(num_samples, cfg: LocalConfig):
    if cfg.mode == "steps":
        return jnp.asarray(cfg.num_steps, jnp.int32)
    return cfg.num_epochs * ((num_samples + cfg.batch_size - 1) // cfg.batch_size)


def make_local_update(loss_fn: Callable, cfg: LocalConfig, batch_transform: Callable | None = None):
    """Returns local_update(params, pool, client, client_state, key, hparams).

    loss_fn(params, x, y) -> per-sample losses [B]. pool = {'x', 'y'} (flat, shared by
    all clients); client = {'index': [n_pad], 'num_samples': []}; hparams = {'lr', 'prox_mu'}
    (traced, so schedules do not recompile), optionally 'num_steps' (steps mode: this call's
    local step count, traced). Returns (delta = local - global,
    client_state, metrics).

    batch_transform(xb, yb, bmask, client, hparams) -> (xb, yb), optional: changes each
    drawn batch before the loss (e.g. lib.fl.backdoor's poisoning of an attacker's
    batches). `client` is the slot's dict as the engine passes it (it also holds
    "byzantine" and "round" there); padded rows (bmask False) stay out of the loss.
    """
    check_local_config(cfg)
    b = cfg.batch_size

    def local_update(params, pool, client, client_state, key, hparams):
        index, n = client["index"], client["num_samples"]
        n_pad = index.shape[0]
        if n_pad % b:
            raise ValueError(f"padded client size {n_pad} is not a multiple of batch size {b}")
        opt = make_local_optimizer(cfg.optimizer, hparams["lr"], cfg.momentum)
        mu = hparams.get("prox_mu", 0.0)

        def batch_loss(p, xb, yb, bmask):
            per = loss_fn(p, xb, yb)
            loss = jnp.sum(jnp.where(bmask, per, 0.0)) / jnp.maximum(jnp.sum(bmask), 1)
            if "prox_mu" in hparams:  # FedProx: mu/2 ||w - w_global||^2
                sq = sum(jnp.sum((a - g) ** 2) for a, g in zip(jax.tree.leaves(p), jax.tree.leaves(params)))
                return loss + 0.5 * mu * sq, loss
            return loss, loss

        total = num_local_steps(n, cfg)
        if cfg.mode == "steps" and "num_steps" in hparams:  # per-task step counts (lib.fl.clock), no recompile
            total = jnp.asarray(hparams["num_steps"], jnp.int32)

        def body(carry):
            s, p, o, acc = carry
            pos, bmask = batch_positions(key, s, n, n_pad, cfg)
            rows = jnp.where(bmask, index[pos], index[0])
            # Zero the padded inputs too: 0 * grad would still be NaN for a non-finite input.
            xb = jnp.where(bmask.reshape((-1,) + (1,) * (pool["x"].ndim - 1)), pool["x"][rows], 0)
            yb = pool["y"][rows]
            if batch_transform is not None:
                xb, yb = batch_transform(xb, yb, bmask, client, hparams)
            (_, loss), g = jax.value_and_grad(batch_loss, has_aux=True)(p, xb, yb, bmask)
            upd, o = opt.update(g, o, p)
            return s + 1, optax.apply_updates(p, upd), o, acc + loss

        init = (jnp.asarray(0, jnp.int32), params, opt.init(params), jnp.asarray(0.0, jnp.float32))
        _, local, _, loss_sum = jax.lax.while_loop(lambda c: c[0] < total, body, init)
        delta = jax.tree.map(lambda a, g: a - g, local, params)
        metrics = {"train_loss": loss_sum / jnp.maximum(total, 1), "local_steps": total}
        return delta, client_state, metrics

    return local_update


def xent_loss(apply_fn):
    """Per-sample softmax cross-entropy of a flax-style apply_fn(params, x)."""

    def loss(params, x, y):
        logits = apply_fn(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y)

    return loss
