"""Propagation powers, random walks (uniform, restart, node2vec), skip-gram, and PPR
(exact, power iteration, forward push, fingerprints + PowerWalk combination)."""
import jax
import numpy as np
import pytest
from scipy import stats

from lib.graph import make_graph, to_undirected
from lib.graph import ppr, propagation, walks
from lib.graph.norm import build_adjacency
from lib.graph.ops import to_dense


def _graph(n=12, e=30, seed=0, directed=False):
    rng = np.random.default_rng(seed)
    s, r = rng.integers(0, n, e), rng.integers(0, n, e)
    if directed:
        keep = s != r
        s, r = s[keep], r[keep]
    else:
        s, r = to_undirected(s, r, n)
    return make_graph(rng.standard_normal((n, 3)).astype(np.float32), np.zeros(n, int), s, r)


def _csr(**kw):
    return walks.csr_from_graph(_graph(**kw))


# ----------------------------------------------------------------------------- propagation


@pytest.mark.parametrize("kind", ["row", "sym"])
def test_propagation_powers_equal_dense_matrix_powers(kind):
    g = _graph()
    adj = propagation.normalized_adjacency(g, kind)
    assert propagation.normalisation_of(adj) == kind
    hs = np.asarray(propagation.propagation_powers(adj, g.x, 4))
    a = to_dense(adj)
    want = np.asarray(g.x, np.float64)
    for k in range(5):
        np.testing.assert_allclose(hs[k], want, rtol=1e-4, atol=1e-5)
        want = a @ want


def test_propagation_refuses_unnormalised_adjacency_before_compile(no_compiles):
    g = _graph()
    with pytest.raises(propagation.NormalisationError, match="normalised adjacency"):
        propagation.propagation_powers(build_adjacency(g, "sum"), g.x, 2)
    assert no_compiles == []


# ----------------------------------------------------------------------------- walks


def test_uniform_walk_transitions_match_transition_matrix():
    """Chi-square per source node: observed next-node counts vs deg-uniform probabilities."""
    csr = _csr(n=10, e=24, seed=1)
    deg = np.asarray(csr.degree)
    starts = np.repeat(np.nonzero(deg > 0)[0], 200)
    nodes, mask = walks.uniform_walks(csr, starts, jax.random.key(0), 10)
    nodes, mask = np.asarray(nodes), np.asarray(mask)
    assert mask.all()  # undirected graph, no sinks: walks never stop
    assert nodes.shape == (starts.size, 11) and (nodes[:, 0] == starts).all()
    p = walks.to_dense_transition(csr)
    counts = np.zeros_like(p)
    np.add.at(counts, (nodes[:, :-1].ravel(), nodes[:, 1:].ravel()), 1)
    assert counts[p == 0].sum() == 0  # only along edges
    pvals = []
    for u in np.nonzero(deg > 1)[0]:
        nz = p[u] > 0
        pvals.append(stats.chisquare(counts[u, nz], counts[u].sum() * p[u, nz]).pvalue)
    assert min(pvals) > 1e-4 / len(pvals)  # Bonferroni


def test_walk_keys_per_walker_independent_of_batch():
    csr = _csr()
    starts = np.nonzero(np.asarray(csr.degree) > 0)[0]
    a, _ = walks.uniform_walks(csr, starts, jax.random.key(3), 6)
    b, _ = walks.uniform_walks(csr, starts[:3], jax.random.key(3), 6)
    np.testing.assert_array_equal(np.asarray(a)[:3], np.asarray(b))


def test_walks_stop_at_sinks_and_restart_walks_terminate():
    # directed path 0 -> 1 -> 2 (2 is a sink)
    csr = walks.csr_from_edges([0, 1], [1, 2], 3)
    nodes, mask = walks.uniform_walks(csr, np.array([0]), jax.random.key(0), 5)
    assert np.asarray(nodes)[0].tolist() == [0, 1, 2, 2, 2, 2]
    assert np.asarray(mask)[0].tolist() == [True, True, True, False, False, False]
    csr = _csr(n=20, e=60)
    starts = np.repeat(np.nonzero(np.asarray(csr.degree) > 0)[0][:1], 4000)
    nodes, mask, ends, cut = walks.restart_walks(csr, starts, jax.random.key(1), 0.3, 40)
    lengths = np.asarray(mask).sum(1) - 1  # moves made: geometric with stop prob 0.3
    assert abs(lengths.mean() - 0.7 / 0.3) < 0.15 and not np.asarray(cut).any()
    assert (np.asarray(nodes)[np.arange(starts.size), lengths] == np.asarray(ends)).all()


