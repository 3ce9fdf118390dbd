// SPDX-License-Identifier: MIT
#pragma once
// Eigen maps over pdml views, for the CPU batched paths.

#include <type_traits>

#include <Eigen/Core>

#include "pdml/core/matrix_view.hpp"

namespace pdml {

template <class T>
using RowMajorMatrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic,
                                     Eigen::RowMajor>;

/// Eigen::Map of a view (const-correct: a ConstMatrixView maps read-only).
template <class T>
using EigenMap = Eigen::Map<std::conditional_t<std::is_const<T>::value,
                                               const RowMajorMatrix<T>, RowMajorMatrix<T>>,
                            Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T>
EigenMap<T> as_eigen(MatrixView<T> view) {
  return EigenMap<T>(view.data, view.rows, view.cols, Eigen::OuterStride<>(view.stride));
}

/// A view of an Eigen row-major matrix (owning storage stays with the caller);
/// the scalar type is deduced: `view_of(m)`.
template <class Scalar>
MatrixView<Scalar> view_of(Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& m) {
  return MatrixView<Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}
template <class Scalar>
ConstMatrixView<Scalar> view_of(
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>& m) {
  return ConstMatrixView<Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}

}  // namespace pdml
