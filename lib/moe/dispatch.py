"""Dispatch tokens to experts, run the expert FFNs, combine: capacity, dropless and one-hot reference.

Expert parameters: {'w1': [E, d, f], 'w2': [E, f, d]}; expert(x) = gelu(x @ w1) @ w2.

Capacity convention (one, for every router that has no rule of its own): C = ceil(cf * T * k / E) per
routing group (`RouterSpec.capacity`; GShard/Switch's convention). Priority: slot 0 of every token before
slot 1 of any token, tokens in order within a slot; slots past capacity are dropped (their combine weight
becomes 0).

Implementations (`IMPLS`, the accepted values of `moe.dispatch`; `MODES` maps each to a `DispatchMode`,
resolved once per layer spec by `resolve`):
- 'einsum':   one-hot [T, E, C] dispatch/combine einsums (GShard); the readable reference.
- 'capacity': index gather into a static [E, C, d] buffer and a gather back; same result, no [T,E,C].
- 'dropless_tiles':  every routed token computed: rows sorted by expert (no padding between experts);
              a loop over experts, and within an expert a loop over whole tiles of `tile` rows, then for
              the remainder one matmul per level over a multiple of tile/8, tile/64, ... (>= 8) rows
              (`tile_sizes`; the static size is picked at run time), so fewer than 8 rows of work are
              wasted per expert and an expert takes few matmul calls. Custom VJP: the backward is the
              same tile walk (dx tiles and the expert's weight gradient accumulated in place). Works
              everywhere.
- 'dropless_ragged': sorted rows and `jax.lax.ragged_dot` (native on GPU/TPU; on CPU jax 0.10 falls back
              to a masked dense expansion, ~E x the work).
- 'dropless': 'dropless_ragged' on GPU/TPU, 'dropless_tiles' on CPU; with `moe.tile='auto'` (the
              default) a project's spec (lib/moe/tasks.py) measures both paths on a GPU/TPU and runs the
              faster (`choose_dropless`, cached per machine by lib/autotune), and on CPU the best tile.

Moving rows between token order and buffer order (`dispatch_rows`, `combine_rows`) is a gather in both
directions: every layout is described by a pair of maps, `src` (buffer row -> token slot t*S+s, or the
sentinel T*S for an empty row) and `loc` (token slot -> buffer row, or the sentinel N for a dropped or
unused slot), and each map's VJP is a gather with the other one instead of autodiff's scatter-add.
The combine weights are applied inside the combine (its VJP gives the weight gradient directly).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lib.moe.routers import MoEConfigError, Routing

def expert_ffn(params: dict, xin: jax.Array) -> jax.Array:
    """Expert FFNs on a [E, C, d] buffer."""
    h = jax.nn.gelu(jnp.einsum("ecd,edf->ecf", xin, params["w1"]))
    return jnp.einsum("ecf,efd->ecd", h, params["w2"])


@struct.dataclass
class Stats:
    load: jax.Array  # [E] tokens routed to each expert (before capacity)
    kept: jax.Array  # scalar: routed slots that were computed
    routed: jax.Array  # scalar: routed slots

    @property
    def dropped_fraction(self):
        return 1.0 - self.kept / jnp.maximum(self.routed, 1.0)


# ----------------------------------------------------------------------------------------------
# capacity mode


def capacity_positions(index: jax.Array, mask: jax.Array, num_experts: int) -> jax.Array:
    """Position of each (token, slot) in its expert's queue, in priority order (slot-major)."""
    t, s = index.shape
    oh = jax.nn.one_hot(index.T.reshape(-1), num_experts, dtype=jnp.int32) * mask.T.reshape(-1, 1)
    pos = jnp.sum((jnp.cumsum(oh, 0) - oh) * oh, -1)
    return pos.reshape(s, t).T


# ----------------------------------------------------------------------------------------------
# moving rows: gathers both ways (custom VJPs)


