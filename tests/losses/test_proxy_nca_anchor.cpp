// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include <pdml/losses/proxy_anchor.hpp>
#include <pdml/losses/proxy_nca.hpp>

#include "../similarities/gradient_check.hpp"

using namespace pdml_test;

namespace {

double nca(const Mat& sim, const std::vector<std::int64_t>& y) {
  pdml::ProxyNcaSaved<double> saved;
  return pdml::proxy_nca_forward(cview(sim), y.data(), saved);
}

double anchor(const Mat& s, const std::vector<std::int64_t>& y, double alpha = 32,
              double delta = 0.1) {
  pdml::ProxyAnchorSaved<double> saved;
  return pdml::proxy_anchor_forward(cview(s), y.data(), alpha, delta, saved);
}

// Direct evaluation of the formulas, in long double, one element at a time.
double nca_direct(const Mat& sim, const std::vector<std::int64_t>& y) {
  long double total = 0;
  for (int i = 0; i < sim.rows(); ++i) {
    long double z = 0;
    for (int c = 0; c < sim.cols(); ++c) z += std::exp(static_cast<long double>(sim(i, c)));
    total += -sim(i, y[i]) + std::log(z);
  }
  return static_cast<double>(total / sim.rows());
}

double anchor_direct(const Mat& s, const std::vector<std::int64_t>& y, double alpha,
                     double delta) {
  long double pos = 0, neg = 0;
  int present = 0;
  for (int c = 0; c < s.cols(); ++c) {
    long double ps = 0, ns = 0;
    bool here = false;
    for (int i = 0; i < s.rows(); ++i) {
      if (y[i] == c) {
        here = true;
        ps += std::exp(-static_cast<long double>(alpha) * (s(i, c) - delta));
      } else {
        ns += std::exp(static_cast<long double>(alpha) * (s(i, c) + delta));
      }
    }
    if (here) {
      ++present;
      pos += std::log1p(ps);
    }
    neg += std::log1p(ns);
  }
  return static_cast<double>(pos / present + neg / s.cols());
}

}  // namespace

TEST_CASE("Proxy-NCA: direct formula, gradient, invariances", "[losses]") {
  std::mt19937_64 rng(21);
  const int b = 9, c = 6;
  Mat sim = random_matrix(rng, b, c, 2.0);
  auto y = random_labels(rng, b, c);
  CHECK(nca(sim, y) == Approx(nca_direct(sim, y)).epsilon(1e-13));

  pdml::ProxyNcaSaved<double> saved;
  pdml::proxy_nca_forward(cview(sim), y.data(), saved);
  Mat g(b, c);
  pdml::proxy_nca_backward(saved, 1.7, mview(g));
  const Mat num = numeric_gradient([&] { return 1.7 * nca(sim, y); }, sim);
  const double err = relative_error(g, num);
  INFO("Proxy-NCA rel err " << err);
  CHECK(err <= 1e-6);

  // Relabelling classes (permuting columns together with labels) and permuting the batch.
  std::vector<int> perm_c(c), perm_b(b);
  std::iota(perm_c.begin(), perm_c.end(), 0);
  std::iota(perm_b.begin(), perm_b.end(), 0);
  std::shuffle(perm_c.begin(), perm_c.end(), rng);
  std::shuffle(perm_b.begin(), perm_b.end(), rng);
  Mat permuted(b, c);
  std::vector<std::int64_t> y2(b);
  for (int i = 0; i < b; ++i) {
    for (int k = 0; k < c; ++k) permuted(i, perm_c[k]) = sim(perm_b[i], k);
    y2[i] = perm_c[y[perm_b[i]]];
  }
  CHECK(nca(permuted, y2) == Approx(nca(sim, y)).epsilon(1e-13));
}

