// SPDX-License-Identifier: MIT
#pragma once
// Independent references for the vMF marginal w = mu^T x on S^{p-1}, whose
// density is f(w) ~ (1 - w^2)^((p-3)/2) exp(kappa w). Everything is computed
// by Boost quadrature in the variable y = 1 - w in [0, 2] with density
// g(y) ~ (y (2 - y))^a exp(-kappa y), a = (p - 3) / 2, never by pdml.
//  - VmfMarginalTable: long double CDF of y at sorted sample points (for KS
//    tests), plus the mean and variance of w;
//  - vmf_dw_dkappa_reference: 50-digit central finite difference of the CDF
//    in kappa divided by the density (the implicit-reparameterisation
//    derivative, from its definition);
//  - vmf_dw_dkappa_integral_reference<Real>: the tail-integral form of the
//    same derivative by tanh-sinh quadrature in Real (long double or a
//    Boost.Multiprecision type), with A_p(kappa) from Boost's Bessel I.

#include <algorithm>
#include <boost/math/quadrature/gauss.hpp>
#include <boost/math/quadrature/tanh_sinh.hpp>
#include <boost/math/special_functions/bessel.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace pdml_test {

/// argmax of log g(y) = a log(y (2 - y)) - kappa y over (0, 2) for a >= 0,
/// by golden-section search (log g is concave); 0 for a < 0 (p = 2).
inline long double vmf_marginal_peak_y(int p, long double kappa) {
  const long double a = 0.5L * static_cast<long double>(p - 3);
  if (a < 0) return 0;
  if (a == 0) return 0;
  auto logg = [&](long double y) { return a * std::log(y * (2 - y)) - kappa * y; };
  long double lo = 0, hi = 2;
  const long double ratio = 0.6180339887498948482L;
  for (int i = 0; i < 200; ++i) {
    const long double m1 = hi - ratio * (hi - lo);
    const long double m2 = lo + ratio * (hi - lo);
    if (logg(m1) < logg(m2)) {
      lo = m1;
    } else {
      hi = m2;
    }
  }
  return 0.5L * (lo + hi);
}

/// Long double CDF of y = 1 - w evaluated at given points, and the moments
/// of w, for one (p, kappa).
class VmfMarginalTable {
 public:
  /// `tolerance`: relative tolerance of the tanh-sinh integrals.
  VmfMarginalTable(int p, long double kappa, long double tolerance = 1e-12L)
      : a_(0.5L * (p - 3)), kappa_(kappa), tolerance_(tolerance) {
    peak_ = vmf_marginal_peak_y(p, kappa);
    shift_ = a_ >= 0 && peak_ > 0 ? logg(peak_) : 0;
  }

  /// E[w] = A_p(kappa) and Var[w] = A_p'(kappa) (central second moment of y,
  /// so nothing cancels when w is concentrated).
  long double mean_w() const { return 1 - mean_y(); }
  long double mean_y() const { return integrate(0, 2, 1) / integrate(0, 2, 0); }
  long double variance_w() const {
    const long double z = integrate(0, 2, 0);
    const long double centre = integrate(0, 2, 1) / z;
    return integrate(0, 2, 3, centre) / z;
  }

  /// F(w) = P(W <= w) = P(Y >= y) at y = 1 - w, and the density of w there.
  long double upper_fraction(long double y, long double& density_w) const {
    const long double z = integrate(0, 2, 0);
    density_w = density(y, 0) / z;
    return integrate(y, 2, 0) / z;
  }

  /// 1 - F(w) = P(Y < y), accurate when it is small.
  long double lower_fraction(long double y) const {
    return integrate(0, y, 0) / integrate(0, 2, 0);
  }

  /// P(Y <= y_i) for each y_i of the ascending vector `ys`.
  std::vector<double> cdf_at_sorted(const std::vector<double>& ys) const {
    std::vector<long double> pieces(ys.size() + 1);
    long double prev = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      const long double y = std::min<long double>(std::max<long double>(ys[i], 0), 2);
      pieces[i] = piece(prev, y, i == 0);
      prev = y;
    }
    pieces[ys.size()] = piece(prev, 2, true);
    long double total = 0;
    for (long double v : pieces) total += v;
    std::vector<double> cdf(ys.size());
    long double running = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      running += pieces[i];
      cdf[i] = static_cast<double>(running / total);
    }
    return cdf;
  }

 private:
  long double logg(long double y) const {
    const long double base = a_ == 0 ? 0 : a_ * std::log(y * (2 - y));
    return base - kappa_ * y;
  }
  // moment 0: g; 1: y g; 3: (y - centre)^2 g.
  long double density(long double y, int moment, long double centre = 0) const {
    if (y <= 0 || y >= 2) return 0;
    const long double v = std::exp(logg(y) - shift_);
    return moment == 0 ? v : (moment == 1 ? y * v : (y - centre) * (y - centre) * v);
  }
  // Integral over [lo, hi] of y^moment g(y) (shifted), split at y = 1 and at
  // the peak; y = s^2 on [0, 1] and y = 2 - s^2 on [1, 2] make the endpoint
  // behaviour (y (2 - y))^a smooth (p = 2: integrable singularities).
  long double integrate(long double lo, long double hi, int moment, long double c = 0) const {
    if (!(hi > lo)) return 0;
    if (lo < 1 && hi > 1) return integrate(lo, 1, moment, c) + integrate(1, hi, moment, c);
    if (peak_ > lo * (1 + 1e-9L) && peak_ < hi * (1 - 1e-9L) && std::abs(peak_ - 1) > 1e-9L) {
      return integrate(lo, peak_, moment, c) + integrate(peak_, hi, moment, c);
    }
    boost::math::quadrature::tanh_sinh<long double> rule(12);
    if (hi <= 1) {
      auto f = [&](long double t) { return 2 * t * density(t * t, moment, c); };
      return rule.integrate(f, std::sqrt(lo), std::sqrt(hi), tolerance_);
    }
    auto f = [&](long double t) { return 2 * t * density(2 - t * t, moment, c); };
    return rule.integrate(f, std::sqrt(2 - hi), std::sqrt(2 - lo), tolerance_);
  }
  long double piece(long double lo, long double hi, bool endpoint) const {
    if (!(hi > lo)) return 0;
    if (endpoint || (peak_ > lo && peak_ < hi)) return integrate(lo, hi, 0);
    // Gaps between consecutive sorted samples are tiny where the mass is (a
    // fixed 30-point Gauss-Legendre rule is exact to rounding there); wide
    // gaps only occur in the tails, whose mass bounds the absolute error.
    auto f = [&](long double y) { return density(y, 0); };
    return boost::math::quadrature::gauss<long double, 30>::integrate(f, lo, hi);
  }

  long double a_;
  long double kappa_;
  long double tolerance_;
  long double peak_ = 0;
  long double shift_ = 0;
};

