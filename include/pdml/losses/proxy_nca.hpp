// SPDX-License-Identifier: MIT
#pragma once
// Proxy-NCA over all classes (the PNCA++ form) on a B x C similarity matrix:
//   L = (1/B) sum_i [ -sim(i, y_i) + logsumexp_c sim(i, c) ].
// ProxyNcaOptions choose the reduction (mean, sum or none) and an ignore label
// (rows carrying it contribute nothing; the mean divides by the kept rows).
// Math: docs/math.md, section similarities-losses.

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/losses/reduction.hpp"
#include "pdml/similarities/detail/batched.hpp"

namespace pdml {

struct ProxyNcaOptions {
  Reduction reduction = Reduction::mean;
  /// Rows with this label contribute nothing (loss 0, gradient 0); unset: every row counts.
  std::optional<std::int64_t> ignore_label;
};

inline bool operator==(const ProxyNcaOptions& a, const ProxyNcaOptions& b) {
  return a.reduction == b.reduction && a.ignore_label == b.ignore_label;
}
inline bool operator!=(const ProxyNcaOptions& a, const ProxyNcaOptions& b) { return !(a == b); }

/// State kept by proxy_nca_forward for proxy_nca_backward.
template <class T>
struct ProxyNcaSaved {
  RowMajorMatrix<T> probabilities;  ///< B x C, softmax of each similarity row
  std::vector<std::int64_t> labels;
  /// B per-sample losses -sim(i, y_i) + logsumexp_c sim(i, c), 0 for ignored rows
  /// (summed in order: thread-count independent). Read them with sample_losses().
  mutable detail::RowVector<T> row_losses;
  ProxyNcaOptions options;  ///< the forward's options (the backward follows them)
  Index kept_rows = 0;      ///< rows without the ignore label
  mutable std::vector<T> previous_gradients;  ///< GradientMode::accumulate scratch

