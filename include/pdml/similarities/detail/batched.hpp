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
  const auto in = as_eigen(x);
  parallel_rows(x.rows, x.cols, [&](Index r) {
    const T norm = in.row(r).norm();
    norms[r] = norm;
    if (norm > T(0)) {
      directions.row(r) = in.row(r) / norm;
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
