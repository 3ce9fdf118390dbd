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
// reduction has the fixed tree of group.hpp, so results are bitwise reproducible.
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
    const Index dims = proxies.cols;
    const T* v = proxies.row(c);
    const T* k = kappas.row(c);
    const T vv = g.template reduce<kRowLanes>(
        dims, T(0), [&](Index j) { return v[j] * v[j]; }, parallel::Sum{});
    const T norm = sqrt_(vv);
    const std::uint32_t bad_kappas = g.template reduce<kRowLanes>(
        dims, 0u, [&](Index j) { return finite_value(k[j]) ? 0u : 1u; }, parallel::BitOr{});
    T* nu_c = nu + c * dims;
    T* kc_c = kc + c * dims;
    T* a_c = a + c * dims;
    g.for_each(dims, [&](Index j) {
      const T kj = max_of(k[j], min_kappa);
      const T nu_j = v[j] / norm;
      nu_c[j] = nu_j;
      kc_c[j] = kj;
      if (exact) {
        a_c[j] = kj * kj * nu_j;
        k2[c * dims + j] = kj * kj;
      } else {
        a_c[j] = kj * nu_j;
      }
    });
    g.sync();  // the reductions below read what other lanes wrote
    // |K nu| and sum log kc, from the row just written.
    const T norm_k_nu = static_cast<T>(group_norm<kRowLanes>(g, dims, [&](Index j) {
      return static_cast<double>(kc_c[j]) * static_cast<double>(nu_c[j]);
    }));
    const T sum_log_k = g.template reduce<kRowLanes>(
        dims, T(0), [&](Index j) { return log_(kc_c[j]); }, parallel::Sum{});
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

  PDML_HOST_DEVICE T similarity(Index i, Index c) const {
    T z_max = -pdml::detail::infinity_<T>();
    for (Index s = 0; s < samples; ++s) {
      T& slot = g_to_z[(s * batch + i) * classes + c];
      const T z = (slot + bias[c]) * inv_temperature;
      slot = z;
      z_max = max_of(z_max, z);
    }
    T sum = T(0);
    for (Index s = 0; s < samples; ++s) {
      sum += exp_(g_to_z[(s * batch + i) * classes + c] - z_max);
    }
    const T value = z_max + log_(sum) - log_samples;
    sim[i * classes + c] = value;
    return value;
  }

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index row) const {
    const Index i = row / chunks;
    const Index begin = (row - i * chunks) * kScoreChunk;
    const Index count = classes - begin < kScoreChunk ? classes - begin : kScoreChunk;
    if (part == nullptr) {
      g.for_each(count, [&](Index j) { similarity(i, begin + j); });
      return;
    }
    const parallel::LseState<T> state = g.template reduce<kRowLanes>(
        count, parallel::lse_empty<T>(),
        [&](Index j) { return parallel::LseState<T>{similarity(i, begin + j), T(1)}; },
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

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index c) const {
    const T* nu_c = nu + c * dims;
    const T* kc_c = kc + c * dims;
    const T* ga_c = grad_a + c * dims;
    const T norm_k_nu = static_cast<T>(group_norm<kRowLanes>(g, dims, [&](Index j) {
      return static_cast<double>(kc_c[j]) * static_cast<double>(nu_c[j]);
    }));
    const T g_offset = grad_bias[c];
    const T factor = nivmf_offset_factor(exact, static_cast<int>(dims), norm_k_nu);
    // dL/dnu_j before the projection (the pairwise, offset and ProxyAnchor terms).
    const auto grad_nu_j = [&](Index j) {
      const T kj = kc_c[j];
      const T g_u = g_offset * factor * kj * nu_c[j];
      T value = (exact ? ga_c[j] * kj * kj : ga_c[j] * kj) + kj * g_u;
      if (grad_nu_anchor != nullptr) value += grad_nu_anchor[c * dims + j];
      return value;
    };
    const T dot = g.template reduce<kRowLanes>(
        dims, T(0), [&](Index j) { return grad_nu_j(j) * nu_c[j]; }, parallel::Sum{});
    const T inv_norm = T(1) / vnorm[c];
    const T* k = kappas.row(c);
    T* g_nu = grad_proxies.row(c);
    T* g_k = grad_kappas.row(c);
    g.for_each(dims, [&](Index j) {
      const T kj = kc_c[j];
      const T g_u = g_offset * factor * kj * nu_c[j];
      const T pair = exact ? T(2) * kj * (ga_c[j] * nu_c[j] + grad_k2[c * dims + j])
                           : ga_c[j] * nu_c[j];
      // Clamped (k <= k_min, as on the CPU): max(k, k_min) passes no gradient.
      g_k[j] = k[j] > min_kappa ? pair + nu_c[j] * g_u + g_offset / kj : T(0);
      // nu = v / |v|: project onto the tangent space and scale.
      g_nu[j] = (grad_nu_j(j) - dot * nu_c[j]) * inv_norm;
    });
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
