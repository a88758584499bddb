"""Edge normalisations, computed once on the host: GCN, mean, sum, Cluster-GCN.

- 'gcn':   D^-1/2 (A + I) D^-1/2               (Kipf & Welling)
- 'mean':  D^-1 A  (GraphSAGE mean aggregator; self term handled by the layer)
- 'sum':   A       (GIN, GAT structure)
- 'cluster_gcn': Ã = (D + I)^-1 (A + I); Ã + λ diag(Ã)   (Chiang et al., diagonal enhancement)
"""
from __future__ import annotations

import numpy as np

from .graph import Graph, GraphError, bucket_size, unpad_edges
from .ops import Adjacency

NORMS = ("gcn", "mean", "sum", "cluster_gcn")


def edge_weights(senders, receivers, num_nodes: int, norm: str, lam: float = 0.0):
    """Weights for real edges (self loops must already be present where wanted)."""
    if norm not in NORMS:
        raise GraphError(f"norm={norm!r} is not one of {NORMS}")
    deg_in = np.bincount(receivers, minlength=num_nodes).astype(np.float64)
    if norm == "gcn":
        deg_out = np.bincount(senders, minlength=num_nodes).astype(np.float64)
        w = 1.0 / np.sqrt(np.maximum(deg_out[senders], 1) * np.maximum(deg_in[receivers], 1))
    elif norm == "mean":
        w = 1.0 / np.maximum(deg_in[receivers], 1)
    elif norm == "sum":
        w = np.ones(senders.shape[0])
    else:
        w = 1.0 / np.maximum(deg_in[receivers], 1)
        w = np.where(senders == receivers, w * (1.0 + lam), w)
    return w.astype(np.float32)


def build_adjacency(g: Graph, norm: str = "gcn", self_loops: bool = True, lam: float = 0.0,
                    num_edges_pad: int | None = None) -> Adjacency:
    """Normalised adjacency of a host graph, padded; self loops on real nodes if asked
    (existing self loops are replaced, so each real node has exactly one)."""
    if norm not in NORMS:
        raise GraphError(f"norm={norm!r} is not one of {NORMS}")
    if norm == "cluster_gcn" and not self_loops:
        raise GraphError("norm='cluster_gcn' needs self_loops=True (Ã = (D+I)^-1 (A+I))")
    n_pad = g.num_nodes
    s, r = unpad_edges(g)
    s, r = s.astype(np.int64), r.astype(np.int64)
    if self_loops:
        keep = s != r
        real = np.nonzero(np.asarray(g.node_mask))[0]
        s = np.concatenate([s[keep], real])
        r = np.concatenate([r[keep], real])
    order = np.lexsort((s, r))
    s, r = s[order], r[order]
    w = edge_weights(s, r, n_pad, norm, lam)
    e = s.shape[0]
    e_pad = bucket_size(e) if num_edges_pad is None else int(num_edges_pad)
    if e_pad < e:
        raise GraphError(f"num_edges_pad={e_pad} < {e} edges (self loops included)")
    pad = n_pad - 1

    def padded(a, fill, dtype):
        out = np.full(e_pad, fill, dtype)
        out[:e] = a
        return out

    mask = padded(np.ones(e, bool), False, bool)
    to = np.lexsort((r, s))
    fwd_key = r * n_pad + s
    symmetric = bool(np.array_equal(fwd_key, (s * n_pad + r)[to]) and np.allclose(w, w[to]))
    return Adjacency(
        senders=padded(s, pad, np.int32), receivers=padded(r, pad, np.int32),
        weights=padded(w, 0.0, np.float32), mask=mask,
        t_senders=padded(r[to], pad, np.int32), t_receivers=padded(s[to], pad, np.int32),
        t_weights=padded(w[to], 0.0, np.float32),
        num_nodes=n_pad, symmetric=symmetric)
