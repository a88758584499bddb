// Sparse (CSR) x dense product for message passing: out[i, :] = sum_{e : rows[e] == i} w[e] * x[cols[e], :].
//
// The edges come sorted by row (lib/graph's receiver-sorted layout, or the sender-sorted
// layout of the transpose): each row's edges are one contiguous run, so a row is summed in
// registers and written once, with no atomics and no row-offset array (the runs are found
// by walking the sorted rows; block starts by binary search).
//
// Parallelism: the rows are cut into blocks of about equal cost (edges + rows, so that a
// block of many empty rows or one of a few heavy rows costs about the same), found by a
// binary search over the row index of the prefix cost lower_bound(rows, i) + i; the blocks
// are handed to XLA's intra-op thread pool. A single row is never split, so a row with a
// huge in-degree is summed by one thread (in edge order, like the sequential sum).
//
// Vectorisation: over the feature dimension, in tiles of up to 64 columns (8 registers of 8
// floats, kept in registers across a row's edges), then a scalar tail of F % 8 columns. The
// gathered rows x[cols[e]] are prefetched a few edges ahead.
//
// Robustness: edges whose row is outside [0, n_out) are skipped (they sort to the ends), and
// so are edges whose column is outside [0, n_in) (never read). Rows must be sorted: with
// unsorted rows the result is wrong (rows after the first descent get no edges) but no
// memory outside the buffers is touched.
#include <vector>

#include "common.h"

namespace tessera {
namespace {

constexpr int kPrefetch = 16;  // edges ahead

// first e in [lo, hi) with rows[e] >= v
inline int64_t lower_bound_rows(const int32_t* rows, int64_t lo, int64_t hi, int64_t v) {
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (int64_t(rows[mid]) < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Sums the row's edges [e0, e1) into columns [c0, c0 + 8 G) of out_row.
template <int G>
inline void row_tile(const int32_t* cols, const float* w, const float* x, int64_t n_in, int64_t F,
                     int64_t e0, int64_t e1, int64_t e_pf, int64_t c0, float* out_row) {
  v8f acc[G];
  for (int g = 0; g < G; ++g) acc[g] = v8f{} ;
  for (int64_t e = e0; e < e1; ++e) {
    if (e + kPrefetch < e_pf) {
      const uint32_t cp = uint32_t(cols[e + kPrefetch]);
      if (cp < uint64_t(n_in)) {
        const float* pf = x + int64_t(cp) * F + c0;
        for (int g = 0; g < G; g += 2) __builtin_prefetch(pf + 8 * g);  // every 64-byte line
      }
    }
    const uint32_t c = uint32_t(cols[e]);
    if (c >= uint64_t(n_in)) continue;
    const float we = w[e];
    const v8f wv = v8f{} + we;
    const float* src = x + int64_t(c) * F + c0;
    for (int g = 0; g < G; ++g) acc[g] += wv * load8f(src + 8 * g);
  }
  for (int g = 0; g < G; ++g) store8(out_row + c0 + 8 * g, acc[g]);
}

inline void row_tail(const int32_t* cols, const float* w, const float* x, int64_t n_in, int64_t F,
                     int64_t e0, int64_t e1, int64_t c0, float* out_row) {
  const int64_t t = F - c0;  // 1 .. 7 columns
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t e = e0; e < e1; ++e) {
    const uint32_t c = uint32_t(cols[e]);
    if (c >= uint64_t(n_in)) continue;
    const float we = w[e];
    const float* src = x + int64_t(c) * F + c0;
    for (int64_t j = 0; j < t; ++j) acc[j] += we * src[j];
  }
  for (int64_t j = 0; j < t; ++j) out_row[c0 + j] = acc[j];
}

// e_pf: prefetch the gathered rows of edges up to e_pf (the block's end: across row ends, so
// the next row's first gathers are in flight while this row finishes)
void one_row(const int32_t* cols, const float* w, const float* x, int64_t n_in, int64_t F,
             int64_t e0, int64_t e1, int64_t e_pf, float* out_row) {
  int64_t c0 = 0;
  for (; c0 + 64 <= F; c0 += 64) row_tile<8>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row);
  switch ((F - c0) / 8) {
    case 7: row_tile<7>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    case 6: row_tile<6>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    case 5: row_tile<5>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    case 4: row_tile<4>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    case 3: row_tile<3>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    case 2: row_tile<2>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    case 1: row_tile<1>(cols, w, x, n_in, F, e0, e1, e_pf, c0, out_row); break;
    default: break;
  }
  c0 += (F - c0) / 8 * 8;
  if (c0 < F) row_tail(cols, w, x, n_in, F, e0, e1, c0, out_row);
}

ffi::Error SpmmImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::S32> rows_b, ffi::Buffer<ffi::S32> cols_b,
                    ffi::Buffer<ffi::F32> w_b, ffi::Buffer<ffi::F32> x_b, ffi::ResultBuffer<ffi::F32> out_b) {
  const auto xd = x_b.dimensions();
  const auto od = out_b->dimensions();
  if (xd.size() != 2 || od.size() != 2 || xd[1] != od[1])
    return ffi::Error::InvalidArgument("spmm: x must be [n_in, F] and out [n_out, F]");
  const int64_t E = rows_b.element_count();
  if (int64_t(cols_b.element_count()) != E || int64_t(w_b.element_count()) != E)
    return ffi::Error::InvalidArgument("spmm: rows, cols and weights must have the same length");
  const int64_t n_in = xd[0], n_out = od[0], F = xd[1];
  const int32_t* rows = rows_b.typed_data();
  const int32_t* cols = cols_b.typed_data();
  const float* w = w_b.typed_data();
  const float* x = x_b.typed_data();
  float* out = out_b->typed_data();
  if (n_out == 0 || F == 0) return ffi::Error::Success();
  // the edges with a row in [0, n_out)
  const int64_t e_begin = lower_bound_rows(rows, 0, E, 0);
  const int64_t e_end = lower_bound_rows(rows, e_begin, E, n_out);
  const int64_t total = (e_end - e_begin) + n_out;  // cost: edges + rows
  // ~16k cost units per block (each row is ~F floats written), at most 64 per thread
  const int64_t target = std::max<int64_t>(int64_t(1) << 14, total / (64 * std::max<int64_t>(pool.num_threads(), 1)));
  const int64_t blocks = std::max<int64_t>(1, (total + target - 1) / target);
  // first row i with cost(i) = lower_bound(rows, i) - e_begin + i >= t (cost is non-decreasing in i)
  auto row_at = [&](int64_t t) -> int64_t {
    int64_t lo = 0, hi = n_out;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (lower_bound_rows(rows, e_begin, e_end, mid) - e_begin + mid < t) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
  parallel_for(pool, blocks, [&](int64_t b) {
    const int64_t r0 = b == 0 ? 0 : row_at(b * total / blocks);
    const int64_t r1 = b == blocks - 1 ? n_out : row_at((b + 1) * total / blocks);
    if (r0 >= r1) return;
    int64_t e = lower_bound_rows(rows, e_begin, e_end, r0);
    const int64_t e_hi = lower_bound_rows(rows, e, e_end, r1);
    for (int64_t i = r0; i < r1; ++i) {
      int64_t end = e;
      while (end < e_hi && int64_t(rows[end]) == i) ++end;
      one_row(cols, w, x, n_in, F, e, end, e_hi, out + i * F);
      e = end;
    }
  });
  return ffi::Error::Success();
}

}  // namespace
}  // namespace tessera

XLA_FFI_DEFINE_HANDLER_SYMBOL(TesseraSpmm, tessera::SpmmImpl,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>());
