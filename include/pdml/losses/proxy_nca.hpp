// SPDX-License-Identifier: MIT
#pragma once
// Proxy-NCA over all classes (the PNCA++ form) on a B x C similarity matrix:
//   L = (1/B) sum_i [ -sim(i, y_i) + logsumexp_c sim(i, c) ].
// Math: docs/math.md, section similarities-losses.

#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/similarities/detail/batched.hpp"

namespace pdml {

/// State kept by proxy_nca_forward for proxy_nca_backward.
template <class T>
struct ProxyNcaSaved {
  RowMajorMatrix<T> probabilities;  ///< B x C, softmax of each similarity row
  std::vector<std::int64_t> labels;
  mutable detail::RowVector<T> row_losses;  ///< B (summed in order: thread-count independent)
};

namespace detail {

template <class T>
T proxy_nca_forward_unchecked(ConstMatrixView<T> similarities, const std::int64_t* labels,
                              ProxyNcaSaved<T>& saved) {
  const Index b = similarities.rows, c_count = similarities.cols;
  saved.labels.assign(labels, labels + b);
  saved.probabilities.resize(b, c_count);
  saved.row_losses.resize(b);
  parallel_rows(b, c_count, [&](Index i) {
    const T* row = similarities.row(i);
    const T lse = logsumexp(row, c_count);
    for (Index c = 0; c < c_count; ++c) saved.probabilities(i, c) = std::exp(row[c] - lse);
    saved.row_losses[i] = lse - row[labels[i]];
  });
  T total = 0;
  for (Index i = 0; i < b; ++i) total += saved.row_losses[i];
  return total / static_cast<T>(b);
}

/// grad_similarities = grad_loss * (softmax - onehot(y)) / B (overwritten).
template <class T>
void proxy_nca_backward_unchecked(const ProxyNcaSaved<T>& saved, T grad_loss,
                                  MatrixView<T> grad_similarities) {
  const Index b = saved.probabilities.rows();
  auto g = as_eigen(grad_similarities);
  const T scale = grad_loss / static_cast<T>(b);
  g = scale * saved.probabilities;
  for (Index i = 0; i < b; ++i) g(i, saved.labels[static_cast<std::size_t>(i)]) -= scale;
}

/// The gradient (5.6) on a block of classes [first_class, first_class + n) given each row's
/// logsumexp over all classes (row_lse, B), in place: similarities (B x n) becomes
/// scale * (softmax - onehot(y)) with scale = grad_loss / B. Used where the B x C softmax
/// is never stored (classes processed in blocks, or sharded across processes).
template <class T>
void proxy_nca_block_gradient_inplace(MatrixView<T> similarities, const T* row_lse,
                                      const std::int64_t* labels, Index first_class, T scale) {
  const Index n = similarities.cols;
  parallel_rows(similarities.rows, n, [&](Index i) {
    T* row = similarities.row(i);
    for (Index c = 0; c < n; ++c) row[c] = scale * std::exp(row[c] - row_lse[i]);
    const Index local = labels[i] - first_class;
    if (local >= 0 && local < n) row[local] -= scale;
  });
}

}  // namespace detail

/// Proxy-NCA loss of a B x C similarity matrix with labels in [0, C).
/// Throws std::invalid_argument (naming the argument) before writing anything.
template <class T>
T proxy_nca_forward(ConstMatrixView<T> similarities, const std::int64_t* labels,
                    ProxyNcaSaved<T>& saved) {
  const char* fn = "pdml::proxy_nca_forward";
  detail::check_nonempty(fn, "similarities", similarities);
  detail::check_input(fn, "similarities", similarities, similarities.rows, similarities.cols);
  detail::check_labels(fn, "labels", labels, similarities.rows, similarities.cols);
  return detail::proxy_nca_forward_unchecked(similarities, labels, saved);
}

/// Overwrites grad_similarities (B x C) with dL/dsim scaled by grad_loss.
template <class T>
void proxy_nca_backward(const ProxyNcaSaved<T>& saved, T grad_loss,
                        MatrixView<T> grad_similarities) {
  const char* fn = "pdml::proxy_nca_backward";
  if (saved.probabilities.size() == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  detail::check_scalar(fn, "grad_loss", grad_loss, false);
  detail::check_output(fn, "grad_similarities", grad_similarities, saved.probabilities.rows(),
                       saved.probabilities.cols());
  detail::proxy_nca_backward_unchecked(saved, grad_loss, grad_similarities);
}

}  // namespace pdml
