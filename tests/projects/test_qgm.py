"""QG-DSGDm project: the round matches a NumPy transcription of the paper's update; smoke; bit-exact
resume with the state laid out over the 8-device `nodes` mesh; named errors before compile."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.dl import engine, gossip, topology as T
from lib.fl import client as client_lib
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.qgm import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


@pytest.mark.parametrize("nesterov", [True, False])
def test_round_matches_paper_update(nesterov):
    """Three rounds of H = 2 local steps on a 4-node ring vs the update written out by hand:
    d = g + mu (mu m + g) (or mu m + g); x_half = x - lr d; x' = W x_half; m <- mu m + (1 - mu)(x - x')/(lr H)."""
    from projects.qgm import qgm

    n, dim, classes, per, mu, lr, wd, H = 4, 3, 2, 10, 0.9, 0.2, 1e-2, 2
    r = np.random.default_rng(0)
    x = r.normal(size=(n * per, dim)).astype(np.float32)
    y = r.integers(0, classes, n * per).astype(np.int32)
    data = client_lib.pack_clients(x, y, [np.arange(i * per, i * per + per - i) for i in range(n)], 4)
    params = {"w": jnp.asarray(r.normal(size=(dim, classes)), jnp.float32)}

    def loss_fn(p, xb, yb):
        return -jnp.take_along_axis(jax.nn.log_softmax(xb @ p["w"]), yb[:, None], 1)[:, 0]

    w = gossip.validated(T.ring(n), "metropolis_hastings")
    local = client_lib.LocalConfig(batch_size=4, num_steps=H)
    eng = engine.build(loss_fn=loss_fn, local=local, method=qgm.qg_dsgdm(mu, nesterov, wd), w=w,
                       mesh=engine.nodes_mesh(2), gossip="ppermute")
    st = engine.place(eng, engine.init(eng, params, seed=3))
    f = jax.jit(engine.round_fn(eng))
    xs = np.repeat(np.asarray(params["w"], np.float64)[None], n, 0)
    ms = np.zeros_like(xs)
    key = jax.random.PRNGKey(3)
    for t in range(3):
        st, _ = f(st, engine.put_data(eng, data), {"lr": jnp.float32(lr)})
        half = xs.copy()
        for i in range(n):
            k = jax.random.fold_in(jax.random.fold_in(key, t), i)
            for s in range(H):
                pos, bm = client_lib.batch_positions(k, s, data.num_samples[i], data.index.shape[1], local)
                rows = np.asarray(data.index[i])[np.asarray(pos)]
                bm = np.asarray(bm)

                def batch_loss(wt):
                    per_s = loss_fn({"w": wt}, jnp.asarray(data.x[rows]), jnp.asarray(data.y[rows]))
                    return jnp.sum(jnp.where(bm, per_s, 0.0)) / bm.sum()

                g = np.asarray(jax.grad(batch_loss)(jnp.asarray(half[i], jnp.float32)), np.float64) + wd * half[i]
                m_hat = mu * ms[i] + g
                half[i] = half[i] - lr * ((g + mu * m_hat) if nesterov else m_hat)
        new = np.einsum("ij,jab->iab", w[0], half)
        ms = mu * ms + (1 - mu) * (xs - new) / (lr * H)
        xs = new
    np.testing.assert_allclose(np.asarray(st["nodes"]["params"]["w"]), xs, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.asarray(st["nodes"]["opt"]["m"]["w"]), ms, rtol=2e-4, atol=2e-4)


def test_resume_on_the_nodes_mesh_is_bit_exact(tmp_path):
    """8 nodes on the 8-device `nodes` mesh (ring: ppermute gossip); the uninterrupted run is the smoke test."""
    from projects.qgm import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(), str(a))
    assert full["step"] == 6 and full["devices"] == 8 and np.isfinite(full["test_loss"])
    assert 0 < full["node_accuracy_min"] <= full["node_accuracy_mean"] <= full["node_accuracy_max"] <= 1
    assert full["train_consensus_distance"] > 0 and full["train_sent_mb_per_node"] > 0
    train.train_and_evaluate(_config(total=3), str(b))
    final = train.train_and_evaluate(_config(), str(b))
    assert final["resumed_from"] == 3
    sa, sb = load_checkpoint(a, 6), load_checkpoint(b, 6)
    assert np.abs(np.asarray(jax.tree.leaves(sa["nodes"]["opt"])[0])).sum() > 0  # QG momentum is checkpointed
    assert_trees_equal(sa, sb)
    assert metric_rows(a)[3:] == metric_rows(b)[3:]


def test_named_errors_before_compile():
    from projects.qgm import train

    cases = [
        (dict(topology="erdos_renyi", topology_p=0.001, num_nodes=40), T.DisconnectedTopologyError),
        (dict(topology="random_geometric", mixing="uniform_neighbour"), T.NotDoublyStochasticError),
        (dict(method="adam"), ConfigError),
        (dict(num_nodes=12), ConfigError),  # 12 nodes on 8 devices
    ]
    for kw, err in cases:
        with pytest.raises(err):
            train.validate(_config(**kw))
    c = _config()
    c.gossip.steps = 0
    with pytest.raises(gossip.GossipStepsError, match="Q=0"):
        train.validate(c)


@pytest.mark.data
def test_more_nodes_than_samples(tmp_path):
    from projects.qgm import train

    with pytest.raises(engine.TooManyNodesError, match="num_nodes=60008"):
        train.train_and_evaluate(_config(dataset="mnist", partition="iid", num_nodes=60008),
                                 str(tmp_path))


@pytest.mark.slow
def test_resume_after_sigkill_on_the_nodes_mesh_is_bit_exact(tmp_path):
    """kill -9 right after the round-4 checkpoint, rerun the same command: same state and metrics
    as an uninterrupted run (8 nodes over the 8-device `nodes` mesh)."""
    import json
    import signal

    from tests.helpers import run_killed_after_checkpoint, run_main

    cfg, args = "configs/qgm/default.py", ["--config.total=8", "--config.checkpoint_every=4", "--config.log_every=2",
                                           "--config.eval_every=4", "--config.num_nodes=8"]
    a, b = tmp_path / "a", tmp_path / "b"
    run_main("qgm", cfg, a, *args)
    killed = run_killed_after_checkpoint("qgm", cfg, b, 4, *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_main("qgm", cfg, b, *args)
    assert json.load(open(b / "final_metrics.json"))["resumed_from"] == 4
    assert_trees_equal(load_checkpoint(a, 8), load_checkpoint(b, 8))
    after = lambda rows: [r for r in rows if r["step"] > 4]  # noqa: E731
    assert after(metric_rows(a)) == after(metric_rows(b)) and after(metric_rows(a))
