// Skip-gram with negative sampling, sparse SGD (word2vec-style) on random walks: `count` steps of
// lib/graph/embedding.py `_sgd_steps` for every graph of a stack, in place on the two tables.
//
// Semantics are the pure-JAX twin's, draw for draw: the counter hash of lib/graph/walks.py
// (`_fmix`, `_stream`, `_uniform01`) gives, per (lane b, step t), the walk, the position, the
// offset (inverse CDF of word2vec's reduced window), the direction and the K negatives (inverse
// CDF of unigram^0.75, `searchsorted` side='left'); a pair is valid iff the context position is
// inside the walk, both positions are unmasked and t < total. Each step is one batched update:
// every gradient is computed from the tables as they were at the step's start, then added, so
// the result equals the twin's up to float summation order. Invalid pairs have zero gradient
// and are skipped (adding -0.0 leaves every float as it was).
//
// Per step: (0) draws for all lanes (negatives through a guide table over the CDF: the same index
// as a binary search of the whole CDF, found in a range of a few entries), with the walk entries
// and then the table rows of a block of lanes prefetched; (1) per valid lane: the K + 1 dot
// products, the loss (softplus with log1p by a short series, within 3 ulp), the coefficients
// and the gradient of the centre row into a [B, D] buffer (reads only; lanes are
// independent, so blocks of lanes run on XLA's thread pool without changing any result);
// (2) output-table rows += coefficient * centre row (centre rows not yet updated); (3) centre
// rows += buffer. (2) and (3) are sequential: duplicate rows are summed in lane order.
// The loss of a step is summed over lanes in lane order (double), then added to a float total.
//
// Node ids outside [0, N) are clamped when read and dropped when written (as XLA's gather clamps
// and its scatter drops them); callers pass in-range ids, and then both paths agree.
#include <cmath>
#include <vector>

#include "common.h"