def _take(a: jax.Array, idx: jax.Array) -> jax.Array:
    """a[idx] along axis 0; out-of-range indices (the sentinels) read zeros."""
    return jnp.take(a, idx, axis=0, mode="fill", fill_value=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def dispatch_rows(x: jax.Array, src: jax.Array, loc: jax.Array, slots: int) -> jax.Array:
    """Token rows into a buffer: buf[n] = x[src[n] // slots] (zeros where src[n] is the sentinel).

    x [T, d]; src [N] token slot t*slots+s of each buffer row; loc [T, slots] buffer row of each token
    slot (sentinel N where the slot has no row). src and loc must describe the same placement.
    The VJP is dx[t] = sum_s dbuf[loc[t, s]]: a gather, no scatter-add.
    """
    return _take(x, src // slots)


def _dispatch_fwd(x, src, loc, slots):
    return _take(x, src // slots), (src, loc, x[:0])  # x[:0]: x's type (shard_map axes), no data


def _dispatch_bwd(slots, res, g):
    src, loc, x0 = res
    t = loc.shape[0]
    dx = jnp.sum(_take(g, loc.reshape(-1)).reshape(t, slots, -1), axis=1)
    return _sum_to(dx, x0).astype(x0.dtype), None, None


dispatch_rows.defvjp(_dispatch_fwd, _dispatch_bwd)


@jax.custom_vjp
def combine_rows(y: jax.Array, weight: jax.Array, src: jax.Array, loc: jax.Array) -> jax.Array:
    """Buffer rows back to tokens, weighted: out[t] = sum_s weight[t, s] * y[loc[t, s]].

    y [N, d]; weight [T, S] (rows at the sentinel read zeros). The VJP is two gathers:
    dy[n] = weight[src[n]] * dout[src[n] // S] and dweight[t, s] = <y[loc[t, s]], dout[t]>.
    """
    return _combine_fwd(y, weight, src, loc)[0]


def _combine_fwd(y, weight, src, loc):
    rows = _take(y, loc)  # [T, S, d]
    out = jnp.einsum("tsd,ts->td", rows, weight.astype(y.dtype))
    return out, (y, weight, src, loc)


def _combine_bwd(res, g):
    y, weight, src, loc = res
    s = loc.shape[1]
    rows = _take(y, loc)
    dweight = jnp.einsum("tsd,td->ts", rows, g.astype(y.dtype)).astype(weight.dtype)
    wrow = _take(weight.reshape(-1), src).astype(y.dtype)  # 0 for empty rows
    dy = _take(g.astype(y.dtype), src // s) * wrow[:, None]
    return _sum_to(dy, y), _sum_to(dweight, weight), None, None


combine_rows.defvjp(_combine_fwd, _combine_bwd)


# ----------------------------------------------------------------------------------------------
# capacity buffers


@struct.dataclass
class Slots:
    """Where each (token, slot) sits in the [E, C] buffer."""
    flat: jax.Array  # [T, S] e * C + pos, clamped into range
    keep: jax.Array  # [T, S] bool: routed and within capacity
    weight: jax.Array  # [T, S] combine weight, 0 where not kept
    src: jax.Array = None  # [E * C] token slot t*S+s of each buffer row (T*S where empty)

    @property
    def loc(self) -> jax.Array:
        """[T, S] buffer row of each slot, E*C (out of range) where not kept."""
        n = self.src.shape[-1]
        return jnp.where(self.keep, self.flat, n)


def make_slots(r: Routing, num_experts: int, capacity: int) -> tuple[Slots, Stats]:
    pos = capacity_positions(r.index, r.mask, num_experts)
    keep = r.mask & (pos < capacity)
    flat = jnp.where(keep, r.index * capacity + pos, 0)
    t, s = r.index.shape
    n = num_experts * capacity
    src = jnp.full((n,), t * s, jnp.int32).at[jnp.where(keep, flat, n).reshape(-1)].set(
        jnp.arange(t * s, dtype=jnp.int32), mode="drop")
    stats = Stats(load=_load(r, num_experts), kept=keep.sum().astype(jnp.float32),
                  routed=r.mask.sum().astype(jnp.float32))
    return Slots(flat=flat, keep=keep, weight=jnp.where(keep, r.weight, 0.0), src=src), stats


def _load(r: Routing, e: int) -> jax.Array:
    return jnp.zeros((e,), jnp.float32).at[r.index.reshape(-1)].add(r.mask.reshape(-1).astype(jnp.float32))


def to_buffer(x: jax.Array, sl: Slots, num_experts: int, capacity: int) -> jax.Array:
    """[T, d] -> [E, C, d] by gathering each buffer row's source token (empty rows read zeros)."""
    s = sl.flat.shape[1]
    return dispatch_rows(x, sl.src, sl.loc, s).reshape(num_experts, capacity, x.shape[1])


def from_buffer(y: jax.Array, sl: Slots) -> jax.Array:
    """[E, C, d] -> [T, d]: sum over slots of weight * expert output."""
    e, c, d = y.shape
    return combine_rows(y.reshape(e * c, d), sl.weight.astype(y.dtype), sl.src, sl.loc)


def moe_capacity(params, x, r: Routing, capacity: int):
    e = params["w1"].shape[0]
    sl, stats = make_slots(r, e, capacity)
    y = expert_ffn(params, to_buffer(x, sl, e, capacity))
    return from_buffer(y, sl), stats


def moe_einsum(params, x, r: Routing, capacity: int):
    """GShard one-hot reference: [T, E, C] dispatch and combine tensors."""
    e = params["w1"].shape[0]
    pos = capacity_positions(r.index, r.mask, e)
    keep = r.mask & (pos < capacity)
    oh_e = jax.nn.one_hot(r.index, e, dtype=x.dtype) * keep[..., None]
    oh_c = jax.nn.one_hot(jnp.where(keep, pos, capacity), capacity, dtype=x.dtype)
    dispatch = jnp.einsum("tse,tsc->tec", oh_e, oh_c)
    combine = jnp.einsum("tse,tsc->tec", oh_e * r.weight[..., None].astype(x.dtype), oh_c)
    y = expert_ffn(params, jnp.einsum("tec,td->ecd", dispatch, x))
    stats = Stats(load=_load(r, e), kept=keep.sum().astype(jnp.float32),
                  routed=r.mask.sum().astype(jnp.float32))
    return jnp.einsum("tec,ecd->td", combine, y), stats


# ----------------------------------------------------------------------------------------------
# dropless mode


def tile_sizes(tile: int, rows: int) -> tuple[int, ...]:
    """Tile rows per level: the bulk tile, then remainder levels 8x smaller down to 8 (512 -> (512, 64, 8)).

    An expert's rows run as whole bulk tiles (a loop), then at each further level ONE matmul over the
    largest multiple of that level's size that fits what remains (a static size picked at run time), the last level
    rounding up: at most (last size - 1) rows of work are wasted per expert, and an expert with n rows
    takes n // bulk + len(levels) - 1 matmuls at most (each call re-reads the expert's weights, so
    few calls matter as much as little waste)."""
    big = max(1, min(tile, rows))
    sizes = [big]
    while sizes[-1] > 8:
        sizes.append(max(8, sizes[-1] // 8))
    return tuple(sizes)


def _expert_tiles(start, end, rows: int, sizes: tuple[int, ...], body, carry):
    """Run body(offset, size, masked, carry) over tiles covering rows [start, end) (see `tile_sizes`):
    n // bulk unmasked bulk tiles, then per level one tile of a static size picked at run time.
    Only the last level's tile may reach past `end` (or past the array, then it is shifted back to fit
    inside [0, rows)): it is the only one called with masked=True, and body must then leave rows outside
    [offset, end) untouched. All other tiles lie inside [start, end)."""
    bulk = sizes[0]
    nb = (end - start) // bulk
    carry = jax.lax.fori_loop(0, nb, lambda j, c: body(start + j * bulk, bulk, False, c), carry)
    off = start + nb * bulk
    prev, levels = bulk, (sizes[1:] or (bulk,))
    for i, g in enumerate(levels):
        rem = end - off
        last = i == len(levels) - 1
        count = (rem + g - 1) // g if last else rem // g
        most = -(-(prev - 1) // g) if last else (prev - 1) // g
        # one loop of 0 or 1 trips per size: XLA updates loop carries in place (a lax.switch copies the
        # whole output buffer on every call on CPU); the offset depends on the trip index so that XLA
        # does not hoist the matmul out of the loop as loop-invariant (it would then run every size)
        for j in range(1, most + 1):
            carry = jax.lax.fori_loop(
                0, (count == j).astype(jnp.int32),
                lambda i, c, o=off, z=min(j * g, rows), m=last: body(o + i * z, z, m, c), carry)
        off = off + count * g
        prev = g
    return carry


def _tile(a, off, size, rows):
    oc = jnp.clip(off, 0, rows - size)
    return oc, jax.lax.dynamic_slice_in_dim(a, oc, size, 0)


def _keep(oc, off, end, size):
    r = oc + jnp.arange(size)
    return ((r >= off) & (r < end))[:, None]


def _varying(a) -> set:
    """shard_map axes over which `a` varies (empty outside shard_map)."""
    return set(getattr(getattr(jax.typeof(a), "manual_axis_type", None), "varying", ()) or ())


def _sum_to(ct, like):
    """A cotangent summed over the shard_map axes where it varies and its primal does not (what
    autodiff does for an implicit broadcast; a custom VJP must do it itself)."""
    extra = _varying(ct) - _varying(like)
    return jax.lax.psum(ct, tuple(sorted(extra))) if extra else ct


def _zeros(shape, dtype, *like):
    """Zeros that vary over the same shard_map axes as `like` (loop carries must match the body's type)."""
    axes = set()
    for a in like:
        axes |= _varying(a)
    z = jnp.zeros(shape, dtype)
    return jax.lax.pcast(z, tuple(sorted(axes)), to="varying") if axes else z


def _gmm_impl(x, w, starts, ends, sizes):
    rows = x.shape[0]
    y0 = _zeros((rows, w.shape[2]), jnp.result_type(x.dtype, w.dtype), x, w, starts, ends)

    def per_expert(e, y):
        we, end = w[e], ends[e]

        def body(off, size, masked, y):
            oc, xt = _tile(x, off, size, rows)
            new = (xt @ we).astype(y.dtype)
            if masked:
                new = jnp.where(_keep(oc, off, end, size), new, jax.lax.dynamic_slice_in_dim(y, oc, size, 0))
            return jax.lax.dynamic_update_slice_in_dim(y, new, oc, 0)

        return _expert_tiles(starts[e], end, rows, sizes, body, y)

    return jax.lax.fori_loop(0, w.shape[0], per_expert, y0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def gmm_sorted(x, w, starts, ends, sizes=(128, 16, 8)):
    """Grouped matmul on expert-sorted rows: y[i] = x[i] @ w[e] for starts[e] <= i < ends[e], rows
    outside every group are 0. x [N, d], w [E, d, f], starts/ends [E] (ends[e] == starts[e+1])."""
    return _gmm_impl(x, w, starts, ends, sizes)


def _gmm_fwd(x, w, starts, ends, sizes):
    return _gmm_impl(x, w, starts, ends, sizes), (x, w, starts, ends)


def _gmm_bwd(sizes, res, dy):
    x, w, starts, ends = res
    rows = x.shape[0]
    dy = dy.astype(w.dtype)
    # Weight gradient per tile as a plain [a, m] @ [m, b] matmul over a column slice of a transposed
    # copy: contracting the row axis of both tiles directly costs ~20% more on CPU. Transpose the
    # narrower of x and dy once; with dy transposed the accumulator holds dw[e] transposed.
    t_x = x.shape[1] <= dy.shape[1]
    xT = x.astype(w.dtype).T if t_x else None
    dyT = None if t_x else dy.T
    acc_shape = w.shape[1:] if t_x else w.shape[:0:-1]

    def per_expert(e, carry):
        dx, dw = carry
        we, end = w[e], ends[e]

        def body(off, size, masked, c):
            dx, acc = c
            oc = jnp.clip(off, 0, rows - size)
            dyt = jax.lax.dynamic_slice_in_dim(dy, oc, size, 0)
            if masked:
                keep = _keep(oc, off, end, size)
                dyt = jnp.where(keep, dyt, 0)
            if t_x:
                acc = acc + jax.lax.dynamic_slice_in_dim(xT, oc, size, 1) @ dyt
            else:
                dyTt = jax.lax.dynamic_slice_in_dim(dyT, oc, size, 1)
                if masked:
                    dyTt = jnp.where(keep.T, dyTt, 0)
                acc = acc + dyTt @ jax.lax.dynamic_slice_in_dim(x, oc, size, 0).astype(w.dtype)
            dxt = jax.lax.dot_general(dyt, we, (((1,), (1,)), ((), ()))).astype(dx.dtype)
            if masked:
                dxt = jnp.where(keep, dxt, jax.lax.dynamic_slice_in_dim(dx, oc, size, 0))
            return jax.lax.dynamic_update_slice_in_dim(dx, dxt, oc, 0), acc

        acc0 = _zeros(acc_shape, w.dtype, x, w, dy, starts, ends)
        dx, acc = _expert_tiles(starts[e], end, rows, sizes, body, (dx, acc0))
        return dx, jax.lax.dynamic_update_index_in_dim(dw, acc, e, 0)

    like = (x, w, dy, starts, ends)
    dx, dw = jax.lax.fori_loop(0, w.shape[0], per_expert, (_zeros(x.shape, x.dtype, *like),
                                                           _zeros((w.shape[0],) + acc_shape, w.dtype, *like)))
    if not t_x:
        dw = dw.transpose(0, 2, 1)
    return _sum_to(dx, x), _sum_to(dw, w), None, None


gmm_sorted.defvjp(_gmm_fwd, _gmm_bwd)


@struct.dataclass
class SortedRows:
    """Rows (token, slot) sorted by expert, unused slots last: the dropless layout."""
    src: jax.Array  # [N] token slot of each sorted row (T*S for unused)
    loc: jax.Array  # [T, S] sorted row of each slot (N for unused)
    sizes: jax.Array  # [E] rows per expert
    starts: jax.Array  # [E]
    ends: jax.Array  # [E]


def sort_rows(index: jax.Array, mask: jax.Array, num_experts: int) -> SortedRows:
    """Layout of the (token, slot) rows sorted by expert (stable: token order within an expert)."""
    t, s = index.shape
    n = t * s
    key = jnp.where(mask, index, num_experts).reshape(-1)
    order = jnp.argsort(key, stable=True).astype(jnp.int32)
    sizes = jnp.bincount(key, length=num_experts + 1)[:num_experts].astype(jnp.int32)
    ends = jnp.cumsum(sizes).astype(jnp.int32)
    inv = jnp.zeros((n,), jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
    src = jnp.where(key[order] < num_experts, order, n)
    loc = jnp.where(mask.reshape(-1), inv, n).reshape(t, s)
    return SortedRows(src=src, loc=loc, sizes=sizes, starts=ends - sizes, ends=ends)


def _stats_all(r: Routing, e: int) -> Stats:
    n = r.mask.sum().astype(jnp.float32)
    return Stats(load=_load(r, e), kept=n, routed=n)


def expert_ffn_sorted(params: dict, xs: jax.Array, starts, ends, sizes: tuple[int, int]) -> jax.Array:
    """Expert FFNs on expert-sorted rows (rows outside every group give 0)."""
    h = jax.nn.gelu(gmm_sorted(xs, params["w1"], starts, ends, sizes))
    return gmm_sorted(h, params["w2"], starts, ends, sizes)


def _sorted_ffn_tiles(params: dict, xs: jax.Array, lay: SortedRows, tile: int) -> jax.Array:
    return expert_ffn_sorted(params, xs, lay.starts, lay.ends, tile_sizes(tile, xs.shape[0]))


def _sorted_ffn_ragged(params: dict, xs: jax.Array, lay: SortedRows, tile: int) -> jax.Array:
    # rows past sum(sizes) (unused slots) are left 0 by ragged_dot
    h = jax.nn.gelu(jax.lax.ragged_dot(xs, params["w1"], lay.sizes))
    return jax.lax.ragged_dot(h, params["w2"], lay.sizes)


def _dropless(sorted_ffn):
    def apply(params, x, r: Routing, capacity: int = 0, tile: int = 512):
        e = params["w1"].shape[0]
        t, s = r.index.shape
        lay = sort_rows(r.index, r.mask, e)
        xs = dispatch_rows(x, lay.src, lay.loc, s)
        y = sorted_ffn(params, xs, lay, tile)
        w = jnp.where(r.mask, r.weight, 0.0).astype(x.dtype)
        return combine_rows(y, w, lay.src, lay.loc), _stats_all(r, e)
    return apply


moe_dropless_tiles = _dropless(_sorted_ffn_tiles)
moe_dropless_ragged = _dropless(_sorted_ffn_ragged)


# ----------------------------------------------------------------------------------------------
# routing groups: G independent groups (capacity is per group), r with a leading G axis


def _capacity_groups(params, xg, r: Routing, capacity: int, tile: int):
    """Per-group [E, C] buffers, then one expert matmul over every group's rows (no group batch dim)."""
    g, tg, d = xg.shape
    e = params["w1"].shape[0]
    sl, stats = jax.vmap(lambda rr: make_slots(rr, e, capacity))(r)
    buf = jax.vmap(lambda xx, s: to_buffer(xx, s, e, capacity))(xg, sl)  # [G, E, C, d]
    buf = buf.transpose(1, 0, 2, 3).reshape(e, g * capacity, d)
    yb = expert_ffn(params, buf).reshape(e, g, capacity, d).transpose(1, 0, 2, 3)
    return jax.vmap(from_buffer)(yb, sl), stats


def _einsum_groups(params, xg, r: Routing, capacity: int, tile: int):
    return jax.vmap(lambda xx, rr: moe_einsum(params, xx, rr, capacity))(xg, r)


def _dropless_groups(apply):
    def groups(params, xg, r: Routing, capacity: int, tile: int):
        # groups only matter for routing: all groups' rows go through one grouped matmul
        g, tg, d = xg.shape
        flat = jax.tree.map(lambda a: a.reshape((g * tg,) + a.shape[2:]) if a.ndim >= 2 else a, r)
        y, stats = apply(params, xg.reshape(g * tg, d), flat, capacity, tile)
        return y.reshape(g, tg, d), jax.tree.map(lambda a: a[None], stats)
    return groups


# ----------------------------------------------------------------------------------------------
# the registry


@dataclasses.dataclass(frozen=True)
class DispatchMode:
    """One dispatch implementation and the properties callers ask about."""

    name: str
    drops: bool  # capacity-limited: slots past an expert's capacity are dropped
    apply: Callable  # (params, x [T, d], r, capacity, tile) -> (y [T, d], Stats)
    apply_groups: Callable  # (params, xg [G, Tg, d], r [G, ...], capacity, tile) -> (y [G, Tg, d], Stats [G|1])
    expert_parallel: bool = True  # supported by lib.moe.parallel.ExpertParallel
    sorted_ffn: Callable | None = None  # dropless: (params, expert-sorted rows, SortedRows, tile) -> rows


MODES: dict[str, DispatchMode] = {
    "einsum": DispatchMode("einsum", True, lambda p, x, r, c, t: moe_einsum(p, x, r, c), _einsum_groups,
                           expert_parallel=False),
    "capacity": DispatchMode("capacity", True, lambda p, x, r, c, t: moe_capacity(p, x, r, c), _capacity_groups),
    "dropless_tiles": DispatchMode("dropless_tiles", False, moe_dropless_tiles, _dropless_groups(moe_dropless_tiles),
                                   sorted_ffn=_sorted_ffn_tiles),
    "dropless_ragged": DispatchMode("dropless_ragged", False, moe_dropless_ragged,
                                    _dropless_groups(moe_dropless_ragged), sorted_ffn=_sorted_ffn_ragged),
}
# 'dropless' is the platform's best dropless mode: ragged_dot is native on GPU/TPU, tiles win on CPU
IMPLS = ("einsum", "capacity", "dropless", "dropless_tiles", "dropless_ragged")
CAPACITY_IMPLS = tuple(n for n, m in MODES.items() if m.drops)


def resolve(impl: str) -> DispatchMode:
    """The DispatchMode of a `moe.dispatch` value on this platform (a named error for an unknown one)."""
    if impl not in IMPLS:
        raise MoEConfigError("moe.dispatch", impl, f"one of {IMPLS}")
    if impl == "dropless":
        impl = "dropless_ragged" if jax.default_backend() in ("gpu", "tpu") else "dropless_tiles"
    return MODES[impl]


def resolve_impl(impl: str) -> str:
    return resolve(impl).name


def moe_apply(params: dict, x: jax.Array, r: Routing, *, impl: str, capacity: int, tile: int = 512):
    """Expert mixture for T tokens x [T, d] under routing r; returns (out [T, d], Stats)."""
    return resolve(impl).apply(params, x, r, capacity, tile)


TILE_CANDIDATES = (64, 128, 256, 512, 1024)
RAGGED = "ragged"  # choose_dropless's answer for the ragged_dot path


def choose_dropless(rows: int, d: int, d_ff: int, experts: int, dtype=jnp.float32, *,
                    allow_ragged: bool = False, default: int | str = 512) -> int | str:
    """The fastest dropless expert FFN (forward+backward) on this machine for `rows` routed rows:
    a bulk tile (rows) of the sorted-tile path, or RAGGED (`jax.lax.ragged_dot`) when
    `allow_ragged`. Measured once per machine and shape (lib.autotune) on an uneven routed
    load; `default` with autotuning off. On CPU ragged_dot falls back to a dense computation,
    so callers allow it only on accelerators."""
    from lib import autotune  # noqa: PLC0415 (keeps dispatch importable without the cache module)

    cands = [t for t in TILE_CANDIDATES if t <= rows] or [TILE_CANDIDATES[0]]
    if allow_ragged:
        cands.append(RAGGED)
    dtype = jnp.dtype(dtype)

    @functools.cache
    def inputs():  # built only when something is measured
        rng = np.random.RandomState(0)
        sizes = np.bincount(rng.randint(0, experts, rows), minlength=experts)
        ends = jnp.asarray(np.cumsum(sizes), jnp.int32)
        params = {"w1": jnp.asarray(rng.standard_normal((experts, d, d_ff)) / np.sqrt(d), dtype),
                  "w2": jnp.asarray(rng.standard_normal((experts, d_ff, d)) / np.sqrt(d_ff), dtype)}
        x = jnp.asarray(rng.standard_normal((rows, d)), dtype)
        return jnp.asarray(sizes, jnp.int32), ends - jnp.asarray(sizes, jnp.int32), ends, params, x

    def measure(choice):
        sizes, starts, ends, params, xs = inputs()
        if choice == RAGGED:
            def ffn(p, x):
                return jax.lax.ragged_dot(jax.nn.gelu(jax.lax.ragged_dot(x, p["w1"], sizes)), p["w2"], sizes)
        else:
            lv = tile_sizes(choice, rows)

            def ffn(p, x):
                return expert_ffn_sorted(p, x, starts, ends, lv)
        step = jax.jit(jax.grad(lambda p, x: ffn(p, x).astype(jnp.float32).sum(), argnums=(0, 1)))
        return autotune.time_call(lambda: step(params, xs))

    name = "moe.dropless" if allow_ragged else "moe.dropless_tile"
    return autotune.choose(name, f"rows={rows},d={d},d_ff={d_ff},experts={experts},{dtype.name}",
                           cands, measure, default)


def choose_tile(rows: int, d: int, d_ff: int, experts: int, dtype=jnp.float32, default: int = 512) -> int:
    """The sorted-tile path's fastest bulk tile on this machine (see choose_dropless)."""
    return choose_dropless(rows, d, d_ff, experts, dtype, default=default)
