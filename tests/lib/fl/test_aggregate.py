"""Properties of every aggregation rule, agreement with NumPy definitions, errors, NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from lib.fl import _select as sel
from lib.fl import aggregate as agg

K = 11
KEY = jax.random.PRNGKey(0)
# rule -> params used throughout (f = 2 fits Bulyan: 11 >= 4*2 + 3)
PARAMS = {
    "fedavg": {},
    "median": {},
    "trimmed_mean": {"beta": 0.2},
    "krum": {"f": 2},
    "multi_krum": {"f": 2, "m": 4},
    "bulyan": {"f": 2},
    "geometric_median": {"iterations": 50},
    "centered_clipping": {"tau": 1e3, "iterations": 3},
    "flag": {"m": 1},
    "secure_fedavg": {},
}
ALL = sorted(PARAMS)
ROBUST = ["median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median"]


def tree(rng, k=K, scale=1.0, shift=0.0):
    return {"a": (shift + scale * rng.standard_normal((k, 3, 4))).astype(np.float32),
            "b": (shift + scale * rng.standard_normal((k, 5))).astype(np.float32)}


def flat(t):
    return np.concatenate([np.asarray(t["a"]).reshape(len(t["a"]), -1), np.asarray(t["b"]).reshape(len(t["b"]), -1)], 1)


def run(name, updates, weights=None, state=None, **over):
    k = jax.tree.leaves(updates)[0].shape[0]
    w = jnp.ones((k,)) if weights is None else jnp.asarray(weights, jnp.float32)
    out, st = agg.get_rule(name)(jax.tree.map(jnp.asarray, updates), w, state, KEY, **{**PARAMS[name], **over})
    return flat(jax.tree.map(lambda a: np.asarray(a)[None], out))[0], st


def test_registry_lists_every_rule():
    assert set(agg.RULES) == set(ALL)


# Bulyan is left out: its iterated Krum reaches n_rem - f - 2 = 1 neighbour, where two
# mutual nearest neighbours have exactly equal scores and the tie goes to the lower index
# (as in Flower); which of the two is kept then depends on the order.
@pytest.mark.parametrize("name", [n for n in ALL if n != "bulyan"])
def test_permutation_invariance(name):
    rng = np.random.default_rng(1)
    u = tree(rng)
    w = rng.uniform(0.5, 2.0, K).astype(np.float32)
    perm = rng.permutation(K)
    a, _ = run(name, u, w)
    b, _ = run(name, jax.tree.map(lambda x: x[perm], u), w[perm])
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", ALL)
def test_identical_inputs_return_that_input(name):
    rng = np.random.default_rng(2)
    one = tree(rng, k=1)
    u = jax.tree.map(lambda x: np.repeat(x, K, 0), one)
    out, _ = run(name, u, np.linspace(0.5, 2, K))
    np.testing.assert_allclose(out, flat(one)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_absent_clients_are_ignored(name):
    """Weight-0 slots filled with garbage (huge values, NaN) change nothing: the result
    equals the rule on the present clients alone."""
    rng = np.random.default_rng(3)
    u = tree(rng)
    absent = np.zeros(K, bool)
    absent[[1, 4, 9]] = True
    w = np.where(absent, 0.0, rng.uniform(0.5, 2, K)).astype(np.float32)
    g = jax.tree.map(lambda x: x.copy(), u)
    g["a"][1] = 1e30
    g["b"][4] = np.nan
    g["a"][9] = -np.inf
    sub = jax.tree.map(lambda x: x[~absent], u)
    over = {"f": 1} if "f" in PARAMS[name] else {}  # 8 present clients: Bulyan needs f = 1
    a, _ = run(name, g, w, **over)
    b, _ = run(name, sub, w[~absent], **over)
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", ["fedavg", "geometric_median", "centered_clipping"])
def test_weights_act_as_multiplicities(name):
    """Weight 2 on a client == the client listed twice (rules that use weights)."""
    rng = np.random.default_rng(4)
    u = tree(rng, k=6)
    w = np.ones(6, np.float32)
    w[2] = 2.0
    dup = jax.tree.map(lambda x: np.concatenate([x, x[2:3]]), u)
    over = {"tau": 0.5} if name == "centered_clipping" else {}
    a, _ = run(name, u, w, **over)
    b, _ = run(name, dup, np.ones(7), **over)
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_fedavg_is_weighted_mean():
    rng = np.random.default_rng(5)
    u = tree(rng)
    w = rng.uniform(0, 3, K).astype(np.float32)
    out, _ = run("fedavg", u, w)
    np.testing.assert_allclose(out, (w[:, None] * flat(u)).sum(0) / w.sum(), rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32


def test_multi_krum_weighted_mean_of_selected():
    rng = np.random.default_rng(6)
    u = tree(rng)
    w = rng.uniform(0.5, 2, K).astype(np.float32)
    out, _ = run("multi_krum", u, w)
    x = flat(u)
    chosen = np.argsort(_krum_scores_np(x, 2))[:4]
    np.testing.assert_allclose(out, (w[chosen, None] * x[chosen]).sum(0) / w[chosen].sum(), rtol=1e-4, atol=1e-5)


def _krum_scores_np(x, f):
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    m = max(len(x) - f - 2, 1)
    return np.array([np.sort(np.delete(d[i], i))[:m].sum() for i in range(len(x))])


# ----------------------------------------------------------------------------- NumPy agreement


@pytest.mark.parametrize("k", [6, 7, 10, 11])
def test_median_matches_numpy_with_ties(k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((k, 300)).astype(np.float32)
    x[:, :100] = np.round(x[:, :100])  # many ties
    x[:, 100:110] = 0.0
    x[0, 110:120] = -0.0
    out, _ = agg.get_rule("median")(jnp.asarray(x), jnp.ones(k), None, KEY)
    np.testing.assert_array_equal(np.asarray(out), np.median(x, axis=0))


@pytest.mark.parametrize("k,beta", [(10, 0.1), (11, 0.2), (11, 0.0), (7, 0.45)])
def test_trimmed_mean_matches_scipy_with_ties(k, beta):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((k, 300)).astype(np.float32)
    x[:, :100] = np.round(x[:, :100])
    x[:, 100:105] = 1.5
    out, _ = agg.get_rule("trimmed_mean")(jnp.asarray(x), jnp.ones(k), None, KEY, beta=beta)
    ref = scipy.stats.trim_mean(x.astype(np.float64), beta, axis=0)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-6)


def test_krum_matches_numpy():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((K, 40)).astype(np.float32)
    out, _ = agg.get_rule("krum")(jnp.asarray(x), jnp.ones(K), None, KEY, f=2)
    np.testing.assert_array_equal(np.asarray(out), x[np.argmin(_krum_scores_np(x, 2))])


def test_bulyan_matches_numpy_definition():
    rng = np.random.default_rng(8)
    k, f = 11, 2
    x = rng.standard_normal((k, 60)).astype(np.float32)
    rem, chosen = list(range(k)), []
    for _ in range(k - 2 * f):
        s = _krum_scores_np(x[rem], f)
        chosen.append(rem.pop(int(np.argmin(s))))
    sx = x[chosen]
    med = np.median(sx, 0)
    beta = len(chosen) - 2 * f
    idx = np.argsort(np.abs(sx - med), 0)[:beta]
    ref = np.take_along_axis(sx, idx, 0).mean(0)
    out, _ = agg.get_rule("bulyan")(jnp.asarray(x), jnp.ones(k), None, KEY, f=f)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-6)


def test_geometric_median_minimises_sum_of_distances():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((K, 8)).astype(np.float32)
    out, _ = agg.get_rule("geometric_median")(jnp.asarray(x), jnp.ones(K), None, KEY, iterations=200, nu=1e-8)
    z = np.asarray(out, np.float64)
    cost = lambda p: np.linalg.norm(x - p, axis=1).sum()
    for _ in range(20):
        assert cost(z) <= cost(z + 1e-2 * rng.standard_normal(8)) + 1e-4


def test_selection_crosses_tiles():
    """Columns beyond one tile (full tiles + remainder) use the same selection."""
    k = 5
    d = 2 * sel.tile_width(k) + 37
    x = np.random.default_rng(10).standard_normal((k, d)).astype(np.float32)
    out, _ = agg.get_rule("median")(jnp.asarray(x), jnp.ones(k), None, KEY)
    np.testing.assert_array_equal(np.asarray(out), np.median(x, axis=0))


@pytest.mark.parametrize("k", [160, 150])  # > 128 rows: blocked loop, without / with a tail
def test_many_clients_blocked_reduction(k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((k, 40)).astype(np.float32)
    x[:, :10] = np.round(x[:, :10])
    w = np.ones(k, np.float32)
    w[::7] = 0.0
    out, _ = agg.get_rule("median")(jnp.asarray(x), jnp.asarray(w), None, KEY)
    np.testing.assert_array_equal(np.asarray(out), np.median(x[w > 0], axis=0))
    out, _ = agg.get_rule("trimmed_mean")(jnp.asarray(x), jnp.asarray(w), None, KEY, beta=0.1)
    np.testing.assert_allclose(np.asarray(out), scipy.stats.trim_mean(x[w > 0].astype(np.float64), 0.1, axis=0),
                               rtol=1e-5, atol=1e-6)


def test_keys_preserve_float_order():
    v = np.array([-np.inf, -3.5, -1e-38, -0.0, 0.0, 1e-45, 2.0, 3e38, np.inf], np.float32)
    keys = np.asarray(sel.float_keys(jnp.asarray(v)))
    assert np.all(np.diff(keys.astype(np.int64)) >= 0)
    np.testing.assert_array_equal(np.asarray(sel.key_values(jnp.asarray(keys))), v)
    assert int(sel.float_keys(jnp.asarray(np.float32(np.nan)))) == int(sel.float_keys(jnp.asarray(np.float32(np.inf))))


# ----------------------------------------------------------------------------- robustness


def _attacked(rng, f, magnitude=1e6):
    u = tree(rng)
    byz = np.zeros(K, bool)
    byz[rng.choice(K, f, replace=False)] = True
    for leaf in u.values():
        leaf[byz] = magnitude * np.sign(rng.standard_normal(leaf[byz].shape))
    return u, byz


@pytest.mark.parametrize("name", ["median", "trimmed_mean", "bulyan"])
def test_coordinatewise_rules_stay_in_honest_range(name):
    rng = np.random.default_rng(11)
    f = 2  # trimmed_mean beta=0.2 trims floor(2.2) = 2 per side
    u, byz = _attacked(rng, f)
    out, _ = run(name, u)
    h = flat(u)[~byz]
    assert np.all(out >= h.min(0) - 1e-6) and np.all(out <= h.max(0) + 1e-6)


def test_krum_picks_an_honest_client_and_multi_krum_averages_honest():
    rng = np.random.default_rng(12)
    u, byz = _attacked(rng, 2)
    x = flat(u)
    out, _ = run("krum", u)
    assert any(np.array_equal(out, x[i]) for i in np.flatnonzero(~byz))
    out, _ = run("multi_krum", u)
    h = x[~byz]
    assert np.all(out >= h.min(0) - 1e-5) and np.all(out <= h.max(0) + 1e-5)


def test_geometric_median_bound():
    """||z - y|| <= 2(n - f)/(n - 2f) r when the n - f honest points lie in B(y, r)."""
    rng = np.random.default_rng(13)
    f = 4
    u, byz = _attacked(rng, f, magnitude=1e3)
    out, _ = run("geometric_median", u)
    h = flat(u)[~byz]
    y = h.mean(0)
    r = np.linalg.norm(h - y, axis=1).max()
    assert np.linalg.norm(out - y) <= 2 * (K - f) / (K - 2 * f) * r


def _weiszfeld64(x, iters=5000):
    x = x.astype(np.float64)
    z = np.median(x, axis=0)
    for _ in range(iters):
        b = 1 / np.maximum(np.linalg.norm(x - z, axis=1), 1e-12)
        z = (b[:, None] * x).sum(0) / b.sum()
    return z


def test_geometric_median_converges_against_huge_outliers():
    """Issue 11 item 7: 10 Weiszfeld iterations from the mean left 3 of 20 clients at 1e12
    with a pull of ~1e2-5e3; iterated to a tolerance, the result is the geometric median."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((20, 50)).astype(np.float32)
    x[:3] = 1e12 * rng.standard_normal((3, 50)).astype(np.float32)
    out, _ = agg.get_rule("geometric_median")(jnp.asarray(x), jnp.ones(20), None, KEY)
    out = np.asarray(out)
    assert np.linalg.norm(out - _weiszfeld64(x)) < 1e-3
    honest = x[3:]
    assert np.linalg.norm(out - _weiszfeld64(honest)) < np.linalg.norm(honest - honest.mean(0), axis=1).max()


