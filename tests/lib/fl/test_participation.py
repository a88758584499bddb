"""Participation models: realised frequencies match their probabilities; purity; errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import participation as P


def _simulate(model, rounds, seed=0):
    key = jax.random.PRNGKey(seed)

    def body(ps, r):
        mask, ps = model.sample(ps, jax.random.fold_in(key, r), r)
        return ps, mask

    _, masks = jax.lax.scan(body, model.init(jax.random.fold_in(key, 99999)), jnp.arange(rounds))
    return np.asarray(masks)


PROBS = np.array([0.02, 0.1, 0.25, 0.5, 0.8, 1.0], np.float32)


def test_uniform_exact_count_and_fair():
    masks = _simulate(P.uniform(10, 3), 4000)
    assert (masks.sum(1) == 3).all()
    np.testing.assert_allclose(masks.mean(0), 0.3, atol=0.03)


def test_bernoulli_frequencies():
    masks = _simulate(P.bernoulli(PROBS), 20000)
    sd = np.sqrt(PROBS * (1 - PROBS) / 20000)
    assert np.all(np.abs(masks.mean(0) - PROBS) <= 5 * sd + 1e-6)
    # independence across clients: correlation of two clients ~ 0
    assert abs(np.corrcoef(masks[:, 2], masks[:, 3])[0, 1]) < 0.05


def test_markov_stationary_and_sticky():
    model = P.markov(PROBS, max_to_active=0.05)
    masks = _simulate(model, 40000)
    np.testing.assert_allclose(masks.mean(0), PROBS, atol=0.05)
    # Markov runs are long: P(active at t+1 | active at t) far above p for p=0.25
    a = masks[:, 2]
    stay = (a[1:] & a[:-1]).sum() / a[:-1].sum()
    assert stay > 0.8


def test_cyclic_pattern():
    model = P.cyclic(PROBS, period=20)
    masks = _simulate(model, 200)
    np.testing.assert_allclose(masks.mean(0), np.maximum(1, np.round(20 * PROBS)) / 20)
    np.testing.assert_allclose(model.probs, masks.mean(0))
    # periodic with period 20
    np.testing.assert_array_equal(masks[:20], masks[20:40])


def test_fedau_probs_correlate_with_labels():
    rng = np.random.default_rng(0)
    counts = np.eye(10)[rng.integers(0, 10, 50)] * 100  # one class per client
    p = P.fedau_probs(counts, np.random.default_rng(1))
    assert p.min() >= 0.02 and p.max() <= 1
    # clients with the same single class get the same probability
    cls = counts.argmax(1)
    for c in range(10):
        assert np.ptp(p[cls == c]) == 0 if (cls == c).any() else True
    assert len(np.unique(p)) > 2


def test_named_errors():
    with pytest.raises(ConfigError, match="clients_per_round=11"):
        P.uniform(10, 11)
    with pytest.raises(ConfigError, match="participation='poisson'"):
        P.make("poisson", 10)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        P.bernoulli([0.5, 0.0])
    with pytest.raises(ConfigError, match="3 entries for 4 clients"):
        P.make("markov", 4, probs=[0.1, 0.2, 0.3])
