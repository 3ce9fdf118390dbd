// SPDX-License-Identifier: MIT
#pragma once
// Batched scores of points under non-isotropic vMF (nivMF) class proxies:
// the N x C matrix l_c(x_n), with its backward. This is the shared kernel of the
// EL-nivMF similarity (points = vMF samples) and the nivMF-to-point similarity
// (points = mean directions). Math: docs/math.md, section similarities-losses.
//
// Proxy c has direction nu_c = v_c / |v_c| and concentrations k_c in R^D,
// clamped from below: k <- max(k, min_kappa) (zero gradient where clamped).
// With K_c = diag(k_c) and r_c = |K_c nu_c|:
//   paper's scoring rule (default):
//     l_c(x) = a_c + (K_c nu_c)^T x,   a_c = log C_D(r_c) + sum_j log k_cj - log r_c
//   exact nivMF log-density:
//     l_c(x) = b_c + (K_c^2 nu_c)^T x / |K_c x| - D log |K_c x|,
//     b_c = log C_D(r_c) + sum_j log k_cj
// Gradients pass where k > min_kappa; at and below it they are zero.
// The per-point terms are matrix products (N x D against C x D); the per-proxy
// offsets (the log-normalizers) are evaluated once per proxy.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/distributions/nivmf.hpp"
#include "pdml/similarities/detail/batched.hpp"

