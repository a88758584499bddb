"""Exact per-coordinate order statistics without sorting (private to lib.fl.aggregate).

XLA's CPU sort is slow (a jitted `jnp.median(x, axis=0)` on 100 x 1e6 floats takes ~5x
longer than NumPy's introselect), so the coordinate-wise rules select instead of sort:

* Every float32 is mapped to an int32 *key* whose signed order is the float order
  (`float_keys`: bitcast, then flip the 31 low bits of negative numbers). NaN is first
  mapped to +inf, so a non-finite client always sorts to an extreme.
* The k-th smallest key of a column is found by bisection on the 32 key bits (radix
  select): with the high bits `p` fixed, the next bit is set iff fewer than k+1 keys are
  below `p | bit`. That is 32 counting passes, each a compare-and-add per element.
* The [K, D] matrix is cut into column tiles of ~1 MiB that stay in L2 cache while the
  32 passes run (`tiled`), and counting is written as an unrolled sum over row blocks
  so that XLA emits one vectorised loop over the tile's columns per pass.
* Absent clients (weight 0) get the key INT32_MAX, which is never counted as "below";
  the number of present clients `n` is a traced scalar, so order-statistic indices may
  depend on it without recompiling.

Many clients on CPU: the native kernel lib/native/order_stats.cc replaces the radix
select (`order_stats`; sampled pivots, one counting pass, a small sort of the few keys
between two pivots) and radix select remains the path for other platforms.

Few clients (K <= NET_MAX): a sorting network instead. Batcher's odd-even merge sort
on the K rows (padded to a power of two with +inf wires, whose comparators are dropped;
comparators no requested output depends on are pruned), each comparator a vectorised
min/max of two int32 key rows. The whole network is one elementwise XLA fusion over
the D columns: the [K, D] stack is read once, both cores split the columns, and no
intermediate is written (K = 100: ~1100 comparators for a full sort, ~900 for the two
middle order statistics, against 32 counting passes of K compare-adds each).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lib import native

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
NET_MAX = 128  # up to this many clients the coordinate-wise rules use a sorting network
_UNROLL = 128  # up to this many rows, reductions over rows are fully unrolled
_ROW_BLOCK = 32  # beyond, rows per unrolled block of a loop
_TILE_BYTES = 1 << 20


def float_keys(x):
    """float32 [..] -> int32 keys with the same order (NaN -> +inf first)."""
    x = jnp.where(jnp.isnan(x), jnp.inf, x.astype(jnp.float32))
    i = jax.lax.bitcast_convert_type(x, jnp.int32)
    return i ^ ((i >> 31) & jnp.int32(INT_MAX))


def key_values(k):
    """Inverse of `float_keys` (int32 keys -> float32)."""
    i = k ^ ((k >> 31) & jnp.int32(INT_MAX))
    return jax.lax.bitcast_convert_type(i, jnp.float32)


def col_reduce(row, num_rows, op=jnp.add):
    """op-reduction over rows of row(r) -> [T] (or a tuple of [T]).

    XLA:CPU vectorises a reduction over the leading axis poorly (a strided loop per
    output); a chain of elementwise ops over rows is one vectorised loop instead. Up to
    _UNROLL rows the chain is fully unrolled; beyond, a loop runs over blocks of
    _ROW_BLOCK unrolled rows (fully unrolling 1000 rows compiles for minutes and runs
    slower), with the remainder rows unrolled as the initial value."""
    def chain(rows):
        acc = row(rows[0])
        for r in rows[1:]:
            acc = op(acc, row(r))
        return acc

    if num_rows <= _UNROLL:
        return chain(list(range(num_rows)))
    nb, tail = divmod(num_rows, _ROW_BLOCK)
    if tail:
        acc0, start = chain(list(range(nb * _ROW_BLOCK, num_rows))), 0
    else:
        acc0, start = chain(list(range(_ROW_BLOCK))), 1

    def body(b, acc):
        base = b * _ROW_BLOCK
        return op(acc, chain([base + i for i in range(_ROW_BLOCK)]))

    return jax.lax.fori_loop(start, nb, body, acc0)


def col_sums(row, num_rows):
    """Several column sums at once: row(r) -> tuple of [T]; one fused loop, not one per sum
    (separate unrolled sums over a shared producer make XLA:CPU recompute/materialise it)."""
    return col_reduce(row, num_rows, lambda u, v: tuple(p + q for p, q in zip(u, v)))


def col_sum(a):
    """a [K, T] -> [T] sum over rows."""
    return col_reduce(lambda r: a[r], a.shape[0])


def count_less(keys, c):
    """#{rows r: keys[r, j] < c[j]} for each column j, as int32 [T]."""
    return col_reduce(lambda r: (keys[r] < c).astype(jnp.int32), keys.shape[0])


def kth_key(keys, k):
    """The k-th smallest (0-based) key of every column of keys [K, T]; k int32 [] or [T].

    Radix select on the bits, most significant first (32 counting passes). Requires
    0 <= k < K; columns whose k exceeds the present clients return INT_MAX."""
    t = keys.shape[1]
    k = jnp.broadcast_to(jnp.asarray(k, jnp.int32), (t,))
    # unsigned 0 in the signed key space; derived from keys so that inside shard_map the
    # loop carry varies over the same mesh axes as the keys
    p0 = keys[0] * 0 + jnp.int32(INT_MIN)

    def step(b, p):
        c = p + jnp.left_shift(jnp.int32(1), 31 - b)  # bit 31 wraps -2^31 -> 0, as intended
        return jnp.where(count_less(keys, c) <= k, c, p)

    return jax.lax.fori_loop(0, 32, step, p0, unroll=4)


