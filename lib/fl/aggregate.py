"""Aggregation rules: one signature, a registry by name, validation before compile.

Every rule is ``rule(updates, weights, state, key, **params) -> (aggregate, state)``:

* ``updates``: a pytree whose leaves have a leading client axis [K, ...];
* ``weights``: [K] float; a client with weight 0 is absent (a padded slot, a
  non-participant) and is never counted. Rules that are means use the weights as
  weights; the robust rules use them only as this presence mask (said per rule);
* ``state``: the rule's pytree state (``None`` on the first call); stateless rules
  return ``{}``; ``key``: a PRNG key (no rule here is random, but the slot is kept);
* the aggregate is a pytree like one client's update (leaf dtypes preserved).

Distance-based rules flatten the pytree to a [K, D] float32 matrix and work on the
Gram matrix ``G = X X^T`` (one pass over X: on CPU summed over column chunks, see
`_gram_full`); every later step (Krum scores, Bulyan's iterated selection, Weiszfeld
iterations, clipping, the Flag subspace) runs on [K, K] quantities, and the result is one
combination ``X^T c``. Centered clipping with few iterations for many clients skips G and
runs on X directly (two gemvs per iteration), which is then cheaper. Coordinate-wise rules find
exact order statistics on order-preserving integer keys (``lib.fl._select``), never by
XLA's sort: for up to ``_select.NET_MAX`` clients (median, trimmed mean) a pruned sorting
network over the client rows, fused into one pass over the columns; beyond, and for
Bulyan's coordinate stage, radix select by bisection on the key bits.

Non-finite updates: the robust rules (``RuleSpec.robust``, ``is_robust(name)``: the one
place that decides it) treat a client whose update has a NaN/inf as Byzantine
(coordinate-wise rules sort NaN to +inf, i.e. to an extreme; Gram rules give it an
infinite distance / zero weight). ``fedavg`` cannot: use ``has_nonfinite`` (the engine
does) to stop the run naming the client. When more clients are non-finite than a rule
withstands, its aggregate is not finite; the engine checks every rule's aggregate.

Names: fedavg, median, trimmed_mean(beta), krum(f), multi_krum(f, m), bulyan(f),
geometric_median(iterations, nu, tol), centered_clipping(tau, iterations), flag(m, lam);
secure_fedavg(frac_bits, groups, dropouts, threshold, neighbours): FedAvg through zero-sum masked
secure aggregation (lib.fl.secagg).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lib import native
from lib.config import ConfigError
from lib.fl import _select as sel
from lib.fl import secagg

_HI = jax.lax.Precision.HIGHEST


class AggregatorConfigError(ConfigError):
    """Unknown rule name or parameters the rule cannot run with."""


# ----------------------------------------------------------------------------- pytree helpers


def _flatten(updates):
    """pytree [K, ...] -> ([K, D] float32, unflatten([D]) -> pytree of one update)."""
    leaves, treedef = jax.tree.flatten(updates)
    k = leaves[0].shape[0]
    shapes = [l.shape[1:] for l in leaves]
    dtypes = [l.dtype for l in leaves]
    sizes = [math.prod(s) for s in shapes]
    mats = [l.reshape(k, -1).astype(jnp.float32) for l in leaves]
    x = mats[0] if len(mats) == 1 else jnp.concatenate(mats, axis=1)

    def unflatten(v):
        out, o = [], 0
        for s, z, dt in zip(shapes, sizes, dtypes):
            out.append(v[o:o + z].reshape(s).astype(dt))
            o += z
        return jax.tree.unflatten(treedef, out)

    return x, unflatten


def has_nonfinite(updates):
    """[K] bool: client k's update has a NaN or inf somewhere."""
    leaves = jax.tree.leaves(updates)
    k = leaves[0].shape[0]
    return ~jnp.stack([jnp.all(jnp.isfinite(l.reshape(k, -1)), axis=1) for l in leaves]).all(0)


# Column chunk of the CPU Gram product. XLA:CPU's single [K, D] x [D, K] dot with a long
# contraction runs at ~40 GFLOP/s on 2 cores; summing [K, c] x [c, K] products over column
# chunks that stay in L2 runs at ~80 (100 x 1M float32: 0.47 s -> 0.25 s). From _GRAM_TRI
# rows on, each chunk's product is done by 4 x 4 row blocks, the upper triangle only (10 of
# 16 block products; the lower blocks are transposes): ~25% less time at K = 1000.
_GRAM_CHUNK = 4096
_GRAM_TRI = 512


def _sym_dot(s):
    """S S^T; for many rows from the upper-triangular blocks of a 4 x 4 row split."""
    r = s.shape[0]
    if r < _GRAM_TRI:
        return jnp.dot(s, s.T, precision=_HI)
    cut = [0, r // 4, r // 2, 3 * r // 4, r]
    b = [s[cut[i]:cut[i + 1]] for i in range(4)]
    up = {(i, j): jnp.dot(b[i], b[j].T, precision=_HI) for i in range(4) for j in range(i, 4)}
    return jnp.block([[up[(i, j)] if j >= i else up[(j, i)].T for j in range(4)] for i in range(4)])


_GRAM_KERNEL = ("gram", (("tessera_gram", "TesseraGram"),))
_GRAM_NATIVE_MAX = 320  # rows; beyond, XLA's blocked product (the kernel's L2 panels get narrow: no gain at 500)


def _gram_native(x):
    """X X^T by lib/native/gram.cc (float32, summed per L2 panel then in double)."""
    call = jax.ffi.ffi_call("tessera_gram", jax.ShapeDtypeStruct((x.shape[0], x.shape[0]), jnp.float32),
                            vmap_method="sequential")
    return native.varying_like(call(x.astype(jnp.float32)), x)


def _gram_full(x, extra=None):
    """Y Y^T for Y = [X; extra] ([R, D] and [E, D] float32, without materialising Y): one dot
    (GPU/TPU), or on CPU summed over column chunks (one pass over X either way); on CPU
    without extra and for up to _GRAM_NATIVE_MAX rows, lib/native/gram.cc (the chunked XLA
    product is its twin)."""
    r, d = x.shape[0] + (0 if extra is None else extra.shape[0]), x.shape[1]
    c = _GRAM_CHUNK
    nc = d // c

    def cols(lo, hi):
        s = jax.lax.slice_in_dim(x, lo, hi, axis=1)
        return s if extra is None else jnp.concatenate([s, jax.lax.slice_in_dim(extra, lo, hi, axis=1)])

    def whole(x):
        t = x if extra is None else jnp.concatenate([x, extra])
        return jnp.dot(t, t.T, precision=_HI)

    if nc < 2:
        return whole(x)

    def chunked(x):
        def body(i, g):
            s = jax.lax.dynamic_slice_in_dim(x, i * c, c, 1)
            if extra is not None:
                s = jnp.concatenate([s, jax.lax.dynamic_slice_in_dim(extra, i * c, c, 1)])
            return g + _sym_dot(s)

        g = jax.lax.fori_loop(0, nc, body, jnp.zeros((r, r), jnp.float32))
        if nc * c < d:
            g = g + _sym_dot(cols(nc * c, d))
        return g

    def xla(x):
        return jax.lax.platform_dependent(x, cpu=chunked, default=whole)

    if extra is None and r <= _GRAM_NATIVE_MAX:
        # on CPU the native kernel (upper triangle of register tiles; the XLA path is its twin)
        return native.cpu_or(_gram_native, xla, x, kernel=_GRAM_KERNEL)
    return xla(x)


def _gram(x):
    """G = X X^T in float32 and the clients whose row is not finite (diag not finite)."""
    g = _gram_full(x)
    bad = ~jnp.isfinite(jnp.diagonal(g))
    return g, bad


def _on_finite_rows(fn, x, bad):
    """fn(X) with the rows of non-finite clients zeroed first, only when there are any.
    The cond is around fn, not around x: a cond that returns x (a [K, D] buffer) copies it,
    which on CPU costs ~20x the product X^T c itself."""
    return jax.lax.cond(jnp.any(bad), lambda: fn(jnp.where(bad[:, None], 0.0, x)), lambda: fn(x))


def _combine(x, c, bad):
    """X^T c; rows of non-finite clients (c = 0 there) are zeroed first, only when any."""
    return _on_finite_rows(lambda x: jnp.dot(c, x, precision=_HI), x, bad)


def _sq_dists(g, ok):
    """Squared distances from the Gram matrix; inf where either client is not `ok`."""
    sq = jnp.diagonal(g)
    d = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)
    both = ok[:, None] & ok[None, :]
    return jnp.where(both, d, jnp.inf)


