// SPDX-License-Identifier: MIT
// vMF closed forms: values against independent references (Bessel ratios in
// 50-digit arithmetic, quadrature on S^1 and S^2), every backward against
// central finite differences, and the uniform case kappa = 0.

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <vector>
#include "same_evaluation.hpp"

#include <boost/math/constants/constants.hpp>
#include <boost/math/special_functions/bessel.hpp>
#include <boost/multiprecision/cpp_bin_float.hpp>

#include <pdml/distributions/vmf.hpp>
#include <pdml/distributions/vmf_batch.hpp>

namespace {

using Vec = std::vector<double>;
using Big = boost::multiprecision::cpp_bin_float_50;

/// log C_p(k) from 50-digit Bessel functions (k = 0: minus the log area of S^{p-1}).
double ref_log_normalizer(int p, double k) {
  const Big nu = Big(p) / 2 - 1;
  if (k == 0.0) {
    const Big half_p = Big(p) / 2;
    return static_cast<double>(boost::multiprecision::lgamma(half_p) - log(Big(2)) -
                               half_p * log(boost::math::constants::pi<Big>()));
  }
  const Big kb = k;
  const Big v = nu * log(kb) - (Big(p) / 2) * log(2 * boost::math::constants::pi<Big>()) -
                log(boost::math::cyl_bessel_i(nu, kb));
  return static_cast<double>(v);
}

/// A_p(k) = I_{p/2}(k) / I_{p/2-1}(k) in 50 digits.
double ref_mean_resultant(int p, double k) {
  if (k == 0.0) return 0.0;
  const Big nu = Big(p) / 2 - 1;
  const Big kb = k;
  return static_cast<double>(boost::math::cyl_bessel_i(nu + 1, kb) /
                             boost::math::cyl_bessel_i(nu, kb));
}

Vec random_unit(int p, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  Vec v(p);
  double s = 0;
  for (auto& x : v) {
    x = normal(gen);
    s += x * x;
  }
  for (auto& x : v) x /= std::sqrt(s);
  return v;
}

Vec scaled(const Vec& v, double k) {
  Vec out(v);
  for (auto& x : out) x *= k;
  return out;
}

/// Richardson-extrapolated central differences, (4 D(h/2) - D(h)) / 3 with error O(h^4):
/// steps of 1e-3 keep the rounding error (eps |f| / h) far below 1e-6 even where
/// |log C| is in the hundreds and the derivative is small.
Vec fd_gradient(const std::function<double(const Vec&)>& f, Vec v, double h) {
  Vec g(v.size());
  for (std::size_t j = 0; j < v.size(); ++j) {
    const double keep = v[j];
    auto central = [&](double step) {
      v[j] = keep + step;
      const double up = f(v);
      v[j] = keep - step;
      const double down = f(v);
      v[j] = keep;
      return (up - down) / (2 * step);
    };
    g[j] = (4 * central(h / 2) - central(h)) / 3;
  }
  return g;
}

double fd_scalar(const std::function<double(double)>& f, double x, double h) {
  auto central = [&](double step) { return (f(x + step) - f(x - step)) / (2 * step); };
  return (4 * central(h / 2) - central(h)) / 3;
}

/// max_j |a_j - b_j| / max(max_j |b_j|, floor): errors relative to the gradient's scale.
double rel_error(const Vec& a, const Vec& b, double floor = 1e-3) {
  double err = 0, scale = floor;
  for (std::size_t j = 0; j < a.size(); ++j) {
    err = std::max(err, std::abs(a[j] - b[j]));
    scale = std::max(scale, std::abs(b[j]));
  }
  return err / scale;
}

double rel_error(double a, double b, double floor = 1e-3) {
  return std::abs(a - b) / std::max(std::abs(b), floor);
}

const std::vector<int> kDims = {2, 3, 5, 16, 128};
const std::vector<double> kKappas = {0.0, 1e-6, 0.3, 2.5, 20.0, 300.0};

}  // namespace

