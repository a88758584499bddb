"""Random walks on a CSR graph: one jitted kernel, vmapped over walkers (on CPU, uniform and
node2vec walks run the native kernel lib/native/walks.cc instead, with the same draws and results).

`CSR` holds the out-neighbours of every node (row u = the receivers of u's out-edges,
sorted), built once on the host from a `Graph` or an edge list. Walkers start from
given nodes and move for a fixed step budget (`length` steps, a static shape); each
returns its node sequence [length+1] and a mask that is False after the walk stopped.

- `uniform_walks`: the next node is a uniform out-neighbour (DeepWalk).
- `restart_walks`: before every step the walk stops with probability alpha; the end node
  of an alpha-terminated walk from s is a draw from the personalized PageRank vector of s
  (walks cut by the step budget are flagged in `truncated`).
- `node2vec_walks`: second order (Grover & Leskovec): from v, having come from t, the
  weight of neighbour x is 1/p if x == t, 1 if x is a neighbour of t, else 1/q. Sampled
  exactly by rejection (KnightKing-style): `candidates` uniform neighbours are proposed
  at a time and the first accepted with probability weight / max weight is taken, repeated
  in a `while_loop` until every walker has one; "x is a neighbour of t" is a binary search
  in t's sorted row.

A walk at a node without out-neighbours stops there (mask False from then on). Randomness
is a counter-based hash: the uniform number of (walker, step, draw) is murmur3's 32-bit
finaliser chained over a seed taken from the JAX key, the walker's index, the step and the
draw (a few integer ops instead of a Threefry key derivation per walker and step, which
dominated the kernel on CPU). A walker's path therefore does not depend on how many other
walkers run with it, and the same key gives the same walks on every backend. Bad input (no edges, starting at an isolated node, alpha
outside (0, 1), p or q <= 0) raises `WalkError` before compiling.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lib import native

from .graph import Graph, GraphError, unpad_edges


class WalkError(GraphError):
    """Walks asked for on a graph or from nodes where they cannot run, or bad walk parameters."""


@struct.dataclass
class CSR:
    indptr: jax.Array    # [N+1] int32
    indices: jax.Array   # [E] int32, out-neighbours, sorted within each row
    degree: jax.Array    # [N] int32 out-degree
    num_nodes: int = struct.field(pytree_node=False)
    max_degree: int = struct.field(pytree_node=False)

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])


def csr_from_edges(senders, receivers, num_nodes: int) -> CSR:
    """CSR of out-neighbours (edge s -> r puts r in row s); duplicate edges are kept."""
    s = np.asarray(senders, np.int64)
    r = np.asarray(receivers, np.int64)
    if s.size and (min(s.min(), r.min()) < 0 or max(s.max(), r.max()) >= num_nodes):
        raise WalkError(f"edge index out of range (allowed 0..{num_nodes - 1})")
    order = np.lexsort((r, s))
    deg = np.bincount(s, minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, np.int64)
    np.cumsum(deg, out=indptr[1:])
    return CSR(indptr=indptr.astype(np.int32), indices=r[order].astype(np.int32),
               degree=deg.astype(np.int32), num_nodes=int(num_nodes),
               max_degree=int(deg.max()) if num_nodes else 0)


def csr_from_graph(g: Graph) -> CSR:
    """CSR over the real nodes of a host `Graph` (padding dropped)."""
    n = int(np.asarray(g.node_mask).sum())
    s, r = unpad_edges(g)
    return csr_from_edges(s, r, n)


def to_dense_transition(csr: CSR, dangling: str = "self") -> np.ndarray:
    """Row-stochastic P (host, float64): P[u, v] = (#edges u->v) / deg(u); a node without
    out-edges gets a self loop (dangling='self'), the convention of `restart_walks`."""
    n = csr.num_nodes
    p = np.zeros((n, n))
    indptr, idx, deg = (np.asarray(a) for a in (csr.indptr, csr.indices, csr.degree))
    rows = np.repeat(np.arange(n), deg)
    np.add.at(p, (rows, idx), 1.0 / np.maximum(deg[rows], 1))
    if dangling == "self":
        z = deg == 0
        p[z, z] = 1.0
    return p


# ----------------------------------------------------------------------------- checks


def check_graph_has_edges(csr: CSR) -> None:
    if csr.num_edges == 0:
        raise WalkError(f"the graph has no edges ({csr.num_nodes} nodes): random walks cannot move")


def check_starts(csr: CSR, starts) -> np.ndarray:
    check_graph_has_edges(csr)
    starts = np.asarray(starts)
    if starts.ndim != 1 or not np.issubdtype(starts.dtype, np.integer):
        raise WalkError(f"starts must be a 1-D integer array, got {starts.dtype} {starts.shape}")
    if starts.size and (starts.min() < 0 or starts.max() >= csr.num_nodes):
        raise WalkError(f"start node out of range (allowed 0..{csr.num_nodes - 1})")
    deg = np.asarray(csr.degree)[starts]
    if np.any(deg == 0):
        bad = starts[deg == 0]
        raise WalkError(f"{bad.size} walk(s) start at isolated node(s) (no out-edges), e.g. node {int(bad[0])}: "
                        "drop them from starts (their walks would not move)")
    return starts


def check_sorted_rows(csr: CSR) -> None:
    """node2vec's "x is a neighbour of t" is a binary search of t's row: rows must be sorted."""
    idx, indptr = np.asarray(csr.indices), np.asarray(csr.indptr)
    down = np.flatnonzero(idx[1:] < idx[:-1]) + 1  # positions where the order drops
    if down.size and not np.isin(down, indptr).all():
        raise WalkError("the rows of csr.indices are not sorted (node2vec searches them): "
                        "build the CSR with csr_from_edges / csr_from_graph")


def check_alpha(alpha) -> float:
    if not isinstance(alpha, (int, float, np.floating)) or not (0.0 < float(alpha) < 1.0):
        raise WalkError(f"alpha={alpha!r} must be in the open interval (0, 1) (stop/teleport probability)")
    return float(alpha)


def check_length(length) -> int:
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise WalkError(f"length={length!r} must be an integer >= 1 (steps per walk)")
    return int(length)


# ----------------------------------------------------------------------------- kernels


def _fmix(x):
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def _stream(seed, walker):
    """Per-walker stream id (uint32)."""
    return _fmix(seed ^ _fmix(walker.astype(jnp.uint32) + jnp.uint32(0x9E3779B9)))


def _uniform01(stream, step, draw=0):
    """Uniform in [0, 1) for (stream, step, draw): 24 random bits."""
    x = _fmix(stream ^ (jnp.asarray(step).astype(jnp.uint32) * jnp.uint32(0x27D4EB2F) + jnp.uint32(0x165667B1)))
    x = _fmix(x ^ (jnp.asarray(draw).astype(jnp.uint32) * jnp.uint32(0x9E3779B1) + jnp.uint32(0x7F4A7C15)))
    return (x >> 8).astype(jnp.float32) * jnp.float32(1.0 / (1 << 24))


def _seed(key):
    return jax.random.bits(key, (), jnp.uint32)


def _uniform_next(csr: CSR, u01, u):
    d = csr.degree[u]
    off = jnp.floor(u01 * d).astype(jnp.int32)
    v = csr.indices[jnp.clip(csr.indptr[u] + jnp.minimum(off, d - 1), 0, max(csr.num_edges - 1, 0))]
    return v, d > 0


def _walk_streams(key, n):
    return _stream(_seed(key), jnp.arange(n, dtype=jnp.uint32))


# On CPU `uniform_walks` and `node2vec_walks` run lib/native/walks.cc: the same draws and float32
# arithmetic as the vmapped kernels below (their pure-JAX twins: GPU/TPU, TESSERA_NATIVE=0), so
# the same walks, but each walker loops on its own: the twin's rejection rounds run every walker
# until the slowest accepts, and its binary searches are chains of gathers.
KERNEL = ("walks", (("tessera_walks", "TesseraWalks"),))


def _walks_native(csr: CSR, starts, key, p, q, *, length: int, candidates: int, mode: int, threads: int = 1):
    """(nodes, mask) by the native kernel (CPU only: call it through `native.cpu_or`); mode 0 is
    `_uniform`, mode 1 `_node2vec`; threads=0 keeps it on the calling thread (same result)."""
    w = starts.shape[0]
    call = jax.ffi.ffi_call("tessera_walks", (jax.ShapeDtypeStruct((w, length + 1), jnp.int32),
                                              jax.ShapeDtypeStruct((w, length + 1), jnp.bool_)),
                            vmap_method="sequential")
    out = call(csr.indptr.astype(jnp.int32), csr.indices.astype(jnp.int32), starts.astype(jnp.int32), _seed(key),
               jnp.stack([p, q]).astype(jnp.float32), mode=np.int32(mode), candidates=np.int32(candidates),
               threads=np.int32(threads))
    return native.varying_like(out, starts, key)


def uses_native() -> bool:
    """Whether `uniform_walks` / `node2vec_walks` traced now run the native CPU kernel (benchmarks)."""
    return native.enabled() and jax.default_backend() == "cpu" and native.load(*KERNEL)


@functools.partial(jax.jit, static_argnames=("length",))
def _uniform(csr: CSR, starts, key, length: int):
    one = jnp.float32(1.0)
    return native.cpu_or(functools.partial(_walks_native, length=length, candidates=1, mode=0),
                         lambda c, s, k, p, q: _uniform_jax(c, s, k, length), csr, starts, key, one, one,
                         kernel=KERNEL)


def _uniform_jax(csr: CSR, starts, key, length: int):
    def one(start, k):
        def step(carry, t):
            u, alive = carry
            v, moves = _uniform_next(csr, _uniform01(k, t), u)
            alive = alive & moves
            u = jnp.where(alive, v, u)
            return (u, alive), (u, alive)
        _, (nodes, mask) = jax.lax.scan(step, (start, jnp.bool_(True)), jnp.arange(length))
        return (jnp.concatenate([start[None], nodes]), jnp.concatenate([jnp.ones(1, bool), mask]))
    return jax.vmap(one)(starts, _walk_streams(key, starts.shape[0]))


def uniform_walks(csr: CSR, starts, key, length: int):
    """(nodes [W, length+1] int32, mask [W, length+1] bool): uniform random walks."""
    starts = check_starts(csr, starts)
    return _uniform(csr, jnp.asarray(starts, jnp.int32), key, check_length(length))


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _restart(csr: CSR, starts, key, alpha, max_steps: int):
    return _restart_impl(csr, starts, key, alpha, max_steps)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _restart_ends(csr: CSR, starts, key, alpha, max_steps: int):
    """(end [W], truncated [W]) only: the trajectories are not kept (fingerprints)."""
    _, _, ends, cut = _restart_impl(csr, starts, key, alpha, max_steps)
    return ends, cut


def _restart_impl(csr: CSR, starts, key, alpha, max_steps: int):
    def one(start, k):
        def step(carry, t):
            u, alive = carry
            go = _uniform01(k, t, 0) >= alpha
            v, moves = _uniform_next(csr, _uniform01(k, t, 1), u)
            alive = alive & go & moves
            u = jnp.where(alive, v, u)
            return (u, alive), (u, alive)
        (end, alive), (nodes, mask) = jax.lax.scan(step, (start, jnp.bool_(True)), jnp.arange(max_steps))
        return (jnp.concatenate([start[None], nodes]), jnp.concatenate([jnp.ones(1, bool), mask]), end, alive)
    nodes, mask, ends, truncated = jax.vmap(one)(starts, _walk_streams(key, starts.shape[0]))
    return nodes, mask, ends, truncated


def restart_walks(csr: CSR, starts, key, alpha: float, max_steps: int):
    """alpha-terminated walks: (nodes, mask, end [W], truncated [W]). A walk stops before each
    step with probability alpha, or at a node without out-edges; `truncated` walks were
    still going after `max_steps` (probability (1-alpha)^max_steps on a graph without sinks)."""
    starts = check_starts(csr, starts)
    alpha = check_alpha(alpha)
    return _restart(csr, jnp.asarray(starts, jnp.int32), key, jnp.float32(alpha), check_length(max_steps))


def _is_neighbor(csr: CSR, a, b):
    """b in row a (rows sorted): fixed-iteration binary search."""
    lo, end = csr.indptr[a], csr.indptr[a + 1]
    iters = max(1, int(math.ceil(math.log2(csr.max_degree + 1))) + 1)
    last = max(csr.num_edges - 1, 0)

    def body(_, c):
        lo, hi = c
        mid = (lo + hi) // 2
        less = csr.indices[jnp.clip(mid, 0, last)] < b
        active = lo < hi
        return jnp.where(active & less, mid + 1, lo), jnp.where(active & ~less, mid, hi)
    lo, _ = jax.lax.fori_loop(0, iters, body, (lo, end))
    return (lo < end) & (csr.indices[jnp.clip(lo, 0, last)] == b)


@functools.partial(jax.jit, static_argnames=("length", "candidates"))
def _node2vec(csr: CSR, starts, key, p, q, length: int, candidates: int):
    return native.cpu_or(functools.partial(_walks_native, length=length, candidates=candidates, mode=1),
                         functools.partial(_node2vec_jax, length=length, candidates=candidates),
                         csr, starts, key, p, q, kernel=KERNEL)


def _node2vec_jax(csr: CSR, starts, key, p, q, length: int, candidates: int):
    w_max = jnp.maximum(jnp.maximum(1.0 / p, 1.0), 1.0 / q)
    last = max(csr.num_edges - 1, 0)

    draws = jnp.arange(candidates, dtype=jnp.uint32)

    def second_order(k, t, prev, cur):
        d = csr.degree[cur]
        base = csr.indptr[cur]

        def cond(c):
            return ~c[2]

        def body(c):
            i, _, _ = c
            j = i.astype(jnp.uint32) * jnp.uint32(2 * candidates)
            off = jnp.floor(_uniform01(k, t, j + draws) * d).astype(jnp.int32)
            cand = csr.indices[jnp.clip(base + jnp.minimum(off, d - 1), 0, last)]
            adj = jax.vmap(lambda x: _is_neighbor(csr, prev, x))(cand)
            w = jnp.where(cand == prev, 1.0 / p, jnp.where(adj, 1.0, 1.0 / q))
            ok = _uniform01(k, t, j + jnp.uint32(candidates) + draws) * w_max < w
            first = jnp.argmax(ok)
            return i + 1, cand[first], ok[first]
        _, x, _ = jax.lax.while_loop(cond, body, (jnp.int32(0), cur, d == 0))
        return x, d > 0

    def one(start, k):
        v1, moves = _uniform_next(csr, _uniform01(k, 0), start)

        def step(carry, t):
            prev, cur, alive = carry
            x, moves = second_order(k, t, prev, cur)
            alive = alive & moves
            return (jnp.where(alive, cur, prev), jnp.where(alive, x, cur), alive), (jnp.where(alive, x, cur), alive)
        (_, _, _), (nodes, mask) = jax.lax.scan(step, (start, v1, moves), jnp.arange(1, length))
        head = jnp.stack([start, v1])
        return (jnp.concatenate([head, nodes]), jnp.concatenate([jnp.stack([jnp.bool_(True), moves]), mask]))
    return jax.vmap(one)(starts, _walk_streams(key, starts.shape[0]))


def node2vec_walks(csr: CSR, starts, key, length: int, p: float = 1.0, q: float = 1.0, candidates: int = 8):
    """(nodes, mask): node2vec second-order walks with return parameter p and in-out parameter q."""
    starts = check_starts(csr, starts)
    check_sorted_rows(csr)
    for name, v in (("p", p), ("q", q)):
        if not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
            raise WalkError(f"{name}={v!r} must be a finite number > 0")
    if not isinstance(candidates, int) or candidates < 1:
        raise WalkError(f"candidates={candidates!r} must be an integer >= 1")
    length = check_length(length)
    if length == 1:
        return uniform_walks(csr, starts, key, 1)
    return _node2vec(csr, jnp.asarray(starts, jnp.int32), key, jnp.float32(p), jnp.float32(q), length,
                     int(candidates))


def node2vec_probabilities(csr: CSR, prev: int, cur: int, p: float, q: float) -> dict:
    """Exact next-node distribution of node2vec at `cur` having come from `prev` (host, tests)."""
    indptr, idx = np.asarray(csr.indptr), np.asarray(csr.indices)
    nbr_prev = set(idx[indptr[prev]:indptr[prev + 1]].tolist())
    out: dict = {}
    for x in idx[indptr[cur]:indptr[cur + 1]].tolist():
        w = 1.0 / p if x == prev else (1.0 if x in nbr_prev else 1.0 / q)
        out[x] = out.get(x, 0.0) + w
    z = sum(out.values())
    return {k: v / z for k, v in out.items()}