# ----------------------------------------------------------------------------- rules


def fedavg(updates, weights, state, key):
    """Weighted mean sum_k w_k u_k / sum_k w_k (per leaf, no flattening).

    One weighted reduction per leaf (a gemv). Absent clients (w=0) are excluded even if
    their slot holds NaN: only when the result is not finite is it recomputed with those
    rows zeroed. A present client's NaN/inf does propagate; detect it with
    `has_nonfinite` (the engine stops the run)."""
    del key
    w = weights.astype(jnp.float32)
    wn = w / jnp.maximum(jnp.sum(w), 1e-30)

    def leaf(u):
        out = jnp.tensordot(wn, u.astype(jnp.float32), axes=1, precision=_HI)
        clean = lambda: jnp.tensordot(
            wn, jnp.where((w > 0).reshape((-1,) + (1,) * (u.ndim - 1)), u.astype(jnp.float32), 0.0),
            axes=1, precision=_HI)
        out = jax.lax.cond(jnp.all(jnp.isfinite(out)), lambda: out, clean)
        return out.astype(u.dtype)

    return jax.tree.map(leaf, updates), _empty(state)


def _empty(state):
    return {} if state is None else state


def _present_keys(xt, present):
    return jnp.where(present[:, None], sel.float_keys(xt), sel.INT_MAX)


