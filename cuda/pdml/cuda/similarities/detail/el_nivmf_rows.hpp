// SPDX-License-Identifier: MIT
#pragma once
// The row routines of the EL-nivMF similarity on the GPU, each a template over a group
// (parallel/group.hpp) so the thrust-host tests run them with one lane:
//   ProxyPrepareRows   one class per row: nu_c, kc_c, the score's slope and offset;
//   ScoresEpilogue     one (image, class chunk) per row: Z, sim and the chunk's running
//                      logsumexp over classes (written once, no second pass);
//   ElPairPass         kRowLanes classes per row, a lane per class walking the images in
//                      order: dL/dG, and per class the bias and temperature sums, so no
//                      B x C intermediate and no column-sum launch;
//   ProxyBackwardRows  one class per row: dL/dv_c, dL/dk_c;
//   TemperatureFold    one row: dL/dT from the per-class sums.
// Lanes walk rows along D (or C) with adjacent lanes on adjacent elements, and every
// reduction has the fixed tree of group.hpp, so results are bitwise reproducible. The
// bandwidth-heavy rows (prepare, scores, proxy backward) move in packets of
// parallel/packet.hpp: one float4 / double2 access per lane where the row allows,
// K = kPacketRowLanes, the same bits either way.
// Notation and formulas: detail/el_nivmf_functors.hpp and docs/math.md.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/cuda/core/device_status.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/cuda/math/group_norm.hpp"
#include "pdml/cuda/math/logsumexp.hpp"
#include "pdml/cuda/parallel/group.hpp"
#include "pdml/distributions/nivmf.hpp"

