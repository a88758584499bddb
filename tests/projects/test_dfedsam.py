"""DFedSAM project: a DFedSAM-MGS round matches a NumPy transcription of the paper's update; smoke of
every method kind (decentralized and the lib.fl FedAvg reference); bit-exact resume with the state over
the 8-device `nodes` mesh; named errors before anything compiles."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.dl import engine, gossip, topology as T
from lib.fl import client as client_lib
from lib.optim import sam
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


def _config(**kw):
    from configs.dfedsam import default

    c = default.get_config()
    c.total, c.log_every, c.eval_every, c.checkpoint_every = 6, 1, 3, 3
    c.local.num_steps = 2
    for k, v in kw.items():
        c[k] = v
    return c


def test_dfedsam_mgs_round_matches_the_paper_update():
    """Two rounds, 4 nodes on a ring, K = 2 SAM steps, Q = 2 gossip steps, vs NumPy:
    y <- y - lr grad F_i(y + rho g/||g||) (g = grad F_i(y), same minibatch), then x <- W^Q y."""
    from projects.dfedsam import dfedsam

    n, dim, classes, per, lr, rho, K, Q = 4, 3, 2, 10, 0.3, 0.2, 2, 2
    r = np.random.default_rng(0)
    x = r.normal(size=(n * per, dim)).astype(np.float32)
    y = r.integers(0, classes, n * per).astype(np.int32)
    data = client_lib.pack_clients(x, y, [np.arange(i * per, i * per + per - i) for i in range(n)], 4)
    params = {"w": jnp.asarray(r.normal(size=(dim, classes)), jnp.float32), "b": jnp.zeros(classes)}

    def loss_fn(p, xb, yb):
        return -jnp.take_along_axis(jax.nn.log_softmax(xb @ p["w"] + p["b"]), yb[:, None], 1)[:, 0]

    w = gossip.validated(T.ring(n), "metropolis_hastings")
    local = client_lib.LocalConfig(batch_size=4, num_steps=K)
    eng = engine.build(loss_fn=loss_fn, local=local, method=dfedsam.method("dfedsam_mgs", rho=rho, momentum=0.9),
                       w=w, mesh=engine.nodes_mesh(2), gossip="ppermute", gossip_steps=Q)
    st = engine.place(eng, engine.init(eng, params, seed=5))
    f = jax.jit(engine.round_fn(eng))
    xs = {k: np.repeat(np.asarray(v, np.float64)[None], n, 0) for k, v in params.items()}
    key = jax.random.PRNGKey(5)
    for t in range(2):
        st, _ = f(st, engine.put_data(eng, data), {"lr": jnp.float32(lr)})
        for i in range(n):
            k = jax.random.fold_in(jax.random.fold_in(key, t), i)
            for s in range(K):
                pos, bm = client_lib.batch_positions(k, s, data.num_samples[i], data.index.shape[1], local)
                rows, bm = np.asarray(data.index[i])[np.asarray(pos)], np.asarray(bm)

                def grad(p):
                    def batch_loss(q):
                        per_s = loss_fn(q, jnp.asarray(data.x[rows]), jnp.asarray(data.y[rows]))
                        return jnp.sum(jnp.where(bm, per_s, 0.0)) / bm.sum()
                    g = jax.grad(batch_loss)({a: jnp.asarray(v, jnp.float32) for a, v in p.items()})
                    return {a: np.asarray(v, np.float64) for a, v in g.items()}

                yi = {a: v[i] for a, v in xs.items()}
                g = grad(yi)
                norm = np.sqrt(sum(np.sum(v ** 2) for v in g.values()))
                g_adv = grad({a: yi[a] + rho * g[a] / norm for a in yi})
                for a in xs:
                    xs[a][i] = yi[a] - lr * g_adv[a]
        wq = np.linalg.matrix_power(w[0], Q)
        xs = {a: np.einsum("ij,j...->i...", wq, v) for a, v in xs.items()}
    for a in xs:
        np.testing.assert_allclose(np.asarray(st["nodes"]["params"][a]), xs[a], rtol=2e-4, atol=2e-5)


def test_methods_wire_their_local_and_gossip_steps():
    from projects.dfedsam import dfedsam

    assert dfedsam.local_steps("dpsgd", 5) == 1 and dfedsam.local_steps("dfedavg", 5) == 5
    assert dfedsam.gossip_steps("dfedsam_mgs", 1, 4) == 4 and dfedsam.gossip_steps("dfedsam", 1, 4) == 1
    assert dfedsam.method("dfedsam", rho=0.1, momentum=0.9).grad_fn is not None
    assert dfedsam.method("dfedavg", rho=0.1, momentum=0.9).grad_fn is None


def test_smoke_and_resume_on_the_nodes_mesh_is_bit_exact(tmp_path):
    """DFedSAM-MGS, 8 nodes on the 8-device `nodes` mesh (ring: ppermute gossip), interrupted at
    round 3 and resumed == uninterrupted; the FedAvg reference runs through lib.fl on the same split."""
    from projects.dfedsam import train

    a, b = tmp_path / "a", tmp_path / "b"
    cfg = lambda **kw: _config(method="dfedsam_mgs", lr_decay=0.95, **kw)  # noqa: E731
    full = train.train_and_evaluate(cfg(), str(a))
    assert full["step"] == 6 and full["devices"] == 8 and np.isfinite(full["test_loss"])
    assert 0 < full["node_accuracy_min"] <= full["node_accuracy_mean"] <= full["node_accuracy_max"] <= 1
    # Q = 4 gossip steps per round on a ring of 8: 2 neighbours x 4 steps x the model, per round
    one = sum(np.asarray(l).size * 4 for l in jax.tree.leaves(load_checkpoint(a, 6)["nodes"]["params"])) / 8
    assert full["train_sent_mb_per_node"] == pytest.approx(6 * 2 * 4 * one / 2**20, rel=1e-6)
    assert full["train_lr"] == pytest.approx(0.05 * 0.95 ** 5)
    train.train_and_evaluate(cfg(total=3), str(b))
    final = train.train_and_evaluate(cfg(), str(b))
    assert final["resumed_from"] == 3
    assert_trees_equal(load_checkpoint(a, 6), load_checkpoint(b, 6))
    assert metric_rows(a)[3:] == metric_rows(b)[3:]

    fed = train.train_and_evaluate(_config(method="fedavg", total=3, eval_every=3), str(tmp_path / "fedavg"))
    assert fed["step"] == 3 and 0 < fed["test_accuracy"] <= 1


def test_named_errors_before_compile(tmp_path):
    from projects.dfedsam import train

    cases = [
        (dict(rho=-0.01), sam.SAMRadiusError),
        (dict(mgs_steps=0, method="dfedsam_mgs"), gossip.GossipStepsError),
        (dict(topology="erdos_renyi", topology_p=0.001, num_nodes=40), T.DisconnectedTopologyError),
        (dict(method="dsam"), ConfigError),
        (dict(method="fedavg", lr_decay=0.998), ConfigError),
        (dict(lr_decay=0.0), ConfigError),
        (dict(num_nodes=12), ConfigError),  # 12 nodes on 8 devices
    ]
    for kw, err in cases:
        with pytest.raises(err):
            train.validate(_config(**kw))
    c = _config()
    c.gossip.steps = 0
    with pytest.raises(gossip.GossipStepsError, match="Q=0"):
        train.validate(c)
    # through the entry function: the error comes before any data, compile or workdir file
    with pytest.raises(sam.SAMRadiusError, match="config.rho=-0.5"):
        train.train_and_evaluate(_config(rho=-0.5), str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    with pytest.raises(T.DisconnectedTopologyError):  # the graph is checked after the data, before compile
        train.train_and_evaluate(_config(topology="erdos_renyi", topology_p=0.001), str(tmp_path / "bad2"))
    assert not (tmp_path / "bad2").exists() or not any((tmp_path / "bad2").iterdir())
