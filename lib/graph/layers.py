"""GCN, GraphSAGE (mean), GAT and GIN layers as flax modules.

Every layer takes (adj, x) where `adj` is an `Adjacency` built with the normalisation
the layer expects (see each docstring). Linear maps commute with A, so GCN/SAGE apply
the dense map first when it narrows the features (fewer bytes move along edges).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from .ops import Adjacency, propagate, segment_softmax, spmm

LAYERS = ("gcn", "sage", "gat", "gin")


def spmm32(adj: Adjacency, h):
    """spmm with the neighbour sums in float32 whatever h's dtype (a node's sum over hundreds of
    bf16 neighbours loses digits; see lib/precision.py); the result comes back in h's dtype."""
    if h.dtype == jnp.float32:
        return spmm(adj, h)
    return spmm(adj, h.astype(jnp.float32)).astype(h.dtype)


def _aggregate_narrow(adj: Adjacency, x, dense: nn.Module, features: int):
    if features < x.shape[-1]:
        return spmm32(adj, dense(x))
    return dense(spmm32(adj, x))


class GCNConv(nn.Module):
    """X' = Â X W + b with Â from build_adjacency(norm='gcn' or 'cluster_gcn'); Glorot init
    as in Kipf & Welling. dtype: compute dtype of the dense map (parameters stay float32)."""
    features: int
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.glorot_uniform()
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, adj: Adjacency, x):
        dense = nn.Dense(self.features, use_bias=False, kernel_init=self.kernel_init, name="linear",
                         dtype=self.dtype)
        h = _aggregate_narrow(adj, x.astype(self.dtype), dense, self.features)
        if self.use_bias:
            h = h + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
        return h


class SAGEConv(nn.Module):
    """X' = X W_self + mean_{j->i} X_j W_neigh + b, adj with norm='mean', no self loops."""
    features: int

    @nn.compact
    def __call__(self, adj: Adjacency, x):
        neigh = _aggregate_narrow(adj, x, nn.Dense(self.features, use_bias=False, name="neigh"),
                                  self.features)
        return nn.Dense(self.features, name="self")(x) + neigh


class GATConv(nn.Module):
    """Multi-head graph attention (Veličković et al.); adj with norm='sum', self loops."""
    features: int
    heads: int = 1
    concat: bool = True
    negative_slope: float = 0.2
    attn_dropout: float = 0.0

    @nn.compact
    def __call__(self, adj: Adjacency, x, deterministic: bool = True):
        h = nn.Dense(self.heads * self.features, use_bias=False, name="linear")(x)
        h = h.reshape(h.shape[:-1] + (self.heads, self.features))
        init = nn.initializers.glorot_uniform()
        a_src = self.param("att_src", init, (1, self.heads, self.features))[0]
        a_dst = self.param("att_dst", init, (1, self.heads, self.features))[0]
        e_src = jnp.sum(h * a_src, -1)  # [N, H]
        e_dst = jnp.sum(h * a_dst, -1)
        logits = nn.leaky_relu(e_src[adj.senders] + e_dst[adj.receivers], self.negative_slope)
        alpha = segment_softmax(logits, adj.receivers, adj.mask, adj.num_nodes)  # [E, H]
        alpha = nn.Dropout(self.attn_dropout)(alpha, deterministic=deterministic)
        msg = h[adj.senders] * alpha[..., None]
        out = jax.ops.segment_sum(msg, adj.receivers, adj.num_nodes, indices_are_sorted=True)
        out = out.reshape(out.shape[:-2] + (-1,)) if self.concat else out.mean(-2)
        bias = self.param("bias", nn.initializers.zeros, (out.shape[-1],))
        return out + bias


class GINConv(nn.Module):
    """X' = MLP((1 + eps) X + sum_{j->i} X_j), adj with norm='sum', no self loops."""
    hidden: Sequence[int]
    train_eps: bool = True
    activation: Callable = nn.relu

    @nn.compact
    def __call__(self, adj: Adjacency, x):
        eps = self.param("eps", nn.initializers.zeros, ()) if self.train_eps else 0.0
        h = (1.0 + eps) * x + spmm(adj, x)
        for i, f in enumerate(self.hidden):
            h = nn.Dense(f, name=f"mlp_{i}")(h)
            if i < len(self.hidden) - 1:
                h = self.activation(h)
        return h


def layer_norm_kind(layer: str) -> tuple[str, bool]:
    """(norm, self_loops) each layer kind expects from build_adjacency."""
    return {"gcn": ("gcn", True), "sage": ("mean", False), "gat": ("sum", True),
            "gin": ("sum", False)}[layer]


__all__ = ["GCNConv", "SAGEConv", "GATConv", "GINConv", "LAYERS", "layer_norm_kind", "propagate"]
