// Random walks on a CSR graph: lib/graph/walks.py `uniform_walks` (mode 0) and `node2vec_walks`
// (mode 1), draw for draw: the same counter hash per (walker, step, draw) and the same float32
// arithmetic, so both paths return the same walks.
//
// node2vec at cur, having come from prev, is exact rejection sampling (KnightKing-style): a
// proposal x is a uniform slot of cur's row (draw j + c), accepted when r = u * w_max < w(x)
// (u = draw j + C + c), w = 1/p if x == prev, 1 if x is in prev's row, else 1/q; the twin's rounds
// of C proposals (j = round * 2C) are walked in order and the first accepted is taken. The binary
// search of prev's sorted row runs only when r falls between 1 and 1/q: below both it accepts,
// above both it rejects, whatever x's weight.
//
// A walker at a node without out-neighbours stops: from then on its entries repeat that node with
// mask false. Walkers are independent (their draws depend on the seed, their index and the step),
// so blocks of walkers run on XLA's thread pool and the result does not depend on the threads.
#include "common.h"

namespace tessera {
namespace {

struct Csr {
  const int32_t* indptr;
  const int32_t* indices;
};

// b in the sorted row of a: the last entry <= b is b (branch-free search)
inline bool in_row(const Csr& g, int32_t a, int32_t b) {
  const int32_t* base = g.indices + g.indptr[a];
  int32_t n = g.indptr[a + 1] - g.indptr[a];
  if (n <= 0) return false;
  while (n > 1) {
    const int32_t half = n / 2;
    base = base[half] <= b ? base + half : base;
    n -= half;
  }
  return *base == b;
}

// slot of a uniform u in [0, 1) in a row of d > 0 entries, as the twin: min(floor(u * d), d - 1)
inline int32_t slot(float u, int32_t d) { return std::min(int32_t(u * float(d)), d - 1); }

struct Params {
  float wp, wq, wmax, wlo, whi;  // 1/p, 1/q, max(1/p, 1, 1/q), min(1, 1/q), max(1, 1/q)
  uint32_t C;                   // proposals per round
};

inline int32_t node2vec_next(const Csr& g, const Params& k, uint32_t sh, int32_t prev, int32_t cur, int32_t d) {
  const int32_t* row = g.indices + g.indptr[cur];
  const float fd = float(d);
  for (uint32_t j = 0;; j += 2 * k.C) {
    for (uint32_t c = 0; c < k.C; ++c) {
      const int32_t x = row[std::min(int32_t(uniform01(sh, j + c) * fd), d - 1)];
      const float r = uniform01(sh, j + k.C + c) * k.wmax;
      bool ok;
      if (x == prev) ok = r < k.wp;
      else if (r < k.wlo) ok = true;
      else if (r >= k.whi) ok = false;
      else ok = r < (in_row(g, prev, x) ? 1.0f : k.wq);
      if (ok) return x;
    }
  }
}

// A group of walkers moves in lockstep, one step at a time, in two passes: the first reads each
// walker's row bounds and prefetches its row, the second draws the next nodes and prefetches their
// row bounds. A walk is a chain of dependent cache misses (row bounds, then the row); interleaving
// G walkers keeps G of them in flight instead of one. Each walker's draws are its own, so the
// grouping changes no result.
constexpr int kGroup = 16;

inline void prefetch_row(const int32_t* row, int32_t d) {
  for (int32_t i = 0; i < d; i += 16) __builtin_prefetch(row + i);
  __builtin_prefetch(row + d - 1);
}

void walk_group(const Csr& g, const Params& k, int32_t mode, uint32_t seed, int64_t w0, int G, const int32_t* starts,
                int64_t L, int32_t* nodes, bool* mask) {
  uint32_t stream[kGroup];
  int32_t prev[kGroup], cur[kGroup], beg[kGroup], deg[kGroup];
  bool alive[kGroup];
  const int64_t stride = L + 1;
  for (int i = 0; i < G; ++i) {
    stream[i] = lane_stream(seed, uint32_t(w0 + i));
    prev[i] = cur[i] = starts[i];
    alive[i] = true;
    nodes[i * stride] = starts[i];
    mask[i * stride] = true;
    __builtin_prefetch(g.indptr + cur[i]);
  }
  for (int64_t t = 0; t < L; ++t) {
    for (int i = 0; i < G; ++i) {  // row bounds; a walker at a node without out-edges stops
      if (!alive[i]) continue;
      beg[i] = g.indptr[cur[i]];
      deg[i] = g.indptr[cur[i] + 1] - beg[i];
      alive[i] = deg[i] > 0;
      if (alive[i]) prefetch_row(g.indices + beg[i], deg[i]);
    }
    for (int i = 0; i < G; ++i) {
      if (alive[i]) {
        const uint32_t sh = step_hash(stream[i], uint32_t(t));
        int32_t x;
        if (mode == 0 || t == 0) {
          x = g.indices[beg[i] + slot(uniform01(sh, 0), deg[i])];
        } else {
          x = node2vec_next(g, k, sh, prev[i], cur[i], deg[i]);
        }
        prev[i] = cur[i];
        cur[i] = x;
        __builtin_prefetch(g.indptr + x);
      }
      nodes[i * stride + t + 1] = cur[i];
      mask[i * stride + t + 1] = alive[i];
    }
  }
}

constexpr int64_t kBlock = 256;  // walkers per thread-pool task

ffi::Error WalksImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::S32> indptr_b, ffi::Buffer<ffi::S32> indices_b,
                     ffi::Buffer<ffi::S32> starts_b, ffi::Buffer<ffi::U32> seed_b, ffi::Buffer<ffi::F32> pq_b,
                     ffi::ResultBuffer<ffi::S32> nodes_r, ffi::ResultBuffer<ffi::PRED> mask_r, int32_t mode,
                     int32_t candidates, int32_t threads) {
  const int64_t N = int64_t(indptr_b.element_count()) - 1, E = indices_b.element_count();
  const int64_t W = starts_b.element_count();
  const auto od = nodes_r->dimensions();
  if (N < 0 || od.size() != 2 || od[0] != W || od[1] < 1 || seed_b.element_count() != 1 ||
      pq_b.element_count() != 2 || int64_t(mask_r->element_count()) != W * od[1])
    return ffi::Error::InvalidArgument("walks: inconsistent shapes");
  if ((mode != 0 && mode != 1) || candidates < 1)
    return ffi::Error::InvalidArgument("walks: mode must be 0 or 1 and candidates >= 1");
  const int64_t L = od[1] - 1;
  const int32_t* indptr = indptr_b.typed_data();
  const int32_t* starts = starts_b.typed_data();
  // the caller checked the graph; a broken one must not make the kernel read out of bounds
  if (indptr[0] != 0 || indptr[N] != E) return ffi::Error::InvalidArgument("walks: indptr must run from 0 to E");
  for (int64_t i = 0; i < N; ++i)
    if (indptr[i + 1] < indptr[i]) return ffi::Error::InvalidArgument("walks: indptr must not decrease");
  for (int64_t e = 0; e < E; ++e)
    if (uint32_t(indices_b.typed_data()[e]) >= uint64_t(N)) return ffi::Error::InvalidArgument("walks: neighbour out of range");
  for (int64_t w = 0; w < W; ++w)
    if (starts[w] < 0 || starts[w] >= N) return ffi::Error::InvalidArgument("walks: start node out of range");
  const Csr g{indptr, indices_b.typed_data()};
  const float p = pq_b.typed_data()[0], q = pq_b.typed_data()[1];
  Params k;
  k.wp = 1.0f / p;
  k.wq = 1.0f / q;
  k.wmax = std::max(std::max(k.wp, 1.0f), k.wq);
  k.wlo = std::min(1.0f, k.wq);
  k.whi = std::max(1.0f, k.wq);
  k.C = uint32_t(candidates);
  const uint32_t seed = seed_b.typed_data()[0];
  int32_t* nodes = nodes_r->typed_data();
  bool* mask = mask_r->typed_data();
  const int64_t blocks = (W + kBlock - 1) / kBlock;
  auto run = [&](int64_t blk) {
    for (int64_t w = blk * kBlock, end = std::min(W, w + kBlock); w < end; w += kGroup) {
      const int G = int(std::min<int64_t>(kGroup, end - w));
      walk_group(g, k, mode, seed, w, G, starts + w, L, nodes + w * (L + 1), mask + w * (L + 1));
    }
  };
  if (threads && blocks > 1 && pool.num_threads() > 1) {
    parallel_for(pool, blocks, run);
  } else {
    for (int64_t blk = 0; blk < blocks; ++blk) run(blk);
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace tessera

XLA_FFI_DEFINE_HANDLER_SYMBOL(TesseraWalks, tessera::WalksImpl,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // indptr [N + 1]
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // indices [E], rows sorted
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // starts [W]
                                  .Arg<xla::ffi::Buffer<xla::ffi::U32>>()   // seed []
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()   // (p, q)
                                  .Ret<xla::ffi::Buffer<xla::ffi::S32>>()   // nodes [W, L + 1]
                                  .Ret<xla::ffi::Buffer<xla::ffi::PRED>>()  // mask [W, L + 1]
                                  .Attr<int32_t>("mode")
                                  .Attr<int32_t>("candidates")
                                  .Attr<int32_t>("threads"));
