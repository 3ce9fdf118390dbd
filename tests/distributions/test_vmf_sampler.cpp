// SPDX-License-Identifier: MIT
// The exact vMF sampler and its gradients (issue 3, section 8, vMF part).
//
// References are independent of pdml: the marginal CDF, mean and variance of
// w = mu^T x come from Boost quadrature in long double
// (tests/support/vmf_marginal_reference.hpp); dw/dkappa from a finite
// difference of that CDF in kappa, or from closed forms (p = 3; p = 2 at
// kappa = 0).
//
// Statistical thresholds (all Bonferroni-corrected, stated per test case):
//  - marginal grid: 8 p x 10 kappa x 2 types x 2 tests = 320 tests at family
//    level 1e-3: KS p-value > 3.1e-6 and |z| < 4.66;
//  - tangent isotropy: 7 KS/binomial tests at family level 1e-4: p > 1.4e-5;
//  - gradient expectations: 40 z-tests at family level 1e-4: |z| < 4.9.

#include <catch2/catch.hpp>

#include <algorithm>
#include <boost/math/distributions/beta.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/distributions/vmf_sampler.hpp>
#include <pdml/math/vmf_normalizer.hpp>

#include "sampling_stats.hpp"
#include "vmf_marginal_reference.hpp"
#include "same_evaluation.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

// A fixed, non-axis unit direction in R^p (components of both signs).
std::vector<double> test_direction(int p) {
  std::vector<double> mu(static_cast<std::size_t>(p));
  double norm = 0;
  for (int j = 0; j < p; ++j) {
    mu[static_cast<std::size_t>(j)] = std::sin(1.0 + 0.7 * j) + (j == 0 ? 0.3 : 0.0);
    norm += mu[static_cast<std::size_t>(j)] * mu[static_cast<std::size_t>(j)];
  }
  for (double& v : mu) v /= std::sqrt(norm);
  return mu;
}

template <class T>
std::vector<T> eta_for(const std::vector<double>& mu, double kappa, int copies) {
  const int p = static_cast<int>(mu.size());
  std::vector<T> eta(static_cast<std::size_t>(copies * p));
  for (int n = 0; n < copies; ++n) {
    for (int j = 0; j < p; ++j) eta[static_cast<std::size_t>(n * p + j)] = static_cast<T>(kappa * mu[static_cast<std::size_t>(j)]);
  }
  return eta;
}

template <class T>
pdml::ConstMatrixView<T> cview(const std::vector<T>& v, pdml::Index rows, pdml::Index cols) {
  return pdml::ConstMatrixView<T>{v.data(), rows, cols, cols};
}
template <class T>
pdml::MatrixView<T> mview(std::vector<T>& v, pdml::Index rows, pdml::Index cols) {
  return pdml::MatrixView<T>{v.data(), rows, cols, cols};
}

int sample_count(int p) {
  if (p <= 16) return 4000;
  if (p <= 128) return 2000;
  if (p <= 512) return 1000;
  return 400;
}

}  // namespace