namespace pdml {
namespace cuda {
namespace detail {

using parallel::kPacketRowLanes;
using parallel::kRowLanes;

/// Classes per row of the scores epilogue: the first level of the logsumexp over C.
constexpr Index kScoreChunk = 8 * kRowLanes;

inline Index score_chunks(Index classes) { return (classes + kScoreChunk - 1) / kScoreChunk; }

/// Rows of kRowLanes items each, for roles with one item per lane.
inline Index item_rows(Index items) { return parallel::rows_for_items(items, kRowLanes); }

/// A per-item functor f(index) as a row role: row r runs items r kRowLanes + l.
template <class F>
struct ItemsRole {
  F f;
  Index items;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index row) const {
    const Index first = row * kRowLanes;
    const Index count = items - first < kRowLanes ? items - first : kRowLanes;
    g.for_each(count, [&](Index l) { f(first + l); });
  }
};

template <class F>
ItemsRole<F> items_role(F f, Index items) {
  return ItemsRole<F>{f, items};
}

/// The offset of the score from its two reductions (out of line: heavy, see
/// detail/device_calls.hpp).
template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE T nivmf_offset_from(bool exact, int p, T norm_k_nu,
                                                           T sum_log_k) {
  return exact ? pdml::nivmf_log_density_offset_from(p, norm_k_nu, sum_log_k)
               : pdml::nivmf_score_offset_from(p, norm_k_nu, sum_log_k);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE T nivmf_offset_factor(bool exact, int p, T norm_k_nu) {
  return pdml::detail::nivmf_offset_gradient_factor(p, norm_k_nu, exact ? T(0) : T(-1));
}

/// Per class c (one row): nu_c = v_c / |v_c|, kc_c = max(k_c, k_min), the score's slope
/// a_c (paper's rule kc o nu; exact density kc^2 o nu, and kc^2) and offset bias_c.
template <class T>
struct ProxyPrepareRows {
  ConstMatrixView<T> proxies;  // C x D
  ConstMatrixView<T> kappas;   // C x D
  T min_kappa;
  bool exact;
  T* nu;     // C x D dense
  T* kc;     // C x D dense
  T* a;      // C x D dense
  T* k2;     // C x D dense (exact density only)
  T* vnorm;  // C
  T* bias;   // C
  std::uint32_t* flags = nullptr;  // C or null: each class's DeviceStatus bits (criterion)

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index c) const {
    constexpr int V = parallel::packet_width<T>;
    constexpr int K = kPacketRowLanes;
    const Index dims = proxies.cols;
    const T* v = proxies.row(c);
    const T* k = kappas.row(c);
    const T vv = parallel::reduce_row_vec<V, K>(
        g, dims, v, T(0), [](T x) { return x * x; }, parallel::Sum{});
    const T norm = sqrt_(vv);
    const std::uint32_t bad_kappas = parallel::reduce_row_vec<V, K>(
        g, dims, k, 0u, [](T x) { return finite_value(x) ? 0u : 1u; }, parallel::BitOr{});
    T* nu_c = nu + c * dims;
    T* kc_c = kc + c * dims;
    T* a_c = a + c * dims;
    T* k2_c = exact ? k2 + c * dims : a_c;  // a_c: a stand-in that is never written
    const bool whole = parallel::packets_fit<V>(dims, v, k, nu_c, kc_c, a_c, k2_c);
    g.template for_each_vec<V>(dims, [&](Index j, int count) {
      const parallel::Packet<T, V> vp = parallel::load_packet<V>(v + j, count, whole);
      const parallel::Packet<T, V> kp = parallel::load_packet<V>(k + j, count, whole);
      parallel::Packet<T, V> nu_p, kc_p, a_p, k2_p;
      for (int e = 0; e < V; ++e) {
        const T kj = max_of(kp.v[e], min_kappa);
        const T nu_j = vp.v[e] / norm;
        nu_p.v[e] = nu_j;
        kc_p.v[e] = kj;
        a_p.v[e] = exact ? kj * kj * nu_j : kj * nu_j;
        k2_p.v[e] = kj * kj;
      }
      parallel::store_packet(nu_c + j, nu_p, count, whole);
      parallel::store_packet(kc_c + j, kc_p, count, whole);
      parallel::store_packet(a_c + j, a_p, count, whole);
      if (exact) parallel::store_packet(k2_c + j, k2_p, count, whole);
    });
    g.sync();  // the reductions below read what other lanes wrote
    // |K nu| and sum log kc, from the row just written.
    const T norm_k_nu = static_cast<T>(group_norm_rows<V, K>(
        g, dims, kc_c, nu_c,
        [](T kj, T nu_j) { return static_cast<double>(kj) * static_cast<double>(nu_j); }));
    const T sum_log_k = parallel::reduce_row_vec<V, K>(
        g, dims, kc_c, T(0), [](T kj) { return log_(kj); }, parallel::Sum{});
    if (g.lane() == 0) {
      vnorm[c] = norm;
      bias[c] = nivmf_offset_from(exact, static_cast<int>(dims), norm_k_nu, sum_log_k);
      if (flags != nullptr) {
        flags[c] = (!finite_value(norm) || bad_kappas != 0u ? DeviceStatus::non_finite_proxy : 0u) |
                   (norm == T(0) ? DeviceStatus::zero_proxy : 0u);
      }
    }
  }
};

/// Per (image i, chunk k of kScoreChunk classes), one row: from G = X A^T (in place),
/// Z_nc = (G_nc + bias_c) / T for the S samples of image i, sim_ic = logsumexp_s Z - log S,
/// and, unless part is null, the chunk's running logsumexp of sim_i. over its classes.
template <class T>
struct ScoresEpilogue {
  T* g_to_z;        // N x C dense: a_c^T x_n in, Z_nc out
  const T* bias;    // C
  T* sim;           // B x C dense
  Index batch, classes, samples;
  T inv_temperature, log_samples;
  parallel::LseState<T>* part;  // B x score_chunks(C), or null
  Index chunks;

