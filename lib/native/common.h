// Shared helpers for tessera's native CPU kernels (XLA FFI custom calls).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>

#ifdef __AVX__
#include <immintrin.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace tessera {

namespace ffi = xla::ffi;

// 8 x 32-bit lanes (one AVX2 register; GCC/Clang split it on narrower targets).
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));

inline v8i load8i(const void* p) { v8i v; std::memcpy(&v, p, sizeof v); return v; }
inline v8f load8f(const void* p) { v8f v; std::memcpy(&v, p, sizeof v); return v; }
inline void store8(void* p, v8i v) { std::memcpy(p, &v, sizeof v); }
inline void store8(void* p, v8f v) { std::memcpy(p, &v, sizeof v); }
// Bit l set iff lane l of the mask m (all ones / all zeros per lane) is set.
inline unsigned movemask8(v8i m) {
#ifdef __AVX__
  __m256 f;
  std::memcpy(&f, &m, sizeof f);
  return static_cast<unsigned>(_mm256_movemask_ps(f));
#else
  unsigned out = 0;
  for (int l = 0; l < 8; ++l) out |= unsigned(m[l] & 1) << l;
  return out;
#endif
}

// The counter hash of lib/graph/walks.py (`_fmix`, `_stream`, `_uniform01`): murmur3's 32-bit
// finaliser chained over (seed, lane), then the step, then the draw; 24 random bits per uniform.
inline uint32_t fmix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  return x ^ (x >> 16);
}

inline uint32_t lane_stream(uint32_t seed, uint32_t lane) { return fmix(seed ^ fmix(lane + 0x9E3779B9u)); }

inline uint32_t step_hash(uint32_t stream, uint32_t step) { return fmix(stream ^ (step * 0x27D4EB2Fu + 0x165667B1u)); }

inline float uniform01(uint32_t sh, uint32_t draw) {
  const uint32_t x = fmix(sh ^ (draw * 0x9E3779B1u + 0x7F4A7C15u));
  return float(x >> 8) * (1.0f / float(1 << 24));
}

// Runs fn(i) for i in [0, n) on XLA's intra-op thread pool and the calling thread.
// Chunks are handed out through an atomic counter; the caller returns once every
// chunk has finished. A pool task that starts late finds the counter exhausted and
// returns without touching `fn` (the shared state it reads is reference counted).
template <class F>
void parallel_for(ffi::ThreadPool& pool, int64_t n, const F& fn) {
  struct State {
    std::atomic<int64_t> next{0}, done{0};
  };
  auto st = std::make_shared<State>();
  auto drain = [st, n, &fn]() {
    for (int64_t i; (i = st->next.fetch_add(1)) < n;) {
      fn(i);
      st->done.fetch_add(1, std::memory_order_release);
    }
  };
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), n) - 1;
  for (int64_t t = 0; t < helpers; ++t) {
    pool.Schedule([drain] { drain(); });
  }
  drain();
  while (st->done.load(std::memory_order_acquire) < n) std::this_thread::yield();
}

}  // namespace tessera