TEMPLATE_TEST_CASE("vMF samples: exact marginal (KS), mean A_p (z-test) and unit norm",
                   "[vmf][sampler][statistics]", float, double) {
  const double ks_alpha = 1e-3 / 320.0;
  const double z_limit = 4.66;
  const double norm_limit = 8 * std::numeric_limits<TestType>::epsilon();
  double worst_ks_p = 1.0;
  double worst_z = 0.0;
  double worst_norm = 0.0;
  double attempts_total = 0.0;
  double draws_total = 0.0;
  for (int p : {2, 3, 4, 5, 16, 128, 512, 4096}) {
    const std::vector<double> mu = test_direction(p);
    int kappa_index = 0;
    for (double kappa : {0.0, 1e-6, 0.1, 1.0, 10.0, 12.0, 30.0, 100.0, 1e3, 1e5}) {
      CAPTURE(p, kappa);
      const int count = sample_count(p);
      const std::vector<TestType> eta = eta_for<TestType>(mu, kappa, 1);
      std::vector<TestType> x(static_cast<std::size_t>(count * p));
      pdml::VmfSampleSaved<TestType> saved;
      pdml::vmf_sample<TestType>(cview(eta, 1, p), count,
                                 pdml::RngKey{1000u + static_cast<unsigned>(p), static_cast<std::uint64_t>(kappa_index++)},
                                 mview(x, count, p), &saved);
      REQUIRE(saved.failed_draws == 0);
      std::vector<double> ys(static_cast<std::size_t>(count));
      std::vector<double> ws(static_cast<std::size_t>(count));
      double max_norm_error = 0;
      for (int s = 0; s < count; ++s) {
        long double dist2 = 0, norm2 = 0;
        for (int j = 0; j < p; ++j) {
          const long double xj = x[static_cast<std::size_t>(s * p + j)];
          const long double d = xj - mu[static_cast<std::size_t>(j)];
          dist2 += d * d;
          norm2 += xj * xj;
        }
        // 1 - w = |x - mu|^2 / 2 for unit x, mu: no cancellation near w = 1.
        ys[static_cast<std::size_t>(s)] = static_cast<double>(dist2 / 2);
        ws[static_cast<std::size_t>(s)] = 1.0 - static_cast<double>(dist2 / 2);
        max_norm_error = std::max(max_norm_error, static_cast<double>(std::abs(std::sqrt(norm2) - 1)));
        attempts_total += saved.draws[static_cast<std::size_t>(s)].attempts;
      }
      draws_total += count;
      CHECK(max_norm_error <= norm_limit);
      worst_norm = std::max(worst_norm, max_norm_error);

      const pdml_test::VmfMarginalTable table(p, kappa);
      std::sort(ys.begin(), ys.end());
      const std::vector<double> cdf = table.cdf_at_sorted(ys);
      double d = 0;
      for (int i = 0; i < count; ++i) {
        const double f = cdf[static_cast<std::size_t>(i)];
        d = std::max(d, std::max(f - double(i) / count, double(i + 1) / count - f));
      }
      const double ks_p = pdml_test::ks_p_value(d, static_cast<std::size_t>(count));
      CHECK(ks_p > ks_alpha);
      worst_ks_p = std::min(worst_ks_p, ks_p);

      const pdml_test::MeanTest mean = pdml_test::mean_z_test(
          ws, static_cast<double>(table.mean_w()), static_cast<double>(table.variance_w()));
      CHECK(std::abs(mean.z) < z_limit);
      worst_z = std::max(worst_z, std::abs(mean.z));
    }
  }
  // Wood's envelope: mean number of proposals per draw (measured ~1.2).
  CHECK(attempts_total / draws_total < 1.6);
  WARN("worst KS p-value " << worst_ks_p << ", worst |z| " << worst_z << ", worst | |x| - 1 | "
                           << worst_norm / std::numeric_limits<TestType>::epsilon()
                           << " eps, mean Wood attempts " << attempts_total / draws_total);
}

TEST_CASE("vMF sampler is stable at kappa = 1e6", "[vmf][sampler]") {
  for (int p : {2, 3, 16, 4096}) {
    CAPTURE(p);
    const int count = p > 16 ? 200 : 2000;
    const std::vector<double> mu = test_direction(p);
    const std::vector<double> eta = eta_for<double>(mu, 1e6, 1);
    std::vector<double> x(static_cast<std::size_t>(count * p));
    pdml::vmf_sample<double>(cview(eta, 1, p), count, {5, 6}, mview(x, count, p));
    std::vector<double> ws;
    for (int s = 0; s < count; ++s) {
      double dist2 = 0;
      for (int j = 0; j < p; ++j) {
        const double d = x[static_cast<std::size_t>(s * p + j)] - mu[static_cast<std::size_t>(j)];
        dist2 += d * d;
      }
      REQUIRE(std::isfinite(dist2));
      ws.push_back(1 - dist2 / 2);
    }
    const pdml_test::VmfMarginalTable table(p, 1e6);
    const auto mean = pdml_test::mean_z_test(ws, static_cast<double>(table.mean_w()),
                                             static_cast<double>(table.variance_w()));
    CHECK(std::abs(mean.z) < 4.0);
  }
}

