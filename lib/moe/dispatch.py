"""Dispatch tokens to experts, run the expert FFNs, combine: capacity, dropless and one-hot reference.

Expert parameters: {'w1': [E, d, f], 'w2': [E, f, d]}; expert(x) = gelu(x @ w1) @ w2.

Capacity convention (one, documented; MOE.md section 6.1): C = ceil(cf * T * k / E) per routing group
(`RouterSpec.capacity`). Priority: slot 0 of every token before slot 1 of any token, tokens in order
within a slot; slots past capacity are dropped (their combine weight becomes 0).

Implementations (`IMPLS`):
- 'einsum':   one-hot [T, E, C] dispatch/combine einsums (GShard); the readable reference.
- 'capacity': index gather into a static [E, C, d] buffer and a gather back; same result, no [T,E,C].
- 'dropless_tiles':  every routed token computed: rows sorted by expert, each expert's rows padded to
              whole tiles, one matmul per tile (scan with a custom VJP). Works everywhere.
- 'dropless_ragged': sorted rows and `jax.lax.ragged_dot` (native on GPU/TPU; on CPU jax 0.10 falls back
              to a masked dense expansion, ~E x the work).
- 'dropless': 'dropless_ragged' on GPU/TPU, 'dropless_tiles' on CPU.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from lib.moe.routers import MoEConfigError, Routing

IMPLS = ("einsum", "capacity", "dropless", "dropless_tiles", "dropless_ragged")
CAPACITY_IMPLS = ("einsum", "capacity")


def resolve_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise MoEConfigError("moe.dispatch", impl, f"one of {IMPLS}")
    if impl == "dropless":
        return "dropless_ragged" if jax.default_backend() in ("gpu", "tpu") else "dropless_tiles"
    return impl


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


@struct.dataclass
class Slots:
    """Where each (token, slot) sits in the [E, C] buffer."""
    flat: jax.Array  # [T, S] e * C + pos, clamped into range
    keep: jax.Array  # [T, S] bool: routed and within capacity
    weight: jax.Array  # [T, S] combine weight, 0 where not kept


def make_slots(r: Routing, num_experts: int, capacity: int) -> tuple[Slots, Stats]:
    pos = capacity_positions(r.index, r.mask, num_experts)
    keep = r.mask & (pos < capacity)
    flat = jnp.where(keep, r.index * capacity + pos, 0)
    stats = Stats(load=_load(r, num_experts), kept=keep.sum().astype(jnp.float32),
                  routed=r.mask.sum().astype(jnp.float32))
    return Slots(flat=flat, keep=keep, weight=jnp.where(keep, r.weight, 0.0)), stats


def _load(r: Routing, e: int) -> jax.Array:
    return jnp.zeros((e,), jnp.float32).at[r.index.reshape(-1)].add(r.mask.reshape(-1).astype(jnp.float32))


def to_buffer(x: jax.Array, sl: Slots, num_experts: int, capacity: int) -> jax.Array:
    """[T, d] -> [E, C, d] by gathering each buffer row's source token (empty rows read zeros)."""
    t, d = x.shape
    src = jnp.full((num_experts * capacity,), t, jnp.int32)
    tok = jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32)[:, None], sl.flat.shape)
    src = src.at[jnp.where(sl.keep, sl.flat, num_experts * capacity)].set(tok, mode="drop")
    xpad = jnp.concatenate([x, jnp.zeros((1, d), x.dtype)], 0)
    return xpad[src].reshape(num_experts, capacity, d)


def from_buffer(y: jax.Array, sl: Slots) -> jax.Array:
    """[E, C, d] -> [T, d]: sum over slots of weight * expert output."""
    e, c, d = y.shape
    rows = y.reshape(e * c, d)[sl.flat]  # [T, S, d]
    return jnp.einsum("tsd,ts->td", rows, sl.weight.astype(y.dtype))


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


@functools.partial(jax.custom_vjp, nondiff_argnums=())
def gmm_tiles(x, w, tile_expert, tile_used):
    """Grouped matmul on expert-aligned tiles: x [N, t, d], w [E, d, f] -> [N, t, f]."""
    return _gmm_fwd_impl(x, w, tile_expert, tile_used)


def _gmm_fwd_impl(x, w, tile_expert, tile_used):
    def body(_, inp):
        xt, e, used = inp
        out = jax.lax.cond(used, lambda: xt @ w[e], lambda: jnp.zeros((xt.shape[0], w.shape[2]), x.dtype))
        return None, out
    return jax.lax.scan(body, None, (x, tile_expert, tile_used))[1]


def _gmm_fwd(x, w, tile_expert, tile_used):
    return _gmm_fwd_impl(x, w, tile_expert, tile_used), (x, w, tile_expert, tile_used)


