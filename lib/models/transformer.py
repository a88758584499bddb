"""Pre-LayerNorm decoder (causal) transformer block whose feed-forward sublayer is a parameter.

`Block(num_heads, ffn=..., ffn_name=...)`: x + attn(ln1(x)), then x + ffn(ln2(x)). `ffn` builds the
feed-forward module inside the block (it is called as `ffn(name=ffn_name)`, so its parameters sit
under `<block>/<ffn_name>`); the module is called as `module(h, **ffn_args)` and returns `y` or
`(y, aux)`. A dense block uses `functools.partial(DenseFFN, d_ff)`; lib.moe.model builds MoE blocks
with lib.moe.layer.MoEFFN, so this module knows nothing about experts.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax.numpy as jnp


class DenseFFN(nn.Module):
    d_ff: int

    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(self.d_ff, use_bias=False, name="w1")(x))
        return nn.Dense(x.shape[-1], use_bias=False, name="w2")(h)


class Block(nn.Module):
    """Returns (x, aux): aux is what the FFN returned beside its output, None for a plain one."""

    num_heads: int
    ffn: Callable[..., nn.Module]
    ffn_name: str = "ffn"

    @nn.compact
    def __call__(self, x, **ffn_args):
        l = x.shape[1]
        mask = nn.make_causal_mask(jnp.ones((1, l)))
        h = nn.LayerNorm(use_bias=False, name="ln1")(x)
        x = x + nn.MultiHeadDotProductAttention(self.num_heads, use_bias=False, name="attn")(h, h, mask=mask)
        h = nn.LayerNorm(use_bias=False, name="ln2")(x)
        out = self.ffn(name=self.ffn_name)(h, **ffn_args)
        y, aux = out if isinstance(out, tuple) else (out, None)
        return x + y, aux
