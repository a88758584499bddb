"""Small decoder-only (causal) transformer LM with an MoE feed-forward block in every `moe_every`-th layer.

Pre-LayerNorm blocks (lib.models.transformer.Block); learned positions; layers with index
i % moe_every == moe_every - 1 use lib.moe.layer.MoEFFN (so with moe_every=2: layers 1, 3, ...),
the others a dense GELU FFN. Returns (logits [B, L, V], aux) where aux holds the summed MoE
auxiliary loss, the per-MoE-layer expert load [n_moe, E] and the mean dropped fraction. Routing
traces and loads are sown into 'intermediates' under `block<i>/moe`; router state lives in the
'moe_state' collection.

`dtype` is the compute dtype of the blocks and the residual stream (parameters stay float32; the
router's logits and softmax and the logits returned for the loss are float32); `remat` is a
lib.models.transformer.REMAT policy applied to every block.
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.models.transformer import DenseFFN, remat_block
from lib.moe.layer import MoEFFN, MoESpec


class MoETransformerLM(nn.Module):
    vocab_size: int
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 4
    d_ff: int = 256
    max_len: int = 256
    moe: MoESpec | None = None
    moe_every: int = 2
    parallel: Any = None  # a lib.moe.parallel.ExpertParallel for expert parallelism
    dtype: Any = jnp.float32
    remat: str = "none"

    @nn.compact
    def __call__(self, ids, *, step=0, train: bool = True):
        b, l = ids.shape
        x = nn.Embed(self.vocab_size, self.d_model, name="embed")(ids)
        x = (x + self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.d_model))[:l]).astype(self.dtype)
        block = remat_block(self.remat)
        auxes = []
        for i in range(self.num_layers):
            if self.moe is not None and i % self.moe_every == self.moe_every - 1:
                ffn = functools.partial(MoEFFN, self.moe, parallel=self.parallel, dtype=self.dtype)
                x, aux = block(self.num_heads, ffn, "moe", ffn_context=True, dtype=self.dtype,
                               name=f"block{i}")(x, ids, step, train)
                auxes.append(aux)
            else:
                ffn = functools.partial(DenseFFN, self.d_ff, dtype=self.dtype)
                x, _ = block(self.num_heads, ffn, dtype=self.dtype, name=f"block{i}")(x, ids, step, train)
        x = nn.LayerNorm(use_bias=False, name="ln_f", dtype=self.dtype)(x)
        logits = nn.Dense(self.vocab_size, use_bias=False, name="head", dtype=self.dtype)(x).astype(jnp.float32)
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
