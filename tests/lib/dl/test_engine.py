"""lib.dl.engine: a round on the nodes mesh (dense = ppermute), local momentum stays local, NaN names the node."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.dl import engine, gossip, topology as T
from lib.fl import client as client_lib


def _problem(n=16, per=24, dim=5, classes=3, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n * per, dim)).astype(np.float32)
    y = r.integers(0, classes, n * per).astype(np.int32)
    sizes = r.integers(per // 2, per + 1, n)
    starts = np.arange(n) * per
    data = client_lib.pack_clients(x, y, [np.arange(s, s + k) for s, k in zip(starts, sizes)], 8)
    params = {"w": jnp.asarray(r.normal(size=(dim, classes)) * 0.1, jnp.float32), "b": jnp.zeros(classes)}

    def loss_fn(p, xb, yb):
        logits = xb @ p["w"] + p["b"]
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], 1)[:, 0]

    return data, params, loss_fn


def _engine(loss_fn, w, kind, method=None, steps=1, devices=8):
    return engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(batch_size=8, num_steps=steps),
                        method=method or engine.dsgd(0.9, nesterov=True), w=w, mesh=engine.nodes_mesh(devices),
                        gossip=kind)


def _rounds(eng, data, params, k=2, lr=0.1):
    st = engine.place(eng, engine.init(eng, params, seed=0))
    d = engine.put_data(eng, data)
    f = jax.jit(engine.round_fn(eng))
    ms = []
    for _ in range(k):
        st, m = f(st, d, {"lr": jnp.float32(lr)})
        ms.append(jax.device_get(m))
    return st, ms


def test_dense_and_ppermute_rounds_agree_and_state_stays_on_the_nodes_axis():
    data, params, loss_fn = _problem()
    w = gossip.validated(T.ring(16), "metropolis_hastings")
    a, ma = _rounds(_engine(loss_fn, w, "dense"), data, params)
    eng = _engine(loss_fn, w, "ppermute")
    b, mb = _rounds(eng, data, params)
    for x, y in zip(jax.tree.leaves(a["nodes"]), jax.tree.leaves(b["nodes"])):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    for leaf in jax.tree.leaves(b["nodes"]):
        assert leaf.sharding.spec[0] == "nodes" and len(leaf.addressable_shards) == 8
        assert leaf.addressable_shards[0].data.shape[0] == 2  # 16 nodes / 8 devices
    assert int(b["step"]) == 2 and all(m["first_nonfinite_node"] == -1 for m in mb)
    assert mb[-1]["consensus_distance"] > 0


def test_complete_graph_gives_consensus_but_momentum_stays_local():
    data, params, loss_fn = _problem(n=8)
    w = gossip.validated(T.complete(8), "uniform_neighbour")
    st, ms = _rounds(_engine(loss_fn, w, "auto"), data, params, k=2)
    p = np.asarray(st["nodes"]["params"]["w"])
    assert ms[-1]["consensus_distance"] < 1e-10
    np.testing.assert_allclose(p, np.broadcast_to(p.mean(0), p.shape), atol=1e-6)
    m = np.asarray(jax.tree.leaves(st["nodes"]["opt"])[0])  # DSGDm-N's buffer: each node's own gradients
    assert m.shape[0] == 8 and np.abs(m - m.mean(0)).max() > 1e-4


def test_nonfinite_node_is_named():
    data, params, loss_fn = _problem(n=8)
    x = np.array(data.x)
    x[data.index[5, : data.num_samples[5]]] = np.nan  # node 5's data is poisoned
    data = data._replace(x=x)
    eng = _engine(loss_fn, gossip.validated(T.ring(8), "metropolis_hastings"), "ppermute")
    _, ms = _rounds(eng, data, params, k=1)
    assert ms[0]["nonfinite_nodes"] == 1
    with pytest.raises(engine.NonFiniteNodeError, match="round 0: node 5's local training") as e:
        engine.check_round(ms[0])
    assert e.value.step == 1


def test_build_errors_before_compile():
    _, _, loss_fn = _problem(n=8)
    w = gossip.validated(T.ring(12), "metropolis_hastings")
    with pytest.raises(engine.ConfigError, match="not divisible"):
        _engine(loss_fn, w, "auto")
    with pytest.raises(gossip.GossipStepsError):
        engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(batch_size=8), method=engine.dsgd(), w=w,
                     mesh=engine.nodes_mesh(4), gossip_steps=0)
    with pytest.raises(engine.ConfigError, match="local.mode='steps'"):
        engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(batch_size=8, mode="epochs"),
                     method=engine.dsgd(), w=w, mesh=engine.nodes_mesh(4))
