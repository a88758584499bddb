"""FED-PUB project: smoke (FED-PUB and both baselines learn the CSBM clients), the server step
(functional embeddings, cosine similarity, exp(tau S) row-normalised weights, per-client mixing)
against a NumPy transcription, partitions (disjoint covers every LCC node once, overlapping halves
of METIS communities, no empty client), named errors before any compile, bit-exact resume
(in-process and after SIGKILL), and a short Cora run."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows, run_killed_after_checkpoint, run_main


def _config(**kw):
    from configs.fedpub import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)
    return c


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from projects.fedpub import train
    workdir = tmp_path_factory.mktemp("uninterrupted")
    return workdir, train.train_and_evaluate(_config(), str(workdir))


def test_smoke_fedpub_learns(uninterrupted):
    _, final = uninterrupted
    assert final["step"] == 20
    assert final["test_accuracy"] > 0.8  # 4 classes, chance 0.25
    sim = np.array(final["similarity"])
    assert sim.shape == (4, 4)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-3)
    np.testing.assert_allclose(sim, sim.T, atol=1e-3)
    assert not np.allclose(sim, 1.0)  # clients' functions differ
    assert 0.0 < final["mask_sparsity"] < 1.0  # the default's L1 on the masks prunes some entries


@pytest.mark.parametrize("method", ["fedavg", "local"])
def test_baselines_learn(tmp_path, method):
    from projects.fedpub import train
    final = train.train_and_evaluate(_config(method=method), str(tmp_path))
    assert final["test_accuracy"] > 0.8 and final["mask_sparsity"] == 0.0
    if method == "local":  # no communication: what a client received is its own trained model
        assert final["received_test_accuracy"] == final["test_accuracy"]


def test_resume_is_bit_exact(uninterrupted, tmp_path):
    from projects.fedpub import train
    a, _ = uninterrupted
    b = str(tmp_path / "b")
    train.train_and_evaluate(_config(num_rounds=10), b)
    final = train.train_and_evaluate(_config(), b)
    assert final["resumed_from"] == 10
    full = load_checkpoint(a, 20)
    assert set(full) >= {"received", "local", "opt_state", "sim"}  # per-client state is checkpointed
    assert_trees_equal(full, load_checkpoint(b, 20))
    after = [[r for r in metric_rows(w) if r["step"] > 10] for w in (a, b)]
    assert after[0] and after[0] == after[1]


@pytest.mark.slow
def test_sigkill_resumes_bit_exact(uninterrupted, tmp_path):
    full, _ = uninterrupted
    proc = run_killed_after_checkpoint("fedpub", "configs/fedpub/default.py", tmp_path, 10)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_main("fedpub", "configs/fedpub/default.py", tmp_path)
    assert_trees_equal(load_checkpoint(full, 20), load_checkpoint(tmp_path, 20))


# ----------------------------------------------------------------------------- server step vs NumPy


def _dense_adj(adj):
    a = np.zeros((adj.num_nodes, adj.num_nodes))
    m = np.asarray(adj.mask)
    np.add.at(a, (np.asarray(adj.receivers)[m], np.asarray(adj.senders)[m]), np.asarray(adj.weights)[m])
    return a


def test_server_step_matches_numpy():
    import jax
    import jax.numpy as jnp

    from projects.fedpub import clients, model, server

    k, f, h, tau, thr = 5, 12, 8, 3.0, 0.3
    px, pmask, padj = clients.proxy_graph(2, f, seed=3)
    keys = jax.random.split(jax.random.key(0), k)
    params = jax.vmap(lambda kk: model.init(kk, f, h, 3, masked=True))(keys)
    # random masks, some below the prune threshold
    params = jax.tree.map(lambda x: x, params)
    for i, n in enumerate(model.LAYERS):
        params[n]["mask"] = jax.random.uniform(jax.random.key(10 + i), params[n]["w"].shape)
    emb = jax.vmap(lambda p: model.functional_embedding(p, padj, jnp.asarray(px), jnp.asarray(pmask), thr))(params)
    sim = server.cosine_similarity(emb)
    w = server.personalized_weights(sim, tau)
    mixed = server.mix(w, {n: {"w": params[n]["w"], "b": params[n]["b"]} for n in model.LAYERS})

    # NumPy transcription (float64)
    a = _dense_adj(padj)
    x = np.asarray(px, np.float64)
    real = np.asarray(pmask)
    p = jax.tree.map(lambda v: np.asarray(v, np.float64), params)
    e_np = []
    for c in range(k):
        def wm(n):
            m = p[n]["mask"][c]
            return p[n]["w"][c] * np.where(np.abs(m) < thr, 0.0, m)
        h1 = np.maximum(a @ (x @ wm("conv1")) + p["conv1"]["b"][c], 0)
        h2 = a @ (h1 @ wm("conv2")) + p["conv2"]["b"][c]
        e_np.append(h2[real].mean(0))
    e_np = np.stack(e_np)
    s_np = np.array([[1 - np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)) for v in e_np] for u in e_np])
    s_np = 1 - s_np  # scipy's cosine distance -> similarity, as the reference server writes it
    w_np = np.exp(tau * s_np)
    w_np = w_np / w_np.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(emb), e_np, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(sim), s_np, atol=1e-5)
    np.testing.assert_allclose(np.asarray(w), w_np, atol=1e-5)
    for n in model.LAYERS:
        for leaf in ("w", "b"):
            want = np.einsum("ij,j...->i...", w_np, p[n][leaf])
            np.testing.assert_allclose(np.asarray(mixed[n][leaf]), want, rtol=1e-4, atol=1e-5)
    # FedAvg rows: train-size weights
    fw = np.asarray(server.fedavg_weights(jnp.array([1, 3])))
    np.testing.assert_allclose(fw, [[0.25, 0.75], [0.25, 0.75]])


def test_masks_stay_on_the_client():
    """The server mixes weights only; each client's received model carries its own masks."""
    from projects.fedpub import train
    c = _config(num_rounds=3)
    cl, data, proxy = train.prepare(c)
    fns = train.round_functions("fedpub", 1, 0.05, 0.0, 1e-3, 1e-3, 10.0, 0.5, 1e-3)
    state = train.init_state(c, cl, fns[0])
    for _ in range(3):
        state, _ = fns[1](state, data, proxy, 0)
    for n in ("conv1", "conv2", "clsif"):
        np.testing.assert_array_equal(np.asarray(state["received"][n]["mask"]), np.asarray(state["local"][n]["mask"]))
        masks = np.asarray(state["local"][n]["mask"])
        assert not np.array_equal(masks[0], masks[1])  # personal masks differ between clients
    w = np.asarray(state["received"]["conv1"]["w"])
    assert not np.array_equal(w[0], w[1])  # personalized: each client its own aggregate


