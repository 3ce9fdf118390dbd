// SPDX-License-Identifier: MIT
#pragma once
// Groups: the lanes that work together on one row (one class, one image, one
// tile). Every row routine of pdml::cuda is written once, as a template over a
// group G, and runs
//   * on the GPU with LaneGroup<W> (W lanes of a warp) or BlockGroup (a whole
//     block), parallel/group_cuda.cuh, nvcc only;
//   * on the host with SerialGroup (one lane), below, so the thrust-host tests
//     execute the very same routine in CI, where there is no GPU.
//
// The contract (every group):
//   G::lanes                 the number of physical lanes W;
//   g.lane()                 this lane, in [0, W) (0 on the host);
//   g.for_each(n, f)         f(j) for j in [0, n), lane l taking j = l, l + W, ...
//                            (adjacent lanes touch adjacent elements: coalesced);
//   g.reduce<K>(n, init, value, op)
//                            the reduction of value(j), j in [0, n), by a FIXED tree
//                            that depends on K and n only, never on W: K logical
//                            accumulators, logical lane k folding j = k, k + K, ...
//                            in increasing j, then the K accumulators folded in
//                            halves (k with k + K/2, then K/4, ..., 1). Every lane
//                            gets lane 0's bits. K is a power of two, W divides K;
//   g.sync()                 a barrier between phases (a no-op below a block).
// Because the tree never depends on W, a warp slice, a block and the host's single
// lane return the same bits for the same K (tests/host/test_groups_host.cpp checks the
// device's register-then-shuffle fold against fold_halves on the host). No atomics.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"

namespace pdml {
namespace cuda {
namespace parallel {

/// The logical lanes of the reductions of pdml's row routines: 32 per warp-sized row,
/// 256 for the block-wide finisher.
constexpr int kRowLanes = 32;
constexpr int kBlockLanes = 256;

/// Combines for reduce().
struct Sum {
  template <class T>
  PDML_HOST_DEVICE PDML_FORCE_INLINE T operator()(T a, T b) const {
    return a + b;
  }
};

struct Max {
  template <class T>
  PDML_HOST_DEVICE PDML_FORCE_INLINE T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};

struct BitOr {
  PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint32_t operator()(std::uint32_t a,
                                                              std::uint32_t b) const {
    return a | b;
  }
};

/// The fixed reduction tree of the K logical accumulators: fold in halves, in place;
/// the result is acc[0].
template <int K, class T, class Op>
PDML_HOST_DEVICE PDML_FORCE_INLINE T fold_halves(T (&acc)[K], Op op) {
  static_assert(K > 0 && (K & (K - 1)) == 0, "K must be a power of two");
  for (int half = K / 2; half >= 1; half /= 2) {
    for (int k = 0; k < half; ++k) acc[k] = op(acc[k], acc[k + half]);
  }
  return acc[0];
}

/// One lane: the host's group.
struct SerialGroup {
  static constexpr int lanes = 1;
  PDML_HOST_DEVICE int lane() const { return 0; }
  PDML_HOST_DEVICE void sync() const {}

  template <class F>
  PDML_HOST_DEVICE void for_each(Index n, F f) const {
    for (Index j = 0; j < n; ++j) f(j);
  }

  template <int K, class T, class Value, class Op>
  PDML_HOST_DEVICE T reduce(Index n, T init, Value value, Op op) const {
    T acc[K];
    for (int k = 0; k < K; ++k) acc[k] = init;
    for (Index base = 0; base < n; base += K) {
      for (int k = 0; k < K && base + k < n; ++k) acc[k] = op(acc[k], value(base + k));
    }
    return fold_halves<K>(acc, op);
  }
};

/// Two roles of one launch over rows: rows [0, first_rows) run first(g, row), the rest
/// second(g, row - first_rows). Each role computes exactly what its own launch would.
template <class First, class Second>
struct GroupRoles {
  First first;
  Index first_rows;
  Second second;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index row) const {
    if (row < first_rows) {
      first(g, row);
    } else {
      second(g, row - first_rows);
    }
  }
};

template <class First, class Second>
GroupRoles<First, Second> group_roles(First first, Index first_rows, Second second) {
  return GroupRoles<First, Second>{first, first_rows, second};
}

/// Rows of a role that hands `per_row` consecutive items to each row (a row of W lanes
/// takes items row W + lane): the count of rows for n items.
inline Index rows_for_items(Index n, Index per_row) { return (n + per_row - 1) / per_row; }

}  // namespace parallel
}  // namespace cuda
}  // namespace pdml
