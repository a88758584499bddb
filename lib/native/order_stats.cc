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
constexpr int kSuper = 2;       // tiles read from x together
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

// The keys of columns [0, width) of x [K, ld] (width <= kSuper kT) as contiguous blocks,
// one per tile of kT columns: kb[t] is [kV][K][8], register v of row r at (v K + r) 8,
// so that each register column is one 32 KiB stream that the passes below read
// sequentially (absent rows INT32_MAX, columns past width 0). This is the only pass that
// reads x; its rows are far apart in memory, so kSuper tiles are read together (512 B
// per row instead of 256 B: about half the time in a single-thread measurement) and the
// next rows are prefetched.
void load_tiles(const float* x, int64_t ld, int K, int width, const uint8_t* present,
                int32_t* const* kb) {
  constexpr int kAhead = 8;
  const int tiles = (width + kT - 1) / kT;
  for (int r = 0; r < K; ++r) {
    const float* src = x + r * ld;
    if (r + kAhead < K)
      for (int b = 0; b < width; b += 16) __builtin_prefetch(src + kAhead * ld + b);
    for (int t = 0; t < tiles; ++t) {
      const int w = std::min(kT, width - t * kT);
      const float* s = src + t * kT;
      for (int v = 0; v < kV; ++v) {
        int32_t* dst = kb[t] + (int64_t(v) * K + r) * 8;
        if (!present[r]) {
          store8(dst, v8i{} + kMax);
        } else if (w == kT) {
          store8(dst, keys8(s + 8 * v));
        } else {
          for (int l = 0; l < 8; ++l) dst[l] = 8 * v + l < w ? key1(s[8 * v + l]) : 0;
        }
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

// One group of consecutive wanted ranks [r0, r1] (r1 - r0 < kNet) and its pivots.
struct Group {
  int r0, r1;
  int pidx[kP];  // sample indices of its pivots
  int np;        // how many
};

// np pivots centred on the sample position the ranks are expected at, spread over
// about +-2.5 standard deviations of that position (binomial: kS q (1 - q)).
Group make_group(int K, int r0, int r1, int np) {
  Group g{r0, r1, {}, np};
  const double mid = (0.5 * (r0 + r1) + 0.5) * kS / K - 0.5;
  const double q = std::clamp((mid + 0.5) / kS, 0.0, 1.0);
  const double half = 2.5 * std::sqrt(kS * q * (1 - q)) + 1;
  const double spacing = std::max(1.0, std::round(2 * half / (np - 1)));
  for (int p = 0; p < np; ++p)
    g.pidx[p] = std::clamp(int(std::lround(mid + spacing * (p - (np - 1) / 2.0))), 0, kS - 1);
  return g;
}

// Keys of the ranks of G groups (G <= 2, kP pivots between them) for all kT columns of
// kb; group g's rank r goes to out[g][(r - r0) * kT + c]. The groups share the counting
// and the candidate passes.
template <int G>
void select_tile(const int32_t* kb, int K, const v8i (*smp)[kV], const Group* gr, int32_t* const* out,
                 int32_t* const* slots, std::vector<int32_t>& column) {
  alignas(32) v8i lo[G][kV], hi[G][kV], open[G][kV], base[G][kV], cnt_in[G][kV];
  for (int v = 0; v < kV; ++v) {
    v8i piv[kP], cnt[kP];
    int np = 0;
    for (int g = 0; g < G; ++g)
      for (int p = 0; p < gr[g].np; ++p) piv[np++] = smp[gr[g].pidx[p]][v];
    // in register-sized halves
    const int32_t* col = kb + int64_t(v) * K * 8;
    for (int h = 0; h < np; h += kP / 2) {
      v8i pv[kP / 2], ct[kP / 2] = {};
      for (int p = 0; p < kP / 2; ++p) pv[p] = piv[std::min(h + p, np - 1)];
      for (int r = 0; r < K; ++r) {
        const v8i k = load8i(col + 8 * r);
        for (int p = 0; p < kP / 2; ++p) ct[p] -= k < pv[p];
      }
      for (int p = 0; p < kP / 2 && h + p < np; ++p) cnt[h + p] = ct[p];
    }
    // each group's gap: lo = its last pivot with count <= r0, hi = its first with
    // count > r1 (open: none, the gap runs to the top)
    for (int g = 0, first = 0; g < G; first += gr[g].np, ++g) {
      v8i l = v8i{} + kMin, b = v8i{}, h = v8i{} + kMax, o = v8i{} - 1, above = v8i{} + K;
      for (int p = first; p < first + gr[g].np; ++p) {
        const v8i ok = cnt[p] <= gr[g].r0;
        l = ok ? piv[p] : l;
        b = ok ? cnt[p] : b;
      }
      for (int p = first + gr[g].np - 1; p >= first; --p) {
        const v8i ok = cnt[p] > gr[g].r1;
        h = ok ? piv[p] : h;
        o = ok ? v8i{} : o;
        above = ok ? cnt[p] : above;
      }
      lo[g][v] = l, hi[g][v] = h, open[g][v] = o, base[g][v] = b, cnt_in[g][v] = above - b;
    }
  }

  // copy the candidates of each column into its slots: per row a 64-bit mask of the
  // columns whose key is inside their gap (a few per row), then only its set bits
  alignas(32) int32_t m[G][kT] = {};
  for (int r = 0; r < K; ++r) {
    uint64_t bits[G] = {};
    for (int v = 0; v < kV; ++v) {
      const v8i k = load8i(kb + (int64_t(v) * K + r) * 8);
      for (int g = 0; g < G; ++g)
        bits[g] |= uint64_t(movemask8((k >= lo[g][v]) & ((k < hi[g][v]) | open[g][v]))) << (8 * v);
    }
    for (int g = 0; g < G; ++g) {
      int32_t* sl = slots[g];  // [kCap + 1][kT], the last row absorbs overflow
      for (uint64_t b = bits[g]; b; b &= b - 1) {
        const int c = __builtin_ctzll(b);
        sl[std::min(m[g][c], kCap) * kT + c] = kb[(int64_t(c / 8) * K + r) * 8 + c % 8];
        ++m[g][c];
      }
    }
  }

  // the answer: slot (rank - base) of the sorted candidates. Up to kNet candidates per
  // column a sorting network across the 8 columns of a register; more, nth_element on
  // the column's candidates; more than kCap, on the whole column.
  for (int g = 0; g < G; ++g) {
    const int r0 = gr[g].r0, r1 = gr[g].r1;
    const int32_t* sl = slots[g];
    for (int v = 0; v < kV; ++v) {
      int most = 1;
      for (int l = 0; l < 8; ++l)
        if (cnt_in[g][v][l] <= kNet) most = std::max(most, int(cnt_in[g][v][l]));
      int n = 1;
      while (n < most) n *= 2;
      v8i w[kNet];
      for (int s = 0; s < n; ++s)
        w[s] = (v8i{} + s) < cnt_in[g][v] ? load8i(sl + s * kT + 8 * v) : v8i{} + kMax;
      sort_wires(w, n);
      for (int l = 0; l < 8; ++l) {
        const int c = 8 * v + l, m_c = cnt_in[g][v][l], b = base[g][v][l];
        if (m_c <= kNet) {
          for (int r = r0; r <= r1; ++r) out[g][(r - r0) * kT + c] = w[r - b][l];
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
          out[g][(r - r0) * kT + c] = column[i];
        }
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
  const int64_t supers = (D + kSuper * kT - 1) / (kSuper * kT);
  parallel_for(pool, supers, [&](int64_t si) {
    thread_local std::vector<int32_t> kb, slots, column, keys;
    kb.resize(kSuper * K * kT);
    slots.resize(2 * (kCap + 1) * kT);
    column.resize(K);
    keys.resize(2 * kT);
    const int64_t s0 = si * kSuper * kT, swidth = std::min<int64_t>(kSuper * kT, D - s0);
    int32_t* tile[kSuper];
    for (int t = 0; t < kSuper; ++t) tile[t] = kb.data() + t * K * kT;
    load_tiles(xs + s0, D, int(K), int(swidth), pres, tile);
    for (int t = 0; t * kT < swidth; ++t) {
      const int64_t c0 = s0 + t * kT, width = std::min<int64_t>(kT, D - c0);
      alignas(32) float res[kT];
      alignas(32) v8i smp[kS][kV];
      sample_tile(tile[t], int(K), smp);
      int32_t* out[2] = {keys.data(), keys.data() + kT};
      int32_t* sl[2] = {slots.data(), slots.data() + (kCap + 1) * kT};
      if (mode == 0) {
        const Group g = make_group(int(K), r0, std::max(r0, r1), kP);
        select_tile<1>(tile[t], int(K), smp, &g, out, sl, column);
        for (int c = 0; c < kT; ++c) {
          const float a = value1(keys[c]);
          res[c] = (n % 2 == 1 || r1 <= r0) ? a : (a + value1(keys[kT + c])) / 2;
        }
      } else {  // cuts away from the middle are sampled more tightly: half the pivots each
        const Group g[2] = {make_group(int(K), r0, r0, kP / 2), make_group(int(K), r1, r1, kP / 2)};
        select_tile<2>(tile[t], int(K), smp, g, out, sl, column);
        trimmed_tile(tile[t], int(K), keys.data(), keys.data() + kT, r0, r1 + 1, res);
      }
      std::memcpy(ys + c0, res, width * 4);
    }
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
