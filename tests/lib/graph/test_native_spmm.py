"""lib.graph spmm on CPU: the native kernel (lib/native/spmm.cc) equals the pure-JAX path
(TESSERA_NATIVE=0) and the dense product, in value and gradient, on graphs with isolated
nodes, a hub of very high in-degree, padded edges and padded nodes, for several widths,
under jit and vmap."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib import native
from lib.graph import build_adjacency, make_graph, spmm, to_dense, to_undirected
from lib.graph import ops
from lib.graph.parallel import shard_batch, stack

HAS_CXX = native._compiler() is not None
needs_kernel = pytest.mark.skipif(not HAS_CXX, reason="no C++ compiler: only the pure-JAX path exists")


def _graph(directed: bool, seed=0, n=230, e=1500):
    """Random edges + a hub receiving from ~half the nodes; nodes >= n - 20 are isolated
    (no edges but their self loop); padded to more nodes and edges than used."""
    rng = np.random.default_rng(seed)
    m = n - 20
    s, r = rng.integers(0, m, e), rng.integers(0, m, e)
    hub = rng.choice(m, m // 2, replace=False)
    s, r = np.concatenate([s, hub]), np.concatenate([r, np.full(hub.size, 3)])
    if not directed:
        s, r = to_undirected(s, r, n)
    return make_graph(rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n), s, r,
                      num_nodes_pad=n + 9)


def _adj(directed: bool, norm="gcn", extra_pad=37):
    g = _graph(directed)
    base = build_adjacency(g, norm)
    adj = build_adjacency(g, norm, num_edges_pad=int(np.asarray(base.mask).sum()) + extra_pad)
    assert not np.asarray(adj.mask).all()  # padded edges present
    return jax.tree.map(jnp.asarray, adj)


def _both(fn, *args):
    """fn(*args) jitted with the native kernel and with TESSERA_NATIVE=0 (fresh traces), and
    whether each lowering contains the kernel's custom call."""
    out, has = [], []
    mp = pytest.MonkeyPatch()
    try:
        for flag in ("1", "0"):
            mp.setenv("TESSERA_NATIVE", flag)
            f = jax.jit(lambda *a: fn(*a))
            has.append("tessera_spmm" in f.lower(*args).as_text())
            out.append(f(*args))
    finally:
        mp.undo()
    return out, has


def _loss(adj, h, w1, w2):  # 2-layer GCN-style loss through both spmm calls
    z = spmm(adj, jax.nn.relu(spmm(adj, h @ w1)) @ w2)
    return jnp.sum(jnp.sin(z) * jnp.arange(z.shape[-1], dtype=z.dtype))


@needs_kernel
@pytest.mark.parametrize("directed,norm", [(False, "gcn"), (True, "mean")])  # symmetric A; A != A^T
@pytest.mark.parametrize("width", [1, 7, 16, 128])
def test_native_equals_pure_jax_value_and_grad(directed, norm, width):
    adj = _adj(directed, norm)
    assert adj.symmetric == (not directed)
    rng = np.random.default_rng(width)
    n = adj.num_nodes
    h = jnp.asarray(rng.standard_normal((n, 5)), jnp.float32)
    w1 = jnp.asarray(rng.standard_normal((5, width)), jnp.float32)
    w2 = jnp.asarray(rng.standard_normal((width, width)) / np.sqrt(width), jnp.float32)
    x = h @ w1
    (y_nat, y_jax), has = _both(spmm, adj, x)
    assert has == [True, False]
    a = to_dense(adj)
    np.testing.assert_allclose(y_nat, a @ np.asarray(x, np.float64), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_nat, y_jax, rtol=1e-5, atol=1e-5)
    grad = jax.grad(_loss, argnums=(1, 2, 3))
    (g_nat, g_jax), has = _both(grad, adj, h, w1, w2)
    assert has == [True, False]
    for u, v in zip(g_nat, g_jax):
        np.testing.assert_allclose(u, v, rtol=2e-4, atol=2e-4)
    # the VJP alone is A^T g exactly (padded rows/edges included)
    ct = jnp.asarray(rng.standard_normal((n, width)), jnp.float32)
    (vt_nat, vt_jax), _ = _both(lambda adj, x, ct: jax.vjp(lambda u: spmm(adj, u), x)[1](ct)[0], adj, x, ct)
    np.testing.assert_allclose(vt_nat, a.T @ np.asarray(ct, np.float64), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vt_nat, vt_jax, rtol=1e-5, atol=1e-5)


