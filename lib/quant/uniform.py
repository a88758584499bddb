"""Uniform affine int-k quantization, stochastic rounding, fake-quant with straight-through
gradients, percentile ranges, and an integer matmul path.

Convention: q = clip(round(x / scale) + zero_point, qmin, qmax), x_hat = (q - zero_point) * scale,
unsigned range [0, 2^bits - 1] for affine, signed [-(2^(bits-1) - 1), 2^(bits-1) - 1] for symmetric.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from lib.config import ConfigError


class QuantConfigError(ConfigError):
    """Bad quantizer setting (names the key, the value and what is allowed)."""


def check_bits(bits: int, name: str = "bits", lo: int = 1, hi: int = 8) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not lo <= bits <= hi:
        raise QuantConfigError(f"{name}={bits!r} must be an integer in {lo}..{hi}")
    return bits


def qrange(bits: int, symmetric: bool):
    if symmetric:
        m = 2 ** (bits - 1) - 1
        return -m, m
    return 0, 2 ** bits - 1


def scale_zero_point(lo, hi, bits: int, symmetric: bool):
    """Scale and zero point mapping [lo, hi] (symmetric: [-max|.|, max|.|]) onto the int grid."""
    qmin, qmax = qrange(bits, symmetric)
    if symmetric:
        amax = jnp.maximum(jnp.maximum(jnp.abs(lo), jnp.abs(hi)), 1e-8)
        return amax / qmax, jnp.zeros_like(amax)
    lo = jnp.minimum(lo, 0.0)  # keep 0 exactly representable (padding, ReLU zeros)
    hi = jnp.maximum(hi, lo + 1e-8)
    scale = (hi - lo) / (qmax - qmin)
    zp = jnp.clip(jnp.round(qmin - lo / scale), qmin, qmax)
    return scale, zp


def quantize(x, scale, zero_point, bits: int, symmetric: bool, key: Optional[jax.Array] = None):
    """Integer codes (int32). With `key`, stochastic rounding: floor(v + u), u ~ U[0, 1), which is
    unbiased: E[q] = v inside the range."""
    qmin, qmax = qrange(bits, symmetric)
    v = x / scale + zero_point
    if key is None:
        q = jnp.round(v)
    else:
        q = jnp.floor(v + jax.random.uniform(key, x.shape, x.dtype))
    return jnp.clip(q, qmin, qmax).astype(jnp.int32)


def dequantize(q, scale, zero_point):
    return (q.astype(jnp.float32) - zero_point) * scale


def percentile_range(x, pct: float, symmetric: bool = False, mask=None):
    """(lo, hi) = (pct, 100 - pct) percentiles of x (symmetric: of |x|); pct=0 gives min/max.
    Degree-Quant uses 0.1 % for INT8, 1 % for INT4. Gradient-free."""
    x = jax.lax.stop_gradient(x)
    if mask is not None:
        x = jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x, jnp.nan)
    flat = x.reshape(-1)
    if symmetric:
        hi = jnp.nanpercentile(jnp.abs(flat), 100.0 - pct) if pct > 0 else jnp.nanmax(jnp.abs(flat))
        return -hi, hi
    if pct > 0:
        lo, hi = jnp.nanpercentile(flat, jnp.array([pct, 100.0 - pct]))
    else:
        lo, hi = jnp.nanmin(flat), jnp.nanmax(flat)
    return lo, hi


@jax.custom_vjp
def _ste_clip(x, x_hat, lo, hi):
    return x_hat


def _ste_fwd(x, x_hat, lo, hi):
    return x_hat, (x, lo, hi)


def _ste_bwd(res, g):
    x, lo, hi = res
    inside = (x >= lo) & (x <= hi)
    return jnp.where(inside, g, 0.0), None, None, None


_ste_clip.defvjp(_ste_fwd, _ste_bwd)


def fake_quant(x, bits: int, lo=None, hi=None, *, symmetric: bool = False, pct: float = 0.0,
               key: Optional[jax.Array] = None):
    """Quantize-dequantize in float. Forward: x_hat; backward: straight-through estimator with
    clipping (gradient passes where lo <= x <= hi, zero outside), as in Degree-Quant."""
    if lo is None or hi is None:
        lo, hi = percentile_range(x, pct, symmetric)
    scale, zp = scale_zero_point(lo, hi, bits, symmetric)
    x_hat = dequantize(quantize(x, scale, zp, bits, symmetric, key), scale, zp).astype(x.dtype)
    lo_r = (qrange(bits, symmetric)[0] - zp) * scale
    hi_r = (qrange(bits, symmetric)[1] - zp) * scale
    return _ste_clip(x, jax.lax.stop_gradient(x_hat), lo_r, hi_r)


def int_matmul(qx, zx, qw):
    """(qx - zx) @ qw in exact integer arithmetic: int8 operands, int32 accumulation
    (lax.dot_general with preferred_element_type=int32), zero point folded in afterwards."""
    acc = jax.lax.dot_general(qx.astype(jnp.int8) if qx.dtype != jnp.uint8 else qx,
                              qw.astype(jnp.int8), (((qx.ndim - 1,), (0,)), ((), ())),
                              preferred_element_type=jnp.int32)
    col = jnp.sum(qw.astype(jnp.int32), axis=0)
    return acc - zx.astype(jnp.int32) * col


def quantized_dense_int(x, w, bits_x: int = 8, bits_w: int = 8, pct: float = 0.0):
    """x @ w through the integer path: x affine-quantized to uint8 codes shifted to int8, w
    symmetric int8; returns float32. Matches fake-quant x_hat @ w_hat up to float rounding."""
    lo, hi = percentile_range(x, pct)
    sx, zx = scale_zero_point(lo, hi, bits_x, symmetric=False)
    qx = quantize(x, sx, zx, bits_x, symmetric=False) - 128  # uint8 grid -> int8 storage
    wl, wh = percentile_range(w, 0.0, symmetric=True)
    sw, _ = scale_zero_point(wl, wh, bits_w, symmetric=True)
    qw = quantize(w, sw, 0.0, bits_w, symmetric=True)
    acc = int_matmul(qx.astype(jnp.int8), (zx - 128).astype(jnp.int32), qw)
    return acc.astype(jnp.float32) * (sx * sw)
