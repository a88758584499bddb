"""Graph container with static shapes.

Structure is built on the host (NumPy): edges are sorted by receiver, node and edge
arrays are padded to bucket sizes, and padding is marked by masks. Padding edges
point at the last (padding) node and carry weight 0, so they sort to the end and
never touch a real node. Only arrays travel to the device; shapes depend on the
bucket, not on the graph, so one compiled step serves many graphs.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from flax import struct

from lib.errors import TesseraError


class GraphError(TesseraError, ValueError):
    """Malformed graph input (names the array, the bad value and what is allowed)."""


@struct.dataclass
class Graph:
    x: np.ndarray            # [N, F] node features (float or codes)
    y: np.ndarray            # [N] int32 labels (0 on padding)
    senders: np.ndarray      # [E] int32, edges sorted by receiver
    receivers: np.ndarray    # [E] int32, non-decreasing
    node_mask: np.ndarray    # [N] bool, False on padding nodes
    edge_mask: np.ndarray    # [E] bool, False on padding edges
    train_mask: np.ndarray   # [N] bool
    val_mask: np.ndarray     # [N] bool
    test_mask: np.ndarray    # [N] bool
    graph_id: np.ndarray     # [N] int32, which graph of a batch a node belongs to

    @property
    def num_nodes(self) -> int:
        return self.node_mask.shape[-1]

    @property
    def num_edges(self) -> int:
        return self.edge_mask.shape[-1]


def bucket_size(n: int, minimum: int = 16, growth: float = 1.25) -> int:
    """Smallest bucket >= n+1 from a geometric ladder (one spare slot for padding)."""
    b = minimum
    while b < n + 1:
        b = int(np.ceil(b * growth / 8.0) * 8)
    return b


def check_edges(senders, receivers, num_nodes: int, name: str = "graph") -> None:
    senders = np.asarray(senders)
    receivers = np.asarray(receivers)
    if senders.shape != receivers.shape or senders.ndim != 1:
        raise GraphError(f"{name}: senders {senders.shape} and receivers {receivers.shape} must be "
                         "1-D arrays of the same length")
    for label, idx in (("senders", senders), ("receivers", receivers)):
        if idx.size and (idx.min() < 0 or idx.max() >= num_nodes):
            bad = idx[(idx < 0) | (idx >= num_nodes)][0]
            raise GraphError(f"{name}: edge index out of range in {label}: {int(bad)} "
                             f"(allowed 0..{num_nodes - 1} for {num_nodes} nodes)")


def make_graph(x, y, senders, receivers, *, train_mask=None, val_mask=None, test_mask=None,
               num_nodes_pad: Optional[int] = None, num_edges_pad: Optional[int] = None,
               name: str = "graph") -> Graph:
    """Validate, sort edges by receiver (then sender) and pad to the given sizes.

    num_*_pad default to `bucket_size`; nodes get at least one padding slot so that
    padding edges have somewhere to point.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = x.shape[0]
    if y.shape[0] != n:
        raise GraphError(f"{name}: feature/label count mismatch: {n} feature rows vs {y.shape[0]} labels")
    senders = np.asarray(senders, np.int64)
    receivers = np.asarray(receivers, np.int64)
    check_edges(senders, receivers, n, name)
    e = senders.shape[0]
    n_pad = bucket_size(n) if num_nodes_pad is None else int(num_nodes_pad)
    e_pad = bucket_size(e) if num_edges_pad is None else int(num_edges_pad)
    if n_pad < n + 1:
        raise GraphError(f"{name}: num_nodes_pad={n_pad} must be >= num_nodes+1={n + 1}")
    if e_pad < e:
        raise GraphError(f"{name}: num_edges_pad={e_pad} must be >= num_edges={e}")
    order = np.lexsort((senders, receivers))
    pad_node = n_pad - 1
    s = np.full(e_pad, pad_node, np.int32)
    r = np.full(e_pad, pad_node, np.int32)
    s[:e] = senders[order]
    r[:e] = receivers[order]
    xp = np.zeros((n_pad,) + x.shape[1:], x.dtype)
    xp[:n] = x
    yp = np.zeros((n_pad,) + y.shape[1:], np.int32)
    yp[:n] = y

    def mask(m):
        out = np.zeros(n_pad, bool)
        if m is not None:
            m = np.asarray(m, bool)
            if m.shape != (n,):
                raise GraphError(f"{name}: mask shape {m.shape} != ({n},)")
            out[:n] = m
        return out

    node_mask = np.zeros(n_pad, bool)
    node_mask[:n] = True
    edge_mask = np.zeros(e_pad, bool)
    edge_mask[:e] = True
    return Graph(x=xp, y=yp, senders=s, receivers=r, node_mask=node_mask, edge_mask=edge_mask,
                 train_mask=mask(train_mask), val_mask=mask(val_mask), test_mask=mask(test_mask),
                 graph_id=np.zeros(n_pad, np.int32))


