"""Adaptive attacks: min-max / min-sum (gamma is the constraint's exact boundary), Fang on Krum
(Krum then selects the Byzantine update) and on trimmed mean / median (values beyond the honest
extreme opposite to the change direction), mimic (a copy of the most heterogeneous honest
client), the knowledge check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.fl import aggregate, attacks

KEY = jax.random.PRNGKey(0)
K = 12
BYZ = np.zeros(K, bool)
BYZ[[2, 7, 11]] = True


def updates(seed=0, d=(5, 4)):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.standard_normal((K,) + d) * 0.1 + 0.05, jnp.float32),
            "b": jnp.asarray(rng.standard_normal((K, 3)) * 0.1, jnp.float32)}


def flat(u):
    leaves = jax.tree.leaves(u)
    k = leaves[0].shape[0]
    return np.concatenate([np.asarray(l).reshape(k, -1) for l in leaves], 1).astype(np.float64)


def closed_form_gamma(h, p, objective):
    """Largest gamma: the constraint is a quadratic in gamma per honest client (exact roots)."""
    mu = h.mean(0)
    a = ((mu - h) ** 2).sum(1)
    b = (mu - h) @ p
    c = p @ p
    d2 = ((h[:, None] - h[None]) ** 2).sum(-1)
    if objective == "min_max":
        t = d2.max()
        return min((-bi + np.sqrt(bi * bi - c * (ai - t))) / c for ai, bi in zip(a, b))
    t = d2.sum(1).max()
    return np.sqrt((t - a.sum()) / (len(h) * c))  # sum_i b_i = 0


@pytest.mark.parametrize("objective", ["min_max", "min_sum"])
@pytest.mark.parametrize("pert", ["std", "unit", "sign"])
def test_min_max_min_sum_gamma_is_the_constraint_boundary(objective, pert):
    u = updates(1)
    out = jax.jit(lambda u: attacks.get_attack(objective)(u, jnp.asarray(BYZ), KEY, perturbation=pert))(u)
    x, o = flat(u), flat(out)
    h = x[~BYZ]
    np.testing.assert_array_equal(o[~BYZ], x[~BYZ])
    assert np.allclose(o[BYZ], o[BYZ][0])  # all Byzantine send the same m
    mu = h.mean(0)
    p = {"std": -h.std(0), "unit": -mu / np.linalg.norm(mu), "sign": -np.sign(mu)}[pert]
    gamma = np.linalg.norm(o[2] - mu) / np.linalg.norm(p)
    np.testing.assert_allclose(o[2], mu + gamma * p, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gamma, closed_form_gamma(h, p, objective), rtol=1e-4)


def test_no_artificial_cap_on_gamma():
    # honest updates spread 1e4 apart along p: gamma must reach ~1e4 (an initial-10 cap would stop at 10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((K, 8)).astype(np.float32)
    x[:, 0] *= 1e4
    out = attacks.min_max({"w": jnp.asarray(x)}, jnp.asarray(BYZ), KEY, perturbation="sign")
    h = x[~BYZ].astype(np.float64)
    p = -np.sign(h.mean(0))
    g = np.abs(np.asarray(out["w"])[2, 1] - h.mean(0)[1])
    assert g > 1e3
    np.testing.assert_allclose(g, closed_form_gamma(h, p, "min_max"), rtol=1e-3)


def test_largest_feasible_brackets_down_and_up():
    for t in (1e-7, 0.3, 7.0, 1e20):
        got = float(attacks.largest_feasible(lambda g, t=t: g <= t))
        assert got == pytest.approx(t, rel=1e-6)


@pytest.mark.parametrize("rule", ["krum", "multi_krum"])
def test_fang_krum_is_selected_by_krum(rule):
    u = updates(3)
    f = int(BYZ.sum())
    out = attacks.fang(u, jnp.asarray(BYZ), KEY, rule=rule)
    x, o = flat(u), flat(out)
    mu = x[~BYZ].mean(0)
    lam = -o[2] / np.sign(mu)
    assert np.allclose(lam, lam[0], rtol=1e-5) and lam[0] > 0  # -lambda sign(mu)
    agg, _ = aggregate.krum(out, jnp.ones(K), None, KEY, f=f)
    np.testing.assert_allclose(flat(jax.tree.map(lambda a: a[None], agg))[0], o[2], rtol=1e-5, atol=1e-7)
    # the largest such lambda among the halvings: 2 lambda is not selected (unless it is the start)
    bigger = jax.tree.map(lambda a: jnp.where(jnp.asarray(BYZ).reshape((-1,) + (1,) * (a.ndim - 1)), 2 * a, a), out)
    agg2, _ = aggregate.krum(bigger, jnp.ones(K), None, KEY, f=f)
    assert not np.allclose(flat(jax.tree.map(lambda a: a[None], agg2))[0], 2 * o[2])


@pytest.mark.parametrize("rule", ["trimmed_mean", "median"])
def test_fang_trim_goes_beyond_the_honest_extreme_against_the_direction(rule):
    u = updates(4)
    out = attacks.fang(u, jnp.asarray(BYZ), KEY, rule=rule, b=2.0)
    x, o = flat(u), flat(out)
    h = x[~BYZ]
    s = np.sign(h.mean(0))
    hi, lo = h.max(0), h.min(0)
    bad = o[BYZ]
    up = s < 0
    assert np.all(bad[:, up] >= hi[up] - 1e-7) and np.all(bad[:, ~up] <= lo[~up] + 1e-7)
    assert np.all(np.abs(bad[:, up]) <= 2 * np.abs(hi[up]) + 1e-7)
    assert np.all(np.abs(bad[:, ~up]) <= 2 * np.abs(lo[~up]) + 1e-7)
    assert not np.allclose(bad[0], bad[1])  # independent draws per client
    # the rule's output moves against the change direction relative to the clean run
    clean, _ = aggregate.get_rule(rule)(u, jnp.ones(K), None, KEY, **({"beta": 0.25} if rule == "trimmed_mean" else {}))
    att, _ = aggregate.get_rule(rule)(out, jnp.ones(K), None, KEY, **({"beta": 0.25} if rule == "trimmed_mean" else {}))
    shift = flat(jax.tree.map(lambda a: a[None], att))[0] - flat(jax.tree.map(lambda a: a[None], clean))[0]
    assert np.mean(shift * s < 0) > 0.9


def test_mimic_copies_the_top_principal_client():
    u = updates(5)
    out = attacks.mimic(u, jnp.asarray(BYZ), KEY)
    x, o = flat(u), flat(out)
    h_idx = np.flatnonzero(~BYZ)
    xc = x[h_idx] - x[h_idx].mean(0)
    v = np.linalg.svd(xc, full_matrices=False)[2][0]
    star = h_idx[np.argmax(np.abs(xc @ v))]
    assert int(attacks.mimic_target(u, jnp.asarray(BYZ))) == star
    for r in np.flatnonzero(BYZ):
        np.testing.assert_array_equal(o[r], x[star])
    np.testing.assert_array_equal(o[~BYZ], x[~BYZ])


def test_knowledge_and_parameter_errors():
    attacks.validate("min_max", knowledge="omniscient", perturbation="std")
    attacks.validate("sign_flip", knowledge="own")
    with pytest.raises(attacks.AttackKnowledgeError, match="needs 'full'"):
        attacks.validate("fang", knowledge="omniscient", rule="krum")
    with pytest.raises(attacks.AttackKnowledgeError, match="needs 'omniscient'"):
        attacks.validate("mimic", knowledge="own")
    with pytest.raises(attacks.AttackConfigError, match="perturbation"):
        attacks.validate("min_sum", perturbation="gauss")
    with pytest.raises(attacks.AttackConfigError, match="rule"):
        attacks.validate("fang", rule="flag")
    with pytest.raises(attacks.AttackConfigError, match="knowledge"):
        attacks.validate("ipm", knowledge="partial")


def test_backdoor_is_a_data_attack_with_a_bottom_right_trigger():
    from lib.fl import backdoor

    assert attacks.is_data_level("backdoor") and attacks.get_attack("backdoor") is None
    assert attacks.knowledge("backdoor") == "own"
    attacks.validate("backdoor", knowledge="own", target=3, size=4)
    spec = attacks.backdoor_spec((28, 28), 10, target=3, size=4)
    assert (spec.trigger.row, spec.trigger.col, spec.trigger.size, spec.target) == (24, 24, 4, 3)
    x = backdoor.stamp(np.zeros((1, 784), np.float32), spec.trigger).reshape(28, 28)
    assert float(x[24:, 24:].min()) == 1.0 and float(x.sum()) == 16.0
    with pytest.raises(attacks.AttackConfigError, match="poison_fraction"):
        attacks.validate("backdoor", poison_fraction=-0.1)
    with pytest.raises(backdoor.TargetClassError):
        attacks.backdoor_spec((28, 28), 10, target=10)


@pytest.mark.parametrize("rule,rp", [("trimmed_mean", {"beta": 0.2}), ("krum", {"f": 4}),
                                     ("centered_clipping", {"tau": "median"})])
def test_agr_tailored_deviates_the_rule_at_least_as_much_as_min_max(rule, rp):
    """The paper's objective ||rule(updates) - mu||: the tailored gamma is the best of a grid
    that contains min-max's gamma, so it is never below min-max's (and above it for trimmed mean)."""
    rng = np.random.default_rng(0)
    k, d = 20, 300
    x = jnp.asarray(rng.normal(size=(k, d)).astype(np.float32) * 0.1 + 0.05)
    byz = jnp.arange(k) < 4
    mu = jnp.mean(x[4:], 0)
    fn = aggregate.get_rule(rule)

    def dev(u):
        out, _ = fn(u, jnp.ones(k), None, jax.random.PRNGKey(0), **rp)
        return float(jnp.linalg.norm(out["w"] - mu))

    t = attacks.agr_tailored({"w": x}, byz, jax.random.PRNGKey(1), rule=rule, rule_params=rp)
    mm = attacks.min_max({"w": x}, byz, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(t["w"][4:]), np.asarray(x[4:]))  # honest rows untouched
    assert np.ptp(np.asarray(t["w"][:4]), axis=0).max() == 0  # one malicious vector
    assert dev(t) >= dev(mm) - 1e-6 and dev(t) > dev({"w": x})
    if rule == "trimmed_mean":
        assert dev(t) > 1.2 * dev(mm)


def test_agr_tailored_needs_full_knowledge_and_a_known_rule():
    with pytest.raises(attacks.AttackKnowledgeError):
        attacks.validate("agr_tailored", knowledge="omniscient")
    with pytest.raises(attacks.AttackConfigError, match="the rule it attacks"):
        attacks.validate("agr_tailored", rule="flag")
    with pytest.raises(attacks.AttackConfigError, match="odd"):
        attacks.validate("agr_tailored", grid=10)


@pytest.mark.parametrize("name,params", [
    ("alie", {"z": 1.0}), ("ipm", {"epsilon": 2.0}), ("min_max", {"perturbation": "std"}),
    ("min_sum", {"perturbation": "unit"}), ("mimic", {}), ("fang", {"rule": "krum", "f": 2}),
    ("agr_tailored", {"rule": "median"})])
def test_padded_slots_are_not_counted_as_honest(name, params):
    """The engine pads a cohort to a fixed number of slots (zero updates, present False): an
    omniscient attack on the padded cohort equals the attack on the real clients alone."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(10, 40)).astype(np.float32) * 0.1 + 0.03)
    byz = jnp.arange(10) < 2
    pad = jnp.concatenate([x, jnp.zeros((6, 40), jnp.float32)])
    present = jnp.arange(16) < 10
    fn = attacks.get_attack(name)
    key = jax.random.PRNGKey(3)
    real = fn({"w": x}, byz, key, **params)["w"]
    padded = fn({"w": pad}, jnp.concatenate([byz, jnp.zeros(6, bool)]), key, present=present, **params)["w"]
    np.testing.assert_allclose(np.asarray(padded[:10]), np.asarray(real), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(padded[10:]), 0.0)  # padded rows untouched