def median(updates, weights, state, key):
    """Coordinate-wise median over present clients (weights: presence mask only).

    Same definition as numpy.median / Flower: for an even count n the mean of the
    (n/2-1)-th and (n/2)-th order statistics.

    Algorithm, K <= sel.NET_MAX clients: a sorting network on the K key rows, pruned to
    the two middle wires p = (K-1)//2 and p+1, in one fused pass over the columns. The
    K - n absent clients are pads: L = p - (n-1)//2 of them sort below everything and
    the rest above, so that the present values' middle order statistics land on wires p
    (and p+1 for even n) whatever n is (n is traced; nothing recompiles).
    K > NET_MAX, on CPU: the native kernel (lib/native/order_stats.cc): per tile of 64
    columns, pivots from a sorted 128-row sample, one counting pass to find each column's
    pivot gap holding ranks k and k+1, the ~30 keys inside it copied out and sorted by a
    small network. Elsewhere: per column tile, radix select of the ((n-1)//2)-th key (32
    counting passes), then one pass for the next order statistic (the same key if tied,
    else the smallest key above)."""
    del key
    x, unflatten = _flatten(updates)
    present = weights > 0
    n = jnp.sum(present).astype(jnp.int32)
    k = jnp.maximum((n - 1) // 2, 0)

    if x.shape[0] <= sel.NET_MAX:
        p = (x.shape[0] - 1) // 2
        wires = [p, p + 1] if x.shape[0] > 1 else [p]
        w = sel.sort_rows(sel.padded_key_rows(x, present, p - k), wires)
        a = sel.key_values(w[p])
        out = a if len(wires) == 1 else jnp.where(n % 2 == 1, a, (a + sel.key_values(w[p + 1])) / 2)
        return unflatten(jnp.where(n > 0, out, 0.0)), _empty(state)

    def tile(xt):
        keys = _present_keys(xt, present)
        t = sel.kth_key(keys, k)
        a = sel.key_values(t)
        b = sel.key_values(sel.next_key(keys, t, k))
        return jnp.where(n % 2 == 1, a, (a + b) / 2)

    out = sel.order_stats(x, present, jnp.stack([n, k, k + 1]), sel.MEDIAN, lambda x: sel.tiled(tile, x))
    return unflatten(jnp.where(n > 0, out, 0.0)), _empty(state)


def trimmed_mean(updates, weights, state, key, *, beta=0.1):
    """Coordinate-wise beta-trimmed mean (weights: presence mask only).

    With n present clients and c = floor(beta n) (Flower's / scipy.trim_mean's cut), the
    mean of the order statistics c .. n-c-1 of each coordinate.

    Algorithm, K <= sel.NET_MAX clients: a full sorting network on the K key rows
    (absent clients are pads above everything) and the sum of the values on wires
    c .. n-c-1 (masks on the traced bounds), all in one fused pass over the columns;
    ties need no care, each tied copy is on its own wire.
    K > NET_MAX: the order statistics a = x_(c) and b = x_(n-c-1) (on CPU by the native
    kernel, as in `median`, both ranks sharing its passes; elsewhere by radix select),
    then one pass summing the values strictly between them plus the exact
    number of copies of a and b that fall inside the kept range (ties handled exactly):
        sum = S(a < x < b) + a (#{x <= a} - c) + b (n - c - #{x < b})   (a < b),
        sum = a (n - 2c)                                                (a = b)."""
    del key
    x, unflatten = _flatten(updates)
    present = weights > 0
    n = jnp.sum(present).astype(jnp.int32)
    c = jnp.floor(beta * n.astype(jnp.float32)).astype(jnp.int32)
    hi = n - c  # kept order statistics: c .. hi-1

    if x.shape[0] <= sel.NET_MAX:
        w = sel.sort_rows(sel.padded_key_rows(x, present, 0))
        tot = None
        for r in range(x.shape[0]):
            v = jnp.where((r >= c) & (r < hi), sel.key_values(w[r]), 0.0)
            tot = v if tot is None else tot + v
        out = tot / jnp.maximum(hi - c, 1).astype(jnp.float32)
        return unflatten(jnp.where(n > 0, out, 0.0)), _empty(state)

    def tile(xt):
        keys = _present_keys(xt, present)
        ta = sel.kth_key(keys, c)
        tb = sel.kth_key(keys, jnp.maximum(hi - 1, 0))
        a, b = sel.key_values(ta), sel.key_values(tb)
        def row(r):
            kr = keys[r]
            inside = (kr > ta) & (kr < tb)
            return jnp.where(inside, xt[r], 0.0), (kr <= ta).astype(jnp.int32), (kr < tb).astype(jnp.int32)

        s, le_a, lt_b = sel.col_sums(row, xt.shape[0])
        tot = s + a * (le_a - c).astype(jnp.float32) + b * (hi - lt_b).astype(jnp.float32)
        tot = jnp.where(ta == tb, a * (hi - c).astype(jnp.float32), tot)
        return tot / jnp.maximum(hi - c, 1).astype(jnp.float32)

    out = sel.order_stats(x, present, jnp.stack([n, c, jnp.maximum(hi - 1, 0)]), sel.TRIMMED,
                          lambda x: sel.tiled(tile, x))
    out = jnp.where(n > 0, out, 0.0)
    return unflatten(out), _empty(state)


def _krum_scores(d, ok, f):
    """Krum score of each client: the sum of squared distances to its n-f-2 nearest
    other present clients (at least 1, as in Flower); inf for clients not `ok`."""
    k = d.shape[0]
    n = jnp.sum(ok)
    m = jnp.maximum(n - f - 2, 1)
    d = jnp.where(jnp.eye(k, dtype=bool), jnp.inf, d)
    srt = jnp.sort(d, axis=1)
    cs = jnp.cumsum(jnp.where(jnp.isfinite(srt), srt, 0.0), axis=1)
    s = jnp.take_along_axis(cs, jnp.full((k, 1), m - 1), axis=1)[:, 0]
    return jnp.where(ok, s, jnp.inf)


def _pick_order(scores, ok):
    """Scores with bad/absent clients last (finite large for present-but-inf rows)."""
    big = jnp.finfo(jnp.float32).max
    return jnp.where(ok, jnp.minimum(scores, big), jnp.inf)


def krum(updates, weights, state, key, *, f=0):
    """Krum (Blanchard et al. 2017): the present update with the smallest score, the sum
    of squared distances to its n - f - 2 nearest neighbours.

    Distances come from the Gram matrix (||a||^2 + ||b||^2 - 2 a.b, one matmul);
    scores from a sort of each [K] row and a cumulative sum. Non-finite and absent
    clients have infinite distances and are never chosen while a finite one is present."""
    del key
    x, unflatten = _flatten(updates)
    g, bad = _gram(x)
    ok = (weights > 0) & ~bad
    s = _pick_order(_krum_scores(_sq_dists(g, ok), ok, f), ok)
    i = jnp.argmin(s)
    out = jax.lax.dynamic_index_in_dim(x, i, 0, keepdims=False)
    return unflatten(out), _empty(state)


def multi_krum(updates, weights, state, key, *, f=0, m=None):
    """Multi-Krum: the weighted mean (client weights) of the m present updates with the
    smallest Krum scores (m = n - f by default). Gram distances, top_k on the scores."""
    del key
    x, unflatten = _flatten(updates)
    k = x.shape[0]
    g, bad = _gram(x)
    ok = (weights > 0) & ~bad
    s = _pick_order(_krum_scores(_sq_dists(g, ok), ok, f), ok)
    mm = k - f if m is None else m
    _, idx = jax.lax.top_k(-s, mm)
    chosen = jnp.zeros((k,), bool).at[idx].set(True) & ok
    w = jnp.where(chosen, weights, 0.0)
    c = w / jnp.maximum(jnp.sum(w), 1e-30)
    return unflatten(_combine(x, c, bad)), _empty(state)


def bulyan(updates, weights, state, key, *, f=0):
    """Bulyan (El Mhamdi et al. 2018) over Krum, as in the paper and Flower.

    1. Selection: theta = n - 2f times, pick the Krum winner among the remaining
       clients (scores recomputed on the remaining set) and remove it. All on [K, K]:
       each row of squared distances is sorted once; per step the remaining entries are
       gathered in that order and the n_rem - f - 2 smallest summed by a cumulative sum.
    2. Coordinate-wise, over the theta selected: the median (numpy's definition), then
       the mean of the beta = theta - 2f values closest to it. Both by radix select: the
       beta-th smallest |x - median| is selected on float keys; values strictly closer
       are summed, and the remaining places are filled with the mean of the values at
       exactly that distance (exact when they are equal).
    Weights are a presence mask only."""
    del key
    x, unflatten = _flatten(updates)
    k = x.shape[0]
    g, bad = _gram(x)
    ok = (weights > 0) & ~bad
    n = jnp.sum(ok).astype(jnp.int32)
    theta = jnp.maximum(n - 2 * f, 1)
    beta = jnp.maximum(theta - 2 * f, 1)
    d = _sq_dists(g, ok)
    d = jnp.where(jnp.eye(k, dtype=bool), jnp.inf, d)
    order = jnp.argsort(d, axis=1)
    dsrt = jnp.take_along_axis(d, order, axis=1)
    dsrt = jnp.where(jnp.isfinite(dsrt), dsrt, 0.0)

    def pick(t, carry):
        rem, chosen = carry
        nrem = jnp.sum(rem)
        m = jnp.maximum(nrem - f - 2, 1)
        rs = rem[order]  # [K, K] remaining, in each row's distance order
        cnt = jnp.cumsum(rs, axis=1)
        s = jnp.sum(jnp.where(rs & (cnt <= m), dsrt, 0.0), axis=1)
        s = jnp.where(rem, s, jnp.inf)
        i = jnp.argmin(s)
        act = t < theta
        return rem.at[i].set(rem[i] & ~act), chosen.at[i].set(chosen[i] | act)

    _, chosen = jax.lax.fori_loop(0, k, pick, (ok, jnp.zeros((k,), bool)))
    kmed = (theta - 1) // 2

    def tile(xt):
        keys = _present_keys(xt, chosen)
        t = sel.kth_key(keys, kmed)
        a = sel.key_values(t)
        b = sel.key_values(sel.next_key(keys, t, kmed))
        med = jnp.where(theta % 2 == 1, a, (a + b) / 2)
        # materialised once: otherwise XLA re-derives it inside every counting pass
        dk = jax.lax.optimization_barrier(
            jnp.where(chosen[:, None], sel.float_keys(jnp.abs(xt - med[None])), sel.INT_MAX))
        td = sel.kth_key(dk, beta - 1)

        def row(r):
            lt, eq = dk[r] < td, dk[r] == td
            return (jnp.where(lt, xt[r], 0.0), jnp.where(eq, xt[r], 0.0),
                    lt.astype(jnp.int32), eq.astype(jnp.int32))

        s_lt, s_eq, c_lt, c_eq = sel.col_sums(row, xt.shape[0])
        c_eq = jnp.maximum(c_eq, 1)
        fill = (beta - c_lt).astype(jnp.float32) / c_eq.astype(jnp.float32)
        return (s_lt + fill * s_eq) / beta.astype(jnp.float32)

    out = jnp.where(n > 0, sel.tiled(tile, x), 0.0)
    return unflatten(out), _empty(state)


def geometric_median(updates, weights, state, key, *, iterations=100, nu=1e-6, tol=1e-6):
    """Smoothed Weiszfeld (RFA, Pillutla et al. 2022): z <- sum_i b_i x_i / sum_i b_i with
    b_i = w_i / max(nu, ||z - x_i||), from the weighted mean, until the step
    ||z_new - z|| is at most tol times the median distance from z to the clients, or for
    `iterations` iterations at most (the cap).

    z stays in the span of the updates, z = X^T c, so every iteration is [K, K] work:
    ||z - x_i||^2 = G_ii - 2 (G c)_i + c^T G c, ||z_new - z||^2 = d^T G d (d = c_new - c).
    Weiszfeld converges linearly: far outliers lose weight by a constant factor per
    iteration (3 of 20 clients at 1e12 take ~25 iterations to be weighed down to their
    influence on the true geometric median), so a fixed small count is not enough.
    Non-finite clients get weight 0 (infinite distance)."""
    del key
    x, unflatten = _flatten(updates)
    g, bad = _gram(x)
    ok = (weights > 0) & ~bad
    w = jnp.where(ok, weights, 0.0).astype(jnp.float32)
    gs = jnp.where(ok[:, None] & ok[None, :], g, 0.0)
    c0 = w / jnp.maximum(jnp.sum(w), 1e-30)

    def dists(c):
        gc = gs @ c
        return jnp.sqrt(jnp.maximum(jnp.diagonal(gs) - 2 * gc + c @ gc, 0.0))

    def body(carry):
        i, c, _ = carry
        dist = dists(c)
        b = w / jnp.maximum(nu, dist)
        new = b / jnp.maximum(jnp.sum(b), 1e-30)
        d = new - c
        step = jnp.sqrt(jnp.maximum(d @ (gs @ d), 0.0))
        scale = _masked_median(dist, ok)
        return i + 1, new, step > tol * jnp.maximum(scale, nu)

    _, c, _ = jax.lax.while_loop(lambda t: (t[0] < iterations) & t[2], body, (jnp.int32(0), c0, jnp.bool_(True)))
    return unflatten(_combine(x, c, bad)), _empty(state)


def centered_clipping(updates, weights, state, key, *, tau=1.0, iterations=3):
    """Centered clipping (Karimireddy et al. 2021), weighted:
    v <- v + sum_i a_i clip_tau(x_i - v), clip_tau(y) = y min(1, tau / ||y||),
    a = w / sum w, from the previous round's aggregate v_0 (the state; 0 at first).

    Two algorithms, the cheaper for (K, iterations) picked at trace time (`_cc_direct_cheaper`):
    * direct: per iteration two read passes over X, a gemv X v for the K distances ||x_i - v||
      and one for the combination X^T (a min(1, tau/dist)) (+ one pass for the norms);
    * Gram: v = s v_0 + X^T c at every iteration, so distances need only G, X v_0 and
      ||v_0||^2 (all from one Gram pass over [X; v_0], K^2 D multiply-adds); then [K, K] work
      per iteration and one combination. Better when iterations are many for few clients.
    Non-finite clients: weight 0.

    tau: a radius, or "median": at every iteration the median over present clients of
    ||x_i - v|| (the radius then follows the scale of the updates; a fixed tau = 1 never
    clips MNIST deltas of norm ~0.1-1, which makes the rule FedAvg). With a honest majority
    the median distance is a honest client's, so a Byzantine update is clipped to it."""
    del key
    x, unflatten = _flatten(updates)
    k = x.shape[0]
    if _cc_direct_cheaper(k, iterations):
        v0 = None
        if state is not None and "center" in state:
            v0 = _flatten(jax.tree.map(lambda a: a[None], state["center"]))[0][0]
        out = unflatten(_cc_direct(x, weights, v0, tau, iterations))
        return out, {"center": out}
    if state is None or "center" not in state:  # v0 = 0: known at trace time
        v0 = None
        g, bad = _gram(x)
        xv, vv = jnp.zeros((k,), jnp.float32), jnp.float32(0.0)
    else:  # X v0 and ||v0||^2 come with G from one pass: the Gram matrix of [X; v0]
        v0, _ = _flatten(jax.tree.map(lambda a: a[None], state["center"]))
        ge = _gram_full(x, v0)
        g, xv, vv = ge[:k, :k], ge[:k, k], ge[k, k]
        bad = ~jnp.isfinite(jnp.diagonal(g))
        v0 = v0[0]
    ok = (weights > 0) & ~bad
    xv = jnp.where(ok, xv, 0.0)
    w = jnp.where(ok, weights, 0.0).astype(jnp.float32)
    a = w / jnp.maximum(jnp.sum(w), 1e-30)
    gs = jnp.where(ok[:, None] & ok[None, :], g, 0.0)

    def it(_, sc):
        s, c = sc
        gc = gs @ c
        # ||x_i - v||^2 with v = s v0 + X^T c
        dist2 = jnp.diagonal(gs) - 2 * (s * xv + gc) + s * s * vv + 2 * s * (c @ xv) + c @ gc
        dist = jnp.sqrt(jnp.maximum(dist2, 1e-30))
        t = _masked_median(dist, ok) if tau == "median" else tau
        scale = a * jnp.minimum(1.0, t / dist)
        return s - jnp.sum(scale) * s, c - jnp.sum(scale) * c + scale

    s, c = jax.lax.fori_loop(0, iterations, it, (jnp.float32(1.0), jnp.zeros_like(a)))
    v = _combine(x, c, bad)
    if v0 is not None:
        v = v + s * v0
    out = unflatten(v)
    return out, {"center": out}


def _cc_direct_cheaper(k, iterations):
    """~2 x iterations read passes against the Gram product, which costs about K/8 read passes
    on a 2-core CPU (measured: 100 x 1M float32, Gram 0.23 s, one gemv pass 0.014 s)."""
    return 2 * iterations < k // 8


def _cc_direct(x, weights, v0, tau, iterations):
    """Centered clipping on X directly: per iteration the distances ||x_i - v||^2 =
    ||x_i||^2 - 2 x_i.v + ||v||^2 (one gemv; the squared norms once, as the Gram path has
    them: XLA:CPU runs sum((x - v)^2, 1) ~15x slower than sum(x^2, 1) or X v) and
    v <- v + X^T s - (sum s) v, s_i = a_i min(1, tau / dist_i). A client whose squared norm
    is not finite (a NaN/inf row) has weight 0, as in the Gram path."""
    v = jnp.zeros((x.shape[1],), jnp.float32) if v0 is None else v0
    sq = jnp.sum(x * x, axis=1)
    bad = ~jnp.isfinite(sq)

    def dists(v):
        xv = _on_finite_rows(lambda x: jnp.dot(x, v, precision=_HI), x, bad)
        return jnp.maximum(sq - 2.0 * xv + jnp.dot(v, v, precision=_HI), 0.0)

    d2 = dists(v) if v0 is not None else jnp.where(bad, 0.0, sq)
    ok = (weights > 0) & ~bad
    w = jnp.where(ok, weights, 0.0).astype(jnp.float32)
    a = w / jnp.maximum(jnp.sum(w), 1e-30)

    def it(i, carry):
        v, d2 = carry
        dist = jnp.sqrt(jnp.maximum(jnp.where(ok, d2, 1.0), 1e-30))
        t = _masked_median(dist, ok) if tau == "median" else tau
        scale = a * jnp.minimum(1.0, t / dist)
        v = v + _combine(x, scale, bad) - jnp.sum(scale) * v
        d2 = jax.lax.cond(i + 1 < iterations, dists, lambda v: d2, v)
        return v, d2

    v, _ = jax.lax.fori_loop(0, iterations, it, (v, d2))
    return v


def flag(updates, weights, state, key, *, m=1, lam=0.0, rescale=True, seed=1):
    """Flag Aggregator (Almasi et al., ICLR 2024), one IRLS step.

    1. x_i = u_i / ||u_i|| (present, finite clients). 2. Y0: orthonormalised (QR)
    uniform(-1/2, 1/2) [D, m] matrix from a fixed `seed`. 3. One IRLS step: weights
    w_i = (|1 - ||Y0^T x_i||^2| + 1e-7)^(-1/4), and for lam > 0 pair columns
    w_ij (x_i - x_j), w_ij = lam / (p(p-1)) (|1 - ||Y0^T(x_i - x_j)||^2| + 1e-7)^(-1/4)
    over ordered pairs; Y1 = top-m left singular vectors of the weighted column matrix.
    4. Keep Y1 only if sum_i sqrt(max(0, 1 - ||Y^T x_i||^2)) decreased, else Y0.
    5. Aggregate = (1/m) sum_i Y Y^T x_i (the reference), or, with rescale=True (the
    default, for FL deltas whose scale matters), the mean over clients of Y Y^T x_i times
    the median client norm.

    All in the span of the updates: the column matrix is A = X~^T B, so its left
    singular vectors are X~^T a with a from the [K, K] eigenproblem of
    S M S, S = G~^(1/2), M = B B^T = diag(w^2) + Laplacian(2 w_ij^2), a = S^+ b.
    Weights are a presence mask only."""
    del key
    x, unflatten = _flatten(updates)
    k, d = x.shape
    g, bad = _gram(x)
    ok = (weights > 0) & ~bad
    okf = ok.astype(jnp.float32)
    p = jnp.sum(okf)
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(g), 0.0))
    inv = jnp.where(ok & (norms > 0), 1.0 / jnp.where(norms > 0, norms, 1.0), 0.0)
    gt = g * inv[:, None] * inv[None, :]
    gt = jnp.where(ok[:, None] & ok[None, :], gt, 0.0)

    y0 = jax.random.uniform(jax.random.PRNGKey(seed), (d, m), jnp.float32, -0.5, 0.5)
    y0, _ = jnp.linalg.qr(y0)
    z0 = _on_finite_rows(lambda x: jnp.dot(x, y0, precision=_HI), x, bad).T * inv[None, :]  # [m, K] = Y0^T x_i

    wi = okf * (jnp.abs(1 - jnp.sum(z0**2, 0)) + 1e-7) ** -0.25
    mm = jnp.diag(wi**2)
    if lam > 0:
        diff = z0[:, :, None] - z0[:, None, :]
        wij = lam / jnp.maximum(p * (p - 1), 1.0) * (jnp.abs(1 - jnp.sum(diff**2, 0)) + 1e-7) ** -0.25
        wij = wij * (okf[:, None] * okf[None, :]) * (1 - jnp.eye(k))
        w2 = 2 * wij**2
        mm = mm + jnp.diag(jnp.sum(w2, 1)) - w2
    lam_g, q = jnp.linalg.eigh(gt)
    lam_g = jnp.maximum(lam_g, 0.0)
    tol = jnp.max(lam_g) * k * 1e-6
    sroot = (q * jnp.sqrt(lam_g)) @ q.T
    spinv = (q * jnp.where(lam_g > tol, 1 / jnp.sqrt(jnp.where(lam_g > tol, lam_g, 1.0)), 0.0)) @ q.T
    _, vecs = jnp.linalg.eigh(sroot @ mm @ sroot)
    a = spinv @ vecs[:, ::-1][:, :m]  # [K, m]: Y1 = X~^T a
    z1 = a.T @ gt  # [m, K] = Y1^T x_i

    obj = lambda z: jnp.sum(okf * jnp.sqrt(jnp.maximum(0.0, 1 - jnp.sum(z**2, 0))))
    use1 = obj(z1) < obj(z0)
    coef = jnp.where(use1, 1.0, 0.0)
    # sum_i Y Y^T x_i = Y (sum_i z_i)
    agg1 = _combine(x, (a @ jnp.sum(z1 * okf, 1)) * inv, bad)
    agg0 = y0 @ jnp.sum(z0 * okf, 1)
    agg = coef * agg1 + (1 - coef) * agg0
    if rescale:
        med = _masked_median(norms, ok)
        agg = agg * med / jnp.maximum(p, 1.0)
    else:
        agg = agg / m
    return unflatten(agg), _empty(state)