TEST_CASE("vMF tangent part is isotropic on mu-perp", "[vmf][sampler][statistics]") {
  const double alpha = 1e-4 / 7.0;
  for (int p : {3, 5, 16}) {
    CAPTURE(p);
    const int count = 4000;
    const std::vector<double> mu = test_direction(p);
    // Two orthonormal vectors of mu-perp (Gram-Schmidt on e_1, e_2).
    std::vector<std::vector<double>> basis;
    for (int e = 0; e < 2; ++e) {
      std::vector<double> b(static_cast<std::size_t>(p), 0.0);
      b[static_cast<std::size_t>(e)] = 1.0;
      std::vector<std::vector<double>> previous = basis;
      previous.push_back(mu);
      for (const auto& q : previous) {
        double dot = 0;
        for (int j = 0; j < p; ++j) dot += b[static_cast<std::size_t>(j)] * q[static_cast<std::size_t>(j)];
        for (int j = 0; j < p; ++j) b[static_cast<std::size_t>(j)] -= dot * q[static_cast<std::size_t>(j)];
      }
      double norm = 0;
      for (double v : b) norm += v * v;
      for (double& v : b) v /= std::sqrt(norm);
      basis.push_back(b);
    }
    const std::vector<double> eta = eta_for<double>(mu, 10.0, 1);
    std::vector<double> x(static_cast<std::size_t>(count * p));
    pdml::VmfSampleSaved<double> saved;
    pdml::vmf_sample<double>(cview(eta, 1, p), count, {77, 1}, mview(x, count, p), &saved);
    // For t uniform on S^{p-2}: (b^T t + 1) / 2 ~ Beta((p-2)/2, (p-2)/2).
    boost::math::beta_distribution<double> law(0.5 * (p - 2), 0.5 * (p - 2));
    for (int e = 0; e < 2; ++e) {
      std::vector<double> values;
      for (int s = 0; s < count; ++s) {
        double c = 0;
        for (int j = 0; j < p; ++j) {
          c += basis[static_cast<std::size_t>(e)][static_cast<std::size_t>(j)] *
               saved.tangents[static_cast<std::size_t>(s * p + j)];
        }
        values.push_back(0.5 * (c + 1));
      }
      const double d = pdml_test::ks_statistic(values, [&](double v) {
        return boost::math::cdf(law, std::min(1.0, std::max(0.0, v)));
      });
      CHECK(pdml_test::ks_p_value(d, values.size()) > alpha);
    }
    // The saved tangent is the unit vector of mu-perp that builds x.
    for (int s = 0; s < 10; ++s) {
      const auto& draw = saved.draws[static_cast<std::size_t>(s)];
      const double r = std::sqrt(draw.one_minus_w * draw.one_plus_w);
      for (int j = 0; j < p; ++j) {
        CHECK(x[static_cast<std::size_t>(s * p + j)] ==
              Approx(draw.w * mu[static_cast<std::size_t>(j)] +
                     r * saved.tangents[static_cast<std::size_t>(s * p + j)])
                  .margin(1e-14));
      }
    }
  }
  SECTION("p = 2: both tangent signs equally likely") {
    const int count = 4000;
    const std::vector<double> mu = test_direction(2);
    const std::vector<double> eta = eta_for<double>(mu, 3.0, 1);
    std::vector<double> x(static_cast<std::size_t>(count * 2));
    pdml::vmf_sample<double>(cview(eta, 1, 2), count, {78, 1}, mview(x, count, 2));
    int positive = 0;
    for (int s = 0; s < count; ++s) {
      const double cross = mu[0] * x[static_cast<std::size_t>(2 * s + 1)] - mu[1] * x[static_cast<std::size_t>(2 * s)];
      positive += cross > 0;
    }
    const double z = (positive - 0.5 * count) / std::sqrt(0.25 * count);
    CHECK(std::abs(z) < 4.3);  // two-sided 1.4e-5
  }
}