def test_node2vec_biases_match_exact_second_order_probabilities():
    """Count the node after (prev, cur) over many walks and compare with the exact node2vec
    distribution (p=0.25 favours returning, q=4 favours staying near prev)."""
    rng = np.random.default_rng(0)
    s, r = to_undirected(rng.integers(0, 8, 26), rng.integers(0, 8, 26), 8)
    csr = walks.csr_from_edges(s, r, 8)
    starts = np.repeat(np.nonzero(np.asarray(csr.degree) > 0)[0], 400)
    for p, q in ((0.25, 4.0), (4.0, 0.25)):
        nodes, mask = walks.node2vec_walks(csr, starts, jax.random.key(2), 6, p=p, q=q)
        nodes = np.asarray(nodes)
        assert np.asarray(mask).all()
        trip = np.stack([nodes[:, :-2].ravel(), nodes[:, 1:-1].ravel(), nodes[:, 2:].ravel()], 1)
        pairs, cnt = np.unique(trip[:, :2], axis=0, return_counts=True)
        tested = 0
        for (t, v), c in zip(pairs, cnt):
            if c < 300:
                continue
            exact = walks.node2vec_probabilities(csr, int(t), int(v), p, q)
            nxt = trip[(trip[:, 0] == t) & (trip[:, 1] == v), 2]
            keys = sorted(exact)
            obs = np.array([(nxt == k).sum() for k in keys])
            assert obs.sum() == c  # never an off-row node
            if len(keys) > 1:
                assert stats.chisquare(obs, c * np.array([exact[k] for k in keys])).pvalue > 1e-5
                tested += 1
        assert tested >= 5


def test_walk_bad_input_named_before_compile(no_compiles):
    csr = walks.csr_from_edges([0, 1], [1, 0], 3)  # node 2 isolated
    with pytest.raises(walks.WalkError, match="isolated node"):
        walks.uniform_walks(csr, np.array([0, 2]), jax.random.key(0), 3)
    with pytest.raises(walks.WalkError, match="no edges"):
        walks.uniform_walks(walks.csr_from_edges([], [], 4), np.array([0]), jax.random.key(0), 3)
    for alpha in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(walks.WalkError, match=r"alpha=.* must be in the open interval \(0, 1\)"):
            walks.restart_walks(csr, np.array([0]), jax.random.key(0), alpha, 3)
    with pytest.raises(walks.WalkError, match="q=0"):
        walks.node2vec_walks(csr, np.array([0]), jax.random.key(0), 3, q=0)
    with pytest.raises(walks.WalkError, match="alpha"):
        ppr.exact_ppr(csr, np.array([0]), 1.0)
    with pytest.raises(walks.WalkError, match="no edges"):
        ppr.transition_adjacency(walks.csr_from_edges([], [], 4))
    assert no_compiles == []


