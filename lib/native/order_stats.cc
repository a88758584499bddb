// Exact per-column order statistics of a [K, D] float32 matrix (K clients x D
// coordinates, row-major): coordinate-wise median and trimmed mean for many clients.
//
// Same definitions as lib/fl/_select.py: floats are compared through order-preserving
// int32 keys (NaN -> +inf), absent clients get the key INT32_MAX (above every present
// key), and the wanted ranks are 0-based among the n present clients.
//
// Per tile of 64 columns, vectorised across the 8 columns of a register:
//  1. sample 64 rows (strided), sort them per column with Batcher's network;
//  2. one counting pass: #keys below each of 8 sample pivots placed around the rank's
//     expected sample position -> per column the narrowest pivot gap [lo, hi) that
//     must hold the wanted ranks, and how many keys lie below lo;
//  3. one pass copying the keys inside [lo, hi) (~40 per column) to a slot buffer;
//  4. a sorting network over those slots; the answer is the slot (rank - #below lo).
// Columns whose gap holds more than kCap keys (bad luck or adversarial data) take an
// exact fallback: nth_element over the whole column. The result never depends on the
// sample, only the speed does.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "common.h"

namespace tessera {
namespace {

constexpr int kT = 64;          // columns per tile
constexpr int kV = kT / 8;      // registers per tile row
constexpr int kS = 128;         // sample rows
constexpr int kP = 10;          // pivots (counted in two register-sized halves)
constexpr int kNet = 64;        // candidates per column handled by a sorting network
constexpr int kCap = 256;       // candidate slots per column
constexpr int32_t kMax = INT32_MAX;
constexpr int32_t kMin = INT32_MIN;

using Net = std::vector<std::pair<int, int>>;

// Batcher's odd-even merge sort on n = 2^p wires (the order of lib/fl/_select._batcher).
Net batcher(int n) {
  Net out;
  for (int p = 1; p < n; p *= 2)
    for (int k = p; k >= 1; k /= 2)
      for (int j = k % p; j < n - k; j += 2 * k)
        for (int i = 0; i < std::min(k, n - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) out.emplace_back(i + j, i + j + k);
  return out;
}

const Net& network(int n) {
  static const Net nets[] = {batcher(1),  batcher(2),  batcher(4),  batcher(8),
                             batcher(16), batcher(32), batcher(64), batcher(128)};
  return nets[__builtin_ctz(n)];
}

inline void sort_wires(v8i* w, int n) {
  for (auto [i, j] : network(n)) {
    v8i a = w[i], b = w[j], lt = a < b;
    w[i] = lt ? a : b;
    w[j] = lt ? b : a;
  }
}

inline int32_t key1(float f) {
  if (std::isnan(f)) f = INFINITY;
  int32_t i;
  std::memcpy(&i, &f, 4);
  return i ^ ((i >> 31) & kMax);
}

inline float value1(int32_t k) {
  int32_t i = k ^ ((k >> 31) & kMax);
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

// Keys of 8 floats; NaN -> +inf's key.
inline v8i keys8(const float* p) {
  v8f f = load8f(p);
  v8i i;
  std::memcpy(&i, &f, sizeof i);
  v8i k = i ^ ((i >> 31) & kMax);
  v8i nan = f != f;
  return (k & ~nan) | (nan & 0x7f800000);
}

// The keys of columns [c0, c0 + width) of x [K, ld] as a contiguous block kb [kV][K][8]
// (register v of row r at kb + (v K + r) 8: each register column is one 32 KiB stream
// that the passes below read sequentially; absent rows INT32_MAX, columns past width 0). This is the only pass that reads x: its
// rows are far apart in memory, so the next rows are prefetched; every later pass reads
// the block from L2.
void load_tile(const float* x, int64_t ld, int K, int width, const uint8_t* present, int32_t* kb) {
  constexpr int kAhead = 8;
  for (int r = 0; r < K; ++r) {
    if (r + kAhead < K)
      for (int b = 0; b < width; b += 16) __builtin_prefetch(x + (r + kAhead) * ld + b);
    const float* src = x + r * ld;
    for (int v = 0; v < kV; ++v) {
      int32_t* dst = kb + (int64_t(v) * K + r) * 8;
      if (!present[r]) {
        store8(dst, v8i{} + kMax);
      } else if (width == kT) {
        store8(dst, keys8(src + 8 * v));
      } else {
        for (int l = 0; l < 8; ++l) dst[l] = 8 * v + l < width ? key1(src[8 * v + l]) : 0;
      }
    }
  }
}

// The sample: kS rows spread evenly over the tile, sorted per column (Batcher network).
void sample_tile(const int32_t* kb, int K, v8i (*smp)[kV]) {
  for (int v = 0; v < kV; ++v) {
    v8i w[kS];
    for (int i = 0; i < kS; ++i) w[i] = load8i(kb + (int64_t(v) * K + (2 * int64_t(i) + 1) * K / (2 * kS)) * 8);
    sort_wires(w, kS);
    for (int i = 0; i < kS; ++i) smp[i][v] = w[i];
  }
}

// Keys of ranks [r0, r1] (r1 - r0 < kNet) of all kT columns of kb [K][kT] into
// out[(r - r0) * kT + c], given the sorted sample.
void select_tile(const int32_t* kb, int K, const v8i (*smp)[kV], int r0, int r1, int32_t* out,
                 std::vector<int32_t>& slots, std::vector<int32_t>& column) {
  // kP pivots centred on the sample position the ranks are expected at, spread over
  // about +-2.5 standard deviations of that position (binomial: kS q (1 - q))
  const double mid = (0.5 * (r0 + r1) + 0.5) * kS / K - 0.5;
  const double q = std::clamp((mid + 0.5) / kS, 0.0, 1.0);
  const double half = 2.5 * std::sqrt(kS * q * (1 - q)) + 1;
  const double spacing = std::max(1.0, std::round(2 * half / (kP - 1)));
  int pidx[kP];
  for (int p = 0; p < kP; ++p)
    pidx[p] = std::clamp(int(std::lround(mid + spacing * (p - (kP - 1) / 2.0))), 0, kS - 1);

  alignas(32) v8i lo[kV], hi[kV], open[kV], base[kV], cnt_in[kV];
  for (int v = 0; v < kV; ++v) {
    v8i piv[kP], cnt[kP];
    for (int p = 0; p < kP; ++p) piv[p] = smp[pidx[p]][v];
    // two halves, so that pivots and counts stay in registers
    for (int h = 0; h < kP; h += kP / 2) {
      v8i pv[kP / 2], ct[kP / 2] = {};
      for (int p = 0; p < kP / 2; ++p) pv[p] = piv[h + p];
      const int32_t* col = kb + int64_t(v) * K * 8;
      for (int r = 0; r < K; ++r) {
        const v8i k = load8i(col + 8 * r);
        for (int p = 0; p < kP / 2; ++p) ct[p] -= k < pv[p];
      }
      for (int p = 0; p < kP / 2; ++p) cnt[h + p] = ct[p];
    }
    // the gap: lo = the last pivot with count <= r0, hi = the first with count > r1
    // (open: no such pivot, the gap runs to the top)
    v8i l = v8i{} + kMin, b = v8i{}, h = v8i{} + kMax, o = v8i{} - 1, above = v8i{} + K;
    for (int p = 0; p < kP; ++p) {
      const v8i ok = cnt[p] <= r0;
      l = ok ? piv[p] : l;
      b = ok ? cnt[p] : b;
    }
    for (int p = kP - 1; p >= 0; --p) {
      const v8i ok = cnt[p] > r1;
      h = ok ? piv[p] : h;
      o = ok ? v8i{} : o;
      above = ok ? cnt[p] : above;
    }
    lo[v] = l, hi[v] = h, open[v] = o, base[v] = b, cnt_in[v] = above - b;
  }

  // copy the candidates of each column into its slots: per row a 64-bit mask of the
  // columns whose key is inside their gap (a few per row), then only its set bits
  alignas(32) int32_t m[kT] = {};
  int32_t* sl = slots.data();  // [kCap + 1][kT], the last row absorbs overflow
  for (int r = 0; r < K; ++r) {
    uint64_t bits = 0;
    for (int v = 0; v < kV; ++v) {
      const v8i k = load8i(kb + (int64_t(v) * K + r) * 8);
      bits |= uint64_t(movemask8((k >= lo[v]) & ((k < hi[v]) | open[v]))) << (8 * v);
    }
    for (; bits; bits &= bits - 1) {
      const int c = __builtin_ctzll(bits);
      sl[std::min(m[c], kCap) * kT + c] = kb[(int64_t(c / 8) * K + r) * 8 + c % 8];
      ++m[c];
    }
  }

  // the answer: slot (rank - base) of the sorted candidates. Up to kNet candidates per
  // column a sorting network across the 8 columns of a register; more, nth_element on
  // the column's candidates; more than kCap, on the whole column.
  for (int v = 0; v < kV; ++v) {
    int most = 1;
    for (int l = 0; l < 8; ++l)
      if (cnt_in[v][l] <= kNet) most = std::max(most, int(cnt_in[v][l]));
    int n = 1;
    while (n < most) n *= 2;
    v8i w[kNet];
    for (int s = 0; s < n; ++s) w[s] = (v8i{} + s) < cnt_in[v] ? load8i(sl + s * kT + 8 * v) : v8i{} + kMax;
    sort_wires(w, n);
    for (int l = 0; l < 8; ++l) {
      const int c = 8 * v + l, m_c = cnt_in[v][l], b = base[v][l];
      if (m_c <= kNet) {
        for (int r = r0; r <= r1; ++r) out[(r - r0) * kT + c] = w[r - b][l];
        continue;
      }
      int len = K, off = 0;
      if (m_c <= kCap) {
        for (int s = 0; s < m_c; ++s) column[s] = sl[s * kT + c];
        len = m_c, off = b;
      } else {
        for (int r = 0; r < K; ++r) column[r] = kb[(int64_t(v) * K + r) * 8 + l];
      }
      for (int r = r0; r <= r1; ++r) {  // rank r - off among column[0, len)
        const int i = r - off, from = r == r0 ? 0 : i;
        std::nth_element(column.begin() + from, column.begin() + i, column.begin() + len);
        out[(r - r0) * kT + c] = column[i];
      }
    }
  }
}

// Sum of the values of ranks c .. hi-1 of each column, given their keys ta (rank c) and
// tb (rank hi-1): values strictly between plus the tied copies of ta and tb in range.
void trimmed_tile(const int32_t* kb, int K, const int32_t* ta, const int32_t* tb, int c, int hi,
                  float* out) {
  for (int v = 0; v < kV; ++v) {
    const v8i a = load8i(ta + 8 * v), b = load8i(tb + 8 * v);
    v8f s = v8f{};
    v8i le_a = v8i{}, lt_b = v8i{};
    for (int r = 0; r < K; ++r) {
      const v8i k = load8i(kb + (int64_t(v) * K + r) * 8);
      v8i bits = (k ^ ((k >> 31) & kMax)) & ((k > a) & (k < b));  // the value's bits, or +0.0
      v8f f;
      std::memcpy(&f, &bits, sizeof f);
      s += f;
      le_a -= k <= a;
      lt_b -= k < b;
    }
    for (int l = 0; l < 8; ++l) {
      const float va = value1(a[l]), vb = value1(b[l]);
      float tot = a[l] == b[l] ? va * float(hi - c)
                               : s[l] + va * float(le_a[l] - c) + vb * float(hi - lt_b[l]);
      out[8 * v + l] = tot / float(std::max(hi - c, 1));
    }
  }
}

// mode 0: median, params = (n, k, k+1): x_(k) for odd n, the mean of x_(k), x_(k+1) else.
// mode 1: trimmed mean, params = (n, c, n-c-1): mean of x_(c) .. x_(n-c-1).
ffi::Error OrderStatsImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x,
                          ffi::Buffer<ffi::PRED> present, ffi::Buffer<ffi::S32> params,
                          ffi::ResultBuffer<ffi::F32> y, int32_t mode) {
  const auto dims = x.dimensions();
  if (dims.size() != 2) return ffi::Error::InvalidArgument("order_stats: x must be [K, D]");
  const int64_t K = dims[0], D = dims[1];
  if (int64_t(present.element_count()) != K || params.element_count() != 3)
    return ffi::Error::InvalidArgument("order_stats: present must be [K], params [3]");
  if (K > INT32_MAX / 2) return ffi::Error::InvalidArgument("order_stats: too many rows");
  const int32_t* prm = params.typed_data();
  const int n = prm[0], r0 = prm[1], r1 = std::min<int64_t>(prm[2], K - 1);
  const float* xs = x.typed_data();
  const uint8_t* pres = reinterpret_cast<const uint8_t*>(present.typed_data());
  float* ys = y->typed_data();
  if (n <= 0 || D == 0) {
    std::fill(ys, ys + D, 0.0f);
    return ffi::Error::Success();
  }
  const int64_t tiles = (D + kT - 1) / kT;
  parallel_for(pool, tiles, [&](int64_t ti) {
    thread_local std::vector<int32_t> kb, slots, column, keys;
    kb.resize(K * kT);
    slots.resize((kCap + 1) * kT);
    column.resize(K);
    keys.resize(2 * kT);
    const int64_t c0 = ti * kT, width = std::min<int64_t>(kT, D - c0);
    load_tile(xs + c0, D, int(K), int(width), pres, kb.data());
    alignas(32) float res[kT];
    alignas(32) v8i smp[kS][kV];
    sample_tile(kb.data(), int(K), smp);
    if (mode == 0) {
      select_tile(kb.data(), int(K), smp, r0, std::max(r0, r1), keys.data(), slots, column);
      for (int c = 0; c < kT; ++c) {
        const float a = value1(keys[c]);
        res[c] = (n % 2 == 1 || r1 <= r0) ? a : (a + value1(keys[kT + c])) / 2;
      }
    } else {
      select_tile(kb.data(), int(K), smp, r0, r0, keys.data(), slots, column);
      select_tile(kb.data(), int(K), smp, r1, r1, keys.data() + kT, slots, column);
      trimmed_tile(kb.data(), int(K), keys.data(), keys.data() + kT, r0, r1 + 1, res);
    }
    std::memcpy(ys + c0, res, width * 4);
  });
  return ffi::Error::Success();
}

}  // namespace
}  // namespace tessera

XLA_FFI_DEFINE_HANDLER_SYMBOL(TesseraOrderStats, tessera::OrderStatsImpl,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::PRED>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Attr<int32_t>("mode"));