TEST_CASE("dw/dkappa matches closed forms and the finite-difference CDF reference",
          "[vmf][gradient]") {
  SECTION("p = 3: derivative of the exact inverse CDF at fixed u") {
    for (double kappa : {1e-3, 0.5, 4.0, 60.0, 1e4}) {
      for (double u : {1e-6, 0.1, 0.5, 0.9, 0.999999}) {
        // w = 1 + log(u + (1-u) e^{-2k}) / k = -1 + log(1 + u expm1(2k)) / k;
        // differentiate the form whose terms do not cancel for this u.
        const long double k = kappa;
        const long double e = std::exp(-2 * k);
        const long double inner = u + (1 - u) * e;
        const long double one_minus_w = -std::log1p(-(1 - u) * -std::expm1(-2 * k)) / k;
        const long double one_plus_w =
            k < 50 ? std::log1p(u * std::expm1(2 * k)) / k : 2 + std::log(inner) / k;
        const long double exact =
            u >= 0.5 ? one_minus_w / k - 2 * (1 - u) * e / (k * inner)
                     : (2 * u / (u + (1 - u) * e) - one_plus_w) / k;
        const double dw = pdml::vmf_marginal_dw_dkappa(
            3, kappa, static_cast<double>(one_minus_w), static_cast<double>(one_plus_w),
            pdml::vmf_mean_resultant_complement(3, kappa), 1 + pdml::vmf_mean_resultant(3, kappa));
        CAPTURE(kappa, u);
        CHECK(dw == Approx(static_cast<double>(exact)).epsilon(1e-11));
      }
    }
  }
  SECTION("p = 2, kappa = 0: dw/dkappa = 1 - w^2") {
    for (double y : {1e-9, 1e-3, 0.4, 1.0, 1.7, 1.999}) {
      const double dw = pdml::vmf_marginal_dw_dkappa(2, 0.0, y, 2 - y, 1.0, 1.0);
      CHECK(dw == Approx(y * (2 - y)).epsilon(1e-13));
    }
  }
  SECTION("general p: five-point finite difference of the long double CDF") {
    // Reference accuracy ~1e-10 (step and quadrature); measured agreement of
    // the 128-node tail quadrature with it: ~2e-11.
    double worst = 0;
    for (int p : {4, 16, 128, 4096}) {
      for (double kappa : {0.0, 1.0, 100.0, 1e6}) {
        const pdml_test::VmfMarginalTable table(p, kappa);
        const double mean_y = static_cast<double>(table.mean_y());
        const double sd = std::sqrt(static_cast<double>(table.variance_w()));
        for (double z : {-3.0, 2.5}) {
          double y = mean_y - z * sd;
          if (y <= 0) y = 0.05 * mean_y;
          if (y >= 2) y = 2 - 0.05 * (2 - mean_y);
          CAPTURE(p, kappa, y);
          const double dw = pdml::vmf_marginal_dw_dkappa(
              p, kappa, y, 2 - y, pdml::vmf_mean_resultant_complement(p, kappa),
              1 + pdml::vmf_mean_resultant(p, kappa));
          const double ref = pdml_test::vmf_dw_dkappa_reference(p, kappa, y);
          CHECK(dw == Approx(ref).epsilon(1e-8));
          worst = std::max(worst, std::abs(dw - ref) / std::abs(ref));
        }
      }
    }
    WARN("dw/dkappa worst relative difference to the FD reference: " << worst);
  }
  SECTION("every p, both tails: the tail integral by long double tanh-sinh") {
    // Points around the mean (where p = 2's lower tail once lost 1e-6 to
    // the far end's singularity) and in both tails. Measured worst against
    // a 50-digit version of this reference over a denser grid: 2.3e-14.
    double worst = 0;
    for (int p : {2, 3, 4, 5, 16, 128, 4096}) {
      for (double kappa : {0.1, 1.0, 12.0, 100.0, 1e4, 1e6}) {
        const double one_minus_mean = pdml::vmf_mean_resultant_complement(p, kappa);
        const double sd = std::sqrt(pdml::vmf_mean_resultant_derivative(p, kappa));
        for (double z : {-3.0, -0.1, 0.1, 3.0}) {
          const double y = one_minus_mean + z * sd;
          if (!(y > 0.0 && y < 2.0)) continue;
          CAPTURE(p, kappa, z, y);
          const double dw = pdml::vmf_marginal_dw_dkappa(p, kappa, y, 2 - y, one_minus_mean,
                                                         1 + pdml::vmf_mean_resultant(p, kappa));
          const double ref =
              static_cast<double>(pdml_test::vmf_dw_dkappa_integral_reference<long double>(p, kappa, y));
          CHECK(dw == Approx(ref).epsilon(1e-12));
          worst = std::max(worst, std::abs(dw - ref) / std::abs(ref));
        }
      }
    }
    WARN("dw/dkappa worst relative difference to the tail-integral reference: " << worst);
  }
}

