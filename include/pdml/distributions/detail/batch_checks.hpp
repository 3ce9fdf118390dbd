// SPDX-License-Identifier: MIT
#pragma once
// Argument checks and helpers shared by the distributions layer's batched host APIs.

#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"

namespace pdml {
namespace detail {

/// Makes an argument non-deduced, so T is deduced from the (mutable) outputs and
/// a MatrixView<T> converts to ConstMatrixView<T> at the inputs.
template <class T>
struct no_deduce {
  using type = T;
};
template <class T>
using InputView = MatrixView<const typename no_deduce<T>::type>;

inline void check_dimension(const char* fn, const char* arg, Index p) {
  if (p < 2) throw_invalid(fn, arg, "must have at least 2 columns (the sphere S^{p-1}, p >= 2)");
}

/// Rows that are a whole number of repetitions of n_dist distributions.
template <class T>
void check_repeated_rows(const char* fn, const char* arg, MatrixView<T> points, Index n_dist,
                         Index p) {
  check_view(fn, arg, points);
  if (points.cols != p) throw_invalid(fn, arg, "must have as many columns as the parameters");
  if (n_dist == 0 ? points.rows != 0 : points.rows % n_dist != 0) {
    throw_invalid(fn, arg, "must have a multiple of the number of distributions as rows");
  }
}

template <class T>
bool optional_output(const char* fn, const char* arg, MatrixView<T> view, Index rows, Index cols) {
  if (view.rows == 0 && view.data == nullptr) return false;
  check_shape(fn, arg, view, rows, cols);
  return true;
}

}  // namespace detail

}  // namespace pdml
