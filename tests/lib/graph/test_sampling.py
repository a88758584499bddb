import jax
import numpy as np
import pytest

from lib.graph import GraphError
from lib.graph.graph import subgraph, unpad_edges
from lib.graph.parallel import shard_batch, stack
from lib.graph.sampling import ClusterBatches, ClusterSampler, NeighborSampler, csr
from lib.graph.synthetic import csbm


def test_neighbor_sampler_fanout_and_determinism():
    g = csbm(num_nodes=300, avg_degree=10, num_val=50, num_test=100)
    seeds = np.nonzero(g.train_mask)[0]
    sm = NeighborSampler(g, seeds, batch_size=16, fanouts=[3, 2], seed=1)
    b = sm.sample(0, 0)
    b2 = sm.sample(0, 0)
    np.testing.assert_array_equal(b.senders, b2.senders)
    assert not np.array_equal(sm.sample(0, 1).x, b.x)
    assert b.num_nodes == sm.num_nodes_pad and b.num_edges == sm.num_edges_pad
    s, r = unpad_edges(b)
    indeg = np.bincount(r, minlength=b.num_nodes)
    assert indeg[:16].max() <= 3  # seeds receive at most fanouts[0] sampled edges ...
    assert indeg.max() <= 3 + 2   # ... a node reached at both hops at most the sum
    # every sampled edge exists in the original graph
    n2o = {}
    x = np.asarray(g.x)
    for i in range(int(b.node_mask.sum())):
        n2o[i] = int(np.nonzero((x == b.x[i]).all(1))[0][0])
    ip, ind = csr(g)
    for u, v in zip(s, r):
        assert n2o[u] in set(ind[ip[n2o[v]]:ip[n2o[v] + 1]])
    with pytest.raises(GraphError, match="empty seed"):
        NeighborSampler(g, np.array([], int), 4, [2])


def test_cluster_sampler_keeps_between_cluster_edges():
    g = csbm(num_nodes=400, avg_degree=8)
    cs = ClusterSampler(g, num_parts=8, clusters_per_batch=2, seed=0)
    assert cs.parts.max() == 7
    cl = cs.clusters(0, 0)
    b = cs.sample(0, 0)
    nodes = np.sort(np.concatenate([cs.members[c] for c in cl]))
    s, r = unpad_edges(g)
    inside = np.isin(s, nodes) & np.isin(r, nodes)
    assert int(b.edge_mask.sum()) == int(inside.sum())
    between = inside & (cs.parts[s] != cs.parts[r])
    assert between.any()
    # an epoch covers every cluster exactly once
    seen = np.concatenate([cs.clusters(3, k) for k in range(cs.steps_per_epoch)])
    assert sorted(seen) == list(range(8))
    assert b.num_nodes == cs.num_nodes_pad


def test_shard_batch_over_data_axis():
    g = csbm(num_nodes=200, num_val=20, num_test=40)
    cs = ClusterSampler(g, num_parts=8, clusters_per_batch=1)
    batch = stack([cs.sample(0, k) for k in range(8)])
    mesh = jax.make_mesh((8,), ("data",))
    out = shard_batch(batch, mesh)
    assert out.x.sharding.spec[0] == "data"
    assert len(out.x.addressable_shards) == 8


def test_cluster_sampler_batch_is_the_induced_subgraph():
    """ClusterSampler's CSR-row induced subgraph equals lib.graph.graph.subgraph (edge filtering) on the
    same nodes: same edges in the same order, same features, labels and masks."""
    g = csbm(num_nodes=300, avg_degree=6, num_val=40, num_test=80)
    cs = ClusterSampler(g, num_parts=6, clusters_per_batch=2, seed=1)
    for epoch, step in ((0, 0), (0, 2), (4, 1)):
        nodes, _, _ = cs.induced(cs.clusters(epoch, step))
        b, ref = cs.sample(epoch, step), subgraph(g, nodes)
        for u, v in zip(unpad_edges(b), unpad_edges(ref)):
            np.testing.assert_array_equal(u, v)
        n = nodes.size
        for key in ("x", "y", "train_mask", "val_mask", "test_mask"):
            np.testing.assert_array_equal(np.asarray(getattr(b, key))[:n], np.asarray(getattr(ref, key))[:n])
        assert not np.asarray(b.node_mask)[n:].any()


def test_cluster_batches_keep_between_cluster_edges_with_diagonal_enhancement():
    g = csbm(num_nodes=400, avg_degree=8)
    lam = 0.7
    b = ClusterBatches(g, num_parts=8, clusters_per_batch=2, batches_per_step=2, norm="cluster_gcn", lam=lam,
                       seed=3)
    s_all, r_all = unpad_edges(g)
    parts = b.sampler.parts
    shapes = set()
    for step in range(3):  # crosses an epoch boundary (4 batches per epoch, 2 per step)
        batch = b(step)
        shapes.add(tuple(np.shape(x) for x in jax.tree.leaves(batch)))
        assert b.position(step) == divmod(step * 2, 4)
        for j in range(2):
            epoch, index = divmod(step * 2 + j, 4)
            nodes = np.sort(np.concatenate([b.sampler.members[q] for q in b.sampler.clusters(epoch, index)]))
            adj = jax.tree.map(lambda a: np.asarray(a)[j], batch["adj"])
            m = np.asarray(adj.mask)
            s, r, w = np.asarray(adj.senders)[m], np.asarray(adj.receivers)[m], np.asarray(adj.weights)[m]
            inside = np.isin(s_all, nodes) & np.isin(r_all, nodes)
            assert m.sum() == inside.sum() + nodes.size  # every edge among the chosen clusters + self loops
            assert (parts[s_all[inside]] != parts[r_all[inside]]).any()  # between-cluster edges are kept
            deg = np.bincount(r, minlength=adj.num_nodes)  # in-degree incl. the self loop = d + 1
            loop = s == r
            np.testing.assert_allclose(w[loop], (1 + lam) / deg[r[loop]], rtol=1e-6)
            np.testing.assert_allclose(w[~loop], 1.0 / deg[r[~loop]], rtol=1e-6)
            np.testing.assert_array_equal(batch["x"][j][:nodes.size], np.asarray(g.x)[nodes])
            assert not batch["x"][j][nodes.size:].any()  # padding rows carry no features
            assert batch["loss_mask"][j].sum() == np.asarray(g.train_mask)[nodes].sum()
    assert len(shapes) == 1  # one static bucket shape for every batch
    cached = len(b._cache)
    b(0)
    assert len(b._cache) == cached  # the structure of a seen cluster set comes from the cache
    with pytest.raises(GraphError, match="smaller"):
        b.pad_to(b.num_nodes_pad - 1, b.num_edges_pad)