TEST_CASE("vMF log_prob, entropy and mean match 50-digit Bessel references", "[vmf]") {
  std::mt19937_64 gen(11);
  double worst = 0;
  for (int p : kDims) {
    for (double k : kKappas) {
      const Vec mu = random_unit(p, gen);
      const Vec x = random_unit(p, gen);
      const Vec eta = scaled(mu, k);
      double c = 0;
      for (int j = 0; j < p; ++j) c += mu[j] * x[j];
      const double lc = ref_log_normalizer(p, k);
      const double a = ref_mean_resultant(p, k);
      const double lp_ref = lc + k * c;
      worst = std::max(worst, rel_error(pdml::vmf_log_prob(p, eta.data(), x.data()), lp_ref, 1.0));
      worst = std::max(worst, rel_error(pdml::vmf_log_prob(p, mu.data(), k, x.data()), lp_ref, 1.0));
      const double h_ref = -lc - k * a;
      worst = std::max(worst, rel_error(pdml::vmf_entropy(p, k), h_ref, 1.0));
      worst = std::max(worst, rel_error(pdml::vmf_entropy(p, eta.data()), h_ref, 1.0));
      Vec mean(p);
      pdml::vmf_mean(p, eta.data(), mean.data());
      worst = std::max(worst, rel_error(mean, scaled(mu, a), 1e-300));
      pdml::vmf_mean(p, mu.data(), k, mean.data());
      worst = std::max(worst, rel_error(mean, scaled(mu, a), 1e-300));
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-12);
}

TEST_CASE("vMF KL and log PPK match their Bessel closed forms at 50 digits", "[vmf]") {
  std::mt19937_64 gen(12);
  double worst = 0;
  for (int p : kDims) {
    for (double k1 : kKappas) {
      for (double k2 : {0.0, 0.7, 15.0, 250.0}) {
        const Vec mu1 = random_unit(p, gen), mu2 = random_unit(p, gen);
        const Vec eta1 = scaled(mu1, k1), eta2 = scaled(mu2, k2);
        double c = 0;
        for (int j = 0; j < p; ++j) c += mu1[j] * mu2[j];
        const double kl_ref = ref_log_normalizer(p, k1) - ref_log_normalizer(p, k2) +
                              ref_mean_resultant(p, k1) * (k1 - k2 * c);
        worst = std::max(worst, rel_error(pdml::vmf_kl(p, eta1.data(), eta2.data()), kl_ref, 1.0));
        worst = std::max(worst,
                         rel_error(pdml::vmf_kl(p, mu1.data(), k1, mu2.data(), k2), kl_ref, 1.0));
        for (double rho : {1.0, 0.5}) {
          double s = 0;
          for (int j = 0; j < p; ++j) s += std::pow(rho * (eta1[j] + eta2[j]), 2);
          const double ppk_ref = rho * (ref_log_normalizer(p, k1) + ref_log_normalizer(p, k2)) -
                                 ref_log_normalizer(p, std::sqrt(s));
          worst = std::max(worst,
                           rel_error(pdml::vmf_log_ppk(p, eta1.data(), eta2.data(), rho), ppk_ref, 1.0));
          worst = std::max(worst, rel_error(pdml::vmf_log_ppk(p, mu1.data(), k1, mu2.data(), k2, rho),
                                            ppk_ref, 1.0));
        }
      }
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-12);
}

namespace {

/// Quadrature over S^1 (trapezoid in the angle: exponentially convergent for
/// periodic analytic integrands) or S^2 (Gauss-Legendre in cos(theta) times the
/// trapezoid in phi) of g(x).
double sphere_integral(int p, const std::function<double(const Vec&)>& g) {
  const double pi = boost::math::constants::pi<double>();
  double total = 0;
  if (p == 2) {
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
      const double t = 2 * pi * i / n;
      total += g(Vec{std::cos(t), std::sin(t)});
    }
    return total * 2 * pi / n;
  }
  // p == 3: Gauss-Legendre nodes on [-1, 1] by Newton iteration on P_n.
  const int n_theta = 400, n_phi = 400;
  for (int i = 0; i < n_theta; ++i) {
    double z = std::cos(pi * (i + 0.75) / (n_theta + 0.5));
    double dp = 0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1, p1 = z;
      for (int m = 2; m <= n_theta; ++m) {
        const double p2 = ((2 * m - 1) * z * p1 - (m - 1) * p0) / m;
        p0 = p1;
        p1 = p2;
      }
      dp = n_theta * (z * p1 - p0) / (z * z - 1);
      const double step = p1 / dp;
      z -= step;
      if (std::abs(step) < 1e-16) break;
    }
    const double w = 2 / ((1 - z * z) * dp * dp);
    const double s = std::sqrt(1 - z * z);
    for (int j = 0; j < n_phi; ++j) {
      const double ph = 2 * pi * j / n_phi;
      total += w * (2 * pi / n_phi) * g(Vec{z, s * std::cos(ph), s * std::sin(ph)});
    }
  }
  return total;
}

}  // namespace

