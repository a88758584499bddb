"""Chunked aggregation in lib.graph.ops: same result as the one-shot gather + scatter, in
every chunking (several chunks, a tail, one chunk), both orientations, and through spmm's
custom VJP."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.graph import build_adjacency, make_graph, spmm, to_dense, to_undirected
from lib.graph import ops


def _graph(n=300, e=2500, seed=0):
    rng = np.random.default_rng(seed)
    s, r = to_undirected(rng.integers(0, n, e), rng.integers(0, n, e), n)
    return make_graph(rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n), s, r)


def test_edge_chunk_is_a_cache_sized_power_of_two():
    for width in (1, 3, 16, 128, 1433, 10 ** 6):
        c = ops.edge_chunk(width)
        assert c >= 1024 and c & (c - 1) == 0
        assert c * 4 * width <= ops.CHUNK_BYTES or c == 1024
    assert ops.edge_chunk(16) > ops.edge_chunk(128)


@pytest.mark.parametrize("chunk", [7, 60, 1000])  # 64 exact chunks; 7 chunks + a tail; one shot
@pytest.mark.parametrize("gather_sorted", [True, False])
def test_chunked_aggregate_matches_one_shot(chunk, gather_sorted):
    rng = np.random.default_rng(1)
    n, e = 50, 448
    gi = np.sort(rng.integers(0, n, e)) if gather_sorted else rng.integers(0, n, e)
    si = rng.integers(0, n, e) if gather_sorted else np.sort(rng.integers(0, n, e))
    w = rng.standard_normal(e).astype(np.float32)
    h = rng.standard_normal((n, 3, 2)).astype(np.float32)  # trailing dims beyond one are kept
    want = np.zeros_like(h)
    np.add.at(want, si, w[:, None, None] * h[gi])
    args = [jnp.asarray(a, jnp.int32) for a in (gi, si)]
    f = jax.jit(lambda h, gi, si, w: ops._aggregate(h, gi, si, w, n, gather_sorted, not gather_sorted,
                                                    chunk=chunk))
    got = f(jnp.asarray(h), *args, jnp.asarray(w))
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("norm", ["gcn", "mean"])  # symmetric and non-symmetric A
def test_spmm_chunked_value_and_vjp(norm, monkeypatch):
    g = _graph()
    adj = jax.tree.map(jnp.asarray, build_adjacency(g, norm, self_loops=(norm == "gcn")))
    a = jnp.asarray(to_dense(adj), jnp.float32)
    h = jax.random.normal(jax.random.key(0), (g.num_nodes, 5))
    ct = jax.random.normal(jax.random.key(1), h.shape)
    # force several chunks plus a tail: 1024-edge chunks over ~5k edges
    monkeypatch.setattr(ops, "CHUNK_BYTES", 1024 * 4 * 5)
    assert ops.edge_chunk(5) == 1024 and adj.senders.shape[0] % 1024 and adj.senders.shape[0] > 2048
    val, vjp = jax.vjp(lambda h: spmm(adj, h), h)
    np.testing.assert_allclose(val, a @ h, atol=1e-5)
    np.testing.assert_allclose(vjp(ct)[0], a.T @ ct, atol=1e-5)
    monkeypatch.setattr(ops, "CHUNK_BYTES", 1 << 40)  # one shot: the same numbers
    val1, vjp1 = jax.vjp(lambda h: spmm(adj, h), h)
    np.testing.assert_allclose(val, val1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(vjp(ct)[0], vjp1(ct)[0], rtol=0, atol=1e-6)
