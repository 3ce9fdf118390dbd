// SPDX-License-Identifier: MIT
#pragma once
// Batched, validated host versions of the vMF closed forms (vmf.hpp), in
// natural parameters. Distribution n is row n of an N x p matrix eta.
//
// Points may be many per distribution: a points matrix with M = S * N rows
// evaluates row i under distribution i % N (the layout of vmf_sample's
// output: sample s of distribution n at row s * N + n).
// Every function validates all arguments (std::invalid_argument naming the
// argument) before writing anything. Backward functions overwrite their
// outputs; an optional gradient output may be an empty view (0 rows) to skip it.

#include <cmath>

#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/distributions/detail/batch_checks.hpp"
#include "pdml/distributions/vmf.hpp"

namespace pdml {

/// log f_n(x_i) for i in [0, M), n = i % N: log_prob is M x 1.
template <class T>
void vmf_log_prob(detail::InputView<T> eta, detail::InputView<T> points, MatrixView<T> log_prob) {
  const char* fn = "pdml::vmf_log_prob";
  detail::check_view(fn, "eta", eta);
  detail::check_dimension(fn, "eta", eta.cols);
  detail::check_finite(fn, "eta", eta);
  detail::check_repeated_rows(fn, "points", points, eta.rows, eta.cols);
  detail::check_finite(fn, "points", points);
  detail::check_shape(fn, "log_prob", log_prob, points.rows, 1);
  const int p = static_cast<int>(eta.cols);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (Index i = 0; i < points.rows; ++i) {
    log_prob(i, 0) = vmf_log_prob(p, eta.row(i % eta.rows), points.row(i));
  }
}

/// Backward of vmf_log_prob: grad_eta (N x p) sums over each distribution's
/// points; grad_points (M x p, optional) is the ambient gradient.
template <class T>
void vmf_log_prob_backward(detail::InputView<T> eta, detail::InputView<T> points,
                           detail::InputView<T> grad_log_prob, MatrixView<T> grad_eta,
                           MatrixView<T> grad_points = MatrixView<T>{nullptr, 0, 0, 0}) {
  const char* fn = "pdml::vmf_log_prob_backward";
  detail::check_view(fn, "eta", eta);
  detail::check_dimension(fn, "eta", eta.cols);
  detail::check_finite(fn, "eta", eta);
  detail::check_repeated_rows(fn, "points", points, eta.rows, eta.cols);
  detail::check_finite(fn, "points", points);
  detail::check_shape(fn, "grad_log_prob", grad_log_prob, points.rows, 1);
  detail::check_finite(fn, "grad_log_prob", grad_log_prob);
  detail::check_shape(fn, "grad_eta", grad_eta, eta.rows, eta.cols);
  const bool want_points =
      detail::optional_output(fn, "grad_points", grad_points, points.rows, points.cols);
  const int p = static_cast<int>(eta.cols);
  const Index n_dist = eta.rows;
  const Index per = n_dist == 0 ? 0 : points.rows / n_dist;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (Index n = 0; n < n_dist; ++n) {
    const T* e = eta.row(n);
    const T r = detail::vmf_resultant_ratio(p, detail::vmf_norm(p, e));
    T* ge = grad_eta.row(n);
    T total = T(0);
    for (int j = 0; j < p; ++j) ge[j] = T(0);
    for (Index s = 0; s < per; ++s) {
      const Index i = s * n_dist + n;
      const T g = grad_log_prob(i, 0);
      const T* x = points.row(i);
      total += g;
      for (int j = 0; j < p; ++j) ge[j] += g * x[j];
      if (want_points) {
        T* gx = grad_points.row(i);
        for (int j = 0; j < p; ++j) gx[j] = g * e[j];
      }
    }
    for (int j = 0; j < p; ++j) ge[j] -= total * r * e[j];
  }
}

/// Entropy of each distribution: entropy is N x 1.
template <class T>
void vmf_entropy(detail::InputView<T> eta, MatrixView<T> entropy) {
  const char* fn = "pdml::vmf_entropy";
  detail::check_view(fn, "eta", eta);
  detail::check_dimension(fn, "eta", eta.cols);
  detail::check_finite(fn, "eta", eta);
  detail::check_shape(fn, "entropy", entropy, eta.rows, 1);
  const int p = static_cast<int>(eta.cols);
  for (Index n = 0; n < eta.rows; ++n) entropy(n, 0) = vmf_entropy(p, eta.row(n));
}

/// Backward of vmf_entropy.
template <class T>
void vmf_entropy_backward(detail::InputView<T> eta, detail::InputView<T> grad_entropy,
                          MatrixView<T> grad_eta) {
  const char* fn = "pdml::vmf_entropy_backward";
  detail::check_view(fn, "eta", eta);
  detail::check_dimension(fn, "eta", eta.cols);
  detail::check_finite(fn, "eta", eta);
  detail::check_shape(fn, "grad_entropy", grad_entropy, eta.rows, 1);
  detail::check_finite(fn, "grad_entropy", grad_entropy);
  detail::check_shape(fn, "grad_eta", grad_eta, eta.rows, eta.cols);
  const int p = static_cast<int>(eta.cols);
  for (Index n = 0; n < eta.rows; ++n) {
    vmf_entropy_backward(p, eta.row(n), grad_entropy(n, 0), grad_eta.row(n));
  }
}

namespace detail {
template <class T>
void check_pair(const char* fn, InputView<T> eta1, InputView<T> eta2) {
  check_view(fn, "eta1", eta1);
  check_dimension(fn, "eta1", eta1.cols);
  check_finite(fn, "eta1", eta1);
  check_shape(fn, "eta2", eta2, eta1.rows, eta1.cols);
  check_finite(fn, "eta2", eta2);
}
}  // namespace detail

/// KL(vMF(eta1_n) || vMF(eta2_n)) for each row pair: kl is N x 1.
template <class T>
void vmf_kl(detail::InputView<T> eta1, detail::InputView<T> eta2, MatrixView<T> kl) {
  const char* fn = "pdml::vmf_kl";
  detail::check_pair<T>(fn, eta1, eta2);
  detail::check_shape(fn, "kl", kl, eta1.rows, 1);
  const int p = static_cast<int>(eta1.cols);
  for (Index n = 0; n < eta1.rows; ++n) kl(n, 0) = vmf_kl(p, eta1.row(n), eta2.row(n));
}

/// Backward of vmf_kl (both gradients N x p).
template <class T>
void vmf_kl_backward(detail::InputView<T> eta1, detail::InputView<T> eta2,
                     detail::InputView<T> grad_kl, MatrixView<T> grad_eta1,
                     MatrixView<T> grad_eta2) {
  const char* fn = "pdml::vmf_kl_backward";
  detail::check_pair<T>(fn, eta1, eta2);
  detail::check_shape(fn, "grad_kl", grad_kl, eta1.rows, 1);
  detail::check_finite(fn, "grad_kl", grad_kl);
  detail::check_shape(fn, "grad_eta1", grad_eta1, eta1.rows, eta1.cols);
  detail::check_shape(fn, "grad_eta2", grad_eta2, eta1.rows, eta1.cols);
  const int p = static_cast<int>(eta1.cols);
  for (Index n = 0; n < eta1.rows; ++n) {
    vmf_kl_backward(p, eta1.row(n), eta2.row(n), grad_kl(n, 0), grad_eta1.row(n),
                    grad_eta2.row(n));
  }
}

/// log PPK of order rho > 0 for each row pair: log_ppk is N x 1.
template <class T>
void vmf_log_ppk(detail::InputView<T> eta1, detail::InputView<T> eta2,
                 typename detail::no_deduce<T>::type rho, MatrixView<T> log_ppk) {
  const char* fn = "pdml::vmf_log_ppk";
  detail::check_pair<T>(fn, eta1, eta2);
  detail::check_scalar(fn, "rho", rho, true);
  detail::check_shape(fn, "log_ppk", log_ppk, eta1.rows, 1);
  const int p = static_cast<int>(eta1.cols);
  for (Index n = 0; n < eta1.rows; ++n) log_ppk(n, 0) = vmf_log_ppk(p, eta1.row(n), eta2.row(n), rho);
}

/// Backward of vmf_log_ppk (both gradients N x p).
template <class T>
void vmf_log_ppk_backward(detail::InputView<T> eta1, detail::InputView<T> eta2,
                          typename detail::no_deduce<T>::type rho,
                          detail::InputView<T> grad_log_ppk, MatrixView<T> grad_eta1,
                          MatrixView<T> grad_eta2) {
  const char* fn = "pdml::vmf_log_ppk_backward";
  detail::check_pair<T>(fn, eta1, eta2);
  detail::check_scalar(fn, "rho", rho, true);
  detail::check_shape(fn, "grad_log_ppk", grad_log_ppk, eta1.rows, 1);
  detail::check_finite(fn, "grad_log_ppk", grad_log_ppk);
  detail::check_shape(fn, "grad_eta1", grad_eta1, eta1.rows, eta1.cols);
  detail::check_shape(fn, "grad_eta2", grad_eta2, eta1.rows, eta1.cols);
  const int p = static_cast<int>(eta1.cols);
  for (Index n = 0; n < eta1.rows; ++n) {
    vmf_log_ppk_backward(p, eta1.row(n), eta2.row(n), rho, grad_log_ppk(n, 0), grad_eta1.row(n),
                         grad_eta2.row(n));
  }
}

/// vmf_log_prob_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void vmf_log_prob_backward(detail::InputView<T> eta, detail::InputView<T> points,
                           detail::InputView<T> grad_log_prob, MatrixView<T> grad_eta,
                           MatrixView<T> grad_points, GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::vmf_log_prob_backward", mode, {{"grad_eta", grad_eta}, {"grad_points", grad_points}},
      static_cast<T*>(nullptr),
      [&] { vmf_log_prob_backward(eta, points, grad_log_prob, grad_eta, grad_points); });
}

