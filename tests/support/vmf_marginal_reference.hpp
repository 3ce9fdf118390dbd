#pragma once
// Independent references for the vMF marginal w = mu^T x on S^{p-1}, whose
// density is f(w) ~ (1 - w^2)^((p-3)/2) exp(kappa w). Everything is computed
// by Boost quadrature in the variable y = 1 - w in [0, 2] with density
// g(y) ~ (y (2 - y))^a exp(-kappa y), a = (p - 3) / 2, never by pdml.
//  - VmfMarginalTable: long double CDF of y at sorted sample points (for KS
//    tests), plus the mean and variance of w;
//  - vmf_dw_dkappa_reference: 50-digit central finite difference of the CDF
//    in kappa divided by the density (the implicit-reparameterisation
//    derivative, from its definition).

#include <algorithm>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <boost/math/quadrature/tanh_sinh.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <cstddef>
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
  VmfMarginalTable(int p, long double kappa) : p_(p), a_(0.5L * (p - 3)), kappa_(kappa) {
    peak_ = vmf_marginal_peak_y(p, kappa);
    shift_ = a_ >= 0 && peak_ > 0 ? logg(peak_) : 0;
    const long double z = integrate(0, 2, 0);
    const long double m1 = integrate(0, 2, 1);
    const long double m2 = integrate(0, 2, 2);
    mean_y_ = m1 / z;
    var_y_ = m2 / z - mean_y_ * mean_y_;
  }

  /// E[w] = A_p(kappa) and Var[w] = A_p'(kappa).
  long double mean_w() const { return 1 - mean_y_; }
  long double variance_w() const { return var_y_; }

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
  long double density(long double y, int moment) const {
    if (y <= 0 || y >= 2) return 0;
    const long double v = std::exp(logg(y) - shift_);
    return moment == 0 ? v : (moment == 1 ? y * v : y * y * v);
  }
  // Integral over [lo, hi], split at the peak (tanh-sinh clusters nodes at
  // the ends, which then holds the peak and the endpoint singularities).
  long double integrate(long double lo, long double hi, int moment) const {
    if (!(hi > lo)) return 0;
    if (peak_ > lo && peak_ < hi) return integrate(lo, peak_, moment) + integrate(peak_, hi, moment);
    boost::math::quadrature::tanh_sinh<long double> rule(12);
    auto f = [&](long double y) { return density(y, moment); };
    return rule.integrate(f, lo, hi, 1e-16L);
  }
  long double piece(long double lo, long double hi, bool endpoint) const {
    if (!(hi > lo)) return 0;
    if (endpoint || (peak_ > lo && peak_ < hi)) return integrate(lo, hi, 0);
    auto f = [&](long double y) { return density(y, 0); };
    return boost::math::quadrature::gauss_kronrod<long double, 15>::integrate(f, lo, hi, 8,
                                                                              1e-15L);
  }

  int p_;
  long double a_;
  long double kappa_;
  long double peak_ = 0;
  long double shift_ = 0;
  long double mean_y_ = 0;
  long double var_y_ = 0;
};

/// dw/dkappa = -(dF(w; kappa)/dkappa) / f(w; kappa) at w = 1 - y, by a
/// 50-digit central difference of F in kappa (step 1e-15 max(kappa, 1)).
/// `y` must be given exactly (as 1 - w); 2 - y is then 1 + w.
inline double vmf_dw_dkappa_reference(int p, double kappa, double y) {
  using Real = boost::multiprecision::cpp_bin_float_50;
  const Real a = Real(p - 3) / 2;
  const Real yy = y;
  const Real peak = vmf_marginal_peak_y(p, kappa);
  auto integral = [&](const Real& k, const Real& lo, const Real& hi, const Real& shift) {
    auto f = [&](const Real& t) -> Real {
      if (t <= 0 || t >= 2) return Real(0);
      const Real base = a == 0 ? Real(0) : Real(a * log(t * (2 - t)));
      return exp(base - k * t - shift);
    };
    boost::math::quadrature::tanh_sinh<Real> rule(15);
    const Real tol = Real(1e-40);
    Real total = 0;
    Real cuts[4] = {lo, hi, hi, hi};
    int n = 2;
    if (peak > lo && peak < hi) {
      cuts[1] = peak;
      cuts[2] = hi;
      n = 3;
    }
    for (int i = 0; i + 1 < n; ++i) total += rule.integrate(f, cuts[i], cuts[i + 1], tol);
    return total;
  };
  const Real k0 = kappa;
  const Real h = Real(1e-15) * (kappa > 1 ? Real(kappa) : Real(1));
  // log g(y) at the sample for the shift, so f(w) = 1 / Z in shifted units.
  auto shift_at = [&](const Real& k) {
    const Real base = a == 0 ? Real(0) : Real(a * log(yy * (2 - yy)));
    return Real(base - k * yy);
  };
  auto cdf_w = [&](const Real& k, Real& z) {
    // F(w) = P(W <= w) = P(Y >= y).
    const Real shift = shift_at(k0);
    const Real upper = integral(k, yy, Real(2), shift);
    z = integral(k, Real(0), yy, shift) + upper;
    return Real(upper / z);
  };
  Real z_plus, z_minus, z0;
  const Real f_plus = cdf_w(k0 + h, z_plus);
  const Real f_minus = cdf_w(k0 - h, z_minus);
  cdf_w(k0, z0);
  const Real density = 1 / z0;  // g(y) / Z with g(y) = exp(shift) = 1 in shifted units
  const Real derivative = -(f_plus - f_minus) / (2 * h) / density;
  return static_cast<double>(derivative);
}

}  // namespace pdml_test
