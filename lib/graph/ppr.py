"""Personalized PageRank: exact, power iteration (dense and sparse), forward push,
Monte-Carlo walk fingerprints and PowerWalk's online combination; L1 error.

Convention: the walk moves along out-edges with P = D^-1 A (row-stochastic, a node without
out-edges keeps its walker: a self loop) and stops before each step with probability
alpha. The PPR vector of source s is the distribution of the stop node,

    pi_s = alpha * sum_t (1-alpha)^t e_s P^t = alpha e_s (I - (1-alpha) P)^-1.

Batched vectors are columns: X [N, B] holds B sources. `transition_adjacency` stores P^T
as an `Adjacency` (receiver v, sender u, weight 1/deg(u)), so x -> x P is `spmm` (the
native CPU kernel on CPU). After t iterations from X = alpha E the L1 error is exactly
(1-alpha)^(t+1) per source; `iterations_for(alpha, tol)` picks t.

Fingerprints (Fogaras et al.; PowerWalk, Liu et al. CIKM 2016): R alpha-terminated walks
per node; the end nodes of node w's walks, each weighted 1/R, are the estimate pi^_w
(stored as an `Adjacency` F with an edge w -> end of weight 1/R: x -> x Pi^ is one spmm).
PowerWalk's online phase combines them through the decomposition
pi_u = alpha e_u + (1-alpha) (1/d(u)) sum_{w in N(u)} pi_w applied T times:

    pi_s ~= alpha sum_{t<T} (1-alpha)^t e_s P^t + (1-alpha)^T (e_s P^T) Pi^,

so the remaining (1-alpha)^T of the mass is spread over the fingerprints of many nodes (many
more walks than one fingerprint), and the Monte-Carlo error shrinks with T. T = 0 is the
single fingerprint.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .ops import Adjacency, spmm
from .walks import CSR, WalkError, _restart_ends, check_alpha, check_graph_has_edges, check_length

PPRError = WalkError  # one error type for walk and PPR input (alpha, empty graph, sources)


def _adjacency(s, r, w, n) -> Adjacency:
    """Adjacency from real (sender, receiver, weight) triples, no padding."""
    s, r, w = np.asarray(s, np.int64), np.asarray(r, np.int64), np.asarray(w, np.float32)
    o = np.lexsort((s, r))
    t = np.lexsort((r, s))
    return Adjacency(senders=s[o].astype(np.int32), receivers=r[o].astype(np.int32), weights=w[o],
                     mask=np.ones(s.size, bool), t_senders=r[t].astype(np.int32),
                     t_receivers=s[t].astype(np.int32), t_weights=w[t], num_nodes=int(n), symmetric=False)


def transition_adjacency(csr: CSR) -> Adjacency:
    """P^T as an Adjacency: spmm(adj, X) = (X^T P)^T, i.e. one step of every column's walk."""
    check_graph_has_edges(csr)
    n = csr.num_nodes
    deg = np.asarray(csr.degree).astype(np.int64)
    u = np.repeat(np.arange(n), deg)
    v = np.asarray(csr.indices).astype(np.int64)
    w = 1.0 / deg[u]
    sinks = np.nonzero(deg == 0)[0]
    return _adjacency(np.concatenate([u, sinks]), np.concatenate([v, sinks]),
                      np.concatenate([w, np.ones(sinks.size)]), n)


def check_sources(csr: CSR, sources) -> np.ndarray:
    sources = np.asarray(sources)
    if sources.ndim != 1 or not np.issubdtype(sources.dtype, np.integer) or sources.size == 0:
        raise PPRError(f"sources must be a non-empty 1-D integer array, got {sources.dtype} {sources.shape}")
    if sources.min() < 0 or sources.max() >= csr.num_nodes:
        raise PPRError(f"source out of range (allowed 0..{csr.num_nodes - 1})")
    return sources


