"""Message passing on receiver-sorted segments.

`Adjacency` holds a weighted sparse matrix A in two layouts: edges sorted by receiver and
by sender. Each aggregation is one gather (rows of h along edges) and one scatter-add.
On XLA:CPU the random-index gather is the expensive half (the scatter-add is several times
cheaper), so by default (`gather_sorted=True`) `spmm` gathers with *sorted* indices in both
passes: the forward uses the sender-sorted layout (gather h[sender] sorted, scatter to
receivers) and its custom VJP uses the receiver-sorted layout for A^T g (gather g[receiver]
sorted, scatter to senders). Plain autodiff would instead gather randomly in one of the two
passes. `gather_sorted=False` gives the receiver-sorted segment sum (indices_are_sorted
scatter) in the forward pass, the usual choice on accelerators. For symmetric A (GCN
normalisation of an undirected graph) both layouts are the same arrays with roles swapped.
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
    gather_sorted: bool = struct.field(pytree_node=False, default=True)

    def by_sender(self):
        """(senders sorted, receivers, weights) of A's edges in sender order."""
        if self.symmetric:  # the transpose of A is A: swap roles of the receiver-sorted arrays
            return self.receivers, self.senders, self.weights
        return self.t_receivers, self.t_senders, self.t_weights


def _aggregate(h, gather_idx, scatter_idx, weights, num_nodes, gather_sorted, scatter_sorted):
    msg = h.at[gather_idx].get(mode="promise_in_bounds", indices_are_sorted=gather_sorted)
    msg = msg * weights.reshape(weights.shape + (1,) * (h.ndim - 1)).astype(h.dtype)
    return jax.ops.segment_sum(msg, scatter_idx, num_nodes, indices_are_sorted=scatter_sorted)


def _sorted_aggregate(h, senders, receivers, weights, num_nodes):
    return _aggregate(h, senders, receivers, weights, num_nodes, False, True)


@jax.custom_vjp
def spmm(adj: Adjacency, h: jax.Array) -> jax.Array:
    """out[i] = sum_{e: receiver(e)=i} w_e h[sender(e)]  (A h with fixed edge weights)."""
    if adj.gather_sorted:
        s, r, w = adj.by_sender()
        return _aggregate(h, s, r, w, adj.num_nodes, True, False)
    return _aggregate(h, adj.senders, adj.receivers, adj.weights, adj.num_nodes, False, True)


def _spmm_fwd(adj, h):
    return spmm(adj, h), adj


def _spmm_bwd(adj, g):
    # d h = A^T g: out[s] = sum_e w_e g[r]; edge weights are graph constants (no cotangent).
    if adj.gather_sorted:
        return None, _aggregate(g, adj.receivers, adj.senders, adj.weights, adj.num_nodes, True, False)
    s, r, w = adj.by_sender()
    return None, _aggregate(g, r, s, w, adj.num_nodes, False, True)


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
