"""lib.graph.walks on CPU: the native kernel (lib/native/walks.cc) returns the pure-JAX twin's walks
(TESSERA_NATIVE=0's path) exactly, uniform and node2vec, stop masks at dead ends included; its
node2vec next-node frequencies from a fixed (prev, cur) match the exact second-order probabilities;
walks follow edges; the result depends on the key only, not on threads or the batch of walkers."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lib import native
from lib.graph import to_undirected, walks

needs_kernel = pytest.mark.skipif(native._compiler() is None, reason="no C++ compiler: only the pure-JAX path exists")


def _random_csr(n=40, e=160, seed=0, directed=False):
    rng = np.random.default_rng(seed)
    s, r = rng.integers(0, n, e), rng.integers(0, n, e)
    if directed:  # every 7th node a sink
        s, r = s[s % 7 != 3], r[s % 7 != 3]
    else:
        s, r = to_undirected(s, r, n)
    return walks.csr_from_edges(s, r, n)


def _native(csr, starts, key, length, p=1.0, q=1.0, candidates=8, mode=1, threads=1):
    assert native.load(*walks.KERNEL)
    fn = functools.partial(walks._walks_native, length=length, candidates=candidates, mode=mode, threads=threads)
    out = jax.jit(fn)(csr, jnp.asarray(starts, jnp.int32), key, jnp.float32(p), jnp.float32(q))
    return tuple(np.asarray(a) for a in out)


def _twin(csr, starts, key, length, p=1.0, q=1.0, candidates=8, mode=1):
    if mode == 0:
        fn = lambda c, s, k, p, q: walks._uniform_jax(c, s, k, length)  # noqa: E731
    else:
        fn = functools.partial(walks._node2vec_jax, length=length, candidates=candidates)
    out = jax.jit(fn)(csr, jnp.asarray(starts, jnp.int32), key, jnp.float32(p), jnp.float32(q))
    return tuple(np.asarray(a) for a in out)


@needs_kernel
@pytest.mark.parametrize("directed", [False, True])
def test_native_walks_equal_pure_jax_twin(directed):
    """Draw for draw: the same hash, proposals, acceptances and float32 weights. The directed graph
    has sinks, so walks stop early and the masks are compared too."""
    csr = _random_csr(directed=directed, seed=int(directed))
    deg = np.asarray(csr.degree)
    starts = np.repeat(np.flatnonzero(deg > 0), 6)
    key = jax.random.key(4)
    stopped = 0
    for mode, p, q, c in ((0, 1.0, 1.0, 1), (1, 0.5, 2.0, 8), (1, 4.0, 0.25, 1), (1, 0.3, 0.7, 3)):
        got = _native(csr, starts, key, 12, p, q, c, mode)
        want = _twin(csr, starts, key, 12, p, q, c, mode)
        np.testing.assert_array_equal(got[0], want[0], err_msg=f"mode={mode} p={p} q={q}")
        np.testing.assert_array_equal(got[1], want[1])
        stopped += int((~got[1]).any())
        nodes, mask = got
        src, dst, moved = nodes[:, :-1], nodes[:, 1:], mask[:, 1:]
        adj = np.zeros((csr.num_nodes,) * 2, bool)
        adj[np.repeat(np.arange(csr.num_nodes), deg), np.asarray(csr.indices)] = True
        assert adj[src[moved], dst[moved]].all()  # every move along an edge
        assert (src[~moved] == dst[~moved]).all() and (deg[src[~moved]] == 0).all()  # stopped at a sink
    assert stopped == (4 if directed else 0)


@needs_kernel
def test_node2vec_next_step_matches_exact_probabilities():
    """Walkers start at prev = 0 (4 neighbours); those whose first step reaches cur = 1 draw the
    next node by node2vec. Neighbours of 1: 0 (return, 1/p), 2 and 3 (also neighbours of 0: 1),
    5, 6, 7 (1/q). Chi-square and a bound on the largest frequency error."""
    s = [0, 0, 0, 0, 1, 1, 1, 1, 2, 5, 6, 4]
    r = [1, 2, 3, 4, 2, 3, 5, 6, 3, 7, 7, 7]
    s, r = s + [1], r + [7]
    csr = walks.csr_from_edges(*to_undirected(np.array(s), np.array(r), 8), 8)
    starts = np.zeros(200_000, np.int64)
    for p, q in ((0.25, 4.0), (3.0, 0.4)):
        nodes, mask = _native(csr, starts, jax.random.key(7), 2, p, q)
        assert mask.all()
        nxt = nodes[nodes[:, 1] == 1, 2]
        exact = walks.node2vec_probabilities(csr, 0, 1, p, q)
        assert sorted(exact) == [0, 2, 3, 5, 6, 7]
        keys = sorted(exact)
        obs = np.array([(nxt == k).sum() for k in keys])
        assert obs.sum() == nxt.size > 40_000  # never an off-row node
        want = np.array([exact[k] for k in keys])
        assert stats.chisquare(obs, nxt.size * want).pvalue > 1e-4
        assert np.abs(obs / nxt.size - want).max() < 0.01


@needs_kernel
def test_native_walks_deterministic_and_independent_of_threads_and_batch():
    csr = _random_csr(n=300, e=2400, seed=2)
    starts = np.repeat(np.flatnonzero(np.asarray(csr.degree) > 0), 3)  # > 1 block of walkers
    assert starts.size > 600
    key = jax.random.key(1)
    a = _native(csr, starts, key, 10, 0.5, 2.0)
    for other in (_native(csr, starts, key, 10, 0.5, 2.0),
                  _native(csr, starts, key, 10, 0.5, 2.0, threads=0)):
        np.testing.assert_array_equal(a[0], other[0])
        np.testing.assert_array_equal(a[1], other[1])
    head = _native(csr, starts[:37], key, 10, 0.5, 2.0)
    np.testing.assert_array_equal(a[0][:37], head[0])
    assert (a[0] != _native(csr, starts, jax.random.key(2), 10, 0.5, 2.0)[0]).mean() > 0.5


def _use_native(monkeypatch, flag):
    """The path is chosen at trace time: drop the walk kernels' cached traces."""
    monkeypatch.setenv("TESSERA_NATIVE", flag)
    walks._uniform.clear_cache()
    walks._node2vec.clear_cache()


