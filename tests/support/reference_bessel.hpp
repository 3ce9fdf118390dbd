// SPDX-License-Identifier: MIT
#pragma once
// High-precision references for Bessel functions and vMF normalizers, shared
// by tests and tools. They are computed by Boost.Math's cyl_bessel_i in
// boost::multiprecision::cpp_bin_float_50 (50 decimal digits, exponent range
// wide enough that nothing overflows on the pdml domain), from the exact
// double inputs; nothing here calls pdml. The accuracy of this reference was
// spot-checked against mpmath (45 digits) across the domain.
//
// Cost: about 0.1-1 ms per I_v in Release, up to ~60 ms for v ~ 4000 with
// x ~ 1e7; callers keep the number of reference points small.

#include <boost/math/special_functions/bessel.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <limits>

namespace pdml_test {

using HighPrecision = boost::multiprecision::cpp_bin_float_50;

/// I_v(x) to ~50 digits (v, x >= 0).
inline HighPrecision reference_bessel_i(double v, double x) {
  return boost::math::cyl_bessel_i(HighPrecision(v), HighPrecision(x));
}

/// Everything the Bessel tests compare, each rounded once to double.
struct BesselReference {
  double log_i;       // log I_v(x)
  double ratio;       // I_{v+1}(x) / I_v(x)
  double complement;  // 1 - ratio
  double derivative;  // d ratio / dx = 1 - r^2 - (2v + 1) r / x
};

/// All four quantities at (v, x), x > 0.
inline BesselReference reference_bessel(double v, double x) {
  const HighPrecision hv(v);
  const HighPrecision hx(x);
  const HighPrecision i_v = boost::math::cyl_bessel_i(hv, hx);
  const HighPrecision i_v1 = boost::math::cyl_bessel_i(hv + 1, hx);
  const HighPrecision r = i_v1 / i_v;
  BesselReference out;
  out.log_i = static_cast<double>(log(i_v));
  out.ratio = static_cast<double>(r);
  out.complement = static_cast<double>(1 - r);
  out.derivative = static_cast<double>(1 - r * r - (2 * hv + 1) * r / hx);
  return out;
}

/// log I_v(x) only.
inline double reference_log_bessel_i(double v, double x) {
  return static_cast<double>(log(reference_bessel_i(v, x)));
}

/// log C_p(kappa) = (p/2 - 1) log k - (p/2) log(2 pi) - log I_{p/2-1}(k), kappa > 0.
inline double reference_vmf_log_normalizer(int p, double kappa) {
  const HighPrecision half_p = HighPrecision(p) / 2;
  const HighPrecision k(kappa);
  const HighPrecision two_pi = 2 * boost::math::constants::pi<HighPrecision>();
  return static_cast<double>((half_p - 1) * log(k) - half_p * log(two_pi) -
                             log(boost::math::cyl_bessel_i(half_p - 1, k)));
}

/// log C_p(0) = lgamma(p/2) - log 2 - (p/2) log pi.
inline double reference_vmf_log_normalizer_at_zero(int p) {
  const HighPrecision half_p = HighPrecision(p) / 2;
  return static_cast<double>(boost::math::lgamma(half_p) - log(HighPrecision(2)) -
                             half_p * log(boost::math::constants::pi<HighPrecision>()));
}

/// Error of `value` against `reference` in units of `eps` relative to
/// max(|reference|, floor); infinities must match exactly.
inline double error_in_eps(double value, double reference, double floor, double eps) {
  if (std::isinf(reference) || std::isinf(value)) {
    return value == reference ? 0.0 : std::numeric_limits<double>::infinity();
  }
  if (std::isnan(value) || std::isnan(reference)) return std::numeric_limits<double>::infinity();
  const double scale = std::fmax(std::fabs(reference), floor);
  return std::fabs(value - reference) / (scale * eps);
}

}  // namespace pdml_test
