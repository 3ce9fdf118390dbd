// SPDX-License-Identifier: MIT
#pragma once
// The GPU groups of parallel/group.hpp (nvcc only): LaneGroup<W>, W lanes of a warp
// working on one row, and BlockGroup, a whole block of kBlockLanes threads; and the
// kernels that hand rows to them. This is the only place in pdml::cuda that touches
// threadIdx, shuffles or __syncthreads.
//
// reduce_vec<V, K> (and reduce<K>, its V = 1 case): lane l owns the accumulators
// k = (q W + l) V + e of group.hpp. The halves of the fixed tree whose partners share a
// lane (half >= V W) fold in registers; the rest by shuffles (warp) or shared memory
// (block), then the halves below V in lane 0's slots. Lane 0's value is broadcast, so
// every lane holds the bits of fold_halves() over the same accumulators.

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

/// Fills the per-lane slots of reduce_vec<V, K> (group.hpp's ownership: accumulator
/// k = (q W + lane) V + e is slot (q, e)) and folds the halves >= V W, which stay inside
/// the lane; returns the lane's V slots of the tree's last V W leaves.
template <int V, int K, int W, class T, class PacketValue, class Op>
__device__ PDML_FORCE_INLINE Packet<T, V> fold_in_lane(int lane, Index n, T init,
                                                        PacketValue packet_value, Op op) {
  static_assert(K % (V * W) == 0, "the lanes' packets must divide the logical lanes");
  constexpr int kPer = K / (V * W);
  Packet<T, V> acc[kPer];
#pragma unroll
  for (int q = 0; q < kPer; ++q) {
#pragma unroll
    for (int e = 0; e < V; ++e) acc[q].v[e] = init;
  }
  for (Index base = 0; base < n; base += K) {
#pragma unroll
    for (int q = 0; q < kPer; ++q) {
      const Index j = base + (static_cast<Index>(q) * W + lane) * V;
      if (j < n) {
        const int count = packet_count<V>(j, n);
        const Packet<T, V> x = packet_value(j, count);
#pragma unroll
        for (int e = 0; e < V; ++e) {
          if (e < count) acc[q].v[e] = op(acc[q].v[e], x.v[e]);
        }
      }
    }
  }
  // half = K/2 ... V W: slot (q, e) meets (q + half / (V W), e).
#pragma unroll
  for (int half_q = kPer / 2; half_q >= 1; half_q /= 2) {
#pragma unroll
    for (int q = 0; q < half_q; ++q) {
#pragma unroll
      for (int e = 0; e < V; ++e) acc[q].v[e] = op(acc[q].v[e], acc[q + half_q].v[e]);
    }
  }
  return acc[0];
}

/// The halves below V of the tree, inside one lane: slot e with e + half.
template <int V, class T, class Op>
__device__ PDML_FORCE_INLINE T fold_slots(Packet<T, V> p, Op op) {
#pragma unroll
  for (int half = V / 2; half >= 1; half /= 2) {
#pragma unroll
    for (int e = 0; e < half; ++e) p.v[e] = op(p.v[e], p.v[e + half]);
  }
  return p.v[0];
}

/// Wraps a per-element value(j) as the packets of width 1 of reduce_vec<1, K>.
template <class T, class Value>
struct SingletonPackets {
  Value value;
  __device__ PDML_FORCE_INLINE Packet<T, 1> operator()(Index j, int) const {
    Packet<T, 1> p;
    p.v[0] = value(j);
    return p;
  }
};

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

/// Folds the W lanes of a slice in halves (lane k with k + half), slot by slot, then
/// the V slots of lane 0 (fold_slots), and broadcasts lane 0's result.
template <int W, int V, class T, class Op>
__device__ PDML_FORCE_INLINE T fold_lanes(unsigned mask, Packet<T, V> p, Op op) {
#pragma unroll
  for (int half = W / 2; half >= 1; half /= 2) {
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const T other = shuffle_xor(mask, p.v[e], half, W);
      p.v[e] = op(p.v[e], other);
    }
  }
  return shuffle_from(mask, fold_slots<V>(p, op), 0, W);
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

  template <int V, class F>
  __device__ void for_each_vec(Index n, F f) const {
    for (Index j = static_cast<Index>(lane_) * V; j < n; j += static_cast<Index>(W) * V) {
      f(j, packet_count<V>(j, n));
    }
  }

  template <int K, class T, class Value, class Op>
  __device__ T reduce(Index n, T init, Value value, Op op) const {
    return reduce_vec<1, K>(n, init, detail::SingletonPackets<T, Value>{value}, op);
  }

  template <int V, int K, class T, class PacketValue, class Op>
  __device__ T reduce_vec(Index n, T init, PacketValue packet_value, Op op) const {
    const Packet<T, V> partial = detail::fold_in_lane<V, K, W>(lane_, n, init, packet_value, op);
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

  template <int V, class F>
  __device__ void for_each_vec(Index n, F f) const {
    for (Index j = static_cast<Index>(threadIdx.x) * V; j < n;
         j += static_cast<Index>(kThreadsPerBlock) * V) {
      f(j, packet_count<V>(j, n));
    }
  }

  template <int K, class T, class Value, class Op>
  __device__ T reduce(Index n, T init, Value value, Op op) const {
    static_assert(K == kThreadsPerBlock, "a block reduces over one logical lane per thread");
    return reduce_vec<1, K>(n, init, detail::SingletonPackets<T, Value>{value}, op);
  }

  /// The halves >= V kThreadsPerBlock in each thread's slots, then (accumulator k in
  /// slots[k]) the halves down to 32 through shared memory, the last five inside warp 0.
  template <int V, int K, class T, class PacketValue, class Op>
  __device__ T reduce_vec(Index n, T init, PacketValue packet_value, Op op) const {
    constexpr int kSlots = V * kThreadsPerBlock;
    static_assert(kSlots >= 64, "the shared halves end in one warp");
    __shared__ T slots[kSlots];
    const int t = static_cast<int>(threadIdx.x);
    const Packet<T, V> mine =
        detail::fold_in_lane<V, K, kThreadsPerBlock>(t, n, init, packet_value, op);
    __syncthreads();  // earlier readers of slots are done
#pragma unroll
    for (int e = 0; e < V; ++e) slots[t * V + e] = mine.v[e];
    __syncthreads();
#pragma unroll
    for (int half = kSlots / 2; half >= 32; half /= 2) {
      for (int k = t; k < half; k += kThreadsPerBlock) slots[k] = op(slots[k], slots[k + half]);
      __syncthreads();
    }
    if (t < 32) {
      const T v = detail::fold_lanes<32>(0xffffffffu, Packet<T, 1>{{slots[t]}}, op);
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
