"""Quantizers: uniform int-k (stochastic rounding, fake-quant STE, integer matmul), BiFeat
scalar / vector feature compression, Degree-Quant GNN layers (lib.quant.gnn)."""
from .bifeat import (ScalarCodec, VectorCodec, compression_ratio, fit_scalar, fit_vector, gather_decode,
                     make_codec, pack_bits, unpack_bits)
from .uniform import (QuantConfigError, check_bits, dequantize, fake_quant, int_matmul, percentile_range,
                      quantize, quantized_dense_int, scale_zero_point)