  /// The packet of classes c .. c + count - 1 of image i: Z written over G for every
  /// sample, sim written and returned. Vector accesses when `whole`: the rows of all
  /// three arrays are then aligned (classes % V == 0) and the packet full.
  template <int V>
  PDML_HOST_DEVICE parallel::Packet<T, V> similarities(Index i, Index c, int count,
                                                       bool whole) const {
    using parallel::load_packet;
    using parallel::store_packet;
    const parallel::Packet<T, V> b = load_packet<V>(bias + c, count, whole);
    parallel::Packet<T, V> z_max;
    for (int e = 0; e < V; ++e) z_max.v[e] = -pdml::detail::infinity_<T>();
    for (Index s = 0; s < samples; ++s) {
      T* slot = g_to_z + (s * batch + i) * classes + c;
      parallel::Packet<T, V> z = load_packet<V>(slot, count, whole);
      for (int e = 0; e < V; ++e) {
        z.v[e] = (z.v[e] + b.v[e]) * inv_temperature;
        z_max.v[e] = max_of(z_max.v[e], z.v[e]);
      }
      store_packet(slot, z, count, whole);
    }
    parallel::Packet<T, V> sum;
    for (int e = 0; e < V; ++e) sum.v[e] = T(0);
    for (Index s = 0; s < samples; ++s) {
      const parallel::Packet<T, V> z =
          load_packet<V>(g_to_z + (s * batch + i) * classes + c, count, whole);
      for (int e = 0; e < V; ++e) sum.v[e] += exp_(z.v[e] - z_max.v[e]);
    }
    parallel::Packet<T, V> value;
    for (int e = 0; e < V; ++e) value.v[e] = z_max.v[e] + log_(sum.v[e]) - log_samples;
    store_packet(sim + i * classes + c, value, count, whole);
    return value;
  }

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index row) const {
    constexpr int V = parallel::packet_width<T>;
    const Index i = row / chunks;
    const Index begin = (row - i * chunks) * kScoreChunk;
    const Index count = classes - begin < kScoreChunk ? classes - begin : kScoreChunk;
    // kScoreChunk is a multiple of V: with classes % V == 0 every row start is aligned.
    const bool whole = classes % V == 0 && parallel::packets_fit<V>(count, g_to_z, bias, sim);
    if (part == nullptr) {
      g.template for_each_vec<V>(
          count, [&](Index j, int n) { this->template similarities<V>(i, begin + j, n, whole); });
      return;
    }
    const parallel::LseState<T> state = g.template reduce_vec<V, kPacketRowLanes>(
        count, parallel::lse_empty<T>(),
        [&](Index j, int n) {
          const parallel::Packet<T, V> value = this->template similarities<V>(i, begin + j, n, whole);
          return parallel::map_packet<V, parallel::LseState<T>>(
              n, [&](int e) { return parallel::LseState<T>{value.v[e], T(1)}; });
        },
        parallel::LseCombine{});
    if (g.lane() == 0) part[row] = state;
  }
};

/// No per-pair extra (the similarity alone).
struct NoPairExtra {
  PDML_HOST_DEVICE void operator()(Index) const {}
};

/// dL/dsim given by the caller (the standalone similarity's backward).
template <class T>
struct GivenSimilarityGradient {
  ConstMatrixView<T> grad_similarities;  // B x C
  PDML_HOST_DEVICE T operator()(Index i, Index c) const { return grad_similarities(i, c); }
};

/// Backward of sim_ic = logsumexp_s Z_{sB+i,c} - log S, kRowLanes classes per row, a
/// lane per class walking the images in order: dL/dG = dL/dZ / T for every sample, and
/// per class grad_bias_c = sum_{i,s} dL/dG and grad_t_c = sum_{i,s} dL/dZ Z. extra(ic)
/// runs for every pair (the criterion's ProxyAnchor pair backward). z may be grad_g
/// itself (the standalone similarity's recomputed scores): each entry is read before it
/// is written.
template <class T, class GradSim, class Extra = NoPairExtra>
struct ElPairPass {
  const T* z;     // N x C
  const T* sim;   // B x C
  Index batch, classes, samples;
  T inv_temperature, log_samples;
  GradSim grad_sim;  // (i, c) -> dL/dsim_ic
  T* grad_g;       // N x C
  T* grad_bias;    // C
  T* grad_t;       // C
  Extra extra;

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index tile) const {
    const Index first = tile * kRowLanes;
    const Index count = classes - first < kRowLanes ? classes - first : kRowLanes;
    g.for_each(count, [&](Index l) {
      const Index c = first + l;
      T bias_sum = T(0), t_sum = T(0);
      for (Index i = 0; i < batch; ++i) {
        const Index ic = i * classes + c;
        const T gs = grad_sim(i, c);
        const T shift = sim[ic] + log_samples;  // logsumexp_s Z
        for (Index s = 0; s < samples; ++s) {
          const Index n = (s * batch + i) * classes + c;
          const T zn = z[n];
          const T grad_z = gs * exp_(zn - shift);
          grad_g[n] = grad_z * inv_temperature;
          bias_sum += grad_z * inv_temperature;
          t_sum += grad_z * zn;
        }
        extra(ic);
      }
      grad_bias[c] = bias_sum;
      grad_t[c] = t_sum;
    });
  }
};

/// dL/dT = -(1/T) sum_c grad_t_c, one row.
template <class T>
struct TemperatureFold {
  const T* grad_t;  // C
  Index classes;
  T inv_temperature;
  T* grad_temperature;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index) const {
    const T sum = g.template reduce<kRowLanes>(
        classes, T(0), [&](Index c) { return grad_t[c]; }, parallel::Sum{});
    if (g.lane() == 0) *grad_temperature = -sum * inv_temperature;
  }
};

