"""FedLD: principal-gradient aggregation and the margin loss against NumPy transcriptions of the
authors' algorithm; the first-round mean and history; smoke of default.py; bit-exact resume;
named config errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.fl import client as client_lib, engine
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.fedld import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        if "." in k:
            a, b = k.split(".")
            c[a][b] = v
        else:
            c[k] = v
    return c


def _np_principal(G, k_proportion=0.8):
    """pcgrad_svd's SVD branch for one tensor, as loops in float64."""
    m = G.shape[0]
    u, s, e = np.linalg.svd(G @ G.T / m)
    v = (G.T @ u).T  # symmetric PSD: left singular vectors = eigenvectors
    k = int(m * k_proportion)
    w = v[:k].copy()
    for j in range(k):  # the majority flip (no effect on the result; kept as written)
        pos = sum(G[i] @ w[j] >= 0 for i in range(m))
        if pos < m - pos:
            w[j] = -w[j]
    agg = []
    for i in range(m):
        r = np.zeros(G.shape[1])
        for j in range(k):
            rj = (G[i] @ w[j]) / (w[j] @ w[j]) * w[j]
            rj = rj * s[j] / s.sum() * np.linalg.norm(G[i]) / np.linalg.norm(rj)
            r += rj
        agg.append(r)
    return np.mean(agg, 0)


@pytest.mark.parametrize("m,d", [(5, 40), (7, 3), (4, 12)])
def test_principal_aggregate_matches_numpy(m, d):
    from projects.fedld import fedld

    rng = np.random.default_rng(m * d)
    G = rng.normal(size=(m, d)) + rng.normal(size=d)  # a shared direction plus noise
    pad = np.concatenate([G, rng.normal(size=(2, d))])  # two absent slots with garbage
    valid = np.array([True] * m + [False, False])
    got = fedld.principal_leaf(jnp.asarray(pad, jnp.float32), jnp.asarray(valid), 0.8)
    np.testing.assert_allclose(np.asarray(got), _np_principal(G), rtol=2e-4, atol=2e-5)