/// vmf_entropy_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void vmf_entropy_backward(detail::InputView<T> eta, detail::InputView<T> grad_entropy,
                          MatrixView<T> grad_eta, GradientMode mode) {
  detail::backward_with_mode<T>("pdml::vmf_entropy_backward", mode, {{"grad_eta", grad_eta}},
                                static_cast<T*>(nullptr),
                                [&] { vmf_entropy_backward(eta, grad_entropy, grad_eta); });
}

/// vmf_kl_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void vmf_kl_backward(detail::InputView<T> eta1, detail::InputView<T> eta2,
                     detail::InputView<T> grad_kl, MatrixView<T> grad_eta1, MatrixView<T> grad_eta2,
                     GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::vmf_kl_backward", mode, {{"grad_eta1", grad_eta1}, {"grad_eta2", grad_eta2}},
      static_cast<T*>(nullptr),
      [&] { vmf_kl_backward(eta1, eta2, grad_kl, grad_eta1, grad_eta2); });
}

/// vmf_log_ppk_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void vmf_log_ppk_backward(detail::InputView<T> eta1, detail::InputView<T> eta2,
                          typename detail::no_deduce<T>::type rho,
                          detail::InputView<T> grad_log_ppk, MatrixView<T> grad_eta1,
                          MatrixView<T> grad_eta2, GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::vmf_log_ppk_backward", mode, {{"grad_eta1", grad_eta1}, {"grad_eta2", grad_eta2}},
      static_cast<T*>(nullptr),
      [&] { vmf_log_ppk_backward(eta1, eta2, rho, grad_log_ppk, grad_eta1, grad_eta2); });
}

}  // namespace pdml
