// SPDX-License-Identifier: MIT
#pragma once
// Elementary functions overloaded for float and double that resolve to the same
// C library call on the host (glibc) and on the device (CUDA's libdevice): the
// single-precision names for float, so nothing is silently promoted to double
// on either side. The one set of such wrappers for every layer.

#include <cfloat>
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

// Floating-point limits for host and device code. std::numeric_limits' members
// are constexpr __host__ functions, which device code may call only under
// nvcc's --expt-relaxed-constexpr; these are the compiler builtins and
// <cfloat> constants behind them, so pdml's headers need no special flag.
template <class T>
PDML_HOST_DEVICE constexpr T quiet_nan_();
template <>
PDML_HOST_DEVICE constexpr double quiet_nan_<double>() { return __builtin_nan(""); }
template <>
PDML_HOST_DEVICE constexpr float quiet_nan_<float>() { return __builtin_nanf(""); }
template <class T>
PDML_HOST_DEVICE constexpr T infinity_();
template <>
PDML_HOST_DEVICE constexpr double infinity_<double>() { return __builtin_huge_val(); }
template <>
PDML_HOST_DEVICE constexpr float infinity_<float>() { return __builtin_huge_valf(); }
/// The smallest positive normal number (std::numeric_limits<T>::min()).
template <class T>
PDML_HOST_DEVICE constexpr T min_normal_();
template <>
PDML_HOST_DEVICE constexpr double min_normal_<double>() { return DBL_MIN; }
template <>
PDML_HOST_DEVICE constexpr float min_normal_<float>() { return FLT_MIN; }
template <class T>
PDML_HOST_DEVICE constexpr T epsilon_();
template <>
PDML_HOST_DEVICE constexpr double epsilon_<double>() { return DBL_EPSILON; }
template <>
PDML_HOST_DEVICE constexpr float epsilon_<float>() { return FLT_EPSILON; }

}  // namespace detail
}  // namespace pdml