def next_key(keys, t, k):
    """The (k+1)-th smallest key given t = the k-th smallest: t again when it is tied,
    else the smallest key above t (one pass)."""
    def row(r):
        return (keys[r] <= t).astype(jnp.int32), jnp.where(keys[r] > t, keys[r], INT_MAX)

    le, above = col_reduce(row, keys.shape[0], lambda u, v: (u[0] + v[0], jnp.minimum(u[1], v[1])))
    return jnp.where(le >= k + 2, t, above)


def tile_width(num_rows: int) -> int:
    return max(128, (_TILE_BYTES // (4 * max(num_rows, 1))) // 128 * 128)


def tiled(fn, x, *cols, width: int | None = None):
    """Applies fn(x_tile [K, T], *col_tiles [.., T]) -> [.., T] over column tiles of
    x [K, D] (sequentially, so each tile stays in cache) and concatenates the results.

    `cols` are per-column side inputs with D as their last axis. Full tiles are sliced
    in a loop from x itself (no padded copy); the remainder is one static tile."""
    k, d = x.shape
    w = min(width or tile_width(k), d)
    nt, rem = divmod(d, w)
    outs = []
    if nt:
        def one(i):
            sl = lambda a: jax.lax.dynamic_slice_in_dim(a, i * w, w, axis=a.ndim - 1)
            return fn(sl(x), *map(sl, cols))

        y = jax.lax.map(one, jnp.arange(nt))  # [nt, ..., w]
        y = jnp.moveaxis(y, 0, -2)
        outs.append(y.reshape(y.shape[:-2] + (nt * w,)))
    if rem:
        outs.append(fn(x[:, nt * w:], *(c[..., nt * w:] for c in cols)))
    return outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=-1)


# ----------------------------------------------------------------------------- native CPU kernel

KERNEL = ("order_stats", (("tessera_order_stats", "TesseraOrderStats"),))
MEDIAN, TRIMMED = 0, 1


def order_stats(x, present, params, mode: int, fallback):
    """Median (mode MEDIAN, params = (n, k, k+1)) or trimmed mean (TRIMMED, params =
    (n, c, n-c-1)) of each column of x [K, D] over the present rows, by the native CPU
    kernel lib/native/order_stats.cc (sample pivots, one counting pass, candidates
    copied out, a small sorting network; see its header), or fallback(x) where that
    kernel is not available. n = 0 gives 0."""
    def kernel(x):
        call = jax.ffi.ffi_call("tessera_order_stats", jax.ShapeDtypeStruct(x.shape[1:], jnp.float32),
                                vmap_method="sequential")
        out = call(x.astype(jnp.float32), present, jnp.asarray(params, jnp.int32), mode=np.int32(mode))
        return native.varying_like(out, x, present, params)

    return native.cpu_or(kernel, fallback, x, kernel=KERNEL)


# ----------------------------------------------------------------------------- sorting networks


def _batcher(n: int):
    """Comparators (i, j), i < j, of Batcher's odd-even merge sort for n = 2^p wires, in order."""
    out, p = [], 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        out.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return out


@functools.lru_cache(maxsize=None)
def sort_network(k: int, outputs: tuple[int, ...] | None = None) -> tuple[tuple[int, int], ...]:
    """Comparators sorting k wires ascending (wire i ends with the i-th smallest), with only
    those that the wires in `outputs` (default: all) depend on.

    Batcher's network for the next power of two; the extra wires hold +inf, so a
    comparator touching one never moves anything (it stays on the higher wire) and is
    dropped. Pruning walks the network backwards from the requested wires."""
    n = 1 << max(k - 1, 0).bit_length()
    ops = []
    for i, j in _batcher(n):
        if j >= k:  # (i, pad): pads start on the top wires and stay there
            continue
        ops.append((i, j))
    need = set(range(k) if outputs is None else outputs)
    kept = []
    for i, j in reversed(ops):
        if i in need or j in need:
            kept.append((i, j))
            need |= {i, j}
    return tuple(reversed(kept))


def sort_rows(rows, outputs=None):
    """rows: a list of k equal-shape int arrays -> dict {i: i-th smallest, elementwise} for
    i in `outputs` (default all), by the pruned sorting network (min/max per comparator)."""
    k = len(rows)
    w = dict(enumerate(rows))
    for i, j in sort_network(k, None if outputs is None else tuple(sorted(set(outputs)))):
        a, b = w[i], w[j]
        w[i], w[j] = jnp.minimum(a, b), jnp.maximum(a, b)
    return w if outputs is None else {i: w[i] for i in outputs}


def padded_key_rows(x, present, num_low):
    """x [K, D] float -> K int32 key rows; absent rows become pads: the first `num_low`
    absent rows (in row order) INT_MIN, below every key, the others INT_MAX, above every
    key (present keys lie strictly between, NaN being mapped to +inf). The conversion is
    per row so that it fuses into the network instead of materialising [K, D] keys."""
    absent = ~present
    low = absent & (jnp.cumsum(absent) <= num_low)
    pad = jnp.where(low, jnp.int32(INT_MIN), jnp.int32(INT_MAX))
    return [jnp.where(present[r], float_keys(x[r]), pad[r]) for r in range(x.shape[0])]
