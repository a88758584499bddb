"""Cheap dropout for wide node-feature matrices on CPU.

Drawing one float per element (jax.random.bernoulli) dominates a Cora GCN step on CPU
(4M features). Here each random 32-bit word yields 32 Bernoulli(1/2) draws, or 4 draws at
rate k/256 for other rates: the same distribution (rate rounded to 1/256), fewer bits.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def dropout(key, x, rate: float, deterministic: bool = False):
    if deterministic or rate == 0.0:
        return x
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate={rate} must be in [0, 1)")
    n = x.size
    if rate == 0.5:
        words = jax.random.bits(key, (-(-n // 32),), jnp.uint32)
        keep = ((words[:, None] >> jnp.arange(32, dtype=jnp.uint32)) & 1).reshape(-1)[:n] == 1
    else:
        thr = int(round(rate * 256))
        keep = jax.random.bits(key, (n,), jnp.uint8) >= thr
        rate = thr / 256
    keep = keep.reshape(x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)
