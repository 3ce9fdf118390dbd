// SPDX-License-Identifier: MIT
#pragma once
// ProxyAnchor loss (Kim et al., 2020) on a B x C matrix of cosines s_ic = mu_i^T nu_c:
//   L = (1/|P+|) sum_{c in P+} log(1 + sum_{i: y_i = c}  exp(-alpha (s_ic - delta)))
//     + (1/C)    sum_c        log(1 + sum_{i: y_i != c} exp( alpha (s_ic + delta)))
// with P+ the classes present in the batch. Rows carrying the optional ignore label
// take part in neither sum. Compose with cosine_similarity_forward
// (temperature 1) to get it as a function of embeddings and proxies.
// Math: docs/math.md, section similarities-losses.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/similarities/detail/batched.hpp"

namespace pdml {

/// State kept by proxy_anchor_forward for proxy_anchor_backward.
template <class T>
struct ProxyAnchorSaved {
  RowMajorMatrix<T> grad_cosines;  ///< B x C, dL/ds for grad_loss = 1
  mutable detail::RowVector<T> class_terms;  ///< C (summed in order)
  std::vector<char> class_present;           ///< C: 1 if the class has a positive in the batch
  std::optional<std::int64_t> ignore_label;  ///< the forward's ignore label
  mutable std::vector<T> previous_gradients;  ///< GradientMode::accumulate scratch
};

namespace detail {

/// One class's ProxyAnchor term, for the class `label` whose cosines are column `column` of
/// cosines (B x n); writes that column of grad (B x n), dL/ds for grad_loss = 1. The weights
/// 1/|P+| and 1/C come from the caller, so that a block of the classes (or one shard of them)
/// uses the counts of all classes. Rows labelled *ignore_label (when given) take no part.
template <class T>
T proxy_anchor_class_term(ConstMatrixView<T> cosines, Labels labels, Index column,
                          std::int64_t label, T alpha, T delta, T pos_weight, T neg_weight,
                          MatrixView<T> grad, const std::int64_t* ignore_label = nullptr) {
  const Index b = cosines.rows;
  auto g = as_eigen(grad);
  // An ignored row is no class's positive and no class's negative.
  auto kept = [&](Index i) { return ignore_label == nullptr || labels[i] != *ignore_label; };
  // log(1 + sum exp z) = logsumexp({0} u {z}); the exponents are stored in grad first.
  T pos_top = 0, neg_top = 0;
  bool is_present = false;
  for (Index i = 0; i < b; ++i) {
    if (!kept(i)) continue;
    const T s = cosines(i, column);
    const bool positive = labels[i] == label;
    const T z = positive ? -alpha * (s - delta) : alpha * (s + delta);
    g(i, column) = z;
    if (positive) {
      pos_top = std::max(pos_top, z);
      is_present = true;
    } else {
      neg_top = std::max(neg_top, z);
    }
  }
  T pos_sum = std::exp(-pos_top), neg_sum = std::exp(-neg_top);
  for (Index i = 0; i < b; ++i) {
    if (!kept(i)) continue;
    if (labels[i] == label) {
      pos_sum += std::exp(g(i, column) - pos_top);
    } else {
      neg_sum += std::exp(g(i, column) - neg_top);
    }
  }
  const T pos_lse = pos_top + std::log(pos_sum), neg_lse = neg_top + std::log(neg_sum);
  for (Index i = 0; i < b; ++i) {
    if (!kept(i)) {
      g(i, column) = 0;
    } else if (labels[i] == label) {
      g(i, column) = -alpha * pos_weight * std::exp(g(i, column) - pos_lse);
    } else {
      g(i, column) = alpha * neg_weight * std::exp(g(i, column) - neg_lse);
    }
  }
  return (is_present ? pos_weight * pos_lse : T(0)) + neg_weight * neg_lse;
}

template <class T>
T proxy_anchor_forward_unchecked(ConstMatrixView<T> cosines, Labels labels,
                                 T alpha, T delta, ProxyAnchorSaved<T>& saved,
                                 std::optional<std::int64_t> ignore_label = std::nullopt) {
  const Index b = cosines.rows, c_count = cosines.cols;
  saved.ignore_label = ignore_label;
  const std::int64_t* ignored = ignore_label ? &*ignore_label : nullptr;
  saved.grad_cosines.resize(b, c_count);
  saved.class_terms.resize(c_count);
  // Kept in saved so that a reused Saved allocates nothing after the first step.
  std::vector<char>& present = saved.class_present;
  present.assign(static_cast<std::size_t>(c_count), 0);
  for (Index i = 0; i < b; ++i) {
    if (ignored == nullptr || labels[i] != *ignored) present[static_cast<std::size_t>(labels[i])] = 1;
  }
  Index n_present = 0;
  for (char p : present) n_present += p;
  const T pos_weight = n_present > 0 ? T(1) / static_cast<T>(n_present) : T(0);
  const T neg_weight = T(1) / static_cast<T>(c_count);
  parallel_rows(c_count, 2 * b, [&](Index c) {
    saved.class_terms[c] = proxy_anchor_class_term(cosines, labels, c, std::int64_t(c), alpha,
                                                   delta, pos_weight, neg_weight,
                                                   dense(saved.grad_cosines), ignored);
  });
  T total = 0;
  for (Index c = 0; c < c_count; ++c) total += saved.class_terms[c];
  return total;
}

template <class T>
void proxy_anchor_backward_unchecked(const ProxyAnchorSaved<T>& saved, T grad_loss,
                                     MatrixView<T> grad_cosines) {
  as_eigen(grad_cosines) = grad_loss * saved.grad_cosines;
}

}  // namespace detail

/// ProxyAnchor loss of a B x C cosine matrix with labels in [0, C) (std::int32_t or
/// std::int64_t); alpha > 0 (paper: 32), delta finite (paper: 0.1). Rows whose label equals
/// ignore_label (when set) take no part. Throws std::invalid_argument before writing
/// anything.
template <class T>
T proxy_anchor_forward(ConstMatrixView<detail::NonDeduced<T>> cosines, Labels labels,
                       detail::NonDeduced<T> alpha, detail::NonDeduced<T> delta,
                       ProxyAnchorSaved<T>& saved,
                       std::optional<std::int64_t> ignore_label = std::nullopt) {
  const char* fn = "pdml::proxy_anchor_forward";
  detail::check_nonempty(fn, "cosines", cosines);
  detail::check_input(fn, "cosines", cosines, cosines.rows, cosines.cols);
  detail::check_labels(fn, "labels", labels, cosines.rows, cosines.cols,
                       ignore_label ? &*ignore_label : nullptr);
  detail::check_scalar(fn, "alpha", alpha, true);
  detail::check_scalar(fn, "delta", delta, false);
  return detail::proxy_anchor_forward_unchecked(cosines, labels, alpha, delta, saved,
                                                ignore_label);
}

/// Writes grad_loss * dL/ds into grad_cosines (B x C): overwritten, or added to with
/// GradientMode::accumulate.
template <class T>
void proxy_anchor_backward(const ProxyAnchorSaved<T>& saved, detail::NonDeduced<T> grad_loss,
                           MatrixView<T> grad_cosines,
                           GradientMode mode = GradientMode::overwrite) {
  const char* fn = "pdml::proxy_anchor_backward";
  if (saved.grad_cosines.size() == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  detail::check_scalar(fn, "grad_loss", grad_loss, false);
  detail::check_output(fn, "grad_cosines", grad_cosines, saved.grad_cosines.rows(),
                       saved.grad_cosines.cols());
  detail::with_gradient_mode(mode, {grad_cosines}, static_cast<T*>(nullptr),
                             saved.previous_gradients, [&] {
                               detail::proxy_anchor_backward_unchecked(saved, grad_loss,
                                                                       grad_cosines);
                             });
}

}  // namespace pdml
