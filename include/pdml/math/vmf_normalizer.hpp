// SPDX-License-Identifier: MIT
#pragma once
// The von Mises-Fisher log-normalizer on the sphere S^{p-1} and its
// derivatives, callable on host and device:
//
//   log C_p(k) = (p/2 - 1) log k - (p/2) log(2 pi) - log I_{p/2-1}(k)
//   d/dk log C_p(k) = -A_p(k),     A_p(k) = I_{p/2}(k) / I_{p/2-1}(k)
//   A_p'(k) = 1 - A_p^2 - (p - 1) A_p / k
//
// p in [2, 8192] (any p >= 2 works), kappa in [0, 1e7]. p < 2, negative or NaN
// kappa give NaN. Every quantity is continuous at kappa = 0 and computed there
// from its limit; log C_p never subtracts (p/2 - 1) log k from log I, which
// would cancel for small k.

#include <cmath>

#include "pdml/config.hpp"
#include "pdml/math/log_bessel.hpp"

namespace pdml {
namespace detail {
namespace vmf {

constexpr double kLogPi = 1.1447298858494001741434273513530587116472948129;

PDML_HOST_DEVICE PDML_FORCE_INLINE bool invalid(int p, double kappa) {
  return p < 2 || !(kappa >= 0.0);
}

PDML_HOST_DEVICE inline double log_normalizer(int p, double kappa) {
  if (invalid(p, kappa)) return bessel::quiet_nan();
  const double half_p = 0.5 * p;
  if (kappa == 0.0) return ::lgamma(half_p) - bessel::kLogTwo - half_p * kLogPi;
  if (kappa == bessel::infinity()) return -bessel::infinity();
  const double v = half_p - 1.0;
  return -half_p * bessel::kLogTwoPi - bessel::log_bessel_i_minus_v_log_x_positive(v, kappa);
}

PDML_HOST_DEVICE inline double mean_resultant_part(int p, double kappa, bessel::RatioPart part) {
  if (p < 2) return bessel::quiet_nan();
  return bessel::ratio_part(0.5 * p - 1.0, kappa, part);
}

}  // namespace vmf
}  // namespace detail

/// log C_p(kappa), the log-normalizer of vMF(mu, kappa) on S^{p-1} with
/// respect to the surface measure; at kappa = 0 it is
/// lgamma(p/2) - log 2 - (p/2) log pi (minus the log of the sphere's area).
template <class T>
PDML_HOST_DEVICE inline T vmf_log_normalizer(int p, T kappa) {
  return static_cast<T>(detail::vmf::log_normalizer(p, static_cast<double>(kappa)));
}

/// A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa) = E[mu^T x] = -d/dk log C_p.
template <class T>
PDML_HOST_DEVICE inline T vmf_mean_resultant(int p, T kappa) {
  return static_cast<T>(detail::vmf::mean_resultant_part(p, static_cast<double>(kappa),
                                                         detail::bessel::RatioPart::ratio));
}

/// 1 - A_p(kappa), accurate where A_p is close to 1 (kappa >> p).
template <class T>
PDML_HOST_DEVICE inline T vmf_mean_resultant_complement(int p, T kappa) {
  return static_cast<T>(detail::vmf::mean_resultant_part(p, static_cast<double>(kappa),
                                                         detail::bessel::RatioPart::complement));
}

/// A_p'(kappa) = 1 - A_p^2 - (p - 1) A_p / kappa (> 0), with right limit 1/p
/// at kappa = 0, evaluated without that formula's cancellation.
template <class T>
PDML_HOST_DEVICE inline T vmf_mean_resultant_derivative(int p, T kappa) {
  return static_cast<T>(detail::vmf::mean_resultant_part(p, static_cast<double>(kappa),
                                                         detail::bessel::RatioPart::derivative));
}

}  // namespace pdml