def _gmm_bwd(res, dy):
    x, w, tile_expert, tile_used = res

    # per-tile weight gradients are stacked and summed by expert afterwards: a scan carry of the
    # whole [E, d, f] gradient would be copied every tile on CPU
    def body(_, inp):
        xt, dyt, e, used = inp

        def on():
            return xt.T @ dyt, dyt @ w[e].T

        def off():
            return jnp.zeros(w.shape[1:], w.dtype), jnp.zeros_like(xt)

        return None, jax.lax.cond(used, on, off)

    _, (dw_tiles, dx) = jax.lax.scan(body, None, (x, dy, tile_expert, tile_used))
    dw = jax.ops.segment_sum(dw_tiles, tile_expert, num_segments=w.shape[0], indices_are_sorted=True)
    return dx, dw, None, None


gmm_tiles.defvjp(_gmm_fwd, _gmm_bwd)


def _sorted_rows(r: Routing, e: int):
    """Flatten (token, slot) rows, sort by expert with unused rows last."""
    t, s = r.index.shape
    key = jnp.where(r.mask, r.index, e).reshape(-1)
    order = jnp.argsort(key, stable=True)
    sizes = jnp.bincount(key, length=e + 1)[:e].astype(jnp.int32)
    return order, key[order], sizes


def _stats_all(r: Routing, e: int) -> Stats:
    n = r.mask.sum().astype(jnp.float32)
    return Stats(load=_load(r, e), kept=n, routed=n)


def moe_dropless_tiles(params, x, r: Routing, tile: int = 128):
    e = params["w1"].shape[0]
    t, s = r.index.shape
    rows = t * s
    tile = max(8, min(tile, rows))
    n_tiles = (rows + e * (tile - 1)) // tile  # bound on sum_e ceil(g_e / tile)
    order, key_sorted, sizes = _sorted_rows(r, e)
    tiles_e = -(-sizes // tile)
    tile_end = jnp.cumsum(tiles_e)
    tile_start = tile_end - tiles_e
    group_start = jnp.cumsum(sizes) - sizes
    ke = jnp.minimum(key_sorted, e - 1)
    padded = jnp.where(key_sorted < e, tile_start[ke] * tile + jnp.arange(rows) - group_start[ke],
                       n_tiles * tile)
    # gather form: which sorted row feeds each padded row (rows past the data read a zero row)
    src = jnp.full((n_tiles * tile,), rows, jnp.int32).at[padded].set(
        jnp.arange(rows, dtype=jnp.int32), mode="drop")
    tok_sorted = order // s
    x_sorted = jnp.concatenate([x[tok_sorted], jnp.zeros((1, x.shape[1]), x.dtype)], 0)
    xp = x_sorted[src].reshape(n_tiles, tile, -1)
    tid = jnp.arange(n_tiles)
    tile_expert = jnp.minimum(jnp.searchsorted(tile_end, tid, side="right"), e - 1).astype(jnp.int32)
    tile_used = tid < tile_end[-1]
    h = jax.nn.gelu(gmm_tiles(xp, params["w1"], tile_expert, tile_used))
    y = gmm_tiles(h, params["w2"], tile_expert, tile_used).reshape(n_tiles * tile, -1)
    # back to (token, slot) order: row order[i] sits at padded[i]
    pos = jnp.zeros((rows,), jnp.int32).at[order].set(jnp.minimum(padded, n_tiles * tile - 1))
    out_rows = y[pos].reshape(t, s, -1)
    w = jnp.where(r.mask, r.weight, 0.0).astype(x.dtype)
    return jnp.einsum("tsd,ts->td", out_rows, w), _stats_all(r, e)


def moe_dropless_ragged(params, x, r: Routing):
    e = params["w1"].shape[0]
    t, s = r.index.shape
    order, _, sizes = _sorted_rows(r, e)
    xs = x[order // s]  # unused rows sit past sum(sizes); ragged_dot leaves them 0
    h = jax.nn.gelu(jax.lax.ragged_dot(xs, params["w1"], sizes))
    y = jax.lax.ragged_dot(h, params["w2"], sizes)
    inv = jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0], dtype=order.dtype))
    out_rows = y[inv].reshape(t, s, -1)
    w = jnp.where(r.mask, r.weight, 0.0).astype(x.dtype)
    return jnp.einsum("tsd,ts->td", out_rows, w), _stats_all(r, e)


def moe_apply(params: dict, x: jax.Array, r: Routing, *, impl: str, capacity: int, tile: int = 128):
    """Expert mixture for T tokens x [T, d] under routing r; returns (out [T, d], Stats)."""
    impl = resolve_impl(impl)
    if impl == "einsum":
        return moe_einsum(params, x, r, capacity)
    if impl == "capacity":
        return moe_capacity(params, x, r, capacity)
    if impl == "dropless_tiles":
        return moe_dropless_tiles(params, x, r, tile)
    return moe_dropless_ragged(params, x, r)
