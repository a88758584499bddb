"""Minibatch samplers (host, NumPy): GraphSAGE neighbour sampling and Cluster-GCN.

Both are pure functions of (seed, epoch, step): the sampler state a checkpoint needs is
just those integers, so a resumed run draws exactly the same batches. Every batch of a
sampler has the same padded shapes (one compile).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .graph import Graph, GraphError, make_graph, unpad_edges


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
    import pymetis
    indptr, indices = csr(g)
    n = indptr.size - 1
    if not 1 <= num_parts <= n:
        raise GraphError(f"num_parts={num_parts} must be in 1..{n}")
    if num_parts == 1:
        return np.zeros(n, np.int64)
    opts = pymetis.Options(seed=seed)
    _, parts = pymetis.part_graph(num_parts, xadj=indptr, adjncy=indices, options=opts)
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
        indptr, _ = csr(g)
        deg = np.diff(indptr)
        sizes = np.sort([m.size for m in self.members])[::-1]
        degs = np.sort([deg[m].sum() for m in self.members])[::-1]
        self.num_nodes_pad = int(sizes[:self.q].sum()) + 1
        self.num_edges_pad = int(degs[:self.q].sum())

    def clusters(self, epoch: int, step: int) -> np.ndarray:
        perm = _rng(self.seed, epoch, 0, 1).permutation(self.num_parts)
        return perm[step * self.q:(step + 1) * self.q]

    def sample(self, epoch: int, step: int) -> Graph:
        from .graph import subgraph
        nodes = np.sort(np.concatenate([self.members[c] for c in self.clusters(epoch, step)]))
        return subgraph(self.g, nodes, num_nodes_pad=self.num_nodes_pad,
                        num_edges_pad=self.num_edges_pad)
