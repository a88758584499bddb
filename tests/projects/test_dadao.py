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