TEMPLATE_TEST_CASE("Backward gives d/d eta E[mu0^T x] = A_p'(kappa) mu0 in expectation",
                   "[vmf][gradient][statistics]", float, double) {
  // Each of `count` identical distributions gets one sample, so grad_eta's
  // rows are independent per-sample gradient estimates. 20 tests per type.
  const double z_limit = 4.9;
  for (int p : {2, 3, 16, 128}) {
    for (double kappa : {0.0, 0.5, 12.0, 100.0, 3000.0}) {
      CAPTURE(p, kappa);
      const int count = p >= 128 ? 1500 : 4000;
      const std::vector<double> mu = test_direction(p);
      const std::vector<TestType> eta = eta_for<TestType>(mu, kappa, count);
      std::vector<TestType> x(static_cast<std::size_t>(count * p));
      pdml::VmfSampleSaved<TestType> saved;
      pdml::vmf_sample<TestType>(cview(eta, count, p), 1, {31, 7}, mview(x, count, p), &saved);
      std::vector<TestType> grad_x(static_cast<std::size_t>(count * p));
      for (int n = 0; n < count; ++n) {
        for (int j = 0; j < p; ++j) grad_x[static_cast<std::size_t>(n * p + j)] = static_cast<TestType>(mu[static_cast<std::size_t>(j)]);
      }
      std::vector<TestType> grad_eta(static_cast<std::size_t>(count * p));
      pdml::vmf_sample_backward<TestType>(saved, cview(grad_x, count, p), mview(grad_eta, count, p));
      std::vector<double> along;
      for (int n = 0; n < count; ++n) {
        double a = 0;
        for (int j = 0; j < p; ++j) a += mu[static_cast<std::size_t>(j)] * grad_eta[static_cast<std::size_t>(n * p + j)];
        REQUIRE(std::isfinite(a));
        along.push_back(a);
      }
      double mean = 0, var = 0;
      for (double a : along) mean += a;
      mean /= count;
      for (double a : along) var += (a - mean) * (a - mean);
      var /= (count - 1);
      const double exact = static_cast<double>(pdml_test::VmfMarginalTable(p, kappa).variance_w());
      const double z = (mean - exact) / std::sqrt(var / count);
      CAPTURE(mean, exact, z);
      CHECK(std::abs(z) < z_limit);
    }
  }
}

