"""A plain MLP classifier (flax linen)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
    """dtype: compute dtype (activations, matmul inputs); param_dtype: the stored weights.
    Logits come out in float32 (losses are computed in float32, see lib/precision.py)."""

    hidden: Sequence[int]
    num_classes: int
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[0], -1).astype(self.dtype)
        for i, width in enumerate(self.hidden):
            x = nn.relu(nn.Dense(width, dtype=self.dtype, param_dtype=self.param_dtype, name=f"dense_{i}")(x))
        out = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="head")(x)
        return out.astype(jnp.float32)