def iterations_for(alpha: float, tol: float) -> int:
    """Power iterations after which the L1 error (1-alpha)^(t+1) is <= tol."""
    alpha = check_alpha(alpha)
    if not 0 < tol < 1:
        raise PPRError(f"tol={tol!r} must be in (0, 1)")
    return max(0, int(math.ceil(math.log(tol) / math.log(1.0 - alpha))) - 1)


def exact_ppr(csr: CSR, sources, alpha: float) -> np.ndarray:
    """[B, N] float64 by a dense solve (small graphs: tests, accuracy tables)."""
    from .walks import to_dense_transition
    alpha = check_alpha(alpha)
    sources = check_sources(csr, sources)
    p = to_dense_transition(csr)
    n = csr.num_nodes
    m = np.eye(n) - (1.0 - alpha) * p.T          # pi^T = alpha (I - (1-a) P^T)^-1 e_s
    rhs = np.zeros((n, sources.size))
    rhs[sources, np.arange(sources.size)] = alpha
    return np.linalg.solve(m, rhs).T


def one_hot(sources, n: int, dtype=jnp.float32):
    return jnp.zeros((n, len(sources)), dtype).at[jnp.asarray(sources), jnp.arange(len(sources))].set(1.0)


@functools.partial(jax.jit, static_argnames=("iters",))
def _power_sparse(adj: Adjacency, e, alpha, iters: int):
    def body(_, x):
        return alpha * e + (1.0 - alpha) * spmm(adj, x)
    return jax.lax.fori_loop(0, iters, body, alpha * e)


def power_iteration(adj: Adjacency, sources, alpha: float, iters: int) -> jax.Array:
    """[N, B]: sparse power iteration on P^T (`transition_adjacency`), all sources at once."""
    alpha = check_alpha(alpha)
    e = one_hot(np.asarray(sources), adj.num_nodes)
    return _power_sparse(adj, e, jnp.float32(alpha), int(iters))


@functools.partial(jax.jit, static_argnames=("iters",))
def _power_dense(pt, e, alpha, iters: int):
    def body(_, x):
        return alpha * e + (1.0 - alpha) * (pt @ x)
    return jax.lax.fori_loop(0, iters, body, alpha * e)


def power_iteration_dense(csr: CSR, sources, alpha: float, iters: int, dtype=jnp.float32) -> jax.Array:
    """[N, B]: the same iteration with a dense P^T (small graphs)."""
    from .walks import to_dense_transition
    alpha = check_alpha(alpha)
    sources = check_sources(csr, sources)
    pt = jnp.asarray(to_dense_transition(csr).T, dtype)
    return _power_dense(pt, one_hot(sources, csr.num_nodes, dtype), jnp.asarray(alpha, dtype), int(iters))


def forward_push(csr: CSR, source: int, alpha: float, r_max: float):
    """Andersen-Chung-Lang forward push for one source (host NumPy, synchronous rounds: every
    node with residual r_u > r_max * d_u pushes at once). Returns (estimate [N], residual [N]);
    the L1 error is sum(residual). A sink keeps its mass (self loop)."""
    alpha = check_alpha(alpha)
    if not r_max > 0:
        raise PPRError(f"r_max={r_max!r} must be > 0")
    indptr, idx, deg = (np.asarray(a).astype(np.int64) for a in (csr.indptr, csr.indices, csr.degree))
    n = csr.num_nodes
    p = np.zeros(n)
    r = np.zeros(n)
    r[int(source)] = 1.0
    thresh = r_max * np.maximum(deg, 1)
    active = np.array([int(source)])
    while active.size:
        ra = r[active]
        r[active] = 0.0
        p[active] += alpha * ra
        d = deg[active]
        sink = d == 0
        if sink.any():  # self loop: geometric series ends at the sink itself
            p[active[sink]] += (1 - alpha) * ra[sink]
        a, ra, d = active[~sink], ra[~sink], d[~sink]
        if a.size:
            starts = indptr[a]
            rep = np.repeat(np.arange(a.size), d)
            pos = np.arange(rep.size) - np.repeat(np.cumsum(d) - d, d) + starts[rep]
            np.add.at(r, idx[pos], np.repeat((1 - alpha) * ra / d, d))
        active = np.nonzero(r > thresh)[0]
    return p, r