def test_centered_clipping_moves_at_most_tau_per_byzantine_share():
    """From v0 = 0, each iteration moves v by at most tau: the Byzantine share of each
    step is at most (f/n) tau, the honest one is a mean of clipped honest offsets."""
    rng = np.random.default_rng(14)
    f, tau, its = 3, 0.5, 4
    u, byz = _attacked(rng, f)
    out, st = run("centered_clipping", u, tau=tau, iterations=its)
    h = flat(u)[~byz]
    assert np.linalg.norm(out) <= its * tau + 1e-5
    assert np.linalg.norm(out - h.mean(0)) <= np.linalg.norm(h.mean(0)) + its * tau * f / K + 1e-4
    # the aggregate is the next round's centre
    np.testing.assert_allclose(flat(jax.tree.map(lambda a: np.asarray(a)[None], st["center"]))[0], out)


def test_flag_follows_the_honest_direction():
    rng = np.random.default_rng(15)
    d = 17
    common = rng.standard_normal(d)
    x = (common + 0.1 * rng.standard_normal((K, d))).astype(np.float32)
    byz = np.zeros(K, bool)
    byz[:3] = True
    x[byz] = 1e4 * rng.standard_normal((3, d))
    for m in (1, 2):
        for lam in (0.0, 2.0):
            out, _ = agg.get_rule("flag")(jnp.asarray(x), jnp.ones(K), None, KEY, m=m, lam=lam)
            out = np.asarray(out)
            cos = out @ common / np.linalg.norm(out) / np.linalg.norm(common)
            assert cos > 0.9, (m, lam, cos)
            # rescaled by the median norm: Byzantine norms do not leak in
            assert np.linalg.norm(out) <= np.median(np.linalg.norm(x, axis=1)) * 1.01


