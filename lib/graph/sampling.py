"""Minibatch samplers (host, NumPy): GraphSAGE neighbour sampling and Cluster-GCN.

Both are pure functions of (seed, epoch, step): the sampler state a checkpoint needs is
just those integers, so a resumed run draws exactly the same batches. Every batch of a
sampler has the same padded shapes (one compile). `ClusterBatches` turns Cluster-GCN
batches into what a jitted step takes: features, labels, loss mask and the normalised
adjacency, padded to one static shape, several batches stacked per step.
"""
from __future__ import annotations

import collections
import time
from typing import Sequence

import jax
import numpy as np

from .graph import Graph, GraphError, make_graph, unpad_edges
from .norm import build_adjacency


def csr(g: Graph):
    """(indptr, indices) of incoming neighbours: indices[indptr[i]:indptr[i+1]] send to i."""
    s, r = unpad_edges(g)
    n = int(np.asarray(g.node_mask).sum())
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    return indptr, s.astype(np.int64)  # receivers are sorted, so senders are in CSR order


def _rng(seed: int, epoch: int, step: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, step, stream])


class NeighborSampler:
    """Fan-out neighbour sampling (Hamilton et al.): seeds, then up to fanouts[0] in-neighbours
    of each seed, then fanouts[1] of each of those, ... without replacement (all of them when
    the degree is smaller). The batch is the union subgraph of sampled nodes and sampled edges;
    seeds come first (positions 0..batch_size-1, masked by `train_mask`)."""

    def __init__(self, g: Graph, seeds: np.ndarray, batch_size: int, fanouts: Sequence[int],
                 seed: int = 0, shuffle: bool = True):
        if batch_size <= 0 or any(f <= 0 for f in fanouts):
            raise GraphError(f"batch_size={batch_size} and fanouts={list(fanouts)} must be positive")
        seeds = np.asarray(seeds)
        if seeds.size == 0:
            raise GraphError("NeighborSampler: empty seed set (empty split?)")
        self.g, self.seeds, self.batch_size, self.fanouts = g, seeds, batch_size, list(fanouts)
        self.seed, self.shuffle = seed, shuffle
        self.indptr, self.indices = csr(g)
        self.steps_per_epoch = int(np.ceil(seeds.size / batch_size))
        n_bound, e_bound, frontier = batch_size, 0, batch_size
        for f in self.fanouts:
            frontier *= f
            n_bound += frontier
            e_bound += frontier
        self.num_nodes_pad = min(n_bound, int(np.asarray(g.node_mask).sum())) + 1
        self.num_edges_pad = e_bound

    def sample(self, epoch: int, step: int) -> Graph:
        rng = _rng(self.seed, epoch, step)
        order = _rng(self.seed, epoch, 0, 1).permutation(self.seeds.size) if self.shuffle \
            else np.arange(self.seeds.size)
        batch = self.seeds[order[step * self.batch_size:(step + 1) * self.batch_size]]
        nodes = list(batch)
        pos = {int(v): i for i, v in enumerate(batch)}
        frontier = batch
        es, er = [], []
        for f in self.fanouts:
            lo, hi = self.indptr[frontier], self.indptr[frontier + 1]
            deg = hi - lo
            seg = np.repeat(np.arange(frontier.size), deg)
            eidx = np.repeat(lo - np.concatenate([[0], np.cumsum(deg)[:-1]]), deg) + np.arange(deg.sum())
            key = rng.random(eidx.size)
            o = np.lexsort((key, seg))
            seg, eidx = seg[o], eidx[o]
            start = np.concatenate([[0], np.cumsum(deg)[:-1]])
            rank = np.arange(seg.size) - start[seg]
            keep = rank < f
            src = self.indices[eidx[keep]]
            dst = frontier[seg[keep]]
            new = []
            for v in src:
                v = int(v)
                if v not in pos:
                    pos[v] = len(nodes); nodes.append(v); new.append(v)
            es.append(np.fromiter((pos[int(v)] for v in src), np.int64, src.size))
            er.append(np.fromiter((pos[int(v)] for v in dst), np.int64, dst.size))
            frontier = np.asarray(new, np.int64)
        nodes = np.asarray(nodes, np.int64)
        s = np.concatenate(es); r = np.concatenate(er)
        key = np.unique(r * nodes.size + s)  # a node reached twice keeps one copy of each edge
        s, r = key % nodes.size, key // nodes.size
        g = self.g
        seed_mask = np.zeros(nodes.size, bool); seed_mask[:batch.size] = True
        return make_graph(np.asarray(g.x)[nodes], np.asarray(g.y)[nodes], s, r, train_mask=seed_mask,
                          num_nodes_pad=self.num_nodes_pad, num_edges_pad=self.num_edges_pad,
                          name="neighbor_batch")


