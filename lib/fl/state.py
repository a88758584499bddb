"""Per-client persistent state kept by the server across rounds (part of the checkpoint).

- `Memory`: one stored update per client (FedStale's h_k, FedVARP, MIFA), kept as a flat
  [N, P] array in a chosen dtype (bfloat16 halves it) rather than a pytree of N copies,
  so gather/scatter of the round's participants is one indexed op.
- `IntervalStats`: FedAU's participation-interval statistics (counter since last
  participation, sum and count of intervals, each interval capped at K). Three int32
  per client; omega_n = mean interval estimates 1/p_n.

All functions are pure; indices past N (the engine's padding slots) are dropped.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


# ----------------------------------------------------------------------------- memory


def memory_init(num_clients: int, params, dtype=jnp.float32) -> jax.Array:
    flat, _ = ravel_pytree(params)
    return jnp.zeros((num_clients, flat.size), dtype)


def flatten_clients(tree) -> jax.Array:
    """Pytree with leading client axis [M, ...] -> [M, P] float32 (ravel_pytree order)."""
    leaves = jax.tree.leaves(tree)
    m = leaves[0].shape[0]
    return jnp.concatenate([l.reshape(m, -1).astype(jnp.float32) for l in leaves], axis=1)


def unflatten_clients(flat, like):
    """Inverse of flatten_clients: [M, P] -> pytree shaped like `like` ([M, ...] leaves)."""
    leaves, treedef = jax.tree.flatten(like)
    out, off = [], 0
    for l in leaves:
        size = l[0].size
        out.append(flat[:, off:off + size].reshape(l.shape).astype(l.dtype))
        off += size
    return jax.tree.unflatten(treedef, out)


def memory_gather(mem, idx) -> jax.Array:
    return mem[jnp.minimum(idx, mem.shape[0] - 1)].astype(jnp.float32)


def memory_scatter(mem, idx, valid, values) -> jax.Array:
    idx = jnp.where(valid, idx, mem.shape[0])  # out of range -> dropped
    return mem.at[idx].set(values.astype(mem.dtype), mode="drop")


# ----------------------------------------------------------------------------- intervals


class IntervalStats(NamedTuple):
    since: jax.Array  # [N] int32 rounds since the last participation (or last cap)
    total: jax.Array  # [N] int32 sum of recorded intervals
    count: jax.Array  # [N] int32 number of recorded intervals


def intervals_init(num_clients: int) -> IntervalStats:
    z = jnp.zeros((num_clients,), jnp.int32)
    return IntervalStats(z, z, z)


def interval_weights(stats: IntervalStats) -> jax.Array:
    """omega_n = mean recorded interval, 1 where none is recorded yet (FedAU)."""
    return jnp.where(stats.count > 0, stats.total / jnp.maximum(stats.count, 1), 1.0).astype(jnp.float32)


def intervals_update(stats: IntervalStats, participating, cutoff: int) -> IntervalStats:
    """After a round: participants record since+1 and reset; others count up, and a
    run of `cutoff` absences is recorded as an interval of length `cutoff` (FedAU)."""
    since = stats.since
    capped = (~participating) & (since + 1 >= cutoff)
    record = participating | capped
    length = jnp.where(participating, since + 1, cutoff)
    return IntervalStats(
        since=jnp.where(record, 0, since + 1),
        total=stats.total + jnp.where(record, length, 0),
        count=stats.count + record.astype(jnp.int32),
    )
