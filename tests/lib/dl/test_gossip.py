"""Gossip on 8 simulated devices: ppermute neighbour exchange equals dense W @ X; Q steps; bytes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.config import ConfigError
from lib.dl import gossip as G
from lib.dl import topology as T


def _mesh(d=8):
    return jax.make_mesh((d,), ("nodes",), axis_types=(jax.sharding.AxisType.Auto,), devices=jax.devices()[:d])


def _tree(n, seed=0):
    r = np.random.default_rng(seed)
    return {"a": jnp.asarray(r.normal(size=(n, 3, 2)), jnp.float32), "b": jnp.asarray(r.normal(size=(n,)), jnp.float32)}


def _numpy_mix(w, tree, rounds, q):
    out = {}
    for k, x in tree.items():
        x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
        for _ in range(q):
            x = w[rounds % w.shape[0]].astype(np.float64) @ x
        out[k] = x
    return out


@pytest.mark.parametrize("name,n,mixing", [
    ("ring", 16, "metropolis_hastings"), ("torus", 16, "metropolis_hastings"),
    ("random_geometric", 16, "metropolis_hastings"), ("exponential", 16, "uniform_neighbour"),
    ("one_peer_exponential", 16, "uniform_neighbour"), ("ring", 8, "metropolis_hastings"),
    ("social", 32, "metropolis_hastings")])
def test_ppermute_equals_dense(name, n, mixing):
    mesh = _mesh()
    topo = T.make(name, n, seed=1)
    w = G.validated(topo, mixing)
    dense, pp = G.build(w, kind="dense", mesh=mesh), G.build(w, kind="ppermute", mesh=mesh)
    tree = jax.device_put(_tree(n), G.node_sharding(mesh))
    fd, fp = jax.jit(lambda t, r: G.mix(dense, t, r)), jax.jit(lambda t, r: G.mix(pp, t, r))
    for rnd in range(topo.num_phases + 1):
        a, b = fd(tree, rnd), fp(tree, rnd)
        want = _numpy_mix(w, tree, rnd, 1)
        for k in tree:
            np.testing.assert_allclose(np.asarray(b[k]), np.asarray(a[k]), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.asarray(b[k]).reshape(n, -1), want[k], rtol=1e-5, atol=1e-6)
            assert b[k].shape == tree[k].shape and b[k].dtype == tree[k].dtype
    if name == "ring" and n == 16:  # 2 nodes per device: neighbours across devices in 2 colours, 1 row each
        assert pp.num_collectives == 2 and all(c.send.shape[1] == 1 for c in pp.plans[0].colours)


def test_q_steps_and_mean_preserved():
    mesh = _mesh()
    w = G.validated(T.ring(16), "metropolis_hastings")
    tree = jax.device_put(_tree(16, 1), G.node_sharding(mesh))
    for kind in ("dense", "ppermute"):
        g = G.build(w, kind=kind, steps=5, mesh=mesh)
        out = jax.jit(lambda t: G.mix(g, t, 0))(tree)
        want = _numpy_mix(w, tree, 0, 5)
        np.testing.assert_allclose(np.asarray(out["a"]).reshape(16, -1), want["a"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(out["a"]).mean(0), np.asarray(tree["a"]).mean(0), atol=1e-6)
    with pytest.raises(G.GossipStepsError, match="Q=0"):
        G.build(w, steps=0)
    with pytest.raises(ConfigError, match="not divisible"):
        G.build(G.validated(T.ring(12), "metropolis_hastings"), mesh=mesh)


def test_bytes_accounting():
    one = {"w": np.zeros((10, 4), np.float32), "b": np.zeros((4,), np.float32)}  # 44 floats = 176 bytes
    g = G.build(G.validated(T.ring(8), "metropolis_hastings"), kind="dense", steps=2)
    assert G.bytes_per_round(g, one).tolist() == [[2 * 2 * 176] * 8]  # 2 neighbours x Q=2
    soc = G.build(G.validated(T.social(), "metropolis_hastings"), kind="dense")
    deg = T.social().adj[0].sum(0)
    assert G.bytes_per_round(soc, one)[0].tolist() == (deg * 176).tolist()
    opx = G.build(G.validated(T.one_peer_exponential(8), "uniform_neighbour"), kind="dense")
    assert G.bytes_through(opx, one, 5).tolist() == [5 * 176] * 8
