// SPDX-License-Identifier: MIT
#pragma once
// Shared host-side building blocks of the batched similarities and losses:
// argument checks, row normalization with its backward, concentration
// clamping, and the thread-count-independent parallel loop.
//
// Every public similarity/loss validates its arguments with these helpers
// before writing anything; the numerical helpers below trust their inputs.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include <Eigen/Core>

#include "pdml/core/detail/non_deduced.hpp"  // NonDeduced, for the optional grad_temperature
#include "pdml/core/eigen_map.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/core/validate.hpp"

namespace pdml {
namespace detail {

template <class T>
using RowVector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Views of dense row-major Eigen matrices (pdml::view_of cannot deduce its scalar).
template <class M>
MatrixView<typename M::Scalar> dense(M& m) {
  return MatrixView<typename M::Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}
template <class M>
ConstMatrixView<typename M::Scalar> dense_const(const M& m) {
  return ConstMatrixView<typename M::Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}

/// Exact shape and every element finite.
template <class T>
void check_input(const char* function, const char* argument, MatrixView<T> view, Index rows,
                 Index cols) {
  check_shape(function, argument, view, rows, cols);
  // Vectorized test first (it is on every training step); the element-wise scan only
  // runs to name the offending element.
  if (view.rows == 0 || view.cols == 0 || as_eigen(view).allFinite()) return;
  check_finite(function, argument, view);
}

/// Proxy vectors: C x D, finite, and no zero row (its direction is undefined).
template <class T>
void check_proxy_vectors(const char* function, const char* argument, MatrixView<const T> view,
                         Index rows, Index cols) {
  check_input(function, argument, view, rows, cols);
  const auto m = as_eigen(view);
  for (Index r = 0; r < view.rows; ++r) {
    if (!(m.row(r).array() != T(0)).any()) {
      std::ostringstream os;
      os << "has a zero row " << r << " (a proxy needs a direction)";
      throw_invalid(function, argument, os.str());
    }
  }
  check_row_norms_fit(function, argument, view);
}

/// Whether row r of x has only zero elements (a test on the elements, not on the
/// squared norm, which underflows to 0 for rows of norm ~1e-200).
template <class T>
bool is_zero_row(MatrixView<T> x, Index r) {
  const auto* row = x.row(r);
  for (Index c = 0; c < x.cols; ++c) {
    if (row[c] != 0) return false;
  }
  return true;
}

/// The exact nivMF density forms k_j^2 and Q^2 = |K x|^2 = sum_j x_j^2 k_j^2 for every
/// point x and proxy (concentrations clamped at min_kappa). Unit points: k_max^2 must be
/// finite and k_min^2 normal, else throws naming `kappas`. Returns [k_min, k_max].
template <class T>
void check_exact_density_kappas(const char* function, MatrixView<const T> kappas, T min_kappa,
                                double& k_min, double& k_max) {
  const double largest = static_cast<double>(std::numeric_limits<T>::max());
  const double smallest = static_cast<double>(std::numeric_limits<T>::min());  // normal
  k_max = static_cast<double>(min_kappa);
  k_min = largest;
  for (Index r = 0; r < kappas.rows; ++r) {
    for (Index c = 0; c < kappas.cols; ++c) {
      const double k = static_cast<double>(std::max(kappas(r, c), min_kappa));
      k_max = std::max(k_max, k);
      k_min = std::min(k_min, k);
    }
  }
  if (!(k_max * k_max <= largest) || !(k_min * k_min >= smallest)) {
    std::ostringstream os;
    os << "(clamped at min_kappa) spans [" << k_min << ", " << k_max
       << "]: the exact density needs every k^2 finite and normal in its type";
    throw_invalid(function, "kappas", os.str());
  }
}

/// The same, and for caller-given points: |K x|^2 and |x|^2 normal for every point x
/// (they lie between (min(k_min, 1) |x|)^2 and (max(k_max, 1) |x|)^2); throws naming
/// points_argument otherwise. |x|^2 counts because the scores form |K x|^2 from the
/// stored squares x o x: with k < 1, a point of |x| ~ 2e19 in float keeps |K x|^2 finite
/// while x o x overflows, and the score becomes -inf (then NaN in the log-sum-exps).
template <class T>
void check_exact_density_range(const char* function, const char* points_argument,
                               MatrixView<const T> points, MatrixView<const T> kappas,
                               T min_kappa) {
  double k_min = 0, k_max = 0;
  check_exact_density_kappas(function, kappas, min_kappa, k_min, k_max);
  const double largest = static_cast<double>(std::numeric_limits<T>::max());
  const double smallest = static_cast<double>(std::numeric_limits<T>::min());
  for (Index r = 0; r < points.rows; ++r) {
    const ScaledNorm norm = scaled_norm(points.row(r), points.cols);
    if (norm.value == 0.0) {
      std::ostringstream os;
      os << "has a zero row " << r << " (the exact nivMF density needs a nonzero point)";
      throw_invalid(function, points_argument, os.str());
    }
    const double x = norm.to_double();
    const double hi = std::max(k_max, 1.0) * x, lo = std::min(k_min, 1.0) * x;
    if (!(hi * hi <= largest) || !(lo * lo >= smallest)) {
      std::ostringstream os;
      os << "has row " << r << " with |x| = " << x << ", for which |K x|^2 or |x|^2 leaves"
         << " the normal range of its type (concentrations in [" << k_min << ", " << k_max
         << "])";
      throw_invalid(function, points_argument, os.str());
    }
  }
}

/// A view whose rows and columns are only known to be positive (shape deduced from it).
template <class T>
void check_nonempty(const char* function, const char* argument, MatrixView<T> view) {
  check_view(function, argument, view);
  if (view.rows < 1 || view.cols < 1) throw_invalid(function, argument, "is empty");
}

/// The lower clamp of concentrations must itself be a positive finite number.
template <class T>
void check_min_kappa(const char* function, T min_kappa) {
  check_scalar(function, "min_kappa", min_kappa, true);
}

/// A temperature T for which 1/T is finite: positive, finite and at least the smallest
/// normal number of its type (1.2e-38 in float, 2.2e-308 in double), so that
/// 1/T <= 8.5e37 (float) / 4.5e307 (double). Smaller positive T (subnormal) would make
/// 1/T overflow and every similarity NaN.
template <class T>
void check_temperature(const char* function, T temperature) {
  check_scalar(function, "temperature", temperature, true);
  if (!(temperature >= std::numeric_limits<T>::min())) {
    std::ostringstream os;
    os << "is " << temperature << ", below the smallest normal number "
       << std::numeric_limits<T>::min() << " of its type (1/temperature would overflow)";
    throw_invalid(function, "temperature", os.str());
  }
}

/// Output gradient views: exact shape (their contents are overwritten).
template <class T>
void check_output(const char* function, const char* argument, MatrixView<T> view, Index rows,
                  Index cols) {
  check_shape(function, argument, view, rows, cols);
}

/// Runs body(i) for i in [0, n). With OpenMP the rows are split across threads; every
/// row is computed by exactly one thread in the same order, so results do not depend on
/// the number of threads.
template <class Body>
void parallel_rows(Index n, Index work_per_row, Body&& body) {
#if defined(_OPENMP)
  // Thread start-up costs more than small batches are worth.
  const bool worth_it = n * work_per_row > Index(1) << 15;
#pragma omp parallel for schedule(static) if (worth_it)
  for (Index i = 0; i < n; ++i) body(i);
#else
  (void)work_per_row;
  for (Index i = 0; i < n; ++i) body(i);
#endif
}

/// Row norms and unit directions of x. A zero row gets direction 0 (the vMF with
/// natural parameter 0 is uniform and has no mean direction).
template <class T, class Directions, class Norms>
void normalize_rows(MatrixView<const T> x, Directions& directions, Norms& norms) {
  directions.resize(x.rows, x.cols);
  norms.resize(x.rows);
  parallel_rows(x.rows, x.cols, [&](Index r) {
    // Scaled: a row of any finite non-zero norm keeps its direction (its norm
    // is +inf in T only when it exceeds the largest T).
    const ScaledNorm norm = scaled_norm(x.row(r), x.cols);
    norms[r] = static_cast<T>(norm.to_double());
    if (norm.value > 0.0) {
      divide_by_scaled_norm(x.row(r), x.cols, 1, norm, directions.row(r).data());
    } else {
      directions.row(r).setZero();
    }
  });
}

/// Backward of u = x / |x| for one row, in place: g <- (g - u (u.g)) / |x|.
/// At x = 0 the direction is not differentiable; the gradient is taken as 0 there.
template <class RowG, class RowU>
void normalize_row_backward_inplace(RowG&& g, const RowU& u, typename RowU::Scalar norm) {
  using T = typename RowU::Scalar;
  if (!(norm > T(0))) {
    g.setZero();
    return;
  }
  const T along = u.dot(g);
  g = (g - along * u) / norm;
}

/// max(k, k_min) elementwise, and the 0/1 mask of entries that were not clamped
/// (k > k_min passes gradients; at and below k_min the gradient is zero).
template <class T, class Out>
void clamp_below(MatrixView<const T> kappas, T min_kappa, Out& clamped, Out& passes) {
  const auto raw = as_eigen(kappas);
  clamped = raw.cwiseMax(min_kappa);
  passes = (raw.array() > min_kappa).template cast<T>().matrix();
}


/// log(sum_j exp(z_j)) over a contiguous range, stable for any finite z.
template <class T>
T logsumexp(const T* z, Index n, Index step = 1) {
  T top = -std::numeric_limits<T>::infinity();
  for (Index j = 0; j < n; ++j) top = std::max(top, z[j * step]);
  if (!std::isfinite(top)) return top;
  T sum = 0;
  for (Index j = 0; j < n; ++j) sum += std::exp(z[j * step] - top);
  return top + std::log(sum);
}

}  // namespace detail
}  // namespace pdml
