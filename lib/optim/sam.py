"""Sharpness-Aware Minimization's gradient (Foret et al., ICLR 2021), for any local-training loop.

SAM replaces the gradient at y by the gradient at the worst point of a rho-ball around y, to
first order:

    g = grad L(y);   y_adv = y + rho * g / (||g|| + eps);   SAM gradient = grad L(y_adv)

||g|| is the global L2 norm over every leaf of the pytree (the paper's and its reference code's
choice; a per-leaf norm would be a different method). The optimizer then steps from y, not from
y_adv: y <- y - lr * grad L(y_adv). rho = 0 is the plain gradient (y_adv = y exactly).

`value_and_grad(loss_fn, params, *args, rho=...)` is the drop-in for `jax.value_and_grad(loss_fn)
(params, *args)`; `grad_fn(rho)` binds rho, which is what `lib.dl.engine.Method(grad_fn=...)`
takes. The loss returned is the loss at y (what a training log reports), the gradient is SAM's.
Costs a second forward/backward pass per step.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from lib.config import ConfigError

EPS = 1e-12  # keeps g / ||g|| finite at a stationary point (g = 0 gives y_adv = y)


class SAMRadiusError(ConfigError):
    """rho (the SAM neighbourhood radius) is negative or not a finite number."""


def check_rho(rho, key: str = "rho") -> float:
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not math.isfinite(rho) or rho < 0:
        raise SAMRadiusError(f"{key}={rho!r}: the SAM radius must be a finite number >= 0 (0 = plain gradient)")
    return float(rho)


def global_norm(tree) -> jax.Array:
    """sqrt(sum of squares over every leaf), in float32."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(l.astype(jnp.float32))) for l in jax.tree.leaves(tree)))


def perturb(params, grads, rho, eps: float = EPS):
    """y + rho * g / (||g|| + eps), every leaf in its own dtype."""
    scale = rho / (global_norm(grads) + eps)
    return jax.tree.map(lambda p, g: (p + scale * g.astype(jnp.float32)).astype(p.dtype), params, grads)


def value_and_grad(loss_fn, params, *args, rho, eps: float = EPS):
    """(loss_fn(params, *args), grad of loss_fn at the SAM point); loss_fn returns a scalar."""
    loss, g = jax.value_and_grad(loss_fn)(params, *args)
    g_adv = jax.grad(loss_fn)(perturb(params, g, rho, eps), *args)
    return loss, g_adv


def grad_fn(rho: float, eps: float = EPS):
    """value_and_grad with rho bound (validated now: SAMRadiusError before anything compiles)."""
    return functools.partial(value_and_grad, rho=check_rho(rho), eps=eps)
