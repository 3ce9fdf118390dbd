#pragma once
// Elementary functions for float and double that resolve to the same call on
// the host (glibc) and on the device (CUDA's libdevice): the single-precision
// C names for float, so no silent promotion to double happens on either side.

#include <cmath>
#include <limits>

#include "pdml/config.hpp"

namespace pdml {
namespace cuda {
namespace detail {

PDML_HOST_DEVICE PDML_FORCE_INLINE float exp_of(float x) { return ::expf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double exp_of(double x) { return ::exp(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float log_of(float x) { return ::logf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double log_of(double x) { return ::log(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float log1p_of(float x) { return ::log1pf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double log1p_of(double x) { return ::log1p(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float sqrt_of(float x) { return ::sqrtf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double sqrt_of(double x) { return ::sqrt(x); }

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
