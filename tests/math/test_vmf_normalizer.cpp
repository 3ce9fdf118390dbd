// SPDX-License-Identifier: MIT
// Accuracy of the vMF log-normalizer log C_p, the mean resultant A_p, its
// complement and derivative (pdml/math/vmf_normalizer.hpp) and of the
// batched form (pdml/math/vmf_normalizer_batch.hpp), against Boost.Math
// cyl_bessel_i in cpp_bin_float_50 (tabulated by tools/accuracy_report,
// ~1000 points over p in [2, 8192], kappa in [1e-12, 1e7]).
//
// Bounds, in eps of the evaluated type:
//   log C_p: |err| <= 4 eps (1 + |log C_p| + p/2 + kappa). log C_p is a sum of
//            terms of size ~p that cancel to values near 0 for p ~ 10..100,
//            the analogue of the second form of the log I bound;
//   A_p, 1 - A_p: relative error <= 4 eps; A_p': relative error <= 8 eps;
//   batched form: the same bounds.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include <pdml/math/vmf_normalizer.hpp>
#include <pdml/math/vmf_normalizer_batch.hpp>

#include "reference_bessel.hpp"

namespace {

struct VmfEntry {
  int p;
  double kappa;
  int single;
  long double log_normalizer;
  long double mean_resultant;
  long double complement;
  long double derivative;
};

const VmfEntry kTable[] = {
#include "vmf_reference_data.inc"
};

double log_c_error(long double value, const VmfEntry& e, double eps) {
  const double scale = 1.0 + std::fabs(static_cast<double>(e.log_normalizer)) + 0.5 * e.p + e.kappa;
  return static_cast<double>(std::fabs(value - e.log_normalizer)) / (eps * scale);
}

double relative_error(long double value, long double reference, double eps) {
  if (!std::isfinite(static_cast<double>(value))) return std::numeric_limits<double>::infinity();
  return static_cast<double>(std::fabs((value - reference) / reference)) / eps;
}

template <class T>
void check_scalar_table() {
  const double eps = std::numeric_limits<T>::epsilon();
  double worst[4] = {0, 0, 0, 0};
  int checked = 0;
  for (const VmfEntry& e : kTable) {
    if (sizeof(T) == sizeof(float) && !e.single) continue;
    const T k = static_cast<T>(e.kappa);
    const double errors[4] = {log_c_error(pdml::vmf_log_normalizer(e.p, k), e, eps),
                              relative_error(pdml::vmf_mean_resultant(e.p, k), e.mean_resultant, eps),
                              relative_error(pdml::vmf_mean_resultant_complement(e.p, k), e.complement, eps),
                              relative_error(pdml::vmf_mean_resultant_derivative(e.p, k), e.derivative, eps)};
    for (int q = 0; q < 4; ++q) {
      INFO("p = " << e.p << ", kappa = " << e.kappa << ", quantity " << q);
      CHECK(errors[q] <= (q == 3 ? 8.0 : 4.0));
      worst[q] = std::max(worst[q], errors[q]);
    }
    ++checked;
  }
  INFO("worst (eps): log C " << worst[0] << ", A " << worst[1] << ", 1 - A " << worst[2] << ", A' " << worst[3]);
  CHECK(checked >= 200);
  CHECK(worst[0] <= 4.0);
}

}  // namespace

TEST_CASE("the tabulated vMF references agree with a fresh 50-digit evaluation", "[math][vmf]") {
  std::mt19937_64 rng(5);
  const std::size_t n = sizeof(kTable) / sizeof(kTable[0]);
  int compared = 0;
  for (int attempt = 0; attempt < 400 && compared < 16; ++attempt) {
    const VmfEntry& e = kTable[rng() % n];
    if (e.kappa > 1e4) continue;
    const double fresh = pdml_test::reference_vmf_log_normalizer(e.p, e.kappa);
    INFO("p = " << e.p << ", kappa = " << e.kappa);
    CHECK(std::fabs(fresh - static_cast<double>(e.log_normalizer)) <=
          1e-15 * std::max(1.0, std::fabs(fresh)));
    ++compared;
  }
  CHECK(compared == 16);
}

TEST_CASE("double: log C_p, A_p, 1 - A_p and A_p' within bounds", "[math][vmf]") { check_scalar_table<double>(); }

TEST_CASE("float: log C_p, A_p, 1 - A_p and A_p' within bounds", "[math][vmf]") { check_scalar_table<float>(); }