TEST_CASE("vMF entropy, KL and PPK match quadrature on S^1 and S^2", "[vmf]") {
  std::mt19937_64 gen(13);
  double worst = 0;
  for (int p : {2, 3}) {
    for (double k1 : {0.0, 0.4, 6.0, 40.0}) {
      for (double k2 : {0.0, 3.0, 25.0}) {
        const Vec eta1 = scaled(random_unit(p, gen), k1), eta2 = scaled(random_unit(p, gen), k2);
        auto lf1 = [&](const Vec& x) { return pdml::vmf_log_prob(p, eta1.data(), x.data()); };
        auto lf2 = [&](const Vec& x) { return pdml::vmf_log_prob(p, eta2.data(), x.data()); };
        // The density itself enters the references only through exp(log C + eta^T x),
        // whose normalizer is checked against Bessel functions above; the quadrature
        // independently checks every expectation in the closed forms.
        const double mass = sphere_integral(p, [&](const Vec& x) { return std::exp(lf1(x)); });
        worst = std::max(worst, std::abs(mass - 1));
        const double h_ref =
            sphere_integral(p, [&](const Vec& x) { return -std::exp(lf1(x)) * lf1(x); });
        worst = std::max(worst, rel_error(pdml::vmf_entropy(p, eta1.data()), h_ref, 1.0));
        const double kl_ref = sphere_integral(
            p, [&](const Vec& x) { return std::exp(lf1(x)) * (lf1(x) - lf2(x)); });
        worst = std::max(worst, rel_error(pdml::vmf_kl(p, eta1.data(), eta2.data()), kl_ref, 1.0));
        for (double rho : {1.0, 0.5}) {
          const double ppk_ref = std::log(sphere_integral(
              p, [&](const Vec& x) { return std::exp(rho * (lf1(x) + lf2(x))); }));
          worst = std::max(worst, rel_error(pdml::vmf_log_ppk(p, eta1.data(), eta2.data(), rho),
                                            ppk_ref, 1.0));
        }
      }
    }
  }
  INFO("worst error " << worst);
  CHECK(worst < 1e-10);
}

