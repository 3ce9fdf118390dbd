// SPDX-License-Identifier: MIT
#pragma once
// Rows scaled to unit length, and the backward, as row routines over a group
// (parallel/group.hpp): the image directions mu_i = e_i / |e_i| of the criterion and
// ProxyAnchor, and both sides of the cosine similarity. A zero row gets the zero vector
// (and no gradient): the uniform vMF is equally similar to everything. Rows move in
// packets (parallel/packet.hpp): vector accesses where aligned, the same bits either way.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/device_status.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Per row i: unit_i = x_i / |x_i| and norms_i = |x_i|; flags_i (when flags is set)
/// becomes flag_bit for a non-finite norm, else 0.
template <class T>
struct UnitRows {
  ConstMatrixView<T> input;  // rows x D
  T* unit;                   // rows x D dense
  T* norms;                  // rows
  std::uint32_t* flags = nullptr;
  std::uint32_t flag_bit = 0;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index i) const {
    constexpr int V = parallel::packet_width<T>;
    const Index dims = input.cols;
    const T* x = input.row(i);
    T* u = unit + i * dims;
    const T xx = parallel::reduce_row_vec<V, parallel::kPacketRowLanes>(
        g, dims, x, T(0), [](T e) { return e * e; }, parallel::Sum{});
    const T norm = sqrt_(xx);
    const T inv = norm > T(0) ? T(1) / norm : T(0);
    const bool whole = parallel::packets_fit<V>(dims, x, u);
    g.template for_each_vec<V>(dims, [&](Index j, int count) {
      parallel::Packet<T, V> p = parallel::load_packet<V>(x + j, count, whole);
      for (int e = 0; e < V; ++e) p.v[e] *= inv;
      parallel::store_packet(u + j, p, count, whole);
    });
    if (g.lane() == 0) {
      norms[i] = norm;
      if (flags != nullptr) flags[i] = finite_value(norm) ? 0u : flag_bit;
    }
  }
};

/// Backward per row i of unit_i = x_i / |x_i|: dL/dx_i = (g - (g . u) u) / |x_i| from
/// g = dL/dunit_i (null: no gradient, the row is zero), added to grad_input when
/// accumulate.
template <class T>
struct UnitRowsBackward {
  const T* unit;       // rows x D
  const T* norms;      // rows
  const T* grad_unit;  // rows x D or null
  Index dims;
  bool accumulate;
  MatrixView<T> grad_input;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index i) const {
    T* out = grad_input.row(i);
    if (grad_unit == nullptr || !(norms[i] > T(0))) {
      if (!accumulate) g.for_each(dims, [&](Index j) { out[j] = T(0); });
      return;
    }
    constexpr int V = parallel::packet_width<T>;
    const T* gu = grad_unit + i * dims;
    const T* u = unit + i * dims;
    const T dot = parallel::reduce_rows_vec<V, parallel::kPacketRowLanes>(
        g, dims, gu, u, T(0), [](T a, T b) { return a * b; }, parallel::Sum{});
    const T inv = T(1) / norms[i];
    const bool whole = parallel::packets_fit<V>(dims, gu, u, out);
    g.template for_each_vec<V>(dims, [&](Index j, int count) {
      const parallel::Packet<T, V> gp = parallel::load_packet<V>(gu + j, count, whole);
      const parallel::Packet<T, V> up = parallel::load_packet<V>(u + j, count, whole);
      parallel::Packet<T, V> o{};
      if (accumulate) o = parallel::load_packet<V>(out + j, count, whole);
      for (int e = 0; e < V; ++e) {
        const T value = (gp.v[e] - dot * up.v[e]) * inv;
        o.v[e] = accumulate ? o.v[e] + value : value;
      }
      parallel::store_packet(out + j, o, count, whole);
    });
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
