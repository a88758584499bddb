"""Skip-gram with negative sampling on random walks (DeepWalk / node2vec embeddings).

`skipgram_pairs` turns walks [W, L] and their mask into (center, context) pairs within a
window (static shape W * sum_o 2 (L - o), with a validity mask). `train_skipgram` learns
input and output embeddings with the SGNS loss

    -log s(u_c . v_o) - sum_{k} log s(-u_c . v_nk),   n_k ~ unigram(walk counts)^0.75,

over shuffled minibatches of pairs: one jitted `lax.scan` per epoch, optax Adam. Keys are
`fold_in(key, epoch)`, so a run is a pure function of its inputs.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .walks import WalkError


def skipgram_pairs(nodes, mask, window: int):
    """(centers, contexts, valid), each [P]: all ordered pairs at distance 1..window."""
    if not isinstance(window, int) or window < 1:
        raise WalkError(f"window={window!r} must be an integer >= 1")
    nodes, mask = jnp.asarray(nodes), jnp.asarray(mask)
    cs, xs, vs = [], [], []
    for o in range(1, min(window, nodes.shape[1] - 1) + 1):
        a, b = nodes[:, :-o], nodes[:, o:]
        v = mask[:, :-o] & mask[:, o:]
        cs += [a.reshape(-1), b.reshape(-1)]
        xs += [b.reshape(-1), a.reshape(-1)]
        vs += [v.reshape(-1), v.reshape(-1)]
    return jnp.concatenate(cs), jnp.concatenate(xs), jnp.concatenate(vs)


def sgns_loss(params, centers, contexts, negatives, valid):
    u = params["in"][centers]                       # [B, D]
    v = params["out"][contexts]                     # [B, D]
    vn = params["out"][negatives]                   # [B, K, D]
    pos = jax.nn.log_sigmoid(jnp.sum(u * v, -1))
    neg = jnp.sum(jax.nn.log_sigmoid(-jnp.einsum("bd,bkd->bk", u, vn)), -1)
    w = valid.astype(jnp.float32)
    return -jnp.sum(w * (pos + neg)) / jnp.maximum(jnp.sum(w), 1.0)


@functools.partial(jax.jit, static_argnames=("batch", "negatives", "tx"))
def _epoch(params, opt_state, centers, contexts, valid, logits, key, batch: int, negatives: int, tx):
    p = centers.shape[0]
    steps = p // batch
    k_perm, k_neg = jax.random.split(key)
    perm = jax.random.permutation(k_perm, p)[:steps * batch].reshape(steps, batch)

    def step(c, i):
        params, opt_state = c
        idx = perm[i]
        neg = jax.random.categorical(jax.random.fold_in(k_neg, i), logits, shape=(batch, negatives))
        loss, g = jax.value_and_grad(sgns_loss)(params, centers[idx], contexts[idx], neg, valid[idx])
        upd, opt_state = tx.update(g, opt_state, params)
        return (optax.apply_updates(params, upd), opt_state), loss
    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
    return params, opt_state, jnp.mean(losses)


def train_skipgram(nodes, mask, num_nodes: int, key, dim: int = 64, window: int = 5, negatives: int = 5,
                   epochs: int = 1, batch: int = 1024, learning_rate: float = 0.01):
    """Returns ({'in': [N, D], 'out': [N, D]}, per-epoch mean losses)."""
    for name, v in (("dim", dim), ("negatives", negatives), ("epochs", epochs), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise WalkError(f"{name}={v!r} must be an integer >= 1")
    centers, contexts, valid = skipgram_pairs(nodes, mask, window)
    if centers.shape[0] < batch:
        raise WalkError(f"{centers.shape[0]} skip-gram pairs < batch={batch}: more or longer walks needed")
    counts = jnp.zeros(num_nodes).at[jnp.asarray(nodes).reshape(-1)].add(jnp.asarray(mask).reshape(-1))
    logits = jnp.where(counts > 0, 0.75 * jnp.log(jnp.maximum(counts, 1.0)), -jnp.inf)
    k_init, k_train = jax.random.split(key)
    params = {"in": (jax.random.uniform(k_init, (num_nodes, dim)) - 0.5) / dim,
              "out": jnp.zeros((num_nodes, dim))}
    tx = optax.adam(learning_rate)
    opt_state = tx.init(params)
    losses = []
    for e in range(epochs):
        params, opt_state, loss = _epoch(params, opt_state, centers, contexts, valid, logits,
                                         jax.random.fold_in(k_train, e), batch, negatives, tx)
        losses.append(float(loss))
    return params, losses
