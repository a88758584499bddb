"""DiLoCo project: smoke of default.py (each method), the virtual-time and bytes accounting,
bit-exact resume (in process, delayed variant with a pending pseudo-gradient), degenerate cases
that must equal simpler algorithms, and named errors before anything is compiled."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(method="diloco", **kw):
    from configs.diloco import default

    c = default.get_config(method)
    for k, v in kw.items():
        node, *rest = k.split("__")
        if rest:
            c[node][rest[0]] = v
        else:
            c[k] = v
    return c


@pytest.fixture(scope="module")
def delayed_full(tmp_path_factory):
    from projects.diloco import train

    wd = tmp_path_factory.mktemp("full")
    return wd, train.train_and_evaluate(_config("diloco_delayed"), str(wd))


def test_smoke_loss_falls_and_time_accounting(delayed_full):
    from projects.diloco import train

    wd, final = delayed_full
    assert final["val_loss"] < final["initial_val_loss"] - 0.3
    c = _config("diloco_delayed")
    t = train.timeline(c, final["num_params"])
    # 4 workers, one ring all-reduce of the fp32 model per round: 2 (k-1)/k 4 P bytes sent per worker
    assert final["bytes"] == pytest.approx(8 * 1.5 * 4 * final["num_params"])
    # compute 0.5 s per round; comm (6 x 0.05 s + bytes / 1 MB/s) ~ 0.4 s < 0.5 s: hidden after round 0
    assert t["sync_s"] < t["round_compute_s"] and final["virtual_time"] == pytest.approx(8 * 0.5)
    evals = [r for r in metric_rows(wd) if "val_loss" in r]
    assert [r["round"] for r in evals] == [2, 4, 6, 8]
    assert all(np.diff([r["virtual_time"] for r in evals]) > 0)


def test_sync_and_dp_time_and_bytes():
    from projects.diloco import train

    p = 10_000
    s, d = train.timeline(_config("diloco"), p), train.timeline(_config("sync_dp"), p)
    assert d["bytes"][-1] == pytest.approx(5 * s["bytes"][-1])  # H = 5 times the all-reduces
    assert s["start"][1] == pytest.approx(s["round_compute_s"] + s["sync_s"])
    assert d["start"][1] == pytest.approx(5 * (0.1 + d["sync_s"]))


def test_interrupted_and_resumed_equals_uninterrupted(delayed_full, tmp_path):
    from projects.diloco import train

    full, _ = delayed_full
    train.train_and_evaluate(_config("diloco_delayed", stop_after_rounds=3), str(tmp_path))
    saved = load_checkpoint(tmp_path, 3)
    assert bool(saved["outer"]["has_pending"])  # a pseudo-gradient in flight is part of the checkpoint
    final = train.train_and_evaluate(_config("diloco_delayed"), str(tmp_path))
    assert final["resumed_from"] == 3
    assert_trees_equal(load_checkpoint(full, 8), load_checkpoint(tmp_path, 8))
    rows = lambda wd: [r for r in metric_rows(wd) if r["step"] > 3]  # noqa: E731
    assert rows(full) == rows(tmp_path)


@pytest.mark.slow
def test_one_worker_one_step_outer_lr1_is_plain_adamw(tmp_path):
    """k = 1, H = 1, outer lr 1, momentum 0: DiLoCo is the inner optimizer, i.e. sync DP with k = 1."""
    from projects.diloco import train

    kw = dict(num_workers=1, inner_steps=1, num_rounds=3, eval_every=3, checkpoint_every=3, outer__lr=1.0,
              outer__momentum=0.0)
    a = train.train_and_evaluate(_config("diloco", **kw), str(tmp_path / "a"))
    b = train.train_and_evaluate(_config("sync_dp", **kw), str(tmp_path / "b"))
    pa, pb = load_checkpoint(tmp_path / "a", 3)["params"], load_checkpoint(tmp_path / "b", 3)["params"]
    import jax

    for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)


def test_round_batches_are_pure_and_per_shard():
    from projects.diloco import train

    ids = np.arange(4000, dtype=np.int32)
    parts = train.shards(ids, 4, 16)
    b1 = train.round_batch(parts, seed=0, rnd=3, inner_steps=2, batch_size=5, seq_len=16)
    b2 = train.round_batch(parts, seed=0, rnd=3, inner_steps=2, batch_size=5, seq_len=16)
    assert b1["inputs"].shape == (4, 2, 5, 16)
    np.testing.assert_array_equal(b1["inputs"], b2["inputs"])
    for i in range(4):  # worker i only sees shard i
        assert b1["inputs"][i].min() >= i * 1000 and b1["targets"][i].max() < (i + 1) * 1000


def test_named_errors_before_compile():
    from projects.diloco import train

    bad = [(dict(inner_steps=0), "inner_steps=0"), (dict(num_workers=0), "num_workers=0"),
           (dict(clock__bandwidth=0.0), "bandwidth"), (dict(clock__bandwidth=-5.0), "bandwidth"),
           (dict(clock__step_time=0.0), "step_time"), (dict(outer__lr=0.0), "outer.lr"),
           (dict(outer__momentum=1.0), "outer.momentum"), (dict(method="local_sgd"), "method"),
           (dict(dataset="c4"), "dataset"), (dict(num_rounds=0), "num_rounds"),
           (dict(model__num_heads=3), "divisible")]
    for kw, match in bad:
        with pytest.raises(ConfigError, match=match):
            train.validate(_config(**kw))
