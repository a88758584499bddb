import jax
import numpy as np
import pytest

from lib.graph import GraphError
from lib.graph.graph import unpad_edges
from lib.graph.parallel import shard_batch, stack
from lib.graph.sampling import ClusterSampler, NeighborSampler, csr
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
