// SPDX-License-Identifier: MIT
#pragma once
// Non-owning row-major matrix views: the currency of every batched pdml API.

#include <cstddef>
#include <type_traits>

#include "pdml/config.hpp"

namespace pdml {

/// Index type of views (signed, like Eigen::Index, so differences are safe).
using Index = std::ptrdiff_t;

/// A non-owning, row-major view of a rows x cols matrix.
/// Element (r, c) lives at data[r * stride + c]; stride >= cols.
/// Aggregate, so `MatrixView<T>{ptr, rows, cols, stride}` builds one.
template <class T>
struct MatrixView {
  T* data;
  Index rows;
  Index cols;
  Index stride;

  PDML_HOST_DEVICE T* row(Index r) const { return data + r * stride; }
  PDML_HOST_DEVICE T& operator()(Index r, Index c) const { return data[r * stride + c]; }
  PDML_HOST_DEVICE Index size() const { return rows * cols; }
  PDML_HOST_DEVICE bool empty() const { return rows == 0 || cols == 0; }

  /// A mutable view converts implicitly to a read-only one.
  template <class U = T, std::enable_if_t<!std::is_const<U>::value, int> = 0>
  PDML_HOST_DEVICE operator MatrixView<const U>() const {
    return MatrixView<const U>{data, rows, cols, stride};
  }
};

/// Read-only view.
template <class T>
using ConstMatrixView = MatrixView<const T>;

/// A dense (stride == cols) view over contiguous storage.
template <class T>
PDML_HOST_DEVICE MatrixView<T> dense_view(T* data, Index rows, Index cols) {
  return MatrixView<T>{data, rows, cols, cols};
}

}  // namespace pdml