def _masked_median(v, ok):
    n = jnp.sum(ok)
    s = jnp.sort(jnp.where(ok, v, jnp.inf))
    lo = s[jnp.maximum((n - 1) // 2, 0)]
    hi = s[jnp.maximum(n // 2, 0)]
    return jnp.where(n > 0, (lo + hi) / 2, 0.0)


# ----------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    fn: Callable
    defaults: dict
    check: Callable[..., None]  # check(n, f, byzantine, **params) raises AggregatorConfigError
    robust: bool  # tolerates Byzantine / non-finite clients; False: a plain mean (the run stops on NaN)


def _no_check(n, f, byzantine, **params):
    pass


def _check_majority(name):
    def check(n, f, byzantine, **params):
        if 2 * byzantine >= n:
            raise AggregatorConfigError(
                f"{name} tolerates fewer than half Byzantine clients; {byzantine} of n={n} are Byzantine")
    return check


def _check_f_covers(name, f, byzantine):
    if f < byzantine:
        raise AggregatorConfigError(
            f"{name} is set up for f={f} Byzantine clients but {byzantine} take part in a round: set f >= {byzantine}")


def _check_krum(n, f, byzantine=0, name="krum", **params):
    if n <= 2 * f + 2:
        raise AggregatorConfigError(f"{name} needs n > 2f + 2 clients; got n={n}, f={f}")
    _check_f_covers(name, f, byzantine)


def _check_multi_krum(n, f, byzantine, m=None, **params):
    _check_krum(n, f, byzantine, name="multi_krum")
    if m is not None and not 1 <= m <= n:
        raise AggregatorConfigError(f"multi_krum: m={m} must be in [1, n={n}]")


def _check_bulyan(n, f, byzantine, **params):
    if n < 4 * f + 3:
        raise AggregatorConfigError(f"bulyan needs n >= 4f + 3 clients; got n={n}, f={f}")
    _check_f_covers("bulyan", f, byzantine)


def _check_trimmed(n, f, byzantine, beta=0.1, **params):
    if not 0 <= beta < 0.5:
        raise AggregatorConfigError(f"trimmed_mean: beta={beta} must be in [0, 0.5)")
    cut = int(np.floor(np.float32(beta) * np.float32(n)))  # as the rule computes it
    if cut < byzantine:
        raise AggregatorConfigError(
            f"trimmed_mean: beta={beta} trims floor(beta n) = {cut} of n={n} clients per side, but {byzantine} are "
            f"Byzantine: use beta >= {byzantine / n:.4g}")


def _check_geomed(n, f, byzantine, iterations=100, nu=1e-6, tol=1e-6, **params):
    _check_majority("geometric_median")(n, f, byzantine)
    if iterations < 1:
        raise AggregatorConfigError(f"geometric_median: iterations={iterations} must be >= 1")
    if not nu > 0:
        raise AggregatorConfigError(f"geometric_median: nu={nu} must be > 0")
    if not tol >= 0:
        raise AggregatorConfigError(f"geometric_median: tol={tol} must be >= 0")


def _check_cc(n, f, byzantine, tau=1.0, iterations=3, **params):
    _check_majority("centered_clipping")(n, f, byzantine)
    if tau != "median" and not (isinstance(tau, (int, float)) and tau > 0):
        raise AggregatorConfigError(f"centered_clipping: tau={tau!r} must be > 0 or 'median'")
    if iterations < 1:
        raise AggregatorConfigError(f"centered_clipping: iterations={iterations} must be >= 1")


def _check_flag(n, f, byzantine, m=1, lam=0.0, rescale=True, seed=1, **params):
    _check_majority("flag")(n, f, byzantine)
    if not 1 <= m <= n:
        raise AggregatorConfigError(f"flag: subspace dimension m={m} must be in [1, n={n}]")
    if lam < 0:
        raise AggregatorConfigError(f"flag: lam={lam} must be >= 0")


def _spec(fn, check, robust=True, **defaults):
    static = tuple(defaults)
    return RuleSpec(jax.jit(fn, static_argnames=static), defaults, check, robust)


RULES: dict[str, RuleSpec] = {
    "fedavg": _spec(fedavg, _no_check, robust=False),
    "median": _spec(median, _check_majority("median")),
    "trimmed_mean": _spec(trimmed_mean, _check_trimmed, beta=0.1),
    "krum": _spec(krum, _check_krum, f=0),
    "multi_krum": _spec(multi_krum, _check_multi_krum, f=0, m=None),
    "bulyan": _spec(bulyan, _check_bulyan, f=0),
    "geometric_median": _spec(geometric_median, _check_geomed, iterations=100, nu=1e-6, tol=1e-6),
    "centered_clipping": _spec(centered_clipping, _check_cc, tau=1.0, iterations=3),
    "flag": _spec(flag, _check_flag, m=1, lam=0.0, rescale=True, seed=1),
    "secure_fedavg": _spec(secagg.secure_fedavg, secagg.check, robust=False,
                           frac_bits=24, groups=1, dropouts=0, threshold=0, neighbours=2),
}


def _spec_of(name):
    if name not in RULES:
        raise AggregatorConfigError(f"aggregator={name!r} is unknown; choose one of {sorted(RULES)}")
    return RULES[name]


def get_rule(name: str) -> Callable:
    """The jitted rule `name`: rule(updates, weights, state, key, **params)."""
    return _spec_of(name).fn


def is_robust(name: str) -> bool:
    """Whether rule `name` tolerates Byzantine and non-finite client updates (the registry's
    property; a non-robust rule is a plain mean, and a run using it stops on a NaN update)."""
    return _spec_of(name).robust


def validate(name: str, n: int, f: int = 0, *, byzantine: int = 0, **params: Any) -> None:
    """Raises AggregatorConfigError for an unknown name or parameter, or a (n, f, params)
    the rule cannot run with. `n` is the number of aggregated clients, `f` the number of
    Byzantine clients the rule is configured for (also passed to rules that take `f`), and
    `byzantine` the number of Byzantine clients that take part in one aggregation: a
    robust rule must be set up to withstand them (trimmed_mean trims at least that many,
    krum/bulyan have f >= byzantine, median-like rules need a honest majority)."""
    spec = _spec_of(name)
    f = params.pop("f", f)
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise AggregatorConfigError(
            f"aggregator={name!r}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(spec.defaults)}")
    if n < 1:
        raise AggregatorConfigError(f"aggregator={name!r}: n={n} clients, need >= 1")
    if f < 0 or byzantine < 0:
        raise AggregatorConfigError(f"aggregator={name!r}: f={f} and byzantine={byzantine} must be >= 0")
    merged = {**spec.defaults, **params}
    merged.pop("f", None)
    spec.check(n, f, byzantine, **merged)


def rule_params(name: str, f: int = 0, **params: Any) -> dict:
    """The keyword parameters to call rule `name` with (its `f` filled in when it has one)."""
    spec = _spec_of(name)
    out = dict(params)
    if "f" in spec.defaults:
        out["f"] = f
    return out


# ----------------------------------------------------------------------------- defenses
#
# A defense is a pre-aggregation stage in front of any rule above:
#   stage(updates, weights, key, *, f, **params) -> (updates, weights)
# (FLTrust also takes the server's own update `root`). `defended(rule, stages)` chains the
# stages and the rule into one function with the rule signature, so every rule composes
# with every defense. Client (worker) momentum is the one client-side defense: it changes
# what an honest client sends, so it wraps the local update (`worker_momentum`) and the
# attack then sees the honest momenta, as in the paper.


def bucketing(updates, weights, key, *, f=0, s=2):
    """Bucketing (Karimireddy, He & Jaggi, ICLR 2022): randomly permute the present clients
    (from `key`), average them in consecutive buckets of s (weighted by their weights), and
    hand the ceil(K/s) bucket means to the rule (bucket weight: sum of its members'). A
    Byzantine client contaminates at most one bucket, so the rule sees at most f bad rows
    out of ceil(n/s). Absent clients sort last and fill only absent buckets (weight 0)."""
    del f
    leaves = jax.tree.leaves(updates)
    k = leaves[0].shape[0]
    nb = -(-k // s)
    present = weights > 0
    r = jax.random.uniform(key, (k,))
    order = jnp.argsort(jnp.where(present, r, 2.0 + r))
    w = jnp.where(present, weights, 0.0).astype(jnp.float32)[order]
    pad = nb * s - k
    wb = jnp.pad(w, (0, pad)).reshape(nb, s)
    wsum = jnp.sum(wb, 1)

    wn = wb / jnp.maximum(wsum, 1e-30)[:, None]  # [nb, s] member weight within its bucket
    slots = jnp.pad(order, (0, pad), constant_values=k).reshape(nb, s)  # k: a pad slot

    def leaf(u):
        # s row gathers (one per bucket position), each scaled and added: memory passes only
        tail = (1,) * (u.ndim - 1)
        out = 0.0
        for j in range(s):
            rows = u[jnp.minimum(slots[:, j], k - 1)].astype(jnp.float32)  # a pad slot has weight 0
            wj = wn[:, j].reshape((-1,) + tail)
            out = out + jnp.where(wj > 0, rows, 0.0) * wj  # absent slots may hold NaN
        return out.astype(u.dtype)

    return jax.tree.map(leaf, updates), wsum


def nnm(updates, weights, key, *, f=0):
    """Nearest-neighbour mixing (Allouah et al., AISTATS 2023, "Fixing by mixing"): every
    present update is replaced by the mean of its n - f nearest present updates (itself
    included). [K, K] distances from the Gram matrix, one [K, K] x [K, D] product."""
    del key
    x, unflatten = _flatten(updates)
    k = x.shape[0]
    g, bad = _gram(x)
    ok = (weights > 0) & ~bad
    n = jnp.sum(ok)
    d = _sq_dists(g, ok)
    d = jnp.where(jnp.eye(k, dtype=bool) & ok[:, None], -1.0, d)  # self first
    rank = jnp.argsort(jnp.argsort(d, axis=1), axis=1)
    m = jnp.maximum(n - f, 1)
    mix = ((rank < m) & ok[None, :]).astype(jnp.float32)
    mix = mix / jnp.maximum(jnp.sum(mix, 1, keepdims=True), 1.0)
    mixed = _combine_rows(x, mix, bad)
    out = jnp.where(ok[:, None], mixed, x)
    return _unflatten_rows(out, updates), weights


def _combine_rows(x, m, bad):
    """M X with the rows of non-finite clients zeroed first, only when any."""
    return _on_finite_rows(lambda x: jnp.dot(m, x, precision=_HI), x, bad)


def _unflatten_rows(x, like):
    leaves, treedef = jax.tree.flatten(like)
    out, o = [], 0
    for l in leaves:
        z = math.prod(l.shape[1:])
        out.append(x[:, o:o + z].reshape(l.shape).astype(l.dtype))
        o += z
    return jax.tree.unflatten(treedef, out)


def dnc(updates, weights, key, *, f=0, c=1.0, iterations=1, sub_dim=10000):
    """Divide-and-Conquer (Shejwalkar & Houmansadr, NDSS 2021, Algorithm 2): `iterations`
    times, sample `sub_dim` coordinates (from `key`), centre the present updates on those,
    take the top right singular vector v (here from the [K, K] centred Gram matrix:
    ((g_i - mu) . v)^2 = lambda_1 u_i^2), and mark the floor(c f) present clients with the
    largest scores; a client stays only if it was never marked. Output: the same updates,
    weight 0 for the removed ones (the rule, e.g. fedavg as in the paper, averages the rest)."""
    x, _ = _flatten(updates)
    k, d = x.shape
    ok = (weights > 0) & jnp.all(jnp.isfinite(x), 1)
    okf = ok.astype(jnp.float32)
    n = jnp.sum(ok)
    drop = int(math.floor(c * f))
    b = min(sub_dim, d)
    keep = ok
    for it in range(iterations):
        cols = jax.random.choice(jax.random.fold_in(key, it), d, (b,), replace=False) if b < d else jnp.arange(d)
        xs = jnp.where(ok[:, None], x[:, cols], 0.0)
        mu = jnp.dot(okf, xs, precision=_HI) / jnp.maximum(n, 1)
        z = jnp.where(ok[:, None], xs - mu, 0.0)
        lam, vecs = jnp.linalg.eigh(_gram_full(z))
        score = jnp.where(ok, lam[-1] * vecs[:, -1] ** 2, -jnp.inf)
        rank = jnp.argsort(jnp.argsort(-score))  # 0 = largest score
        keep = keep & (rank >= drop)
    return updates, jnp.where(keep, weights, 0.0)


def fltrust(updates, weights, key, *, f=0, root=None):
    """FLTrust (Cao, Fang, Liu & Gong, NDSS 2021): with g_0 the server's update on its small
    clean root set (`root`, a pytree like one update), trust TS_i = ReLU(cos(g_i, g_0)); each
    g_i is rescaled to ||g_0||; the new weights are TS_i (times presence). Followed by fedavg
    this is FLTrust's aggregate sum_i TS_i g^_i / sum_i TS_i."""
    del key, f
    x, unflatten = _flatten(updates)
    g0 = _flatten(jax.tree.map(lambda a: jnp.asarray(a)[None], root))[0][0]
    # one read of X for the norms and the dots with g0 (a row with a NaN/inf, or whose squared
    # norm overflows, has a non-finite one: it is dropped, as a zero row of trust 0), then one
    # pass writing the rescaled rows
    sq = jnp.sum(x * x, axis=1)
    dots = jnp.dot(x, g0, precision=_HI)
    ok = (weights > 0) & jnp.isfinite(sq) & jnp.isfinite(dots)
    ni = jnp.sqrt(jnp.where(ok, sq, 0.0))
    n0 = jnp.linalg.norm(g0)
    cos = jnp.where(ok, dots, 0.0) / jnp.maximum(ni * n0, 1e-30)
    ts = jnp.where(ok, jax.nn.relu(cos), 0.0)
    scale = jnp.where(ok, n0 / jnp.maximum(ni, 1e-30), 0.0)
    scaled = jnp.where(ok[:, None], x * scale[:, None], 0.0)
    return _unflatten_rows(scaled, updates), ts


def worker_momentum(local_update, client_state_init=None, *, beta=0.9):
    """Client (worker) momentum (Karimireddy, He & Jaggi, ICML 2021, "Learning from history
    for Byzantine robust optimization"): client i sends m_i <- beta m_i + (1 - beta) delta_i
    instead of its delta (m_i = 0 before its first round; kept in the per-client state).
    Returns (local_update, client_state_init) for lib.fl.engine.build; an attack replaces a
    Byzantine client's sent momentum, computed from the honest clients' momenta."""
    def init(params):
        inner = client_state_init(params) if client_state_init is not None else ()
        return {"inner": inner, "momentum": jax.tree.map(jnp.zeros_like, params)}

    def update(params, pool, client, cstate, key, hparams):
        delta, inner, metrics = local_update(params, pool, client, cstate["inner"], key, hparams)
        m = jax.tree.map(lambda a, d: (beta * a + (1 - beta) * d.astype(a.dtype)).astype(d.dtype),
                         cstate["momentum"], delta)
        return m, {"inner": inner, "momentum": m}, metrics

    return update, init


@dataclasses.dataclass(frozen=True)
class DefenseSpec:
    fn: Callable | None  # None: client-side (worker_momentum, wired by the engine)
    defaults: dict
    check: Callable[..., tuple[int, int]]  # check(n, f, byzantine, **params) -> (n, byzantine) seen next


def _chk_bucketing(n, f, byzantine, s=2):
    if not isinstance(s, int) or s < 1:
        raise AggregatorConfigError(f"bucketing: bucket size s={s!r} must be an int >= 1")
    if s > n:
        raise AggregatorConfigError(f"bucketing: bucket size s={s} is larger than the cohort of n={n} clients")
    nb = -(-n // s)
    return nb, min(byzantine, nb)


def _chk_nnm(n, f, byzantine):
    if f < byzantine:
        raise AggregatorConfigError(f"nnm: f={f} but {byzantine} Byzantine clients take part: set f >= {byzantine}")
    if 2 * f >= n:
        raise AggregatorConfigError(f"nnm needs n > 2f; got n={n}, f={f}")
    return n, byzantine


def _chk_dnc(n, f, byzantine, c=1.0, iterations=1, sub_dim=10000):
    if not c > 0 or iterations < 1 or sub_dim < 1:
        raise AggregatorConfigError(f"dnc: c={c} must be > 0, iterations={iterations} and sub_dim={sub_dim} >= 1")
    drop = int(math.floor(c * f))
    if drop >= n:
        raise AggregatorConfigError(f"dnc: removes floor(c f) = {drop} clients per iteration of n={n}")
    return n - drop, byzantine


def _chk_fltrust(n, f, byzantine, root=None):
    return n, byzantine


def _chk_momentum(n, f, byzantine, beta=0.9):
    if not 0 <= beta < 1:
        raise AggregatorConfigError(f"momentum: beta={beta} must be in [0, 1)")
    return n, byzantine


DEFENSES: dict[str, DefenseSpec] = {
    "bucketing": DefenseSpec(bucketing, dict(s=2), _chk_bucketing),
    "nnm": DefenseSpec(nnm, {}, _chk_nnm),
    "dnc": DefenseSpec(dnc, dict(c=1.0, iterations=1, sub_dim=10000), _chk_dnc),
    "fltrust": DefenseSpec(fltrust, {}, _chk_fltrust),
    "momentum": DefenseSpec(None, dict(beta=0.9), _chk_momentum),
}


class RootSetError(AggregatorConfigError):
    """FLTrust's server root set is empty or shares no label with the task."""


def validate_root(root_labels, task_labels) -> None:
    """RootSetError when the root set is empty or has no label the clients have."""
    root_labels = np.asarray(root_labels)
    if root_labels.size == 0:
        raise RootSetError("fltrust: the server root set is empty (set root_size >= 1)")
    common = np.intersect1d(np.unique(root_labels), np.unique(np.asarray(task_labels)))
    if common.size == 0:
        raise RootSetError(f"fltrust: the root set's labels {np.unique(root_labels)[:10].tolist()} share none "
                           "with the clients' labels")


def _norm_defenses(defenses):
    out = []
    for d in defenses or ():
        name, params = (d, {}) if isinstance(d, str) else (d[0], dict(d[1] or {}))
        if name not in DEFENSES:
            raise AggregatorConfigError(f"defense={name!r} is unknown; choose one of {sorted(DEFENSES)}")
        unknown = set(params) - set(DEFENSES[name].defaults)
        if unknown:
            raise AggregatorConfigError(
                f"defense={name!r}: unknown parameter(s) {sorted(unknown)}; allowed {sorted(DEFENSES[name].defaults)}")
        out.append((name, {**DEFENSES[name].defaults, **params}))
    return out


def validate_defended(name: str, n: int, f: int = 0, *, byzantine: int = 0, defenses=(), **params) -> None:
    """`validate` for the rule behind the defense stages: each stage checks its own
    parameters (bucketing: s <= n) and passes on what the rule will see (bucketing: ceil(n/s)
    rows of which up to `byzantine` contaminated; DnC: n - floor(c f) survivors), then the
    rule is checked on that (e.g. Krum after bucketing s=2 at n=20, f=4: 10 <= 2f + 2)."""
    f = params.pop("f", f)
    names = [d for d, _ in _norm_defenses(defenses)]
    if len(set(names)) != len(names):
        raise AggregatorConfigError(f"defenses {names} repeat a stage")
    for dn, dp in _norm_defenses(defenses):
        n, byzantine = DEFENSES[dn].check(n, f, byzantine, **dp)
    validate(name, n, f, byzantine=byzantine, **params)


def defended(name: str, rule_params: dict | None = None, defenses=(), f: int = 0):
    """The rule `name` behind the server-side defense stages, as one jitted function with
    the rule signature plus an optional `root` (FLTrust's server update):
    fn(updates, weights, state, key, root=None) -> (aggregate, rule state).
    Stage keys: fold_in(key, 1 + stage index); the rule gets `key` itself."""
    rp = dict(rule_params or {})
    stages = [(dn, dp) for dn, dp in _norm_defenses(defenses) if DEFENSES[dn].fn is not None]
    rule = _spec_of(name).fn

    @jax.jit
    def fn(updates, weights, state, key, root=None):
        u, w = updates, weights
        for i, (dn, dp) in enumerate(stages):
            kw = dict(dp)
            if dn == "fltrust":
                if root is None:
                    raise AggregatorConfigError("fltrust needs the server's root update (root=...)")
                kw["root"] = root
            u, w = DEFENSES[dn].fn(u, w, jax.random.fold_in(key, 1 + i), f=f, **kw)
        return rule(u, w, state, key, **rp)

    return fn


def client_defense(defenses=()):
    """The client-side defense's parameters ({"beta": ...} for momentum) or None."""
    for dn, dp in _norm_defenses(defenses):
        if DEFENSES[dn].fn is None:
            return dp
    return None
