"""Grouped reversible stack (custom VJP with recomputation) vs the same function by plain autodiff."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.graph import build_adjacency, make_graph, spmm, to_undirected
from lib.graph import reversible as rev
from lib.graph.dropout import dropout

L, C, W, N = 6, 3, 4, 40


def _graph(n, features, seed=0):
    rng = np.random.default_rng(seed)
    s, r = to_undirected(rng.integers(0, n, 3 * n), rng.integers(0, n, 3 * n), n)
    g = make_graph(rng.standard_normal((n, features)).astype(np.float32), np.zeros(n, np.int32), s, r)
    return jax.tree.map(jnp.asarray, build_adjacency(g, "gcn")), jnp.asarray(g.x)


def _params(layers, groups, width, seed=0):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.standard_normal((layers, groups, width, width), np.float32) / np.sqrt(width)),
            "b": jnp.asarray(0.1 * rng.standard_normal((layers, groups, width), np.float32)),
            "s": jnp.asarray(1.0 + 0.1 * rng.standard_normal((layers, groups, width), np.float32))}


def fn(p, h, adj, key):  # pre-norm -> ReLU -> dropout -> conv, as in projects/revgnn
    h = (h - h.mean(-1, keepdims=True)) * jax.lax.rsqrt(h.var(-1, keepdims=True) + 1e-5) * p["s"]
    h = dropout(key, jax.nn.relu(h), 0.5)
    return spmm(adj, h @ p["w"]) + p["b"]


@pytest.fixture(scope="module")
def setup():
    adj, x = _graph(N, C * W)
    target = jnp.asarray(np.random.default_rng(1).standard_normal(x.shape, np.float32))
    keys = {s: rev.layer_keys(jax.random.key(7), L, C, shared=s) for s in (True, False)}
    return adj, x, _params(L, C, W), target, keys


def test_gradients_match_plain_autodiff_with_dropout(setup):
    adj, x, params, target, keys = setup

    def vg(stack):
        loss = lambda p, x, k: jnp.sum((stack(fn, p, x, adj, k, groups=C) - target) ** 2)  # noqa: E731
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    rev_vg, ref_vg = vg(rev.reversible_stack), vg(rev.grouped_stack)
    losses = []
    for shared in (True, False):  # paper's shared mask, and independent masks per layer/group
        (l1, g1), (l2, g2) = rev_vg(params, x, keys[shared]), ref_vg(params, x, keys[shared])
        np.testing.assert_allclose(l1, l2, rtol=1e-6)
        for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
            scale = float(jnp.abs(b).max())
            assert scale > 0
            # recomputation reorders float32 sums: an entry near 0 among entries ~200 carries the
            # others' rounding, so the absolute tolerance follows the leaf's scale
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=max(2e-5, 1e-6 * scale))
        losses.append(float(l1))
    assert losses[0] != losses[1]  # the masks matter (dropout is active)


def test_inverse_reconstructs_inputs(setup):
    adj, x, params, _, keys = setup

    @jax.jit
    def run(params, x, k):
        y = rev.reversible_stack(fn, params, x, adj, k, groups=C)
        one = jax.tree.map(lambda a: a[0], params)
        yb = rev.block_forward(fn, C, one, x, adj, k[0])
        xr = rev.block_inverse_vjp(fn, C, one, yb, jnp.ones_like(yb), adj, k[0])[0]
        return y, rev.inverse_stack(fn, params, y, adj, k, groups=C), rev.block_inverse(fn, C, one, yb, adj, k[0]), xr
    y, x_stack, x_block, x_vjp = run(params, x, keys[False])
    assert float(jnp.abs(y - x).max()) > 0.1
    np.testing.assert_allclose(x_stack, x, atol=1e-5)
    np.testing.assert_allclose(x_block, x, atol=1e-6)
    np.testing.assert_allclose(x_vjp, x, atol=1e-6)


def test_compiled_temp_memory_flat_in_depth_for_reversible_only():
    n, width = 256, 32
    adj, x = _graph(n, 2 * width)

    def f(p, h, adj, key):
        return spmm(adj, jax.nn.relu(h) @ p["w"])

    def temp(stack, layers):
        p = {"w": jnp.zeros((layers, 2, width, width))}
        keys = rev.layer_keys(jax.random.key(0), layers, 2)
        g = jax.grad(lambda p, x: jnp.sum(stack(f, p, x, adj, keys, groups=2) ** 2))
        return jax.jit(g).lower(p, x).compile().memory_analysis().temp_size_in_bytes
    act = x.size * 4  # one [N, D] float32 activation
    assert temp(rev.grouped_stack, 32) - temp(rev.grouped_stack, 2) > 30 * act
    assert abs(temp(rev.reversible_stack, 32) - temp(rev.reversible_stack, 2)) < 2 * act


def test_named_errors(setup):
    adj, x, params, _, keys = setup
    with pytest.raises(rev.ReversibleError, match="divisible by groups=5"):
        rev.reversible_stack(fn, params, x, adj, keys[True], groups=5)
    with pytest.raises(rev.ReversibleError, match=">= 2"):
        rev.check_groups(12, 1)
    with pytest.raises(rev.ReversibleError, match="keys shape"):
        rev.reversible_stack(fn, params, x, adj, keys[True][:2], groups=C)
    with pytest.raises(rev.ReversibleError, match="leading axes"):
        rev.reversible_stack(fn, params, x[:, :8], adj, keys[True][:, :2], groups=2)
