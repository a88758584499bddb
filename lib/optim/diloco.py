"""DiLoCo's outer step (Douillard et al., arXiv 2311.08105), synchronous and one-step delayed.

k workers start a round from the global parameters x, each runs H inner optimizer steps on its
own data and ends at x_i. The outer gradient is the averaged pseudo-gradient

    delta = x - mean_i x_i

and the outer optimizer is SGD with Nesterov momentum (the paper: lr 0.7, momentum 0.9), written
as PyTorch's and optax's `sgd(nesterov=True)` state it:

    m <- mu m + delta;   x <- x - lr (delta + mu m)          (nesterov=False: x <- x - lr m)

One-step delayed variant (the pseudo-gradient's all-reduce overlaps the next round's inner
steps): round r's workers start from x_r, which cannot yet include round r-1's delta, so

    x_{r+1} = outer(x_r, delta_{r-1}),   delta_{r-1} = x_{r-1} - mean_i x_i^{(r-1)}

(the first round applies nothing). `delayed_update` keeps delta_r pending in the state for the
next round. Everything is float32 and elementwise: the update is the same on any sharding.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from lib.config import ConfigError


class OuterState(NamedTuple):
    momentum: object  # pytree like the params
    pending: object  # the delayed variant's delta not yet applied (zeros in the synchronous one)
    has_pending: jax.Array  # bool scalar


def check(lr, momentum, *, prefix: str = "config.outer") -> None:
    """Named errors for an outer lr <= 0 or a momentum outside [0, 1)."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or lr != lr or lr == float("inf"):
        raise ConfigError(f"{prefix}.lr={lr!r} must be a finite number > 0")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ConfigError(f"{prefix}.momentum={momentum!r} must be in [0, 1)")


def init(params) -> OuterState:
    zeros = jax.tree.map(jnp.zeros_like, params)
    return OuterState(zeros, jax.tree.map(jnp.zeros_like, params), jnp.zeros((), bool))


def pseudo_gradient(params, worker_params):
    """x - mean_i x_i; worker leaves carry the workers on a leading axis."""
    return jax.tree.map(lambda x, w: x - jnp.mean(w.astype(jnp.float32), axis=0).astype(x.dtype),
                        params, worker_params)


def apply(params, state: OuterState, delta, *, lr: float, momentum: float, nesterov: bool = True):
    """One outer SGD step on `delta`: (params, state with the new momentum)."""
    m = jax.tree.map(lambda m, d: momentum * m + d, state.momentum, delta)
    step = jax.tree.map(lambda d, m: d + momentum * m, delta, m) if nesterov else m
    new = jax.tree.map(lambda x, s: x - lr * s, params, step)
    return new, state._replace(momentum=m)


def update(params, state: OuterState, delta, *, lr, momentum, nesterov=True, delay: int = 0):
    """The synchronous step (delay 0) or the one-step delayed one (delay 1)."""
    if delay == 0:
        return apply(params, state, delta, lr=lr, momentum=momentum, nesterov=nesterov)
    if delay != 1:
        raise ConfigError(f"outer delay={delay!r}: only 0 (synchronous) and 1 (one-step delayed) exist")
    return delayed_update(params, state, delta, lr=lr, momentum=momentum, nesterov=nesterov)


def delayed_update(params, state: OuterState, delta, *, lr, momentum, nesterov=True):
    """Applies the pending delta (if any) and keeps `delta` pending for the next round."""
    stepped, moved = apply(params, state, state.pending, lr=lr, momentum=momentum, nesterov=nesterov)
    pick = lambda a, b: jax.tree.map(lambda u, v: jnp.where(state.has_pending, u, v), a, b)  # noqa: E731
    return pick(stepped, params), OuterState(pick(moved.momentum, state.momentum), delta, jnp.ones((), bool))