def test_skipgram_separates_two_communities():
    """Two 10-cliques joined by one edge: after DeepWalk + SGNS, nodes are more similar to their
    own community than to the other."""
    from lib.graph.embedding import skipgram_pairs, train_skipgram
    a = [(i, j) for c in (0, 10) for i in range(c, c + 10) for j in range(c, c + 10) if i != j]
    s, r = map(np.array, zip(*a))
    s, r = np.concatenate([s, [0, 10]]), np.concatenate([r, [10, 0]])
    csr = walks.csr_from_edges(s, r, 20)
    nodes, mask = walks.uniform_walks(csr, np.repeat(np.arange(20), 20), jax.random.key(0), 10)
    c, x, v = skipgram_pairs(nodes, mask, 2)
    assert c.shape[0] == 400 * 2 * (10 + 9)
    params, losses = train_skipgram(nodes, mask, 20, jax.random.key(1), dim=16, window=2, epochs=2, batch=512)
    assert losses[-1] < losses[0]
    e = np.array(params["in"]); e -= e.mean(0); e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    same = np.equal.outer(np.arange(20) // 10, np.arange(20) // 10) & ~np.eye(20, dtype=bool)
    diff = ~np.equal.outer(np.arange(20) // 10, np.arange(20) // 10)
    assert sim[same].mean() > sim[diff].mean() + 0.3


# ----------------------------------------------------------------------------- PPR


@pytest.mark.parametrize("directed", [False, True])
def test_power_iteration_equals_exact(directed):
    csr = _csr(n=15, e=40, seed=3, directed=directed)
    sources = np.arange(csr.num_nodes)
    alpha = 0.2
    exact = ppr.exact_ppr(csr, sources, alpha)
    np.testing.assert_allclose(exact.sum(1), 1.0, atol=1e-12)
    iters = ppr.iterations_for(alpha, 1e-7)
    dense = np.asarray(ppr.power_iteration_dense(csr, sources, alpha, iters, dtype=np.float64)).T \
        if jax.config.jax_enable_x64 else None
    sparse = np.asarray(ppr.power_iteration(ppr.transition_adjacency(csr), sources, alpha, iters)).T
    assert ppr.l1_error(sparse, exact).max() < 1e-6
    if dense is not None:
        assert ppr.l1_error(dense, exact).max() < 1e-6
    dense32 = np.asarray(ppr.power_iteration_dense(csr, sources, alpha, iters)).T
    assert ppr.l1_error(dense32, exact).max() < 1e-6
    # truncation bound: after t iterations the error is exactly (1-alpha)^(t+1)
    t = 5
    short = np.asarray(ppr.power_iteration(ppr.transition_adjacency(csr), sources, alpha, t)).T
    np.testing.assert_allclose(ppr.l1_error(short, exact), (1 - alpha) ** (t + 1), rtol=1e-4)


def test_forward_push_error_bounded_by_residual():
    csr = _csr(n=30, e=90, seed=4, directed=True)
    exact = ppr.exact_ppr(csr, np.array([0]), 0.15)[0]
    for r_max in (1e-2, 1e-4, 1e-6):
        est, res = ppr.forward_push(csr, 0, 0.15, r_max)
        err = np.abs(est - exact).sum()
        assert err <= res.sum() + 1e-12  # p <= pi entrywise, missing mass = residual
        assert (est <= exact + 1e-12).all()
    assert err < 1e-4


def test_fingerprints_converge_and_combination_beats_single_fingerprints():
    csr = _csr(n=40, e=160, seed=5)
    alpha, n = 0.2, csr.num_nodes
    sources = np.nonzero(np.asarray(csr.degree) > 0)[0]
    exact = ppr.exact_ppr(csr, sources, alpha)
    p_adj = ppr.transition_adjacency(csr)
    errs = []
    for r in (16, 256):
        ends, cut = ppr.fingerprint_ends(csr, jax.random.key(r), alpha, r, 40)
        assert cut < 1e-3
        f = ppr.fingerprint_adjacency(ends)
        single = np.asarray(ppr.powerwalk_ppr(p_adj, f, sources, alpha, 0)).T
        combo = np.asarray(ppr.powerwalk_ppr(p_adj, f, sources, alpha, 3)).T
        np.testing.assert_allclose(single.sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(combo.sum(1), 1.0, atol=1e-5)
        errs.append((ppr.l1_error(single, exact).mean(), ppr.l1_error(combo, exact).mean()))
    (s16, c16), (s256, c256) = errs
    assert s256 < s16 / 2.5 and c256 < c16 / 2.5  # MC error ~ 1/sqrt(R): 16x walks, 4x less error
    assert c16 < s16 * 0.8 and c256 < s256 * 0.8


def test_reference_ppr_equals_exact():
    csr = _csr(n=25, e=70, seed=6, directed=True)
    src = np.array([0, 3, 7])
    np.testing.assert_allclose(ppr.reference_ppr(csr, src, 0.3), ppr.exact_ppr(csr, src, 0.3), atol=1e-9)
