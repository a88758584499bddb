"""FedAU project: weights match the paper's rule; smoke of default.py; bit-exact resume."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import state as state_lib
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.fedau import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


def test_fedau_weights_are_mean_intervals_and_divide_by_n():
    from projects.fedau import weights

    n = 3
    s = weights.strategy("fedau", n, cutoff=3)
    st = s.init(None)
    pattern = [[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1], [0, 0, 1], [1, 1, 1]]
    seen = []
    for row in pattern:
        part = jnp.asarray(row, bool)
        (idx,) = jnp.nonzero(part, size=n, fill_value=n)
        ctx = {"idx": idx, "valid": idx < n, "participating": part}
        deltas = {"w": jnp.ones((n, 2))}
        _, w, scale, st = s.prepare(st, deltas, ctx)
        seen.append((np.asarray(w), float(scale)))
    # client 0 participates at rounds 0, 2, 5: intervals 1, 2, 3 -> weights 1 (none yet), 1, 1.5
    assert seen[2][0][0] == 1.0 and seen[5][0][0] == 1.5
    # client 1: absent 5 rounds; cutoff 3 records an interval of 3 at round 2 -> weight 3 at round 5
    assert seen[5][0][1] == 3.0
    # client 2 every round: weight 1; scale = sum of weights / N
    assert seen[5][0][2] == 1.0 and seen[5][1] == pytest.approx((1.5 + 3 + 1) / 3)
    np.testing.assert_array_equal(np.asarray(st.count), [3, 2, 6])


def test_baseline_weights():
    from projects.fedau import weights

    probs = np.array([0.5, 0.25, 1.0, 0.1], np.float32)
    part = jnp.asarray([1, 1, 0, 0], bool)
    ctx = {"idx": jnp.asarray([0, 1, 4, 4]), "valid": jnp.asarray([1, 1, 0, 0], bool), "participating": part}
    d = {"w": jnp.zeros((4, 1))}
    got = {}
    for m in ("participating", "all", "known_prob"):
        s = weights.strategy(m, 4, probs=probs)
        _, w, scale, _ = s.prepare(s.init(None), d, ctx)
        got[m] = (np.asarray(w), float(scale))
    assert got["participating"][1] == 1.0
    assert got["all"][1] == pytest.approx(2 / 4)
    np.testing.assert_allclose(got["known_prob"][0], [2, 4, 0, 0])
    assert got["known_prob"][1] == pytest.approx(6 / 4)
    with pytest.raises(ConfigError, match="weighting='fedsgd'"):
        weights.strategy("fedsgd", 4)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    from projects.fedau import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(participation="markov"), str(a))  # also the smoke test
    assert full["step"] == 6 and np.isfinite(full["test_loss"])
    losses = [r["train_loss"] for r in metric_rows(a) if "train_loss" in r]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert any(r.get("train_participants", 0) > 0 for r in metric_rows(a))
    train.train_and_evaluate(_config(participation="markov", total=3), str(b))  # "interrupted" at 3
    final = train.train_and_evaluate(_config(participation="markov"), str(b))
    assert final["resumed_from"] == 3
    sa, sb = load_checkpoint(a, 6), load_checkpoint(b, 6)
    assert_trees_equal(sa, sb)  # params, server opt, participation chain, FedAU stats, key
    assert metric_rows(a)[3:] == metric_rows(b)[3:]


@pytest.mark.parametrize("key,value,match", [
    ("weighting", "median_of_means", "config.weighting='median_of_means'"),
    ("participation", "poisson", "config.participation='poisson'"),
    ("dataset", "cifar", "config.dataset='cifar'"),
    ("aggregator", "krumm", "krumm"),
    ("server", {"optimizer": "fedadamw", "lr": 1.0}, "server optimizer='fedadamw'"),
    ("local", {"batch_size": 16, "mode": "steps", "num_steps": 5, "optimizer": "lbfgs", "lr": 0.1},
     "local optimizer='lbfgs'"),
    ("eval_batch_size", 0, "config.eval_batch_size=0 must be"),
    ("capacity", -3, "config.capacity=-3 must be a finite number >= 0"),
    ("participation_floor", 2.0, r"config.participation_floor=2.0 is a probability: it must be in \(0, 1\]"),
])
def test_bad_config_named_before_compile(tmp_path, no_compiles, key, value, match):
    from projects.fedau import train

    with pytest.raises(ConfigError, match=match):
        train.train_and_evaluate(_config(**{key: value}), str(tmp_path))
    assert no_compiles == []
