// SPDX-License-Identifier: MIT
#pragma once
// Packets: V consecutive elements of a row, the unit of the vector-width-aware group
// routines (for_each_vec, reduce_vec of parallel/group.hpp). On the GPU a packet of a
// row that allows it moves with ONE aligned vector access (float4, double2); otherwise,
// and always on the host, element by element. Both paths read and write the same
// elements, so no result depends on which one ran.
//
// A row allows vector accesses when every row pointer of the routine is aligned to
// V sizeof(T) and the row length n is a multiple of V (then every packet is whole):
// packets_fit<V>(n, rows...), decided once per row and passed to every access.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"

#if defined(__CUDACC__)
#include <vector_types.h>
#endif

namespace pdml {
namespace cuda {
namespace parallel {

/// V consecutive values.
template <class T, int V>
struct Packet {
  T v[V];
};

/// The packet width of one 16-byte vector access: 4 floats, 2 doubles; 1 (no vector
/// access) for anything else.
template <class T>
struct PacketWidth {
  static constexpr int value = 1;
};
template <>
struct PacketWidth<float> {
  static constexpr int value = 4;
};
template <>
struct PacketWidth<double> {
  static constexpr int value = 2;
};
template <class T>
constexpr int packet_width = PacketWidth<T>::value;

/// The CUDA vector type a packet moves as (void: none).
template <class T, int V>
struct NativeVector {
  using type = void;
};
#if defined(__CUDACC__)
template <>
struct NativeVector<float, 4> {
  using type = float4;
};
template <>
struct NativeVector<float, 2> {
  using type = float2;
};
template <>
struct NativeVector<double, 2> {
  using type = double2;
};
#endif

template <int V, class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE bool packet_aligned(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % (static_cast<std::uintptr_t>(V) * sizeof(T)) == 0;
}

/// Whether rows of n elements starting at `rows` may move as whole vector packets.
template <int V, class... T>
PDML_HOST_DEVICE PDML_FORCE_INLINE bool packets_fit(Index n, const T*... rows) {
  return n % V == 0 && (packet_aligned<V>(rows) && ...);
}

/// Elements p[0 .. count) (count <= V; the rest of the packet is zero), by one vector
/// load when `whole` (then count == V and p is aligned) on the GPU.
template <int V, class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE Packet<T, V> load_packet(const T* p, int count, bool whole) {
  Packet<T, V> out{};
#if defined(__CUDA_ARCH__)
  using Native = typename NativeVector<T, V>::type;
  if constexpr (!std::is_void<Native>::value) {
    if (whole) {
      const Native x = *reinterpret_cast<const Native*>(p);
      memcpy(&out, &x, sizeof(out));
      return out;
    }
  }
#else
  (void)whole;
#endif
  for (int e = 0; e < V; ++e) {
    if (e < count) out.v[e] = p[e];
  }
  return out;
}

/// Writes x.v[0 .. count) to p[0 .. count), by one vector store when `whole` on the GPU.
template <int V, class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE void store_packet(T* p, const Packet<T, V>& x, int count,
                                                     bool whole) {
#if defined(__CUDA_ARCH__)
  using Native = typename NativeVector<T, V>::type;
  if constexpr (!std::is_void<Native>::value) {
    if (whole) {
      Native y;
      memcpy(&y, &x, sizeof(y));
      *reinterpret_cast<Native*>(p) = y;
      return;
    }
  }
#else
  (void)whole;
#endif
  for (int e = 0; e < V; ++e) {
    if (e < count) p[e] = x.v[e];
  }
}

/// The count of a packet starting at element j of a row of n (j < n).
template <int V>
PDML_HOST_DEVICE PDML_FORCE_INLINE int packet_count(Index j, Index n) {
  return n - j < V ? static_cast<int>(n - j) : V;
}

}  // namespace parallel
}  // namespace cuda
}  // namespace pdml