def unpad_edges(g: Graph):
    """Real (senders, receivers) of a host graph."""
    m = np.asarray(g.edge_mask)
    return np.asarray(g.senders)[m], np.asarray(g.receivers)[m]


def batch_graphs(graphs: Sequence[Graph], num_nodes_pad: Optional[int] = None,
                 num_edges_pad: Optional[int] = None) -> Graph:
    """Disjoint union of host graphs (real nodes only), re-padded; graph_id marks the source.

    Node offsets grow with the graph index, so receiver order stays sorted.
    """
    xs, ys, ss, rs, tr, va, te, gid = [], [], [], [], [], [], [], []
    off = 0
    for i, g in enumerate(graphs):
        nm = np.asarray(g.node_mask)
        n = int(nm.sum())
        s, r = unpad_edges(g)
        xs.append(np.asarray(g.x)[:n]); ys.append(np.asarray(g.y)[:n])
        ss.append(s + off); rs.append(r + off)
        tr.append(np.asarray(g.train_mask)[:n]); va.append(np.asarray(g.val_mask)[:n])
        te.append(np.asarray(g.test_mask)[:n]); gid.append(np.full(n, i, np.int32))
        off += n
    out = make_graph(np.concatenate(xs), np.concatenate(ys), np.concatenate(ss), np.concatenate(rs),
                     train_mask=np.concatenate(tr), val_mask=np.concatenate(va),
                     test_mask=np.concatenate(te), num_nodes_pad=num_nodes_pad,
                     num_edges_pad=num_edges_pad, name="batch")
    g_id = np.full(out.num_nodes, len(graphs), np.int32)
    g_id[:off] = np.concatenate(gid)
    return out.replace(graph_id=g_id)


def subgraph(g: Graph, nodes: np.ndarray, num_nodes_pad=None, num_edges_pad=None) -> Graph:
    """Induced subgraph on `nodes` (host; keeps all edges among them), relabelled 0..len-1."""
    nodes = np.asarray(nodes)
    s, r = unpad_edges(g)
    local = np.full(g.num_nodes, -1, np.int64)
    local[nodes] = np.arange(nodes.size)
    keep = (local[s] >= 0) & (local[r] >= 0)
    return make_graph(np.asarray(g.x)[nodes], np.asarray(g.y)[nodes], local[s[keep]], local[r[keep]],
                      train_mask=np.asarray(g.train_mask)[nodes], val_mask=np.asarray(g.val_mask)[nodes],
                      test_mask=np.asarray(g.test_mask)[nodes], num_nodes_pad=num_nodes_pad,
                      num_edges_pad=num_edges_pad, name="subgraph")


def to_undirected(senders, receivers, num_nodes: int, self_loops: bool = False):
    """Symmetrize and deduplicate an edge list (host); optionally drop self loops."""
    s = np.concatenate([senders, receivers]).astype(np.int64)
    r = np.concatenate([receivers, senders]).astype(np.int64)
    if not self_loops:
        keep = s != r
        s, r = s[keep], r[keep]
    key = np.unique(r * num_nodes + s)
    return (key % num_nodes).astype(np.int64), (key // num_nodes).astype(np.int64)