namespace pdml {

/// Which nivMF score a proxy assigns to a point.
enum class NivmfScoring {
  paper_rule,     ///< the paper's l_ref: linear in x, not a normalized density (default)
  exact_density,  ///< the exact nivMF log-density (normalized on the sphere)
};

/// State kept by nivmf_scores_forward for nivmf_scores_backward.
template <class T>
struct NivmfScoresSaved {
  NivmfScoring scoring = NivmfScoring::paper_rule;
  RowMajorMatrix<T> points;          ///< N x D copy of the scored points
  RowMajorMatrix<T> directions;      ///< C x D, nu_c
  detail::RowVector<T> proxy_norms;  ///< C, |v_c|
  RowMajorMatrix<T> kappas;          ///< C x D, clamped concentrations
  T min_kappa = T(0);                ///< gradients pass where kappas > min_kappa
  RowMajorMatrix<T> linear;          ///< C x D: K nu (paper) or K^2 nu (exact)
  detail::RowVector<T> offsets;      ///< C: a_c (paper) or b_c (exact)
  // Exact density only: U = points * linear^T and Q = |K_c x_n| (N x C each).
  RowMajorMatrix<T> inner;
  RowMajorMatrix<T> point_norms;
  RowMajorMatrix<T> kappa_squares;   ///< C x D, k o k
  RowMajorMatrix<T> point_squares;   ///< N x D, x o x
  // Scratch reused by the backward (sized in the forward, so the backward allocates nothing).
  mutable RowMajorMatrix<T> scratch_pairs;   ///< N x C
  mutable RowMajorMatrix<T> scratch_pairs2;  ///< N x C (exact only)
  mutable RowMajorMatrix<T> scratch_proxies; ///< C x D
  mutable RowMajorMatrix<T> scratch_points;  ///< N x D (exact only)
  mutable RowMajorMatrix<T> scratch_proxies2;///< C x D (exact only)
  mutable detail::RowVector<T> scratch_offsets;  ///< C
};

namespace detail {

/// Elements k_j nu_j of K nu for nu = v / |v| (|v| given scaled), as doubles, k clamped:
/// each is at most k_j in magnitude, so none overflows.
template <class T>
struct ClampedKNuElements {
  const T* v;
  const T* k;
  T min_kappa;
  ScaledNorm v_norm;
  double operator()(std::int64_t j) const {
    const double nu = ::scalbn(static_cast<double>(v[j]), -v_norm.exponent) / v_norm.value;
    return static_cast<double>(k[j] > min_kappa ? k[j] : min_kappa) * nu;
  }
};

/// Throws std::invalid_argument naming `argument` (the temperature where there is one)
/// unless every score and every score / temperature
/// stays below max(T) / 64 (so that the log-sum-exps over samples and classes and
/// their sums stay finite), for points of norm in [x_min, x_max] (1 for unit samples).
/// Per proxy (no allocation): r = |K nu| = |K v| / |v| from scaled norms and
///   paper rule:  |l| <= |a| + sqrt(D) r x_max,  a = log C_D(r) + sum log k - log r
///                (sqrt(D): bound on the partial sums of the matrix product);
///   exact:       |l| <= |b| + k_max^2 / k_min + D max|log(k x)|,  b = a + log r.
template <class T>
void check_score_range(const char* function, ConstMatrixView<T> proxies,
                       ConstMatrixView<T> kappas, T min_kappa, NivmfScoring scoring,
                       double x_min, double x_max, T temperature,
                       const char* argument = "temperature") {
  const Index d = proxies.cols;
  // Compared as bound / temperature (which may overflow to +inf and then fails),
  // never as bound against limit * temperature (which may overflow and then passes).
  const double limit = static_cast<double>(std::numeric_limits<T>::max()) / 64.0;
  for (Index c = 0; c < proxies.rows; ++c) {
    const T* k = kappas.row(c);
    double sum_log_k = 0.0, k_lo = std::numeric_limits<double>::max(), k_hi = 0.0;
    for (Index j = 0; j < d; ++j) {
      const double kj = static_cast<double>(k[j] > min_kappa ? k[j] : min_kappa);
      sum_log_k += std::log(kj);
      k_lo = std::min(k_lo, kj);
      k_hi = std::max(k_hi, kj);
    }
    const ScaledNorm v_norm = scaled_norm(proxies.row(c), d);
    const double r =
        scaled_norm_of(d, ClampedKNuElements<T>{proxies.row(c), k, min_kappa, v_norm}).to_double();
    const double log_r = std::log(r);
    const double density_offset = vmf_log_normalizer(static_cast<int>(d), r) + sum_log_k;
    double bound;
    if (scoring == NivmfScoring::paper_rule) {
      // The matrix product's partial sums of k_j nu_j x_j are bounded by
      // sum_j |k_j nu_j x_j| <= sqrt(D) r |x|, not by r |x|.
      bound = std::fabs(density_offset - log_r) + std::sqrt(static_cast<double>(d)) * r * x_max;
    } else {
      const double log_extreme = std::max(std::fabs(std::log(k_lo * x_min)),
                                          std::fabs(std::log(k_hi * x_max)));
      bound = std::fabs(density_offset) + k_hi * (k_hi / k_lo) +
              static_cast<double>(d) * log_extreme;
    }
    // The scores are stored in T before they are divided by the temperature.
    if (!(bound <= limit) || !(bound / static_cast<double>(temperature) <= limit)) {
      std::ostringstream os;
      os << "gives proxy " << c << " scores up to |l| ~ " << bound << " at temperature "
         << temperature << " (|l| / temperature must stay below "
         << static_cast<double>(std::numeric_limits<T>::max()) / 64.0 << ")";
      throw_invalid(function, argument, os.str());
    }
  }
}

/// Smallest and largest row norm of x (scaled; as doubles, the largest may be +inf).
template <class T>
void row_norm_range(ConstMatrixView<T> x, double& smallest, double& largest) {
  smallest = std::numeric_limits<double>::infinity();
  largest = 0.0;
  for (Index r = 0; r < x.rows; ++r) {
    const double norm = scaled_norm(x.row(r), x.cols).to_double();
    smallest = std::min(smallest, norm);
    largest = std::max(largest, norm);
  }
}

/// Forward without validation. scores may alias nothing in the inputs.
template <class T>
void nivmf_scores_forward_unchecked(ConstMatrixView<T> points, ConstMatrixView<T> proxies,
                                    ConstMatrixView<T> kappas, T min_kappa, NivmfScoring scoring,
                                    MatrixView<T> scores, NivmfScoresSaved<T>& saved) {
  const Index n = points.rows, c_count = proxies.rows, d = proxies.cols;
  saved.scoring = scoring;
  saved.points = as_eigen(points);
  saved.min_kappa = min_kappa;
  saved.directions.resize(c_count, d);
  saved.proxy_norms.resize(c_count);
  saved.kappas.resize(c_count, d);
  saved.linear.resize(c_count, d);
  saved.scratch_offsets.resize(c_count);
  saved.offsets.resize(c_count);
  detail::RowVector<T>& offsets = saved.offsets;
  const auto k_raw = as_eigen(kappas);
  // One pass per proxy row (cache-friendly at C ~ 1e4, D ~ 512): direction, clamped
  // concentrations, the slope of the score and the per-proxy offset (the only Bessel
  // evaluation, once per proxy).
  parallel_rows(c_count, 64 * d, [&](Index c) {
    // Scaled: rows of any finite non-zero norm (1e-200, 1e200) keep a direction.
    const ScaledNorm norm = scaled_norm(proxies.row(c), d);
    saved.proxy_norms[c] = static_cast<T>(norm.to_double());
    divide_by_scaled_norm(proxies.row(c), d, 1, norm, saved.directions.row(c).data());
    saved.kappas.row(c) = k_raw.row(c).cwiseMax(min_kappa);
    const T* nu = saved.directions.row(c).data();
    const T* k = saved.kappas.row(c).data();
    if (scoring == NivmfScoring::paper_rule) {
      offsets[c] = nivmf_score_offset(static_cast<int>(d), nu, k);
      saved.linear.row(c) = saved.kappas.row(c).cwiseProduct(saved.directions.row(c));
    } else {
      offsets[c] = nivmf_log_density_offset(static_cast<int>(d), nu, k);
      saved.linear.row(c) = saved.kappas.row(c)
                                .cwiseProduct(saved.kappas.row(c))
                                .cwiseProduct(saved.directions.row(c));
    }
  });
  auto out = as_eigen(scores);
  saved.scratch_proxies.resize(c_count, d);
  if (scoring == NivmfScoring::paper_rule) {
    out.noalias() = saved.points * saved.linear.transpose();
    out.rowwise() += offsets.transpose();
    saved.inner.resize(0, 0);
    saved.point_norms.resize(0, 0);
    saved.scratch_pairs.resize(0, 0);
    saved.scratch_pairs2.resize(0, 0);
    saved.point_squares.resize(0, 0);
    saved.kappa_squares.resize(0, 0);
    saved.scratch_points.resize(0, 0);
    saved.scratch_proxies2.resize(0, 0);
  } else {
    saved.inner.noalias() = saved.points * saved.linear.transpose();
    saved.point_squares = saved.points.cwiseProduct(saved.points);
    saved.kappa_squares = saved.kappas.cwiseProduct(saved.kappas);
    saved.point_norms.noalias() = saved.point_squares * saved.kappa_squares.transpose();
    saved.point_norms = saved.point_norms.cwiseSqrt();
    const T dim = static_cast<T>(d);
    parallel_rows(n, c_count, [&](Index i) {
      for (Index c = 0; c < c_count; ++c) {
        const T q = saved.point_norms(i, c);
        out(i, c) = offsets[c] + saved.inner(i, c) / q - dim * std::log(q);
      }
    });
    saved.scratch_pairs.resize(n, c_count);
    saved.scratch_pairs2.resize(n, c_count);
    saved.scratch_proxies2.resize(c_count, d);
    saved.scratch_points.resize(n, d);
  }
}

/// Recomputes the forward's scores (N x C) from what the forward saved, for callers that
/// trade one matrix product for not storing an N x C matrix between forward and backward.
template <class T>
void nivmf_scores_recompute(const NivmfScoresSaved<T>& saved, MatrixView<T> scores) {
  auto out = as_eigen(scores);
  const Index n = saved.points.rows(), c_count = saved.directions.rows();
  if (saved.scoring == NivmfScoring::paper_rule) {
    out.noalias() = saved.points * saved.linear.transpose();
    out.rowwise() += saved.offsets.transpose();
    return;
  }
  const T dim = static_cast<T>(saved.directions.cols());
  parallel_rows(n, c_count, [&](Index i) {
    for (Index c = 0; c < c_count; ++c) {
      const T q = saved.point_norms(i, c);
      out(i, c) = saved.offsets[c] + saved.inner(i, c) / q - dim * std::log(q);
    }
  });
}

/// Backward without validation: grad_scores (N x C) -> gradients with respect to the points
/// (N x D), the proxy vectors (C x D) and the raw concentrations (C x D). Overwrites all three.
template <class T>
void nivmf_scores_backward_unchecked(const NivmfScoresSaved<T>& saved,
                                     ConstMatrixView<T> grad_scores, MatrixView<T> grad_points,
                                     MatrixView<T> grad_proxies, MatrixView<T> grad_kappas) {
  const Index n = saved.points.rows(), c_count = saved.directions.rows(),
              d = saved.directions.cols();
  const auto g = as_eigen(grad_scores);
  auto g_points = as_eigen(grad_points);
  auto g_proxies = as_eigen(grad_proxies);  // first d/d nu, then through the normalization
  auto g_kappas = as_eigen(grad_kappas);    // d/d k (clamped), masked at the end
  auto& g_linear = saved.scratch_proxies;
  auto& g_offsets = saved.scratch_offsets;
  g_offsets = g.colwise().sum().transpose();
  const bool paper = saved.scoring == NivmfScoring::paper_rule;
  if (paper) {
    g_points.noalias() = g * saved.linear;
    g_linear.noalias() = g.transpose() * saved.points;
  } else {
    // l = b + U / Q - D log Q with U = x . (K^2 nu), Q^2 = (x o x) . k^2
    auto& h_inner = saved.scratch_pairs;   // dL/dU
    auto& h_square = saved.scratch_pairs2; // dL/d(Q^2)
    const T dim = static_cast<T>(d);
    parallel_rows(n, c_count, [&](Index i) {
      for (Index c = 0; c < c_count; ++c) {
        const T q = saved.point_norms(i, c);
        const T u_over_q = saved.inner(i, c) / q;
        h_inner(i, c) = g(i, c) / q;
        h_square(i, c) = -g(i, c) * (u_over_q + dim) / (T(2) * q * q);
      }
    });
    auto& g_k2 = saved.scratch_proxies2;
    g_points.noalias() = h_inner * saved.linear;
    // d(Q^2)/dx = 2 x o k^2
    saved.scratch_points.noalias() = h_square * saved.kappa_squares;
    g_points += T(2) * saved.points.cwiseProduct(saved.scratch_points);
    g_linear.noalias() = h_inner.transpose() * saved.points;
    g_k2.noalias() = h_square.transpose() * saved.point_squares;
  }
  // One pass per proxy row: the slope's chain rule, the offset (through the distributions
  // layer's gradient), the clamp mask and the normalization.
  parallel_rows(c_count, 64 * d, [&](Index c) {
    const auto k = saved.kappas.row(c);
    const auto nu = saved.directions.row(c);
    if (paper) {
      // linear = k o nu
      g_proxies.row(c) = g_linear.row(c).cwiseProduct(k);
      g_kappas.row(c) = g_linear.row(c).cwiseProduct(nu);
      nivmf_score_offset_backward(static_cast<int>(d), nu.data(), k.data(), g_offsets[c],
                                  g_proxies.row(c).data(), g_kappas.row(c).data());
    } else {
      // linear = k^2 o nu, squares = k^2
      g_proxies.row(c) = g_linear.row(c).cwiseProduct(k).cwiseProduct(k);
      g_kappas.row(c) =
          T(2) * k.cwiseProduct(g_linear.row(c).cwiseProduct(nu) +
                                saved.scratch_proxies2.row(c));
      nivmf_log_density_offset_backward(static_cast<int>(d), nu.data(), k.data(), g_offsets[c],
                                        g_proxies.row(c).data(), g_kappas.row(c).data());
    }
    // Clamped concentrations (k_raw <= min_kappa, so k == min_kappa) get no gradient.
    g_kappas.row(c) = (k.array() > saved.min_kappa).select(g_kappas.row(c), T(0));
    normalize_row_backward_inplace(g_proxies.row(c), nu, saved.proxy_norms[c]);
  });
}

}  // namespace detail

/// Scores (N x C) of N points in R^D under C nivMF proxies (proxy vectors and raw
/// concentrations, both C x D). Throws std::invalid_argument before writing anything.
template <class T>
void nivmf_scores_forward(ConstMatrixView<detail::NonDeduced<T>> points,
                          ConstMatrixView<detail::NonDeduced<T>> proxies,
                          ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                          NivmfScoring scoring, MatrixView<T> scores, NivmfScoresSaved<T>& saved) {
  const char* fn = "pdml::nivmf_scores_forward";
  detail::check_nonempty(fn, "points", points);
  detail::check_nonempty(fn, "proxies", proxies);
  detail::check_same_cols(fn, "proxies", proxies, "points", points);
  detail::check_input(fn, "points", points, points.rows, proxies.cols);
  detail::check_proxy_vectors(fn, "proxies", proxies, proxies.rows, proxies.cols);
  detail::check_shape_of(fn, "kappas", kappas, "proxies", proxies.rows, proxies.cols);
  detail::check_input(fn, "kappas", kappas, proxies.rows, proxies.cols);
  detail::check_min_kappa(fn, min_kappa);
  if (scoring == NivmfScoring::exact_density) {
    detail::check_exact_density_range(fn, "points", points, kappas, min_kappa);
  }
  double x_min = 0, x_max = 0;
  detail::row_norm_range(points, x_min, x_max);
  detail::check_score_range(fn, proxies, kappas, min_kappa, scoring, x_min, x_max, T(1),
                            "kappas");
  detail::check_output(fn, "scores", scores, points.rows, proxies.rows);
  detail::nivmf_scores_forward_unchecked(points, proxies, kappas, min_kappa, scoring, scores,
                                         saved);
}

/// Backward of nivmf_scores_forward. Overwrites grad_points (N x D), grad_proxies (C x D)
/// and grad_kappas (C x D; zero where the concentration was clamped).
template <class T>
void nivmf_scores_backward(const NivmfScoresSaved<T>& saved,
                           ConstMatrixView<detail::NonDeduced<T>> grad_scores,
                           MatrixView<T> grad_points, MatrixView<T> grad_proxies,
                           MatrixView<T> grad_kappas) {
  const char* fn = "pdml::nivmf_scores_backward";
  const Index n = saved.points.rows(), c_count = saved.directions.rows(),
              d = saved.directions.cols();
  if (c_count == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  detail::check_input(fn, "grad_scores", grad_scores, n, c_count);
  detail::check_output(fn, "grad_points", grad_points, n, d);
  detail::check_output(fn, "grad_proxies", grad_proxies, c_count, d);
  detail::check_output(fn, "grad_kappas", grad_kappas, c_count, d);
  detail::check_no_overlap<T>(fn, {{"grad_points", grad_points},
                                  {"grad_proxies", grad_proxies},
                                  {"grad_kappas", grad_kappas}});
  detail::nivmf_scores_backward_unchecked(saved, grad_scores, grad_points, grad_proxies,
                                          grad_kappas);
}

/// nivmf_scores_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void nivmf_scores_backward(const NivmfScoresSaved<T>& saved,
                           ConstMatrixView<detail::NonDeduced<T>> grad_scores,
                           MatrixView<T> grad_points, MatrixView<T> grad_proxies,
                           MatrixView<T> grad_kappas, GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::nivmf_scores_backward", mode,
      {{"grad_points", grad_points}, {"grad_proxies", grad_proxies}, {"grad_kappas", grad_kappas}},
      static_cast<T*>(nullptr),
      [&] { nivmf_scores_backward(saved, grad_scores, grad_points, grad_proxies, grad_kappas); });
}

}  // namespace pdml