TEST_CASE("vMF natural-parameter backwards match finite differences", "[vmf][gradient]") {
  std::mt19937_64 gen(14);
  double worst = 0;
  int worst_line = 0, worst_p = 0;
  double worst_kappa = 0;
  int p = 0;
  double k1 = 0;
  // Keeps the largest error and where it occurred.
  auto track = [&](int line, double e) {
    if (e > worst) {
      worst_line = line;
      worst_p = p;
      worst_kappa = k1;
    }
    return std::max(worst, e);
  };
  for (int p_value : kDims) {
    for (double k1_value : kKappas) {
      p = p_value;
      k1 = k1_value;
      const double k2 = 4.0;
      const Vec eta1 = scaled(random_unit(p, gen), k1), eta2 = scaled(random_unit(p, gen), k2);
      const Vec x = random_unit(p, gen);
      const Vec gm = random_unit(p, gen);  // upstream gradient of vector outputs
      // Steps: 1e-3 (relative) where the rounding error eps |f| / h matters most (entropy,
      // with |f| ~ 300 at p = 128, and a gradient ~ 1e-3); 1e-4 for KL and PPK, whose
      // fifth derivatives are larger at high kappa.
      const double h = 1e-3 * std::max(1.0, k1);
      const double g = 0.75;
      Vec ge1(p), ge2(p), gx(p);

      pdml::vmf_log_prob_backward(p, eta1.data(), x.data(), g, ge1.data(), gx.data());
      worst = track(__LINE__, rel_error(ge1, fd_gradient([&](const Vec& e) {
                                                return g * pdml::vmf_log_prob(p, e.data(), x.data());
                                              }, eta1, h)));
      worst = track(__LINE__, rel_error(gx, fd_gradient([&](const Vec& y) {
                                               return g * pdml::vmf_log_prob(p, eta1.data(), y.data());
                                             }, x, 1e-3)));

      pdml::vmf_entropy_backward(p, eta1.data(), g, ge1.data());
      worst = track(__LINE__, rel_error(ge1, fd_gradient([&](const Vec& e) {
                                                return g * pdml::vmf_entropy(p, e.data());
                                              }, eta1, h)));

      pdml::vmf_mean_backward(p, eta1.data(), gm.data(), ge1.data());
      worst = track(__LINE__, rel_error(ge1, fd_gradient([&](const Vec& e) {
                                                Vec m(p);
                                                pdml::vmf_mean(p, e.data(), m.data());
                                                double s = 0;
                                                for (int j = 0; j < p; ++j) s += gm[j] * m[j];
                                                return s;
                                              }, eta1, h)));

      if (k1 > 0.1) {  // the mode is a smooth function of eta only away from 0
        pdml::vmf_mode_backward(p, eta1.data(), gm.data(), ge1.data());
        worst = track(__LINE__, rel_error(ge1, fd_gradient([&](const Vec& e) {
                                                  Vec m(p);
                                                  pdml::vmf_mode(p, e.data(), m.data());
                                                  double s = 0;
                                                  for (int j = 0; j < p; ++j) s += gm[j] * m[j];
                                                  return s;
                                                }, eta1, h)));
      }

      for (int swap = 0; swap < 2; ++swap) {
        const Vec& a = swap ? eta2 : eta1;
        const Vec& b = swap ? eta1 : eta2;
        const double hh = 1e-4 * std::max(1.0, std::max(k1, k2));
        pdml::vmf_kl_backward(p, a.data(), b.data(), g, ge1.data(), ge2.data());
        worst = track(__LINE__, rel_error(ge1, fd_gradient([&](const Vec& e) {
                                                  return g * pdml::vmf_kl(p, e.data(), b.data());
                                                }, a, hh)));
        worst = track(__LINE__, rel_error(ge2, fd_gradient([&](const Vec& e) {
                                                  return g * pdml::vmf_kl(p, a.data(), e.data());
                                                }, b, hh)));
        for (double rho : {1.0, 0.5}) {
          double grho = 0;
          pdml::vmf_log_ppk_backward(p, a.data(), b.data(), rho, g, ge1.data(), ge2.data(), &grho);
          worst = track(__LINE__, rel_error(ge1, fd_gradient([&](const Vec& e) {
                                                    return g * pdml::vmf_log_ppk(p, e.data(), b.data(), rho);
                                                  }, a, hh)));
          worst = track(__LINE__, rel_error(ge2, fd_gradient([&](const Vec& e) {
                                                    return g * pdml::vmf_log_ppk(p, a.data(), e.data(), rho);
                                                  }, b, hh)));
          worst = track(__LINE__, rel_error(grho, fd_scalar([&](double r) {
                                                    return g * pdml::vmf_log_ppk(p, a.data(), b.data(), r);
                                                  }, rho, 1e-3)));
        }
      }
    }
  }
  INFO("worst relative error " << worst << " at line " << worst_line << ", p = " << worst_p
                                << ", kappa1 = " << worst_kappa);
  CHECK(worst < 1e-6);
}

