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
//   v >= 30           Debye uniform asymptotic expansion in 1/v (all x), with
//                     5..13 terms depending on v. The ratio uses the expansion
//                     of I_v'/I_v rearranged so that neither the ratio nor its
//                     complement is formed by a cancelling subtraction.
//   v < 30, x >= 40   Hankel large-argument expansion (<= 48 terms) of
//                     e^-x sqrt(2 pi x) I_v(x); the complement's coefficients
//                     are computed by their own exact recurrence.
//   v < 30, x < 40    log I: power series in (x/2)^2, summed as log1p(tail).
//                     ratio, complement and derivative: weighted means over
//                     the positive Kummer series of e^-x I_v (no cancellation).
// All loops have fixed iteration bounds.

#include <cmath>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/math/detail/debye_coefficients.hpp"

namespace pdml {
namespace detail {
namespace bessel {

/// Orders from this value on use the Debye expansion for every x.
constexpr double kDebyeMinOrder = 30.0;
/// Below kDebyeMinOrder, arguments from this value on use the Hankel expansion.
constexpr double kHankelMinArgument = 40.0;
/// Below kDebyeMinOrder, log I uses the power series for arguments below this.
constexpr double kSeriesMaxArgument = 40.0;
constexpr int kSeriesMaxTerms = 96;
constexpr int kKummerMaxSide = 768;
constexpr int kHankelMaxTerms = 48;

constexpr double kLogTwo = 0.69314718055994530941723212145817656807550013436;
constexpr double kLogTwoPi = 1.8378770664093454835606594728112352797227949472;
/// Arguments below this make x / v or x / 2 lose bits to gradual underflow.
constexpr double kTinyArgument = 1e-290;

PDML_HOST_DEVICE PDML_FORCE_INLINE double quiet_nan() {
  return std::numeric_limits<double>::quiet_NaN();
}
PDML_HOST_DEVICE PDML_FORCE_INLINE double infinity() {
  return std::numeric_limits<double>::infinity();
}

/// Pieces of the Debye expansion at order v and argument x = v z.
struct DebyeVariables {
  double z;    // x / v
  double s;    // sqrt(1 + z^2)
  double t;    // 1 / s
  double t2;   // t^2
  double tau;  // t / v: the expansion variable
};

PDML_HOST_DEVICE PDML_FORCE_INLINE DebyeVariables debye_variables(double v, double x) {
  DebyeVariables d;
  d.z = x / v;
  // z * z overflows only for absurd x; sqrt(1 + z^2) == z there.
  d.s = d.z < 1e150 ? ::sqrt(1.0 + d.z * d.z) : d.z;
  d.t = 1.0 / d.s;
  d.t2 = d.t * d.t;
  d.tau = d.t / v;
  return d;
}

/// Number of Debye terms that keeps the truncation error below 1e-17 for
/// every t in [0, 1] (the largest term of each family is reached near t = 1).
PDML_HOST_DEVICE PDML_FORCE_INLINE int debye_terms(double v) {
  return v >= 1000.0 ? 5 : v >= 300.0 ? 6 : v >= 100.0 ? 8 : v >= 50.0 ? 11 : 13;
}

/// sum_{k>=1} l_k(t) / v^k = log(sum_k u_k(t) / v^k).
PDML_HOST_DEVICE inline double debye_log_correction(double v, const DebyeVariables& d) {
  using namespace pdml::detail::debye;
  switch (debye_terms(v)) {
    case 5: return d.tau * log_series<5>(d.tau, d.t2);
    case 6: return d.tau * log_series<6>(d.tau, d.t2);
    case 8: return d.tau * log_series<8>(d.tau, d.t2);
    case 11: return d.tau * log_series<11>(d.tau, d.t2);
    default: return d.tau * log_series<13>(d.tau, d.t2);
  }
}

/// Q = sum_{k>=1} q_k(t) / v^k and, optionally, dQ/dt.
PDML_HOST_DEVICE inline void debye_ratio_correction(double v, const DebyeVariables& d, double* q,
                                                    double* dq_dt) {
  using namespace pdml::detail::debye;
  switch (debye_terms(v)) {
    case 5:
      *q = d.tau * ratio_series<5>(d.tau, d.t2);
      if (dq_dt) *dq_dt = ratio_deriv_series<5>(d.tau, d.t2) / v;
      break;
    case 6:
      *q = d.tau * ratio_series<6>(d.tau, d.t2);
      if (dq_dt) *dq_dt = ratio_deriv_series<6>(d.tau, d.t2) / v;
      break;
    case 8:
      *q = d.tau * ratio_series<8>(d.tau, d.t2);
      if (dq_dt) *dq_dt = ratio_deriv_series<8>(d.tau, d.t2) / v;
      break;
    case 11:
      *q = d.tau * ratio_series<11>(d.tau, d.t2);
      if (dq_dt) *dq_dt = ratio_deriv_series<11>(d.tau, d.t2) / v;
      break;
    default:
      *q = d.tau * ratio_series<13>(d.tau, d.t2);
      if (dq_dt) *dq_dt = ratio_deriv_series<13>(d.tau, d.t2) / v;
      break;
  }
}

/// log(z / (1 + s)), with z = x / v formed without underflow for tiny x.
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_z_over_one_plus_s(double v, double x,
                                                                      const DebyeVariables& d) {
  if (x < kTinyArgument) return ::log(x) - ::log(v) - ::log1p(d.s);
  return ::log(d.z / (1.0 + d.s));
}

/// Debye: log I_v(x) = v eta - log(2 pi v)/2 - log(s)/2 + sum_k l_k(t)/v^k,
/// eta = s + log(z / (1 + s)).
PDML_HOST_DEVICE inline double debye_log_bessel_i(double v, double x) {
  const DebyeVariables d = debye_variables(v, x);
  const double eta = d.s + debye_log_z_over_one_plus_s(v, x, d);
  return v * eta - 0.5 * (kLogTwoPi + ::log(v)) - 0.5 * ::log(d.s) + debye_log_correction(v, d);
}

/// Debye: log I_v(x) - v log x = v (s - log(1 + s)) - v log v - ... (no v log x
/// is formed, so the value is exact in the limit x -> 0).
PDML_HOST_DEVICE inline double debye_log_bessel_i_minus_v_log_x(double v, double x) {
  const DebyeVariables d = debye_variables(v, x);
  const double log_v = ::log(v);
  return v * (d.s - ::log1p(d.s) - log_v) - 0.5 * (kLogTwoPi + log_v) - 0.5 * ::log(d.s) +
         debye_log_correction(v, d);
}

/// Ratio r = I_{v+1}/I_v, its complement c = 1 - r and dr/dx.
struct RatioParts {
  double ratio;
  double complement;
  double derivative;
};

/// Debye: I_v'/I_v = (s / z) (1 + (1 - t^2) Q), hence
///   r = z t (1 / (1 + t) + Q),   c = t ((1 + 1 / (s + z)) / (1 + t) - z Q),
/// and with Q < 0 every sum below adds terms of one sign.
PDML_HOST_DEVICE inline RatioParts debye_ratio(double v, double x, bool want_derivative) {
  const DebyeVariables d = debye_variables(v, x);
  double q = 0.0;
  double dq_dt = 0.0;
  debye_ratio_correction(v, d, &q, want_derivative ? &dq_dt : nullptr);
  const double one_plus_t = 1.0 + d.t;
  const double bracket = 1.0 / one_plus_t + q;
  RatioParts out;
  out.ratio = d.z * d.t * bracket;
  out.complement = d.t * ((1.0 + 1.0 / (d.s + d.z)) / one_plus_t - d.z * q);
  out.derivative = 0.0;
  if (want_derivative) {
    // r(z) = z t B(t), dt/dz = -z t^3  =>  dr/dz = t^3 (B - z^2 t B'(t)),
    // B'(t) = -1 / (1 + t)^2 + Q'(t), and Q' < 0: all terms positive.
    const double z2t = d.z * d.z * d.t;
    out.derivative =
        d.t2 * d.t * (bracket + z2t * (1.0 / (one_plus_t * one_plus_t) - dq_dt)) / v;
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

PDML_HOST_DEVICE inline double series_log_bessel_i(double v, double x) {
  return v * log_half(x) - ::lgamma(v + 1.0) + ::log1p(series_tail(v, x));
}

PDML_HOST_DEVICE inline double series_log_bessel_i_minus_v_log_x(double v, double x) {
  return -v * kLogTwo - ::lgamma(v + 1.0) + ::log1p(series_tail(v, x));
}

/// Kummer: e^-x I_v(x) is proportional to M(v + 1/2, 2v + 1, 2x) =
/// sum_m T_m with T_m = (v+1/2)_m / (2v+1)_m (2x)^m / m! > 0, and
///   1 - r = E_T[(2v+1) / (2v+1+m)],   dr/dx = Cov_T(m, m / (2v+1+m)) / x,
/// weighted means of positive terms: no cancellation for any x. The sum
/// starts at the largest term (T normalized to 1 there, so nothing
/// overflows) and walks both ways until the terms drop below 1e-18 of the sum.
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

/// The index of the largest Kummer term T_m: the root of
/// (a + m) y = (b + m)(m + 1), i.e. m^2 + B m + C = 0, B = b + 1 - y,
/// C = b (1 - x), taken in its cancellation-free form.
PDML_HOST_DEVICE inline int kummer_peak(double b, double x, double y) {
  const double coef_b = b + 1.0 - y;
  const double coef_c = b * (1.0 - x);
  const double root_disc = ::sqrt(coef_b * coef_b - 4.0 * coef_c);
  const double m = coef_b > 0.0 ? -2.0 * coef_c / (coef_b + root_disc) : 0.5 * (root_disc - coef_b);
  return m > 0.0 ? static_cast<int>(m) : 0;
}

PDML_HOST_DEVICE inline KummerMoments kummer_moments(double v, double x) {
  const double a = v + 0.5;
  const double b = 2.0 * v + 1.0;
  const double y = 2.0 * x;
  const int m0 = kummer_peak(b, x, y);
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

/// Hankel: e^-x sqrt(2 pi x) I_mu(x) ~ 1 + sum_k (-1)^k a_k(mu) / x^k,
/// a_k(mu) = prod_{j<=k} (4 mu^2 - (2j-1)^2) / (8 j). The difference of the
/// two sums for v and v + 1 (the complement's numerator) has its own exact
/// recurrence, so no two nearly equal sums are ever subtracted.
struct HankelSums {
  double sum_v;    // sum_{k>=1} (-1)^k a_k(v) / x^k
  double sum_v1;   // same for v + 1
  double diff;     // (1 + sum_v) - (1 + sum_v1)
  double k_sum_v;  // sum_k k (-1)^k a_k(v) / x^k (for derivatives)
  double k_diff;   // sum_k k (terms of diff)
};

PDML_HOST_DEVICE inline HankelSums hankel_sums(double v, double x) {
  const double mu = 4.0 * v * v;
  const double mu1 = 4.0 * (v + 1.0) * (v + 1.0);
  const double half_two_v_plus_one = v + 0.5;
  double term_v = 1.0;
  double term_v1 = 1.0;
  double term_diff = 0.0;
  HankelSums h{0.0, 0.0, 0.0, 0.0, 0.0};
  for (int k = 1; k <= kHankelMaxTerms; ++k) {
    const double odd = 2.0 * k - 1.0;
    const double scale = 1.0 / (8.0 * k * x);
    // d_k = -(alpha_k / x) d_{k-1} + (2v+1) / (2 k x) f_{k-1}
    term_diff = -(mu - odd * odd) * scale * term_diff + half_two_v_plus_one / (k * x) * term_v1;
    term_v *= -(mu - odd * odd) * scale;
    term_v1 *= -(mu1 - odd * odd) * scale;
    h.sum_v += term_v;
    h.sum_v1 += term_v1;
    h.diff += term_diff;
    h.k_sum_v += k * term_v;
    h.k_diff += k * term_diff;
    if (::fabs(term_v) <= 1e-18 && ::fabs(term_v1) <= 1e-18 &&
        ::fabs(term_diff) <= 1e-18 * ::fabs(h.diff)) {
      break;
    }
  }
  return h;
}

PDML_HOST_DEVICE inline double hankel_log_bessel_i(double v, double x) {
  const HankelSums h = hankel_sums(v, x);
  return x - 0.5 * (kLogTwoPi + ::log(x)) + ::log1p(h.sum_v);
}

PDML_HOST_DEVICE inline RatioParts hankel_ratio(double v, double x) {
  const HankelSums h = hankel_sums(v, x);
  const double s = 1.0 + h.sum_v;
  RatioParts out;
  out.ratio = (1.0 + h.sum_v1) / s;
  out.complement = h.diff / s;
  // c = D / S with dD/dx = -k_diff / x, dS/dx = -k_sum_v / x; r' = -c'.
  out.derivative = (h.k_diff * s - h.diff * h.k_sum_v) / (x * s * s);
  return out;
}

PDML_HOST_DEVICE PDML_FORCE_INLINE bool use_debye(double v) { return v >= kDebyeMinOrder; }
/// Below kDebyeMinOrder the Hankel sums stay free of cancellation (first
/// coefficient (4v^2 - 1) / (8x) <= 1/4) from this argument on.
PDML_HOST_DEVICE PDML_FORCE_INLINE double hankel_min_argument(double v) {
  const double by_order = 2.0 * v * v;
  return by_order > kHankelMinArgument ? by_order : kHankelMinArgument;
}
PDML_HOST_DEVICE PDML_FORCE_INLINE bool use_series(double x) { return x < kSeriesMaxArgument; }

/// Orders below kDebyeMinOrder, between the series and Hankel regions: the
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
  if (use_debye(v)) return debye_log_bessel_i(v, x);
  if (use_series(x)) return series_log_bessel_i(v, x);
  if (x >= hankel_min_argument(v)) return hankel_log_bessel_i(v, x);
  double log_i = 0.0;
  shifted_ratio(v, x, &log_i);
  return log_i;
}

/// log I_v(x) - v log x for valid v >= 0, x > 0 finite.
PDML_HOST_DEVICE inline double log_bessel_i_minus_v_log_x_positive(double v, double x) {
  if (use_debye(v)) return debye_log_bessel_i_minus_v_log_x(v, x);
  if (use_series(x)) return series_log_bessel_i_minus_v_log_x(v, x);
  return log_bessel_i_positive(v, x) - v * ::log(x);
}

/// Which of ratio / complement / derivative a caller wants.
enum class RatioPart { ratio, complement, derivative };

/// The requested part for valid v >= 0, x > 0 finite.
PDML_HOST_DEVICE inline double ratio_part_positive(double v, double x, RatioPart part) {
  if (use_debye(v)) {
    const RatioParts d = debye_ratio(v, x, part == RatioPart::derivative);
    return part == RatioPart::ratio ? d.ratio
                                    : part == RatioPart::complement ? d.complement : d.derivative;
  }
  if (x >= hankel_min_argument(v)) {
    const RatioParts h = hankel_ratio(v, x);
    return part == RatioPart::ratio ? h.ratio
                                    : part == RatioPart::complement ? h.complement : h.derivative;
  }
  if (part == RatioPart::derivative) return kummer_moments(v, x).derivative;
  const double r = shifted_ratio(v, x, nullptr);
  if (part == RatioPart::ratio) return r;
  // 1 - r loses nothing while r <= 1/2; beyond, the Kummer mean is exact.
  return r <= 0.5 ? 1.0 - r : kummer_moments(v, x).complement;
}

PDML_HOST_DEVICE PDML_FORCE_INLINE bool invalid(double v, double x) {
  return !(v >= 0.0) || !(x >= 0.0) || v == infinity();
}

PDML_HOST_DEVICE inline double log_bessel_i(double v, double x) {
  if (invalid(v, x)) return quiet_nan();
  if (x == 0.0) return v == 0.0 ? 0.0 : -infinity();
  if (x == infinity()) return infinity();
  return log_bessel_i_positive(v, x);
}

PDML_HOST_DEVICE inline double ratio_part(double v, double x, RatioPart part) {
  if (invalid(v, x)) return quiet_nan();
  if (x == 0.0) {
    return part == RatioPart::ratio ? 0.0 : part == RatioPart::complement ? 1.0 : 0.5 / (v + 1.0);
  }
  if (x == infinity()) return part == RatioPart::ratio ? 1.0 : 0.0;
  return ratio_part_positive(v, x, part);
}

}  // namespace bessel
}  // namespace detail

/// log I_v(x), the log of the modified Bessel function of the first kind.
/// v >= 0, x >= 0; x = 0 gives 0 for v = 0 and -inf otherwise; NaN for
/// negative or NaN input.
template <class T>
PDML_HOST_DEVICE inline T log_bessel_i(T v, T x) {
  return static_cast<T>(detail::bessel::log_bessel_i(static_cast<double>(v), static_cast<double>(x)));
}

/// I_{v+1}(x) / I_v(x) in [0, 1); 0 at x = 0. Never formed from two logs.
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