namespace tessera {
namespace {

// jnp.searchsorted(cdf, v, side='left') over cdf[lo, hi): lo + the number of entries < v there
// (branch-free: the comparisons of a search over a large CDF are unpredictable)
inline int32_t count_below(const float* cdf, int32_t lo, int32_t hi, float v) {
  if (hi <= lo) return lo;
  const float* base = cdf + lo;
  int32_t n = hi - lo;
  while (n > 1) {
    const int32_t half = n / 2;
    base = base[half] < v ? base + half : base;
    n -= half;
  }
  return int32_t(base - cdf) + (*base < v);
}

// Guide table for inverse-CDF draws of u in [0, 1) with 24-bit resolution: M = 2^m buckets;
// bucket j holds lower_bound(cdf, j / M) (j / M and u * M are exact in float), so the draw for
// u is a search of cdf[guide[j], guide[j + 1]] with j = floor(u * M): the same index as a search
// of the whole CDF (it is monotone), in a range of a few entries.
struct Guide {
  std::vector<int32_t> start;  // [M + 1]
  int32_t m_log2 = 0;
  void build(const float* cdf, int32_t n) {
    m_log2 = 0;
    while ((int64_t(1) << m_log2) < n && m_log2 < 20) ++m_log2;
    const int32_t M = int32_t(1) << m_log2;
    start.resize(size_t(M) + 1);
    int32_t i = 0;
    for (int32_t j = 0; j <= M; ++j) {
      const float edge = float(j) / float(M);
      while (i < n && cdf[i] < edge) ++i;
      start[j] = i;
    }
  }
  inline int32_t draw(const float* cdf, float u) const {
    const int32_t j = int32_t(u * float(int32_t(1) << m_log2));
    return count_below(cdf, start[j], start[j + 1], u);
  }
};

inline float dot(const float* a, const float* b, int64_t D) {
  int64_t d = 0;
  v8f acc = v8f{};
  for (; d + 8 <= D; d += 8) acc += load8f(a + d) * load8f(b + d);
  float s = 0.0f;
  for (int l = 0; l < 8; ++l) s += acc[l];
  for (; d < D; ++d) s += a[d] * b[d];
  return s;
}

inline void prefetch_row(const float* r, int64_t D) {
  for (int64_t d = 0; d < D; d += 16) __builtin_prefetch(r + d);
}

// y += a * x
inline void axpy(float a, const float* x, float* y, int64_t D) {
  int64_t d = 0;
  const v8f av = v8f{} + a;
  for (; d + 8 <= D; d += 8) store8(y + d, load8f(y + d) + av * load8f(x + d));
  for (; d < D; ++d) y[d] += a * x[d];
}

// log1p(e) for e in [0, 1]: 2 atanh(s) with s = e / (2 + e) in [0, 1/3], odd series to s^17
// (truncation < 2e-9 relative: within float rounding; a quarter of libm's log1pf cost here)
inline float log1p_unit(float e) {
  const float s = e / (2.0f + e), s2 = s * s;
  float p = 1.0f / 17;
  p = p * s2 + 1.0f / 15;
  p = p * s2 + 1.0f / 13;
  p = p * s2 + 1.0f / 11;
  p = p * s2 + 1.0f / 9;
  p = p * s2 + 1.0f / 7;
  p = p * s2 + 1.0f / 5;
  p = p * s2 + 1.0f / 3;
  return 2.0f * (s + s * s2 * p);
}

// log(1 + exp(x)) and sigmoid(x) from one exp
inline void softplus_sigmoid(float x, float* sp, float* sig) {
  const float e = std::exp(-std::fabs(x));
  *sp = std::max(x, 0.0f) + log1p_unit(e);
  const float r = 1.0f / (1.0f + e);
  *sig = x >= 0.0f ? r : e * r;
}

struct Graph {
  float* in;
  float* out;
  const int32_t* nodes;
  const bool* mask;
  const float* cdf;
  int32_t walks, total;
  uint32_t seed;
};

struct Scratch {
  std::vector<uint32_t> streams;
  std::vector<int32_t> c, x, neg;  // [B], [B], [B * K]
  std::vector<uint8_t> valid;
  std::vector<float> gpos, gneg, gu, loss;  // [B], [B * K], [B * D], [B]
  Guide guide;
};

constexpr int kBlock = 64;  // lanes per thread-pool task

void run_steps(ffi::ThreadPool* pool, const Graph& g, Scratch& s, const float* off_cdf, int32_t window,
               int64_t N, int64_t D, int64_t W, int64_t L, int64_t B, int64_t K, int32_t first, int32_t count, float lr0,
               float* loss_out, float* pairs_out) {
  s.streams.resize(B);
  s.c.resize(B); s.x.resize(B); s.neg.resize(B * K); s.valid.resize(B);
  s.gpos.resize(B); s.gneg.resize(B * K); s.gu.resize(B * D); s.loss.resize(B);
  for (int64_t b = 0; b < B; ++b) s.streams[b] = lane_stream(g.seed, uint32_t(b));
  s.guide.build(g.cdf, int32_t(N));
  const int32_t nmax = int32_t(N) - 1;
  auto clampn = [nmax](int32_t v) { return v < 0 ? 0 : (v > nmax ? nmax : v); };
  float loss_total = 0.0f, pairs_total = 0.0f;
  const int64_t blocks = (B + kBlock - 1) / kBlock;

  for (int32_t i = 0; i < count; ++i) {
    const int32_t t = first + i;
    if (!(t < g.total)) {  // beyond the budget: nothing valid, the tables stay (twin: zero updates)
      continue;
    }
    const float lr = lr0 * std::max(1.0f - float(t) / float(g.total), 1e-4f);
    const uint32_t tu = uint32_t(t);
    auto lanes = [&](int64_t blk) {
      const int64_t b0 = blk * kBlock, b1 = std::min<int64_t>(B, b0 + kBlock);
      for (int64_t b = b0; b < b1; ++b) {  // (0a) draws; prefetch the walk entries
        const uint32_t sh = step_hash(s.streams[b], tu);
        int32_t w = std::min(int32_t(uniform01(sh, 0) * float(g.walks)), g.walks - 1);
        if (w < 0) w += int32_t(W);                // as jnp indexing (num_walks < 1 only)
        w = std::min(std::max(w, 0), int32_t(W) - 1);
        const int32_t p = std::min(int32_t(uniform01(sh, 1) * float(L)), int32_t(L) - 1);
        const int32_t o = count_below(off_cdf, 0, window, uniform01(sh, 2)) + 1;
        const int32_t q = p + (uniform01(sh, 3) < 0.5f ? o : -o);
        const int32_t qc = std::min(std::max(q, 0), int32_t(L) - 1);
        s.c[b] = w * int32_t(L) + p;  // walk entries for now, node ids after (0b)
        s.x[b] = w * int32_t(L) + qc;
        s.valid[b] = q == qc;
        __builtin_prefetch(g.mask + s.c[b]);
        __builtin_prefetch(g.nodes + s.c[b]);
        __builtin_prefetch(g.mask + s.x[b]);
        __builtin_prefetch(g.nodes + s.x[b]);
        for (int64_t k = 0; k < K; ++k)
          s.neg[b * K + k] = std::min(s.guide.draw(g.cdf, uniform01(sh, uint32_t(k) + 4u)), nmax);
      }
      for (int64_t b = b0; b < b1; ++b) {  // (0b) validity, node ids; prefetch their rows
        const int64_t ep = s.c[b], eq = s.x[b];
        const bool ok = s.valid[b] && g.mask[ep] && g.mask[eq];
        s.valid[b] = ok;
        if (!ok) continue;
        s.c[b] = g.nodes[ep];
        s.x[b] = g.nodes[eq];
        prefetch_row(g.in + int64_t(clampn(s.c[b])) * D, D);
        prefetch_row(g.out + int64_t(clampn(s.x[b])) * D, D);
        for (int64_t k = 0; k < K; ++k) prefetch_row(g.out + int64_t(s.neg[b * K + k]) * D, D);
      }
      for (int64_t b = b0; b < b1; ++b) {  // (1) scores, loss, coefficients, centre gradient
        if (!s.valid[b]) continue;
        const float* u = g.in + int64_t(clampn(s.c[b])) * D;
        const float* v = g.out + int64_t(clampn(s.x[b])) * D;
        float* gu = s.gu.data() + b * D;
        float sp, sig;
        softplus_sigmoid(-dot(u, v, D), &sp, &sig);  // -log s(u.v) = softplus(-u.v)
        double loss = sp;
        const float gp = -sig;                       // d/d(u.v) of softplus(-u.v) = -s(-u.v)
        s.gpos[b] = gp;
        for (int64_t d = 0; d < D; ++d) gu[d] = gp * v[d];
        for (int64_t k = 0; k < K; ++k) {
          const float* vn = g.out + int64_t(s.neg[b * K + k]) * D;
          softplus_sigmoid(dot(u, vn, D), &sp, &sig);  // -log s(-u.vn) = softplus(u.vn)
          loss += sp;
          s.gneg[b * K + k] = sig;
          axpy(sig, vn, gu, D);
        }
        s.loss[b] = float(loss);
      }
    };
    if (pool != nullptr && blocks > 1 && pool->num_threads() > 1) {
      parallel_for(*pool, blocks, lanes);
    } else {
      for (int64_t blk = 0; blk < blocks; ++blk) lanes(blk);
    }
    double step_loss = 0.0;
    float step_pairs = 0.0f;
    constexpr int64_t ahead = 4;
    for (int64_t b = 0; b < B; ++b) {  // (2) output rows, from the centre rows as they were
      if (b + ahead < B && s.valid[b + ahead]) {
        const int64_t a = b + ahead;
        prefetch_row(g.in + int64_t(clampn(s.c[a])) * D, D);
        prefetch_row(g.out + int64_t(clampn(s.x[a])) * D, D);
        for (int64_t k = 0; k < K; ++k) prefetch_row(g.out + int64_t(s.neg[a * K + k]) * D, D);
      }
      if (!s.valid[b]) continue;
      step_loss += s.loss[b];
      step_pairs += 1.0f;
      const float* u = g.in + int64_t(clampn(s.c[b])) * D;
      const int32_t x = s.x[b];
      if (x >= 0 && x < N) axpy(-lr * s.gpos[b], u, g.out + int64_t(x) * D, D);
      for (int64_t k = 0; k < K; ++k)
        axpy(-lr * s.gneg[b * K + k], u, g.out + int64_t(s.neg[b * K + k]) * D, D);
    }
    for (int64_t b = 0; b < B; ++b) {  // (3) centre rows
      const int32_t c = s.c[b];
      if (s.valid[b] && c >= 0 && c < N) axpy(-lr, s.gu.data() + b * D, g.in + int64_t(c) * D, D);
    }
    loss_total += float(step_loss);
    pairs_total += step_pairs;
  }
  *loss_out = loss_total;
  *pairs_out = pairs_total;
}

ffi::Error SgnsImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> in_b, ffi::Buffer<ffi::F32> out_b,
                    ffi::Buffer<ffi::S32> nodes_b, ffi::Buffer<ffi::PRED> mask_b, ffi::Buffer<ffi::S32> walks_b,
                    ffi::Buffer<ffi::F32> cdf_b, ffi::Buffer<ffi::S32> total_b, ffi::Buffer<ffi::U32> seed_b,
                    ffi::Buffer<ffi::S32> first_b, ffi::Buffer<ffi::F32> off_b,
                    ffi::ResultBuffer<ffi::F32> in_r, ffi::ResultBuffer<ffi::F32> out_r,
                    ffi::ResultBuffer<ffi::F32> loss_r, ffi::ResultBuffer<ffi::F32> pairs_r,
                    int32_t count, int32_t batch, int32_t negatives, float lr, int32_t threads) {
  const auto td = in_b.dimensions();
  const auto nd = nodes_b.dimensions();
  if (td.size() != 3 || nd.size() != 3 || out_b.dimensions().size() != 3)
    return ffi::Error::InvalidArgument("sgns: tables must be [P, N, D] and nodes/mask [P, W, L]");
  const int64_t P = td[0], N = td[1], D = td[2], W = nd[1], L = nd[2];
  if (nd[0] != P || int64_t(mask_b.element_count()) != P * W * L || int64_t(out_b.element_count()) != P * N * D ||
      int64_t(cdf_b.element_count()) != P * N || int64_t(walks_b.element_count()) != P ||
      int64_t(total_b.element_count()) != P || int64_t(seed_b.element_count()) != P ||
      first_b.element_count() != 1 || off_b.element_count() < 1)
    return ffi::Error::InvalidArgument("sgns: inconsistent shapes");
  if (W * L >= (int64_t(1) << 31))
    return ffi::Error::InvalidArgument("sgns: walks x length must be < 2^31 entries");
  if (batch < 1 || negatives < 1 || count < 0 || N < 1 || W < 1 || L < 1)
    return ffi::Error::InvalidArgument("sgns: batch, negatives, N, W, L must be >= 1 and count >= 0");
  // in place when XLA aliased the results with the inputs, else copy first
  if (in_r->typed_data() != in_b.typed_data())
    std::memcpy(in_r->typed_data(), in_b.typed_data(), sizeof(float) * P * N * D);
  if (out_r->typed_data() != out_b.typed_data())
    std::memcpy(out_r->typed_data(), out_b.typed_data(), sizeof(float) * P * N * D);
  const int32_t first = first_b.typed_data()[0];
  Scratch scratch;
  for (int64_t j = 0; j < P; ++j) {
    Graph g{in_r->typed_data() + j * N * D, out_r->typed_data() + j * N * D,
            nodes_b.typed_data() + j * W * L, mask_b.typed_data() + j * W * L, cdf_b.typed_data() + j * N,
            walks_b.typed_data()[j], total_b.typed_data()[j], seed_b.typed_data()[j]};
    run_steps(threads ? &pool : nullptr, g, scratch, off_b.typed_data(), int32_t(off_b.element_count()), N, D, W, L,
              batch, negatives, first, count, lr, loss_r->typed_data() + j, pairs_r->typed_data() + j);
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace tessera

XLA_FFI_DEFINE_HANDLER_SYMBOL(TesseraSgns, tessera::SgnsImpl,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()   // in  [P, N, D]
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()   // out [P, N, D]
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // nodes [P, W, L]
                                  .Arg<xla::ffi::Buffer<xla::ffi::PRED>>()  // mask [P, W, L]
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // walks [P]
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()   // cdf [P, N]
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // total [P]
                                  .Arg<xla::ffi::Buffer<xla::ffi::U32>>()   // seed [P]
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()   // first []
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()   // offset cdf [window]
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()   // loss [P]
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()   // pairs [P]
                                  .Attr<int32_t>("count")
                                  .Attr<int32_t>("batch")
                                  .Attr<int32_t>("negatives")
                                  .Attr<float>("lr")
                                  .Attr<int32_t>("threads"));
