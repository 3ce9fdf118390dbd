// SPDX-License-Identifier: MIT
#pragma once
// Argument validation at the public (host) API boundary.
//
// Every batched entry point validates all of its arguments with these helpers
// *before* writing any output, and throws std::invalid_argument with a message
// that names the function and the offending argument. Internals trust
// validated inputs and never re-check.

#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <initializer_list>
#include <utility>
#include <type_traits>

#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/scaled_norm.hpp"

namespace pdml {
namespace detail {

[[noreturn]] inline void throw_invalid(const char* function, const char* argument,
                                       const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": argument '" + argument + "' " + what);
}

/// Structural checks: non-negative sizes, stride >= cols, non-null data when non-empty.
template <class T>
void check_view(const char* function, const char* argument, MatrixView<T> view) {
  if (view.rows < 0 || view.cols < 0) {
    throw_invalid(function, argument, "has negative dimensions");
  }
  if (view.stride < view.cols) {
    std::ostringstream os;
    os << "has stride " << view.stride << " smaller than its " << view.cols << " columns";
    throw_invalid(function, argument, os.str());
  }
  if (view.data == nullptr && view.rows > 0 && view.cols > 0) {
    throw_invalid(function, argument, "is a null pointer");
  }
}

/// Structural checks plus an exact shape.
template <class T>
void check_shape(const char* function, const char* argument, MatrixView<T> view, Index rows,
                 Index cols) {
  check_view(function, argument, view);
  if (view.rows != rows || view.cols != cols) {
    std::ostringstream os;
    os << "has shape " << view.rows << " x " << view.cols << " but " << rows << " x " << cols
       << " is required";
    throw_invalid(function, argument, os.str());
  }
}

/// Every element finite (no NaN, no Inf).
template <class T>
void check_finite(const char* function, const char* argument, MatrixView<T> view) {
  for (Index r = 0; r < view.rows; ++r) {
    const auto* row = view.data + r * view.stride;
    // Branch-free scan first (x - x is 0 exactly when x is finite; this loop
    // vectorises, an early-exit isfinite loop does not); locate the culprit
    // only when there is one.
    unsigned non_finite = 0;
    for (Index c = 0; c < view.cols; ++c) non_finite |= !(row[c] - row[c] == 0) ? 1u : 0u;
    if (non_finite == 0) continue;
    for (Index c = 0; c < view.cols; ++c) {
      if (!std::isfinite(row[c])) {
        std::ostringstream os;
        os << "has a non-finite element at (" << r << ", " << c << ")";
        throw_invalid(function, argument, os.str());
      }
    }
  }
}

/// Every row's Euclidean norm is a finite T (rows already checked finite): the
/// norm is taken scaled, so only rows whose true norm exceeds the largest T fail.
template <class T>
void check_row_norms_fit(const char* function, const char* argument, MatrixView<T> view) {
  for (Index r = 0; r < view.rows; ++r) {
    const ScaledNorm norm = scaled_norm(view.data + r * view.stride, view.cols);
    if (!norm.template fits<typename std::remove_const<T>::type>()) {
      std::ostringstream os;
      os << "has row " << r << " whose norm exceeds the largest finite value of its type";
      throw_invalid(function, argument, os.str());
    }
  }
}

/// A finite scalar, optionally required to be strictly positive.
template <class T>
void check_scalar(const char* function, const char* argument, T value, bool positive) {
  if (!std::isfinite(value)) throw_invalid(function, argument, "is not finite");
  if (positive && !(value > T(0))) throw_invalid(function, argument, "must be positive");
}

/// Labels in [0, n_classes) (int32 or int64 storage). With `ignore` non-null, rows whose
/// label equals *ignore are allowed whatever its value (they are skipped by the caller).
inline void check_labels(const char* function, const char* argument, Labels labels,
                         Index count, Index n_classes, const std::int64_t* ignore = nullptr) {
  if (labels.is_null() && count > 0) throw_invalid(function, argument, "is a null pointer");
  for (Index i = 0; i < count; ++i) {
    const std::int64_t label = labels[i];
    if (ignore != nullptr && label == *ignore) continue;
    if (label < 0 || label >= n_classes) {
      std::ostringstream os;
      os << "has label " << label << " at position " << i << ", outside [0, " << n_classes
         << ")";
      throw_invalid(function, argument, os.str());
    }
  }
}

/// `argument` must have as many columns as `other` (both named in the message).
template <class T, class U>
void check_same_cols(const char* function, const char* argument, MatrixView<T> view,
                     const char* other, MatrixView<U> other_view) {
  if (view.cols != other_view.cols) {
    std::ostringstream os;
    os << "has " << view.cols << " columns but '" << other << "' has " << other_view.cols;
    throw_invalid(function, argument, os.str());
  }
}

/// `argument` must have the shape rows x cols of `other` (both shapes in the message).
template <class T>
void check_shape_of(const char* function, const char* argument, MatrixView<T> view,
                    const char* other, Index rows, Index cols) {
  check_view(function, argument, view);
  if (view.rows != rows || view.cols != cols) {
    std::ostringstream os;
    os << "has shape " << view.rows << " x " << view.cols << " but '" << other
       << "' has shape " << rows << " x " << cols;
    throw_invalid(function, argument, os.str());
  }
}

/// A named output view, for check_no_overlap.
template <class T>
struct NamedView {
  const char* name;
  MatrixView<T> view;
};

/// Output views must not share memory: two outputs overlap when the address ranges
/// they span intersect (a conservative test for strided views). Empty views never
/// overlap.
template <class T>
void check_no_overlap(const char* function, std::initializer_list<NamedView<T>> outputs) {
  auto span = [](const MatrixView<T>& v) {
    const auto begin = reinterpret_cast<std::uintptr_t>(v.data);
    const auto count = static_cast<std::uintptr_t>((v.rows - 1) * v.stride + v.cols);
    return std::make_pair(begin, begin + count * sizeof(T));
  };
  for (auto a = outputs.begin(); a != outputs.end(); ++a) {
    if (a->view.data == nullptr || a->view.rows < 1 || a->view.cols < 1) continue;
    for (auto b = a + 1; b != outputs.end(); ++b) {
      if (b->view.data == nullptr || b->view.rows < 1 || b->view.cols < 1) continue;
      const auto sa = span(a->view), sb = span(b->view);
      if (sa.first < sb.second && sb.first < sa.second) {
        throw_invalid(function, b->name,
                      std::string("overlaps the memory of output '") + a->name + "'");
      }
    }
  }
}

}  // namespace detail
}  // namespace pdml
