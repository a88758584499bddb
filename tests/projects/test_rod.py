"""ROD project: smoke (ROD learns the CSBM, baselines too on a thinned graph), bit-exact resume, the
sparsifier keeps the right counts, reception-aware weights against a NumPy reference, the walk pairs
follow edges, named config errors before compile, and a short Cora run (data)."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.rod import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)
    return c


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from projects.rod import train
    workdir = tmp_path_factory.mktemp("uninterrupted")
    return workdir, train.train_and_evaluate(_config(), str(workdir))


def test_smoke_rod_learns(uninterrupted):
    _, final = uninterrupted
    assert final["step"] == 30
    assert final["test_accuracy"] > 0.7  # 3 classes, chance 0.33
    assert np.isfinite([final["train_kd"], final["train_graph"], final["train_task"]]).all()
    alphas = [final[f"alpha{k}"] for k in (1, 2, 3)]
    assert abs(sum(alphas) - 1.0) < 1e-5 and min(alphas) > 0


def test_resume_is_bit_exact(uninterrupted, tmp_path):
    from projects.rod import train
    a, _ = uninterrupted
    b = str(tmp_path / "b")
    train.train_and_evaluate(_config(epochs=20), b)  # "interrupted" at step 20 (checkpoint every 10)
    final = train.train_and_evaluate(_config(), b)
    assert final["resumed_from"] == 20
    assert_trees_equal(load_checkpoint(a, 30), load_checkpoint(b, 30))
    after = [[r for r in metric_rows(w) if r["step"] > 20] for w in (a, b)]
    assert after[0] and after[0] == after[1]


@pytest.mark.parametrize("method", ["sgc", "appnp"])
def test_baselines_learn_thinned_graph(tmp_path, method):
    from projects.rod import train
    lr = 0.2 if method == "sgc" else 0.01
    final = train.train_and_evaluate(_config(method=method, learning_rate=lr, **{"sparsity.edge_keep": 0.5,
                                                                                 "sparsity.labels_per_class": 5}),
                                     str(tmp_path))
    assert final["num_train"] == 15 and final["test_accuracy"] > 0.55
    assert final["undirected_edges_kept"] == round(0.5 * final["undirected_edges_full"])


def test_sparsifier_counts():
    from lib.data import graphs
    from lib.graph.graph import unpad_edges
    from projects.rod import sparsify
    g = graphs.load(_config())
    u, v = sparsify.undirected_pairs(g)
    full = set(zip(u.tolist(), v.tolist()))
    y, train = np.asarray(g.y), np.asarray(g.train_mask)
    for keep, labels, seed in [(1.0, 20, 0), (0.5, 5, 0), (0.1, 1, 3), (0.3, 7, 1)]:
        h = sparsify.sparsify(g, keep, labels, seed)
        assert h.num_nodes == g.num_nodes
        s, r = unpad_edges(h)
        pairs = set(zip(s.tolist(), r.tolist()))
        assert pairs == {(b, a) for a, b in pairs}  # symmetric
        kept = {(a, b) for a, b in pairs if a < b}
        assert len(kept) == round(keep * len(full)) and kept <= full and s.size == 2 * len(kept)
        t = np.asarray(h.train_mask)
        assert not (t & ~train).any()  # labels only from the original train nodes
        assert np.bincount(y[t], minlength=3).tolist() == [labels] * 3
        np.testing.assert_array_equal(np.asarray(h.test_mask), np.asarray(g.test_mask))
    a, b = (sparsify.sparsify(g, 0.5, 5, s) for s in (0, 1))
    assert not np.array_equal(np.asarray(a.senders), np.asarray(b.senders))
    np.testing.assert_array_equal(np.asarray(a.senders), np.asarray(sparsify.sparsify(g, 0.5, 5, 0).senders))


def test_walk_pairs_follow_edges():
    from lib.data import graphs
    from lib.graph.graph import unpad_edges
    from projects.rod import sparsify
    g = sparsify.sparsify(graphs.load(_config()), 0.2, 20, 0)
    src, dst, mask = sparsify.walk_pairs(g, 3, 2, seed=0)
    s, r = unpad_edges(g)
    edges = set(zip(s.tolist(), r.tolist()))
    deg = np.bincount(s, minlength=g.num_nodes)
    assert src.shape == dst.shape == mask.shape == (3, 2 * g.num_nodes)
    on = mask[0] > 0
    assert all((a, b) in edges for a, b in zip(src[0][on].tolist(), dst[0][on].tolist()))
    np.testing.assert_array_equal(on, np.asarray(g.node_mask)[src[0]] & (deg[src[0]] > 0))
    assert (deg == 0)[np.asarray(g.node_mask)].any()  # 20 % of the edges leaves isolated nodes, masked out


def test_reception_weights_match_numpy_reference():
    import jax
    from projects.rod import model
    rng = np.random.default_rng(0)
    k, n, h, c = 3, 5, 4, 2
    hid = rng.standard_normal((k, n, h)).astype(np.float32)
    logits = rng.standard_normal((k, n, c)).astype(np.float32)
    a, b = rng.standard_normal(h).astype(np.float32), rng.standard_normal(k).astype(np.float32)
    s = np.einsum("knh,h->nk", np.tanh(hid), a) + b
    ref = np.exp(s - s.max(1, keepdims=True)); ref /= ref.sum(1, keepdims=True)
    alpha = np.asarray(model.reception_weights(hid, a, b))
    np.testing.assert_allclose(alpha, ref, rtol=1e-5, atol=1e-6)
    assert (alpha > 0).all() and np.allclose(alpha.sum(1), 1.0)
    zt = np.asarray(model.teacher_logits(logits, alpha))
    np.testing.assert_allclose(zt, sum(ref[:, j, None] * logits[j] for j in range(k)), rtol=1e-5, atol=1e-6)
    # distillation: zero when every student equals the teacher, positive otherwise
    m = np.ones(n, np.float32)
    assert abs(float(model.kd_loss(zt, np.stack([zt] * k), m, 2.0))) < 1e-6
    assert float(model.kd_loss(zt, logits, m, 2.0)) > 0
    assert jax.numpy.isfinite(model.kd_loss(zt, logits, m, 0.5))


@pytest.mark.parametrize("overrides,match", [
    ({"sparsity.edge_keep": 0.0}, "edge_keep"),
    ({"sparsity.edge_keep": 1.5}, "edge_keep"),
    ({"sparsity.labels_per_class": 0}, "labels_per_class"),
    ({"sparsity.labels_per_class": 25}, "class 0 has only 20"),
    ({"rod.num_hops": 0}, "rod.num_hops"),
    ({"method": "gcn"}, "config.method"),
    ({"model.norm": "sum"}, "config.model.norm"),
    ({"rod.temperature": 0.0}, "rod.temperature"),
])
def test_bad_config_named_error_before_compile(tmp_path, no_compiles, overrides, match):
    from projects.rod import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**overrides), str(tmp_path))
    assert no_compiles == []


def test_sparsity_error_is_a_tessera_error():
    from lib.errors import TesseraError
    from projects.rod import sparsify
    assert issubclass(sparsify.SparsityError, TesseraError)
    with pytest.raises(sparsify.SparsityError, match=r"\(0, 1\]"):
        sparsify.check_edge_keep(-0.1)


@pytest.mark.data
@pytest.mark.slow
def test_cora_thinned_short(tmp_path, data_dir):
    from configs.rod import cora
    from projects.rod import train
    c = cora.get_config("method=rod,edge_keep=0.5,labels=5")
    c.data_dir = str(data_dir)
    c.epochs = 60
    final = train.train_and_evaluate(c, str(tmp_path))
    assert final["num_nodes"] == 2708 and final["num_train"] == 35
    assert final["undirected_edges_kept"] == round(0.5 * final["undirected_edges_full"])
    assert final["test_accuracy"] > 0.55  # 7 classes
