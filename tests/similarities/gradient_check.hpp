// SPDX-License-Identifier: MIT
#pragma once
// Shared helpers of the similarity and loss tests: random inputs, views, and a
// fourth-order central finite-difference gradient (error O(h^4) + O(eps / h)).

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include <pdml/core/eigen_map.hpp>
#include <pdml/core/matrix_view.hpp>

namespace pdml_test {

using Mat = pdml::RowMajorMatrix<double>;

inline Mat random_matrix(std::mt19937_64& rng, pdml::Index rows, pdml::Index cols,
                         double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  Mat m(rows, cols);
  for (pdml::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

inline Mat random_uniform(std::mt19937_64& rng, pdml::Index rows, pdml::Index cols, double lo,
                          double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  Mat m(rows, cols);
  for (pdml::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
  return m;
}

/// Rows scaled to unit length (points on the sphere).
inline Mat unit_rows(Mat m) {
  for (pdml::Index i = 0; i < m.rows(); ++i) m.row(i).normalize();
  return m;
}

inline std::vector<std::int64_t> random_labels(std::mt19937_64& rng, pdml::Index n,
                                               pdml::Index classes) {
  std::uniform_int_distribution<std::int64_t> u(0, classes - 1);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (auto& y : labels) y = u(rng);
  return labels;
}

template <class M>
pdml::ConstMatrixView<typename M::Scalar> cview(const M& m) {
  return pdml::ConstMatrixView<typename M::Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}
template <class M>
pdml::MatrixView<typename M::Scalar> mview(M& m) {
  return pdml::MatrixView<typename M::Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}

/// d f / d x by the five-point stencil, step h scaled by max(1, |x_j|).
inline Mat numeric_gradient(const std::function<double()>& f, Mat& x, double h = 1e-4) {
  Mat g(x.rows(), x.cols());
  for (pdml::Index j = 0; j < x.size(); ++j) {
    const double x0 = x.data()[j];
    const double step = h * std::max(1.0, std::abs(x0));
    auto at = [&](double t) {
      x.data()[j] = x0 + t * step;
      return f();
    };
    const double fp1 = at(1), fm1 = at(-1), fp2 = at(2), fm2 = at(-2);
    x.data()[j] = x0;
    g.data()[j] = (8.0 * (fp1 - fm1) - (fp2 - fm2)) / (12.0 * step);
  }
  return g;
}

/// |a - b|_2 / max(|b|_2, floor): the relative error of a whole gradient.
inline double relative_error(const Mat& analytic, const Mat& numeric, double floor = 1e-12) {
  return (analytic - numeric).norm() / std::max(numeric.norm(), floor);
}

inline double relative_error(double analytic, double numeric, double floor = 1e-12) {
  return std::abs(analytic - numeric) / std::max(std::abs(numeric), floor);
}

/// Scalar test loss sum_ij W_ij sim_ij, whose gradient with respect to sim is W.
inline double weighted_sum(const Mat& weights, const Mat& values) {
  return weights.cwiseProduct(values).sum();
}

}  // namespace pdml_test
