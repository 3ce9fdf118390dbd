// SPDX-License-Identifier: MIT
#pragma once
// Eigen maps over pdml views, for the CPU batched paths.

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

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

namespace detail {

template <class M, class = void>
struct IsEigenDense : std::false_type {};
template <class M>
struct IsEigenDense<M, std::enable_if_t<std::is_base_of<Eigen::DenseBase<M>, M>::value>>
    : std::true_type {};

}  // namespace detail

/// A view of any row-major Eigen object with storage: Matrix, Map, Ref, blocks of rows
/// (topRows, middleRows, bottomRows, row, block), const or not; owning storage stays with
/// the caller. The scalar type is deduced (`view_of(m)`) or given (`view_of<float>(m)`);
/// a const object or a read-only Map gives a ConstMatrixView, anything writable a
/// MatrixView (which converts implicitly to a ConstMatrixView).
template <class M, std::enable_if_t<detail::IsEigenDense<std::remove_cv_t<std::remove_reference_t<M>>>::value, int> = 0>
auto view_of(M&& m) {
  using Object = std::remove_cv_t<std::remove_reference_t<M>>;
  static_assert(int(Object::Flags) & int(Eigen::DirectAccessBit),
                "pdml::view_of needs an Eigen object with storage (Matrix, Map, Ref or a block "
                "of one): evaluate the expression into a pdml::RowMajorMatrix<T> first");
  static_assert(bool(Object::IsRowMajor),
                "pdml::view_of needs a row-major matrix: use pdml::RowMajorMatrix<T> or "
                "Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>");
  static_assert(Object::InnerStrideAtCompileTime == 1 ||
                    Object::InnerStrideAtCompileTime == Eigen::Dynamic,
                "pdml::view_of needs contiguous rows (inner stride 1)");
  if (m.innerStride() != 1 && m.cols() > 1) {
    throw std::invalid_argument(
        "pdml::view_of: the matrix has an inner stride of " + std::to_string(m.innerStride()) +
        "; pdml views need contiguous rows (inner stride 1)");
  }
  using Element = std::remove_pointer_t<decltype(m.data())>;
  return MatrixView<Element>{m.data(), m.rows(), m.cols(),
                             m.rows() > 1 ? Index(m.outerStride()) : Index(m.cols())};
}

/// view_of with the scalar type given: `view_of<float>(m)`.
template <class Scalar, class M,
          std::enable_if_t<detail::IsEigenDense<std::remove_cv_t<std::remove_reference_t<M>>>::value, int> = 0>
auto view_of(M&& m) {
  static_assert(std::is_same<Scalar, typename std::remove_cv_t<std::remove_reference_t<M>>::Scalar>::value,
                "pdml::view_of<Scalar>: Scalar differs from the matrix's scalar type");
  return view_of(std::forward<M>(m));
}

}  // namespace pdml
