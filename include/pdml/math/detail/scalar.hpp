// SPDX-License-Identifier: MIT
#pragma once
// Elementary functions overloaded for float and double that resolve to the same
// C library call on the host (glibc) and on the device (CUDA's libdevice): the
// single-precision names for float, so nothing is silently promoted to double
// on either side. The one set of such wrappers for every layer.

#include <cmath>

#include "pdml/config.hpp"

namespace pdml {
namespace detail {

PDML_HOST_DEVICE PDML_FORCE_INLINE double log_(double x) { return ::log(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float log_(float x) { return ::logf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double log1p_(double x) { return ::log1p(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float log1p_(float x) { return ::log1pf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double exp_(double x) { return ::exp(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float exp_(float x) { return ::expf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double expm1_(double x) { return ::expm1(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float expm1_(float x) { return ::expm1f(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double sqrt_(double x) { return ::sqrt(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float sqrt_(float x) { return ::sqrtf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double lgamma_(double x) { return ::lgamma(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float lgamma_(float x) { return ::lgammaf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double abs_(double x) { return ::fabs(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float abs_(float x) { return ::fabsf(x); }

}  // namespace detail
}  // namespace pdml
