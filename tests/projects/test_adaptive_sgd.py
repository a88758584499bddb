"""Adaptive SGD project: speed-proportional batches and normalised merging against NumPy
transcriptions, the virtual-time schedules, smoke, bit-exact resume (sync and async), named errors."""
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(method="adaptive", **kw):
    from configs.adaptive_sgd import default

    c = default.get_config(method)
    c.clock.time_budget = 8.0
    for key, v in kw.items():
        node, *rest = key.split("__")
        if rest:
            c[node][rest[0]] = v
        else:
            c[key] = v
    return c


def test_speed_batches_and_weights():
    from projects.adaptive_sgd import schedule

    sec = np.array([1.0, 0.5, 0.25, 0.25])  # speeds 1, 2, 4, 4
    b = schedule.speed_batches(sec, 110)
    assert b.tolist() == [10, 20, 40, 40] and b.sum() == 110
    np.testing.assert_allclose(b * sec, 10.0)  # every worker finishes a step together
    b = schedule.speed_batches(np.array([1.0, 1e-3]), 8)
    assert b.tolist() == [1, 7]  # at least one sample each
    np.testing.assert_allclose(schedule.merge_weights(np.array([1, 3])), [0.25, 0.75])
    t, w = schedule.async_arrivals(np.array([2, 2]), np.array([1.0, 0.5]), np.zeros(2), 1, 4.0)
    assert t.tolist() == [1.0, 2.0, 2.0, 3.0, 4.0, 4.0] and w.tolist() == [1, 0, 1, 1, 0, 1]


def test_sync_round_is_weighted_merge_of_local_sgd(tmp_path):
    """One round of `adaptive` == a NumPy transcription: tau SGD steps per worker on its own masked
    batch at lr_g = lr b_g k / B, then x = sum_g (b_g / B) x_g. A linear model keeps it short."""
    import jax
    from projects.adaptive_sgd import train

    c = _config(stop_after_steps=1, checkpoint_every=1)
    c.model.hidden = ()
    train.train_and_evaluate(c, str(tmp_path))
    p = train.plan(c, 1)
    from lib.config import data_dir
    from lib.data.mnist import load_flat
    x_tr, y_tr, _, _ = load_flat(c.dataset, data_dir(c), c.seed)
    w0 = load_checkpoint(tmp_path, 1)
    from lib.models.mlp import MLP

    init = MLP(hidden=(), num_classes=10).init(jax.random.PRNGKey(c.seed), x_tr[:1])["params"]
    W, bias = np.asarray(init["head"]["kernel"], np.float64), np.asarray(init["head"]["bias"], np.float64)
    outs = []
    for g, (b, lr) in enumerate(zip(p["batches"], p["lrs"])):
        idx = np.random.default_rng([c.seed, 0, g]).integers(0, len(x_tr), (c.local_steps, p["batches"].max()))[:, :b]
        w, bb = W.copy(), bias.copy()
        for s in range(c.local_steps):
            x, y = x_tr[idx[s]].astype(np.float64), y_tr[idx[s]]
            z = x @ w + bb
            pr = np.exp(z - z.max(1, keepdims=True))
            pr /= pr.sum(1, keepdims=True)
            pr[np.arange(b), y] -= 1
            w, bb = w - lr * x.T @ pr / b, bb - lr * pr.mean(0)
        outs.append((w, bb))
    want_w = sum(wt * o[0] for wt, o in zip(p["weights"], outs))
    np.testing.assert_allclose(w0["params"]["head"]["kernel"], want_w, rtol=2e-4, atol=2e-5)


@pytest.fixture(scope="module")
def async_full(tmp_path_factory):
    from projects.adaptive_sgd import train

    wd = tmp_path_factory.mktemp("full")
    return wd, train.train_and_evaluate(_config("async", clock__time_budget=4.0, clock__eval_every_time=1.0), str(wd))


def test_smoke_async_and_time_accounting(async_full):
    wd, final = async_full
    assert final["test_accuracy"] > final["initial_test_accuracy"] + 0.25
    evals = [r for r in metric_rows(wd) if "test_accuracy" in r]
    assert [r["first_mark"] for r in evals] == [1.0, 2.0, 3.0, 4.0]
    assert [r["virtual_time"] for r in evals] == [1.0, 2.0, 3.0, 4.0]
    assert all(r["model_time"] <= r["first_mark"] for r in evals)
    assert all(np.diff([r["bytes"] for r in evals]) > 0)


def test_adaptive_rounds_faster_than_static():
    from projects.adaptive_sgd import train

    a, s = train.plan(_config("adaptive"), 1000), train.plan(_config("static"), 1000)
    assert a["times"][0] < s["times"][0] / 2  # F-80: static waits for the 5x slower worker
    assert a["batches"].sum() == s["batches"].sum() == 64


def test_interrupted_and_resumed_equals_uninterrupted(async_full, tmp_path):
    from projects.adaptive_sgd import train

    full, final = async_full
    kw = dict(clock__time_budget=4.0, clock__eval_every_time=1.0)
    train.train_and_evaluate(_config("async", stop_after_steps=40, **kw), str(tmp_path))
    resumed = train.train_and_evaluate(_config("async", **kw), str(tmp_path))
    assert resumed["resumed_from"] == 40
    n = final["step"]
    assert_trees_equal(load_checkpoint(full, n), load_checkpoint(tmp_path, n))
    rows = lambda wd: [r for r in metric_rows(wd) if r["step"] > 40]  # noqa: E731
    assert rows(full) == rows(tmp_path)


def test_named_errors_before_compile():
    from projects.adaptive_sgd import train

    bad = [(dict(num_workers=0), "num_workers=0"), (dict(clock__bandwidth=0.0), "bandwidth"),
           (dict(clock__step_time=-1.0), "step_time"), (dict(method="sync"), "method"),
           (dict(global_batch=2), "global_batch=2"), (dict(clock__time_budget=0.001), "time_budget"), (dict(merge="mean"), "merge"),
           (dict(lr=0.0), "lr"), (dict(dataset="cifar10"), "dataset")]
    for kw, match in bad:
        with pytest.raises(ConfigError, match=match):
            train.validate(_config(**kw))
    with pytest.raises(ConfigError, match="divisible"):
        train.validate(_config("static", global_batch=66))