@needs_kernel
def test_padding_and_isolated_nodes():
    """Padded edges contribute nothing (weight 0, as the pure-JAX path), isolated nodes get only
    their self loop, the hub row sums its hundred-odd edges; trailing feature dims are kept."""
    adj = _adj(False)
    n = adj.num_nodes
    rng = np.random.default_rng(3)
    h = jnp.asarray(rng.standard_normal((n, 3, 2)), jnp.float32)
    (y_nat, y_jax), has = _both(spmm, adj, h)
    assert has == [True, False]
    a = to_dense(adj)
    assert (a[3] != 0).sum() > 100  # the hub
    want = np.einsum("ij,jkl->ikl", a, np.asarray(h, np.float64))
    np.testing.assert_allclose(y_nat, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_nat, y_jax, rtol=1e-5, atol=1e-5)
    iso = np.arange(210, 230)  # isolated real nodes: Â_ii = 1 (degree 1 with the self loop)
    np.testing.assert_allclose(y_nat[iso], h[iso], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(y_nat[230:]), 0.0)  # padding nodes


@needs_kernel
def test_vmap_over_features_and_over_graphs():
    """vmapped over seeds (shared graph) and over a stacked batch of graphs (Cluster-GCN)."""
    adj = _adj(True, "mean")
    rng = np.random.default_rng(5)
    hs = jnp.asarray(rng.standard_normal((3, adj.num_nodes, 16)), jnp.float32)
    f = jax.vmap(lambda adj, h: jax.grad(lambda h: jnp.sum(jnp.cos(spmm(adj, h))))(h), in_axes=(None, 0))
    (g_nat, g_jax), has = _both(f, adj, hs)
    assert has == [True, False]
    np.testing.assert_allclose(g_nat, g_jax, rtol=1e-5, atol=1e-5)
    adjs = jax.tree.map(jnp.asarray, stack([build_adjacency(_graph(True, seed=s), "mean", num_edges_pad=2000)
                                            for s in range(3)]))
    f2 = jax.vmap(lambda adj, h: jax.value_and_grad(lambda h: jnp.sum(jnp.cos(spmm(adj, h))))(h))
    (v_nat, v_jax), has = _both(f2, adjs, hs)
    assert has == [True, False]
    for u, v in zip(v_nat, v_jax):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


@needs_kernel
def test_kernel_edge_cases():
    """csr_native directly: no edges, rows/columns out of range skipped, width 0."""
    n = 6
    h = jnp.arange(n * 3, dtype=jnp.float32).reshape(n, 3)
    call = lambda r, c, w, h, m: native.cpu_or(  # noqa: E731
        lambda *a: ops.csr_native(*a, m), lambda *a: None, r, c, w, h, kernel=ops.KERNEL)
    e0 = jnp.zeros((0,), jnp.int32)
    np.testing.assert_array_equal(call(e0, e0, jnp.zeros((0,)), h, n), np.zeros((n, 3)))
    rows = jnp.array([-1, 0, 0, 2, 5, 6, 9], jnp.int32)  # -1, 6, 9 outside [0, 6)
    cols = jnp.array([1, 1, 7, 3, -2, 0, 0], jnp.int32)  # 7, -2 outside
    w = jnp.array([5.0, 2.0, 3.0, 0.5, 1.0, 1.0, 1.0])
    want = np.zeros((n, 3), np.float32)
    want[0] = 2 * h[1]
    want[2] = 0.5 * h[3]
    np.testing.assert_array_equal(call(rows, cols, w, h, n), want)
    assert call(rows, cols, w, jnp.zeros((n, 0)), n).shape == (n, 0)


@needs_kernel
def test_inside_shard_map():
    """Per-device graphs and features inside shard_map (the kernel's result typed varying)."""
    mesh = jax.make_mesh((2,), ("data",))
    adjs = jax.tree.map(jnp.asarray, stack([build_adjacency(_graph(True, seed=s), "mean", num_edges_pad=2000)
                                            for s in range(2)]))
    hs = jnp.asarray(np.random.default_rng(7).standard_normal((2, adjs.num_nodes, 16)), jnp.float32)
    adjs, hs = shard_batch((adjs, hs), mesh)
    spec = jax.sharding.PartitionSpec("data")
    f = jax.shard_map(lambda adj, h: jax.vmap(jax.grad(lambda adj, h: jnp.sum(jnp.cos(spmm(adj, h))), 1))(adj, h),
                      mesh=mesh, in_specs=(spec, spec), out_specs=spec)
    (g_nat, g_jax), has = _both(f, adjs, hs)
    assert has == [True, False]
    np.testing.assert_allclose(g_nat, g_jax, rtol=1e-5, atol=1e-5)
