"""Quantized GNN layers with Degree-Quant (Tailor et al., ICLR 2021).

Fake quantization (straight-through, clipped) of layer inputs, weights, messages and
aggregation outputs; per-tensor ranges from percentiles of the current tensor (0.1 % for
INT8, 1 % for INT4, on a fixed subsample so the sort stays cheap). Degree-Quant's protection:
during training each node keeps full precision with probability
p_i = p_low + (p_high - p_low) * CDF_indeg(deg_in(i)); at inference every node is quantized.
Messages here are the transformed node features X W that travel along edges (with fixed edge
weights A (XW) quantizing XW quantizes every message up to the edge scale). With
`int_matmul=True` the inference-time dense map runs on the integer path (int8 x int8 -> int32).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.graph.ops import Adjacency, spmm

from .uniform import check_bits, fake_quant, percentile_range, quantized_dense_int

_SAMPLE = 65536


def default_pct(bits: int) -> float:
    return 0.1 if bits >= 8 else 1.0


def _range(x, pct, symmetric=False):
    flat = x.reshape(-1)
    if flat.size > _SAMPLE:  # fixed strided subsample: cheap, deterministic
        flat = flat[:: flat.size // _SAMPLE]
    return percentile_range(flat, pct, symmetric)


def fq(x, bits, pct, protect=None, symmetric=False):
    """Fake-quantize x [N, ...]; rows with protect=True keep full precision."""
    if bits >= 32:
        return x
    lo, hi = _range(x, pct, symmetric)
    xq = fake_quant(x, bits, lo, hi, symmetric=symmetric)
    if protect is None:
        return xq
    return jnp.where(protect.reshape(protect.shape + (1,) * (x.ndim - 1)), x, xq)


def protect_mask(key, in_degree, node_mask, p_low: float = 0.0, p_high: float = 0.1):
    """Bernoulli protective mask, p_i grows with the in-degree CDF over real nodes."""
    deg = jnp.where(node_mask, in_degree, -1)
    n = jnp.maximum(node_mask.sum(), 1)
    srt = jnp.sort(deg)
    cdf = (jnp.searchsorted(srt, deg, side="right") - (deg.size - n)) / n
    p = p_low + (p_high - p_low) * jnp.clip(cdf, 0.0, 1.0)
    return (jax.random.uniform(key, deg.shape) < p) & node_mask


class QDense(nn.Module):
    features: int
    bits_w: int = 8
    bits_a: int = 8
    use_bias: bool = True
    int_matmul: bool = False

    @nn.compact
    def __call__(self, x, protect=None, train: bool = False):
        check_bits(self.bits_w, "bits_w"); check_bits(self.bits_a, "bits_a")
        w = self.param("kernel", nn.initializers.glorot_uniform(), (x.shape[-1], self.features))
        if self.int_matmul and not train:
            h = quantized_dense_int(x, w, self.bits_a, self.bits_w, default_pct(self.bits_a))
        else:
            xq = fq(x, self.bits_a, default_pct(self.bits_a), protect)
            wq = fq(w, self.bits_w, 0.0, symmetric=True)
            h = xq @ wq
        if self.use_bias:
            h = h + self.param("bias", nn.initializers.zeros, (self.features,))
        return h


class QGCNConv(nn.Module):
    """GCN layer with quantized input, weights, messages (XW) and aggregation output."""
    features: int
    bits_w: int = 8
    bits_a: int = 8
    int_matmul: bool = False

    @nn.compact
    def __call__(self, adj: Adjacency, x, protect=None, train: bool = False):
        pct = default_pct(self.bits_a)
        prot = protect if train else None
        h = QDense(self.features, self.bits_w, self.bits_a, use_bias=False,
                   int_matmul=self.int_matmul, name="linear")(x, prot, train)
        h = fq(h, self.bits_a, pct, prot)          # messages
        out = fq(spmm(adj, h), self.bits_a, pct, prot)  # aggregation
        return out + self.param("bias", nn.initializers.zeros, (self.features,))


class QGINConv(nn.Module):
    """GIN layer: quantized messages / aggregation, MLP of QDense layers."""
    hidden: Sequence[int]
    bits_w: int = 8
    bits_a: int = 8
    int_matmul: bool = False

    @nn.compact
    def __call__(self, adj: Adjacency, x, protect=None, train: bool = False):
        pct = default_pct(self.bits_a)
        prot = protect if train else None
        eps = self.param("eps", nn.initializers.zeros, ())
        xq = fq(x, self.bits_a, pct, prot)
        h = fq((1.0 + eps) * xq + spmm(adj, xq), self.bits_a, pct, prot)
        for i, f in enumerate(self.hidden):
            h = QDense(f, self.bits_w, self.bits_a, int_matmul=self.int_matmul, name=f"mlp_{i}")(h, prot, train)
            if i < len(self.hidden) - 1:
                h = nn.relu(h)
        return h
