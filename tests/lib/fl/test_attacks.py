"""Attacks: only Byzantine rows change, the formulas, honest-only statistics, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from lib.fl import attacks

KEY = jax.random.PRNGKey(0)
K = 10


def updates(seed=0):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.standard_normal((K, 4, 3)), jnp.float32),
            "b": jnp.asarray(rng.standard_normal((K, 3)), jnp.float32)}


BYZ = jnp.asarray(np.arange(K) % 4 == 1)  # clients 1, 5, 9


@pytest.mark.parametrize("name,params", [
    ("sign_flip", {}), ("gaussian", {"sigma": 2.0}), ("alie", {"n": K, "f": 3}), ("ipm", {"epsilon": 0.5})])
def test_only_byzantine_rows_change(name, params):
    u = updates()
    out = attacks.get_attack(name)(u, BYZ, KEY, **params)
    for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(out)):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_array_equal(a[~np.asarray(BYZ)], b[~np.asarray(BYZ)])
        assert np.all(np.any((a != b).reshape(K, -1), axis=1)[np.asarray(BYZ)])
        assert b.dtype == a.dtype


def test_sign_flip():
    u = updates()
    out = attacks.sign_flip(u, BYZ, KEY, scale=10.0)
    np.testing.assert_allclose(np.asarray(out["w"])[1], -10 * np.asarray(u["w"])[1])


def test_gaussian_is_noise_with_sigma_and_reproducible():
    u = {"w": jnp.zeros((K, 20000))}
    out = attacks.gaussian(u, BYZ, KEY, sigma=3.0)
    np.testing.assert_allclose(np.asarray(out["w"])[1].std(), 3.0, rtol=0.03)
    np.testing.assert_array_equal(np.asarray(out["w"]), np.asarray(attacks.gaussian(u, BYZ, KEY, sigma=3.0)["w"]))


def test_alie_z_and_statistics_from_honest_clients_only():
    # Baruch et al.: n = 50, f = 12 -> s = 14, z = Phi^-1(36/50)
    assert attacks.alie_z(50, 12) == pytest.approx(scipy.stats.norm.ppf(36 / 50))
    u = updates(1)
    u["b"] = u["b"].at[np.asarray(BYZ)].set(1e6)  # Byzantine inputs must not leak into mu/sigma
    out = attacks.alie(u, BYZ, KEY, n=K, f=3)
    h = np.asarray(u["b"])[~np.asarray(BYZ)]
    z = attacks.alie_z(K, 3)
    np.testing.assert_allclose(np.asarray(out["b"])[5], h.mean(0) - z * h.std(0), rtol=1e-5, atol=1e-6)


def test_ipm_is_minus_epsilon_honest_mean():
    u = updates(2)
    out = attacks.ipm(u, BYZ, KEY, epsilon=0.5)
    h = np.asarray(u["w"])[~np.asarray(BYZ)]
    np.testing.assert_allclose(np.asarray(out["w"])[9], -0.5 * h.mean(0), rtol=1e-5, atol=1e-6)


def test_label_flip():
    y = jnp.arange(10)
    np.testing.assert_array_equal(np.asarray(attacks.flip_labels(y, 10)), 9 - np.arange(10))
    np.testing.assert_array_equal(np.asarray(attacks.flip_labels(y, 10, False)), np.arange(10))
    assert attacks.is_data_level("label_flip") and attacks.get_attack("label_flip") is None


def test_choose_byzantine_is_reproducible_with_exact_count():
    a = attacks.choose_byzantine(jax.random.PRNGKey(3), 100, 0.3)
    b = attacks.choose_byzantine(jax.random.PRNGKey(3), 100, 0.3)
    c = attacks.choose_byzantine(jax.random.PRNGKey(4), 100, 0.3)
    assert int(a.sum()) == 30 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert int(attacks.choose_byzantine(KEY, 10, 0.0).sum()) == 0


@pytest.mark.parametrize("call,match", [
    (lambda: attacks.validate("bogus"), "unknown; choose one of"),
    (lambda: attacks.validate("alie"), "give z"),
    (lambda: attacks.validate("alie", n=10, f=10), "f=10"),
    (lambda: attacks.validate("ipm", epsilon=0.0), "epsilon"),
    (lambda: attacks.validate("gaussian", sigma=-1.0), "sigma"),
    (lambda: attacks.validate("sign_flip", scale=1.0, eps=2), "unknown parameter"),
    (lambda: attacks.choose_byzantine(KEY, 10, 1.0), "fraction"),
])
def test_invalid_attack_configs(call, match):
    with pytest.raises(attacks.AttackConfigError, match=match):
        call()


def test_attacks_jit():
    u = updates()
    f = jax.jit(lambda u, m, k: attacks.alie(u, m, k, z=1.0))
    out = f(u, BYZ, KEY)
    assert np.all(np.isfinite(np.asarray(out["w"])))