@pytest.mark.parametrize("name", ROBUST + ["centered_clipping", "flag"])
def test_nonfinite_client_is_treated_as_byzantine(name):
    rng = np.random.default_rng(16)
    u = tree(rng)
    u["a"][3, 0, 0] = np.nan
    u["b"][7, 2] = np.inf
    out, _ = run(name, u)
    assert np.all(np.isfinite(out))
    if name in ("median", "trimmed_mean", "bulyan", "multi_krum"):
        h = np.delete(flat(u), [3, 7], 0)
        assert np.all(out >= h.min(0) - 1e-5) and np.all(out <= h.max(0) + 1e-5)
    if name == "krum":
        assert not any(np.array_equal(out, flat(u)[i]) for i in (3, 7))


def test_fedavg_reports_nonfinite():
    rng = np.random.default_rng(17)
    u = tree(rng)
    u["b"][5, 0] = np.nan
    out, _ = run("fedavg", u)
    assert not np.all(np.isfinite(out))
    np.testing.assert_array_equal(np.asarray(agg.has_nonfinite(u)), np.arange(K) == 5)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name,n,f,params,match", [
    ("nope", 10, 0, {}, "unknown; choose one of"),
    ("krum", 6, 2, {}, "n > 2f"),
    ("multi_krum", 10, 1, {"m": 11}, "m=11"),
    ("bulyan", 10, 2, {}, "4f"),
    ("trimmed_mean", 10, 0, {"beta": 0.5}, "beta"),
    ("trimmed_mean", 10, 0, {"beta": -0.1}, "beta"),
    ("geometric_median", 10, 0, {"nu": 0.0}, "nu"),
    ("centered_clipping", 10, 0, {"tau": -1.0}, "tau"),
    ("flag", 4, 0, {"m": 5}, "m=5"),
    ("median", 10, 0, {"bogus": 1}, "unknown parameter"),
])
def test_invalid_configs_raise_named_errors(name, n, f, params, match):
    with pytest.raises(agg.AggregatorConfigError, match=match):
        agg.validate(name, n, f, **params)


