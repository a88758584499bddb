"""Secure aggregation: exact sums through masks, masked updates look like noise, named errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lib.fl import aggregate, secagg


def _rows(k=10, d=257, seed=0):
    return jnp.asarray(np.random.RandomState(seed).standard_normal((k, d)).astype(np.float32) * 0.1)


@pytest.mark.parametrize("groups,dropouts,neighbours", [(1, 0, 0), (1, 2, 0), (1, 2, 2), (3, 0, 1), (2, 1, 0)])
def test_masked_sum_equals_the_plain_fixed_point_sum_to_the_last_bit(groups, dropouts, neighbours):
    x = _rows(11)
    present = jnp.asarray(np.arange(11) != 4)  # one padded slot
    out = jax.jit(lambda x, p, k: secagg.secure_sum(x, p, k, frac_bits=20, groups=groups, dropouts=dropouts,
                                            neighbours=neighbours))(
        x, present, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(np.asarray(out["sum_int"]), np.asarray(out["plain_int"]))
    surv = np.asarray(out["survived"])
    assert surv.sum() == 10 - dropouts and not surv[4]
    # and the plain sum is the survivors' encodings: the float sum to the fixed-point resolution
    got = np.asarray(secagg.decode(out["sum_int"], 20))
    np.testing.assert_allclose(got, np.asarray(x)[surv].sum(0), atol=surv.sum() * 2.0 ** -20)
    # the root sees masked group sums only; without dropouts they add up to the total
    sums = np.asarray(out["group_sums"])
    assert sums.shape[0] == groups
    if dropouts == 0:
        np.testing.assert_array_equal(sums.sum(0, dtype=np.uint32), np.asarray(out["sum_int"]))
    # without masks the sum would also be right, but the masks are really there
    assert not np.array_equal(np.asarray(out["masked"])[0], np.asarray(secagg.encode(x[0], 20)))


def test_masks_cancel_within_each_group():
    eligible = jnp.ones((7, 7), bool)
    r = secagg.pair_masks(jnp.uint32(5), eligible, 100)
    assert np.all(np.asarray(secagg.pair_masks(jnp.uint32(5), eligible, 100, neighbours=2).sum(0, dtype=jnp.uint32)) == 0)
    assert np.all(np.asarray(r.sum(0, dtype=jnp.uint32)) == 0)
    assert len(np.unique(np.asarray(r)[:, 0])) == 7  # every client's mask differs


def test_a_masked_update_is_uniform_noise_whatever_the_update():
    """Stated property: a masked update's bytes are uniform over 0..255 (chi-square, p > 1e-3) and
    uncorrelated with the encoded update, for an all-zero update and for a large structured one;
    the two masked updates' value distributions cannot be told apart (two-sample KS, p > 1e-3)."""
    d = 20000
    x = np.zeros((4, d), np.float32)
    x[1] = np.linspace(-1, 1, d)  # a large, structured update
    out = secagg.secure_sum(jnp.asarray(x), jnp.ones(4, bool), jax.random.PRNGKey(0), frac_bits=20)
    masked = np.asarray(out["masked"])
    for i in (0, 1):
        counts = np.bincount(masked[i].view(np.uint8), minlength=256)
        assert stats.chisquare(counts).pvalue > 1e-3
        enc = np.asarray(secagg.encode(jnp.asarray(x[i]), 20)).view(np.int32).astype(np.float64)
        if enc.std() > 0:
            assert abs(np.corrcoef(enc, masked[i].astype(np.float64))[0, 1]) < 4 / np.sqrt(d)
    assert stats.ks_2samp(masked[0], masked[1]).pvalue > 1e-3


def test_secure_fedavg_rule_is_the_weighted_mean_of_survivors():
    upd = {"w": _rows(8, 33, 1).reshape(8, 3, 11), "b": _rows(8, 5, 2)}
    w = jnp.asarray([3, 1, 0, 2, 5, 1, 1, 4], jnp.float32)  # slot 2 absent
    rule = aggregate.get_rule("secure_fedavg")
    ref, _ = aggregate.get_rule("fedavg")(upd, w, None, jax.random.PRNGKey(0))
    got, _ = rule(upd, w, None, jax.random.PRNGKey(0), groups=2)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    # with a dropout: the mean over the surviving present clients
    got, _ = rule(upd, w, None, jax.random.PRNGKey(0), dropouts=1)
    wn = np.asarray(w)
    means = [np.einsum("k,k...->...", m, np.asarray(upd["b"])) / m.sum() for m in
             (wn * (np.arange(8) != i) for i in range(8) if wn[i] > 0)]
    assert any(np.allclose(np.asarray(got["b"]), m, atol=1e-6) for m in means)
    # an update too large for the fixed-point range gives NaN (the engine then stops)
    big = jax.tree.map(lambda u: u.at[0].set(1e4), upd)
    got, _ = rule(big, w, None, jax.random.PRNGKey(0))
    assert np.isnan(np.asarray(got["b"])).all()


@pytest.mark.parametrize("params,match", [
    (dict(groups=5), "cannot form groups=5"),
    (dict(groups=8), "cannot form groups=8"),
    (dict(dropouts=5), "recovery threshold"),
    (dict(groups=2, dropouts=2, threshold=3), "recovery threshold"),
    (dict(frac_bits=31), "frac_bits"),
    (dict(threshold=9), "threshold=9"),
    (dict(neighbours=-1), "neighbours=-1"),
])
def test_bad_parameters_are_named_errors(params, match):
    with pytest.raises(secagg.SecAggConfigError, match=match):
        aggregate.validate("secure_fedavg", 8, **params)
    with pytest.raises(secagg.SecAggConfigError, match="Byzantine"):
        aggregate.validate("secure_fedavg", 8, byzantine=1)
