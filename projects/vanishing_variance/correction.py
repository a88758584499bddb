"""Variance-corrected averaging (our stated rule; the paper's exact formula is not public).

Averaging k models whose weights are uncorrelated (e.g. independently initialised, variance
sigma^2 each) gives weights of variance ~ sigma^2 / k: the merged model no longer has the
initialisation's scale. The correction, per parameter tensor ("layer": each kernel and each
bias separately) of the merged model of node j:

    w_bar      = sum_k M_jk w_k                          (the plain weighted average)
    sigma_tgt  = sqrt(sum_k M_jk var(w_k))               (the averaged models' weighted variance)
    w          = mean(w_bar) + (w_bar - mean(w_bar)) * sigma_tgt / std(w_bar)

with mean / var / std over the tensor's entries. The mean of the tensor is kept; only the spread
around it is rescaled to what the averaged models had. When the averaged models are identical
(or perfectly correlated) std(w_bar) = sigma_tgt and the rule is the identity, so it fades out as
gossip makes the models agree. A tensor whose average has no spread (std < 1e-8, e.g. zero-init
biases) is left as averaged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-8


def _correct(flat_models, m):
    """flat_models [n, D] (one tensor of each model), m [r, n] merge weights -> [r, D] corrected averages."""
    hi = jax.lax.Precision.HIGHEST
    bar = jnp.dot(m, flat_models, precision=hi)
    target = jnp.sqrt(jnp.maximum(jnp.dot(m, jnp.var(flat_models, axis=1), precision=hi), 0.0))
    mu = jnp.mean(bar, axis=1, keepdims=True)
    sd = jnp.std(bar, axis=1)
    scale = jnp.where(sd > EPS, target / jnp.maximum(sd, EPS), 1.0)
    return mu + (bar - mu) * scale[:, None]


def corrected_average(tree, m, received=None):
    """The merge for lib.dl.gossip_learning: leaves [n, ...], m [r, n] row-stochastic -> leaves [r, ...]."""
    return jax.tree.map(lambda l: _correct(l.reshape(l.shape[0], -1).astype(jnp.float32), m).reshape(
        (m.shape[0],) + l.shape[1:]).astype(l.dtype), tree)


def average_models(tree, corrected: bool):
    """The (corrected) uniform average of k models (leaves [k, ...]) -> one model."""
    k = jax.tree.leaves(tree)[0].shape[0]
    m = jnp.full((1, k), 1.0 / k, jnp.float32)
    if corrected:
        return jax.tree.map(lambda l: l[0], corrected_average(tree, m))
    return jax.tree.map(lambda l: jnp.dot(m, l.reshape(k, -1).astype(jnp.float32),
                                          precision=jax.lax.Precision.HIGHEST).reshape(l.shape[1:]), tree)


def layer_stds(tree) -> dict:
    """{leaf path: std over its entries} of one model."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(p): float(jnp.std(l)) for p, l in flat}