# ----------------------------------------------------------------------------- fingerprints


def fingerprint_ends(csr: CSR, key, alpha: float, walks_per_node: int, max_steps: int):
    """End nodes [N, R] of R alpha-terminated walks from every node (isolated nodes end where
    they start), and the fraction of walks cut by the step budget."""
    check_graph_has_edges(csr)
    alpha = check_alpha(alpha)
    if not isinstance(walks_per_node, int) or walks_per_node < 1:
        raise PPRError(f"walks_per_node={walks_per_node!r} must be an integer >= 1")
    n = csr.num_nodes
    starts = jnp.tile(jnp.arange(n, dtype=jnp.int32), walks_per_node)  # walk i*N + v
    ends, cut = _restart_ends(csr, starts, key, jnp.float32(alpha), check_length(max_steps))
    return ends.reshape(walks_per_node, n).T, float(jnp.mean(cut))


def fingerprint_adjacency(ends) -> Adjacency:
    """F with an edge w -> end of weight 1/R per walk: spmm(F, X) = Pi^^T X."""
    ends = np.asarray(ends)
    n, r = ends.shape
    return _adjacency(np.repeat(np.arange(n), r), ends.reshape(-1), np.full(n * r, 1.0 / r), n)


@functools.partial(jax.jit, static_argnames=("hops",))
def _combine(p_adj: Adjacency, f_adj: Adjacency, e, alpha, hops: int):
    def body(_, c):
        acc, x = c
        return acc + alpha * x, (1.0 - alpha) * spmm(p_adj, x)
    acc, x = jax.lax.fori_loop(0, hops, body, (jnp.zeros_like(e), e))
    return acc + spmm(f_adj, x)


def powerwalk_ppr(p_adj: Adjacency, f_adj: Adjacency, sources, alpha: float, hops: int) -> jax.Array:
    """[N, B]: PowerWalk online combination with `hops` decomposition steps (0 = the sources'
    own fingerprints)."""
    alpha = check_alpha(alpha)
    if not isinstance(hops, int) or hops < 0:
        raise PPRError(f"hops={hops!r} must be an integer >= 0")
    e = one_hot(np.asarray(sources), p_adj.num_nodes)
    return _combine(p_adj, f_adj, e, jnp.float32(alpha), int(hops))


def l1_error(estimate, exact) -> np.ndarray:
    """Per-source L1 error; both [B, N] (rows = sources)."""
    return np.abs(np.asarray(estimate, np.float64) - np.asarray(exact, np.float64)).sum(axis=1)


def reference_ppr(csr: CSR, sources, alpha: float, tol: float = 1e-10) -> np.ndarray:
    """[B, N] float64 by SciPy power iteration to L1 error `tol` (graphs too large for a solve)."""
    import scipy.sparse as sp
    alpha = check_alpha(alpha)
    sources = check_sources(csr, sources)
    n = csr.num_nodes
    deg = np.asarray(csr.degree).astype(np.int64)
    u = np.repeat(np.arange(n), deg)
    v = np.asarray(csr.indices).astype(np.int64)
    sinks = np.nonzero(deg == 0)[0]
    w = np.concatenate([1.0 / deg[u], np.ones(sinks.size)])
    pt = sp.csr_matrix((w, (np.concatenate([v, sinks]), np.concatenate([u, sinks]))), shape=(n, n))
    e = np.zeros((n, sources.size))
    e[sources, np.arange(sources.size)] = 1.0
    x = alpha * e
    for _ in range(iterations_for(alpha, tol)):
        x = alpha * e + (1.0 - alpha) * (pt @ x)
    return x.T
