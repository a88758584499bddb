"""CELU-VFL's instance weighting of stale updates.

For a cached pair (A, D) reused in a local update, each instance k is weighted by how well the
stale message still points the way: s_k = cos(u_k, v_k) clipped to [-1, 1] (norms floored at
1e-12), and w_k = s_k if s_k >= xi, else 0.
- guest: u = the gradient of the loss wrt the cached host activations under the current
  guest models, v = the derivatives sent with them;
- host: u = its freshly recomputed activations, v = the activations it sent.
"""

from __future__ import annotations

import jax.numpy as jnp


def cosine(u, v, floor: float = 1e-12):
    """Row-wise cosine similarity of [B, F] arrays, clipped to [-1, 1]."""
    nu = jnp.maximum(jnp.linalg.norm(u, axis=-1), floor)
    nv = jnp.maximum(jnp.linalg.norm(v, axis=-1), floor)
    return jnp.clip(jnp.sum(u * v, axis=-1) / (nu * nv), -1.0, 1.0)


def make_weight_fn(xi: float):
    """weight_fn(role, u, v) -> w [B] for lib.vfl.parties.VerticalModel.local_update."""
    def weight_fn(role, u, v):
        s = cosine(u, v)
        return jnp.where(s >= xi, s, 0.0)
    return weight_fn