TEST_CASE("Backward matches finite differences with common random numbers", "[vmf][gradient]") {
  // g(x) = c^T x + (d^T x)^2 / 2 per sample; the rows of a batch of identical
  // distributions are the per-sample gradients.
  auto run = [](int p, double kappa, const std::vector<double>& eta_row, int count,
                std::vector<double>* grad_out, std::vector<double>& values) {
    const std::vector<double> c = test_direction(p);
    std::vector<double> dvec(static_cast<std::size_t>(p));
    for (int j = 0; j < p; ++j) dvec[static_cast<std::size_t>(j)] = std::cos(0.3 + 1.3 * j);
    (void)kappa;
    std::vector<double> eta(static_cast<std::size_t>(count * p));
    for (int n = 0; n < count; ++n) {
      for (int j = 0; j < p; ++j) eta[static_cast<std::size_t>(n * p + j)] = eta_row[static_cast<std::size_t>(j)];
    }
    std::vector<double> x(static_cast<std::size_t>(count * p));
    pdml::VmfSampleSaved<double> saved;
    pdml::vmf_sample<double>(cview(eta, count, p), 1, {2, 3}, mview(x, count, p), &saved);
    values.assign(static_cast<std::size_t>(count), 0.0);
    std::vector<double> grad_x(static_cast<std::size_t>(count * p));
    for (int n = 0; n < count; ++n) {
      double lin = 0, quad = 0;
      for (int j = 0; j < p; ++j) {
        lin += c[static_cast<std::size_t>(j)] * x[static_cast<std::size_t>(n * p + j)];
        quad += dvec[static_cast<std::size_t>(j)] * x[static_cast<std::size_t>(n * p + j)];
      }
      values[static_cast<std::size_t>(n)] = lin + 0.5 * quad * quad;
      for (int j = 0; j < p; ++j) {
        grad_x[static_cast<std::size_t>(n * p + j)] = c[static_cast<std::size_t>(j)] + quad * dvec[static_cast<std::size_t>(j)];
      }
    }
    if (grad_out != nullptr) {
      grad_out->assign(static_cast<std::size_t>(count * p), 0.0);
      pdml::vmf_sample_backward<double>(saved, cview(grad_x, count, p), mview(*grad_out, count, p));
    }
  };
  SECTION("direction (pathwise in mu), p in {2, 5, 64}: perturbations orthogonal to mu") {
    for (int p : {2, 5, 64}) {
      for (double kappa : {0.7, 15.0, 400.0}) {
        CAPTURE(p, kappa);
        const int count = 200;
        const std::vector<double> mu = test_direction(p);
        std::vector<double> eta = eta_for<double>(mu, kappa, 1);
        std::vector<double> u(static_cast<std::size_t>(p));
        double dot = 0, norm = 0;
        for (int j = 0; j < p; ++j) u[static_cast<std::size_t>(j)] = std::cos(2.0 + j);
        for (int j = 0; j < p; ++j) dot += u[static_cast<std::size_t>(j)] * mu[static_cast<std::size_t>(j)];
        for (int j = 0; j < p; ++j) u[static_cast<std::size_t>(j)] -= dot * mu[static_cast<std::size_t>(j)];
        for (double v : u) norm += v * v;
        for (double& v : u) v /= std::sqrt(norm);
        const double h = 1e-6 * kappa;
        std::vector<double> plus = eta, minus = eta, grad, f_plus, f_minus, f0;
        for (int j = 0; j < p; ++j) {
          plus[static_cast<std::size_t>(j)] += h * u[static_cast<std::size_t>(j)];
          minus[static_cast<std::size_t>(j)] -= h * u[static_cast<std::size_t>(j)];
        }
        run(p, kappa, eta, count, &grad, f0);
        run(p, kappa, plus, count, nullptr, f_plus);
        run(p, kappa, minus, count, nullptr, f_minus);
        int agree = 0;
        for (int n = 0; n < count; ++n) {
          const double fd = (f_plus[static_cast<std::size_t>(n)] - f_minus[static_cast<std::size_t>(n)]) / (2 * h);
          double analytic = 0;
          for (int j = 0; j < p; ++j) analytic += grad[static_cast<std::size_t>(n * p + j)] * u[static_cast<std::size_t>(j)];
          agree += std::abs(fd - analytic) <= 1e-5 * (1 + std::abs(analytic));
        }
        // kappa moves by O(h^2): a Wood proposal may flip for a rare sample.
        CHECK(agree >= count - 2);
      }
    }
  }
  SECTION("full eta, p = 3 (inverse-CDF sampler: every sample is smooth in kappa)") {
    for (double kappa : {0.3, 8.0, 250.0}) {
      CAPTURE(kappa);
      const int p = 3;
      const int count = 200;
      const std::vector<double> eta = eta_for<double>(test_direction(p), kappa, 1);
      std::vector<double> grad, f0;
      run(p, kappa, eta, count, &grad, f0);
      for (int j = 0; j < p; ++j) {
        const double h = 1e-6 * kappa;
        std::vector<double> plus = eta, minus = eta, f_plus, f_minus;
        plus[static_cast<std::size_t>(j)] += h;
        minus[static_cast<std::size_t>(j)] -= h;
        run(p, kappa, plus, count, nullptr, f_plus);
        run(p, kappa, minus, count, nullptr, f_minus);
        for (int n = 0; n < count; ++n) {
          const double fd = (f_plus[static_cast<std::size_t>(n)] - f_minus[static_cast<std::size_t>(n)]) / (2 * h);
          CHECK(grad[static_cast<std::size_t>(n * p + j)] == Approx(fd).margin(1e-5).epsilon(1e-5));
        }
      }
    }
  }
}