  /// The per-sample losses as a B x 1 view (valid until the next forward).
  ConstMatrixView<T> sample_losses() const {
    return ConstMatrixView<T>{row_losses.data(), row_losses.size(), 1, 1};
  }
  bool kept(Index i) const {
    return !options.ignore_label || labels[static_cast<std::size_t>(i)] != *options.ignore_label;
  }
};

namespace detail {

template <class T>
T proxy_nca_forward_unchecked(ConstMatrixView<T> similarities, Labels labels,
                              ProxyNcaSaved<T>& saved,
                              const ProxyNcaOptions& options = ProxyNcaOptions{}) {
  const Index b = similarities.rows, c_count = similarities.cols;
  saved.options = options;
  saved.labels.resize(static_cast<std::size_t>(b));
  saved.kept_rows = 0;
  for (Index i = 0; i < b; ++i) {
    saved.labels[static_cast<std::size_t>(i)] = labels[i];
    saved.kept_rows += saved.kept(i) ? 1 : 0;
  }
  saved.probabilities.resize(b, c_count);
  saved.row_losses.resize(b);
  parallel_rows(b, c_count, [&](Index i) {
    if (!saved.kept(i)) {
      saved.probabilities.row(i).setZero();
      saved.row_losses[i] = 0;
      return;
    }
    const T* row = similarities.row(i);
    const T lse = logsumexp(row, c_count);
    for (Index c = 0; c < c_count; ++c) saved.probabilities(i, c) = std::exp(row[c] - lse);
    saved.row_losses[i] = lse - row[saved.labels[static_cast<std::size_t>(i)]];
  });
  T total = 0;
  for (Index i = 0; i < b; ++i) total += saved.row_losses[i];
  if (options.reduction != Reduction::mean) return total;
  return saved.kept_rows > 0 ? total / static_cast<T>(saved.kept_rows) : T(0);
}

/// The factor d L / d loss_i of the reduction for a scalar upstream gradient.
template <class T>
T proxy_nca_row_scale(const ProxyNcaSaved<T>& saved, T grad_loss) {
  if (saved.options.reduction != Reduction::mean) return grad_loss;
  return saved.kept_rows > 0 ? grad_loss / static_cast<T>(saved.kept_rows) : T(0);
}

/// grad_similarities row i = row_grad(i) * (softmax - onehot(y)) for kept rows, 0 for
/// ignored ones (overwritten).
template <class T, class RowGrad>
void proxy_nca_backward_rows(const ProxyNcaSaved<T>& saved, RowGrad&& row_grad,
                             MatrixView<T> grad_similarities) {
  const Index b = saved.probabilities.rows();
  auto g = as_eigen(grad_similarities);
  for (Index i = 0; i < b; ++i) {
    if (!saved.kept(i)) {
      g.row(i).setZero();
      continue;
    }
    const T scale = row_grad(i);
    g.row(i) = scale * saved.probabilities.row(i);
    g(i, saved.labels[static_cast<std::size_t>(i)]) -= scale;
  }
}

/// grad_similarities = grad_loss * dL/dsim under the forward's reduction (overwritten).
template <class T>
void proxy_nca_backward_unchecked(const ProxyNcaSaved<T>& saved, T grad_loss,
                                  MatrixView<T> grad_similarities) {
  const T scale = proxy_nca_row_scale(saved, grad_loss);
  proxy_nca_backward_rows(saved, [scale](Index) { return scale; }, grad_similarities);
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

/// Proxy-NCA loss of a B x C similarity matrix with labels in [0, C) (std::int32_t or
/// std::int64_t). `options` set the reduction (mean by default) and an ignore label.
/// The per-sample losses are saved.sample_losses() afterwards.
/// Throws std::invalid_argument (naming the argument) before writing anything.
template <class T>
T proxy_nca_forward(ConstMatrixView<detail::NonDeduced<T>> similarities, Labels labels,
                    const ProxyNcaOptions& options, ProxyNcaSaved<T>& saved) {
  const char* fn = "pdml::proxy_nca_forward";
  detail::check_nonempty(fn, "similarities", similarities);
  detail::check_input(fn, "similarities", similarities, similarities.rows, similarities.cols);
  if (options.reduction != Reduction::mean && options.reduction != Reduction::sum &&
      options.reduction != Reduction::none) {
    detail::throw_invalid(fn, "options.reduction", "is not a Reduction value");
  }
  detail::check_labels(fn, "labels", labels, similarities.rows, similarities.cols,
                       options.ignore_label ? &*options.ignore_label : nullptr);
  return detail::proxy_nca_forward_unchecked(similarities, labels, saved, options);
}

/// Proxy-NCA loss with the default options (mean over every row).
template <class T>
T proxy_nca_forward(ConstMatrixView<detail::NonDeduced<T>> similarities, Labels labels,
                    ProxyNcaSaved<T>& saved) {
  return proxy_nca_forward(similarities, labels, ProxyNcaOptions{}, saved);
}

/// Writes grad_loss * dL/dsim into grad_similarities (B x C): overwritten, or added to
/// with GradientMode::accumulate. With Reduction::none, grad_loss is the upstream
/// gradient of every per-sample loss (the gradient of their sum).
template <class T>
void proxy_nca_backward(const ProxyNcaSaved<T>& saved, detail::NonDeduced<T> grad_loss,
                        MatrixView<T> grad_similarities,
                        GradientMode mode = GradientMode::overwrite) {
  const char* fn = "pdml::proxy_nca_backward";
  if (saved.probabilities.size() == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  detail::check_scalar(fn, "grad_loss", grad_loss, false);
  detail::check_output(fn, "grad_similarities", grad_similarities, saved.probabilities.rows(),
                       saved.probabilities.cols());
  detail::with_gradient_mode(mode, {grad_similarities}, static_cast<T*>(nullptr),
                             saved.previous_gradients, [&] {
                               detail::proxy_nca_backward_unchecked(saved, grad_loss,
                                                                    grad_similarities);
                             });
}

/// Backward of a Reduction::none forward with one upstream gradient per sample
/// (grad_sample_losses, B x 1): row i of grad_similarities is
/// grad_sample_losses(i) * d loss_i / d sim(i, .).
template <class T>
void proxy_nca_backward_per_sample(const ProxyNcaSaved<T>& saved,
                                   ConstMatrixView<detail::NonDeduced<T>> grad_sample_losses,
                                   MatrixView<T> grad_similarities,
                                   GradientMode mode = GradientMode::overwrite) {
  const char* fn = "pdml::proxy_nca_backward_per_sample";
  if (saved.probabilities.size() == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  if (saved.options.reduction != Reduction::none) {
    detail::throw_invalid(fn, "grad_sample_losses",
                          "needs a forward with Reduction::none (pass a scalar grad_loss)");
  }
  detail::check_input(fn, "grad_sample_losses", grad_sample_losses, saved.probabilities.rows(),
                      1);
  detail::check_output(fn, "grad_similarities", grad_similarities, saved.probabilities.rows(),
                       saved.probabilities.cols());
  detail::with_gradient_mode(mode, {grad_similarities}, static_cast<T*>(nullptr),
                             saved.previous_gradients, [&] {
                               detail::proxy_nca_backward_rows(
                                   saved, [&](Index i) { return grad_sample_losses(i, 0); },
                                   grad_similarities);
                             });
}

}  // namespace pdml
