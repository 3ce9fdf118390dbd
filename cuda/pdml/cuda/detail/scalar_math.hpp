// SPDX-License-Identifier: MIT
#pragma once
// Scalar helpers of the CUDA layer; the elementary functions themselves come
// from pdml/math/detail/scalar.hpp, shared with the CPU layers.

#include <cmath>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/math/detail/scalar.hpp"

namespace pdml {
namespace cuda {
namespace detail {

// The float/double elementary functions shared with the CPU layers.
using pdml::detail::exp_;
using pdml::detail::log1p_;
using pdml::detail::log_;
using pdml::detail::sqrt_;

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T max_of(T a, T b) {
  return a < b ? b : a;
}

// numeric_limits is constexpr, hence device-callable under
// --expt-relaxed-constexpr (which pdml::cuda requires).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T quiet_nan() {
  return std::numeric_limits<T>::quiet_NaN();
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
