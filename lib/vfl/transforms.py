"""Transforms applied to a message before it leaves a party, usable by any method.

- `quantize`: per-message affine int-k with stochastic rounding (unbiased; lib.quant.uniform),
  dequantized on arrival; the wire carries k bits per element plus the scale and zero point.
- `gaussian_noise`: each row (one sample's activation) clipped to L2 norm `clip`, then
  N(0, (sigma * clip)^2) added per element: the Gaussian mechanism on activations or labels.
- `bag_average`: labels replaced by the mean of their bag (consecutive groups of `bag_size`),
  the aggregate responses a label party may be limited to sharing.

All are pure functions of (x, key); `message_bytes` is what the wire model charges.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lib.config import ConfigError
from lib.quant import uniform


class TransformConfigError(ConfigError):
    """A message-transform setting is invalid."""


FULL_BITS = 32  # float32: no quantization


def check(bits: int, sigma: float, clip: float, where: str = "transform") -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not (1 <= bits <= 8 or bits == FULL_BITS):
        raise TransformConfigError(f"{where}.bits={bits!r} must be an integer in 1..8, or 32 (no quantization)")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise TransformConfigError(f"{where}.noise_sigma={sigma!r} must be a finite number >= 0")
    if not (isinstance(clip, (int, float)) and math.isfinite(clip) and clip > 0):
        raise TransformConfigError(f"{where}.noise_clip={clip!r} must be a finite number > 0")


def message_bytes(num_elements: int, bits: int = FULL_BITS) -> int:
    """Bytes on the wire: packed k-bit codes plus a float32 scale and zero point when quantized."""
    if bits == FULL_BITS:
        return 4 * num_elements
    return math.ceil(num_elements * bits / 8) + 8


def quantize(x, bits: int, key):
    """x after an int-`bits` round trip (min/max range of this message, stochastic rounding)."""
    if bits == FULL_BITS:
        return x
    lo, hi = jnp.min(x), jnp.max(x)
    scale, zp = uniform.scale_zero_point(lo, hi, bits, symmetric=False)
    return uniform.dequantize(uniform.quantize(x, scale, zp, bits, symmetric=False, key=key), scale, zp).astype(x.dtype)


def gaussian_noise(x, sigma: float, clip: float, key):
    """Rows (last axis) clipped to L2 norm `clip`, plus N(0, (sigma * clip)^2) noise; sigma=0: unchanged."""
    if sigma == 0:
        return x
    norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
    x = x * jnp.minimum(1.0, clip / jnp.maximum(norm, 1e-12))
    return x + sigma * clip * jax.random.normal(key, x.shape, x.dtype)


def apply(x, key, *, bits: int = FULL_BITS, sigma: float = 0.0, clip: float = 1.0):
    """Noise (privacy) first, then quantization (the wire format)."""
    k1, k2 = jax.random.split(key)
    return quantize(gaussian_noise(x, sigma, clip, k1), bits, k2)


def check_bag_size(bag_size: int, num_examples: int, key: str = "bag_size") -> int:
    if isinstance(bag_size, bool) or not isinstance(bag_size, int) or bag_size < 1:
        raise TransformConfigError(f"config.{key}={bag_size!r} must be an integer >= 1")
    if bag_size > num_examples:
        raise TransformConfigError(f"config.{key}={bag_size} is larger than the data ({num_examples} examples)")
    if num_examples % bag_size:
        raise TransformConfigError(f"config.{key}={bag_size} does not divide the {num_examples} examples of a batch")
    return bag_size


def bag_average(y, bag_size: int):
    """[n, ...] -> [n, ...]: every entry replaced by the mean over its bag of `bag_size` consecutive rows."""
    n = y.shape[0]
    check_bag_size(bag_size, n)
    bags = y.reshape((n // bag_size, bag_size) + y.shape[1:]).mean(axis=1, keepdims=True)
    return jnp.broadcast_to(bags, (n // bag_size, bag_size) + y.shape[1:]).reshape(y.shape)
