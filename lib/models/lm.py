"""A small dense decoder-only (causal) transformer LM: token embedding + learned positions,
`num_layers` pre-LayerNorm `Block`s with a GELU feed-forward, final LayerNorm, untied head.
Returns float32 logits [B, L, V]."""
from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

from lib.models.transformer import Block, DenseFFN


class TransformerLM(nn.Module):
    vocab_size: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 256
    max_len: int = 256

    @nn.compact
    def __call__(self, ids):
        l = ids.shape[1]
        x = nn.Embed(self.vocab_size, self.d_model, name="embed")(ids)
        x = x + self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.d_model))[:l]
        for i in range(self.num_layers):
            x, _ = Block(self.num_heads, functools.partial(DenseFFN, self.d_ff), name=f"block{i}")(x)
        x = nn.LayerNorm(use_bias=False, name="ln_f")(x)
        return nn.Dense(self.vocab_size, use_bias=False, name="head")(x).astype(jnp.float32)
