"""Edge and label sparsity: the settings under which ROD is evaluated.

`thin_edges` keeps a seeded random fraction of the undirected edges (both directions of a kept
edge stay, so the graph stays symmetric); `thin_labels` keeps `labels_per_class` of the labelled
(train) nodes of each class. `sparsify` does both and rebuilds the graph with the node padding of
the original, so every setting of a data set has the same node shapes (one compile per method).
Bad values raise `SparsityError` (a `ConfigError`) before anything is built or compiled.
"""
from __future__ import annotations

import numpy as np

from lib.config import ConfigError
from lib.graph.graph import Graph, make_graph, unpad_edges


class SparsityError(ConfigError):
    """An edge-keep fraction or a labels-per-class count that cannot be applied."""


def check_edge_keep(edge_keep) -> float:
    if isinstance(edge_keep, bool) or not isinstance(edge_keep, (int, float, np.floating, np.integer)) \
            or not 0.0 < float(edge_keep) <= 1.0:
        raise SparsityError(f"config.sparsity.edge_keep={edge_keep!r} must be a fraction in (0, 1] "
                            "(the share of undirected edges kept)")
    return float(edge_keep)


def check_labels_per_class(labels) -> int:
    if isinstance(labels, bool) or not isinstance(labels, (int, np.integer)) or labels < 1:
        raise SparsityError(f"config.sparsity.labels_per_class={labels!r} must be an integer >= 1")
    return int(labels)


def undirected_pairs(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Each undirected edge once as (u, v) with u < v (self loops dropped)."""
    s, r = unpad_edges(g)
    keep = s < r
    key = np.unique(s[keep].astype(np.int64) * g.num_nodes + r[keep])
    return key // g.num_nodes, key % g.num_nodes


def thin_edges(g: Graph, edge_keep: float, rng: np.random.Generator):
    """(senders, receivers) of round(edge_keep * m) of the m undirected edges, both directions."""
    edge_keep = check_edge_keep(edge_keep)
    u, v = undirected_pairs(g)
    m = u.size
    k = int(round(edge_keep * m))
    idx = np.sort(rng.permutation(m)[:k])
    u, v = u[idx], v[idx]
    return np.concatenate([u, v]), np.concatenate([v, u])


def thin_labels(g: Graph, labels_per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Train mask with `labels_per_class` nodes of each class drawn from the original train nodes."""
    labels_per_class = check_labels_per_class(labels_per_class)
    real = np.asarray(g.node_mask)
    y = np.asarray(g.y)
    train = np.asarray(g.train_mask) & real
    out = np.zeros_like(train)
    for c in range(int(y[real].max()) + 1):
        idx = np.nonzero(train & (y == c))[0]
        if idx.size < labels_per_class:
            raise SparsityError(f"config.sparsity.labels_per_class={labels_per_class}: class {c} has only "
                                f"{idx.size} labelled (train) nodes; allowed 1..{idx.size}")
        out[rng.choice(idx, labels_per_class, replace=False)] = True
    return out


def sparsify(g: Graph, edge_keep: float, labels_per_class: int, seed: int) -> Graph:
    """The graph with thinned edges and labels (seeded); node padding unchanged."""
    check_edge_keep(edge_keep)
    check_labels_per_class(labels_per_class)
    rng_e = np.random.default_rng([seed, 0])
    rng_l = np.random.default_rng([seed, 1])
    train = thin_labels(g, labels_per_class, rng_l)
    s, r = thin_edges(g, edge_keep, rng_e)
    n = int(np.asarray(g.node_mask).sum())
    return make_graph(np.asarray(g.x)[:n], np.asarray(g.y)[:n], s, r, train_mask=train[:n],
                      val_mask=np.asarray(g.val_mask)[:n], test_mask=np.asarray(g.test_mask)[:n],
                      num_nodes_pad=g.num_nodes, name="sparsified")


def walk_pairs(g: Graph, max_hops: int, walks_per_node: int, seed: int):
    """Reception-field positives: for hop k = 1..max_hops, (start, node reached after a k-step
    uniform random walk) for `walks_per_node` walks from every real node. Returns (src [K, P],
    dst [K, P], mask [K, P]); walks from isolated nodes (and padding) are masked out. P depends
    only on the node count, not on the edges, so the shape is the same at every edge fraction."""
    n_pad = g.num_nodes
    real = np.asarray(g.node_mask)
    s, r = unpad_edges(g)
    order = np.lexsort((r, s))
    s, r = s[order], r[order]
    deg = np.bincount(s, minlength=n_pad)
    indptr = np.concatenate([[0], np.cumsum(deg)])
    rng = np.random.default_rng([seed, 2])
    starts = np.repeat(np.arange(n_pad), walks_per_node)
    ok = real[starts] & (deg[starts] > 0)
    cur = starts.copy()
    src, dst, mask = [], [], []
    for _ in range(max_hops):
        d = deg[cur]
        pick = indptr[cur] + np.floor(rng.random(cur.size) * np.maximum(d, 1)).astype(np.int64)
        cur = np.where(d > 0, r[np.minimum(pick, max(r.size - 1, 0))] if r.size else cur, cur)
        src.append(starts); dst.append(cur.copy()); mask.append(ok.copy())
    return (np.stack(src).astype(np.int32), np.stack(dst).astype(np.int32), np.stack(mask).astype(np.float32))
