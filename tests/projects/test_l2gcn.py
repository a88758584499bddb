"""L-GCN project: smoke (layer-wise and full batch learn the CSBM), bit-exact resume in the middle of
the second layer (its propagated input recomputed from the checkpointed frozen layer), minibatches
only touch batch rows, named config errors before compile, and a short Cora run."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.l2gcn import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)
    return c


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from projects.l2gcn import train
    workdir = tmp_path_factory.mktemp("uninterrupted")
    return workdir, train.train_and_evaluate(_config(), str(workdir))


def test_smoke_layerwise_learns(uninterrupted):
    _, final = uninterrupted
    assert final["steps_per_epoch"] == 4 and final["step"] == 48  # 60 train nodes / batch 16; 2 x 6 epochs
    assert final["test_accuracy"] > 0.8  # 3 classes, chance 0.33


def test_full_batch_baseline_learns(tmp_path):
    from projects.l2gcn import train
    final = train.train_and_evaluate(_config(mode="full"), str(tmp_path))
    assert final["step"] == 30 and final["test_accuracy"] > 0.8


def test_resume_mid_second_layer_is_bit_exact(uninterrupted, tmp_path):
    from projects.l2gcn import train
    a, _ = uninterrupted
    b = str(tmp_path / "b")
    train.train_and_evaluate(_config(epochs_per_layer=(6, 3)), b)  # stops at step 36: layer 1, epoch 3
    ck = load_checkpoint(b, 36)
    final = train.train_and_evaluate(_config(), b)
    assert final["resumed_from"] == 36
    assert_trees_equal(load_checkpoint(a, 48), load_checkpoint(b, 48))
    # layer 0 is frozen during layer 1: its weights at 36 and 48 are the same
    np.testing.assert_array_equal(np.asarray(ck["params"][0]["w"]), np.asarray(load_checkpoint(b, 48)["params"][0]["w"]))
    after = [[r for r in metric_rows(w) if r["step"] > 36] for w in (a, b)]
    assert after[0] and after[0] == after[1]


def test_minibatches_cover_train_nodes_once_per_epoch():
    from projects.l2gcn import train
    c = _config()
    run = train.prepare(c)
    spe, starts, total = train.schedule(c, run["info"]["num_train"])
    seen = []
    for s in range(spe):
        layer, idx, mask = train.minibatch(c, run["train_idx"], spe, starts, s)
        seen += idx[mask > 0].tolist()
    assert layer == 0 and sorted(seen) == sorted(run["train_idx"].tolist())
    assert train.minibatch(c, run["train_idx"], spe, starts, starts[1])[0] == 1


@pytest.mark.parametrize("overrides,match", [
    ({"mode": "sgd"}, "config.mode"),
    ({"model.norm": "sum"}, "config.model.norm"),
    ({"epochs_per_layer": (10, 0)}, "epochs_per_layer"),
    ({"mode": "full", "epochs_per_layer": (10, 10, 10)}, "mode='full' is the 2-layer GCN"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_config_named_error_before_compile(tmp_path, no_compiles, overrides, match):
    from projects.l2gcn import train
    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**overrides), str(tmp_path))
    assert no_compiles == []


@pytest.mark.data
def test_cora_layerwise_short(tmp_path, data_dir):
    from configs.l2gcn import cora
    from projects.l2gcn import train
    c = cora.get_config("cora")
    c.data_dir = str(data_dir)
    c.epochs_per_layer = (40, 40)
    final = train.train_and_evaluate(c, str(tmp_path))
    assert final["num_nodes"] == 2708 and final["test_accuracy"] > 0.7