TEST_CASE("vMF polar (mu, kappa) backwards match finite differences", "[vmf][gradient]") {
  std::mt19937_64 gen(15);
  double worst = 0;
  int worst_line = 0, worst_p = 0;
  double worst_kappa = 0;
  int p = 0;
  double k1 = 0;
  // Keeps the largest error and where it occurred.
  auto track = [&](int line, double e) {
    if (e > worst) {
      worst_line = line;
      worst_p = p;
      worst_kappa = k1;
    }
    return std::max(worst, e);
  };
  for (int p_value : kDims) {
    for (double k1_value : kKappas) {
      p = p_value;
      k1 = k1_value;
      const double k2 = 7.0;
      const Vec mu1 = random_unit(p, gen), mu2 = random_unit(p, gen), x = random_unit(p, gen);
      const Vec gm = random_unit(p, gen);
      const double g = -1.3;
      // kappa = 0 is the boundary of the polar parameterization (the natural-parameter
      // test above differentiates through eta = 0); here kappa1 >= 0.01 and h <= kappa1 / 2.
      const double k1c = std::max(k1, 0.01);
      const double h = std::min(1e-3 * std::max(1.0, k1c), k1c / 2);
      Vec gmu1(p), gmu2(p), gx(p);
      double gk1 = 0, gk2 = 0;

      pdml::vmf_log_prob_backward(p, mu1.data(), k1c, x.data(), g, gmu1.data(), &gk1, gx.data());
      worst = track(__LINE__, rel_error(gmu1, fd_gradient([&](const Vec& m) {
                                                 return g * pdml::vmf_log_prob(p, m.data(), k1c, x.data());
                                               }, mu1, 1e-3)));
      worst = track(__LINE__, rel_error(gk1, fd_scalar([&](double k) {
                                                return g * pdml::vmf_log_prob(p, mu1.data(), k, x.data());
                                              }, k1c, h)));
      worst = track(__LINE__, rel_error(gx, fd_gradient([&](const Vec& y) {
                                               return g * pdml::vmf_log_prob(p, mu1.data(), k1c, y.data());
                                             }, x, 1e-3)));

      worst = track(__LINE__, rel_error(pdml::vmf_entropy_derivative(p, k1c),
                                        fd_scalar([&](double k) { return pdml::vmf_entropy(p, k); },
                                                  k1c, h)));

      pdml::vmf_mean_backward(p, mu1.data(), k1c, gm.data(), gmu1.data(), &gk1);
      auto mean_dot = [&](const Vec& m, double k) {
        Vec out(p);
        pdml::vmf_mean(p, m.data(), k, out.data());
        double s = 0;
        for (int j = 0; j < p; ++j) s += gm[j] * out[j];
        return s;
      };
      worst = track(__LINE__, rel_error(gmu1, fd_gradient([&](const Vec& m) { return mean_dot(m, k1c); },
                                                          mu1, 1e-3)));
      worst = track(__LINE__, rel_error(gk1, fd_scalar([&](double k) { return mean_dot(mu1, k); }, k1c, h)));

      pdml::vmf_kl_backward(p, mu1.data(), k1c, mu2.data(), k2, g, gmu1.data(), &gk1, gmu2.data(),
                            &gk2);
      auto kl = [&](const Vec& m1, double a, const Vec& m2, double b) {
        return g * pdml::vmf_kl(p, m1.data(), a, m2.data(), b);
      };
      worst = track(__LINE__, rel_error(gmu1, fd_gradient([&](const Vec& m) { return kl(m, k1c, mu2, k2); },
                                                          mu1, 1e-3)));
      worst = track(__LINE__, rel_error(gmu2, fd_gradient([&](const Vec& m) { return kl(mu1, k1c, m, k2); },
                                                          mu2, 1e-3)));
      worst = track(__LINE__, rel_error(gk1, fd_scalar([&](double k) { return kl(mu1, k, mu2, k2); }, k1c, h)));
      worst = track(__LINE__, rel_error(gk2, fd_scalar([&](double k) { return kl(mu1, k1c, mu2, k); }, k2, 1e-3)));

      for (double rho : {1.0, 0.5}) {
        pdml::vmf_log_ppk_backward(p, mu1.data(), k1c, mu2.data(), k2, rho, g, gmu1.data(), &gk1,
                                   gmu2.data(), &gk2);
        auto ppk = [&](const Vec& m1, double a, const Vec& m2, double b) {
          return g * pdml::vmf_log_ppk(p, m1.data(), a, m2.data(), b, rho);
        };
        worst = track(__LINE__, rel_error(gmu1, fd_gradient([&](const Vec& m) { return ppk(m, k1c, mu2, k2); },
                                                            mu1, 1e-3)));
        worst = track(__LINE__, rel_error(gmu2, fd_gradient([&](const Vec& m) { return ppk(mu1, k1c, m, k2); },
                                                            mu2, 1e-3)));
        worst = track(__LINE__, rel_error(gk1, fd_scalar([&](double k) { return ppk(mu1, k, mu2, k2); }, k1c, h)));
        worst = track(__LINE__, rel_error(gk2, fd_scalar([&](double k) { return ppk(mu1, k1c, mu2, k); }, k2, 1e-3)));
      }
    }
  }
  INFO("worst relative error " << worst << " at line " << worst_line << ", p = " << worst_p
                                << ", kappa1 = " << worst_kappa);
  CHECK(worst < 1e-6);
}