def test_strategy_rounds_and_history():
    from projects.fedld import fedld

    rng = np.random.default_rng(0)
    d1 = {"w": jnp.asarray(rng.normal(size=(5, 6, 2)), jnp.float32), "b": jnp.asarray(rng.normal(size=(5, 1)),
                                                                                        jnp.float32)}
    ctx = {"valid": jnp.asarray([1, 1, 1, 1, 0], bool)}
    strat = fedld.strategy(0.8, 0.99)
    st = strat.init(jax.tree.map(lambda a: a[0], d1))
    _, wts, _, st = strat.prepare(st, d1, ctx)
    np.testing.assert_array_equal(np.asarray(wts), [1, 1, 1, 1, 0])
    mean = jax.tree.map(lambda a: jnp.mean(a[:4], 0), d1)
    agg, st = strat.finish(st, mean, d1, ctx)  # first round: the mean, history = mean
    for k in d1:
        np.testing.assert_allclose(np.asarray(agg[k]), np.asarray(mean[k]), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(st["history"][k]), np.asarray(mean[k]), rtol=1e-6)
    agg2, st2 = strat.finish(st, mean, d1, ctx)  # second round: principal (scalar tensor: mean)
    want = _np_principal(np.asarray(d1["w"][:4], np.float64).reshape(4, -1)).reshape(6, 2)
    np.testing.assert_allclose(np.asarray(agg2["w"]), want, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.asarray(agg2["b"]), np.asarray(mean["b"]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(st2["history"]["w"]), 0.99 * np.asarray(mean["w"]) + 0.01 * want,
                               rtol=2e-4, atol=2e-5)


def test_margin_loss_matches_numpy_with_padding():
    from projects.fedld import fedld

    rng = np.random.default_rng(1)
    n, dim, c, b, lam = 6, 4, 3, 4, 0.3
    x, y = rng.normal(size=(n, dim)).astype(np.float32), rng.integers(0, c, n).astype(np.int32)
    w = rng.normal(size=(dim, c)).astype(np.float32)
    apply_fn = lambda p, xb: xb @ p["w"]  # noqa: E731
    local = client_lib.LocalConfig(batch_size=b, mode="steps", num_steps=1)
    upd = engine.default_local_update(fedld.margin_loss(apply_fn, lam), local, engine.clients_mesh(1),
                                      batch_transform=fedld.mark_padding)
    index = np.zeros(8, np.int32)
    index[:3] = [0, 2, 5]  # a client with 3 samples: one batch of 4 with one padded row
    delta, _, m = upd({"w": jnp.asarray(w)}, {"x": jnp.asarray(x), "y": jnp.asarray(y)},
                      {"index": jnp.asarray(index), "num_samples": jnp.asarray(3)}, (), jax.random.PRNGKey(0),
                      {"lr": jnp.float32(0.1)})

    def np_loss(w_):
        z = x[[0, 2, 5]] @ w_
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        ce = -np.log(p[np.arange(3), y[[0, 2, 5]]])
        return ce.mean() + lam * np.log1p(np.sum(p ** 2))

    np.testing.assert_allclose(float(m["train_loss"]), np_loss(w.astype(np.float64)), rtol=1e-5)
    eps, grad = 1e-3, np.zeros_like(w, np.float64)
    for i in np.ndindex(w.shape):
        e = np.zeros_like(w, np.float64)
        e[i] = eps
        grad[i] = (np_loss(w + e) - np_loss(w - e)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(delta["w"]), -0.1 * grad, rtol=2e-3, atol=1e-5)


def test_smoke_and_bit_exact_resume(tmp_path):
    from projects.fedld import train

    full = train.train_and_evaluate(_config(), str(tmp_path / "a"))
    assert full["step"] == 6 and np.isfinite(full["test_loss"])
    train.train_and_evaluate(_config(total=3), str(tmp_path / "b"))
    final = train.train_and_evaluate(_config(), str(tmp_path / "b"))
    assert final["resumed_from"] == 3
    sa, sb = load_checkpoint(tmp_path / "a", 6), load_checkpoint(tmp_path / "b", 6)
    assert np.abs(np.asarray(jax.tree.leaves(sa["strategy"]["history"])[0])).sum() > 0
    assert_trees_equal(sa, sb)
    assert metric_rows(tmp_path / "a")[3:] == metric_rows(tmp_path / "b")[3:]


@pytest.mark.parametrize("over,match", [
    ({"method": "fedpc"}, "fedpc"), ({"fedld.lambda_m": -0.1}, "lambda_m"), ({"fedld.k_proportion": 0.0},
                                                                            "k_proportion"),
    ({"fedld.k_proportion": 1.5}, "k_proportion"), ({"fedld.gamma": 1.0}, "gamma"),
    ({"method": "fedprox"}, "prox_mu"), ({"local.prox_mu": 0.01}, "prox_mu"),
])
def test_named_errors(over, match):
    from projects.fedld import train

    with pytest.raises(ConfigError, match=match):
        train.validate(_config(**over))


@pytest.mark.parametrize("arg,method,alpha,seed,mu", [
    ("fedavg_a1_s0", "fedavg", 1.0, 0, 0.0), ("fedprox_a0.5_s1", "fedprox", 0.5, 1, 0.01),
    ("fedld_a0.1_s0", "fedld", 0.1, 0, 0.0), (None, "fedld", 0.1, 0, 0.0)])
def test_reproduction_configs_load_and_validate(arg, method, alpha, seed, mu):
    from configs.fedld import femnist, mnist
    from projects.fedld import train

    c = mnist.get_config(arg)
    assert (c.method, c.dirichlet_alpha, c.seed, c.local.prox_mu) == (method, alpha, seed, mu)
    assert (c.dataset, c.partition, c.clients_per_round) == ("mnist", "dirichlet", c.num_clients)
    c.mesh = f_mesh = (("clients", -1),)  # the tests' 8 CPU devices; the runs use one
    train.validate(c)
    f = femnist.get_config(None if arg is None else f"{method}_s{seed}")
    assert (f.method, f.seed, f.local.prox_mu, f.dataset, f.partition) == (method, seed, mu, "femnist", "natural")
    f.mesh = f_mesh
    train.validate(f)
    agg, loss = mnist.get_config("fedld-agg_a1_s0"), mnist.get_config("fedld-loss_a1_s0")  # the ablations
    assert (agg.method, agg.fedld.lambda_m, agg.fedld.principal) == ("fedld", 0.0, True)
    assert (loss.method, loss.fedld.lambda_m, loss.fedld.principal) == ("fedld", 0.1, False)
    with pytest.raises(ConfigError, match="fedpc"):
        mnist.get_config("fedpc_a0.1_s0")
    with pytest.raises(ConfigError, match="expected"):
        mnist.get_config("fedld_x3")
