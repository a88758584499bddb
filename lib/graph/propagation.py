"""Feature propagation Â^k X for k = 0..K, computed once and stored.

Decoupled and layer-wise GNNs (SGC, SIGN, ROD, L-GCN) precompute propagated features
instead of aggregating inside every training step. `propagation_powers` returns the stack
[X, ÂX, Â²X, ..., Â^K X] of shape [K+1, N, F] from one jitted `lax.scan` of `spmm`
(the native CPU kernel on CPU). Â must be a normalised adjacency: 'row' = D^-1 (A+I)
(row-stochastic) or 'sym' = D^-1/2 (A+I) D^-1/2 (`normalized_adjacency`); an adjacency
whose spectral radius can exceed one (plain A, 'sum') makes the powers blow up, so it is
refused with `NormalisationError` before anything is compiled (`normalisation_of`).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .graph import Graph, GraphError
from .norm import build_adjacency
from .ops import Adjacency, spmm

KINDS = ("row", "sym")
_NORM_OF_KIND = {"row": "mean", "sym": "gcn"}


class NormalisationError(GraphError):
    """An unnormalised adjacency was given where a normalised one is required."""


def normalized_adjacency(g: Graph, kind: str = "sym", self_loops: bool = True) -> Adjacency:
    """'row': D^-1 (A+I); 'sym': D^-1/2 (A+I) D^-1/2 (degrees counted with the self loop)."""
    if kind not in KINDS:
        raise GraphError(f"kind={kind!r} is not one of {KINDS}")
    return build_adjacency(g, _NORM_OF_KIND[kind], self_loops=self_loops)


def normalisation_of(adj: Adjacency, atol: float = 1e-5) -> str:
    """'row' if every non-empty row sums to one, 'sym' if each weight is 1/sqrt(d_r d_s) with
    d counted from the edge structure, else 'none' (host check, no compile)."""
    m = np.asarray(adj.mask)
    r = np.asarray(adj.receivers)[m].astype(np.int64)
    s = np.asarray(adj.senders)[m].astype(np.int64)
    w = np.asarray(adj.weights)[m].astype(np.float64)
    if w.size == 0:
        return "none"
    n = adj.num_nodes
    rows = np.bincount(r, weights=w, minlength=n)
    nonempty = np.bincount(r, minlength=n) > 0
    if np.allclose(rows[nonempty], 1.0, atol=atol):
        return "row"
    d_in = np.bincount(r, minlength=n).astype(np.float64)
    d_out = np.bincount(s, minlength=n).astype(np.float64)
    if np.allclose(w, 1.0 / np.sqrt(d_in[r] * d_out[s]), atol=atol):
        return "sym"
    return "none"


def require_normalised(adj: Adjacency, what: str = "propagation") -> str:
    kind = normalisation_of(adj)
    if kind == "none":
        raise NormalisationError(
            f"{what} needs a normalised adjacency (row D^-1 (A+I) or symmetric D^-1/2 (A+I) D^-1/2, "
            "e.g. lib.graph.propagation.normalized_adjacency(g, 'sym')); the one given has rows that do "
            "not sum to 1 and weights that are not 1/sqrt(d_i d_j) (an unnormalised 'sum' adjacency?)")
    return kind


@functools.partial(jax.jit, static_argnums=2)
def _powers(adj: Adjacency, x, k: int):
    def body(h, _):
        h = spmm(adj, h)
        return h, h
    _, hs = jax.lax.scan(body, x, None, length=k)
    return jnp.concatenate([x[None], hs], axis=0)


def propagation_powers(adj: Adjacency, x, k: int, check: bool = True) -> jax.Array:
    """[K+1, N, F]: Â^j X for j = 0..K (float32). `check` refuses an unnormalised Â."""
    if not isinstance(k, (int, np.integer)) or k < 0:
        raise GraphError(f"k={k!r} must be an integer >= 0")
    x = jnp.asarray(x, jnp.float32)
    if x.shape[0] != adj.num_nodes:
        raise GraphError(f"x has {x.shape[0]} rows but the adjacency has {adj.num_nodes} nodes")
    if check:
        require_normalised(adj)
    return _powers(adj, x, int(k))
