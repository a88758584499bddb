import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.graph import (GraphError, batch_graphs, build_adjacency, make_graph, spmm, subgraph, to_dense)
from lib.graph.layers import GATConv, GCNConv, GINConv, SAGEConv
from lib.graph.ops import propagate
from lib.graph.synthetic import csbm, random_graph


def _small(seed=0, n=12, e=30):
    rng = np.random.default_rng(seed)
    s, r = rng.integers(0, n, e), rng.integers(0, n, e)
    from lib.graph import to_undirected
    s, r = to_undirected(s, r, n)
    return make_graph(rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n), s, r,
                      train_mask=np.arange(n) < 4)


def test_make_graph_sorted_padded_and_errors():
    g = _small()
    assert np.all(np.diff(g.receivers) >= 0)
    assert g.num_nodes > int(g.node_mask.sum())
    assert np.all(g.senders[~g.edge_mask] == g.num_nodes - 1)
    with pytest.raises(GraphError, match="out of range"):
        make_graph(np.zeros((3, 2)), np.zeros(3), [0, 3], [1, 2])
    with pytest.raises(GraphError, match="feature/label count mismatch"):
        make_graph(np.zeros((3, 2)), np.zeros(4), [0], [1])


def _dense_norm(g, norm, lam=0.0):
    n = int(g.node_mask.sum())
    a = np.zeros((n, n))
    m = g.edge_mask
    a[g.receivers[m], g.senders[m]] = 1
    np.fill_diagonal(a, 0)
    if norm == "gcn":
        a = a + np.eye(n); d = a.sum(1)
        return a / np.sqrt(d[:, None] * d[None, :])
    if norm == "mean":
        return a / np.maximum(a.sum(1, keepdims=True), 1)
    if norm == "cluster_gcn":
        a = a + np.eye(n); a = a / a.sum(1, keepdims=True)
        return a + lam * np.diag(np.diag(a))
    return a


@pytest.mark.parametrize("norm,loops,lam", [("gcn", True, 0.0), ("mean", False, 0.0), ("sum", False, 0.0),
                                             ("cluster_gcn", True, 0.7)])
def test_normalisations_match_dense(norm, loops, lam):
    g = _small()
    adj = build_adjacency(g, norm, self_loops=loops, lam=lam)
    n = int(g.node_mask.sum())
    np.testing.assert_allclose(to_dense(adj)[:n, :n], _dense_norm(g, norm, lam), rtol=1e-5, atol=1e-6)
    assert adj.symmetric == (norm in ("gcn", "sum"))


@pytest.mark.parametrize("norm", ["gcn", "mean"])
@pytest.mark.parametrize("gather_sorted", [True, False])
def test_spmm_value_and_custom_vjp(norm, gather_sorted):
    g = _small(1)
    adj = jax.tree.map(jnp.asarray, build_adjacency(g, norm, self_loops=(norm == "gcn")))
    adj = adj.replace(gather_sorted=gather_sorted)
    a = jnp.asarray(to_dense(adj), jnp.float32)
    h = jax.random.normal(jax.random.key(0), (g.num_nodes, 3))
    np.testing.assert_allclose(spmm(adj, h), a @ h, atol=1e-5)
    ct = jax.random.normal(jax.random.key(1), h.shape)
    g1 = jax.grad(lambda h: jnp.sum(spmm(adj, h) * ct))(h)
    g2 = jax.grad(lambda h: jnp.sum(propagate(h, adj.senders, adj.receivers, adj.weights, adj.num_nodes) * ct))(h)
    np.testing.assert_allclose(g1, a.T @ ct, atol=1e-5)
    np.testing.assert_allclose(g1, g2, atol=1e-5)


def test_layers_shapes_and_padding_invariance():
    """Real-node outputs do not depend on how much padding there is."""
    g1 = _small(2)
    g2 = _small(2) if False else make_graph(g1.x[g1.node_mask], g1.y[g1.node_mask], g1.senders[g1.edge_mask],
                                            g1.receivers[g1.edge_mask], num_nodes_pad=40, num_edges_pad=200)
    n = int(g1.node_mask.sum())
    for mod, (norm, loops) in [(GCNConv(4), ("gcn", True)), (SAGEConv(4), ("mean", False)),
                               (GATConv(4, heads=2), ("sum", True)), (GINConv((8, 4)), ("sum", False))]:
        outs = []
        for g in (g1, g2):
            adj = jax.tree.map(jnp.asarray, build_adjacency(g, norm, self_loops=loops))
            params = mod.init(jax.random.key(0), adj, jnp.asarray(g.x))
            outs.append(mod.apply(params, adj, jnp.asarray(g.x))[:n])
        assert outs[0].shape[-1] == (8 if isinstance(mod, GATConv) else 4)
        np.testing.assert_allclose(outs[0], outs[1], atol=1e-5, err_msg=type(mod).__name__)


def test_gat_attention_normalised():
    g = _small(3)
    adj = jax.tree.map(jnp.asarray, build_adjacency(g, "sum", self_loops=True))
    from lib.graph.ops import segment_softmax
    logits = jax.random.normal(jax.random.key(0), (adj.senders.shape[0], 2))
    a = segment_softmax(logits, adj.receivers, adj.mask, adj.num_nodes)
    tot = jax.ops.segment_sum(a, adj.receivers, adj.num_nodes)
    real = np.asarray(g.node_mask)
    np.testing.assert_allclose(np.asarray(tot)[real], 1.0, atol=1e-5)
    assert float(jnp.abs(a[~adj.mask]).max()) == 0.0


def test_batch_and_subgraph():
    g1, g2 = _small(4), _small(5, n=7, e=10)
    b = batch_graphs([g1, g2])
    n1, n2 = int(g1.node_mask.sum()), int(g2.node_mask.sum())
    assert int(b.node_mask.sum()) == n1 + n2 and np.all(np.diff(b.receivers) >= 0)
    assert int(b.edge_mask.sum()) == int(g1.edge_mask.sum()) + int(g2.edge_mask.sum())
    np.testing.assert_array_equal(b.graph_id[:n1 + n2], np.r_[np.zeros(n1), np.ones(n2)])
    sub = subgraph(g1, np.array([0, 1, 2, 3]))
    m = g1.edge_mask & (g1.senders < 4) & (g1.receivers < 4)
    assert int(sub.edge_mask.sum()) == int(m.sum())


def test_csbm_defaults_and_homophily():
    g = csbm()
    m = g.edge_mask
    same = (g.y[g.senders[m]] == g.y[g.receivers[m]]).mean()
    assert 0.7 < same < 0.9
    assert int(g.train_mask.sum()) == 60 and int(g.val_mask.sum()) == 100 and int(g.test_mask.sum()) == 200
    assert not (g.train_mask & g.test_mask).any()
    rg = random_graph(1000, 20000, 8)
    assert int(rg.edge_mask.sum()) == 20000