TEST_CASE("vmf_sample stream layout, determinism and thread independence", "[vmf][sampler]") {
  const int p = 7, count = 5, samples = 3;
  std::vector<double> eta(static_cast<std::size_t>(count * p));
  for (int i = 0; i < count * p; ++i) eta[static_cast<std::size_t>(i)] = std::sin(0.37 * i) * (i % p == 0 ? 20 : 1);
  for (int j = 0; j < p; ++j) eta[static_cast<std::size_t>(2 * p + j)] = 0;  // one uniform row
  std::vector<double> x(static_cast<std::size_t>(samples * count * p));
  const pdml::RngKey key{123, 456};
  pdml::vmf_sample<double>(cview(eta, count, p), samples, key, mview(x, samples * count, p));
  for (int s = 0; s < samples; ++s) {
    for (int n = 0; n < count; ++n) {
      std::vector<double> mu(static_cast<std::size_t>(p)), y(static_cast<std::size_t>(p));
      const double kappa = pdml::vmf_mean_direction(eta.data() + n * p, p, mu.data());
      pdml::RandomStream stream(key, pdml::vmf_sample_stream_index(s, n, count));
      REQUIRE(pdml::vmf_sample_stream_index(s, n, count) == static_cast<std::uint64_t>(s * count + n));
      pdml::vmf_sample_one(stream, p, mu.data(), kappa, y.data(), static_cast<double*>(nullptr));
      for (int j = 0; j < p; ++j) {
        CHECK(pdml_test::same_evaluation(x[static_cast<std::size_t>((s * count + n) * p + j)],
                                         y[static_cast<std::size_t>(j)], 1.0));
      }
    }
  }
#if defined(_OPENMP)
  // Large enough to take the parallel path; results identical for 1 and 2 threads.
  const int big = 4000, q = 32;
  std::vector<float> eta_big(static_cast<std::size_t>(big * q));
  for (int i = 0; i < big * q; ++i) eta_big[static_cast<std::size_t>(i)] = std::cos(0.11f * i) * 3;
  std::vector<float> one(static_cast<std::size_t>(big * q)), two(static_cast<std::size_t>(big * q));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  pdml::vmf_sample<float>(cview(eta_big, big, q), 1, key, mview(one, big, q));
  omp_set_num_threads(2);
  pdml::vmf_sample<float>(cview(eta_big, big, q), 1, key, mview(two, big, q));
  omp_set_num_threads(threads);
  CHECK(one == two);
#endif
}

