// SPDX-License-Identifier: MIT
#pragma once
// The Euclidean norm of a vector without overflow or underflow of its squares
// (host and device): the one place every layer takes a norm that may meet
// extreme (finite) input. docs/math.md, section "scaled-norms"; the contract it
// serves: docs/reliability.md.
//
// The norm is returned as value * 2^exponent. The usual case (the sum of
// squares, accumulated in double, lies in [2^-900, 2^900]) is one pass with
// exponent 0; float input always takes it (squares of floats span
// [2^-298, 2^256] in double). Otherwise every element is scaled by the power
// of two 2^-e of the largest magnitude (an exact operation, unlike a
// multiplication by 1 / largest, which overflows for subnormal largest), so
// value lies in [1, sqrt(n)] and exponent = e.

#include <cmath>
#include <cstdint>
#include <limits>

#include "pdml/config.hpp"

namespace pdml {

/// |x| = value * 2^exponent (value 0 for the zero vector).
struct ScaledNorm {
  double value;
  int exponent;

  /// The norm as a double (+inf where it exceeds the largest double).
  PDML_HOST_DEVICE double to_double() const { return ::ldexp(value, exponent); }
  /// log |x| (-inf for the zero vector), finite for every finite non-zero x.
  PDML_HOST_DEVICE double log() const {
    return ::log(value) + static_cast<double>(exponent) * 0.69314718055994530941723212145817656807550013436;
  }
  /// Whether the norm is a finite number of type T.
  template <class T>
  PDML_HOST_DEVICE bool fits() const {
    return to_double() <= static_cast<double>(std::numeric_limits<T>::max());
  }
};

/// The scaled norm of the n values element(0), ..., element(n - 1) (doubles,
/// finite), given the plain sum of their squares (callers that accumulate it
/// faster, e.g. in several lanes, pass theirs; the scaled pass only runs when
/// that sum is out of range).
template <class Element>
PDML_HOST_DEVICE inline ScaledNorm scaled_norm_of(std::int64_t n, const Element& element,
                                                  double sum_of_squares) {
  if (sum_of_squares >= 0x1p-900 && sum_of_squares <= 0x1p+900) {
    return ScaledNorm{::sqrt(sum_of_squares), 0};
  }
  double largest = 0.0;
  for (std::int64_t j = 0; j < n; ++j) {
    const double magnitude = ::fabs(element(j));
    largest = magnitude > largest ? magnitude : largest;
  }
  if (!(largest > 0.0)) return ScaledNorm{0.0, 0};
  const int exponent = ::ilogb(largest);
  double sum = 0.0;
  for (std::int64_t j = 0; j < n; ++j) {
    const double scaled = ::scalbn(element(j), -exponent);
    sum += scaled * scaled;
  }
  return ScaledNorm{::sqrt(sum), exponent};
}

/// The same, accumulating the plain sum of squares itself.
template <class Element>
PDML_HOST_DEVICE inline ScaledNorm scaled_norm_of(std::int64_t n, const Element& element) {
  double sum = 0.0;
  for (std::int64_t j = 0; j < n; ++j) {
    const double value = element(j);
    sum += value * value;
  }
  return scaled_norm_of(n, element, sum);
}

namespace detail {
/// Element j of a strided array, as double.
template <class T>
struct StridedElements {
  const T* x;
  std::int64_t step;
  PDML_HOST_DEVICE double operator()(std::int64_t j) const { return static_cast<double>(x[j * step]); }
};
}  // namespace detail

/// The scaled norm of x[0], x[step], ..., x[(n-1) step] given the plain sum of
/// their squares in double.
template <class T>
PDML_HOST_DEVICE inline ScaledNorm scaled_norm_given_sum_of_squares(const T* x, std::int64_t n,
                                                                    std::int64_t step,
                                                                    double sum_of_squares) {
  return scaled_norm_of(n, detail::StridedElements<T>{x, step}, sum_of_squares);
}

/// The scaled norm of x[0], x[step], ..., x[(n-1) step] (finite elements).
template <class T>
PDML_HOST_DEVICE inline ScaledNorm scaled_norm(const T* x, std::int64_t n, std::int64_t step = 1) {
  return scaled_norm_of(n, detail::StridedElements<T>{x, step});
}

/// x / |x| into out[j * out_step] (as T), for a non-zero scaled norm of x.
template <class T>
PDML_HOST_DEVICE inline void divide_by_scaled_norm(const T* x, std::int64_t n, std::int64_t step,
                                                   const ScaledNorm& norm, T* out,
                                                   std::int64_t out_step = 1) {
  const double inv_value = 1.0 / norm.value;
  if (norm.exponent == 0) {
    for (std::int64_t j = 0; j < n; ++j) {
      out[j * out_step] = static_cast<T>(static_cast<double>(x[j * step]) * inv_value);
    }
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    out[j * out_step] =
        static_cast<T>(::scalbn(static_cast<double>(x[j * step]), -norm.exponent) * inv_value);
  }
}

}  // namespace pdml
