// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include <pdml/similarities/nivmf_scoring.hpp>

#include "gradient_check.hpp"
#include "reference_formulas.hpp"

using namespace pdml_test;

namespace {

Mat scores(const Mat& x, const Mat& v, const Mat& k, pdml::NivmfScoring scoring,
           pdml::NivmfScoresSaved<double>& saved) {
  Mat out(x.rows(), v.rows());
  pdml::nivmf_scores_forward(cview(x), cview(v), cview(k), 0.1, scoring, mview(out), saved);
  return out;
}

}  // namespace

TEST_CASE("nivMF scores: formulas and gradients of every input", "[similarities]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    std::mt19937_64 rng(81);
    Mat x = unit_rows(random_matrix(rng, 7, 6)), v = random_matrix(rng, 4, 6),
        k = random_uniform(rng, 4, 6, 0.3, 5.0), w = random_matrix(rng, 7, 4);
    k(1, 1) = 0.05;  // clamped
    pdml::NivmfScoresSaved<double> saved;
    const Mat l = scores(x, v, k, scoring, saved);
    for (int n = 0; n < 7; ++n) {
      for (int c = 0; c < 4; ++c) {
        auto kc = pdml_ref::row(k, c);
        for (auto& e : kc) e = std::max<pdml_ref::Real>(e, 0.1L);
        const auto nu = pdml_ref::unit(pdml_ref::row(v, c));
        const auto xn = pdml_ref::row(x, n);
        const pdml_ref::Real expected = scoring == pdml::NivmfScoring::paper_rule
                                            ? pdml_ref::nivmf_paper_score(nu, kc, xn)
                                            : pdml_ref::nivmf_log_density(nu, kc, xn);
        CHECK(l(n, c) == Approx(static_cast<double>(expected)).epsilon(1e-12).margin(1e-13));
      }
    }
    Mat gx(7, 6), gv(4, 6), gk(4, 6);
    pdml::nivmf_scores_backward(saved, cview(w), mview(gx), mview(gv), mview(gk));
    auto f = [&] {
      pdml::NivmfScoresSaved<double> s;
      return weighted_sum(w, scores(x, v, k, scoring, s));
    };
    const double ex = relative_error(gx, numeric_gradient(f, x));
    const double ev = relative_error(gv, numeric_gradient(f, v));
    const double ek = relative_error(gk, numeric_gradient(f, k));
    INFO("nivMF scores scoring " << static_cast<int>(scoring) << ": rel err points " << ex
                                 << " proxies " << ev << " kappas " << ek);
    CHECK(ex <= 1e-6);
    CHECK(ev <= 1e-6);
    CHECK(ek <= 1e-6);
    CHECK(gk(1, 1) == 0.0);
  }
}

TEST_CASE("nivMF scores reject bad input before writing", "[similarities]") {
  std::mt19937_64 rng(82);
  Mat x = unit_rows(random_matrix(rng, 3, 4)), v = random_matrix(rng, 2, 4),
      k = random_uniform(rng, 2, 4, 0.3, 5.0);
  Mat out = Mat::Constant(3, 2, 42.0);
  pdml::NivmfScoresSaved<double> saved;
  auto run = [&](const Mat& xx, const Mat& vv, const Mat& kk, double min_kappa,
                 pdml::NivmfScoring scoring) {
    pdml::nivmf_scores_forward(cview(xx), cview(vv), cview(kk), min_kappa, scoring, mview(out),
                               saved);
  };
  const auto paper = pdml::NivmfScoring::paper_rule;
  Mat bad = x;
  bad(0, 0) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(run(bad, v, k, 0.1, paper), Catch::Contains("'points'"));
  bad = v;
  bad.row(0).setZero();
  CHECK_THROWS_WITH(run(x, bad, k, 0.1, paper), Catch::Contains("'proxies'"));
  CHECK_THROWS_WITH(run(x, v, Mat::Ones(2, 3), 0.1, paper), Catch::Contains("'kappas'"));
  CHECK_THROWS_WITH(run(x, v, k, 0.0, paper), Catch::Contains("'min_kappa'"));
  bad = x;
  bad.row(2).setZero();
  CHECK_NOTHROW(run(bad, v, k, 0.1, paper));  // the paper's rule is defined at 0
  out.setConstant(42.0);
  CHECK_THROWS_WITH(run(bad, v, k, 0.1, pdml::NivmfScoring::exact_density),
                    Catch::Contains("'points'"));
  CHECK((out.array() == 42.0).all());
  Mat gx = Mat::Constant(3, 4, 7.0), gv(2, 4), gk(2, 5), g(3, 2);
  g.setOnes();
  CHECK_THROWS_WITH(pdml::nivmf_scores_backward(saved, cview(g), mview(gx), mview(gv), mview(gk)),
                    Catch::Contains("'grad_kappas'"));
  CHECK((gx.array() == 7.0).all());
}