TEST_CASE("vMF closed forms at eta = 0 are the uniform distribution's, with finite limits",
          "[vmf][uniform]") {
  for (int p : kDims) {
    const Vec zero(p, 0.0);
    const Vec other = scaled(Vec(p, 1.0 / std::sqrt(double(p))), 3.0);
    const double log_area = -ref_log_normalizer(p, 0.0);
    const Vec x = Vec(p, 1.0 / std::sqrt(double(p)));
    CHECK(pdml::vmf_log_prob(p, zero.data(), x.data()) == Approx(-log_area).epsilon(1e-13));
    CHECK(pdml::vmf_entropy(p, zero.data()) == Approx(log_area).epsilon(1e-13));
    CHECK(pdml::vmf_kl(p, zero.data(), zero.data()) == Approx(0.0).margin(1e-14));
    Vec g1(p), g2(p);
    // d/deta log f(x) = x - A mu -> x at eta = 0.
    pdml::vmf_log_prob_backward(p, zero.data(), x.data(), 1.0, g1.data(), g2.data());
    CHECK(rel_error(g1, x) < 1e-15);
    pdml::vmf_entropy_backward(p, zero.data(), 1.0, g1.data());
    CHECK(rel_error(g1, zero) < 1e-15);
    // The mean's Jacobian at 0 is I / p.
    pdml::vmf_mean_backward(p, zero.data(), x.data(), g1.data());
    CHECK(rel_error(g1, scaled(x, 1.0 / p)) < 1e-15);
    // KL(uniform || vMF(eta2)): d/deta1 = (1/p)(0 - eta2); d/deta2 = r(k2) eta2.
    pdml::vmf_kl_backward(p, zero.data(), other.data(), 1.0, g1.data(), g2.data());
    CHECK(rel_error(g1, scaled(other, -1.0 / p)) < 1e-14);
    pdml::vmf_log_ppk_backward(p, zero.data(), zero.data(), 0.5, 1.0, g1.data(), g2.data());
    CHECK(rel_error(g1, zero) < 1e-15);
    pdml::vmf_mode_backward(p, zero.data(), x.data(), g1.data());
    CHECK(rel_error(g1, zero) < 1e-15);
    Vec mode(p);
    pdml::vmf_mode(p, zero.data(), mode.data());
    CHECK(mode[0] == 1.0);
    for (const Vec* v : {&g1, &g2}) {
      for (double e : *v) CHECK(std::isfinite(e));
    }
  }
}

