// SPDX-License-Identifier: MIT
#pragma once
// The row routines of the EL-nivMF criterion beyond the similarity's
// (similarities/detail/el_nivmf_rows.hpp), templates over a group (parallel/group.hpp):
//   ElNivmfFinisher         one block: the per-image logsumexp over the class chunks,
//                           Proxy-NCA, ProxyAnchor's sums over C and the loss;
//   NcaSimilarityGradient   dL/dsim_ic of Proxy-NCA, for the similarity's pair pass;
//   ImageBackwardRows       one image per row: dL/de_i from dL/dmu_i, then (when the
//                           forward drew the samples) the sampler's backward of that image.
// The image directions mu_i themselves are math/unit_rows.hpp's UnitRows.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/device_status.hpp"
#include "pdml/cuda/losses/detail/proxy_anchor_functors.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/cuda/distributions/detail/vmf_sample_functors.hpp"
#include "pdml/cuda/math/unit_rows.hpp"
#include "pdml/cuda/math/logsumexp.hpp"
#include "pdml/cuda/parallel/group.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_rows.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// One block: lse_i from the chunk partials of ScoresEpilogue (folded in chunk order),
/// nca_i = lse_i - sim_{i,y_i}, then the loss
///   L = mean_i nca_i + w (sum_c pos_c / |P+| + sum_c neg_c / C).
template <class T>
struct ElNivmfFinisher {
  const parallel::LseState<T>* part;  // B x chunks
  Index chunks;
  const T* sim;                 // B x C
  const std::int64_t* labels;   // B
  Index batch, classes;
  T* lse;                       // B
  T* nca;                       // B
  const T* pos;                 // C
  const T* neg;                 // C
  const T* present;             // C
  T guidance_weight;
  T* loss;                      // 1
  T* n_present;                 // 1, saved for the backward
  // The DeviceStatus word, written here as a whole (null: none): the OR of the per-row
  // flags of the prepare launch (count entries, see ElNivmfState::flags), the labels'
  // and the loss's.
  std::uint32_t* status = nullptr;
  const std::uint32_t* flags = nullptr;
  Index flag_count = 0;

  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index) const {
    g.for_each(batch, [&](Index i) {
      parallel::LseState<T> state = parallel::lse_empty<T>();
      for (Index k = 0; k < chunks; ++k) state = parallel::lse_combine(state, part[i * chunks + k]);
      const T value = state.max + log_(state.sum);
      lse[i] = value;
      const std::int64_t y = labels[i];
      const bool ok = label_ok(y, classes);
      nca[i] = ok ? value - sim[i * classes + y] : quiet_nan<T>();
    });
    g.sync();
    using parallel::kBlockLanes;
    using parallel::Sum;
    const T nca_sum =
        g.template reduce<kBlockLanes>(batch, T(0), [&](Index i) { return nca[i]; }, Sum{});
    T value = nca_sum / T(batch);
    T count = T(0);
    if (guidance_weight != T(0)) {
      const T pos_sum =
          g.template reduce<kBlockLanes>(classes, T(0), [&](Index c) { return pos[c]; }, Sum{});
      const T neg_sum =
          g.template reduce<kBlockLanes>(classes, T(0), [&](Index c) { return neg[c]; }, Sum{});
      count = g.template reduce<kBlockLanes>(classes, T(0), [&](Index c) { return present[c]; },
                                             Sum{});
      value += guidance_weight * ((count > T(0) ? pos_sum / count : T(0)) + neg_sum / T(classes));
    }
    std::uint32_t bits = 0u;
    if (status != nullptr) {
      bits = g.template reduce<kBlockLanes>(
          flag_count + batch, 0u,
          [&](Index k) {
            if (k < flag_count) return flags[k];
            return label_ok(labels[k - flag_count], classes) ? 0u
                                                             : DeviceStatus::label_out_of_range;
          },
          parallel::BitOr{});
    }
    if (g.lane() == 0) {
      *n_present = count;
      *loss = value;
      if (status != nullptr) {
        *status = bits | (finite_value(value) ? 0u : DeviceStatus::non_finite_loss);
      }
    }
  }
};

/// dL/dsim_ic of Proxy-NCA: grad_loss (p_ic - [c == y_i]) / B with p_ic = e^(sim_ic - lse_i).
template <class T>
struct NcaSimilarityGradient {
  const T* sim;  // B x C
  const T* lse;  // B
  const std::int64_t* labels;
  Index batch, classes;
  T grad_loss;
  PDML_HOST_DEVICE T operator()(Index i, Index c) const {
    const T p = exp_(sim[i * classes + c] - lse[i]);
    const T target = labels[i] == c ? T(1) : T(0);
    return grad_loss * (p - target) / T(batch);
  }
};

/// Backward per image i (one row): dL/de_i of mu_i = e_i / |e_i| (math/unit_rows.hpp),
/// then, when the forward drew the samples, the sampler's backward of image i added on
/// top (the lanes share each sample's dot products; dw/dkappa comes from the draw).
template <class T>
struct ImageBackwardRows {
  UnitRowsBackward<T> direction;
  bool sampled;
  VmfSampleBackwardRows<T> sampler;  // used when sampled
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index i) const {
    direction(g, i);
    if (!sampled) return;
    g.sync();  // the kappa = 0 estimator's lane reads what the other lanes wrote
    sampler(g, i);
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
