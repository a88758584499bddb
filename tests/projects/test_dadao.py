"""DADAO: the jitted event chunks match a NumPy float64 transcription of the update rules on the same
event sequence; DADAO beats the gossip + gradient baseline; bit-exact resume; named errors before compile."""
import jax
import numpy as np
import pytest
import scipy.linalg

from lib.dl import topology as T
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.dadao import default

    c = default.get_config()
    c.total, c.chunk, c.checkpoint_every = 6, 100, 3
    for k, v in kw.items():
        c[k] = v
    return c


def test_chunk_matches_numpy_transcription():
    from projects.dadao import dadao, problem as P, train

    c = _config(num_nodes=6, dim=3, samples_per_node=8)
    p, L, clocks, k, sp = train.setup(c)
    run = jax.jit(dadao.chunk_fn("dadao", P.grad_fn(p), clocks, k, L, p.x_star, 40))
    st = dadao.init_state("dadao", np.zeros((6, 3), np.float32), 6, seed=5)
    st, _ = run(st)
    # the same events, replayed in float64 from the written-out rules
    v = np.zeros((6, 6, 3))
    t_last, t, nu = np.zeros(6), 0.0, p.mu / 2
    s = np.sqrt(nu / L)
    key = jax.random.PRNGKey(5)

    def flow(i):
        v[:, i] = scipy.linalg.expm(k.ode * (t - t_last[i])) @ v[:, i]
        t_last[i] = t

    for e in range(40):
        dt, is_grad, node, edge = (np.asarray(a) for a in dadao.draw(clocks, key, e))
        t += float(dt)
        if is_grad:
            i = int(node)
            flow(i)
            x = v[0, i]
            sig = 1 / (1 + np.exp(p.b[i] * (p.a[i] @ x)))
            g = -(p.a[i].T @ (p.b[i] * sig)) / p.a.shape[1] + p.mu * x
            r = g - nu * x - v[3, i]
            v[0, i] -= r / (4 * L)
            v[1, i] -= r / (4 * np.sqrt(L * nu))
            v[3, i] += (s / 4 + 1) * r
        else:
            i, j = clocks.edges[int(edge)]
            flow(i)
            flow(j)
            pi = np.zeros((6, 6))
            pi[i, i] = pi[j, j] = 1
            pi[i, j] = pi[j, i] = -1
            proj = pi @ (v[2] + v[4])
            for q in (i, j):
                v[4, q] -= proj[q] / 2
                v[5, q] -= 2 * (sp.chi1 / clocks.lambda_mix) * np.sqrt(L / nu) * proj[q]
    assert 0 < int(st["grad_events"]) < 40
    np.testing.assert_allclose(np.asarray(st["v"]), v, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(float(st["t"]), t, rtol=1e-5)


def test_dadao_converges_where_the_baseline_stalls_and_adom_plus_runs(tmp_path):
    from projects.dadao import train

    a = train.train_and_evaluate(_config(total=10, chunk=300), str(tmp_path / "a"))
    b = train.train_and_evaluate(_config(total=10, chunk=300, method="gossip_gd"), str(tmp_path / "b"))
    assert a["train_grad_events"] == b["train_grad_events"]  # same seed: the same clocks
    assert a["train_rel_dist2"] < 1e-2 < b["train_rel_dist2"] and a["train_rel_dist2"] < b["train_rel_dist2"] / 50, (a["train_rel_dist2"], b["train_rel_dist2"])
    assert a["lambda_mix"] == pytest.approx(np.sqrt(2 * a["chi1"] * a["chi2"]))
    c = train.train_and_evaluate(_config(total=10, chunk=300, method="adom_plus"), str(tmp_path / "c"))
    per_iter = 10 + c["num_edges"]  # n gradients + every edge once
    assert c["train_grad_events"] == 10 * (300 // per_iter) * 10 and c["train_rel_dist2"] < 0.5


def test_resume_is_bit_exact(tmp_path):
    """The default config (smoke) run whole, and run 3 chunks then resumed to 6."""
    from projects.dadao import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(), str(a))
    assert full["step"] == 6 and full["train_grad_events"] + full["train_comm_events"] == 600
    train.train_and_evaluate(_config(total=3), str(b))
    final = train.train_and_evaluate(_config(), str(b))
    assert final["resumed_from"] == 3
    assert_trees_equal(load_checkpoint(a, 6), load_checkpoint(b, 6))
    assert metric_rows(a)[3:] == metric_rows(b)[3:]


@pytest.mark.parametrize("kw, err", [
    (dict(mu=0.0), "ConstantsError"),
    (dict(mu=-1.0), "ConstantsError"),
    (dict(L=0.001), "ConstantsError"),  # L < mu = 0.01
    (dict(lambda_grad=0.0), "RateError"),
    (dict(lambda_mix=-2.0), "RateError"),
    (dict(topology="erdos_renyi", topology_p=0.001, num_nodes=20), "DisconnectedTopologyError"),
    (dict(method="adam"), "ConfigError"),
])
def test_named_errors_before_compile(kw, err):
    from lib.config import ConfigError
    from projects.dadao import train

    cls = {"ConstantsError": train.ConstantsError, "RateError": train.RateError, "ConfigError": ConfigError,
           "DisconnectedTopologyError": T.DisconnectedTopologyError}[err]
    with pytest.raises(cls):
        train.validate(_config(**kw))


@pytest.mark.parametrize("mc", [False, True])
def test_adom_plus_matches_numpy_transcription(mc):
    """25 ADOM+ iterations vs the iteration written out in float64 NumPy (with M's node mean kept:
    dropping it in adom.py must not change X)."""
    import math

    from projects.dadao import adom, problem as P, train

    c = _config(num_nodes=6, dim=3, samples_per_node=8)
    p, L, clocks, _, _ = train.setup(c)
    pl = adom.plan(clocks.edges, 6, multi_consensus=mc)
    iters = 25
    run = jax.jit(adom.chunk_fn(P.grad_fn(p), p.mu, L, pl, len(clocks.edges), p.x_star, iters))
    st, _ = run(adom.init_state(np.zeros((6, 3), np.float32), 0))
    mu, n = p.mu, 6
    a, b = p.a.astype(np.float64), p.b.astype(np.float64)

    def grads(x):
        s = 1 / (1 + np.exp(b * np.einsum("nmd,nd->nm", a, x)))
        return -np.einsum("nmd,nm->nd", a, b * s) / a.shape[1] + mu * x

    t1, t2 = 1 / (math.sqrt(L / mu) + 0.5), math.sqrt(mu / L)
    s2 = t2 / (16 * pl.chi)
    s1 = 1 / (1 / s2 + 0.5)
    eta, al, be, de, nu = 1 / (L * t2), mu / 2, 1 / (2 * L), 1 / (17 * L), mu / 2
    ga, th = nu / (14 * s2 * pl.chi ** 2), nu / (4 * s2)
    w = pl.w
    lap = np.eye(n) - w
    x, y, z, m = (np.zeros((n, 3)) for _ in range(4))
    xf, yf, zf = x.copy(), y.copy(), z.copy()
    for _ in range(iters):
        xg = t1 * x + (1 - t1) * xf
        g = grads(xg)
        yg, zg = s1 * y + (1 - s1) * yf, s1 * z + (1 - s1) * zf
        c1 = (1 + eta * al) / ((1 + th * be) * (1 + eta * al) + th * eta)
        yn = c1 * (y + (th * be + eta * th / (1 + eta * al)) * g - th * (be * nu + eta * (nu + al) / (1 + eta * al)) * xg
                   - th / (1 + eta * al) * x - (th / nu) * (yg + zg))
        xn = (x + eta * al * xg - eta * (g - nu * xg - yn)) / (1 + eta * al)
        msg = (ga / nu) * (yg + zg) + m
        zn = z + ga * de * (zg - z) - lap @ msg
        m = w @ msg
        xf, yf, zf = xg + t2 * (xn - x), yg + s2 * (yn - y), zg - 0.5 * lap @ (yg + zg)
        x, y, z = xn, yn, zn
    assert np.abs(x).max() > 1e-2
    np.testing.assert_allclose(np.asarray(st["x"]), x, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(np.asarray(st["z"]), z, rtol=1e-3, atol=1e-5)
    assert int(st["grad_events"]) == iters * n and int(st["comm_events"]) == iters * pl.rounds * len(clocks.edges)