TEST_CASE("vMF closed forms in float agree with double", "[vmf][float]") {
  std::mt19937_64 gen(16);
  for (int p : {3, 64}) {
    for (double k : {0.0, 0.5, 10.0, 200.0}) {
      const Vec eta1 = scaled(random_unit(p, gen), k), eta2 = scaled(random_unit(p, gen), 5.0);
      std::vector<float> f1(eta1.begin(), eta1.end()), f2(eta2.begin(), eta2.end());
      CHECK(pdml::vmf_kl(p, f1.data(), f2.data()) ==
            Approx(pdml::vmf_kl(p, eta1.data(), eta2.data())).epsilon(1e-4).margin(1e-4));
      CHECK(pdml::vmf_log_ppk(p, f1.data(), f2.data(), 0.5f) ==
            Approx(pdml::vmf_log_ppk(p, eta1.data(), eta2.data(), 0.5)).epsilon(1e-4).margin(1e-4));
      std::vector<float> g1(p), g2(p);
      Vec d1(p), d2(p);
      pdml::vmf_kl_backward(p, f1.data(), f2.data(), 1.0f, g1.data(), g2.data());
      pdml::vmf_kl_backward(p, eta1.data(), eta2.data(), 1.0, d1.data(), d2.data());
      CHECK(rel_error(Vec(g1.begin(), g1.end()), d1) < 1e-4);
      CHECK(rel_error(Vec(g2.begin(), g2.end()), d2) < 1e-4);
    }
  }
}