def metis_partition(g: Graph, num_parts: int, seed: int = 0) -> np.ndarray:
    """Cluster id per real node from METIS (pymetis) on the symmetrised graph."""
    indptr, indices = csr(g)
    return metis_parts(indptr, indices, num_parts, seed)


def metis_parts(indptr, indices, num_parts: int, seed: int = 0) -> np.ndarray:
    """Part id per node from METIS (pymetis), given a symmetric graph's CSR (indptr [N+1], indices)."""
    import pymetis
    n = len(indptr) - 1
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)) or not 1 <= num_parts <= n:
        raise GraphError(f"num_parts={num_parts!r} must be an integer in 1..{n}")
    if num_parts == 1:
        return np.zeros(n, np.int64)
    opts = pymetis.Options(seed=seed)
    _, parts = pymetis.part_graph(int(num_parts), xadj=np.asarray(indptr), adjncy=np.asarray(indices), options=opts)
    return np.asarray(parts, np.int64)


class ClusterSampler:
    """Cluster-GCN batches: clusters shuffled per epoch, `clusters_per_batch` at a time; a batch
    is the induced subgraph of their union, so between-cluster edges among them are kept."""

    def __init__(self, g: Graph, num_parts: int, clusters_per_batch: int, seed: int = 0):
        if not 1 <= clusters_per_batch <= num_parts:
            raise GraphError(f"clusters_per_batch={clusters_per_batch} must be in 1..num_parts={num_parts}")
        self.g, self.q, self.seed, self.num_parts = g, clusters_per_batch, seed, num_parts
        self.parts = metis_partition(g, num_parts, seed)
        self.members = [np.nonzero(self.parts == p)[0] for p in range(num_parts)]
        self.steps_per_epoch = int(np.ceil(num_parts / clusters_per_batch))
        self.indptr, self.indices = csr(g)
        self._local = np.full(g.num_nodes, -1, np.int64)  # global -> batch position, reset after each use
        deg = np.diff(self.indptr)
        sizes = np.sort([m.size for m in self.members])[::-1]
        degs = np.sort([deg[m].sum() for m in self.members])[::-1]
        self.num_nodes_pad = int(sizes[:self.q].sum()) + 1
        self.num_edges_pad = int(degs[:self.q].sum())

    def clusters(self, epoch: int, step: int) -> np.ndarray:
        perm = _rng(self.seed, epoch, 0, 1).permutation(self.num_parts)
        return perm[step * self.q:(step + 1) * self.q]

    def induced(self, clusters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(nodes, senders, receivers) of the subgraph induced by the union of `clusters`: nodes sorted,
        edges in batch positions, grouped by receiver in node order (the graph's own edge order).
        Read from the CSR rows of the batch's nodes: O(batch edges), not O(all edges)."""
        nodes = np.sort(np.concatenate([self.members[c] for c in clusters]))
        lo, deg = self.indptr[nodes], self.indptr[nodes + 1] - self.indptr[nodes]
        start = np.cumsum(deg) - deg
        src = self.indices[np.repeat(lo - start, deg) + np.arange(deg.sum())]
        dst = np.repeat(np.arange(nodes.size), deg)
        self._local[nodes] = np.arange(nodes.size)
        src = self._local[src]
        self._local[nodes] = -1
        keep = src >= 0  # senders outside the chosen clusters are dropped
        return nodes, src[keep], dst[keep]

    def sample(self, epoch: int, step: int) -> Graph:
        nodes, s, r = self.induced(self.clusters(epoch, step))
        g = self.g
        return make_graph(np.asarray(g.x)[nodes], np.asarray(g.y)[nodes], s, r,
                          train_mask=np.asarray(g.train_mask)[nodes], val_mask=np.asarray(g.val_mask)[nodes],
                          test_mask=np.asarray(g.test_mask)[nodes], num_nodes_pad=self.num_nodes_pad,
                          num_edges_pad=self.num_edges_pad, name="cluster_batch")


class ClusterBatches:
    """Cluster-GCN training batches for a jitted step (host), padded to one static shape.

    `ClusterSampler` gives the METIS partition and the clusters of each batch (a pure function of
    (seed, epoch, index)) and the induced subgraph of their union. A batch is
    {'x', 'y', 'loss_mask' (training nodes of the batch), 'adj' (the subgraph normalised with
    `norm` / `lam`, self loops added, lib.graph.norm)}. Its structure (nodes, labels, adjacency)
    depends only on the set of clusters, so it is cached (LRU, `cache` entries; 0 turns the cache
    off); features are gathered from the host feature matrix for each batch, so only the batch's
    rows reach the device. `batches(step)` stacks the `batches_per_step` batches of a step on a
    leading axis; batch b of the run is batch b % steps_per_epoch of epoch b // steps_per_epoch.
    """

    def __init__(self, g: Graph, num_parts: int, clusters_per_batch: int, batches_per_step: int,
                 norm: str, lam: float, seed: int, cache: int = 256):
        self.g = g
        self.x = np.asarray(g.x, np.float32)
        t0 = time.perf_counter()
        self.sampler = ClusterSampler(g, num_parts, clusters_per_batch, seed=seed)
        self.partition_time_s = time.perf_counter() - t0
        self.norm, self.lam, self.k = norm, lam, batches_per_step
        self.steps_per_epoch = self.sampler.steps_per_epoch  # batches per epoch
        self.num_nodes_pad = self.sampler.num_nodes_pad
        self.num_edges_pad = self.sampler.num_edges_pad + self.sampler.num_nodes_pad  # + self loops
        self.cache_size = cache
        self._cache: collections.OrderedDict = collections.OrderedDict()

    def induced(self, clusters) -> tuple[np.ndarray, Graph]:
        """(nodes, Graph) of the subgraph induced by the union of `clusters` (structure only: no features)."""
        nodes, s, r = self.sampler.induced(clusters)
        g = self.g
        sub = make_graph(np.zeros((nodes.size, 0), np.float32), np.asarray(g.y)[nodes], s, r,
                         train_mask=np.asarray(g.train_mask)[nodes], num_nodes_pad=self.num_nodes_pad,
                         num_edges_pad=self.num_edges_pad - self.num_nodes_pad, name="cluster_batch")
        return nodes, sub

    def pad_to(self, num_nodes_pad: int, num_edges_pad: int) -> None:
        """Pad to a larger common shape (e.g. the largest over several seeds' partitions)."""
        if num_nodes_pad < self.num_nodes_pad or num_edges_pad < self.num_edges_pad:
            raise GraphError(f"pad_to({num_nodes_pad}, {num_edges_pad}) is smaller than the batches "
                             f"({self.num_nodes_pad}, {self.num_edges_pad})")
        self.num_nodes_pad, self.num_edges_pad = int(num_nodes_pad), int(num_edges_pad)
        self._cache.clear()

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, index in epoch) of the first batch of `step`."""
        return divmod(step * self.k, self.steps_per_epoch)

    def _structure(self, epoch: int, index: int) -> dict:
        key = tuple(sorted(int(c) for c in self.sampler.clusters(epoch, index)))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        nodes, sub = self.induced(key)
        adj = build_adjacency(sub, self.norm, self_loops=True, lam=self.lam, num_edges_pad=self.num_edges_pad)
        real = np.asarray(sub.node_mask)
        ids = np.zeros(self.num_nodes_pad, np.int64)
        ids[:nodes.size] = nodes
        out = {"ids": ids, "node_mask": real,
               "y": np.asarray(sub.y, np.int32), "loss_mask": np.asarray(sub.train_mask) & real,
               # the same static layout for every batch (symmetry of the normalised A varies)
               "adj": adj.replace(symmetric=False)}
        if self.cache_size:
            self._cache[key] = out
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def one(self, epoch: int, index: int) -> dict:
        s = self._structure(epoch, index)
        x = self.x[s["ids"]]
        x[~s["node_mask"]] = 0.0
        return {"x": x, "y": s["y"], "loss_mask": s["loss_mask"], "adj": s["adj"]}

    def __call__(self, step: int) -> dict:
        """The `batches_per_step` batches of `step`, stacked on a leading axis."""
        first = step * self.k
        parts = [self.one(*divmod(b, self.steps_per_epoch)) for b in range(first, first + self.k)]
        return jax.tree.map(lambda *xs: np.stack(xs), *parts)