@pytest.mark.parametrize("name,n,f,byz,params,match", [
    ("trimmed_mean", 20, 0, 3, {"beta": 0.1}, r"beta=0.1 trims floor\(beta n\) = 2 of n=20 .* 3 are Byzantine: use "
                                              r"beta >= 0.15"),
    ("krum", 20, 1, 3, {}, "krum is set up for f=1 Byzantine clients but 3 take part"),
    ("bulyan", 20, 2, 3, {}, "bulyan is set up for f=2"),
    ("median", 10, 0, 5, {}, "median tolerates fewer than half Byzantine clients; 5 of n=10"),
    ("geometric_median", 10, 0, 6, {}, "geometric_median tolerates fewer than half"),
])
def test_rule_parameters_are_checked_against_the_byzantine_clients(name, n, f, byz, params, match):
    """Issue 11 item 7: trimmed_mean accepted more Byzantine clients than beta trims, then
    returned inf."""
    with pytest.raises(agg.AggregatorConfigError, match=match):
        agg.validate(name, n, f, byzantine=byz, **params)


def test_trimmed_mean_past_its_trim_is_not_finite_with_nonfinite_clients():
    """What the check prevents (and why the engine checks every rule's aggregate)."""
    x = np.zeros((20, 4), np.float32)
    x[:3] = np.inf
    out, _ = agg.get_rule("trimmed_mean")(jnp.asarray(x), jnp.ones(20), None, KEY, beta=0.1)
    assert not np.isfinite(np.asarray(out)).all()
    agg.validate("trimmed_mean", 20, byzantine=3, beta=0.15)


