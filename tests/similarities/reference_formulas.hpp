// SPDX-License-Identifier: MIT
#pragma once
// Independent element-by-element evaluations of the similarity formulas (docs/math.md,
// section similarities-losses), in long double with Boost.Math Bessel functions. They
// never call pdml and are meant for small, moderate-concentration cases.

#include <cmath>
#include <vector>

#include <boost/math/special_functions/bessel.hpp>
#include <boost/math/special_functions/gamma.hpp>

namespace pdml_ref {

using Real = long double;
constexpr Real kPi = 3.141592653589793238462643383279502884L;

/// log C_p(k) = (p/2 - 1) log k - (p/2) log(2 pi) - log I_{p/2-1}(k);  C_p(0) = Gamma(p/2)/(2 pi^{p/2}).
inline Real log_c(int p, Real k) {
  const Real nu = Real(p) / 2 - 1;
  if (k == 0) return boost::math::lgamma(Real(p) / 2) - std::log(Real(2)) - Real(p) / 2 * std::log(kPi);
  return nu * std::log(k) - Real(p) / 2 * std::log(2 * kPi) -
         std::log(boost::math::cyl_bessel_i(nu, k));
}

/// A_p(k) = I_{p/2}(k) / I_{p/2-1}(k).
inline Real mean_resultant(int p, Real k) {
  const Real nu = Real(p) / 2 - 1;
  return boost::math::cyl_bessel_i(nu + 1, k) / boost::math::cyl_bessel_i(nu, k);
}

inline Real dot(const std::vector<Real>& a, const std::vector<Real>& b) {
  Real s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
  return s;
}
inline Real norm(const std::vector<Real>& a) { return std::sqrt(dot(a, a)); }

/// The paper's scoring rule l(x) = log C(|K nu|) + (K nu)^T x + sum log k - log |K nu|.
inline Real nivmf_paper_score(const std::vector<Real>& nu, const std::vector<Real>& k,
                              const std::vector<Real>& x) {
  const int p = static_cast<int>(nu.size());
  std::vector<Real> u(nu.size());
  Real sum_log_k = 0;
  for (std::size_t j = 0; j < nu.size(); ++j) {
    u[j] = k[j] * nu[j];
    sum_log_k += std::log(k[j]);
  }
  const Real r = norm(u);
  return log_c(p, r) + dot(u, x) + sum_log_k - std::log(r);
}

/// The exact nivMF log-density log C(|K nu|) + (K nu)^T (K x) / |K x| + sum log k - p log |K x|.
inline Real nivmf_log_density(const std::vector<Real>& nu, const std::vector<Real>& k,
                              const std::vector<Real>& x) {
  const int p = static_cast<int>(nu.size());
  std::vector<Real> u(nu.size()), z(nu.size());
  Real sum_log_k = 0;
  for (std::size_t j = 0; j < nu.size(); ++j) {
    u[j] = k[j] * nu[j];
    z[j] = k[j] * x[j];
    sum_log_k += std::log(k[j]);
  }
  return log_c(p, norm(u)) + dot(u, z) / norm(z) + sum_log_k - Real(p) * std::log(norm(z));
}

/// log PPK of order rho between vMFs with natural parameters a and b.
inline Real log_ppk(const std::vector<Real>& a, const std::vector<Real>& b, Real rho) {
  const int p = static_cast<int>(a.size());
  std::vector<Real> s(a.size());
  for (std::size_t j = 0; j < a.size(); ++j) s[j] = rho * (a[j] + b[j]);
  return rho * (log_c(p, norm(a)) + log_c(p, norm(b))) - log_c(p, norm(s));
}

/// KL(vMF(a) || vMF(b)) = log C(k1) - log C(k2) + A(k1) (k1 - k2 mu2^T mu1).
inline Real kl(const std::vector<Real>& a, const std::vector<Real>& b) {
  const int p = static_cast<int>(a.size());
  const Real k1 = norm(a), k2 = norm(b);
  return log_c(p, k1) - log_c(p, k2) + mean_resultant(p, k1) * (k1 - dot(a, b) / k1);
}

template <class M>
std::vector<Real> row(const M& m, long r) {
  std::vector<Real> out(static_cast<std::size_t>(m.cols()));
  for (long j = 0; j < m.cols(); ++j) out[static_cast<std::size_t>(j)] = m(r, j);
  return out;
}

inline std::vector<Real> unit(std::vector<Real> v) {
  const Real n = norm(v);
  for (auto& x : v) x /= n;
  return v;
}

}  // namespace pdml_ref
