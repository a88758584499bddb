"""L-GCN project: smoke (layer-wise and full batch learn the CSBM), bit-exact resume in the middle of
the second layer (its propagated input recomputed from the checkpointed frozen layer), minibatches
only touch batch rows, named config errors before compile, and a short Cora run.
L²-GCN (mode=l2gcn): smoke (the controller's stops are within the bounds and learns), bit-exact resume
interrupted once in the search and once among the controlled slots, warm-up / forced-stop rules,
named controller config errors before compile."""
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
    ({"split": "full"}, "split='full' is for the Planetoid sets"),
    ({"mode": "l2gcn", "controller.threshold": 1.0}, "controller.threshold=1.0 must be a stop probability"),
    ({"mode": "l2gcn", "controller.threshold": 0.0}, "controller.threshold=0.0 must be a stop probability"),
    ({"mode": "l2gcn", "controller.length": 0}, "controller.length=0 must be an integer >= 1"),
    ({"mode": "l2gcn", "controller.length": 1}, "controller.length=1 must be >= the number of layers"),
    ({"mode": "l2gcn", "controller.min_epochs": 8}, "min_epochs=8 must be <="),
    ({"mode": "l2gcn", "controller.episodes": 0}, "threshold_from_search=True needs"),
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


@pytest.mark.data
def test_full_split_is_the_reference_codes_cora_split(data_dir):
    from configs.l2gcn import cora
    from projects.l2gcn import train
    c = cora.get_config("cora")
    c.data_dir, c.split = str(data_dir), "full"
    run = train.prepare(c)
    want = np.r_[0:140, 640:1708]  # the reference code's cora_loader
    np.testing.assert_array_equal(run["train_idx"], want)
    assert not np.any(np.asarray(run["data"]["val"])[want]) and not np.any(np.asarray(run["data"]["test"])[want])


# ----------------------------------------------------------------------------- L²-GCN (mode=l2gcn)


def _l2(workdir, stop_at=None, **kw):
    from projects.l2gcn import learned, train
    c = _config(mode="l2gcn", **kw)
    return learned.train_and_evaluate(c, str(workdir), train.prepare(c), stop_at=stop_at)


@pytest.fixture(scope="module")
def l2_uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("l2")
    return workdir, _l2(workdir)


def test_l2gcn_smoke_stops_within_bounds_and_learns(l2_uninterrupted):
    _, f = l2_uninterrupted
    assert f["step"] == 4 + 6  # 4 search episodes + 6 decision slots
    e = f["epochs_per_layer_used"]
    # default: decide every 2 epochs, a layer stops in [2, 6] epochs
    assert len(e) == 2 and all(2 <= x <= 6 and x % 2 == 0 for x in e) and f["epochs_used"] == sum(e)
    assert f["decisions"] == sum(e) // 2 and len(f["stop_probs"]) == f["decisions"]
    assert 0.0 < f["stop_threshold"] < 1.0
    assert f["test_accuracy"] > 0.8


def test_l2gcn_resume_in_search_and_in_controlled_phase_is_bit_exact(l2_uninterrupted, tmp_path):
    a, _ = l2_uninterrupted
    _l2(tmp_path, stop_at=2)   # after 2 of 4 search episodes
    assert _l2(tmp_path, stop_at=7)["resumed_from"] == 2  # ... then after 3 controlled slots
    f = _l2(tmp_path)
    assert f["resumed_from"] == 7
    assert_trees_equal(load_checkpoint(a, 10), load_checkpoint(tmp_path, 10))
    after = [[r for r in metric_rows(w) if r["step"] > 7] for w in (a, tmp_path)]
    assert after[0] and after[0] == after[1]


def test_l2gcn_warmup_and_forced_stop_rules():
    from projects.l2gcn import learned
    for e in range(10):  # every layer gets a stop slot; the last layer stops at the last slot
        s = learned.warmup_slots(0, e, 20, 3)
        assert len(s) == 3 and max(s) == 19
    assert learned.warmup_slots(0, 4, 20, 2) == {9, 19}  # every fifth: an even split
    # 6 slots, 2 layers: layer 0 must stop by slot 4 (slot 5 left for layer 1); layer 1 at slot 5
    assert [learned._forced(t, 6, 0, 2) for t in range(6)] == [False] * 4 + [True] * 2
    assert learned._forced(5, 6, 1, 2) and not learned._forced(4, 6, 1, 2)


def test_controller_reinforce_moves_towards_cheaper_action():
    """With a fixed history, an action whose cost is below the baseline becomes more likely."""
    import jax
    import jax.numpy as jnp
    from projects.l2gcn import controller as ctl
    init, decide, update = ctl.functions(3, 8, 5, 2, 0.05, 1.0)  # baseline_ratio 1: the baseline stays 2
    c = init(jax.random.key(0), 2.0)
    feat = ctl.features(jnp.float32(1.0), jnp.float32(1.0), 0, 2)
    rec = {"feat": jnp.stack([feat] * 3), "prev": jnp.zeros(3, jnp.int32), "t": jnp.arange(3, dtype=jnp.int32),
           "action": jnp.array([1, 0, 0], jnp.int32), "mask": jnp.array([1.0, 0.0, 0.0])}
    p0 = float(decide(c["params"], ctl.zero_carry(8), feat, jnp.int32(0), jnp.int32(0), jax.random.key(1))[1])
    for _ in range(5):  # cost 0.5 below the baseline 2 -> advantage < 0 -> "stop" at slot 0 reinforced
        c = update(c, rec, jnp.float32(0.5))
    p1 = float(decide(c["params"], ctl.zero_carry(8), feat, jnp.int32(0), jnp.int32(0), jax.random.key(1))[1])
    assert p1 > p0 + 0.05
