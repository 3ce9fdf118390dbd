// SPDX-License-Identifier: MIT
// Power Spherical distribution: normalizer, entropy and KL against quadrature,
// gradients against finite differences, the implicit Beta reparameterization
// against finite differences of Boost's inverse incomplete beta function, and
// the sampler against its exact marginal (Kolmogorov-Smirnov).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>
#include "same_evaluation.hpp"

#include <boost/math/constants/constants.hpp>
#include <boost/math/quadrature/tanh_sinh.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

#include <pdml/distributions/power_spherical.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>

namespace {

using Vec = std::vector<double>;

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

/// log |S^{d-1}| = log 2 + (d/2) log pi - lgamma(d/2).
double log_sphere_area(int d) {
  return std::log(2.0) + 0.5 * d * std::log(boost::math::constants::pi<double>()) -
         std::lgamma(0.5 * d);
}

/// int over S^{p-1} of g(w) f(x) for the PS density, reduced to w = mu^T x:
/// |S^{p-2}| int_{-1}^{1} g(w) exp(log C + kappa log(1 + w)) (1 - w^2)^{(p-3)/2} dw,
/// by tanh-sinh quadrature (robust to the endpoint singularities), in the
/// variable z = (1 + w)/2 so both ends are resolved without cancellation.
double w_expectation(int p, double kappa, const std::function<double(double, double)>& g) {
  const double log_c = pdml::power_spherical_log_normalizer(p, kappa);
  const double la = log_sphere_area(p - 1);
  boost::math::quadrature::tanh_sinh<double> integrator;
  auto f = [&](double z, double zc) {
    // w = z - zc; 1 + w = 2z; 1 - w^2 = 4 z zc; dw = 2 dz.
    const double log_density = log_c + la + kappa * std::log(2 * z) +
                               0.5 * (p - 3) * std::log(4 * z * zc) + std::log(2.0);
    return g(z - zc, log_c + kappa * std::log(2 * z)) * std::exp(log_density);
  };
  // Two halves, each parameterized by its distance to the nearer end point.
  return integrator.integrate([&](double z) { return f(z, 1 - z); }, 0.0, 0.5) +
         integrator.integrate([&](double c) { return f(1 - c, c); }, 0.0, 0.5);
}

}  // namespace

TEST_CASE("Power Spherical normalizer, entropy and KL to uniform match quadrature", "[ps]") {
  double worst = 0;
  for (int p : {2, 3, 5, 16, 128}) {
    for (double kappa : {0.0, 0.3, 4.0, 50.0, 800.0}) {
      const double mass = w_expectation(p, kappa, [](double, double) { return 1.0; });
      worst = std::max(worst, std::abs(mass - 1));
      const double h_ref = w_expectation(p, kappa, [](double, double lp) { return -lp; });
      worst = std::max(worst, rel_error(pdml::power_spherical_entropy(p, kappa), h_ref, 1.0));
      const double kl_ref = -h_ref + log_sphere_area(p);
      worst = std::max(worst, std::abs(pdml::power_spherical_kl_uniform(p, kappa) - kl_ref));
      const double mean_ref = w_expectation(p, kappa, [](double w, double) { return w; });
      worst = std::max(worst, std::abs(pdml::power_spherical_mean_resultant(p, kappa) - mean_ref));
    }
  }
  INFO("worst error " << worst);
  CHECK(worst < 1e-9);
  CHECK(pdml::power_spherical_kl_uniform(7, 0.0) == Approx(0.0).margin(1e-13));
}

