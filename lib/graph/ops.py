"""Message passing on receiver-sorted segments.

`Adjacency` holds a weighted sparse matrix A in two layouts: edges sorted by receiver
(forward, out = A h) and by sender (the transpose, used in the backward pass). `spmm`
has a custom VJP so that the backward pass is another *sorted* segment sum instead of
the unsorted scatter-add that autodiff of a gather produces; for symmetric A (GCN
normalisation of an undirected graph) the transpose reuses the forward arrays.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class Adjacency:
    senders: jax.Array     # [E] int32, sorted by receiver
    receivers: jax.Array   # [E] int32, non-decreasing
    weights: jax.Array     # [E] float32, 0 on padding
    mask: jax.Array        # [E] bool, False on padding
    t_senders: jax.Array   # transpose layout (sorted by original sender); == senders if symmetric
    t_receivers: jax.Array
    t_weights: jax.Array
    num_nodes: int = struct.field(pytree_node=False)
    symmetric: bool = struct.field(pytree_node=False, default=False)

    def transpose_arrays(self):
        if self.symmetric:
            return self.senders, self.receivers, self.weights
        return self.t_senders, self.t_receivers, self.t_weights


def _sorted_aggregate(h, senders, receivers, weights, num_nodes):
    msg = h.at[senders].get(mode="promise_in_bounds")
    msg = msg * weights.reshape(weights.shape + (1,) * (h.ndim - 1)).astype(h.dtype)
    return jax.ops.segment_sum(msg, receivers, num_nodes, indices_are_sorted=True)


@jax.custom_vjp
def spmm(adj: Adjacency, h: jax.Array) -> jax.Array:
    """out[i] = sum_{e: receiver(e)=i} w_e h[sender(e)]  (A h with fixed edge weights)."""
    return _sorted_aggregate(h, adj.senders, adj.receivers, adj.weights, adj.num_nodes)


def _spmm_fwd(adj, h):
    return spmm(adj, h), adj


def _spmm_bwd(adj, g):
    s, r, w = adj.transpose_arrays()
    # d h = A^T g; edge weights are constants of the graph (no cotangent).
    return None, _sorted_aggregate(g, s, r, w, adj.num_nodes)


spmm.defvjp(_spmm_fwd, _spmm_bwd)


def propagate(h, senders, receivers, weights, num_nodes):
    """A h with differentiable (e.g. attention) edge weights; plain autodiff."""
    return _sorted_aggregate(h, senders, receivers, weights, num_nodes)


def segment_softmax(logits, receivers, mask, num_nodes):
    """Softmax of edge logits [E, H] over the incoming edges of each receiver."""
    neg = jnp.finfo(logits.dtype).min
    logits = jnp.where(mask[:, None], logits, neg)
    mx = jax.ops.segment_max(logits, receivers, num_nodes, indices_are_sorted=True)
    ex = jnp.where(mask[:, None], jnp.exp(logits - mx[receivers]), 0.0)
    den = jax.ops.segment_sum(ex, receivers, num_nodes, indices_are_sorted=True)
    return ex / jnp.maximum(den[receivers], 1e-16)


def to_dense(adj: Adjacency) -> np.ndarray:
    """Dense A (host, for tests)."""
    a = np.zeros((adj.num_nodes, adj.num_nodes), np.float64)
    np.add.at(a, (np.asarray(adj.receivers), np.asarray(adj.senders)), np.asarray(adj.weights))
    return a
