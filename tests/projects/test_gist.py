"""GIST project: smoke (GIST and full training learn the CSBM), sub-GCNs one per device over the
`subnet` mesh axis give the vmapped result, bit-exact resume, named config errors before compile, and
a short Cora run."""
import numpy as np
import pytest

from lib.config import ConfigError
from lib.graph.subnets import SubnetError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.gist import default
    c = default.get_config()
    c.update_from_flattened_dict(kw)
    return c


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from projects.gist import train
    workdir = tmp_path_factory.mktemp("uninterrupted")
    return workdir, train.train_and_evaluate(_config(lr_decay=False), str(workdir))


def test_gist_learns_and_touches_every_hidden_unit(uninterrupted):
    workdir, final = uninterrupted
    assert final["step"] == 8 and final["test_accuracy"] > 0.8  # 8 rounds x 5 epochs; 3 classes
    first = load_checkpoint(workdir, 4)["params"][0]["w"]
    last = load_checkpoint(workdir, 8)["params"][0]["w"]
    assert np.all(np.any(np.asarray(first) != np.asarray(last), axis=0))  # every hidden unit trained


def test_full_training_learns(tmp_path):
    from projects.gist import train
    final = train.train_and_evaluate(_config(mode="full"), str(tmp_path))
    assert final["step"] == 40 and final["test_accuracy"] > 0.8


def test_subgcns_over_devices_equal_vmapped(tmp_path):
    from projects.gist import train
    kw = {"gist.m": 8, "epochs": 10}
    train.train_and_evaluate(_config(**kw), str(tmp_path / "vmap"))
    train.train_and_evaluate(_config(mesh=(("subnet", -1),), **kw), str(tmp_path / "mesh"))  # 8 devices
    ref, got = (load_checkpoint(tmp_path / w, 2)["params"] for w in ("vmap", "mesh"))
    for p, q in zip(ref, got):
        np.testing.assert_allclose(np.asarray(p["w"]), np.asarray(q["w"]), rtol=1e-5, atol=1e-6)


def test_resume_is_bit_exact(uninterrupted, tmp_path):
    from projects.gist import train
    a, _ = uninterrupted
    b = str(tmp_path / "b")
    train.train_and_evaluate(_config(lr_decay=False, epochs=20), b)  # stops after round 4
    final = train.train_and_evaluate(_config(lr_decay=False), b)
    assert final["resumed_from"] == 4
    assert_trees_equal(load_checkpoint(a, 8), load_checkpoint(b, 8))
    after = [[r for r in metric_rows(w) if r["step"] > 4] for w in (a, b)]
    assert after[0] and after[0] == after[1]


@pytest.mark.parametrize("kw, err, match", [
    ({"gist.m": 64}, SubnetError, "larger than hidden width"),
    ({"gist.m": 3}, SubnetError, "not divisible"),
    ({"epochs": 42}, ConfigError, "multiple of"),
    ({"mode": "ist"}, ConfigError, "mode"),
    ({"model.hidden": (0,)}, ConfigError, "hidden"),
    ({"model.dropout": 1.0}, ConfigError, "dropout"),
    ({"mesh": (("subnet", -1),)}, ConfigError, "not divisible"),  # m = 2 over 8 devices
    ({"mesh": (("data", -1),)}, ConfigError, "subnet"),
])
def test_named_config_errors_before_compile(kw, err, match, tmp_path):
    from projects.gist import train
    with pytest.raises(err, match=match):
        train.train_and_evaluate(_config(**kw), str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.data
def test_cora_short_run(tmp_path):
    from configs.gist import cora
    from projects.gist import train
    c = cora.get_config("cora,m=2")
    c.epochs, c.eval_every = 60, 12
    final = train.train_and_evaluate(c, str(tmp_path))
    assert final["num_nodes"] == 2708 and final["test_accuracy"] > 0.6