TEST_CASE("ProxyAnchor: direct formula, gradient, invariances", "[losses]") {
  std::mt19937_64 rng(22);
  const int b = 10, c = 7;
  Mat s = random_uniform(rng, b, c, -1.0, 1.0);
  std::vector<std::int64_t> y = {0, 0, 2, 3, 3, 3, 5, 2, 0, 5};  // classes 1, 4, 6 absent
  CHECK(anchor(s, y) == Approx(anchor_direct(s, y, 32, 0.1)).epsilon(1e-12));
  CHECK(anchor(s, y, 4.0, -0.2) == Approx(anchor_direct(s, y, 4.0, -0.2)).epsilon(1e-12));

  // Moderate alpha keeps the finite differences well conditioned; alpha = 32 is covered
  // by the element-by-element comparison above and the gradient below at a smaller step.
  for (double alpha : {4.0, 32.0}) {
    pdml::ProxyAnchorSaved<double> saved;
    pdml::proxy_anchor_forward(cview(s), y.data(), alpha, 0.1, saved);
    Mat g(b, c);
    pdml::proxy_anchor_backward(saved, 0.6, mview(g));
    const Mat num = numeric_gradient([&] { return 0.6 * anchor(s, y, alpha); }, s,
                                     alpha > 10 ? 1e-5 : 1e-4);
    const double err = relative_error(g, num);
    INFO("ProxyAnchor alpha " << alpha << " rel err " << err);
    CHECK(err <= 1e-6);
  }

  std::vector<int> perm_c(c), perm_b(b);
  std::iota(perm_c.begin(), perm_c.end(), 0);
  std::iota(perm_b.begin(), perm_b.end(), 0);
  std::shuffle(perm_c.begin(), perm_c.end(), rng);
  std::shuffle(perm_b.begin(), perm_b.end(), rng);
  Mat permuted(b, c);
  std::vector<std::int64_t> y2(b);
  for (int i = 0; i < b; ++i) {
    for (int k = 0; k < c; ++k) permuted(i, perm_c[k]) = s(perm_b[i], k);
    y2[i] = perm_c[y[perm_b[i]]];
  }
  CHECK(anchor(permuted, y2) == Approx(anchor(s, y)).epsilon(1e-13));
}

TEST_CASE("Proxy-NCA and ProxyAnchor: extremes and bad input", "[losses]") {
  std::mt19937_64 rng(23);
  // Similarities of an EL objective at T = 0.003 reach |sim| ~ 1e7.
  Mat sim = random_matrix(rng, 4, 5, 1e7);
  auto y = random_labels(rng, 4, 5);
  pdml::ProxyNcaSaved<double> saved;
  CHECK(std::isfinite(pdml::proxy_nca_forward(cview(sim), y.data(), saved)));
  Mat g(4, 5);
  pdml::proxy_nca_backward(saved, 1.0, mview(g));
  CHECK(g.allFinite());
  Mat s = Mat::Constant(4, 5, 1.0);
  CHECK(std::isfinite(anchor(s, y, 1e4, 0.1)));

  pdml::RowMajorMatrix<float> simf = sim.cast<float>();
  pdml::ProxyNcaSaved<float> savedf;
  CHECK(std::isfinite(pdml::proxy_nca_forward(cview(simf), y.data(), savedf)));

  std::vector<std::int64_t> bad = y;
  bad[2] = 5;
  CHECK_THROWS_WITH(nca(sim, bad), Catch::Contains("'labels'"));
  bad[2] = -1;
  CHECK_THROWS_WITH(anchor(s, bad), Catch::Contains("'labels'"));
  Mat nan = sim;
  nan(1, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(nca(nan, y), Catch::Contains("'similarities'"));
  CHECK_THROWS_WITH(anchor(nan, y), Catch::Contains("'cosines'"));
  CHECK_THROWS_WITH(anchor(s, y, 0.0), Catch::Contains("'alpha'"));
  CHECK_THROWS_WITH(anchor(s, y, 32.0, std::numeric_limits<double>::infinity()),
                    Catch::Contains("'delta'"));
  g.setConstant(3.0);
  Mat wrong(5, 4);
  CHECK_THROWS_WITH(pdml::proxy_nca_backward(saved, 1.0, mview(wrong)),
                    Catch::Contains("'grad_similarities'"));
  CHECK_THROWS_WITH(pdml::proxy_nca_backward(saved, std::numeric_limits<double>::quiet_NaN(),
                                             mview(g)),
                    Catch::Contains("'grad_loss'"));
  CHECK((g.array() == 3.0).all());
}