/// dw/dkappa = -(dF(w; kappa)/dkappa) / f(w; kappa) at w = 1 - y, from its
/// definition: a five-point central difference of the long double CDF in
/// kappa (a step that moves E[w] by 1e-3 standard deviations: truncation
/// ~1e-12, rounding ~1e-14),
/// divided by the density. `y` = 1 - w exactly.
inline double vmf_dw_dkappa_reference(int p, double kappa, double y) {
  // Step: moves the mean of w by 1e-3 standard deviations (dE[w]/dk = Var w).
  const long double h = 1e-3L / std::sqrt(VmfMarginalTable(p, kappa).variance_w());
  // Differentiate the smaller of F and 1 - F (no rounding of numbers near 1).
  const bool use_lower = VmfMarginalTable(p, kappa).lower_fraction(y) < 0.5L;
  auto cdf = [&](long double k, long double& density) {
    VmfMarginalTable table(p, k, 1e-17L);
    const long double upper = table.upper_fraction(y, density);
    return use_lower ? -table.lower_fraction(y) : upper;
  };
  long double d0;
  cdf(kappa, d0);
  long double unused;
  const long double f1 = cdf(kappa + h, unused);
  const long double f2 = cdf(kappa - h, unused);
  const long double f3 = cdf(kappa + 2 * h, unused);
  const long double f4 = cdf(kappa - 2 * h, unused);
  const long double derivative = (8 * (f1 - f2) - (f3 - f4)) / (12 * h);
  return static_cast<double>(-derivative / d0);
}

/// dw/dkappa at w = 1 - y (y exact) as the one-signed tail integral on the
/// far side of w from A = A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa):
///   w >= A:  int_w^1 (t - A) g(t) dt / g(w),   else  int_{-1}^w (A - t) g(t) dt / g(w),
/// g(t) = (1 - t^2)^((p-3)/2) exp(kappa t), by tanh-sinh in Real after
/// s = m u^2 (s the distance from the tail's end, m = its length), which
/// removes the endpoint singularity of p = 2. Nothing of pdml is used.
template <class Real>
Real vmf_dw_dkappa_integral_reference(int p, double kappa, double y) {
  using std::exp;
  using std::log;
  using Wide = boost::multiprecision::cpp_bin_float_50;  // no overflow of I_v(1e6)
  const Real k = kappa;
  const Real yy = y;
  const Real a = Real(p - 3) / 2;
  const Wide wide_order = Wide(p) / 2 - 1;
  const Wide wide_mean = kappa == 0 ? Wide(0)
                                    : Wide(boost::math::cyl_bessel_i(wide_order + 1, Wide(kappa)) /
                                           boost::math::cyl_bessel_i(wide_order, Wide(kappa)));
  // 1 - A and 1 + A rounded once from 50 digits; every difference below is
  // formed from these complements (t - A, t - w near 1 would cancel).
  const Real one_minus_mean = static_cast<Real>(1 - wide_mean);
  const Real one_plus_mean = static_cast<Real>(1 + wide_mean);
  const bool upper = yy <= one_minus_mean;  // w >= A
  const Real m = upper ? yy : Real(2) - yy;
  const Real one_minus_w2 = yy * (2 - yy);
  auto integrand = [&](Real u) {
    const Real s = m * u * u;  // t = 1 - s (upper) or -1 + s (lower)
    const Real one_minus_t2 = s * (2 - s);
    if (!(one_minus_t2 > 0)) return Real(0);
    const Real t_minus_w = upper ? yy - s : s - m;
    const Real signed_t_minus_mean = upper ? one_minus_mean - s : one_plus_mean - s;
    const Real ratio = exp(a * log(one_minus_t2 / one_minus_w2) + k * t_minus_w);
    return signed_t_minus_mean * ratio * 2 * m * u;
  };
  boost::math::quadrature::tanh_sinh<Real> rule;
  return rule.integrate(integrand, Real(0), Real(1),
                        Real(64) * std::numeric_limits<Real>::epsilon());
}

}  // namespace pdml_test