TEST_CASE("closed forms and limits at kappa = 0", "[math][vmf]") {
  // p = 3: C_3(k) = k / (4 pi sinh k).
  for (double k : {1e-8, 0.5, 1.0, 20.0, 300.0}) {
    const double log_sinh = k < 1 ? std::log(std::sinh(k)) : k + std::log1p(-std::exp(-2 * k)) - std::log(2.0);
    const double expected = std::log(k) - std::log(4 * 3.14159265358979323846) - log_sinh;
    // The bound of the table test; `expected` itself carries a few roundings.
    const double tolerance = 4 * std::numeric_limits<double>::epsilon() * (1 + std::fabs(expected) + 1.5 + k);
    CHECK(std::fabs(pdml::vmf_log_normalizer(3, k) - expected) <= tolerance);
  }
  for (int p : {2, 3, 4, 17, 36, 128, 512, 8192}) {
    const double at_zero = pdml_test::reference_vmf_log_normalizer_at_zero(p);
    const double eps = std::numeric_limits<double>::epsilon();
    const double scale = 1.0 + std::fabs(at_zero) + 0.5 * p;
    INFO("p = " << p);
    CHECK(std::fabs(pdml::vmf_log_normalizer(p, 0.0) - at_zero) <= 4 * eps * scale);
    // Continuity at 0: the tiny-kappa value differs from the limit by O(k^2).
    CHECK(std::fabs(pdml::vmf_log_normalizer(p, 1e-9) - at_zero) <= 4 * eps * scale);
    CHECK(pdml::vmf_mean_resultant(p, 0.0) == 0.0);
    CHECK(pdml::vmf_mean_resultant_complement(p, 0.0) == 1.0);
    CHECK(pdml::vmf_mean_resultant_derivative(p, 0.0) == Approx(1.0 / p).epsilon(1e-15));
    CHECK(pdml::vmf_mean_resultant_derivative(p, 1e-10) == Approx(1.0 / p).epsilon(1e-12));
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int bad_p : {1, 0, -4}) {
    CHECK(std::isnan(pdml::vmf_log_normalizer(bad_p, 1.0)));
    CHECK(std::isnan(pdml::vmf_mean_resultant(bad_p, 1.0)));
    CHECK(std::isnan(pdml::vmf_mean_resultant_complement(bad_p, 1.0)));
    CHECK(std::isnan(pdml::vmf_mean_resultant_derivative(bad_p, 1.0)));
  }
  for (double bad_k : {-1.0, nan}) {
    CHECK(std::isnan(pdml::vmf_log_normalizer(3, bad_k)));
    CHECK(std::isnan(pdml::vmf_mean_resultant(3, bad_k)));
    CHECK(std::isnan(pdml::vmf_mean_resultant_complement(3, bad_k)));
    CHECK(std::isnan(pdml::vmf_mean_resultant_derivative(3, bad_k)));
    CHECK(std::isnan(pdml::vmf_log_normalizer(3, static_cast<float>(bad_k))));
  }
}

TEST_CASE("d/dk log C_p = -A_p and d/dk A_p = A_p' by finite differences", "[math][vmf]") {
  std::mt19937_64 rng(21);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int i = 0; i < 400; ++i) {
    const int p = unit(rng) < 0.5 ? 2 + static_cast<int>(8190 * unit(rng)) : 2 + static_cast<int>(64 * unit(rng));
    const double k = std::pow(10.0, -2 + 8 * unit(rng));
    const double h = 1e-5 * k;
    const double fd_log_c = (pdml::vmf_log_normalizer(p, k + h) - pdml::vmf_log_normalizer(p, k - h)) / (2 * h);
    const double a = pdml::vmf_mean_resultant(p, k);
    // Rounding of log C (~eps (|log C| + p + k)) divided by h, plus O(h^2).
    const double log_c_noise = 8 * std::numeric_limits<double>::epsilon() *
                               (1 + std::fabs(pdml::vmf_log_normalizer(p, k)) + p + k) / h;
    INFO("p = " << p << ", kappa = " << k);
    CHECK(std::fabs(fd_log_c + a) <= 1e-8 * a + log_c_noise);
    const double fd_a = (pdml::vmf_mean_resultant(p, k + h) - pdml::vmf_mean_resultant(p, k - h)) / (2 * h);
    const double d = pdml::vmf_mean_resultant_derivative(p, k);
    CHECK(std::fabs(fd_a - d) <= 1e-6 * d + 4e-16 / h);
  }
}

