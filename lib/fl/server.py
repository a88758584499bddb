"""Server optimizers. They consume the server "pseudo-gradient" g = -direction, where
direction is the aggregated client delta (local - global), so plain SGD with lr 1 is
FedAvg: x <- x + direction.

- `sgd`: x <- x - lr g (lr = server learning rate eta_g).
- `fedavgm`: heavy-ball momentum (Hsu et al. 2019), via optax.sgd(momentum).
- `fedadam`, `fedyogi`, `fedadagrad`: Reddi et al. 2021 ("Adaptive Federated
  Optimization", Alg. 2) exactly: no bias correction, tau added outside the root,
  v initialised to tau^2 (the paper's v_{-1} >= tau^2). optax's adam/yogi/adagrad
  bias-correct or place eps differently, so these three are written here as small
  optax GradientTransformations.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lib.config import ConfigError

NAMES = ("sgd", "fedavgm", "fedadam", "fedyogi", "fedadagrad")


class AdaptiveState(NamedTuple):
    m: optax.Updates
    v: optax.Updates


def _adaptive(kind: str, lr, b1: float, b2: float, tau: float) -> optax.GradientTransformation:
    def init(params):
        return AdaptiveState(
            jax.tree.map(jnp.zeros_like, params), jax.tree.map(lambda p: jnp.full_like(p, tau**2), params)
        )

    def update(grads, state, params=None):
        del params
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
        if kind == "fedadagrad":
            v = jax.tree.map(lambda v, g: v + g * g, state.v, grads)
        elif kind == "fedyogi":
            v = jax.tree.map(lambda v, g: v - (1 - b2) * g * g * jnp.sign(v - g * g), state.v, grads)
        else:  # fedadam
            v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.v, grads)
        upd = jax.tree.map(lambda m, v: -lr * m / (jnp.sqrt(v) + tau), m, v)
        return upd, AdaptiveState(m, v)

    return optax.GradientTransformation(init, update)


def make(name: str, lr: float = 1.0, momentum: float = 0.9, b1: float = 0.9, b2: float = 0.99,
         tau: float = 1e-3) -> optax.GradientTransformation:
    """Server optimizer by name; a ConfigError names the value and the allowed names."""
    if name not in NAMES:
        raise ConfigError(f"server optimizer={name!r} is unknown; choose one of {list(NAMES)}")
    if lr <= 0:
        raise ConfigError(f"server lr={lr} must be > 0")
    if name == "sgd":
        return optax.sgd(lr)
    if name == "fedavgm":
        return optax.sgd(lr, momentum=momentum)
    return _adaptive(name, lr, b1, b2, tau)


def apply(opt: optax.GradientTransformation, params, opt_state, direction):
    """One server step along `direction` (the aggregated delta). Returns (params, opt_state)."""
    grads = jax.tree.map(jnp.negative, direction)
    upd, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, upd), opt_state
