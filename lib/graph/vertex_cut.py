"""Vertex-cut partitions for full-batch training over a `graph` mesh axis (DistGNN's scheme).

Every undirected edge goes to exactly one of k partitions; a vertex is replicated in every
partition that holds one of its edges. A partition aggregates over its own edges only, giving
each of its replicas a *partial* aggregate; a vertex's full aggregate is the sum of its replicas'
partials. Only vertices with more than one replica ("split" vertices) need an exchange.

`greedy_vertex_cut` is the PowerGraph/Libra greedy rule: an edge goes to the least-loaded partition
that already holds both endpoints, else one of them, else any; so few vertices are split and the
edge load stays balanced. `build` lays the partitions out as padded, stacked host arrays (leading
axis k) ready to shard over the mesh; `aggregate` (inside `jax.shard_map`) sums partial
aggregates across partitions with one `psum` of the split vertices' rows.

Exchange modes (DistGNN): '0c' never exchanges (each replica uses its own partial aggregate,
averaged over its local edges); 'cd-0' exchanges every layer of every epoch (the same numbers as
training on the whole graph); 'cd-r' exchanges every r-th epoch and, in between, adds the remote
part (full - own partial) kept from the last exchange: stale by up to r - 1 epochs, and treated as
a constant by the gradient.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .graph import Graph, GraphError, unpad_edges

MODES = ("0c", "cd-0", "cd-r")


class PartitionError(GraphError):
    """A partitioning that cannot be used (k < 1, an empty partition, an unknown exchange mode)."""


def greedy_vertex_cut(senders, receivers, num_nodes: int, k: int, seed: int = 0) -> np.ndarray:
    """Partition id per undirected edge (u < v pairs, given once), PowerGraph's greedy placement."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise PartitionError(f"number of partitions k={k!r} must be a positive integer")
    if k > 62:
        raise PartitionError(f"k={k} partitions: at most 62 (replica sets are 64-bit masks)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(senders))
    reps = np.zeros(num_nodes, np.int64)  # bit p set: the vertex has a replica in partition p
    load = np.zeros(k, np.int64)
    out = np.empty(len(senders), np.int64)
    bits = 1 << np.arange(k, dtype=np.int64)
    s_all, r_all = np.asarray(senders), np.asarray(receivers)
    for e in order:
        u, v = s_all[e], r_all[e]
        both = reps[u] & reps[v]
        cand = both if both else (reps[u] | reps[v])
        if cand:
            allowed = (cand & bits) != 0
            p = int(np.argmin(np.where(allowed, load, np.iinfo(np.int64).max)))
        else:
            p = int(np.argmin(load))
        out[e] = p
        load[p] += 1
        reps[u] |= bits[p]
        reps[v] |= bits[p]
    return out


class Partitions(NamedTuple):
    """k partitions, padded to n_pad nodes / e_pad directed edges each, stacked on axis 0.
    Local node n_pad - 1 of each partition is padding; padding edges point at it."""
    global_id: np.ndarray     # [k, n_pad] int32, -1 on padding
    node_mask: np.ndarray     # [k, n_pad] bool
    master: np.ndarray        # [k, n_pad] bool: the one replica that counts the vertex (loss, accuracy)
    split_id: np.ndarray      # [k, n_pad] int32: row of the vertex among split vertices, num_split if not split
    senders: np.ndarray       # [k, e_pad] int32 local ids
    receivers: np.ndarray     # [k, e_pad] int32 local ids
    edge_mask: np.ndarray     # [k, e_pad] bool
    degree: np.ndarray        # [k, n_pad] float32: the vertex's in-degree in the whole graph
    local_degree: np.ndarray  # [k, n_pad] float32: its in-degree within the partition
    num_split: int            # vertices with more than one replica
    replicas: int             # total replicas (sum over partitions of real nodes)

    @property
    def k(self) -> int:
        return self.global_id.shape[0]

    def exchange_bytes(self, width: int, itemsize: int = 4) -> int:
        """Bytes one exchange of a width-`width` aggregate moves: every replica of a split vertex but
        one sends its partial to the owner and gets the sum back."""
        split_reps = int(np.sum(self.node_mask & (self.split_id < self.num_split)))
        return 2 * (split_reps - self.num_split) * width * itemsize


def build(g: Graph, k: int, seed: int = 0) -> Partitions:
    """Vertex-cut partitions of a host graph (its edges made undirected pairs first)."""
    s, r = unpad_edges(g)
    n = int(np.asarray(g.node_mask).sum())
    keep = s < r  # one undirected pair per edge; self loops dropped (SAGE adds the self term itself)
    u, v = s[keep].astype(np.int64), r[keep].astype(np.int64)
    if u.size == 0:
        raise PartitionError("the graph has no edges to partition")
    part = greedy_vertex_cut(u, v, n, k, seed)
    counts = np.bincount(part, minlength=k)
    if (counts == 0).any():
        raise PartitionError(f"{int((counts == 0).sum())} of k={k} partitions got no edge (the graph has "
                             f"{u.size} undirected edges); use fewer partitions")
    degree = np.bincount(np.concatenate([u, v]), minlength=n).astype(np.float32)
    nodes_of = [np.unique(np.concatenate([u[part == p], v[part == p]])) for p in range(k)]
    n_rep = np.zeros(n, np.int64)
    first = np.full(n, -1, np.int64)
    for p, nodes in enumerate(nodes_of):
        n_rep[nodes] += 1
        first[nodes[first[nodes] < 0]] = p
    lonely = np.nonzero(n_rep == 0)[0]  # isolated vertices: a replica in the least-loaded partition
    for x in lonely:
        p = int(np.argmin([len(a) for a in nodes_of]))
        nodes_of[p] = np.append(nodes_of[p], x)
        n_rep[x], first[x] = 1, p
    split = np.full(n, -1, np.int64)
    split[n_rep > 1] = np.arange(int((n_rep > 1).sum()))
    num_split = int((n_rep > 1).sum())
    n_pad = max(len(a) for a in nodes_of) + 1
    e_pad = 2 * int(counts.max())
    out = {name: [] for name in ("gid", "nm", "master", "sid", "s", "r", "em", "deg", "ldeg")}
    for p, nodes in enumerate(nodes_of):
        nodes = np.sort(nodes)
        local = np.full(n, -1, np.int64)
        local[nodes] = np.arange(nodes.size)
        es = np.concatenate([local[u[part == p]], local[v[part == p]]])
        er = np.concatenate([local[v[part == p]], local[u[part == p]]])
        order = np.argsort(er, kind="stable")
        pad_n, pad_e = n_pad - nodes.size, e_pad - es.size
        out["gid"].append(np.concatenate([nodes, -np.ones(pad_n, np.int64)]))
        out["nm"].append(np.arange(n_pad) < nodes.size)
        out["master"].append(np.concatenate([first[nodes] == p, np.zeros(pad_n, bool)]))
        out["sid"].append(np.concatenate([np.where(split[nodes] >= 0, split[nodes], num_split),
                                          np.full(pad_n, num_split)]))
        out["s"].append(np.concatenate([es[order], np.full(pad_e, n_pad - 1)]))
        out["r"].append(np.concatenate([er[order], np.full(pad_e, n_pad - 1)]))
        out["em"].append(np.arange(e_pad) < es.size)
        out["deg"].append(np.concatenate([degree[nodes], np.zeros(pad_n, np.float32)]))
        out["ldeg"].append(np.concatenate([np.bincount(er, minlength=nodes.size).astype(np.float32),
                                           np.zeros(pad_n, np.float32)]))
    st = {key: np.stack(val) for key, val in out.items()}
    return Partitions(global_id=st["gid"].astype(np.int32), node_mask=st["nm"], master=st["master"],
                      split_id=st["sid"].astype(np.int32), senders=st["s"].astype(np.int32),
                      receivers=st["r"].astype(np.int32), edge_mask=st["em"], degree=st["deg"],
                      local_degree=st["ldeg"], num_split=num_split, replicas=int(n_rep.sum()))


def node_values(parts: Partitions, values: np.ndarray, fill=0) -> np.ndarray:
    """Per-vertex host values laid out per partition: [k, n_pad, ...] (padding gets `fill`)."""
    values = np.asarray(values)
    gid = np.maximum(parts.global_id, 0)
    out = values[gid]
    return np.where(parts.node_mask.reshape(parts.node_mask.shape + (1,) * (values.ndim - 1)), out, fill)


def partial_sum(h, senders, receivers, edge_mask):
    """Sum over a partition's own edges: [n, F] -> [n, F] (h of the senders into the receivers)."""
    msg = jnp.where(edge_mask[:, None], h[senders], 0)
    return jax.ops.segment_sum(msg, receivers, num_segments=h.shape[0], indices_are_sorted=True)


def exchange(partial, split_id, num_split: int, axis: str):
    """Full aggregates from partial ones (inside shard_map over `axis`; the arguments are this
    device's partitions, [kl, n, F]): the split vertices' rows are summed over every partition."""
    kl, n, f = partial.shape
    buf = jnp.zeros((num_split + 1, f), partial.dtype).at[split_id.reshape(-1)].add(partial.reshape(-1, f))
    total = jax.lax.psum(buf, axis)
    return jnp.where((split_id < num_split)[..., None], total[split_id], partial)