TEST_CASE("the batched form matches the reference and the scalar functions", "[math][vmf][batch]") {
  // Group the table by p; the batch evaluates each group in one call.
  const double eps = std::numeric_limits<double>::epsilon();
  double worst_log = 0.0, worst_mean = 0.0;
  std::vector<int> dims;
  for (const VmfEntry& e : kTable) {
    if (std::find(dims.begin(), dims.end(), e.p) == dims.end()) dims.push_back(e.p);
  }
  for (int p : dims) {
    std::vector<const VmfEntry*> group;
    std::vector<double> kappa;
    for (const VmfEntry& e : kTable) {
      if (e.p == p) {
        group.push_back(&e);
        kappa.push_back(e.kappa);
      }
    }
    std::vector<double> log_c(kappa.size()), mean(kappa.size());
    pdml::vmf_log_normalizer_batch(p, kappa.data(), static_cast<pdml::Index>(kappa.size()), log_c.data(),
                                   mean.data());
    for (std::size_t i = 0; i < group.size(); ++i) {
      const double e_log = log_c_error(log_c[i], *group[i], eps);
      const double e_mean = relative_error(mean[i], group[i]->mean_resultant, eps);
      INFO("p = " << p << ", kappa = " << kappa[i]);
      CHECK(e_log <= 4.0);
      CHECK(e_mean <= 4.0);
      worst_log = std::max(worst_log, e_log);
      worst_mean = std::max(worst_mean, e_mean);
    }
  }
  INFO("batch worst: log C " << worst_log << " eps, A " << worst_mean << " eps");
  CHECK(worst_log <= 4.0);

  // Against the scalar functions on long random arrays (every block size,
  // every region, float and double, in place).
  std::mt19937_64 rng(22);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int p : {2, 3, 5, 20, 35, 36, 37, 64, 128, 201, 512, 2048, 8192}) {
    const int n = 1 + static_cast<int>(300 * unit(rng));
    std::vector<double> kappa(n);
    for (double& k : kappa) k = unit(rng) < 0.3 ? 64 * unit(rng) : std::pow(10.0, -12 + 19 * unit(rng));
    kappa[0] = 0.0;
    std::vector<double> log_c(n), mean(n);
    pdml::vmf_log_normalizer_batch(p, kappa.data(), n, log_c.data(), mean.data());
    std::vector<double> in_place = kappa;
    pdml::vmf_log_normalizer_batch<double>(p, in_place.data(), n, in_place.data(), nullptr);
    std::vector<float> kappa_f(kappa.begin(), kappa.end()), log_c_f(n);
    pdml::vmf_log_normalizer_batch(p, kappa_f.data(), n, log_c_f.data(), static_cast<float*>(nullptr));
    for (int i = 0; i < n; ++i) {
      const double scalar = pdml::vmf_log_normalizer(p, kappa[i]);
      const double scale = 1.0 + std::fabs(scalar) + 0.5 * p + kappa[i];
      INFO("p = " << p << ", kappa = " << kappa[i]);
      CHECK(std::fabs(log_c[i] - scalar) <= 6 * eps * scale);
      CHECK(in_place[i] == log_c[i]);
      CHECK(std::fabs(mean[i] - pdml::vmf_mean_resultant(p, kappa[i])) <= 6 * eps * mean[i]);
      const float scalar_f = pdml::vmf_log_normalizer(p, kappa_f[i]);
      CHECK(std::fabs(log_c_f[i] - scalar_f) <=
            std::numeric_limits<float>::epsilon() * (1 + std::fabs(scalar_f) + 0.5f * p + kappa_f[i]));
    }
  }
}

TEST_CASE("the batched form validates before writing", "[math][vmf][batch]") {
  std::vector<double> kappa = {1.0, 2.0, -1.0};
  std::vector<double> out(3, 42.0);
  CHECK_THROWS_AS(pdml::vmf_log_normalizer_batch(3, kappa.data(), 3, out.data(), static_cast<double*>(nullptr)),
                  std::invalid_argument);
  CHECK(out[0] == 42.0);
  kappa[2] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(pdml::vmf_log_normalizer_batch(3, kappa.data(), 3, out.data(), static_cast<double*>(nullptr)),
                  std::invalid_argument);
  kappa[2] = 3.0;
  CHECK_THROWS_AS(pdml::vmf_log_normalizer_batch(1, kappa.data(), 3, out.data(), static_cast<double*>(nullptr)),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::vmf_log_normalizer_batch(3, kappa.data(), -1, out.data(), static_cast<double*>(nullptr)),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      pdml::vmf_log_normalizer_batch(3, static_cast<const double*>(nullptr), 3, out.data(), static_cast<double*>(nullptr)),
      std::invalid_argument);
  CHECK_THROWS_AS(pdml::vmf_log_normalizer_batch(3, kappa.data(), 3, static_cast<double*>(nullptr),
                                                 static_cast<double*>(nullptr)),
                  std::invalid_argument);
  CHECK(out[0] == 42.0);
  CHECK_NOTHROW(pdml::vmf_log_normalizer_batch(3, kappa.data(), 0, static_cast<double*>(nullptr),
                                               static_cast<double*>(nullptr)));
}