TEST_CASE("vmf_sample validates its arguments before writing", "[vmf][sampler][validation]") {
  const int p = 4;
  std::vector<double> eta(2 * p, 1.0);
  std::vector<double> x(6 * p, -7.0);
  auto untouched = [&] { return std::all_of(x.begin(), x.end(), [](double v) { return v == -7.0; }); };
  auto throws_naming = [&](auto call, const char* name) {
    try {
      call();
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(std::string("'") + name + "'") != std::string::npos);
    }
    CHECK(untouched());
  };
  throws_naming([&] { pdml::vmf_sample<double>(cview(eta, 2, p), 3, {1, 1}, mview(x, 5, p)); }, "samples");
  throws_naming([&] { pdml::vmf_sample<double>(cview(eta, 2, p), -1, {1, 1}, mview(x, 6, p)); }, "n_samples");
  throws_naming([&] { pdml::vmf_sample<double>(cview(eta, 2, 1), 3, {1, 1}, mview(x, 6, 1)); }, "eta");
  eta[3] = std::numeric_limits<double>::quiet_NaN();
  throws_naming([&] { pdml::vmf_sample<double>(cview(eta, 2, p), 3, {1, 1}, mview(x, 6, p)); }, "eta");
  eta[3] = 1.0;
  pdml::VmfSampleSaved<double> saved;
  pdml::vmf_sample<double>(cview(eta, 2, p), 3, {1, 1}, mview(x, 6, p), &saved);
  std::vector<double> g(6 * p, 1.0), ge(2 * p, -7.0);
  CHECK_THROWS_AS(pdml::vmf_sample_backward<double>(saved, cview(g, 5, p), mview(ge, 2, p)), std::invalid_argument);
  CHECK_THROWS_AS(pdml::vmf_sample_backward<double>(saved, cview(g, 6, p), mview(ge, 1, p)), std::invalid_argument);
  CHECK_THROWS_AS(pdml::vmf_sample_backward<double>(pdml::VmfSampleSaved<double>{}, cview(g, 6, p), mview(ge, 2, p)), std::invalid_argument);
  g[5] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(pdml::vmf_sample_backward<double>(saved, cview(g, 6, p), mview(ge, 2, p)), std::invalid_argument);
  CHECK(std::all_of(ge.begin(), ge.end(), [](double v) { return v == -7.0; }));
  // Empty batches are fine.
  pdml::vmf_sample<double>(cview(eta, 2, p), 0, {1, 1}, mview(x, 0, p));
}

TEST_CASE("vMF sampler stays finite for extreme kappa", "[vmf][sampler]") {
  for (double kappa : {1e12, 1e100, 1e300}) {
    for (int p : {2, 3, 5, 64}) {
      CAPTURE(kappa, p);
      const std::vector<double> mu = test_direction(p);
      std::vector<double> x(static_cast<std::size_t>(p));
      pdml::RandomStream stream({8, 8}, 1);
      const auto draw = pdml::vmf_sample_one(stream, p, mu.data(), kappa, x.data(),
                                             static_cast<double*>(nullptr));
      REQUIRE(draw.ok);
      CHECK(draw.one_minus_w > 0.0);
      CHECK(draw.one_minus_w < 1e3 * p / kappa);
      for (double v : x) CHECK(std::isfinite(v));
      const double dw = pdml::vmf_marginal_dw_dkappa(
          p, kappa, draw.one_minus_w, draw.one_plus_w,
          pdml::vmf_mean_resultant_complement(p, kappa), 1 + pdml::vmf_mean_resultant(p, kappa));
      CHECK(std::isfinite(dw));
    }
  }
}