TEST_CASE("vMF batched closed forms agree with the per-distribution functions", "[vmf][batch]") {
  std::mt19937_64 gen(17);
  const int p = 6, n_dist = 5, per = 3;
  std::vector<double> eta(n_dist * p), eta2(n_dist * p), pts(per * n_dist * p), gl(per * n_dist);
  for (int n = 0; n < n_dist; ++n) {
    const Vec a = scaled(random_unit(p, gen), n == 0 ? 0.0 : 2.0 * n);
    const Vec b = scaled(random_unit(p, gen), 1.5 * n);
    std::copy(a.begin(), a.end(), eta.begin() + n * p);
    std::copy(b.begin(), b.end(), eta2.begin() + n * p);
  }
  for (int i = 0; i < per * n_dist; ++i) {
    const Vec x = random_unit(p, gen);
    std::copy(x.begin(), x.end(), pts.begin() + i * p);
    gl[i] = 0.1 * (i + 1);
  }
  const pdml::ConstMatrixView<double> e{eta.data(), n_dist, p, p}, e2{eta2.data(), n_dist, p, p};
  const pdml::ConstMatrixView<double> x{pts.data(), per * n_dist, p, p};
  const pdml::ConstMatrixView<double> g{gl.data(), per * n_dist, 1, 1};
  std::vector<double> lp(per * n_dist), ge(n_dist * p), gx(per * n_dist * p);
  pdml::vmf_log_prob(e, x, pdml::MatrixView<double>{lp.data(), per * n_dist, 1, 1});
  pdml::vmf_log_prob_backward(e, x, g, pdml::MatrixView<double>{ge.data(), n_dist, p, p},
                              pdml::MatrixView<double>{gx.data(), per * n_dist, p, p});
  for (int n = 0; n < n_dist; ++n) {
    Vec expect(p, 0.0), one(p);
    for (int s = 0; s < per; ++s) {
      const int i = s * n_dist + n;
      // log C + eta^T x cancels: compare on the scale of its terms (|eta| = 2n).
      CHECK(pdml_test::same_evaluation(lp[i], pdml::vmf_log_prob(p, &eta[n * p], &pts[i * p]),
                                       2.0 * n + 10.0));
      pdml::vmf_log_prob_backward(p, &eta[n * p], &pts[i * p], gl[i], one.data(), static_cast<double*>(nullptr));
      for (int j = 0; j < p; ++j) expect[j] += one[j];
      for (int j = 0; j < p; ++j) CHECK(gx[i * p + j] == Approx(gl[i] * eta[n * p + j]));
    }
    CHECK(rel_error(Vec(ge.begin() + n * p, ge.begin() + (n + 1) * p), expect) < 1e-14);
  }
  std::vector<double> kl(n_dist), ppk(n_dist), ent(n_dist);
  pdml::vmf_kl(e, e2, pdml::MatrixView<double>{kl.data(), n_dist, 1, 1});
  pdml::vmf_log_ppk(e, e2, 0.5, pdml::MatrixView<double>{ppk.data(), n_dist, 1, 1});
  pdml::vmf_entropy(e, pdml::MatrixView<double>{ent.data(), n_dist, 1, 1});
  for (int n = 0; n < n_dist; ++n) {
    CHECK(pdml_test::same_evaluation(kl[n], pdml::vmf_kl(p, &eta[n * p], &eta2[n * p])));
    CHECK(pdml_test::same_evaluation(ppk[n], pdml::vmf_log_ppk(p, &eta[n * p], &eta2[n * p], 0.5)));
    CHECK(pdml_test::same_evaluation(ent[n], pdml::vmf_entropy(p, &eta[n * p])));
  }
  std::vector<double> gk(n_dist, 1.0), g1(n_dist * p), g2(n_dist * p);
  const pdml::ConstMatrixView<double> gkv{gk.data(), n_dist, 1, 1};
  pdml::vmf_kl_backward(e, e2, gkv, pdml::MatrixView<double>{g1.data(), n_dist, p, p},
                        pdml::MatrixView<double>{g2.data(), n_dist, p, p});
  Vec r1(p), r2(p);
  pdml::vmf_kl_backward(p, &eta[p], &eta2[p], 1.0, r1.data(), r2.data());
  CHECK(rel_error(Vec(g1.begin() + p, g1.begin() + 2 * p), r1) < 1e-15);
  pdml::vmf_log_ppk_backward(e, e2, 1.0, gkv, pdml::MatrixView<double>{g1.data(), n_dist, p, p},
                             pdml::MatrixView<double>{g2.data(), n_dist, p, p});
  pdml::vmf_log_ppk_backward(p, &eta[p], &eta2[p], 1.0, 1.0, r1.data(), r2.data());
  CHECK(rel_error(Vec(g2.begin() + p, g2.begin() + 2 * p), r2) < 1e-15);

  // Validation names the argument and writes nothing.
  std::vector<double> untouched(n_dist, -7.0);
  const pdml::MatrixView<double> out{untouched.data(), n_dist, 1, 1};
  CHECK_THROWS_WITH(pdml::vmf_kl(e, pdml::ConstMatrixView<double>{eta2.data(), n_dist, p - 1, p}, out),
                    Catch::Contains("eta2"));
  CHECK_THROWS_WITH(pdml::vmf_log_ppk(e, e2, -1.0, out), Catch::Contains("rho"));
  std::vector<double> bad(eta);
  bad[3] = std::nan("");
  CHECK_THROWS_WITH(pdml::vmf_entropy(pdml::ConstMatrixView<double>{bad.data(), n_dist, p, p}, out),
                    Catch::Contains("eta"));
  CHECK_THROWS_WITH(pdml::vmf_log_prob(e, pdml::ConstMatrixView<double>{pts.data(), 7, p, p},
                                       pdml::MatrixView<double>{lp.data(), 7, 1, 1}),
                    Catch::Contains("points"));
  for (double v : untouched) CHECK(v == -7.0);
}
