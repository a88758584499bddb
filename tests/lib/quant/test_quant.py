import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.quant import (QuantConfigError, compression_ratio, fake_quant, fit_scalar, fit_vector, gather_decode,
                       int_matmul, pack_bits, quantize, quantized_dense_int, scale_zero_point, unpack_bits)


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_unpack_exact(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 2 ** bits, (7, 13))
    packed = pack_bits(codes, bits)
    assert packed.shape == (7, -(-13 * bits // 8)) and packed.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(unpack_bits(packed, bits, 13)), codes)


def test_bits_out_of_range_named_error():
    x = np.ones((4, 4), np.float32)
    for b in (0, 9, 2.5):
        with pytest.raises(QuantConfigError, match="bits"):
            fit_scalar(x, b)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_scalar_round_trip_log_error_bound(bits):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2000, 16)) * np.exp(rng.standard_normal((2000, 16)))).astype(np.float32)
    c = fit_scalar(x, bits)
    xh = np.asarray(c.decode(c.encode(x)))
    assert np.all(np.sign(xh) == np.where(x > 0, 1, -1))
    a = np.abs(x)
    inside = (a >= 2 ** c.log_fmin) & (a <= 2 ** c.log_fmax)
    # inside the range the log2 error is at most half a bin
    half_bin = 0.5 * (c.log_fmax + 1e-5 - c.log_fmin) / 2 ** (bits - 1) + 1e-4
    err = np.abs(np.log2(np.abs(xh[inside])) - np.log2(a[inside]))
    assert err.max() <= half_bin
    if bits == 8:
        assert np.median(np.abs(xh - x) / np.abs(x)) < 0.05


def test_scalar_one_bit_decodes_to_mean_abs():
    x = np.array([[0.5, -0.2], [-1.0, 2.0]], np.float32)
    c = fit_scalar(x, 1)
    m = np.abs(x).mean()
    np.testing.assert_allclose(np.asarray(c.decode(c.encode(x))), np.sign(x) * m, rtol=1e-6)


def test_compression_ratio_arithmetic():
    x = np.random.default_rng(0).standard_normal((100, 1433)).astype(np.float32)
    assert compression_ratio(fit_scalar(x, 1), 1433) == pytest.approx(4 * 1433 / 180)  # ceil(1433/8)
    assert compression_ratio(fit_scalar(x, 8), 1433) == pytest.approx(4.0)
    v = fit_vector(x[:, :64], width=16, num_codewords=8, iters=3)
    assert v.bytes_per_row() == 4 and compression_ratio(v, 64) == 64.0
    assert compression_ratio(v, 64, include_codebook=True, num_rows=100) == pytest.approx(
        256 / (4 + 4 * 8 * 16 * 4 / 100))


def test_vector_pq_recovers_clustered_data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((6, 2, 8)).astype(np.float32)
    lab = rng.integers(0, 6, 500)
    x = (centers[lab] + 0.01 * rng.standard_normal((500, 2, 8))).reshape(500, 16).astype(np.float32)
    v = fit_vector(x, width=8, num_codewords=16, seed=0)
    codes = v.encode(x)
    xh = np.asarray(v.decode(codes))
    assert xh.shape == x.shape and codes.dtype == np.uint8
    # BiFeat reserves codeword L-1 for the (0.3/L)-quantile of smallest-norm sub-vectors
    reserved = codes == 15
    assert 0 < reserved.mean() <= 2 * 0.3 / 16
    keep = ~reserved.any(1)
    rel = np.linalg.norm(xh[keep] - x[keep]) / np.linalg.norm(x[keep])
    assert rel < 0.02, rel
    with pytest.raises(QuantConfigError, match="does not divide"):
        fit_vector(x[:, :15], 4, 8, pad=False)
    v2 = fit_vector(x[:, :15], 4, 8, iters=2)  # padded: 4 parts
    assert np.asarray(v2.decode(v2.encode(x[:, :15]))).shape == (500, 15)


def test_gather_decode_matches_decode():
    x = np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32)
    c = fit_scalar(x, 3)
    store = jnp.asarray(c.encode(x))
    idx = jnp.array([3, 3, 7, 0])
    out = jax.jit(lambda s, i: gather_decode(c, s, i))(store, idx)
    np.testing.assert_allclose(out, np.asarray(c.decode(c.encode(x)))[[3, 3, 7, 0]])


@pytest.mark.parametrize("bits", [4, 8])
def test_uniform_round_trip_and_stochastic_rounding(bits):
    x = jnp.linspace(-3, 5, 1001)
    s, z = scale_zero_point(x.min(), x.max(), bits, symmetric=False)
    xh = (quantize(x, s, z, bits, False) - z) * s
    assert float(jnp.abs(xh - x).max()) <= float(s) / 2 + 1e-6
    # stochastic rounding is unbiased: mean over many draws approaches x
    v = jnp.full((20000,), 0.3)
    s1, z1 = scale_zero_point(jnp.array(-1.0), jnp.array(1.0), bits, False)
    q = quantize(v, s1, z1, bits, False, key=jax.random.key(0))
    mean = float(jnp.mean((q - z1) * s1))
    assert abs(mean - 0.3) < 0.02 * float(s1) + 1e-3
    assert len(np.unique(np.asarray(q))) == 2


def test_fake_quant_straight_through_clipped():
    x = jnp.array([-2.0, -0.5, 0.1, 0.7, 3.0])
    g = jax.grad(lambda x: jnp.sum(fake_quant(x, 8, -1.0, 1.0) * jnp.arange(5.0)))(x)
    np.testing.assert_allclose(g, [0, 1, 2, 3, 0])
    y = fake_quant(x, 4, -1.0, 1.0)
    assert len(np.unique(np.asarray(y))) <= 16


def test_integer_matmul_matches_fake_quant():
    k1, k2 = jax.random.split(jax.random.key(0))
    x = jax.nn.relu(jax.random.normal(k1, (64, 32)))
    w = jax.random.normal(k2, (32, 8)) * 0.1
    out = quantized_dense_int(x, w)
    ref = fake_quant(x, 8) @ fake_quant(w, 8, symmetric=True)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out, x @ w, atol=0.05)
    # exact int32 accumulation
    qx = jnp.array([[127, -128]], jnp.int8)
    qw = jnp.array([[127], [127]], jnp.int8)
    assert int(int_matmul(qx, jnp.int32(0), qw)[0, 0]) == 127 * 127 - 128 * 127
