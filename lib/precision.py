"""Mixed precision as configuration: float32 master weights, a compute dtype for the math.

Config keys (top level; both optional, default "float32"):
    param_dtype    dtype of the parameters and of the optimizer state (keep "float32")
    compute_dtype  dtype of activations and matmul/conv inputs: "float32", "bfloat16", "float16"

What stays float32 whatever compute_dtype says, and why: losses (logits are cast to float32
before the softmax cross-entropy: log-sum-exp of bf16 logits loses ~2-3 digits), MoE router
logits and softmax (top-k choices flip on bf16 ties), aggregation of client updates (sums
of many deltas), optimizer states, and sparse neighbour sums in GNNs (a node's sum over
hundreds of neighbours). A bf16 step is therefore numerically a float32 step with bf16
matmuls, and a checkpoint always holds float32 parameters, so it restores exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from lib.config import ConfigError

FLOATS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


class Policy(NamedTuple):
    param_dtype: jnp.dtype
    compute_dtype: jnp.dtype

    @property
    def is_mixed(self) -> bool:
        return self.compute_dtype != jnp.float32


def dtype(name, key: str = "compute_dtype"):
    """The float dtype called `name`; anything else is a ConfigError naming the key."""
    if name not in FLOATS:
        raise ConfigError(f"config.{key}={name!r} is not a floating dtype; choose one of {list(FLOATS)}")
    return FLOATS[name]


def policy(config) -> Policy:
    """config.param_dtype / config.compute_dtype (default float32), validated."""
    get = config.get if hasattr(config, "get") else (lambda k, d=None: d)
    return Policy(dtype(get("param_dtype", "float32") or "float32", "param_dtype"),
                  dtype(get("compute_dtype", "float32") or "float32", "compute_dtype"))


def require_float32(config, what: str) -> None:
    """For integer / quantized paths (fake-quant layers, int codecs): bf16 compute is refused."""
    p = policy(config)
    if p.is_mixed or p.param_dtype != jnp.float32:
        raise ConfigError(f"{what} runs in float32 only (its quantizers emulate integer arithmetic); "
                          f"got param_dtype={jnp.dtype(p.param_dtype).name}, "
                          f"compute_dtype={jnp.dtype(p.compute_dtype).name}")
