"""Cluster-GCN project: smoke on the synthetic CSBM, batch structure, bit-exact resume (sampler state
included), data-parallel batches, bad config before compile, and a short Cora run."""
import json

import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.cluster_gcn import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)  # dotted keys: "model.layers"
    return c


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The default config run straight through (20 epochs = 80 steps): the smoke run and the
    reference of the resume test."""
    from projects.cluster_gcn import train
    workdir = tmp_path_factory.mktemp("uninterrupted")
    return workdir, train.train_and_evaluate(_config(), str(workdir))


def test_smoke_cluster_gcn_learns(uninterrupted):
    workdir, final = uninterrupted
    assert final["batches_per_epoch"] == 4 and final["step"] == 20 * 4
    assert final["test_accuracy"] > 0.6  # 3 classes, chance 0.33
    ck = load_checkpoint(workdir, 80)
    assert (int(ck["sampler"]["epoch"]), int(ck["sampler"]["index"])) == (20, 0)


def test_project_uses_lib_cluster_batches():
    """The batches of a cluster step are lib.graph.sampling.ClusterBatches' (tested in tests/lib/graph)."""
    from lib.graph.sampling import ClusterBatches
    from projects.cluster_gcn import train
    run = train.prepare(_config())
    assert isinstance(run["batches"], ClusterBatches) and run["batches"].k == _config().cluster.batches_per_step


def test_resume_is_bit_exact_including_sampler_state(uninterrupted, tmp_path):
    from projects.cluster_gcn import train
    a, _ = uninterrupted
    b = str(tmp_path / "b")
    train.train_and_evaluate(_config(epochs=10.5), b)  # stops mid-epoch: step 42 = (epoch 10, batch 2)
    ck = load_checkpoint(b, 42)
    assert (int(ck["sampler"]["epoch"]), int(ck["sampler"]["index"])) == (10, 2)
    with pytest.raises(train.SamplerStateError, match="sampler position"):  # other batches: refuse to resume
        train.train_and_evaluate(_config(**{"cluster.clusters_per_batch": 3}), b)
    final = train.train_and_evaluate(_config(), b)
    assert final["resumed_from"] == 42
    assert_trees_equal(load_checkpoint(a, 80), load_checkpoint(b, 80))
    after = [[r for r in metric_rows(w) if r["step"] > 42] for w in (a, b)]
    assert len(after[0]) == 6 and after[0] == after[1]  # train rows 50..80, eval rows 60, 80
    assert json.load(open(f"{b}/final_metrics.json"))["resumed_from"] == 42


def test_data_parallel_step_matches_single_device():
    """8 cluster batches per step, sharded over the 8 simulated devices of mesh axis 'data', give the
    same update as the unsharded step."""
    import jax
    from projects.cluster_gcn import train
    kw = {"cluster.clusters_per_batch": 1, "cluster.batches_per_step": 8, "model.dropout": 0.0}  # cheaper compile
    run, init, step, _, put = train.build(_config(**kw))
    run_dp, _, step_dp, _, put_dp = train.build(_config(**kw, mesh=(("data", -1),)))
    host = [run["batches"](i) for i in range(2)]
    state = jax.jit(init, static_argnums=0)(0, put(host[0]))
    state_dp = jax.device_put(state, jax.sharding.NamedSharding(run_dp["mesh"], jax.sharding.PartitionSpec()))
    f, f_dp = jax.jit(lambda s, b: step(0, s, b)), jax.jit(lambda s, b: step_dp(0, s, b))
    for h in host:
        b_dp = put_dp(h)
        assert b_dp["x"].sharding.spec[0] == "data" and len(b_dp["x"].addressable_shards) == 8
        state, m = f(state, put(h))
        state_dp, m_dp = f_dp(state_dp, b_dp)
        np.testing.assert_allclose(m_dp["loss"], m["loss"], rtol=1e-5)
    for x, y in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(state_dp["params"])):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    assert (int(state_dp["sampler"]["epoch"]), int(state_dp["sampler"]["index"])) == (2, 0)


@pytest.mark.parametrize("overrides,match", [
    ({"cluster.clusters_per_batch": 9}, "clusters_per_batch=9 must be <= config.cluster.num_parts=8"),
    ({"mode": "minibatch"}, "config.mode"),
    ({"model.norm": "sym"}, "config.model.norm"),
    ({"model.diag_lambda": -2.0}, "diag_lambda"),
    ({"model.norm": "gcn"}, "diag_lambda=1.0 is the diagonal enhancement"),
    ({"model.layers": 0}, "model.layers"),
    ({"cluster.num_parts": 5000, "cluster.clusters_per_batch": 2}, "num_parts=5000 must be <= the number of nodes"),
    ({"cluster.batches_per_step": 3, "mesh": (("data", -1),)}, "batches_per_step=3 must be divisible by 8"),
    ({"mode": "full", "model.norm": "gcn", "model.diag_lambda": 0.0, "cluster.batches_per_step": 2},
     "mode='full' has one batch"),
])
def test_bad_config_named_error_before_compile(tmp_path, no_compiles, overrides, match):
    from projects.cluster_gcn import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**overrides), str(tmp_path))
    assert no_compiles == []


@pytest.mark.data
def test_cora_cluster_gcn_short_run(tmp_path, data_dir):
    """80 updates of Cluster-GCN (8 METIS parts, 2 per batch, lambda 1) on Cora's public split reach
    well above chance (14 %) on the full-graph test set."""
    from configs.cluster_gcn import cora
    from projects.cluster_gcn import train
    c = cora.get_config("cora")
    c.data_dir = str(data_dir)
    c.epochs, c.eval_every, c.checkpoint_every = 20.0, 80, 80
    final = train.train_and_evaluate(c, str(tmp_path))
    assert final["num_nodes"] == 2708 and final["batches_per_epoch"] == 4 and final["step"] == 80
    assert final["test_accuracy"] > 0.7