@pytest.mark.parametrize("flag", ["1", "0"])
def test_public_walks_pick_native_on_cpu_and_pure_jax_when_off(flag, monkeypatch):
    csr = _random_csr(directed=True, seed=1)
    starts = np.flatnonzero(np.asarray(csr.degree) > 0)
    key = jax.random.key(0)
    _use_native(monkeypatch, flag)
    try:
        assert walks.uses_native() == (flag == "1" and native._compiler() is not None)
        hlo = jax.jit(lambda s: walks._node2vec(csr, s, key, jnp.float32(0.5), jnp.float32(2.0), 9, 8)).lower(
            jnp.asarray(starts, jnp.int32)).as_text()
        assert ("tessera_walks" in hlo) == walks.uses_native()
        got = walks.node2vec_walks(csr, starts, key, 9, p=0.5, q=2.0)
        np.testing.assert_array_equal(got[0], _twin(csr, starts, key, 9, 0.5, 2.0)[0])
        got = walks.uniform_walks(csr, starts, key, 9)
        np.testing.assert_array_equal(got[1], _twin(csr, starts, key, 9, mode=0)[1])
    finally:
        _use_native(monkeypatch, "1")


@pytest.mark.parametrize("flag", ["1", "0"])
def test_walks_stop_at_a_dead_end(flag, monkeypatch):
    # 0 <-> 1 -> 2 (2 has no out-edges): node2vec from 0 goes 0 1 then 0 or 2; at 2 it stops
    csr = walks.csr_from_edges([0, 1, 1], [1, 0, 2], 3)
    _use_native(monkeypatch, flag)
    try:
        nodes, mask = (np.asarray(a) for a in walks.node2vec_walks(csr, np.zeros(400, int), jax.random.key(0), 10,
                                                                    p=0.5, q=2.0))
    finally:
        _use_native(monkeypatch, "1")
    ended = mask.sum(1)  # entries up to and including the dead end
    assert (nodes[:, :2] == [0, 1]).all() and mask[:, :3].all()
    for row, m, k in zip(nodes, mask, ended):
        assert m[:k].all() and not m[k:].any()
        if k < 11:  # P(2) = (1/q) / (1/p + 1/q) = 0.2 at each visit of 1 from 0
            assert (row[k - 1:] == 2).all() and (row[:k - 1] != 2).all()
    assert 0.5 < (ended < 11).mean() < 0.85  # 1 - 0.8^5 = 0.67


def test_unsorted_csr_rows_refused_before_compile(no_compiles):
    csr = walks.csr_from_edges([0, 0, 1, 2], [1, 2, 0, 0], 3)
    bad = csr.replace(indices=np.asarray(csr.indices)[[1, 0, 2, 3]])
    with pytest.raises(walks.WalkError, match="not sorted"):
        walks.node2vec_walks(bad, np.array([0]), jax.random.key(0), 4, p=0.5)
    assert no_compiles == []
