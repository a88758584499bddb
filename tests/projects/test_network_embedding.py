"""Partitioned network embedding: subgraphs, the Procrustes merge, the sparse-SGD skip-gram,
smoke + bit-exact resume, named errors, Cora."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import assert_trees_equal, load_checkpoint


def _config(arg="", **kw):
    from configs.network_embedding import default

    c = default.get_config(arg)
    c.csbm.num_nodes, c.walks_per_node, c.walk_length, c.chunk = 300, 4, 10, 100
    c.sgns.dim, c.sgns.batch, c.sgns.lr, c.sgns.epochs = 16, 128, 0.1, 3
    for k, v in kw.items():
        c[k] = v
    return c


def _ring_of_cliques():
    # three 4-cliques joined in a ring by one edge each
    edges = [(a + 4 * c, b + 4 * c) for c in range(3) for a in range(4) for b in range(a + 1, 4)]
    edges += [(3, 4), (7, 8), (11, 0)]
    a = np.array([e[0] for e in edges]); b = np.array([e[1] for e in edges])
    return np.concatenate([a, b]), np.concatenate([b, a])


def test_split_into_parts_and_a_border_graph():
    from projects.network_embedding import partition

    s, r = _ring_of_cliques()
    parts = np.repeat([0, 1, 2], 4)
    sub = partition.split(s, r, 12, parts)
    assert sub.border.tolist() == [n in (0, 3, 4, 7, 8, 11) for n in range(12)]
    assert [m.tolist() for m in sub.members] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [0, 3, 4, 7, 8, 11]]
    which = np.searchsorted(sub.offsets, sub.senders, side="right") - 1
    assert (which == np.searchsorted(sub.offsets, sub.receivers, side="right") - 1).all()  # no edge leaves its subgraph
    assert np.bincount(which).tolist() == [12, 12, 12, 12]  # 6 clique edges per part; border: 3 cut + 3 in-part
    wide = partition.split(s, r, 12, parts, halo=1)  # every clique node neighbours a border node
    assert wide.border.all() and len(wide.members[3]) == 12
    with pytest.raises(partition.PartitionError, match=r"part\(s\) \[1\] of 3 are empty"):
        partition.split(s, r, 12, np.where(parts == 1, 0, parts))


def test_merge_recovers_embeddings_that_differ_by_a_similarity_transform():
    from projects.network_embedding import partition

    s, r = _ring_of_cliques()
    sub = partition.split(s, r, 12, np.repeat([0, 1, 2], 4))
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(12, 2))  # 2 border nodes per part pin down a 2-D similarity transform
    per = []
    for i in range(3):
        q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
        per.append((truth[sub.members[i]] @ q.T) * (i + 2.0))  # rotated and scaled copies
    per.append(truth[sub.members[3]])
    merged, residual = partition.merge(sub, per, 12)
    np.testing.assert_allclose(merged, truth, atol=1e-5)
    assert max(residual.values()) < 1e-6


def _sgns_inputs(n_graphs=1):
    from lib.graph import embedding as E, walks

    s, r = _ring_of_cliques()
    csr = walks.csr_from_edges(s, r, 12)
    nodes, mask = walks.uniform_walks(csr, np.repeat(np.arange(12), 20), jax.random.key(0), 10)
    nodes, mask = np.asarray(nodes), np.asarray(mask)
    cfg = E.SGNSConfig(dim=8, window=3, negatives=3, epochs=2, batch=64, lr=0.05)
    total = E.sgns_steps(mask, cfg)
    stack = lambda a: jnp.asarray(np.stack([a] * n_graphs))
    args = (stack(nodes), stack(mask), stack(np.int32(len(nodes))), stack(E.negative_cdf(nodes, mask, 12)),
            stack(np.int32(total)), jax.random.split(jax.random.key(1), n_graphs))
    tables = jax.vmap(lambda k: E.sgns_init(k, 12, 8))(jax.random.split(jax.random.key(2), n_graphs))
    return E, cfg, total, tables, args


def test_sgns_chunks_compose_stop_at_their_budget_and_learn():
    E, cfg, total, tables, args = _sgns_inputs()
    one, _, _ = E.sgns_chunk(tables, *args, jnp.int32(0), 80, cfg)
    half, _, _ = E.sgns_chunk(tables, *args, jnp.int32(0), 40, cfg)
    two, _, _ = E.sgns_chunk(half, *args, jnp.int32(40), 40, cfg)
    assert_trees_equal(one, two)  # chunking does not change the run: resume is bit-exact
    past, _, pairs = E.sgns_chunk(one, *args, jnp.int32(total), 40, cfg)
    assert_trees_equal(past, one) and float(pairs[0]) == 0  # steps beyond the budget do nothing
    _, first_loss, first_pairs = E.sgns_chunk(tables, *args, jnp.int32(0), 40, cfg)
    done = tables
    for first in range(0, total, 80):
        done, _, _ = E.sgns_chunk(done, *args, jnp.int32(first), 80, cfg)
    _, late, late_pairs = E.sgns_chunk(done, *args, jnp.int32(0), 40, cfg)  # the same draws, trained tables
    assert float(late[0] / late_pairs[0]) < 0.8 * float(first_loss[0] / first_pairs[0])
    e = np.array(done["in"][0]); e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    same = np.repeat(np.arange(3), 4)[:, None] == np.repeat(np.arange(3), 4)[None]
    assert sim[same & ~np.eye(12, dtype=bool)].mean() > sim[~same].mean() + 0.3  # cliques cluster


def test_stacked_graphs_train_as_if_alone():
    E, cfg, total, tables, args = _sgns_inputs(n_graphs=2)
    both, _, _ = E.sgns_chunk(tables, *args, jnp.int32(0), 40, cfg)
    alone, _, _ = E.sgns_chunk(jax.tree.map(lambda a: a[1:], tables), *[a[1:] for a in args], jnp.int32(0), 40, cfg)
    np.testing.assert_allclose(both["in"][1], alone["in"][0], rtol=1e-6, atol=1e-7)


def test_whole_graph_smoke(tmp_path):
    from projects.network_embedding.train import train_and_evaluate

    final = train_and_evaluate(_config(), str(tmp_path))
    assert final["subgraphs"] == 1 and final["node_accuracy"] > 0.8 and final["link_auc"] > 0.5  # chance: 0.25


def test_partitioned_smoke_and_bit_exact_resume(tmp_path):
    from projects.network_embedding.train import train_and_evaluate

    a, b = tmp_path / "a", tmp_path / "b"
    final = train_and_evaluate(_config("method=partitioned"), str(a))
    assert final["subgraphs"] == 5 and 0 < final["border_nodes"] < 300 and final["node_accuracy"] > 0.6
    steps = final["step"]
    train_and_evaluate(_config("method=partitioned", total=2), str(b))  # stopped after 2 chunks
    assert train_and_evaluate(_config("method=partitioned"), str(b))["resumed_from"] == 2
    assert_trees_equal(load_checkpoint(a, steps), load_checkpoint(b, steps))


@pytest.mark.parametrize("override, match", [
    (dict(method="spark"), r"config.method='spark'"),
    (dict(walks_per_node=0), r"config.walks_per_node=0"),
    (dict(link_holdout=0.9), r"config.link_holdout=0.9"),
    (dict(num_parts=400, method="partitioned"), r"num_parts=400 must be an integer in 1..300"),
])
def test_bad_config_is_a_named_error(tmp_path, override, match):
    from lib.errors import TesseraError
    from projects.network_embedding.train import train_and_evaluate

    with pytest.raises(TesseraError, match=match):
        train_and_evaluate(_config(**override), str(tmp_path))


def test_graph_without_edges_and_bad_sgns_values_are_named_errors():
    from lib.graph import embedding as E
    from lib.graph.walks import WalkError
    from projects.network_embedding import train

    c = _config()
    with pytest.raises(WalkError, match="the graph has no edges"):
        train.stacked_walks(c, np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([0, 5]), jax.random.key(0))
    with pytest.raises(WalkError, match=r"window=0 must be an integer >= 1"):
        E.check_sgns(E.SGNSConfig(window=0))
    with pytest.raises(WalkError, match=r"lr=-1.0 must be a finite number > 0"):
        E.check_sgns(E.SGNSConfig(lr=-1.0))


@pytest.mark.data
@pytest.mark.slow
def test_cora_whole_and_partitioned(tmp_path):
    from projects.network_embedding.train import train_and_evaluate

    out = {}
    for m in ("whole", "partitioned"):
        c = _config(f"method={m}", dataset="cora")
        out[m] = train_and_evaluate(c, str(tmp_path / m))
    assert out["whole"]["nodes"] == 2708 and out["partitioned"]["subgraphs"] == 5
    assert out["whole"]["node_accuracy"] > 0.45 and out["partitioned"]["node_accuracy"] > 0.35  # 7 classes
