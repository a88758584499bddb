"""Subgraphs for partitioned embedding, and the merge of their embeddings (our reading of DistNE).

The graph's nodes are split into k parts (METIS). Each part's induced subgraph holds the edges
inside it; a *border* node has an edge to another part, and the border subgraph is induced on all
border nodes (it holds every cut edge, plus edges between border nodes of the same part). The k
part subgraphs and the border subgraph are embedded independently (in parallel), each in its own
coordinate system. The merge puts them in one: for part i, the border nodes of i have an embedding
in both systems, so a similarity transform (rotation and scale, orthogonal Procrustes) maps part
i's system onto the border system; a border node's final embedding is the mean of its two
embeddings there. Every step is linear in the number of nodes.

All graphs are laid out as one disjoint union (part 0 .. part k-1, then the border graph), so one
walk kernel walks them all and walks never leave their subgraph.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lib.graph.vertex_cut import PartitionError


class Subgraphs(NamedTuple):
    parts: np.ndarray  # [N] part id of each node
    border: np.ndarray  # [N] bool
    members: list  # per subgraph (k parts, then the border graph): global node ids, sorted
    senders: np.ndarray  # union graph edges (both directions), union node ids
    receivers: np.ndarray
    offsets: np.ndarray  # [k + 2] first union id of each subgraph (and the total)


def split(senders: np.ndarray, receivers: np.ndarray, num_nodes: int, parts: np.ndarray,
          halo: int = 0) -> Subgraphs:
    """`senders`/`receivers`: both directions of every undirected edge; `parts` [N] in 0..k-1.
    `halo` > 0 widens the border set by that many hops (more nodes shared by a part and the border
    graph: more anchors for the merge's alignment, a larger border graph)."""
    parts = np.asarray(parts, np.int64)
    k = int(parts.max()) + 1
    sizes = np.bincount(parts, minlength=k)
    if (sizes == 0).any():
        raise PartitionError(f"part(s) {np.flatnonzero(sizes == 0).tolist()} of {k} are empty: use fewer parts "
                             f"than the graph's {num_nodes} nodes can fill")
    s, r = np.asarray(senders, np.int64), np.asarray(receivers, np.int64)
    cut = parts[s] != parts[r]
    border = np.zeros(num_nodes, bool)
    border[s[cut]] = True
    for _ in range(halo):
        border[r[border[s]]] = True
    members = [np.flatnonzero(parts == i) for i in range(k)] + [np.flatnonzero(border)]
    offsets = np.concatenate([[0], np.cumsum([len(m) for m in members])])
    local = np.full((k + 1, num_nodes), -1, np.int64)  # global -> union id, per subgraph
    for j, m in enumerate(members):
        local[j, m] = offsets[j] + np.arange(len(m))
    inner = ~cut
    between_border = border[s] & border[r]
    us = np.concatenate([local[parts[s[inner]], s[inner]], local[k, s[between_border]]])
    ur = np.concatenate([local[parts[r[inner]], r[inner]], local[k, r[between_border]]])
    return Subgraphs(parts, border, members, us, ur, offsets)


def procrustes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """(R orthogonal, s) minimising ||s x R - y||_F (rows paired)."""
    u, sv, vt = np.linalg.svd(x.T @ y)
    scale = float(sv.sum() / max((x * x).sum(), 1e-30))
    return u @ vt, scale


def merge(sub: Subgraphs, embeddings: list, num_nodes: int) -> tuple[np.ndarray, dict]:
    """One [N, D] embedding from the k part embeddings and the border one (each [n_j, D] in member
    order). Returns it and per-part alignment residuals (relative, on the border nodes)."""
    k = len(sub.members) - 1
    border_ids = sub.members[k]
    border_pos = np.full(num_nodes, -1, np.int64)
    border_pos[border_ids] = np.arange(len(border_ids))
    eb = embeddings[k]
    out = np.zeros((num_nodes, eb.shape[1]), np.float64)
    residual = {}
    walked = np.bincount(sub.senders, minlength=sub.offsets[-1]) > 0  # per union node: had walks
    for i in range(k):
        ids, e = sub.members[i], np.asarray(embeddings[i], np.float64)
        own = walked[sub.offsets[i]:sub.offsets[i + 1]]
        b = sub.border[ids]
        both = b & own  # border nodes with a trained embedding in both systems
        if both.sum() == 0:  # a part with no trained border node: nothing to align it with
            out[ids] = e
            residual[i] = None
        else:
            x, y = e[both], eb[border_pos[ids[both]]]
            rot, scale = procrustes(x, y)
            mapped = scale * e @ rot
            residual[i] = float(np.linalg.norm(mapped[both] - y) / max(np.linalg.norm(y), 1e-30))
            out[ids] = mapped
        # border nodes: the mean of both systems where the part trained them, else the border's alone
        yb = eb[border_pos[ids[b]]]
        out[ids[b]] = np.where(own[b][:, None], 0.5 * (out[ids[b]] + yb), yb)
    return out.astype(np.float32), residual
