"""Federated adversarial learning: PGD/FGSM properties, the robust loss, smoke + bit-exact resume, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.fal import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 4, 1, 2, 2
    for k, v in kw.items():
        c[k] = v
    return c


def _linear():
    w = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))

    def loss(p, x, y):
        logits = x @ p["w"]
        return -jax.nn.log_softmax(logits)[jnp.arange(len(y)), y]

    x = jnp.asarray(np.random.default_rng(1).uniform(0.2, 0.8, (16, 6)).astype(np.float32))
    y = jnp.asarray(np.random.default_rng(2).integers(0, 3, 16))
    return loss, {"w": w}, x, y


def test_pgd_stays_in_the_ball_and_the_input_range_and_raises_the_loss():
    from projects.fal import adversarial

    loss, p, x, y = _linear()
    xp = adversarial.pgd(loss, p, x, y, jax.random.PRNGKey(0), eps=0.3, alpha=0.1, steps=10)
    xf = adversarial.fgsm(loss, p, x, y, eps=0.3)
    for xa in (xp, xf):
        assert float(jnp.max(jnp.abs(xa - x))) <= 0.3 + 1e-6
        assert float(xa.min()) >= 0 and float(xa.max()) <= 1
        assert float(loss(p, xa, y).mean()) > float(loss(p, x, y).mean())
    # for a linear model the worst case is the signed corner: FGSM (unclipped) attains it, PGD gets close
    g = jax.grad(lambda xa: jnp.sum(loss(p, xa, y)))(x)
    np.testing.assert_allclose(np.asarray(xf), np.clip(np.asarray(x + 0.3 * jnp.sign(g)), 0, 1), atol=1e-6)
    assert float(loss(p, xp, y).mean()) >= 0.95 * float(loss(p, xf, y).mean())
    robust = adversarial.adversarial_loss(loss, eps=0.3, alpha=0.1, steps=10)
    assert float(robust(p, x, y).mean()) > float(loss(p, x, y).mean())
    np.testing.assert_array_equal(np.asarray(robust(p, x, y)), np.asarray(robust(p, x, y)))  # pure
    assert adversarial.pgd(loss, p, x, y, None, eps=0.0, alpha=0.1, steps=3) is x


def test_adversarial_training_smoke_and_bit_exact_resume(tmp_path):
    from projects.fal import train

    full = train.train_and_evaluate(_config(), str(tmp_path / "a"))
    assert full["step"] == 4 and full["pgd_accuracy"] <= full["test_accuracy"]
    train.train_and_evaluate(_config(total=2), str(tmp_path / "b"))
    final = train.train_and_evaluate(_config(), str(tmp_path / "b"))
    assert final["resumed_from"] == 2
    assert_trees_equal(load_checkpoint(tmp_path / "a", 4), load_checkpoint(tmp_path / "b", 4))
    assert metric_rows(tmp_path / "a")[2:] == metric_rows(tmp_path / "b")[2:]


@pytest.mark.parametrize("adv,match", [(dict(eps=-0.1), "eps=-0.1"), (dict(steps=0), "steps=0"),
                                       (dict(input_range=(1.0, 0.0)), "input_range")])
def test_named_errors(adv, match):
    from projects.fal import train

    c = _config()
    c.adv.update(adv)
    with pytest.raises(ConfigError, match=match):
        train.validate(c)
