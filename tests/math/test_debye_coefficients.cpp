// SPDX-License-Identifier: MIT
// The Debye coefficient tables of include/pdml/math/detail/debye_coefficients.hpp
// re-derived here, independently of how they were generated, in 50-digit
// arithmetic straight from DLMF 10.41.10-12:
//   u_0 = 1,  u_{k+1}(t) = t^2 (1 - t^2) u_k'(t) / 2 + (1/8) int_0^t (1 - 5 s^2) u_k(s) ds,
//   v_k(t) = u_k(t) + t (t^2 - 1) (u_{k-1}(t) / 2 + t u_{k-1}'(t)),
// then the stored families
//   log(sum_k u_k v^-k) = sum_k l_k v^-k,   k l_k = k u_k - sum_{j<k} j l_j u_{k-j},
//   (sum v_k v^-k) / (sum u_k v^-k) = sum_k w_k v^-k,   w_k = v_k - sum_{j=1}^{k} u_j w_{k-j},
//   q_k = w_k / (1 - t^2) (exact division), and q_k'.
// Each stored polynomial is compared with the re-derived one at several t.

#include <catch2/catch.hpp>

#include <boost/multiprecision/cpp_bin_float.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include <pdml/math/detail/debye_coefficients.hpp>

namespace {

using Real = boost::multiprecision::cpp_bin_float_50;
using Poly = std::vector<Real>;  // ascending coefficients in t

constexpr int kTerms = pdml::detail::debye::kMaxTerms;

Poly add(const Poly& a, const Poly& b) {
  Poly out(std::max(a.size(), b.size()), Real(0));
  for (std::size_t i = 0; i < a.size(); ++i) out[i] += a[i];
  for (std::size_t i = 0; i < b.size(); ++i) out[i] += b[i];
  return out;
}

Poly scale(const Poly& a, const Real& s) {
  Poly out = a;
  for (Real& c : out) c *= s;
  return out;
}

Poly multiply(const Poly& a, const Poly& b) {
  Poly out(a.size() + b.size() - 1, Real(0));
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < b.size(); ++j) out[i + j] += a[i] * b[j];
  }
  return out;
}

Poly derivative(const Poly& a) {
  if (a.size() <= 1) return Poly{Real(0)};
  Poly out(a.size() - 1);
  for (std::size_t i = 1; i < a.size(); ++i) out[i - 1] = a[i] * static_cast<int>(i);
  return out;
}

Poly integral(const Poly& a) {  // from 0
  Poly out(a.size() + 1, Real(0));
  for (std::size_t i = 0; i < a.size(); ++i) out[i + 1] = a[i] / static_cast<int>(i + 1);
  return out;
}

Real evaluate(const Poly& a, const Real& t) {
  Real sum = 0;
  for (std::size_t i = a.size(); i-- > 0;) sum = sum * t + a[i];
  return sum;
}

Real evaluate_abs(const Poly& a, const Real& t) {
  Real sum = 0;
  for (std::size_t i = a.size(); i-- > 0;) sum = sum * t + abs(a[i]);
  return sum;
}

struct Families {
  std::vector<Poly> l, q, dq;  // index k = 1..kTerms
};

