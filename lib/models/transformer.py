"""Pre-LayerNorm decoder (causal) transformer block whose feed-forward sublayer is a parameter.

`Block(num_heads, ffn=..., ffn_name=...)`: x + attn(ln1(x)), then x + ffn(ln2(x)). `ffn` builds the
feed-forward module inside the block (it is called as `ffn(name=ffn_name)`, so its parameters sit
under `<block>/<ffn_name>`); the module is called as `module(h, **ffn_args)` and returns `y` or
`(y, aux)`. A dense block uses `functools.partial(DenseFFN, d_ff)`; lib.moe.model builds MoE blocks
with lib.moe.layer.MoEFFN (`ffn_context=True`: called with token_ids, step, train), so this module
knows nothing about experts.

Precision: `dtype` is the compute dtype of the block (matmul inputs, activations); parameters stay
float32 and LayerNorm statistics are reduced in float32 (flax's default). Rematerialisation:
`remat_block(policy)` returns Block wrapped in `nn.remat` with one of REMAT's policies; parameter
paths are unchanged, so a checkpoint restores with or without it.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# remat policy per block: what the backward pass may reuse instead of recomputing
REMAT = {"none": None,
         "block": jax.checkpoint_policies.nothing_saveable,  # recompute the whole block
         "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable}  # keep matmul outputs


class DenseFFN(nn.Module):
    d_ff: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(self.d_ff, use_bias=False, name="w1", dtype=self.dtype)(x))
        return nn.Dense(x.shape[-1], use_bias=False, name="w2", dtype=self.dtype)(h)


class Block(nn.Module):
    """Returns (x, aux): aux is what the FFN returned beside its output, None for a plain one."""

    num_heads: int
    ffn: Callable[..., nn.Module]
    ffn_name: str = "ffn"
    ffn_context: bool = False  # call the FFN with (h, token_ids=, step=, train=)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, token_ids=None, step=0, train: bool = True):
        l = x.shape[1]
        mask = nn.make_causal_mask(jnp.ones((1, l)))
        h = nn.LayerNorm(use_bias=False, name="ln1", dtype=self.dtype)(x)
        x = x + nn.MultiHeadDotProductAttention(self.num_heads, use_bias=False, name="attn",
                                                dtype=self.dtype)(h, h, mask=mask)
        h = nn.LayerNorm(use_bias=False, name="ln2", dtype=self.dtype)(x)
        module = self.ffn(name=self.ffn_name)
        out = module(h, token_ids=token_ids, step=step, train=train) if self.ffn_context else module(h)
        y, aux = out if isinstance(out, tuple) else (out, None)
        return x + y, aux


def remat_block(policy: str):
    """Block, or Block under nn.remat with REMAT[policy] (`train`, argument 4, stays static)."""
    if policy not in REMAT:
        from lib.config import ConfigError

        raise ConfigError(f"remat policy {policy!r} is unknown; choose one of {list(REMAT)}")
    if REMAT[policy] is None:
        return Block
    return nn.remat(Block, policy=REMAT[policy], static_argnums=(4,))
