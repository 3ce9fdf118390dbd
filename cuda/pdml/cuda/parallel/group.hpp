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
//   g.for_each_vec<V>(n, f)  f(j, count) for the packets of [0, n): j = 0, V, 2V, ...,
//                            count = min(V, n - j) (parallel/packet.hpp); lane l taking
//                            the packets j = V l, V (l + W), ..., so a slice moves V W
//                            consecutive elements per step, one vector access a lane;
//   g.reduce_vec<V, K>(n, init, packet_value, op)
//                            packet_value(j, count) -> Packet<T, V>, the values of the
//                            elements j .. j + count - 1 of packet j; reduced by THE SAME
//                            tree as reduce<K> (accumulator k folds the elements with
//                            j mod K == k in increasing j, then the halves), so the bits
//                            depend on K and n only: not on V, not on W, not on whether
//                            the packets moved as vectors. V and W are powers of two,
//                            V W divides K.
//                            Ownership: accumulator k = (q W + l) V + e (e < V,
//                            q < K / (V W)) is slot (q, e) of lane l, exactly the element
//                            lane l loaded into slot e of its q-th packet of each K-block.
//                            The tree's halves >= V W pair slots (q, e) and
//                            (q + half / (V W), e) of one lane (registers); V <= half < V W
//                            pair lane l with lane l + half / V, slot by slot (shuffles);
//                            half < V pairs slots e and e + half of one lane (registers
//                            again). A block, after the register halves, puts accumulator
//                            k in shared slot k and folds the rest there and in warp 0;
//   reduce_row_vec / reduce_rows_vec (below): reduce_vec over one or two row pointers
//                            and a per-element map, vector loads where the rows allow;
//   g.sync()                 a barrier between phases (a no-op below a block).
// Because the tree never depends on W, a warp slice, a block and the host's single
// lane return the same bits for the same K (tests/host/test_groups_host.cpp checks the
// device's register-then-shuffle fold against fold_halves on the host). No atomics.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/parallel/packet.hpp"

namespace pdml {
namespace cuda {
namespace parallel {

/// The logical lanes of the reductions of pdml's row routines: 32 per warp-sized row,
/// 256 for the block-wide finisher.
constexpr int kRowLanes = 32;
constexpr int kBlockLanes = 256;
/// The logical lanes of the packet reductions of the row routines: a 16-byte packet
/// (4 floats, 2 doubles) per lane of a warp, K = 4 * 32 for both so float and double
/// share one tree.
constexpr int kPacketRowLanes = 128;

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

  template <int V, class F>
  PDML_HOST_DEVICE void for_each_vec(Index n, F f) const {
    for (Index j = 0; j < n; j += V) f(j, packet_count<V>(j, n));
  }

  template <int V, int K, class T, class PacketValue, class Op>
  PDML_HOST_DEVICE T reduce_vec(Index n, T init, PacketValue packet_value, Op op) const {
    static_assert(V > 0 && K % V == 0, "the packet width must divide the logical lanes");
    T acc[K];
    for (int k = 0; k < K; ++k) acc[k] = init;
    for (Index j = 0; j < n; j += V) {
      const int count = packet_count<V>(j, n);
      const Packet<T, V> x = packet_value(j, count);
      const int k = static_cast<int>(j % K);
      for (int e = 0; e < count; ++e) acc[k + e] = op(acc[k + e], x.v[e]);
    }
    return fold_halves<K>(acc, op);
  }
};

/// The packet of f(e) for e < count (the rest value-initialized, never folded).
template <int V, class R, class F>
PDML_HOST_DEVICE PDML_FORCE_INLINE Packet<R, V> map_packet(int count, F f) {
  Packet<R, V> out{};
  for (int e = 0; e < V; ++e) {
    if (e < count) out.v[e] = f(e);
  }
  return out;
}

/// reduce_vec<V, K> of map(a[j]), j in [0, n): packets of `a` by vector loads where the
/// row allows (packet.hpp). Same bits as g.reduce<K>(n, init, map(a[j]), op).
template <int V, int K, class G, class A, class R, class Map, class Op>
PDML_HOST_DEVICE R reduce_row_vec(const G& g, Index n, const A* a, R init, Map map, Op op) {
  const bool whole = packets_fit<V>(n, a);
  return g.template reduce_vec<V, K>(
      n, init,
      [&](Index j, int count) {
        const Packet<A, V> x = load_packet<V>(a + j, count, whole);
        return map_packet<V, R>(count, [&](int e) { return map(x.v[e]); });
      },
      op);
}

/// reduce_vec<V, K> of map(a[j], b[j]), j in [0, n), as reduce_row_vec over two rows.
template <int V, int K, class G, class A, class B, class R, class Map, class Op>
PDML_HOST_DEVICE R reduce_rows_vec(const G& g, Index n, const A* a, const B* b, R init, Map map,
                                   Op op) {
  const bool whole = packets_fit<V>(n, a, b);
  return g.template reduce_vec<V, K>(
      n, init,
      [&](Index j, int count) {
        const Packet<A, V> x = load_packet<V>(a + j, count, whole);
        const Packet<B, V> y = load_packet<V>(b + j, count, whole);
        return map_packet<V, R>(count, [&](int e) { return map(x.v[e], y.v[e]); });
      },
      op);
}

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