Families derive() {
  const Poly t2_times_one_minus_t2 = {Real(0), Real(0), Real(1), Real(0), Real(-1)};
  const Poly one_minus_5s2 = {Real(1), Real(0), Real(-5)};
  const Poly t_times_t2_minus_1 = {Real(0), Real(-1), Real(0), Real(1)};
  const Poly t = {Real(0), Real(1)};
  std::vector<Poly> u(kTerms + 1), v(kTerms + 1);
  u[0] = Poly{Real(1)};
  v[0] = Poly{Real(1)};
  for (int k = 0; k < kTerms; ++k) {
    u[k + 1] = add(scale(multiply(t2_times_one_minus_t2, derivative(u[k])), Real(1) / 2),
                   scale(integral(multiply(one_minus_5s2, u[k])), Real(1) / 8));
  }
  for (int k = 1; k <= kTerms; ++k) {
    const Poly inner = add(scale(u[k - 1], Real(1) / 2), multiply(t, derivative(u[k - 1])));
    v[k] = add(u[k], multiply(t_times_t2_minus_1, inner));
  }
  Families f;
  f.l.assign(kTerms + 1, Poly{Real(0)});
  f.q.assign(kTerms + 1, Poly{Real(0)});
  f.dq.assign(kTerms + 1, Poly{Real(0)});
  for (int k = 1; k <= kTerms; ++k) {
    Poly acc = scale(u[k], Real(k));
    for (int j = 1; j < k; ++j) acc = add(acc, scale(multiply(f.l[j], u[k - j]), Real(-j)));
    f.l[k] = scale(acc, Real(1) / k);
  }
  std::vector<Poly> w(kTerms + 1);
  w[0] = Poly{Real(1)};
  for (int k = 1; k <= kTerms; ++k) {
    Poly acc = v[k];
    for (int j = 1; j <= k; ++j) acc = add(acc, scale(multiply(u[j], w[k - j]), Real(-1)));
    w[k] = acc;
    // (1 - t^2) q = w: q_i = w_i + q_{i-2}, ascending; the top two
    // coefficients of w must then match -q_{n-2}, -q_{n-3} (exact division).
    const std::size_t n = acc.size();
    Poly q(n - 2, Real(0));
    for (std::size_t i = 0; i + 2 < n; ++i) q[i] = acc[i] + (i >= 2 ? q[i - 2] : Real(0));
    const Real scale_w = evaluate_abs(acc, Real(1));
    REQUIRE(abs(acc[n - 1] + q[n - 3]) <= 1e-40 * scale_w);
    REQUIRE(abs(acc[n - 2] + q[n - 4]) <= 1e-40 * scale_w);
    f.q[k] = q;
    f.dq[k] = derivative(q);
  }
  return f;
}

template <int k>
void check_term(const Families& f, double& worst) {
  using namespace pdml::detail::debye;
  for (double t : {0.0, 0.1, 0.37, 0.5, 0.8, 0.95, 1.0}) {
    const double t2 = t * t;
    const Real ht(t);
    // Stored: l_k = t^k P(t^2), q_k = t^k R(t^2), q_k' = t^(k-1) S(t^2).
    const double stored[3] = {std::pow(t, k) * debye_log_poly<k>(t2), std::pow(t, k) * debye_ratio_poly<k>(t2),
                              std::pow(t, k - 1) * debye_ratio_deriv_poly<k>(t2)};
    const Poly* exact[3] = {&f.l[k], &f.q[k], &f.dq[k]};
    for (int family = 0; family < 3; ++family) {
      // Rounding of the stored coefficients and of Horner's rule: a few eps of
      // the polynomial with absolute coefficients.
      const double bound = 4 * std::numeric_limits<double>::epsilon() *
                           static_cast<double>(evaluate_abs(*exact[family], abs(ht)));
      const double error = std::fabs(stored[family] - static_cast<double>(evaluate(*exact[family], ht)));
      INFO("k = " << k << ", family " << family << ", t = " << t);
      CHECK(error <= bound + 1e-300);
      if (bound > 0) worst = std::max(worst, error / bound * 4);
    }
  }
  if constexpr (k < kTerms) check_term<k + 1>(f, worst);
}

}  // namespace

TEST_CASE("the stored Debye coefficients equal the ones re-derived from DLMF 10.41", "[math][bessel]") {
  const Families f = derive();
  // Spot values from DLMF 10.41.10: u_1 = (3t - 5t^3)/24, so l_1 = u_1 and
  // q_1 = (v_1 - u_1)/(1 - t^2) = -t/2.
  CHECK(static_cast<double>(f.l[1][1]) == Approx(3.0 / 24));
  CHECK(static_cast<double>(f.l[1][3]) == Approx(-5.0 / 24));
  CHECK(static_cast<double>(f.q[1][1]) == Approx(-0.5));
  double worst = 0.0;
  check_term<1>(f, worst);
  INFO("worst deviation " << worst << " eps of the absolute polynomial");
  CHECK(worst <= 4.0);
}
