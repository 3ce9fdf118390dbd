// SPDX-License-Identifier: MIT
#pragma once
// The GPU groups of parallel/group.hpp (nvcc only): LaneGroup<W>, W lanes of a warp
// working on one row, and BlockGroup, a whole block of kBlockLanes threads; and the
// kernels that hand rows to them. This is the only place in pdml::cuda that touches
// threadIdx, shuffles or __syncthreads.
//
// reduce<K>: physical lane l owns the logical lanes l, l + W, ..., l + (K/W - 1) W.
// The halves of the fixed tree whose partners share a lane (half >= W) fold in
// registers; the rest by shuffles (warp) or shared memory (block). Lane 0's value is
// broadcast, so every lane holds the bits of fold_halves() over the same accumulators.

#if !defined(__CUDACC__)
#error "pdml/cuda/parallel/group_cuda.cuh needs nvcc"
#endif

#include <cstdint>
#include <cstring>

#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace parallel {

constexpr int kThreadsPerBlock = 256;

namespace detail {

/// Fills the per-lane accumulators of reduce<K> and folds the halves that stay
/// inside one lane; returns logical lane `lane`'s partial of the tree's last W leaves.
template <int K, int W, class T, class Value, class Op>
__device__ PDML_FORCE_INLINE T fold_in_lane(int lane, Index n, T init, Value value, Op op) {
  static_assert(K % W == 0, "the lanes must divide the logical lanes");
  constexpr int kPer = K / W;
  T acc[kPer];
#pragma unroll
  for (int q = 0; q < kPer; ++q) acc[q] = init;
  for (Index base = 0; base < n; base += K) {
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const Index j = base + lane + static_cast<Index>(q) * W;
      if (j < n) acc[q] = op(acc[q], value(j));
    }
  }
  // half = K/2 ... W: logical k = lane + q W meets k + half = lane + (q + half/W) W.
#pragma unroll
  for (int half_q = kPer / 2; half_q >= 1; half_q /= 2) {
#pragma unroll
    for (int q = 0; q < half_q; ++q) acc[q] = op(acc[q], acc[q + half_q]);
  }
  return acc[0];
}

/// Shuffles any trivially copyable value word by word (a scalar, or a struct such as the
/// running logsumexp of math/logsumexp.hpp): shuffle_word(w) moves one 32-bit word.
template <class T, class ShuffleWord>
__device__ PDML_FORCE_INLINE T shuffle_words(T v, ShuffleWord shuffle_word) {
  static_assert(sizeof(T) % sizeof(unsigned) == 0, "shuffled values are whole 32-bit words");
  constexpr int kWords = static_cast<int>(sizeof(T) / sizeof(unsigned));
  unsigned words[kWords];
  memcpy(words, &v, sizeof(T));
#pragma unroll
  for (int k = 0; k < kWords; ++k) words[k] = shuffle_word(words[k]);
  memcpy(&v, words, sizeof(T));
  return v;
}

template <class T>
__device__ PDML_FORCE_INLINE T shuffle_xor(unsigned mask, T v, int offset, int width) {
  return shuffle_words(v, [=](unsigned w) { return __shfl_xor_sync(mask, w, offset, width); });
}

template <class T>
__device__ PDML_FORCE_INLINE T shuffle_from(unsigned mask, T v, int lane, int width) {
  return shuffle_words(v, [=](unsigned w) { return __shfl_sync(mask, w, lane, width); });
}

/// Folds the W lanes of a slice in halves (lane k with k + half) and broadcasts lane 0.
template <int W, class T, class Op>
__device__ PDML_FORCE_INLINE T fold_lanes(unsigned mask, T v, Op op) {
#pragma unroll
  for (int half = W / 2; half >= 1; half /= 2) {
    const T other = shuffle_xor(mask, v, half, W);
    v = op(v, other);
  }
  return shuffle_from(mask, v, 0, W);
}

}  // namespace detail

/// W lanes of one warp (W = 1, 2, ..., 32), the `slice`-th W-lane slice of the warp.
template <int W>
struct LaneGroup {
  static_assert(W >= 1 && W <= 32 && (W & (W - 1)) == 0, "W must be a power of two <= 32");
  static constexpr int lanes = W;
  unsigned mask;  // the slice's lanes within the warp
  int lane_;

  __device__ int lane() const { return lane_; }
  __device__ void sync() const { __syncwarp(mask); }

  template <class F>
  __device__ void for_each(Index n, F f) const {
    for (Index j = lane_; j < n; j += W) f(j);
  }

  template <int K, class T, class Value, class Op>
  __device__ T reduce(Index n, T init, Value value, Op op) const {
    const T partial = detail::fold_in_lane<K, W>(lane_, n, init, value, op);
    return detail::fold_lanes<W>(mask, partial, op);
  }
};

/// All kThreadsPerBlock threads of a block.
struct BlockGroup {
  static constexpr int lanes = kThreadsPerBlock;

  __device__ int lane() const { return static_cast<int>(threadIdx.x); }
  __device__ void sync() const { __syncthreads(); }

  template <class F>
  __device__ void for_each(Index n, F f) const {
    for (Index j = threadIdx.x; j < n; j += kThreadsPerBlock) f(j);
  }

  /// Halves >= 32 through shared memory, the last five inside warp 0.
  template <int K, class T, class Value, class Op>
  __device__ T reduce(Index n, T init, Value value, Op op) const {
    static_assert(K == kThreadsPerBlock, "a block reduces over one logical lane per thread");
    __shared__ T slots[kThreadsPerBlock];
    const int t = static_cast<int>(threadIdx.x);
    T v = detail::fold_in_lane<K, kThreadsPerBlock>(t, n, init, value, op);
    __syncthreads();  // earlier readers of slots are done
    slots[t] = v;
    __syncthreads();
#pragma unroll
    for (int half = kThreadsPerBlock / 2; half >= 32; half /= 2) {
      if (t < half) slots[t] = op(slots[t], slots[t + half]);
      __syncthreads();
    }
    if (t < 32) {
      v = detail::fold_lanes<32>(0xffffffffu, slots[t], op);
      if (t == 0) slots[0] = v;
    }
    __syncthreads();
    return slots[0];
  }
};

/// Rows of W lanes: slice s of block b takes row b (kThreadsPerBlock / W) + s.
template <int W, class F>
__global__ void __launch_bounds__(kThreadsPerBlock) lane_group_kernel(Index rows, F f) {
  constexpr int kSlices = kThreadsPerBlock / W;
  const int slice = static_cast<int>(threadIdx.x) / W;
  const Index row = static_cast<Index>(blockIdx.x) * kSlices + slice;
  if (row >= rows) return;  // whole slices leave together
  const int lane_in_warp = static_cast<int>(threadIdx.x) % 32;
  const unsigned mask =
      W == 32 ? 0xffffffffu : (((1u << W) - 1u) << (lane_in_warp / W * W));
  f(LaneGroup<W>{mask, lane_in_warp % W}, row);
}

/// One block per row.
template <class F>
__global__ void __launch_bounds__(kThreadsPerBlock) block_group_kernel(Index rows, F f) {
  const Index row = blockIdx.x;
  if (row >= rows) return;
  f(BlockGroup{}, row);
}

}  // namespace parallel
}  // namespace cuda
}  // namespace pdml
