"""Bottom and top models for vertical FL (Wide&Deep style, as in the CELU-VFL experiments).

`WideDeep` (a party's bottom): a linear ("wide") map of the features plus an MLP ("deep"),
both to the `embed_dim` activation the party sends. `Top` (the guest's): an MLP over the
concatenated activations of all parties, one logit out.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp


class WideDeep(nn.Module):
    embed_dim: int
    hidden: Sequence[int] = (64,)

    @nn.compact
    def __call__(self, x):
        wide = nn.Dense(self.embed_dim, name="wide")(x)
        h = x
        for i, w in enumerate(self.hidden):
            h = nn.relu(nn.Dense(w, name=f"deep_{i}")(h))
        return wide + nn.Dense(self.embed_dim, name="deep_out")(h)


class Top(nn.Module):
    hidden: Sequence[int] = ()

    @nn.compact
    def __call__(self, acts):
        """acts: [P, B, E] (party-major) -> logits [B]."""
        h = jnp.concatenate(list(acts), axis=-1)
        for i, w in enumerate(self.hidden):
            h = nn.relu(nn.Dense(w, name=f"hidden_{i}")(h))
        return nn.Dense(1, name="out")(h)[..., 0]
