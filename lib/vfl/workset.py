"""The CELU workset: a cache of up to W recent communicated batches, with their staleness.

The metadata is a dict of [W] arrays (an explicit pytree, checkpointed with the train state):
`tau` (the step at which the entry was communicated), `uses` (local updates made from it),
`last_used` (the local-update counter when it was last used), `valid`. Payloads (activations,
derivatives, sample indices) are kept by the caller as arrays with a W axis and written with
`write`, so they can be laid out per party (sharded) while the metadata is replicated.

Rules (the authors' implementation):
- `insert`: a communicated batch goes into a free slot, else over the oldest entry;
- `expire`: an entry whose staleness step - tau reaches `max_staleness` (W * R) is evicted;
- `sample`: uniform over valid entries not used in the last `avoid_recent` (W - 1) local updates;
  `ok` is False when none qualifies (the caller skips that local update);
- `mark_used`: after a local update, an entry used `max_uses` (R) times is evicted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEVER = -(2 ** 30)


def init(size: int) -> dict:
    return {"tau": jnp.full((size,), NEVER, jnp.int32), "uses": jnp.zeros((size,), jnp.int32),
            "last_used": jnp.full((size,), NEVER, jnp.int32), "valid": jnp.zeros((size,), bool)}


def insert(ws: dict, step) -> tuple[dict, jax.Array]:
    """Slot for a batch communicated at `step` (a free one, else the oldest) and the updated metadata."""
    age_key = jnp.where(ws["valid"], ws["tau"], NEVER - 1)  # free slots first, then the oldest tau
    slot = jnp.argmin(age_key).astype(jnp.int32)
    ws = {"tau": ws["tau"].at[slot].set(step), "uses": ws["uses"].at[slot].set(0),
          "last_used": ws["last_used"].at[slot].set(NEVER), "valid": ws["valid"].at[slot].set(True)}
    return ws, slot


def expire(ws: dict, step, max_staleness: int) -> dict:
    return {**ws, "valid": ws["valid"] & (step - ws["tau"] < max_staleness)}


def candidates(ws: dict, local_count, avoid_recent: int) -> jax.Array:
    return ws["valid"] & (ws["last_used"] < local_count - avoid_recent + 1)


def sample(ws: dict, key, local_count, avoid_recent: int) -> tuple[jax.Array, jax.Array]:
    """(slot, ok): a uniformly drawn candidate; ok=False when there is none."""
    cand = candidates(ws, local_count, avoid_recent)
    slot = jax.random.categorical(key, jnp.where(cand, 0.0, -jnp.inf)).astype(jnp.int32)
    ok = cand.any()
    return jnp.where(ok, slot, 0), ok


def mark_used(ws: dict, slot, ok, local_count, max_uses: int) -> dict:
    uses = ws["uses"].at[slot].add(ok.astype(jnp.int32))
    last = jnp.where(ok, ws["last_used"].at[slot].set(local_count), ws["last_used"])
    valid = ws["valid"] & ~((jnp.arange(uses.shape[0]) == slot) & ok & (uses >= max_uses))
    return {**ws, "uses": uses, "last_used": last, "valid": valid}


def write(payload, slot, value, axis: int = 0):
    """payload with `value` written at index `slot` of `axis` (the W axis)."""
    return jax.lax.dynamic_update_index_in_dim(payload, value.astype(payload.dtype), slot, axis)


def read(payload, slot, axis: int = 0):
    return jax.lax.dynamic_index_in_dim(payload, slot, axis, keepdims=False)