/// Backward per proxy c (one row): from dL/da_c (the GEMM's; for the exact density also
/// dL/d(kc^2)), dL/dbias_c and dL/dnu_c (ProxyAnchor's, or null) to dL/dv_c and dL/dk_c.
template <class T>
struct ProxyBackwardRows {
  ConstMatrixView<T> kappas;
  T min_kappa;
  bool exact;
  const T* nu;      // C x D
  const T* kc;      // C x D
  const T* vnorm;   // C
  const T* grad_a;  // C x D
  const T* grad_k2; // C x D (exact density only)
  const T* grad_bias;       // C
  const T* grad_nu_anchor;  // C x D or null
  Index dims;
  MatrixView<T> grad_proxies;
  MatrixView<T> grad_kappas;

  /// The elements of class c's rows a packet reads (the absent ones stay zero).
  template <int V>
  struct Inputs {
    parallel::Packet<T, V> nu, kc, ga, gk2, anchor;
  };

  template <int V>
  PDML_HOST_DEVICE Inputs<V> load(Index c, Index j, int count, bool whole) const {
    using parallel::load_packet;
    Inputs<V> in{};
    const Index at = c * dims + j;
    in.nu = load_packet<V>(nu + at, count, whole);
    in.kc = load_packet<V>(kc + at, count, whole);
    in.ga = load_packet<V>(grad_a + at, count, whole);
    if (exact) in.gk2 = load_packet<V>(grad_k2 + at, count, whole);
    if (grad_nu_anchor != nullptr) in.anchor = load_packet<V>(grad_nu_anchor + at, count, whole);
    return in;
  }

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index c) const {
    constexpr int V = parallel::packet_width<T>;
    constexpr int K = kPacketRowLanes;
    const T* nu_c = nu + c * dims;
    const T* kc_c = kc + c * dims;
    const T norm_k_nu = static_cast<T>(group_norm_rows<V, K>(
        g, dims, kc_c, nu_c,
        [](T kj, T nu_j) { return static_cast<double>(kj) * static_cast<double>(nu_j); }));
    const T g_offset = grad_bias[c];
    const T factor = nivmf_offset_factor(exact, static_cast<int>(dims), norm_k_nu);
    const T* k = kappas.row(c);
    T* g_nu = grad_proxies.row(c);
    T* g_k = grad_kappas.row(c);
    const bool whole =
        parallel::packets_fit<V>(dims, nu_c, kc_c, grad_a + c * dims, k, g_nu, g_k) &&
        (!exact || parallel::packet_aligned<V>(grad_k2 + c * dims)) &&
        (grad_nu_anchor == nullptr || parallel::packet_aligned<V>(grad_nu_anchor + c * dims));
    // dL/dnu_j before the projection (the pairwise, offset and ProxyAnchor terms).
    const auto grad_nu_e = [&](const Inputs<V>& in, int e) {
      const T kj = in.kc.v[e];
      const T g_u = g_offset * factor * kj * in.nu.v[e];
      T value = (exact ? in.ga.v[e] * kj * kj : in.ga.v[e] * kj) + kj * g_u;
      if (grad_nu_anchor != nullptr) value += in.anchor.v[e];
      return value;
    };
    const T dot = g.template reduce_vec<V, K>(
        dims, T(0),
        [&](Index j, int count) {
          const Inputs<V> in = this->template load<V>(c, j, count, whole);
          return parallel::map_packet<V, T>(
              count, [&](int e) { return grad_nu_e(in, e) * in.nu.v[e]; });
        },
        parallel::Sum{});
    const T inv_norm = T(1) / vnorm[c];
    g.template for_each_vec<V>(dims, [&](Index j, int count) {
      const Inputs<V> in = this->template load<V>(c, j, count, whole);
      const parallel::Packet<T, V> kp = parallel::load_packet<V>(k + j, count, whole);
      parallel::Packet<T, V> gk_p, gnu_p;
      for (int e = 0; e < V; ++e) {
        const T kj = in.kc.v[e];
        const T nu_j = in.nu.v[e];
        const T g_u = g_offset * factor * kj * nu_j;
        const T pair = exact ? T(2) * kj * (in.ga.v[e] * nu_j + in.gk2.v[e]) : in.ga.v[e] * nu_j;
        // Clamped (k <= k_min, as on the CPU): max(k, k_min) passes no gradient.
        gk_p.v[e] = kp.v[e] > min_kappa ? pair + nu_j * g_u + g_offset / kj : T(0);
        // nu = v / |v|: project onto the tangent space and scale.
        gnu_p.v[e] = (grad_nu_e(in, e) - dot * nu_j) * inv_norm;
      }
      parallel::store_packet(g_k + j, gk_p, count, whole);
      parallel::store_packet(g_nu + j, gnu_p, count, whole);
    });
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
