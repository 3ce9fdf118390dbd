// SPDX-License-Identifier: MIT
#pragma once
// Scalar helpers of the CUDA layer; the elementary functions themselves come
// from pdml/math/detail/scalar.hpp, shared with the CPU layers.

#include <cmath>

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

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T quiet_nan() {
  return pdml::detail::quiet_nan_<T>();
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