def test_robustness_is_a_property_of_the_registry():
    assert [r for r in ALL if not agg.is_robust(r)] == ["fedavg", "secure_fedavg"]
    with pytest.raises(agg.AggregatorConfigError, match="mean"):
        agg.is_robust("mean")


def test_valid_configs_pass():
    agg.validate("krum", 7, 2)
    agg.validate("bulyan", 11, 2)
    agg.validate("trimmed_mean", 10, 0, beta=0.3)
    assert agg.rule_params("bulyan", f=3) == {"f": 3}
    assert agg.rule_params("median", f=3) == {}


# ----------------------------------------------------------------------------- sorting-network path (K <= NET_MAX)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 13])
def test_sort_network_sorts_every_01_input(k):
    """0-1 principle: a comparator network sorts everything iff it sorts all 2^k 0/1 inputs;
    pruned to some outputs, those outputs are still the right order statistics."""
    bits = ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1).astype(np.int64)
    for outputs in [None, ((k - 1) // 2, k // 2), (0, k - 1)]:
        w = [bits[:, i].copy() for i in range(k)]
        for i, j in sel.sort_network(k, outputs):
            w[i], w[j] = np.minimum(w[i], w[j]), np.maximum(w[i], w[j])
        ref = np.sort(bits, axis=1)
        for o in (range(k) if outputs is None else outputs):
            np.testing.assert_array_equal(w[o], ref[:, o])


def _special_columns(rng, k, d=64):
    x = rng.standard_normal((k, d)).astype(np.float32)
    x[:, :16] = np.round(x[:, :16])  # ties
    x[:, 16:20] = 0.0
    x[: k // 2, 20:24] = -0.0  # negative zeros tied with zeros
    x[0, 24:28] = np.inf
    x[-1, 24:32] = -np.inf
    x[1 % k, 28:32] = np.inf
    x[:, 32] = np.inf
    x[:, 33] = -np.inf
    return x


@pytest.mark.parametrize("k", [2, 3, 9, 16, 33])
def test_network_median_exact_with_ties_zeros_infs_and_absent(k):
    assert k <= sel.NET_MAX
    rng = np.random.default_rng(100 + k)
    x = _special_columns(rng, k)
    for w in [np.ones(k, np.float32), (rng.random(k) < 0.6).astype(np.float32)]:
        if w.sum() == 0:
            w[0] = 1.0
        out, _ = agg.get_rule("median")(jnp.asarray(x), jnp.asarray(w), None, KEY)
        with np.errstate(invalid="ignore"):
            ref = np.median(x[w > 0], axis=0)
        np.testing.assert_array_equal(np.asarray(out), ref)  # also odd/even present counts


@pytest.mark.parametrize("k,beta", [(4, 0.25), (9, 0.1), (16, 0.2), (33, 0.3)])
def test_network_trimmed_mean_with_ties_zeros_infs_and_absent(k, beta):
    rng = np.random.default_rng(200 + k)
    x = _special_columns(rng, k)
    for w in [np.ones(k, np.float32), (rng.random(k) < 0.7).astype(np.float32)]:
        if w.sum() == 0:
            w[0] = 1.0
        out, _ = agg.get_rule("trimmed_mean")(jnp.asarray(x), jnp.asarray(w), None, KEY, beta=beta)
        with np.errstate(invalid="ignore"):
            ref = scipy.stats.trim_mean(x[w > 0].astype(np.float64), beta, axis=0)
        np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-6)


def test_network_and_bisection_paths_agree():
    """The same columns through the network (K <= NET_MAX) and through radix select
    (the rows repeated past NET_MAX: repeating every row 3 times keeps the median)."""
    rng = np.random.default_rng(5)
    k = sel.NET_MAX // 3 + 1  # odd, 3k just past NET_MAX
    x = _special_columns(rng, k, d=40)
    big = np.repeat(x, 3, axis=0)
    assert big.shape[0] > sel.NET_MAX
    a, _ = agg.get_rule("median")(jnp.asarray(x), jnp.ones(k), None, KEY)
    b, _ = agg.get_rule("median")(jnp.asarray(big), jnp.ones(3 * k), None, KEY)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(a), np.median(x, axis=0))


def test_median_of_nobody_is_zero():
    out, _ = agg.get_rule("median")(jnp.ones((4, 3)), jnp.zeros(4), None, KEY)
    np.testing.assert_array_equal(np.asarray(out), 0.0)


# --------------------------------------------------------------------------- Gram product paths
# On CPU, X X^T is summed over column chunks of agg._GRAM_CHUNK (from 2 chunks on) and, from
# agg._GRAM_TRI rows on, each chunk's product comes from upper-triangular row blocks.


@pytest.mark.parametrize("k", [7, agg._GRAM_TRI + 9])
def test_chunked_gram_matches_float64(k):
    rng = np.random.default_rng(30)
    d = 2 * agg._GRAM_CHUNK + 37  # two full chunks and a remainder
    x = (0.5 + rng.standard_normal((k, d))).astype(np.float32)
    v = rng.standard_normal((1, d)).astype(np.float32)
    x64, v64 = x.astype(np.float64), v.astype(np.float64)
    g = np.asarray(jax.jit(agg._gram_full)(jnp.asarray(x)))
    ref = x64 @ x64.T
    np.testing.assert_allclose(g, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_array_equal(g, g.T)  # lower blocks are the upper ones transposed
    ge = np.asarray(jax.jit(agg._gram_full)(jnp.asarray(x), jnp.asarray(v)))
    y = np.concatenate([x64, v64])
    np.testing.assert_allclose(ge, y @ y.T, rtol=0, atol=1e-5 * np.abs(y @ y.T).max())


def test_gram_distances_match_direct_distances():
    """||x_i - x_j||^2 = G_ii + G_jj - 2 G_ij in float32 is within ~1e-6 (G_ii + G_jj) of the
    direct distance, also with a common offset (the cancellation case)."""
    rng = np.random.default_rng(31)
    d = 3 * agg._GRAM_CHUNK + 5
    x = (2.0 + rng.standard_normal((12, d))).astype(np.float32)
    g, bad = jax.jit(agg._gram)(jnp.asarray(x))
    dist = np.asarray(agg._sq_dists(g, ~bad))
    x64 = x.astype(np.float64)
    ref = ((x64[:, None] - x64[None]) ** 2).sum(-1)
    sq = (x64 ** 2).sum(1)
    assert np.all(np.abs(dist - ref) <= 1e-5 * (sq[:, None] + sq[None, :]))
    out, _ = agg.get_rule("krum")(jnp.asarray(x), jnp.ones(12), None, KEY, f=2)
    np.testing.assert_array_equal(np.asarray(out), x[np.argmin(_krum_scores_np(x, 2))])


def _cc_np(x, w, v0, tau, its):
    ok = (w > 0) & np.all(np.isfinite(x), 1)
    a = np.where(ok, w, 0.0) / np.where(ok, w, 0.0).sum()
    v = v0.astype(np.float64)
    for _ in range(its):
        y = np.where(ok[:, None], x, 0.0) - v
        n = np.linalg.norm(y, axis=1)
        v = v + (a * np.minimum(1.0, tau / np.maximum(n, 1e-30))) @ y
    return v


@pytest.mark.parametrize("d", [23, 2 * agg._GRAM_CHUNK + 3])
def test_centered_clipping_matches_direct_definition_from_a_centre(d):
    """From a previous centre v0 (its X v0 and ||v0||^2 come with the Gram matrix) and with a
    NaN client and an absent one: the same as clipping the offsets x_i - v directly."""
    rng = np.random.default_rng(32)
    k = 9
    x = rng.standard_normal((k, d)).astype(np.float32)
    x[2] *= 50.0
    x[4, 1] = np.nan
    w = np.ones(k, np.float32)
    w[6] = 0.0
    v0 = (0.3 * rng.standard_normal(d)).astype(np.float32)
    tau = float(np.median(np.linalg.norm(x[[0, 1, 3, 5]] - v0, axis=1)))
    out, st = agg.get_rule("centered_clipping")(jnp.asarray(x), jnp.asarray(w), {"center": jnp.asarray(v0)}, KEY,
                                                tau=tau, iterations=3)
    ref = _cc_np(x, w, v0, tau, 3)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    np.testing.assert_array_equal(np.asarray(st["center"]), np.asarray(out))


@pytest.mark.parametrize("tau", [1.5, "median"])
def test_centered_clipping_direct_and_gram_paths_agree(tau):
    """K = 100 clients, 3 iterations: the direct path (2 passes per iteration) is the one the
    rule takes; the Gram path must give the same, from 0 and from a centre, with a NaN and an
    absent client."""
    rng = np.random.default_rng(33)
    k, d = 100, 300
    assert agg._cc_direct_cheaper(k, 3) and not agg._cc_direct_cheaper(K, 3)
    x = rng.standard_normal((k, d)).astype(np.float32)
    x[:10] *= 40.0
    x[12, 5] = np.nan
    w = np.ones(k, np.float32)
    w[20] = 0.0
    v0 = (0.2 * rng.standard_normal(d)).astype(np.float32)
    for state in (None, {"center": jnp.asarray(v0)}):
        out, _ = agg.get_rule("centered_clipping")(jnp.asarray(x), jnp.asarray(w), state, KEY, tau=tau, iterations=3)
        ref = np.asarray(jax.jit(agg._cc_direct, static_argnums=(3, 4))(
            jnp.asarray(x), jnp.asarray(w), None if state is None else jnp.asarray(v0), tau, 3))
        np.testing.assert_array_equal(np.asarray(out), ref)  # the rule took the direct path
        if tau != "median":
            np.testing.assert_allclose(ref, _cc_np(x, w, np.zeros(d) if state is None else v0, tau, 3),
                                       rtol=0, atol=1e-4 * np.abs(ref).max())
        old = agg._cc_direct_cheaper
        try:
            agg._cc_direct_cheaper = lambda k, it: False
            gram, _ = agg.centered_clipping(jnp.asarray(x), jnp.asarray(w), state, KEY, tau=tau, iterations=3)
        finally:
            agg._cc_direct_cheaper = old
        np.testing.assert_allclose(np.asarray(gram), ref, rtol=0, atol=1e-4 * np.abs(ref).max())
