"""Defense stages: each one's defining property, composition with every rule, the engine wiring
(worker momentum in the client state, FLTrust's root update) and the named errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.data.synthetic_fl import synthetic
from lib.fl import aggregate, attacks, client, engine, participation, server

KEY = jax.random.PRNGKey(0)
K = 10


def ups(seed=0):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.standard_normal((K, 3, 2)), jnp.float32),
            "b": jnp.asarray(rng.standard_normal((K, 2)), jnp.float32)}


def flat(u):
    leaves = jax.tree.leaves(u)
    k = leaves[0].shape[0]
    return np.concatenate([np.asarray(l).reshape(k, -1) for l in leaves], 1).astype(np.float64)


def one(u):
    return flat(jax.tree.map(lambda a: a[None], u))[0]


def test_bucketing_means_of_disjoint_buckets_preserve_the_weighted_sum():
    u = ups()
    w = jnp.asarray([1.0] * 8 + [0.0, 0.0])
    out, wb = aggregate.bucketing(u, w, KEY, s=3)
    x, o = flat(u), flat(out)
    assert o.shape[0] == 4 and np.allclose(np.asarray(wb), [3, 3, 2, 0])
    np.testing.assert_allclose((np.asarray(wb)[:, None] * o).sum(0), x[:8].sum(0), rtol=1e-5, atol=1e-5)
    # each bucket mean is the mean of distinct present clients: solve for the membership
    used = set()
    for bi in range(3):
        size = int(np.asarray(wb)[bi])
        from itertools import combinations
        hits = [c for c in combinations(range(8), size) if np.allclose(x[list(c)].mean(0), o[bi], atol=1e-5)]
        assert len(hits) == 1 and not used & set(hits[0])
        used |= set(hits[0])
    o2 = flat(aggregate.bucketing(u, w, jax.random.PRNGKey(1), s=3)[0])
    assert not np.allclose(o, o2)  # random permutation from the key


def test_nnm_mean_of_n_minus_f_nearest():
    u, f = ups(1), 3
    out, w = aggregate.nnm(u, jnp.ones(K), KEY, f=f)
    x, o = flat(u), flat(out)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    for i in range(K):
        nn = np.argsort(d[i])[: K - f]
        np.testing.assert_allclose(o[i], x[nn].mean(0), rtol=1e-5, atol=1e-6)


def test_dnc_removes_the_outliers_along_the_top_direction():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((K, 50)).astype(np.float32) * 0.1
    x[[1, 4]] += 3.0 * np.ones(50, np.float32)  # two far along one direction
    _, w = aggregate.dnc({"w": jnp.asarray(x)}, jnp.ones(K), KEY, f=2, c=1.0, iterations=2, sub_dim=20)
    w = np.asarray(w)
    assert w[1] == 0 and w[4] == 0 and w.sum() == K - 2


def test_fltrust_trust_scores_and_rescaling():
    u = ups(3)
    x = flat(u)
    g0 = x[0] * 0.5 + 0.1
    root = {"b": jnp.asarray(g0[:2], jnp.float32), "w": jnp.asarray(g0[2:].reshape(3, 2), jnp.float32)}
    out, ts = aggregate.fltrust(u, jnp.ones(K), KEY, root=root)
    cos = x @ g0 / (np.linalg.norm(x, axis=1) * np.linalg.norm(g0))
    np.testing.assert_allclose(np.asarray(ts), np.maximum(cos, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(flat(out), axis=1), np.linalg.norm(g0), rtol=1e-5)
    agg, _ = aggregate.defended("fedavg", defenses=["fltrust"])(u, jnp.ones(K), None, KEY, root=root)
    ref = (np.maximum(cos, 0)[:, None] * x / np.linalg.norm(x, axis=1, keepdims=True)).sum(0) \
        * np.linalg.norm(g0) / np.maximum(cos, 0).sum()
    np.testing.assert_allclose(one(agg), ref, rtol=1e-4, atol=1e-6)


def test_centered_clipping_median_tau_clips_a_far_outlier():
    x = np.random.default_rng(4).standard_normal((K, 20)).astype(np.float32) * 0.01
    x[3] = 1e6
    rule = aggregate.get_rule("centered_clipping")
    fixed, _ = rule({"w": jnp.asarray(x)}, jnp.ones(K), None, KEY, tau=1.0, iterations=3)
    auto, _ = rule({"w": jnp.asarray(x)}, jnp.ones(K), None, KEY, tau="median", iterations=3)
    # tau = 1 lets the outlier pull the centre by tau / K = 0.1 per iteration (honest deltas ~0.045)
    assert np.linalg.norm(np.asarray(fixed["w"])) > 0.08
    assert np.linalg.norm(np.asarray(auto["w"])) < 0.03  # the median radius keeps it at the honest scale


@pytest.mark.parametrize("rule", sorted(aggregate.RULES))
def test_every_rule_composes_with_bucketing_nnm_dnc(rule):
    u, f = ups(5), 1
    rp = aggregate.rule_params(rule, f=f)
    fn = aggregate.defended(rule, rp, ["nnm", ("bucketing", {"s": 2}), "dnc"], f=f)
    agg, _ = fn(u, jnp.ones(K), None, KEY)
    assert one(agg).shape == (8,) and np.all(np.isfinite(one(agg)))


def test_worker_momentum_state():
    def base(params, pool, c, cs, key, hp):
        return jax.tree.map(lambda p: p + c, params), cs, {"train_loss": jnp.float32(0)}

    upd, init = aggregate.worker_momentum(base, beta=0.5)
    p = {"w": jnp.zeros(2)}
    st = init(p)
    m1, st, _ = upd(p, None, 1.0, st, KEY, {})
    m2, st, _ = upd(p, None, 3.0, st, KEY, {})
    np.testing.assert_allclose(np.asarray(m1["w"]), 0.5)
    np.testing.assert_allclose(np.asarray(m2["w"]), 0.5 * 0.5 + 0.5 * 3)


@pytest.mark.parametrize("call,err,match", [
    (lambda: aggregate.validate_defended("median", 10, 2, byzantine=2, defenses=[("bucketing", {"s": 11})]),
     aggregate.AggregatorConfigError, "larger than the cohort"),
    (lambda: aggregate.validate_defended("krum", 20, 4, byzantine=4, defenses=[("bucketing", {"s": 2})]),
     aggregate.AggregatorConfigError, r"n > 2f \+ 2"),
    (lambda: aggregate.validate_defended("bulyan", 18, 4, byzantine=4, defenses=["nnm"]),
     aggregate.AggregatorConfigError, "4f \\+ 3"),
    (lambda: aggregate.validate_defended("median", 10, 5, byzantine=5, defenses=["nnm"]),
     aggregate.AggregatorConfigError, "n > 2f"),
    (lambda: aggregate.validate_defended("median", 10, 2, defenses=["shield"]),
     aggregate.AggregatorConfigError, "unknown"),
    (lambda: aggregate.validate_defended("median", 10, 2, defenses=[("momentum", {"beta": 1.0})]),
     aggregate.AggregatorConfigError, "beta"),
    (lambda: aggregate.validate_root([], [0, 1]), aggregate.RootSetError, "empty"),
    (lambda: aggregate.validate_root([7, 8], [0, 1, 2]), aggregate.RootSetError, "share none"),
    (lambda: aggregate.validate("centered_clipping", 10, 0, tau="mean"), aggregate.AggregatorConfigError, "tau"),
])
def test_defense_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


def _apply(p, x):
    return x @ p["w"] + p["b"]


def test_engine_runs_defenses_with_momentum_and_fltrust_root():
    d = synthetic(num_clients=10, dim=6, num_classes=3, seed=1, min_size=8, max_size=20)
    data = client.pack_clients(d.x, d.y, d.parts, 8)
    loss = client.xent_loss(_apply)
    local = client.LocalConfig(batch_size=8, mode="steps", num_steps=2)
    byz = np.zeros(10, bool)
    byz[[0, 5]] = True
    kw = dict(loss_fn=loss, local=local, participation=participation.uniform(10, 10),
              server_opt=server.make("sgd", 1.0), aggregator="median", byzantine=byz, attack="min_max",
              attack_params={"perturbation": "std"}, mesh=engine.clients_mesh(2))
    with pytest.raises(aggregate.RootSetError, match="empty"):
        engine.build(defenses=["fltrust"], **kw)
    root = {"index": np.asarray(data.index[3]), "num_samples": int(data.num_samples[3])}
    sim = engine.build(defenses=[("momentum", {"beta": 0.5}), "nnm", "fltrust"], root=root,
                       rule_params={"f": 2}, **kw)
    params = {"w": jnp.zeros((6, 3)), "b": jnp.zeros(3)}
    st = engine.init(sim, params, seed=0)
    assert "momentum" in st["clients"]
    step = jax.jit(engine.round_fn(sim))
    dd = engine.put_data(sim, data)
    st = engine.put_state(sim, st)
    for _ in range(2):
        st, m = step(st, dd, {"lr": 0.1})
        engine.check_round(sim, jax.device_get(m))
    mom = np.asarray(st["clients"]["momentum"]["w"])
    assert np.all(np.isfinite(mom)) and np.abs(mom).sum() > 0
    assert np.all(np.isfinite(np.asarray(st["params"]["w"])))


def test_fltrust_drops_nonfinite_and_absent_clients():
    """A client with a NaN, and an absent one, get trust 0 and a zero row; the others are as
    in the definition (one read of the updates gives the norms and the dots with g0)."""
    u = ups(4)
    x = flat(u)
    g0 = x[1] * 0.7 - 0.2
    root = {"b": jnp.asarray(g0[:2], jnp.float32), "w": jnp.asarray(g0[2:].reshape(3, 2), jnp.float32)}
    u = {"w": u["w"].at[2, 0, 1].set(jnp.nan), "b": u["b"]}
    w = jnp.ones(K).at[5].set(0.0)
    out, ts = aggregate.fltrust(u, w, KEY, root=root)
    ts, y = np.asarray(ts), flat(out)
    live = np.ones(K, bool)
    live[[2, 5]] = False
    cos = x @ g0 / (np.linalg.norm(x, axis=1) * np.linalg.norm(g0))
    np.testing.assert_allclose(ts[live], np.maximum(cos, 0)[live], rtol=1e-5, atol=1e-6)
    assert ts[2] == 0 and ts[5] == 0 and np.all(y[~live] == 0) and np.all(np.isfinite(y))
    np.testing.assert_allclose(np.linalg.norm(y[live], axis=1), np.linalg.norm(g0), rtol=1e-5)
