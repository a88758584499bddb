"""Federated Rank Learning (Mozaffari, Shejwalkar, Houmansadr, *Every Vote Counts: Ranking-Based
Training of Federated Learning to Resist Poisoning Attacks*, USENIX Security 2023).

The network's weights are random and frozen (signed constants); what is learned is a score per
edge. A layer's forward pass keeps the edges whose key (|score|, the authors' code, or the score
itself) is in the top (1 - sparsity) of the layer, with a straight-through gradient to the
scores (edge-popup). A client starts from the global scores, trains them locally and sends, per
layer, the *ranking* of its edges: position[e] = place of edge e when the layer's scores are
sorted ascending. The server votes: votes[e] = sum over clients of position[e]; edges sorted by
votes receive the sorted initial score values, the most voted edge the largest value. So the
global model is a permutation of the initial scores, and the next round starts from it.

On the engine: the learned params are the scores, a client's "delta" is {"rank": positions}
(float32, exact below 2^24 edges per layer); the strategy's finish sums the submitted positions
of the round's participants exactly (the vote) and turns it into the new scores (direction =
new scores - old scores, server SGD with lr 1). The engine's rule (`fedavg`, equal weights) sees
the same submitted rankings; its mean has the vote's order but is not used, since rounding could
merge two different vote totals into a tie.

Malicious clients (the paper's attack, from the authors' code): they train honestly, sum their
own position vectors, and all submit the reverse of that collective ranking.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lib.config import ConfigError
from lib.fl import engine

MASKS = ("abs", "value")


def check(sparsity, mask: str) -> None:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 < sparsity < 1.0:
        raise ConfigError(f"config.frl.sparsity={sparsity!r} must be in (0, 1) (the pruned fraction of each "
                          "layer's edges)")
    if mask not in MASKS:
        raise ConfigError(f"config.frl.mask={mask!r} is unknown; choose one of {MASKS}")


# ----------------------------------------------------------------------------- the network


def init_network(key, sizes, sparsity: float):
    """(frozen weights, initial scores) of an MLP without biases, sizes = (in, h1, ..., out).

    Weights: signed constants +-sqrt(2 / (fan_in (1 - sparsity))) (edge-popup's signed Kaiming
    constant, scaled for the kept fraction so activations keep their variance). Scores: U(-b, b)
    with b = 1 / sqrt(fan_in) (PyTorch's kaiming_uniform_(a=sqrt 5), the authors' init)."""
    weights, scores = {}, {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        kw, ks = jax.random.split(jax.random.fold_in(key, i))
        sign = jnp.where(jax.random.bernoulli(kw, 0.5, (a, b)), 1.0, -1.0)
        weights[f"layer{i}"] = sign * math.sqrt(2.0 / (a * (1.0 - sparsity)))
        bound = 1.0 / math.sqrt(a)
        scores[f"layer{i}"] = jax.random.uniform(ks, (a, b), jnp.float32, -bound, bound)
    return weights, scores


def kth_smallest(v, k: int):
    """The k-th smallest (0-based) entry of float32 v, exact, by bisection on the 32 bits of an
    order-preserving integer key (radix select): 32 counting passes instead of a sort, which
    XLA:CPU runs slowly and every local step would pay (measured: a 157k-edge layer's sort made
    a round ~10x slower)."""
    i = jax.lax.bitcast_convert_type(v.reshape(-1).astype(jnp.float32), jnp.uint32)
    neg = (i >> 31) == 1
    u = jnp.where(neg, ~i, i | jnp.uint32(0x80000000))  # unsigned order == float order

    def bit(j, prefix):
        cand = prefix | (jnp.uint32(1) << (31 - j).astype(jnp.uint32))
        return jnp.where(jnp.sum(u < cand) <= k, cand, prefix)

    r = jax.lax.fori_loop(0, 32, bit, jnp.uint32(0))
    back = jnp.where((r >> 31) == 1, r & jnp.uint32(0x7FFFFFFF), ~r)
    return jax.lax.bitcast_convert_type(back, jnp.float32)


def edge_mask(s, sparsity: float, mask: str):
    """Top (1 - sparsity) of the layer's edges by key (|s| or s) as a 0/1 array whose gradient is
    passed straight through to s (through |.| when mask='abs', as the authors' code does)."""
    k = s.size - int(round(sparsity * s.size))  # edges kept
    key = jnp.abs(s) if mask == "abs" else s
    kth = kth_smallest(jax.lax.stop_gradient(key), s.size - k)  # the k-th largest key
    hard = (key >= kth).astype(s.dtype)
    return hard + (key - jax.lax.stop_gradient(key))  # value exactly hard; gradient 1 to key


def apply(weights, scores, x, sparsity: float, mask: str):
    h = x.reshape(x.shape[0], -1)
    n = len(weights)
    for i in range(n):
        name = f"layer{i}"
        h = h @ (weights[name] * edge_mask(scores[name], sparsity, mask))
        if i < n - 1:
            h = jax.nn.relu(h)
    return h


# ----------------------------------------------------------------------------- ranking and vote


def _order(flat):
    """argsort(flat, stable) of float32 through an order-preserving int32 key (XLA:CPU sorts
    int keys ~1.5x faster than floats: measured, and every client sorts every layer)."""
    i = jax.lax.bitcast_convert_type(flat.astype(jnp.float32), jnp.int32)
    key = i ^ ((i >> 31) & jnp.int32(0x7FFFFFFF))  # negative floats: flip the magnitude bits
    return jax.lax.sort((key, jnp.arange(flat.size, dtype=jnp.int32)), num_keys=1, is_stable=True)[1]


def positions(v):
    """position[e] = place of edge e in the ascending order of v (flattened), as float32."""
    flat = v.reshape(-1)
    order = _order(flat)
    return jnp.zeros(flat.shape, jnp.float32).at[order].set(jnp.arange(flat.size, dtype=jnp.float32)).reshape(v.shape)


def scores_from_votes(votes, sorted_init):
    """Edges sorted by votes (ties: lower edge index first) get the ascending initial values."""
    flat = votes.reshape(-1)
    order = _order(flat)
    return jnp.zeros(flat.shape, sorted_init.dtype).at[order].set(sorted_init.reshape(-1)).reshape(votes.shape)


def sorted_initial(scores):
    return jax.tree.map(lambda s: jnp.sort(s.reshape(-1)), scores)


def reversed_collective(pos, byz):
    """The attack: every malicious row of pos [M, ...] becomes n - 1 - positions(sum of the
    malicious rows), the reverse of the malicious clients' collective ranking."""
    w = byz.astype(jnp.float32).reshape((-1,) + (1,) * (pos.ndim - 1))
    agg = positions(jnp.sum(pos * w, 0))
    bad = (pos[0].size - 1) - agg
    return jnp.where(w > 0, bad[None], pos)


def upload_bits(scores) -> int:
    """Bits a client uploads per round: per layer n ceil(log2 n) (a permutation of n edges)."""
    return int(sum(s.size * math.ceil(math.log2(s.size)) for s in jax.tree.leaves(scores)))


# ----------------------------------------------------------------------------- engine pieces


def local_update(loss_fn, local_cfg, mesh):
    """Local edge-popup training from the broadcast global scores; returns {"rank": positions}."""
    inner = engine.default_local_update(loss_fn, local_cfg, mesh)

    def update(params, pool, client, cstate, key, hparams):
        g = hparams["broadcast"]["scores"]  # exact global scores (params may differ by rounding)
        delta, cstate, m = inner(g, pool, client, cstate, key, hparams)
        trained = jax.tree.map(jnp.add, g, delta)
        return {"rank": jax.tree.map(positions, trained)}, cstate, m

    return update


def strategy(init_scores, byzantine: np.ndarray) -> engine.Strategy:
    """Equal-weight vote over the round's participants; the malicious ones (byzantine [N])
    replace their rankings by the reversed collective one before the vote."""
    sorted_init = sorted_initial(init_scores)
    byz_all = jnp.asarray(np.asarray(byzantine, bool))

    def init(params):
        return {"scores": jax.tree.map(jnp.asarray, params)}

    def submitted(deltas, ctx):
        byz = byz_all[ctx["idx"]] & ctx["valid"]
        return jax.tree.map(lambda p: reversed_collective(p, byz), deltas["rank"])

    def prepare(sstate, deltas, ctx):
        return submitted(deltas, ctx), ctx["valid"].astype(jnp.float32), jnp.float32(1.0), sstate

    def finish(sstate, mean_positions, deltas, ctx):
        # the vote is the exact integer sum of positions (float32 is exact below 2^24): the
        # rule's mean has the same order up to rounding ties, which would break the vote's tie rule
        w = ctx["valid"].astype(jnp.float32)
        votes = jax.tree.map(lambda p: jnp.tensordot(w, p, axes=1), submitted(deltas, ctx))
        new = jax.tree.map(scores_from_votes, votes, sorted_init)
        direction = jax.tree.map(jnp.subtract, new, sstate["scores"])
        return direction, {"scores": new}

    return engine.Strategy("frl", init, prepare, finish, broadcast=lambda s: {"scores": s["scores"]})
