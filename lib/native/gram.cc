// Gram matrix G = X X^T of a [K, D] float32 matrix (the distance-based aggregation rules).
//
// XLA:CPU computes the full K x K product of each column chunk (~85 GFLOP/s at K = 100);
// here only the upper triangle of row blocks is computed (half the flops) and the lower one
// is its mirror, so G is exactly symmetric.
//
// Memory: X is read once from DRAM. The columns are cut into panels of C columns (all K rows,
// ~256 KiB: the panel stays in a core's 1 MiB L2), copied into a packed buffer (row blocks of
// R rows, their W-column vectors side by side: rows D floats apart would alias in the cache
// sets, and the micro-kernel then reads two sequential streams); rows past K and columns past
// the panel's end are zero. Every pair of row blocks (i, j >= i) runs its micro-kernel over
// the packed panel while it is cached.
// Micro-kernel: R x R rows (4 x 4 with AVX-512: 16 vector accumulators, 8 loads per 16 FMAs)
// summed over the panel in float32 vectors, reduced to a scalar per panel and added to a
// double accumulator (so the float32 error grows with the panel, not with D).
// Large K makes the panels narrow (C = 64 at K = 1000) and the per-panel lane sums dominate:
// the caller keeps XLA's product beyond a few hundred rows.
//
// Parallelism: the columns are also cut into segments (a fixed number for given K and D, not
// the thread count); each segment's partial G is summed by one task on XLA's thread pool and
// the partials are added in segment order: the result does not depend on the threads.
// Non-finite rows give non-finite entries in their row and column (the diagonal in particular),
// as the product does.
#include <vector>

#include "common.h"

namespace tessera {
namespace {

#ifdef __AVX512F__
typedef float vf __attribute__((vector_size(64)));
constexpr int R = 4;
#else
typedef float vf __attribute__((vector_size(32)));
constexpr int R = 3;  // 9 accumulators + 6 loads fit 16 AVX2 registers
#endif
constexpr int W = sizeof(vf) / sizeof(float);
constexpr int64_t kPanelFloats = int64_t(1) << 16;  // 256 KiB

const vf kZero = vf{};

inline vf loadv(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }

// lanes summed by halving (a fixed order; the serial lane loop costs as much as a panel's FMAs)
inline float hsum(vf v) {
  typedef float v4 __attribute__((vector_size(16)));
  v4 q[W / 4];
  std::memcpy(q, &v, sizeof v);
  for (int n = W / 4; n > 1; n /= 2)
    for (int k = 0; k < n / 2; ++k) q[k] += q[k + n / 2];
  return (q[0][0] + q[0][2]) + (q[0][1] + q[0][3]);
}

// acc[a][b] += sum over the panel of A[a][c] * B[b][c]; A and B are packed row blocks
// ([n / W][R][W]: the R rows' W columns side by side, so both are read sequentially)
inline void tile(const float* pa, const float* pb, int64_t n, double* acc) {
  vf s[R][R];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < R; ++b) s[a][b] = vf{};
  for (int64_t v = 0; v < n; ++v, pa += R * W, pb += R * W) {
    vf va[R], vb[R];
    for (int a = 0; a < R; ++a) va[a] = loadv(pa + a * W);
    for (int b = 0; b < R; ++b) vb[b] = loadv(pb + b * W);
    for (int a = 0; a < R; ++a)
      for (int b = 0; b < R; ++b) s[a][b] += va[a] * vb[b];
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < R; ++b) acc[a * R + b] += double(hsum(s[a][b]));
}

ffi::Error GramImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x_b, ffi::ResultBuffer<ffi::F32> g_b) {
  const auto xd = x_b.dimensions();
  const auto gd = g_b->dimensions();
  if (xd.size() != 2 || gd.size() != 2 || gd[0] != xd[0] || gd[1] != xd[0])
    return ffi::Error::InvalidArgument("gram: x must be [K, D] and g [K, K]");
  const int64_t K = xd[0], D = xd[1];
  const float* x = x_b.typed_data();
  float* g = g_b->typed_data();
  if (K == 0) return ffi::Error::Success();
  const int64_t nb = (K + R - 1) / R;
  const int64_t npairs = nb * (nb + 1) / 2;
  // panel: ~PANEL_BYTES of the 1 MiB L2, a multiple of the vector width
  const int64_t C = std::max<int64_t>(4 * W, std::min<int64_t>(8192, (kPanelFloats / K) / W * W));
  // segments of >= 16 panels, at most 64, and partials of at most ~32 MiB
  int64_t nseg = std::max<int64_t>(1, std::min<int64_t>(64, D / (16 * C)));
  nseg = std::max<int64_t>(1, std::min<int64_t>(nseg, (int64_t(1) << 22) / (npairs * R * R)));
  const int64_t seg_cols = (D + nseg - 1) / nseg;
  std::vector<double> part(size_t(nseg) * npairs * R * R, 0.0);
  parallel_for(pool, nseg, [&](int64_t s) {
    const int64_t s0 = std::min(D, s * seg_cols), s1 = std::min(D, s0 + seg_cols);
    double* acc = part.data() + size_t(s) * npairs * R * R;
    // the panel, packed: block i at i * R * C, [C / W][R][W]; rows past K and columns past
    // the panel's end are zero (they add nothing)
    std::vector<float> pk(size_t(nb) * R * C);
    for (int64_t c0 = s0; c0 < s1; c0 += C) {
      const int64_t w = std::min(s1, c0 + C) - c0, nv = (w + W - 1) / W;
      for (int64_t r = 0; r < nb * R; ++r) {
        float* dst = pk.data() + (r / R) * R * C + (r % R) * W;
        if (r >= K) {
          for (int64_t v = 0; v < nv; ++v) std::memcpy(dst + v * R * W, &kZero, sizeof(vf));
          continue;
        }
        const float* src = x + r * D + c0;
        const int64_t full = w / W;
        for (int64_t v = 0; v < full; ++v) std::memcpy(dst + v * R * W, src + v * W, sizeof(vf));
        if (full < nv) {  // the last partial vector, zero padded
          vf t = vf{};
          for (int64_t l = 0; l < w - full * W; ++l) t[l] = src[full * W + l];
          std::memcpy(dst + full * R * W, &t, sizeof(vf));
        }
      }
      int64_t p = 0;
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t j = i; j < nb; ++j, ++p)
          tile(pk.data() + i * R * C, pk.data() + j * R * C, nv, acc + p * R * R);
    }
  });
  int64_t p = 0;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t j = i; j < nb; ++j, ++p)
      for (int a = 0; a < R; ++a)
        for (int b = 0; b < R; ++b) {
          const int64_t r = i * R + a, c = j * R + b;
          if (r >= K || c >= K || (i == j && c < r)) continue;
          double t = 0.0;
          for (int64_t s = 0; s < nseg; ++s) t += part[(size_t(s) * npairs + p) * R * R + a * R + b];
          g[r * K + c] = g[c * K + r] = float(t);
        }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace tessera

XLA_FFI_DEFINE_HANDLER_SYMBOL(TesseraGram, tessera::GramImpl,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>());
