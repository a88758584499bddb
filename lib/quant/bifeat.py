"""BiFeat feature compression (Ma et al., arXiv 2207.14696): a scalar (sign + log-magnitude)
and a vector (product-quantization) codec. Fitting and encoding run offline on the host
(NumPy); the store holds only codes; decoding is a jittable gather + arithmetic on device.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .uniform import QuantConfigError, check_bits


# ----------------------------------------------------------------------------- bit packing
def pack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """[N, F] unsigned codes < 2^bits -> [N, ceil(F*bits/8)] uint8, little-endian bit order."""
    check_bits(bits)
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() >= 2 ** bits):
        raise QuantConfigError(f"codes outside 0..{2 ** bits - 1} for bits={bits}")
    n, f = codes.shape
    planes = ((codes[..., None].astype(np.uint16) >> np.arange(bits, dtype=np.uint16)) & 1).astype(np.uint8)
    return np.packbits(planes.reshape(n, f * bits), axis=-1, bitorder="little")


def unpack_bits(packed, bits: int, num_features: int):
    """Inverse of pack_bits, jittable: uint8 [..., B] -> int32 [..., num_features]."""
    packed = jnp.asarray(packed)
    lead = packed.shape[:-1]
    if 8 % bits == 0:  # fast path: whole codes per byte, shift and mask
        per = 8 // bits
        shifts = jnp.arange(per, dtype=jnp.uint8) * bits
        c = (packed[..., None] >> shifts) & jnp.uint8(2 ** bits - 1)
        return c.reshape(lead + (-1,))[..., :num_features].astype(jnp.int32)
    b = jnp.unpackbits(packed, axis=-1, bitorder="little")[..., :num_features * bits]
    b = b.reshape(lead + (num_features, bits)).astype(jnp.int32)
    return jnp.sum(b << jnp.arange(bits, dtype=jnp.int32), axis=-1)


# ----------------------------------------------------------------------------- scalar (SQ)
@dataclasses.dataclass(frozen=True)
class ScalarCodec:
    bits: int
    log_fmin: float
    log_fmax: float
    mean_abs: float      # the 1-bit decode magnitude
    num_features: int

    def encode(self, x: np.ndarray) -> np.ndarray:
        """float [N, F] -> packed uint8 codes [N, ceil(F*bits/8)]."""
        x = np.asarray(x, np.float32)
        if x.shape[-1] != self.num_features:
            raise QuantConfigError(f"feature dim {x.shape[-1]} != codec num_features={self.num_features}")
        if self.bits == 1:
            return pack_bits((x > 0).astype(np.uint8), 1)
        d = 2 ** (self.bits - 1)
        a = np.clip(np.abs(x), 2.0 ** self.log_fmin, 2.0 ** self.log_fmax)
        t = (np.log2(a) - self.log_fmin) / (self.log_fmax + 1e-5 - self.log_fmin)
        e = np.clip(np.floor(t * d), 0, d - 1).astype(np.int64)
        code = np.where(x > 0, d + e, d - 1 - e)
        return pack_bits(code, self.bits)

    def decode(self, packed) -> jax.Array:
        """packed codes (any leading shape) -> float32 features; jittable."""
        code = unpack_bits(packed, self.bits, self.num_features)
        if self.bits == 1:
            return (2.0 * code.astype(jnp.float32) - 1.0) * self.mean_abs
        d = 2 ** (self.bits - 1)
        v = code.astype(jnp.float32) - d + 0.5
        mag = jnp.exp2(jnp.abs(v) * (self.log_fmax - self.log_fmin) / d + self.log_fmin)
        return jnp.sign(v) * mag

    def bytes_per_row(self) -> int:
        return math.ceil(self.num_features * self.bits / 8)


def fit_scalar(x: np.ndarray, bits: int, sample_rows: int = 100_000, seed: int = 0) -> ScalarCodec:
    """Global (not per node/channel) range from the 0.5th / 99.5th percentiles of |x| on a row
    sample; 1 bit: magnitude = mean |x| of the first 10k rows (+0.1 when below 0.1), as BiFeat."""
    check_bits(bits)
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    rows = rng.choice(x.shape[0], min(sample_rows, x.shape[0]), replace=False)
    a = np.abs(x[rows])
    fmin = max(float(np.percentile(a, 0.5)), 1e-5)
    fmax = max(float(np.percentile(a, 99.5)), 2e-5)
    m = float(np.abs(x[:10_000]).mean())
    if m < 0.1:
        m += 0.1
    return ScalarCodec(bits, math.log2(fmin), math.log2(fmax), m, x.shape[1])


# ----------------------------------------------------------------------------- vector (PQ)
@dataclasses.dataclass(frozen=True)
class VectorCodec:
    width: int
    num_codewords: int
    codebooks: np.ndarray   # [P, L, w] float32; codeword L-1 reserved for small-norm vectors
    num_features: int

    @property
    def num_parts(self) -> int:
        return self.codebooks.shape[0]

    @property
    def code_dtype(self):
        return np.uint8 if self.num_codewords <= 256 else (np.uint16 if self.num_codewords <= 65536 else np.int32)

    def _parts(self, x):
        x = np.asarray(x, np.float32)
        pad = self.num_parts * self.width - x.shape[1]
        if pad:
            x = np.pad(x, ((0, 0), (0, pad)))
        return x.reshape(x.shape[0], self.num_parts, self.width)

    def encode(self, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """[N, F] -> codes [N, P] (nearest codeword by cosine; tiny vectors -> reserved one)."""
        parts = self._parts(x)
        cb = self.codebooks[:, :-1]
        cbn = cb / np.maximum(np.linalg.norm(cb, axis=-1, keepdims=True), 1e-12)
        out = np.empty(parts.shape[:2], self.code_dtype)
        for i in range(0, parts.shape[0], chunk):
            p = parts[i:i + chunk]
            sim = np.einsum("npw,plw->npl", p, cbn)
            code = sim.argmax(-1)
            small = np.linalg.norm(p, axis=-1) < self._small[None, :]
            out[i:i + chunk] = np.where(small, self.num_codewords - 1, code)
        return out

    def decode(self, codes, codebooks=None) -> jax.Array:
        """codes [..., P] -> float32 [..., F]: one gather per sub-codebook; jittable. Pass
        `codebooks` as a traced argument inside jit (else they become a compile-time constant)."""
        codes = jnp.asarray(codes).astype(jnp.int32)
        cb = jnp.asarray(self.codebooks if codebooks is None else codebooks)
        vec = cb[jnp.arange(self.num_parts), codes]          # [..., P, w]
        vec = vec.reshape(codes.shape[:-1] + (-1,))
        return vec[..., :self.num_features]

    def bytes_per_row(self) -> int:
        return self.num_parts * np.dtype(self.code_dtype).itemsize

    def codebook_bytes(self) -> int:
        return int(self.codebooks.size * 4)

    _small: np.ndarray = dataclasses.field(default=None, repr=False)


def fit_vector(x: np.ndarray, width: int, num_codewords: int, *, pad: bool = True,
               sample_rows: int = 50_000, iters: int = 25, seed: int = 0) -> VectorCodec:
    """Product quantization with spherical (cosine) k-means per sub-vector, BiFeat style:
    vectors with norm below the (0.3/L)-quantile are left out of k-means and map to the
    reserved codeword L-1 = 1e-4 * ones; centroids are the mean of their members (so they
    keep magnitude), assignment is by cosine similarity."""
    x = np.asarray(x, np.float32)
    f = x.shape[1]
    if width <= 0 or num_codewords < 2:
        raise QuantConfigError(f"width={width} must be > 0 and num_codewords={num_codewords} >= 2")
    if f % width and not pad:
        raise QuantConfigError(f"width={width} does not divide the feature dim {f} (pad=False)")
    rng = np.random.default_rng(seed)
    num_parts = -(-f // width)
    xp = np.pad(x, ((0, 0), (0, num_parts * width - f))).reshape(x.shape[0], num_parts, width)
    rows = rng.choice(x.shape[0], min(sample_rows, x.shape[0]), replace=False)
    sample = xp[rows]
    norms = np.linalg.norm(sample, axis=-1)                      # [S, P]
    small = np.quantile(norms, 0.3 / num_codewords, axis=0)      # [P]
    small = np.maximum(small, 1e-12)
    k = num_codewords - 1
    books = np.empty((num_parts, num_codewords, width), np.float32)
    for p in range(num_parts):
        v = sample[:, p][norms[:, p] >= small[p]]
        books[p, :-1] = _spherical_kmeans(v, k, iters, rng, width)
        books[p, -1] = 1e-4
    codec = VectorCodec(width, num_codewords, books, f)
    object.__setattr__(codec, "_small", small)
    return codec


def _spherical_kmeans(v, k, iters, rng, width):
    if v.shape[0] == 0:
        return np.full((k, width), 1e-4, np.float32)
    vn = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    # distinct directions first, so k-means does not waste codewords on duplicates
    uniq, first = np.unique(np.round(vn, 6), axis=0, return_index=True)
    init = first if first.size >= k else np.concatenate([first, rng.choice(v.shape[0], k - first.size)])
    cent = v[rng.choice(init, k, replace=False)] if init.size >= k else v[init]
    for _ in range(iters):
        cn = cent / np.maximum(np.linalg.norm(cent, axis=-1, keepdims=True), 1e-12)
        assign = (vn @ cn.T).argmax(-1)
        sums = np.zeros_like(cent)
        np.add.at(sums, assign, v)
        cnt = np.bincount(assign, minlength=k)[:, None]
        new = np.where(cnt > 0, sums / np.maximum(cnt, 1), cent)
        if np.allclose(new, cent, atol=1e-7):
            cent = new
            break
        cent = new
    return cent.astype(np.float32)


# ----------------------------------------------------------------------------- store
def make_codec(x: np.ndarray, mode: str, *, bits: int = 8, width: int = 16, num_codewords: int = 256,
               seed: int = 0):
    if mode == "scalar":
        return fit_scalar(x, bits, seed=seed)
    if mode == "vector":
        return fit_vector(x, width, num_codewords, seed=seed)
    if mode == "none":
        return None
    raise QuantConfigError(f"mode={mode!r} must be one of ('none', 'scalar', 'vector')")


def compression_ratio(codec, num_features: int, include_codebook: bool = False,
                      num_rows: Optional[int] = None) -> float:
    """float32 bytes / stored bytes per row (optionally amortising the codebook over num_rows)."""
    if codec is None:
        return 1.0
    stored = codec.bytes_per_row()
    if include_codebook and isinstance(codec, VectorCodec):
        stored += codec.codebook_bytes() / num_rows
    return 4.0 * num_features / stored


def gather_decode(codec, store, idx):
    """Rows `idx` of a compressed store, decoded on device (only codes are gathered)."""
    rows = jnp.take(store, idx, axis=0)
    return rows.astype(jnp.float32) if codec is None else codec.decode(rows)
