"""Vertex-cut partitions (lib/graph/vertex_cut.py): every edge in exactly one partition, partial
aggregates that sum to the whole graph's, the psum exchange over 8 devices equals A @ h, greedy
placement replicates less than random placement, named errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from lib import mesh as mesh_lib
from lib.graph import vertex_cut
from lib.graph.graph import unpad_edges
from lib.graph.synthetic import csbm


@pytest.fixture(scope="module")
def graph():
    return csbm(num_nodes=300, avg_degree=6.0, num_val=60, num_test=100, seed=1)


def _dense(g):
    s, r = unpad_edges(g)
    n = int(np.asarray(g.node_mask).sum())
    a = np.zeros((n, n), np.float32)
    keep = s != r
    a[r[keep], s[keep]] = 1.0
    return a


def test_every_edge_once_and_partials_sum_to_the_whole(graph):
    parts = vertex_cut.build(graph, 4)
    n = int(np.asarray(graph.node_mask).sum())
    edges = set()
    for p in range(4):
        m = parts.edge_mask[p]
        gs = parts.global_id[p][parts.senders[p][m]]
        gr = parts.global_id[p][parts.receivers[p][m]]
        pairs = set(zip(gs.tolist(), gr.tolist()))
        assert not pairs & edges  # no edge in two partitions
        edges |= pairs
    a = _dense(graph)
    assert edges == set(zip(*np.nonzero(a.T)))  # every directed edge somewhere
    h = np.random.default_rng(0).standard_normal((n, 5)).astype(np.float32)
    hp = vertex_cut.node_values(parts, h)
    total = np.zeros_like(h)
    for p in range(4):
        part = np.asarray(vertex_cut.partial_sum(jnp.asarray(hp[p]), parts.senders[p], parts.receivers[p],
                                                 parts.edge_mask[p]))
        np.add.at(total, parts.global_id[p][parts.node_mask[p]], part[parts.node_mask[p]])
    np.testing.assert_allclose(total, a @ h, rtol=1e-5, atol=1e-5)
    assert np.array_equal(np.bincount(parts.global_id[parts.master], minlength=n), np.ones(n))  # one master each
    np.testing.assert_array_equal(vertex_cut.node_values(parts, a.sum(1))[parts.node_mask],
                                  parts.degree[parts.node_mask])


def test_exchange_over_devices_gives_full_aggregates(graph):
    mesh = mesh_lib.make_mesh([("graph", -1)])  # 8 simulated devices
    parts = vertex_cut.build(graph, 8)
    n = int(np.asarray(graph.node_mask).sum())
    h = np.random.default_rng(1).standard_normal((n, 3)).astype(np.float32)
    host = {"h": vertex_cut.node_values(parts, h), "s": parts.senders, "r": parts.receivers,
            "m": parts.edge_mask, "sid": parts.split_id}
    d = jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, P("graph"))), host)

    def per_device(d):
        local = jax.vmap(vertex_cut.partial_sum)(d["h"], d["s"], d["r"], d["m"])
        return vertex_cut.exchange(local, d["sid"], parts.num_split, "graph")
    full = np.asarray(jax.shard_map(per_device, mesh=mesh, in_specs=P("graph"), out_specs=P("graph"))(d))
    want = vertex_cut.node_values(parts, _dense(graph) @ h)
    np.testing.assert_allclose(full[parts.node_mask], want[parts.node_mask], rtol=1e-5, atol=1e-5)


def test_greedy_replicates_less_than_random(graph):
    parts = vertex_cut.build(graph, 8)
    s, r = unpad_edges(graph)
    keep = s < r
    u, v = s[keep], r[keep]
    rand = np.random.default_rng(0).integers(0, 8, u.size)
    reps = sum(np.unique(np.concatenate([u[rand == p], v[rand == p]])).size for p in range(8))
    assert parts.replicas < 0.85 * reps
    assert 0 < parts.exchange_bytes(16)


def test_named_errors(graph):
    with pytest.raises(vertex_cut.PartitionError, match="positive integer"):
        vertex_cut.greedy_vertex_cut(np.array([0]), np.array([1]), 2, 0)
    tiny = csbm(num_nodes=6, num_classes=2, avg_degree=1.0, train_per_class=1, num_val=1, num_test=1, seed=0)
    with pytest.raises(vertex_cut.PartitionError, match="got no edge"):
        vertex_cut.build(tiny, 40)
