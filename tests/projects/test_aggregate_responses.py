"""Aggregate responses: the loss identity, the interpolation's ends, DP noise scale, smoke + resume, named errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import assert_trees_equal, load_checkpoint


def _config(**kw):
    from configs.aggregate_responses import default

    c = default.get_config()
    c.linear.n, c.linear.d, c.total, c.log_every, c.checkpoint_every = 256, 8, 40, 10, 20
    for k, v in kw.items():
        c[k] = v
    return c


def test_instance_loss_is_k_bag_loss_plus_within_bag_variance():
    from projects.aggregate_responses import losses

    rng = np.random.default_rng(0)
    for k in (1, 3, 16):
        f = jnp.asarray(rng.normal(size=48 * k))
        ybar = jnp.asarray(rng.normal(size=48))
        inst = losses.instance_loss(f, ybar, k)
        np.testing.assert_allclose(inst, k * losses.bag_loss(f, ybar, k) + losses.within_bag_variance(f, k),
                                   rtol=1e-5)
        np.testing.assert_allclose(losses.interpolated_loss(f, ybar, k, 0.0), losses.bag_loss(f, ybar, k))
        np.testing.assert_allclose(losses.interpolated_loss(f, ybar, k, 1.0), inst / k, rtol=1e-5)
    assert float(losses.within_bag_variance(jnp.ones(12), 4)) == 0


def test_bags_and_dp_noise():
    from projects.aggregate_responses.train import BagConfigError, make_bags

    y = np.arange(12, dtype=np.float32)
    order, ybar = make_bags(y, 5, seed=0, epsilon=0.0, response_range=1.0, clip=None)
    assert len(order) == 10 and len(set(order)) == 10  # the remainder of 2 is dropped
    np.testing.assert_allclose(ybar, y[order].reshape(2, 5).mean(1), rtol=1e-6)
    _, noisy = make_bags(np.zeros(40000, np.float32), 4, seed=0, epsilon=2.0, response_range=1.0, clip=None)
    np.testing.assert_allclose(noisy.std(), np.sqrt(2) * 1 / (4 * 2.0), rtol=0.05)  # Laplace(b): std sqrt(2) b
    with pytest.raises(BagConfigError, match="bag_size=13 is larger than the data"):
        make_bags(y, 13, 0, 0.0, 1.0, None)


@pytest.mark.parametrize("override, match", [
    (dict(bag_size=0), r"config.bag_size=0 must be an integer >= 1"),
    (dict(bag_size=300), r"config.bag_size=300 is larger than the data \(256 training samples\)"),
    (dict(rho=1.5), r"config.rho=1.5 must be a number in \[0, 1\]"),
    (dict(dp_epsilon=-1.0), r"config.dp_epsilon=-1.0 must be a finite number >= 0"),
])
def test_bad_config_is_a_named_error(tmp_path, override, match):
    from projects.aggregate_responses.train import BagConfigError, train_and_evaluate

    with pytest.raises(BagConfigError, match=match):
        train_and_evaluate(_config(**override), str(tmp_path))


def test_smoke_learns_and_resumes_bit_exact(tmp_path):
    from projects.aggregate_responses.train import train_and_evaluate

    a, b = tmp_path / "a", tmp_path / "b"
    final = train_and_evaluate(_config(bag_size=4, dp_epsilon=1.0), str(a))
    assert final["bags"] == 64 and final["excess_risk"] < 0.5  # |theta|^2 is about 1: the fit learned
    train_and_evaluate(_config(bag_size=4, dp_epsilon=1.0, total=20), str(b))
    assert train_and_evaluate(_config(bag_size=4, dp_epsilon=1.0), str(b))["resumed_from"] == 20
    assert_trees_equal(load_checkpoint(a, 40), load_checkpoint(b, 40))