# ----------------------------------------------------------------------------- partitions


def _graph():
    from lib.graph.synthetic import csbm
    return csbm(600, 4, 32, seed=0)


def test_disjoint_partition_covers_every_node_once():
    from lib.graph import graph as graph_lib
    from projects.fedpub import clients
    g = _graph()
    cl = clients.build(g, num_clients=6, mode="disjoint", seed=1)
    lcc = clients.largest_component(g)
    allnodes = np.concatenate(cl.nodes)
    assert np.array_equal(np.sort(allnodes), np.arange(lcc.size))  # every LCC node exactly once
    assert all(n > 0 for n in cl.info["client_nodes"]) and all(t > 0 for t in cl.info["client_train"])
    # client graphs are the induced subgraphs; the split is 20 / 40 / 40 of the LCC
    gl = graph_lib.subgraph(g, lcc)
    for k, v in enumerate(cl.nodes):
        assert cl.info["client_edges"][k] == int(np.asarray(graph_lib.subgraph(gl, v).edge_mask).sum())
        np.testing.assert_array_equal(cl.x[k][:v.size], np.asarray(gl.x)[v])
    assert cl.train.sum() == round(0.2 * lcc.size) and cl.test.sum() == round(0.4 * lcc.size)
    assert cl.info["lost_edges"] > 0


def test_overlapping_clients_are_halves_of_communities():
    from projects.fedpub import clients
    g = _graph()
    cl = clients.build(g, num_clients=10, mode="overlapping", clients_per_community=5, seed=1)
    sizes = cl.info["client_nodes"]
    assert len(cl.nodes) == 10 and min(sizes) > 0
    for c in range(2):
        group = cl.nodes[5 * c:5 * c + 5]
        community = np.unique(np.concatenate(group))
        assert all(np.isin(v, community).all() for v in group)
    # the two communities do not share nodes; clients of one community do
    assert not np.intersect1d(np.concatenate(cl.nodes[:5]), np.concatenate(cl.nodes[5:])).size
    assert np.intersect1d(cl.nodes[0], cl.nodes[1]).size > 0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("overrides,match", [
    ({"prune_threshold": 1.0}, "config.prune_threshold"),
    ({"prune_threshold": -0.1}, "config.prune_threshold"),
    ({"l1": -1e-3}, "config.l1"),
    ({"dropout": 1.0}, "config.dropout"),
    ({"ratio_train": 0.0}, "config.ratio_train"),
    ({"mode": "random"}, "config.mode"),
    ({"method": "fedprox"}, "config.method"),
    ({"num_clients": 5000}, "5000 > .* nodes"),
    ({"mode": "overlapping", "num_clients": 7}, "multiple of"),
    ({"num_clients": 100, "ratio_train": 0.01}, "no training node"),
])
def test_bad_config_named_error_before_compile(tmp_path, no_compiles, overrides, match):
    from projects.fedpub import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**overrides), str(tmp_path))
    assert no_compiles == []


def test_empty_client_error_is_named():
    from projects.fedpub import clients
    with pytest.raises(clients.EmptyClientError, match="no training node"):
        clients.build(_graph(), num_clients=100, mode="disjoint", ratio_train=0.01)


# ----------------------------------------------------------------------------- real data


@pytest.mark.data
def test_cora_ten_clients_short(tmp_path, data_dir):
    from configs.fedpub import cora
    from projects.fedpub import train
    c = cora.get_config("cora,clients=10,rounds=30")
    c.data_dir = str(data_dir)
    final = train.train_and_evaluate(c, str(tmp_path))
    assert sum(final["client_nodes"]) == final["num_nodes"] == 2485  # Cora's largest component
    assert final["num_features"] == 1433 and final["num_classes"] == 7
    assert final["test_accuracy"] > 0.6  # 30 of the 100 rounds; the majority class is ~30 %
