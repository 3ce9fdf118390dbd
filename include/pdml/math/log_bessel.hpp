// SPDX-License-Identifier: MIT
#pragma once
// Modified Bessel functions of the first kind in log space, and the ratio
// I_{v+1}(x) / I_v(x) with its complement, for v in [0, 4095], x in [0, 1e7]
// (and beyond), callable on host and device.
//
//   log_bessel_i(v, x)              = log I_v(x)
//   bessel_i_ratio(v, x)            = I_{v+1}(x) / I_v(x)            (0 at x = 0)
//   bessel_i_ratio_complement(v, x) = 1 - I_{v+1}(x) / I_v(x)        (1 at x = 0)
//
// Invalid input (negative or NaN v or x) gives NaN. Every evaluation is done in
// double; the float overloads round the double result once.
//
// Regions (docs/math.md, section "bessel", explains the choices and errors):
//   v >= 17 or x >= 32   Debye uniform asymptotic expansion, written in
//                        R = sqrt(v^2 + x^2) so it holds down to v = 0 for
//                        large x (where it is a resummed Hankel expansion);
//                        5..20 terms depending on v. The ratio and its
//                        complement come from the expansion of I_v'/I_v,
//                        rearranged so that neither is formed by a cancelling
//                        subtraction; near eta = 0 (x ~ 0.66 v) the leading
//                        term is carried in double-double.
//   v < 17 and x < 32    log I: power series in (x/2)^2, summed as log1p(tail).
//                        ratio: Debye at order v + n >= 17, then the stable
//                        backward recurrence. complement (where r > 1/2) and
//                        derivative: weighted means over the positive Kummer
//                        series of e^-x I_v (no cancellation).
// All loops have fixed iteration bounds.

#include <cmath>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/math/detail/debye_coefficients.hpp"
#include "pdml/math/detail/scalar.hpp"

