// SPDX-License-Identifier: MIT
#pragma once
// ProxyAnchor's per-class terms and per-pair backward over the B x C cosines of the EL-nivMF
// criterion, and the label check the criterion's kernels share (see
// include/pdml/losses/proxy_anchor.hpp and docs/math.md for the formulas). Each functor is
// applied over an index range by detail::for_each_index (or as an items role).

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// True when label is a valid class index; invalid labels poison the loss
/// with NaN instead of reading out of bounds (the host cannot check device
/// labels without a copy).
PDML_HOST_DEVICE PDML_FORCE_INLINE bool label_ok(std::int64_t label, Index classes) {
  return label >= 0 && label < classes;
}

/// log(1 + sum_k exp(t_k)) without overflow: shifts by max(0, max t).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T log1p_sum_exp(T shift, T shifted_sum) {
  return shift + log_(exp_(-shift) + shifted_sum);
}

/// Per class c: the ProxyAnchor terms from m_ic = mu_i^T nu_c.
///   pos_c = log(1 + sum_{i: y_i = c} exp(-alpha (m_ic - delta))), present_c = [any i with y_i = c]
///   neg_c = log(1 + sum_{i: y_i != c} exp(alpha (m_ic + delta)))
template <class T>
struct ProxyAnchorPerClass {
  const T* m;  // B x C
  const std::int64_t* labels;
  Index batch, classes;
  T alpha, delta;
  T* pos;      // C
  T* neg;      // C
  T* present;  // C: 1 or 0
  PDML_HOST_DEVICE void operator()(Index c) const {
    T pos_shift = T(0), neg_shift = T(0);
    bool any = false;
    for (Index i = 0; i < batch; ++i) {
      const T s = m[i * classes + c];
      if (labels[i] == c) {
        pos_shift = max_of(pos_shift, -alpha * (s - delta));
        any = true;
      } else {
        neg_shift = max_of(neg_shift, alpha * (s + delta));
      }
    }
    T pos_sum = T(0), neg_sum = T(0);
    for (Index i = 0; i < batch; ++i) {
      const T s = m[i * classes + c];
      if (labels[i] == c) {
        pos_sum += exp_(-alpha * (s - delta) - pos_shift);
      } else {
        neg_sum += exp_(alpha * (s + delta) - neg_shift);
      }
    }
    pos[c] = any ? log1p_sum_exp(pos_shift, pos_sum) : T(0);
    neg[c] = log1p_sum_exp(neg_shift, neg_sum);
    present[c] = any ? T(1) : T(0);
  }
};

/// Backward of ProxyAnchor per (i, c): dL/dm_ic.
template <class T>
struct ProxyAnchorBackwardPerPair {
  const T* m;  // B x C
  const std::int64_t* labels;
  const T* pos;
  const T* neg;
  const T* n_present;
  T grad_loss;
  Index classes;
  T alpha, delta, guidance_weight;
  T* grad_m;  // B x C
  // The C of the negatives' 1/C weight when these columns are one shard of
  // more classes (the sharded criterion); 0: classes.
  Index weight_classes = 0;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    const T s = m[ic];
    const T scale = grad_loss * guidance_weight;
    T g;
    if (labels[i] == c) {
      // d/ds log(1 + sum exp(-alpha (s - delta))) = -alpha exp(t - pos_c)
      g = -alpha * exp_(-alpha * (s - delta) - pos[c]) / *n_present;
    } else {
      g = alpha * exp_(alpha * (s + delta) - neg[c]) /
          T(weight_classes > 0 ? weight_classes : classes);
    }
    grad_m[ic] = scale * g;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
