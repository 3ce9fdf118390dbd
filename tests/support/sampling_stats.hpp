// SPDX-License-Identifier: MIT
#pragma once
// Statistics helpers for the sampler tests: the Kolmogorov-Smirnov statistic
// and its p-value, and a z-score for a sample mean. Independent of pdml.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <vector>

namespace pdml_test {

/// Two-sided one-sample KS statistic D_n = sup |F_n - F| of `values` against
/// the continuous CDF `cdf` (values are sorted in place).
inline double ks_statistic(std::vector<double>& values, const std::function<double(double)>& cdf) {
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  double d = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double f = cdf(values[i]);
    d = std::max(d, std::max(f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f));
  }
  return d;
}

/// Asymptotic p-value P(D_n >= d) with Stephens' small-sample correction
/// lambda = (sqrt(n) + 0.12 + 0.11 / sqrt(n)) d; accurate to a few percent
/// for n >= 35, which is all a Bonferroni threshold needs.
inline double ks_p_value(double d, std::size_t count) {
  const double sn = std::sqrt(static_cast<double>(count));
  const double lambda = (sn + 0.12 + 0.11 / sn) * d;
  if (lambda < 0.2) return 1.0;
  double sum = 0.0;
  for (int k = 1; k <= 100; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    sum += (k % 2 == 1 ? term : -term);
    if (term < 1e-18) break;
  }
  return std::min(1.0, std::max(0.0, 2.0 * sum));
}

/// Mean and z-score of the sample mean against an exact mean/variance.
struct MeanTest {
  double mean;
  double z;
};
inline MeanTest mean_z_test(const std::vector<double>& values, double exact_mean,
                            double exact_variance) {
  double sum = 0.0;
  for (double v : values) sum += v;
  const double n = static_cast<double>(values.size());
  const double mean = sum / n;
  const double se = std::sqrt(exact_variance / n);
  return MeanTest{mean, se > 0.0 ? (mean - exact_mean) / se : (mean == exact_mean ? 0.0 : 1e300)};
}

}  // namespace pdml_test