namespace pdml {
namespace detail {
namespace bessel {

/// The Debye expansion (20 terms at most) is used where v >= kDebyeMinOrder
/// or x >= kDebyeMinArgument; the small corner below both uses series.
constexpr double kDebyeMinOrder = 17.0;
constexpr double kDebyeMinArgument = 32.0;
constexpr int kSeriesMaxTerms = 96;
constexpr int kKummerMaxSide = 768;

constexpr double kLogTwo = 0.69314718055994530941723212145817656807550013436;
constexpr double kLogTwoPi = 1.8378770664093454835606594728112352797227949472;
/// Arguments below this make x / v or x / 2 lose bits to gradual underflow.
constexpr double kTinyArgument = 1e-290;

PDML_HOST_DEVICE PDML_FORCE_INLINE double quiet_nan() {
  return pdml::detail::quiet_nan_<double>();
}
PDML_HOST_DEVICE PDML_FORCE_INLINE double infinity() {
  return pdml::detail::infinity_<double>();
}

/// Pieces of the Debye expansion at order v and argument x = v z, written
/// with R = sqrt(v^2 + x^2) = v sqrt(1 + z^2) so that nothing divides by v:
/// the expansion then also holds for small orders once x is large (where it
/// reduces to a resummed Hankel expansion), down to v = 0.
struct DebyeVariables {
  double radius;  // R = sqrt(v^2 + x^2)
  double t;       // v / R = 1 / sqrt(1 + z^2)
  double t2;      // t^2
  double tau;     // 1 / R = t / v: the expansion variable
};

PDML_HOST_DEVICE PDML_FORCE_INLINE DebyeVariables debye_variables(double v, double x) {
  DebyeVariables d;
  // v <= x or v > x: scale by the larger so the squares never overflow.
  const double big = v > x ? v : x;
  const double small = v > x ? x : v;
  const double ratio = small / big;
  d.radius = big * ::sqrt(1.0 + ratio * ratio);
  d.tau = 1.0 / d.radius;
  d.t = v * d.tau;
  d.t2 = d.t * d.t;
  return d;
}

/// Number of Debye terms that keeps the truncation error below 1e-17 for
/// every t in [0, 1] (the largest term of each family is reached near t = 1).
PDML_HOST_DEVICE PDML_FORCE_INLINE int debye_terms(double v) {
  return v >= 1000.0 ? 5
         : v >= 300.0 ? 6
         : v >= 100.0 ? 8
         : v >= 50.0  ? 11
         : v >= 30.0  ? 13
                      : 20;
}

/// sum_{k>=1} l_k(t) / v^k = log(sum_k u_k(t) / v^k).
PDML_HOST_DEVICE inline double debye_log_correction(double v, const DebyeVariables& d) {
  using namespace pdml::detail::debye;
  switch (debye_terms(v)) {
    case 5: return d.tau * log_series<5>(d.tau, d.t2);
    case 6: return d.tau * log_series<6>(d.tau, d.t2);
    case 8: return d.tau * log_series<8>(d.tau, d.t2);
    case 11: return d.tau * log_series<11>(d.tau, d.t2);
    case 13: return d.tau * log_series<13>(d.tau, d.t2);
    default: return d.tau * log_series<20>(d.tau, d.t2);
  }
}

/// Q = sum_{k>=1} q_k(t) / v^k and, optionally, sum_k tau^(k-1) S_k(t^2)
/// = v Q'(t) (the derivative family, without its 1/v).
PDML_HOST_DEVICE inline void debye_ratio_correction(double v, const DebyeVariables& d, double* q,
                                                    double* v_dq_dt) {
  using namespace pdml::detail::debye;
  switch (debye_terms(v)) {
    case 5:
      *q = d.tau * ratio_series<5>(d.tau, d.t2);
      if (v_dq_dt) *v_dq_dt = ratio_deriv_series<5>(d.tau, d.t2);
      break;
    case 6:
      *q = d.tau * ratio_series<6>(d.tau, d.t2);
      if (v_dq_dt) *v_dq_dt = ratio_deriv_series<6>(d.tau, d.t2);
      break;
    case 8:
      *q = d.tau * ratio_series<8>(d.tau, d.t2);
      if (v_dq_dt) *v_dq_dt = ratio_deriv_series<8>(d.tau, d.t2);
      break;
    case 11:
      *q = d.tau * ratio_series<11>(d.tau, d.t2);
      if (v_dq_dt) *v_dq_dt = ratio_deriv_series<11>(d.tau, d.t2);
      break;
    case 13:
      *q = d.tau * ratio_series<13>(d.tau, d.t2);
      if (v_dq_dt) *v_dq_dt = ratio_deriv_series<13>(d.tau, d.t2);
      break;
    default:
      *q = d.tau * ratio_series<20>(d.tau, d.t2);
      if (v_dq_dt) *v_dq_dt = ratio_deriv_series<20>(d.tau, d.t2);
      break;
  }
}

/// log(x / (v + R)), formed without underflow for tiny x.
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_x_over_v_plus_r(double v, double x,
                                                                    const DebyeVariables& d) {
  if (x < kTinyArgument) return ::log(x) - ::log(v + d.radius);
  return ::log(x / (v + d.radius));
}

/// a + b = sum + error exactly (Knuth's TwoSum).
PDML_HOST_DEVICE PDML_FORCE_INLINE double two_sum(double a, double b, double* error) {
  const double sum = a + b;
  const double b_virtual = sum - a;
  *error = (a - (sum - b_virtual)) + (b - b_virtual);
  return sum;
}

/// v eta = R + v log(x / (v + R)) to about one rounding of v log(...):
/// R and (v + R) / x are carried as double-doubles, so the only error left is
/// that of the library log. Used where v eta is small against its two terms
/// (z = x / v near 0.66, where eta changes sign); there x <= 4 v, so the
/// squares cannot overflow.
PDML_HOST_DEVICE inline double debye_v_eta_compensated(double v, double x) {
  const double v2 = v * v;
  const double x2 = x * x;
  double square_lo = 0.0;
  const double square = two_sum(v2, x2, &square_lo);
  square_lo += ::fma(v, v, -v2) + ::fma(x, x, -x2);
  const double radius = ::sqrt(square);
  const double radius_lo = (::fma(-radius, radius, square) + square_lo) / (2.0 * radius);
  double sum_lo = 0.0;
  const double sum = two_sum(v, radius, &sum_lo);
  sum_lo += radius_lo;
  const double w = sum / x;  // (v + R) / x = w + w_lo
  const double w_lo = (::fma(-w, x, sum) + sum_lo) / x;
  const double log_w = ::log(w);
  const double log_w_lo = w_lo / w;
  const double product = v * log_w;
  const double product_lo = ::fma(v, log_w, -product) + v * log_w_lo;
  return (radius - product) + (radius_lo - product_lo);
}

/// Band of z = x / v where debye_v_eta_compensated is used.
PDML_HOST_DEVICE PDML_FORCE_INLINE bool near_eta_zero(double v, double x) {
  return x >= 0.25 * v && x <= 2.0 * v;
}

/// Debye: log I_v(x) = v eta - log(2 pi v)/2 - log(1 + z^2)/4 + sum_k l_k(t)/v^k
/// with v eta = R + v log(x / (v + R)) and the two logs = -log(2 pi R)/2.
PDML_HOST_DEVICE inline double debye_log_bessel_i(double v, double x) {
  const DebyeVariables d = debye_variables(v, x);
  const double v_eta = near_eta_zero(v, x) ? debye_v_eta_compensated(v, x)
                                           : d.radius + v * debye_log_x_over_v_plus_r(v, x, d);
  return v_eta - 0.5 * (kLogTwoPi + ::log(d.radius)) + debye_log_correction(v, d);
}

/// Debye: log I_v(x) - v log x = R - v log(v + R) - log(2 pi R)/2 + ...: no
/// v log x is formed, so the value is exact in the limit x -> 0.
PDML_HOST_DEVICE inline double debye_log_bessel_i_minus_v_log_x(double v, double x) {
  const DebyeVariables d = debye_variables(v, x);
  return d.radius - v * ::log(v + d.radius) - 0.5 * (kLogTwoPi + ::log(d.radius)) +
         debye_log_correction(v, d);
}

/// Ratio r = I_{v+1}/I_v, its complement c = 1 - r and dr/dx.
struct RatioParts {
  double ratio;
  double complement;
  double derivative;
};

/// Debye: I_v'/I_v = (s / z) (1 + (1 - t^2) Q), hence, with 1/(1 + t) = R/(R + v),
///   r = (x / R) (R / (R + v) + Q),
///   c = v (1 + v / (R + x)) / (R + v) - (x / R) Q,
/// and as Q < 0 every sum adds terms of one sign: no cancellation for any x.
PDML_HOST_DEVICE inline RatioParts debye_ratio(double v, double x, bool want_derivative) {
  const DebyeVariables d = debye_variables(v, x);
  double q = 0.0;
  double v_dq_dt = 0.0;
  debye_ratio_correction(v, d, &q, want_derivative ? &v_dq_dt : nullptr);
  const double r_over_r_plus_v = d.radius / (d.radius + v);  // 1 / (1 + t)
  const double bracket = r_over_r_plus_v + q;
  const double x_over_r = x * d.tau;
  RatioParts out;
  out.ratio = x_over_r * bracket;
  out.complement = v * (1.0 + v / (d.radius + x)) / (d.radius + v) - x_over_r * q;
  out.derivative = 0.0;
  if (want_derivative) {
    // r(z) = z t B(t), dt/dz = -z t^3  =>  dr/dx = t^3 (B - z^2 t B'(t)) / v with
    // B' = -1/(1+t)^2 + Q'(t); in R and x (Q' < 0, every term positive):
    // dr/dx = (v^2 B R + v x^2 / (1+t)^2 - x^2 v Q') / R^4.
    if (x < 1e100) {
      const double x2 = x * x;
      const double numerator = v * v * bracket * d.radius +
                               v * x2 * (r_over_r_plus_v * r_over_r_plus_v) - x2 * v_dq_dt;
      // R^4 = (v^2 + x^2)^2 from the exact inputs: fewer roundings than tau^4.
      const double square = v * v + x2;
      out.derivative = numerator / square / square;
    } else {
      // The same, scaled by R^-4 term by term so nothing overflows.
      const double x_over_r2 = x_over_r * x_over_r;
      out.derivative = d.tau * d.tau *
                       (v * v * bracket * d.tau +
                        x_over_r2 * (v * r_over_r_plus_v * r_over_r_plus_v - v_dq_dt));
    }
  }
  return out;
}

/// Power series: log I_v(x) - v log(x/2) + lgamma(v + 1) = log(1 + tail),
/// tail = sum_{k>=1} (x^2/4)^k / (k! (v+1)_k). Returns the tail.
PDML_HOST_DEVICE inline double series_tail(double v, double x) {
  const double quarter_x2 = 0.25 * x * x;
  double term = 1.0;
  double tail = 0.0;
  for (int k = 1; k <= kSeriesMaxTerms; ++k) {
    term *= quarter_x2 / (k * (v + k));
    tail += term;
    if (term <= 1e-17 * tail) break;
  }
  return tail;
}

PDML_HOST_DEVICE PDML_FORCE_INLINE double log_half(double x) {
  return x < kTinyArgument ? ::log(x) - kLogTwo : ::log(0.5 * x);
}

/// log((x/2)^v / Gamma(v + 1)). For x >= 1 the two logs of the direct form
/// cancel (both ~ v log v) and leave their rounding in a small result; there
/// v = n + f is split and (x/2)^n / ((f+1)...(f+n)) is formed as one product
/// of factors near 1, so only f log(x/2) - lgamma(1 + f) (both small) remain.
PDML_HOST_DEVICE inline double series_log_prefactor(double v, double x) {
  if (x < 1.0) return v * log_half(x) - ::lgamma(v + 1.0);
  const int n = static_cast<int>(v);  // v < kDebyeMinOrder here: n is small
  const double f = v - n;
  const double half_x = 0.5 * x;
  double product = 1.0;
  for (int j = 1; j <= n; ++j) product *= half_x / (f + j);
  return f * ::log(half_x) - ::lgamma(1.0 + f) + ::log(product);
}

PDML_HOST_DEVICE inline double series_log_bessel_i(double v, double x) {
  return series_log_prefactor(v, x) + ::log1p(series_tail(v, x));
}

PDML_HOST_DEVICE inline double series_log_bessel_i_minus_v_log_x(double v, double x) {
  return -v * kLogTwo - ::lgamma(v + 1.0) + ::log1p(series_tail(v, x));
}

/// Kummer: e^-x I_v(x) is proportional to M(v + 1/2, 2v + 1, 2x) =
/// sum_m T_m with T_m = (v+1/2)_m / (2v+1)_m (2x)^m / m! > 0, and
///   1 - r = E_T[(2v+1) / (2v+1+m)],   dr/dx = Cov_T(m, m / (2v+1+m)) / x,
/// weighted means of positive terms: no cancellation for any x. The sum
/// starts at the mean index (T normalized to 1 there, so nothing overflows)
/// and walks both ways until the terms drop below 1e-18 of the sum.
struct KummerMoments {
  double complement;
  double derivative;
};

/// Neumaier's compensated sum: long sums of positive terms keep their last bit.
struct CompensatedSum {
  double sum = 0.0;
  double carry = 0.0;
  PDML_HOST_DEVICE PDML_FORCE_INLINE void add(double x) {
    const double t = sum + x;
    carry += ::fabs(sum) >= ::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  PDML_HOST_DEVICE PDML_FORCE_INLINE double value() const { return sum + carry; }
};

/// The integer nearest to the mean index of the Kummer weights T_m. The
/// terms stop growing at the root m* of (a + m) y = (b + m)(m + 1), i.e.
/// m^2 + B m + C = 0 with B = b + 1 - y, C = b (1 - x) (taken in its
/// cancellation-free form); as for a Poisson law, the mean is near m* + 1.
/// Centering the moments there keeps E[m - m0] small, so the covariance
/// E[dm dy] - E[dm] E[dy] does not cancel.
PDML_HOST_DEVICE inline int kummer_center(double b, double x, double y) {
  const double coef_b = b + 1.0 - y;
  const double coef_c = b * (1.0 - x);
  const double root_disc = ::sqrt(coef_b * coef_b - 4.0 * coef_c);
  const double m = coef_b > 0.0 ? -2.0 * coef_c / (coef_b + root_disc) : 0.5 * (root_disc - coef_b);
  const double center = m + 1.5;
  return center > 0.0 ? static_cast<int>(center) : 0;
}

PDML_HOST_DEVICE inline KummerMoments kummer_moments(double v, double x) {
  const double a = v + 0.5;
  const double b = 2.0 * v + 1.0;
  const double y = 2.0 * x;
  const int m0 = kummer_center(b, x, y);
  const double b_m0 = b + m0;
  // Sums of T, T w, T dm, T dy, T dm dy with dm = m - m0 and
  // dy = m/(b+m) - m0/(b+m0) = b dm / ((b+m)(b+m0)), both exact in sign.
  CompensatedSum sum;
  CompensatedSum sum_w;
  CompensatedSum sum_dm_dy;
  sum.add(1.0);
  sum_w.add(b / b_m0);
  double sum_dm = 0.0;
  double sum_dy = 0.0;
  double term = 1.0;
  for (int i = 1; i <= kKummerMaxSide; ++i) {
    const int m = m0 + i;
    term *= (a + (m - 1)) * y / ((b + (m - 1)) * m);
    const double inv = 1.0 / (b + m);
    const double dy = b * i * inv / b_m0;
    // The covariance can be far below the sum (x -> 0): both must converge.
    if (term < 1e-18 * sum.sum && term * (i * dy) < 1e-18 * sum_dm_dy.sum) break;
    sum.add(term);
    sum_w.add(term * (b * inv));
    sum_dm += term * i;
    sum_dy += term * dy;
    sum_dm_dy.add(term * (i * dy));
  }
  term = 1.0;
  for (int i = 1; i <= kKummerMaxSide && i <= m0; ++i) {
    const int m = m0 - i;
    term *= (b + m) * (m + 1) / ((a + m) * y);
    const double inv = 1.0 / (b + m);
    const double dy = b * i * inv / b_m0;  // magnitude; dm = -i, dy = -this
    if (term < 1e-18 * sum.sum && term * (i * dy) < 1e-18 * sum_dm_dy.sum) break;
    sum.add(term);
    sum_w.add(term * (b * inv));
    sum_dm -= term * i;
    sum_dy -= term * dy;
    sum_dm_dy.add(term * (i * dy));
  }
  KummerMoments out;
  const double inv_sum = 1.0 / sum.value();
  out.complement = sum_w.value() * inv_sum;
  out.derivative =
      (sum_dm_dy.value() * inv_sum - (sum_dm * inv_sum) * (sum_dy * inv_sum)) / x;
  return out;
}

PDML_HOST_DEVICE PDML_FORCE_INLINE bool use_debye(double v, double x) {
  return v >= kDebyeMinOrder || x >= kDebyeMinArgument;
}
/// Small corner (v < kDebyeMinOrder, x < kDebyeMinArgument): the
/// order is shifted up to v + n >= kDebyeMinOrder, where Debye holds, and
/// brought back by the backward recurrence 1/r_{j-1} = 2j/x + r_j, which only
/// adds positive numbers (stable). Returns r_v and, if asked, log I_v(x).
PDML_HOST_DEVICE inline double shifted_ratio(double v, double x, double* log_i) {
  const int n = static_cast<int>(::ceil(kDebyeMinOrder - v));
  const double top = v + n;
  double r = debye_ratio(top, x, false).ratio;
  double product = 1.0;  // prod_j I_{j-1} / I_j over the n steps
  for (int j = n; j >= 1; --j) {
    const double inverse = 2.0 * (v + j) / x + r;
    r = 1.0 / inverse;
    product *= inverse;
  }
  if (log_i) *log_i = debye_log_bessel_i(top, x) + ::log(product);
  return r;
}

/// log I_v(x) for valid v >= 0, x > 0 finite.
PDML_HOST_DEVICE inline double log_bessel_i_positive(double v, double x) {
  if (use_debye(v, x)) return debye_log_bessel_i(v, x);
  return series_log_bessel_i(v, x);
}

/// log I_v(x) - v log x for valid v >= 0, x > 0 finite.
PDML_HOST_DEVICE inline double log_bessel_i_minus_v_log_x_positive(double v, double x) {
  if (use_debye(v, x)) return debye_log_bessel_i_minus_v_log_x(v, x);
  return series_log_bessel_i_minus_v_log_x(v, x);
}

/// Which of ratio / complement / derivative a caller wants.
enum class RatioPart { ratio, complement, derivative };

/// The requested part for valid v >= 0, x > 0 finite.
PDML_HOST_DEVICE inline double ratio_part_positive(double v, double x, RatioPart part) {
  if (use_debye(v, x)) {
    const RatioParts d = debye_ratio(v, x, part == RatioPart::derivative);
    return part == RatioPart::ratio ? d.ratio
                                    : part == RatioPart::complement ? d.complement : d.derivative;
  }
  if (part == RatioPart::derivative) return kummer_moments(v, x).derivative;
  const double r = shifted_ratio(v, x, nullptr);
  if (part == RatioPart::ratio) return r;
  // 1 - r loses nothing while r <= 1/2; beyond, the Kummer mean is exact.
  return r <= 0.5 ? 1.0 - r : kummer_moments(v, x).complement;
}

/// Largest supported order: above ~1e33 log I is lost at the smallest arguments and
/// above ~1e153 v^2 + x^2 overflows (found by fuzz/fuzz_bessel.cpp); orders of a vMF
/// on S^{p-1} are p/2 - 1 < 2^30. Larger orders give NaN, as negative ones do.
constexpr double kMaxOrder = 1e30;

PDML_HOST_DEVICE PDML_FORCE_INLINE bool invalid(double v, double x) {
  return !(v >= 0.0) || !(x >= 0.0) || !(v <= kMaxOrder);
}

PDML_HOST_DEVICE inline double log_bessel_i(double v, double x) {
  if (invalid(v, x)) return quiet_nan();
  if (x == 0.0) return v == 0.0 ? 0.0 : -infinity();
  if (x == infinity()) return infinity();
  return log_bessel_i_positive(v, x);
}

/// Below this argument r = x / (2v + 2) (1 - x^2 / (4 (v + 1)(v + 2)) + ...) is its
/// first term to double precision (the correction is below 1e-300), 1 - r rounds to 1
/// and dr/dx to its limit 1 / (2v + 2): used there rather than the general paths,
/// which lose the subnormal range (2v / x overflows).
constexpr double kRatioLeadingTermArgument = 1e-150;

PDML_HOST_DEVICE inline double ratio_part(double v, double x, RatioPart part) {
  if (invalid(v, x)) return quiet_nan();
  if (x < kRatioLeadingTermArgument) {
    const double slope = 0.5 / (v + 1.0);
    return part == RatioPart::ratio ? x * slope
                                    : part == RatioPart::complement ? 1.0 - x * slope : slope;
  }
  if (x == infinity()) return part == RatioPart::ratio ? 1.0 : 0.0;
  // Outside the documented accuracy domain the expansions may round a hair past
  // the range of a ratio of positive Bessel functions: clamp to it.
  const double value = ratio_part_positive(v, x, part);
  if (part == RatioPart::derivative) return value < 0.0 ? 0.0 : value;
  return value < 0.0 ? 0.0 : (value > 1.0 ? 1.0 : value);
}

}  // namespace bessel
}  // namespace detail

/// log I_v(x), the log of the modified Bessel function of the first kind.
/// 0 <= v <= 1e30, x >= 0; x = 0 gives 0 for v = 0 and -inf otherwise; NaN for
/// negative or NaN input and for orders above 1e30.
template <class T>
PDML_HOST_DEVICE inline T log_bessel_i(T v, T x) {
  return static_cast<T>(detail::bessel::log_bessel_i(static_cast<double>(v), static_cast<double>(x)));
}

/// I_{v+1}(x) / I_v(x) in [0, 1] (0 <= v <= 1e30, x >= 0; NaN otherwise); 0 at
/// x = 0, x / (2v + 2) below x = 1e-150. Never formed from two logs.
template <class T>
PDML_HOST_DEVICE inline T bessel_i_ratio(T v, T x) {
  return static_cast<T>(detail::bessel::ratio_part(static_cast<double>(v), static_cast<double>(x),
                                                   detail::bessel::RatioPart::ratio));
}

/// 1 - I_{v+1}(x) / I_v(x), accurate to relative precision also where the
/// ratio is close to 1 (x >> v); 1 at x = 0.
template <class T>
PDML_HOST_DEVICE inline T bessel_i_ratio_complement(T v, T x) {
  return static_cast<T>(detail::bessel::ratio_part(static_cast<double>(v), static_cast<double>(x),
                                                   detail::bessel::RatioPart::complement));
}

/// d/dx [I_{v+1}(x) / I_v(x)] = 1 - r^2 - (2v + 1) r / x, computed without
/// that formula's cancellation; 1 / (2v + 2) at x = 0.
template <class T>
PDML_HOST_DEVICE inline T bessel_i_ratio_derivative(T v, T x) {
  return static_cast<T>(detail::bessel::ratio_part(static_cast<double>(v), static_cast<double>(x),
                                                   detail::bessel::RatioPart::derivative));
}

}  // namespace pdml
