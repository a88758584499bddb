"""Small decoder-only (causal) transformer LM with an MoE feed-forward block in every other layer.

Pre-LayerNorm blocks; learned positions; layers with index i % moe_every == moe_every - 1 use
lib.moe.layer.MoEFFN (so with moe_every=2: layers 1, 3, ...), the others a dense GELU FFN.
Returns (logits [B, L, V], aux) where aux holds the summed MoE auxiliary loss, the per-MoE-layer
expert load [n_moe, E] and the mean dropped fraction. Routing traces are sown into 'intermediates'.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.moe.layer import MoEFFN, MoESpec


class DenseFFN(nn.Module):
    d_ff: int

    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(self.d_ff, use_bias=False, name="w1")(x))
        return nn.Dense(x.shape[-1], use_bias=False, name="w2")(h)


class Block(nn.Module):
    num_heads: int
    d_ff: int
    moe: MoESpec | None = None
    parallel: Any = None

    @nn.compact
    def __call__(self, x, *, token_ids, step, train):
        l = x.shape[1]
        mask = nn.make_causal_mask(jnp.ones((1, l)))
        h = nn.LayerNorm(use_bias=False, name="ln1")(x)
        x = x + nn.MultiHeadDotProductAttention(self.num_heads, use_bias=False, name="attn")(h, h, mask=mask)
        h = nn.LayerNorm(use_bias=False, name="ln2")(x)
        if self.moe is None:
            return x + DenseFFN(self.d_ff, name="ffn")(h), None
        y, aux = MoEFFN(self.moe, parallel=self.parallel, name="moe")(h, token_ids=token_ids, step=step,
                                                                       train=train)
        return x + y, aux


class TransformerLM(nn.Module):
    vocab_size: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 4
    d_ff: int = 256
    max_len: int = 256
    moe: MoESpec | None = None
    moe_every: int = 2
    parallel: Any = None

    @nn.compact
    def __call__(self, ids, *, step=0, train: bool = True):
        b, l = ids.shape
        x = nn.Embed(self.vocab_size, self.d_model, name="embed")(ids)
        x = x + self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.d_model))[:l]
        auxes = []
        for i in range(self.num_layers):
            use_moe = self.moe is not None and i % self.moe_every == self.moe_every - 1
            x, aux = Block(self.num_heads, self.d_ff, self.moe if use_moe else None, self.parallel,
                           name=f"block{i}")(x, token_ids=ids, step=step, train=train)
            if aux is not None:
                auxes.append(aux)
        x = nn.LayerNorm(use_bias=False, name="ln_f")(x)
        logits = nn.Dense(self.vocab_size, use_bias=False, name="head")(x)
        if not auxes:
            z = jnp.zeros(())
            return logits, {"moe_loss": z, "dropped_fraction": z}
        return logits, {
            "moe_loss": sum(a["loss"] for a in auxes),
            "aux_loss": sum(a["aux_loss"] for a in auxes) / len(auxes),
            "z_loss": sum(a["z_loss"] for a in auxes) / len(auxes),
            "load": jnp.stack([a["load"] for a in auxes]),
            "dropped_fraction": sum(a["dropped_fraction"] for a in auxes) / len(auxes),
        }
