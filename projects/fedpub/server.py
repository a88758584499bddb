"""FED-PUB's server step: functional-embedding similarity -> one aggregated model per client.

S_ij = cos(e_i, e_j) over the clients' functional embeddings e (mean outputs on the proxy graph);
W_ij = exp(tau S_ij) / sum_j exp(tau S_ij) (row-normalised, i.e. a row softmax of tau S); client i
receives sum_j W_ij theta_j. The baselines are other mixing matrices over the same stacked models:
FedAvg's rows are all n_j / sum n (train sizes), local training's is the identity.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def cosine_similarity(emb):
    """[K, D] -> [K, K] cosine similarities (a zero embedding has similarity 0 to everything)."""
    norm = jnp.sqrt(jnp.sum(emb * emb, -1, keepdims=True))
    u = emb / jnp.where(norm > 0, norm, 1.0)
    return u @ u.T


def personalized_weights(sim, tau: float):
    """Row-normalised exp(tau * sim), computed as a stable row softmax."""
    return jax.nn.softmax(tau * sim, axis=-1)


def fedavg_weights(train_sizes):
    n = train_sizes.astype(jnp.float32)
    return jnp.broadcast_to(n / jnp.sum(n), (n.shape[0], n.shape[0]))


def mix(weights, stacked):
    """Client i gets sum_j weights[i, j] * stacked[j] for every leaf ([K, ...] -> [K, ...])."""
    return jax.tree.map(lambda a: jnp.tensordot(weights, a, axes=1).astype(a.dtype), stacked)