TEST_CASE("Power Spherical scalar derivatives and log_prob backward match finite differences",
          "[ps][gradient]") {
  std::mt19937_64 gen(21);
  double worst = 0;
  // Digamma and trigamma (device implementations) against Boost, over the shapes used.
  double worst_special = 0;
  for (double x : {0.5, 0.5005, 1.0, 2.5, 7.5, 9.99, 10.0, 63.5, 511.5, 2047.5, 1e4, 1e6}) {
    worst_special = std::max(worst_special, rel_error(pdml::detail::ps_digamma(x), boost::math::digamma(x), 1.0));
    worst_special = std::max(worst_special, rel_error(pdml::detail::ps_trigamma(x), boost::math::trigamma(x), 1e-300));
  }
  INFO("digamma/trigamma worst relative error " << worst_special);
  CHECK(worst_special < 1e-13);
  // p <= 128: beyond, log C is ~1e4 while its kappa-derivative is ~1e-3, and finite
  // differences in double cannot resolve it to 1e-6 (the formulas are the same).
  for (int p : {2, 3, 5, 16, 128}) {
    for (double kappa : {1e-3, 0.3, 4.0, 50.0, 800.0}) {
      // Richardson-extrapolated central differences (error O(h^4)); kappa - h < 0 is
      // fine, the formulas hold for alpha > 0.
      const double h = 1e-3 * std::max(1.0, kappa);
      auto fd = [&](const std::function<double(double)>& f) {
        auto central = [&](double step) { return (f(kappa + step) - f(kappa - step)) / (2 * step); };
        return (4 * central(h / 2) - central(h)) / 3;
      };
      INFO("p = " << p << ", kappa = " << kappa);
      worst = std::max(worst, rel_error(pdml::power_spherical_log_normalizer_derivative(p, kappa),
                                        fd([&](double k) { return pdml::power_spherical_log_normalizer(p, k); })));
      worst = std::max(worst, rel_error(pdml::power_spherical_entropy_derivative(p, kappa),
                                        fd([&](double k) { return pdml::power_spherical_entropy(p, k); })));
      worst = std::max(worst, rel_error(pdml::power_spherical_kl_uniform_derivative(p, kappa),
                                        fd([&](double k) { return pdml::power_spherical_kl_uniform(p, k); })));
      worst = std::max(worst, rel_error(pdml::power_spherical_mean_resultant_derivative(p, kappa),
                                        fd([&](double k) { return pdml::power_spherical_mean_resultant(p, k); })));
      const Vec mu = random_unit(p, gen);
      Vec x = random_unit(p, gen);
      // Away from the antipode -mu, where log(1 + mu^T x) has unbounded derivatives
      // and central differences lose their accuracy.
      double c = 0;
      for (int j = 0; j < p; ++j) c += mu[j] * x[j];
      if (c < -0.5) {
        for (double& e : x) e = -e;
      }
      Vec gmu(p), gx(p);
      double gk = 0;
      const double g = 0.8;
      pdml::power_spherical_log_prob_backward(p, mu.data(), kappa, x.data(), g, gmu.data(), &gk, gx.data());
      worst = std::max(worst, rel_error(gk, fd([&](double k) {
                                          return g * pdml::power_spherical_log_prob(p, mu.data(), k, x.data());
                                        })));
      Vec fd_mu(p), fd_x(p), v = mu, y = x;
      for (int j = 0; j < p; ++j) {
        const double e = 1e-5;
        v[j] = mu[j] + e;
        const double up = pdml::power_spherical_log_prob(p, v.data(), kappa, x.data());
        v[j] = mu[j] - e;
        fd_mu[j] = g * (up - pdml::power_spherical_log_prob(p, v.data(), kappa, x.data())) / (2 * e);
        v[j] = mu[j];
        y[j] = x[j] + e;
        const double up_x = pdml::power_spherical_log_prob(p, mu.data(), kappa, y.data());
        y[j] = x[j] - e;
        fd_x[j] = g * (up_x - pdml::power_spherical_log_prob(p, mu.data(), kappa, y.data())) / (2 * e);
        y[j] = x[j];
      }
      worst = std::max(worst, rel_error(gmu, fd_mu));
      worst = std::max(worst, rel_error(gx, fd_x));
      CHECK(worst < 1e-6);
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("Implicit Beta reparameterization dz/dalpha matches finite differences of the inverse CDF",
          "[ps][gradient]") {
  // Reference: z(alpha) = I^{-1}(alpha, beta; u) at fixed u (the lower quantile, or
  // the upper quantile 1 - u via ibetac_inv on the upper side, so that neither end
  // loses precision), differentiated by a Richardson-extrapolated central difference.
  double worst = 0;
  const std::vector<std::pair<double, double>> shapes = {
      {0.5, 0.5}, {0.6, 0.5}, {1.0, 1.0}, {2.0, 1.0}, {12.0, 2.0}, {63.5, 63.5},
      {75.5, 63.5}, {1063.5, 63.5}, {2047.5, 2047.5}, {12047.5, 2047.5}, {1e5 + 1.5, 1.5}};
  const std::vector<double> quantiles = {1e-6, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-6};
  for (const auto& shape : shapes) {
    // (Plain variables: lambdas cannot capture structured bindings before C++20.)
    const double a = shape.first, b = shape.second;
    for (double u : quantiles) {
      const bool upper = u > 0.5;
      const double tail = upper ? 1 - u : u;
      // On the upper side z is close to 1, so differentiate its complement 1 - z, which
      // has full relative precision (symmetry I_z(a, b) = 1 - I_{1-z}(b, a)).
      auto near_end = [&](double alpha) {
        return upper ? boost::math::ibeta_inv(b, alpha, tail) : boost::math::ibeta_inv(alpha, b, tail);
      };
      const double z = upper ? boost::math::ibetac_inv(a, b, tail) : near_end(a);
      const double zc = upper ? near_end(a) : boost::math::ibetac_inv(b, a, tail);
      const double h = 1e-3 * a;
      const double sign = upper ? -1.0 : 1.0;
      auto central = [&](double step) {
        return sign * (near_end(a + step) - near_end(a - step)) / (2 * step);
      };
      const double ref = (4 * central(h / 2) - central(h)) / 3;
      const double got = pdml::beta_sample_shape_derivative(a, b, z, zc, std::log(z), std::log(zc));
      const double err = std::abs(got - ref) / std::max(std::abs(ref), 1e-300);
      INFO("a = " << a << ", b = " << b << ", u = " << u << ": " << got << " vs " << ref);
      CHECK(err < 1e-6);
      worst = std::max(worst, err);
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("Implicit Beta reparameterization in float agrees with double", "[ps][gradient][float]") {
  // The quadrature runs in double for both types; only the float inputs' rounding remains.
  double worst = 0;
  for (const auto& shape : std::vector<std::pair<double, double>>{
           {0.5, 0.5}, {2, 1}, {12, 2}, {75.5, 63.5}, {1063.5, 63.5}, {12047.5, 2047.5}}) {
    for (double u : {0.01, 0.3, 0.7, 0.99}) {
      const double a = shape.first, b = shape.second;
      const double z = boost::math::ibeta_inv(a, b, u), zc = boost::math::ibetac_inv(b, a, u);
      const double d = pdml::beta_sample_shape_derivative(a, b, z, zc, std::log(z), std::log(zc));
      const float f = pdml::beta_sample_shape_derivative(
          static_cast<float>(a), static_cast<float>(b), static_cast<float>(z), static_cast<float>(zc),
          static_cast<float>(std::log(z)), static_cast<float>(std::log(zc)));
      worst = std::max(worst, std::abs(f - d) / std::abs(d));
    }
  }
  INFO("worst relative difference " << worst);
  CHECK(worst < 2e-5);
}

namespace {

/// Kolmogorov-Smirnov statistic of sorted data against a CDF.
double ks_statistic(std::vector<double> data, const std::function<double(double)>& cdf) {
  std::sort(data.begin(), data.end());
  const double n = static_cast<double>(data.size());
  double d = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const double f = cdf(data[i]);
    d = std::max(d, std::max(f - i / n, (i + 1) / n - f));
  }
  return d;
}

}  // namespace

TEST_CASE("Power Spherical sampler: w marginal is exact (KS), tangent isotropic, unit samples",
          "[ps][sampler]") {
  const std::vector<int> dims = {2, 3, 5, 16, 128, 512};
  const std::vector<double> kappas = {0.0, 0.5, 5.0, 50.0, 1000.0};
  // Bonferroni: family-wise level 1e-3 over 30 KS tests (+ 6 tangent tests) -> per-test
  // level 2.8e-5; asymptotic KS critical value sqrt(-log(level / 2) / 2) / sqrt(n) = 2.37 / sqrt(n).
  const int n = 4000;
  const double ks_crit = std::sqrt(-0.5 * std::log(1e-3 / 36 / 2)) / std::sqrt(double(n));
  std::mt19937_64 gen(22);
  double worst_ks_ratio = 0, worst_norm = 0;
  for (int p : dims) {
    for (double kappa : kappas) {
      const Vec mu = random_unit(p, gen);
      std::vector<double> samples(static_cast<std::size_t>(n) * p);
      const pdml::ConstMatrixView<double> dirs{mu.data(), 1, p, p};
      const double kv = kappa;
      pdml::power_spherical_sample(dirs, pdml::ConstMatrixView<double>{&kv, 1, 1, 1}, n,
                                   pdml::RngKey{static_cast<std::uint64_t>(0x5eed + p), static_cast<std::uint64_t>(kappa * 10)},
                                   pdml::MatrixView<double>{samples.data(), n, p, p});
      std::vector<double> w(n);
      for (int i = 0; i < n; ++i) {
        double c = 0, s = 0;
        for (int j = 0; j < p; ++j) {
          c += mu[j] * samples[i * p + j];
          s += samples[i * p + j] * samples[i * p + j];
        }
        w[i] = c;
        worst_norm = std::max(worst_norm, std::abs(std::sqrt(s) - 1));
      }
      const double a = 0.5 * (p - 1) + kappa, b = 0.5 * (p - 1);
      const double d = ks_statistic(w, [&](double x) {
        const double z = std::min(1.0, std::max(0.0, 0.5 * (1 + x)));
        return boost::math::ibeta(a, b, z);
      });
      INFO("p = " << p << ", kappa = " << kappa << ": KS D = " << d << " (critical " << ks_crit << ")");
      CHECK(d < ks_crit);
      worst_ks_ratio = std::max(worst_ks_ratio, d / ks_crit);
      if (kappa == 5.0) {
        // Tangent isotropy: the angle of the tangent part in a fixed plane of mu-perp
        // (spanned by two Gram-Schmidt directions) is uniform on (-pi, pi].
        Vec e1 = random_unit(p, gen), e2 = random_unit(p, gen);
        auto orth = [&](Vec& v, const Vec& against) {
          double c = 0;
          for (int j = 0; j < p; ++j) c += v[j] * against[j];
          for (int j = 0; j < p; ++j) v[j] -= c * against[j];
        };
        auto unit = [&](Vec& v) {
          double s = 0;
          for (double e : v) s += e * e;
          for (double& e : v) e /= std::sqrt(s);
        };
        orth(e1, mu);
        unit(e1);
        orth(e2, mu);
        orth(e2, e1);
        unit(e2);
        std::vector<double> angles(n);
        for (int i = 0; i < n; ++i) {
          double c1 = 0, c2 = 0;
          for (int j = 0; j < p; ++j) {
            c1 += e1[j] * samples[i * p + j];
            c2 += e2[j] * samples[i * p + j];
          }
          angles[i] = std::atan2(c2, c1);
        }
        const double pi = boost::math::constants::pi<double>();
        const double da = ks_statistic(angles, [&](double t) {
          if (p == 2) return t < 0 ? 0.0 : 1.0;  // p = 2: mu-perp is one line, checked below
          return (t + pi) / (2 * pi);
        });
        if (p == 2) {
          // Both signs of the single tangent direction equally likely: binomial z-test.
          int positive = 0;
          for (int i = 0; i < n; ++i) {
            double c1 = 0;
            for (int j = 0; j < p; ++j) c1 += e1[j] * samples[i * p + j];
            positive += c1 > 0;
          }
          const double zstat = (positive - n / 2.0) / std::sqrt(n / 4.0);
          CHECK(std::abs(zstat) < 4.4);
        } else {
          CHECK(da < ks_crit);
        }
      }
    }
  }
  INFO("worst KS D / critical " << worst_ks_ratio << ", worst | |x| - 1 | " << worst_norm);
  CHECK(worst_norm <= 8 * std::numeric_limits<double>::epsilon());
}

TEST_CASE("Power Spherical sampler gradients: d/dkappa E[mu^T x] and pathwise mu-gradients",
          "[ps][sampler][gradient]") {
  std::mt19937_64 gen(23);
  // (a) The kappa-gradient averaged over samples estimates d/dkappa E[mu^T x] =
  // (p - 1)/(p - 1 + kappa)^2. 10 configurations, two-sided z-test at 1e-3 / 10 -> |z| < 3.9.
  for (int p : {3, 16, 512}) {
    for (double kappa : {0.0, 2.0, 40.0, 1e4}) {
      if (p == 512 && kappa == 2.0) continue;
      if (p == 3 && kappa == 1e4) continue;
      const int n = 3000;
      const Vec mu = random_unit(p, gen);
      std::vector<double> samples(static_cast<std::size_t>(n) * p), grad(samples.size());
      pdml::PowerSphericalSampleSaved<double> saved;
      const double kv = kappa;
      pdml::power_spherical_sample(pdml::ConstMatrixView<double>{mu.data(), 1, p, p},
                                   pdml::ConstMatrixView<double>{&kv, 1, 1, 1}, n,
                                   pdml::RngKey{99, 1}, pdml::MatrixView<double>{samples.data(), n, p, p},
                                   &saved);
      // Per-sample gradients: backward with dL/dx = mu on one sample at a time.
      std::vector<double> per(n);
      for (int i = 0; i < n; ++i) {
        double gk = 0;
        pdml::power_spherical_draw_backward(p, mu.data(), kappa, &samples[i * p], saved.draws[i],
                                            mu.data(), static_cast<double*>(nullptr), &gk);
        per[i] = gk;
      }
      double mean = 0, var = 0;
      for (double v : per) mean += v;
      mean /= n;
      for (double v : per) var += (v - mean) * (v - mean);
      var /= n - 1;
      // The same through the batched backward (sum over the samples).
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < p; ++j) grad[i * p + j] = mu[j];
      }
      Vec gdir(p);
      double gkap = 0;
      pdml::power_spherical_sample_backward(saved, pdml::ConstMatrixView<double>{grad.data(), n, p, p},
                                            pdml::MatrixView<double>{gdir.data(), 1, p, p},
                                            pdml::MatrixView<double>{&gkap, 1, 1, 1});
      CHECK(gkap / n == Approx(mean).epsilon(1e-12));
      const double expect = pdml::power_spherical_mean_resultant_derivative(p, kappa);
      const double zstat = (mean - expect) / std::sqrt(var / n);
      INFO("p = " << p << ", kappa = " << kappa << ": mean " << mean << " vs " << expect
                  << ", z = " << zstat);
      CHECK(std::abs(zstat) < 3.9);
    }
  }
  // (b) Pathwise mu-gradient: with the stream fixed, x is a deterministic smooth function of mu.
  double worst = 0;
  for (int p : {2, 3, 7, 64}) {
    for (double kappa : {0.0, 1.5, 30.0}) {
      const Vec mu = random_unit(p, gen), g = random_unit(p, gen);
      auto draw = [&](const Vec& m, Vec& x) {
        pdml::RandomStream stream(pdml::RngKey{5, 6}, 17);
        return pdml::power_spherical_draw(p, m.data(), kappa, stream, x.data());
      };
      Vec x(p);
      const auto d = draw(mu, x);
      Vec gmu(p, 0.0);
      pdml::power_spherical_draw_backward(p, mu.data(), kappa, x.data(), d, g.data(), gmu.data(),
                                          static_cast<double*>(nullptr));
      // mu lives on the sphere: differentiate along mu(e) = (mu + e d)/|mu + e d| for the
      // basis directions d, which yields the tangent projection (I - mu mu^T) of the gradient.
      Vec fd(p), m(p), xu(p), xd(p);
      auto set_direction = [&](int j, double e) {
        double s = 0;
        for (int k = 0; k < p; ++k) {
          m[k] = mu[k] + (k == j ? e : 0.0);
          s += m[k] * m[k];
        }
        for (int k = 0; k < p; ++k) m[k] /= std::sqrt(s);
      };
      for (int j = 0; j < p; ++j) {
        const double e = 1e-6;
        set_direction(j, e);
        draw(m, xu);
        set_direction(j, -e);
        draw(m, xd);
        double s = 0;
        for (int k = 0; k < p; ++k) s += g[k] * (xu[k] - xd[k]);
        fd[j] = s / (2 * e);
      }
      double radial = 0;
      for (int k = 0; k < p; ++k) radial += mu[k] * gmu[k];
      Vec tangent(p);
      for (int k = 0; k < p; ++k) tangent[k] = gmu[k] - radial * mu[k];
      worst = std::max(worst, rel_error(tangent, fd));
    }
  }
  INFO("worst relative error of the mu-gradient " << worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("Power Spherical batched API: layout, streams, float, validation", "[ps][batch]") {
  const int p = 5, n_dist = 3, n_samples = 4;
  std::mt19937_64 gen(24);
  std::vector<double> dirs(n_dist * p);
  for (int n = 0; n < n_dist; ++n) {
    const Vec m = random_unit(p, gen);
    std::copy(m.begin(), m.end(), dirs.begin() + n * p);
  }
  const std::vector<double> kap = {0.0, 3.0, 100.0};
  const pdml::ConstMatrixView<double> d{dirs.data(), n_dist, p, p}, k{kap.data(), n_dist, 1, 1};
  std::vector<double> out(n_samples * n_dist * p);
  const pdml::RngKey key{123, 4};
  pdml::power_spherical_sample(d, k, n_samples, key,
                               pdml::MatrixView<double>{out.data(), n_samples * n_dist, p, p});
  for (int s = 0; s < n_samples; ++s) {
    for (int n = 0; n < n_dist; ++n) {
      pdml::RandomStream stream(key, static_cast<std::uint64_t>(s * n_dist + n));
      Vec x(p);
      pdml::power_spherical_draw(p, &dirs[n * p], kap[n], stream, x.data());
      for (int j = 0; j < p; ++j) CHECK(pdml_test::same_evaluation(out[(s * n_dist + n) * p + j], x[j], 1.0));
    }
  }
  // log_prob of the samples.
  std::vector<double> lp(n_samples * n_dist);
  pdml::power_spherical_log_prob(d, k, pdml::ConstMatrixView<double>{out.data(), n_samples * n_dist, p, p},
                                 pdml::MatrixView<double>{lp.data(), n_samples * n_dist, 1, 1});
  CHECK(lp[4] == pdml::power_spherical_log_prob(p, &dirs[1 * p], kap[1], &out[4 * p]));
  {
    std::vector<double> glp(n_samples * n_dist, 0.25), gd(n_dist * p), gk(n_dist), gx(out.size());
    pdml::power_spherical_log_prob_backward(
        d, k, pdml::ConstMatrixView<double>{out.data(), n_samples * n_dist, p, p},
        pdml::ConstMatrixView<double>{glp.data(), n_samples * n_dist, 1, 1},
        pdml::MatrixView<double>{gd.data(), n_dist, p, p}, pdml::MatrixView<double>{gk.data(), n_dist, 1, 1},
        pdml::MatrixView<double>{gx.data(), n_samples * n_dist, p, p});
    Vec expect_mu(p, 0.0), one_mu(p), one_x(p);
    double expect_k = 0;
    for (int s = 0; s < n_samples; ++s) {
      const int i = s * n_dist + 2;
      double one_k = 0;
      pdml::power_spherical_log_prob_backward(p, &dirs[2 * p], kap[2], &out[i * p], 0.25, one_mu.data(),
                                              &one_k, one_x.data());
      expect_k += one_k;
      for (int j = 0; j < p; ++j) {
        expect_mu[j] += one_mu[j];
        CHECK(pdml_test::same_evaluation(gx[i * p + j], one_x[j]));
      }
    }
    CHECK(rel_error(Vec(gd.begin() + 2 * p, gd.end()), expect_mu) < 1e-14);
    CHECK(gk[2] == Approx(expect_k).epsilon(1e-14));
  }
  // float: same algorithm, float streams; samples are unit vectors.
  std::vector<float> fdirs(dirs.begin(), dirs.end()), fkap(kap.begin(), kap.end()), fout(out.size());
  pdml::power_spherical_sample(pdml::ConstMatrixView<float>{fdirs.data(), n_dist, p, p},
                               pdml::ConstMatrixView<float>{fkap.data(), n_dist, 1, 1}, n_samples, key,
                               pdml::MatrixView<float>{fout.data(), n_samples * n_dist, p, p});
  for (int i = 0; i < n_samples * n_dist; ++i) {
    float s = 0;
    for (int j = 0; j < p; ++j) s += fout[i * p + j] * fout[i * p + j];
    CHECK(std::abs(std::sqrt(s) - 1.0f) < 8 * std::numeric_limits<float>::epsilon());
  }
  // Validation before writing.
  std::vector<double> sentinel(out.size(), -3.0);
  const pdml::MatrixView<double> target{sentinel.data(), n_samples * n_dist, p, p};
  std::vector<double> bad_dirs(dirs);
  bad_dirs[0] += 0.1;
  CHECK_THROWS_WITH(pdml::power_spherical_sample(pdml::ConstMatrixView<double>{bad_dirs.data(), n_dist, p, p},
                                                 k, n_samples, key, target),
                    Catch::Contains("directions"));
  const std::vector<double> neg = {1.0, -1.0, 2.0};
  CHECK_THROWS_WITH(pdml::power_spherical_sample(d, pdml::ConstMatrixView<double>{neg.data(), n_dist, 1, 1},
                                                 n_samples, key, target),
                    Catch::Contains("concentrations"));
  CHECK_THROWS_WITH(pdml::power_spherical_sample(d, k, n_samples + 1, key, target), Catch::Contains("samples"));
  CHECK_THROWS_WITH(pdml::power_spherical_sample(d, k, -1, key, target), Catch::Contains("n_samples"));
  for (double v : sentinel) CHECK(v == -3.0);
}
