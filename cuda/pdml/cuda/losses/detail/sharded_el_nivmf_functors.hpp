// SPDX-License-Identifier: MIT
#pragma once
// The steps of the sharded EL-nivMF criterion (sharded_el_nivmf_algorithm.hpp)
// that the single-process criterion has no counterpart for: the local labels of
// a shard, the per-row statistics around the two all-reduces (in place of the
// single-process finisher), the global loss and the copy of the all-reduced
// gradients to the caller. Everything else is the
// single-process criterion's own functors (detail/el_nivmf_functors.hpp), run on
// the shard's classes. Same rules as there: one index computes everything of
// itself in a fixed order (bitwise reproducible), no atomics.
//
// Notation: B images, C classes in all, the shard holds the n = end - first
// classes [first, end); local column c is global class first + c.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/device_status.hpp"
#include "pdml/cuda/losses/detail/proxy_anchor_functors.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/cuda/math/logsumexp.hpp"
#include "pdml/cuda/math/unit_rows.hpp"
#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Per image i: the label as a local column, y_i - first (outside [0, n) when
/// another rank owns it, so it equals no local column in the single-process
/// functors). Labels outside [0, C) are reported by ShardFinishLoss.
struct ShardLocalLabel {
  const std::int64_t* labels;  // B, global
  Index first;
  std::int64_t* local_labels;  // B
  PDML_HOST_DEVICE void operator()(Index i) const { local_labels[i] = labels[i] - first; }
};

/// The image role of the criterion's prepare launch on a shard: mu_i = e_i / |e_i|
/// (UnitRows, with ProxyAnchor) and the local label of image i.
template <class T>
struct ShardImageRows {
  UnitRows<T> direction;
  bool anchor;
  ShardLocalLabel label;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index i) const {
    if (anchor) direction(g, i);
    if (g.lane() == 0) label(i);
  }
};

/// Per row i: the maximum of the shard's similarities from the chunk partials of
/// the scores epilogue, into the buffer that is all-reduced (max) next.
template <class T>
struct ShardRowMax {
  const parallel::LseState<T>* part;  // B x chunks
  Index chunks;
  T* row_max;  // B
  PDML_HOST_DEVICE void operator()(Index i) const {
    T m = -pdml::detail::infinity_<T>();
    for (Index k = 0; k < chunks; ++k) m = max_of(m, part[i * chunks + k].max);
    row_max[i] = m;
  }
};

/// The buffer all-reduced (sum) after the global row maxima are known:
///   [i]          sum over the shard's classes of exp(sim_ic - M_i), M_i the global max,
///   [B + i]      sim_{i, y_i} where the shard owns y_i, else 0 (NaN for an invalid label),
///   [2B .. 2B+2] with ProxyAnchor: the sums of the shard's pos_c, neg_c and present_c.
/// Indices [0, B) are the rows, index B the ProxyAnchor sums (one thread, in c order).
template <class T>
struct ShardRowSums {
  const parallel::LseState<T>* part;  // B x chunks (the scores epilogue's)
  Index chunks;
  const T* row_max;   // B, all-reduced
  const T* sim;       // B x n
  const std::int64_t* labels;        // B, global
  const std::int64_t* local_labels;  // B
  Index batch, classes, total_classes;
  bool anchor;
  const T* pos;      // n (ProxyAnchorPerClass)
  const T* neg;      // n
  const T* present;  // n
  T* sums;           // 2B + 3
  PDML_HOST_DEVICE void operator()(Index i) const {
    if (i == batch) {
      T pos_sum = T(0), neg_sum = T(0), count = T(0);
      if (anchor) {
        for (Index c = 0; c < classes; ++c) {
          pos_sum += pos[c];
          neg_sum += neg[c];
          count += present[c];
        }
      }
      sums[2 * batch] = pos_sum;
      sums[2 * batch + 1] = neg_sum;
      sums[2 * batch + 2] = count;
      return;
    }
    // The shard's running logsumexp of the row, folded in chunk order as the
    // single-process finisher does, then rescaled to the global maximum.
    parallel::LseState<T> state = parallel::lse_empty<T>();
    for (Index k = 0; k < chunks; ++k) state = parallel::lse_combine(state, part[i * chunks + k]);
    sums[i] = state.sum * exp_(state.max - row_max[i]);
    const std::int64_t y = local_labels[i];
    T positive = T(0);
    if (y >= 0 && y < classes) positive = sim[i * classes + y];
    if (!label_ok(labels[i], total_classes)) positive = quiet_nan<T>();
    sums[batch + i] = positive;
  }
};

/// The global loss from the all-reduced row maxima and sums (one thread, the
/// same on every rank): lse_i = M_i + log(sum_i), the Proxy-NCA mean of
/// lse_i - sim_{i, y_i}, and w (pos / |P+| + neg / C) with the batch's present
/// classes |P+| and all C classes. Keeps lse and |P+| for the backward, and
/// writes the DeviceStatus word whole, as the single-process finisher does: the
/// OR of the prepare launch's flag words, the labels' checks (against all C
/// classes) and the loss's.
template <class T>
struct ShardFinishLoss {
  const T* row_max;  // B, all-reduced (max)
  const T* sums;     // 2B + 3, all-reduced (sum)
  const std::int64_t* labels;  // B, global
  Index batch, total_classes;
  T guidance_weight;
  T* lse;        // B
  T* n_present;  // 1
  T* loss;       // 1
  std::uint32_t* status;         // null: none
  const std::uint32_t* flags;    // flag_count words of the prepare launch
  Index flag_count;
  PDML_HOST_DEVICE void operator()(Index) const {
    T nca_sum = T(0);
    for (Index i = 0; i < batch; ++i) {
      const T value = row_max[i] + log_(sums[i]);
      lse[i] = value;
      nca_sum += value - sums[batch + i];
    }
    T value = nca_sum / T(batch);
    const T count = sums[2 * batch + 2];
    if (guidance_weight != T(0)) {
      const T pa = (count > T(0) ? sums[2 * batch] / count : T(0)) +
                   sums[2 * batch + 1] / T(total_classes);
      value += guidance_weight * pa;
    }
    *n_present = guidance_weight != T(0) ? count : T(0);
    *loss = value;
    if (status == nullptr) return;
    std::uint32_t bits = finite_value(value) ? 0u : DeviceStatus::non_finite_loss;
    for (Index k = 0; k < flag_count; ++k) bits |= flags[k];
    for (Index i = 0; i < batch; ++i) {
      if (!label_ok(labels[i], total_classes)) bits |= DeviceStatus::label_out_of_range;
    }
    *status = bits;
  }
};

/// Copies the all-reduced gradients out: [0, B D) the embedding gradient,
/// then (when grad_samples is given) the (S B) x D sample gradient, and the
/// last index the temperature's (unless grad_temperature is null).
template <class T>
struct ShardGradientsOut {
  CopyIntoView<T> embeddings;  // source: B x D dense
  bool with_samples;
  CopyIntoView<T> samples;     // source: (S B) x D dense
  const T* temperature_source;
  T* grad_temperature;         // 1 or null
  PDML_HOST_DEVICE void operator()(Index k) const {
    const Index embedding_count = embeddings.target.rows * embeddings.target.cols;
    if (k < embedding_count) {
      embeddings(k);
      return;
    }
    k -= embedding_count;
    if (with_samples) {
      const Index sample_count = samples.target.rows * samples.target.cols;
      if (k < sample_count) {
        samples(k);
        return;
      }
      k -= sample_count;
    }
    if (grad_temperature != nullptr) *grad_temperature = *temperature_source;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
