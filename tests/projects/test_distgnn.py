"""DistGNN project: cd-0 over 8 vertex-cut partitions trains exactly as the whole graph on one device,
cd-r with delay 1 is cd-0, 0c differs, cd-r learns and communicates 1/delay of cd-0's bytes,
bit-exact resume between exchanges (stale aggregates in the checkpoint), named config errors, Cora."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.distgnn import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)
    return c


def _params(workdir, step):
    return load_checkpoint(workdir, step)["params"]


def test_cd0_equals_the_whole_graph_and_cdr_delay1_equals_cd0(tmp_path):
    from projects.distgnn import train
    kw = {"model.dropout": 0.0, "epochs": 10}
    fin = {m: train.train_and_evaluate(_config(mode=m, **kw), str(tmp_path / m))
           for m in ("single", "cd-0", "0c")}
    fin["cd-r1"] = train.train_and_evaluate(_config(mode="cd-r", delay=1, **kw), str(tmp_path / "cd-r1"))
    for a, b in zip(_params(tmp_path / "single", 10), _params(tmp_path / "cd-0", 10)):
        for k in a:
            np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=2e-4, atol=2e-5)
    for a, b in zip(_params(tmp_path / "cd-0", 10), _params(tmp_path / "cd-r1", 10)):
        for k in a:
            np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=1e-6, atol=1e-7)
    diff = max(float(np.abs(np.asarray(a["neigh"]) - np.asarray(b["neigh"])).max())
               for a, b in zip(_params(tmp_path / "cd-0", 10), _params(tmp_path / "0c", 10)))
    assert diff > 1e-3  # no exchange: a different model
    assert fin["cd-0"]["partitions"] == 8 and fin["single"]["partitions"] == 1
    assert fin["cd-0"]["split_vertices"] > 0 and fin["single"]["bytes_per_epoch"] == 0
    assert fin["0c"]["bytes_per_epoch"] == 0 < fin["cd-0"]["bytes_per_epoch"]


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    from projects.distgnn import train
    workdir = tmp_path_factory.mktemp("cdr")
    return workdir, train.train_and_evaluate(_config(), str(workdir))


def test_cdr_learns_and_sends_a_fifth(cdr):
    _, final = cdr
    assert final["test_accuracy"] > 0.8
    from projects.distgnn import train
    _, _, _, _, info = train.prepare(_config(mode="cd-0"))
    assert final["bytes_per_epoch"] == pytest.approx(info["bytes_per_epoch"] / 5)


def test_resume_between_exchanges_is_bit_exact(cdr, tmp_path):
    from projects.distgnn import train
    a, _ = cdr
    b = str(tmp_path / "b")
    train.train_and_evaluate(_config(epochs=12), b)  # stops 2 epochs after the exchange at epoch 10
    final = train.train_and_evaluate(_config(), b)
    assert final["resumed_from"] == 12
    assert_trees_equal(load_checkpoint(a, 40), load_checkpoint(b, 40))
    after = [[r for r in metric_rows(w) if r["step"] > 12] for w in (a, b)]
    assert after[0] and after[0] == after[1]


@pytest.mark.parametrize("kw, match", [
    ({"mode": "2c"}, "mode"),
    ({"delay": 0}, "delay"),
    ({"model.hidden": ()}, "hidden"),
    ({"mesh": (("data", -1),)}, "graph"),
    ({"mesh": (("graph", 3),)}, "devices"),
])
def test_named_config_errors_before_compile(kw, match, tmp_path):
    from projects.distgnn import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**kw), str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()


def test_too_many_partitions_is_a_named_error(tmp_path):
    from lib.graph.vertex_cut import PartitionError
    from projects.distgnn import train
    c = _config(**{"csbm.num_nodes": 8, "csbm.avg_degree": 1.0, "csbm.num_classes": 2, "csbm.train_per_class": 1,
                   "csbm.num_val": 1, "csbm.num_test": 1})
    with pytest.raises(PartitionError, match="no edge"):
        train.train_and_evaluate(c, str(tmp_path))


@pytest.mark.data
@pytest.mark.slow
def test_cora_short_run(tmp_path):
    from configs.distgnn import cora
    from projects.distgnn import train
    c = cora.get_config("cora,mode=cd-r,delay=5")
    c.epochs, c.eval_every = 30, 10
    final = train.train_and_evaluate(c, str(tmp_path))
    assert final["num_nodes"] == 2708 and final["test_accuracy"] > 0.6
