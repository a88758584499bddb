"""LAMB / LARS against a direct NumPy transcription of the paper's algorithms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lib.optim import large_batch as LB
from lib.config import ConfigError


def _params():
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    return {"dense": {"kernel": jax.random.normal(k[0], (5, 3)), "bias": 0.01 * jax.random.normal(k[1], (3,))},
            "LayerNorm_0": {"scale": jnp.ones((3,)) + 0.1, "offset_like": jnp.zeros((3,)) + 0.2}}


def _grads(t):
    k = jax.random.fold_in(jax.random.PRNGKey(1), t)
    return jax.tree.map(lambda p: jax.random.normal(jax.random.fold_in(k, p.size), p.shape), _params())


def _adapted(path):
    return path[-1] not in ("bias", "scale") and "LayerNorm_0" not in path


def _reference_lamb(steps, lr, wd, b1=0.9, b2=0.999, eps=1e-6):
    x = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in _params().items()}
    m = {k: {n: np.zeros_like(v) for n, v in d.items()} for k, d in x.items()}
    v = {k: {n: np.zeros_like(v) for n, v in d.items()} for k, d in x.items()}
    for t in range(1, steps + 1):
        g = _grads(t - 1)
        for mod in x:
            for n in x[mod]:
                gi = np.asarray(g[mod][n], np.float64)
                m[mod][n] = b1 * m[mod][n] + (1 - b1) * gi
                v[mod][n] = b2 * v[mod][n] + (1 - b2) * gi**2
                u = (m[mod][n] / (1 - b1**t)) / (np.sqrt(v[mod][n] / (1 - b2**t)) + eps)
                r = 1.0
                if _adapted((mod, n)):
                    u = u + wd * x[mod][n]
                    xn, un = np.linalg.norm(x[mod][n]), np.linalg.norm(u)
                    r = xn / un if xn > 0 and un > 0 else 1.0
                x[mod][n] = x[mod][n] - lr * r * u
    return x


def _run(tx, steps):
    p = _params()
    s = tx.init(p)
    for t in range(steps):
        u, s = tx.update(_grads(t), s, p)
        p = optax.apply_updates(p, u)
    return p


def test_mask_excludes_bias_and_norm_params():
    mask = LB.adaptation_mask(_params())
    assert mask["dense"]["kernel"] and not mask["dense"]["bias"]
    assert not mask["LayerNorm_0"]["scale"] and not mask["LayerNorm_0"]["offset_like"]


def test_lamb_matches_paper_algorithm():
    ours = _run(LB.lamb(0.05, weight_decay=0.1), 4)
    ref = _reference_lamb(4, 0.05, 0.1)
    for mod in ref:
        for n in ref[mod]:
            np.testing.assert_allclose(ours[mod][n], ref[mod][n], rtol=2e-5, atol=1e-6)


def test_optax_lamb_mask_alone_is_not_the_paper():
    """optax.lamb's mask gates weight decay only; its trust ratio still rescales the bias."""
    plain = _run(optax.lamb(0.05, weight_decay=0.1, mask=LB.adaptation_mask), 4)
    ref = _reference_lamb(4, 0.05, 0.1)
    np.testing.assert_allclose(plain["dense"]["kernel"], ref["dense"]["kernel"], rtol=2e-5, atol=1e-6)
    assert not np.allclose(plain["dense"]["bias"], ref["dense"]["bias"], rtol=1e-3)


def test_lars_matches_paper_algorithm():
    lr, wd, beta = 0.1, 0.01, 0.9
    ours = _run(LB.lars(lr, momentum=beta, weight_decay=wd), 3)
    x = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in _params().items()}
    m = {k: {n: np.zeros_like(v) for n, v in d.items()} for k, d in x.items()}
    for t in range(3):
        g = _grads(t)
        for mod in x:
            for n in x[mod]:
                gi = np.asarray(g[mod][n], np.float64) + (wd * x[mod][n] if _adapted((mod, n)) else 0)
                m[mod][n] = beta * m[mod][n] + (1 - beta) * gi
                r = np.linalg.norm(x[mod][n]) / np.linalg.norm(m[mod][n]) if _adapted((mod, n)) else 1.0
                x[mod][n] = x[mod][n] - lr * r * m[mod][n]
    for mod in x:
        for n in x[mod]:
            np.testing.assert_allclose(ours[mod][n], x[mod][n], rtol=2e-5, atol=1e-6)


def test_schedule_and_scaling():
    s = LB.warmup_poly_decay(1.0, warmup_steps=10, total_steps=110, power=1.0)
    assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(0.5) and float(s(10)) == pytest.approx(1.0)
    assert float(s(60)) == pytest.approx(0.5) and float(s(110)) == pytest.approx(0.0)
    assert LB.scale_lr(0.01, 2048, 512, "sqrt") == pytest.approx(0.02)
    assert LB.scale_lr(0.1, 2048, 512, "linear") == pytest.approx(0.4)
    with pytest.raises(ConfigError, match="lr_scaling='cube'"):
        LB.scale_lr(0.1, 2048, 512, "cube")
    with pytest.raises(ConfigError, match="optimizer='adam'.*lamb"):
        LB.make("adam", 0.1)
