// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include <pdml/similarities/nivmf_point.hpp>

#include "gradient_check.hpp"
#include "reference_formulas.hpp"

using namespace pdml_test;

namespace {

struct Case {
  Mat e, v, k, w;
  double t = 0.4;
  pdml::NivmfScoring scoring = pdml::NivmfScoring::paper_rule;
};

Case make_case(std::uint64_t seed, int b, int c, int d, pdml::NivmfScoring scoring) {
  std::mt19937_64 rng(seed);
  return Case{random_matrix(rng, b, d, 2.0), random_matrix(rng, c, d),
              random_uniform(rng, c, d, 0.5, 5.0), random_matrix(rng, b, c), 0.4, scoring};
}

Mat forward(const Case& c, pdml::NivmfPointSimilaritySaved<double>& saved) {
  Mat sim(c.e.rows(), c.v.rows());
  pdml::nivmf_point_similarity_forward(cview(c.e), cview(c.v), cview(c.k), 0.1, c.t, c.scoring,
                                       mview(sim), saved);
  return sim;
}

}  // namespace

TEST_CASE("nivMF-to-point similarity: formula, gradients, invariance", "[similarities]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    Case k = make_case(51, 4, 3, 5, scoring);
    pdml::NivmfPointSimilaritySaved<double> saved;
    const Mat sim = forward(k, saved);
    for (int i = 0; i < 4; ++i) {
      for (int c = 0; c < 3; ++c) {
        const auto mu = pdml_ref::unit(pdml_ref::row(k.e, i));
        const auto nu = pdml_ref::unit(pdml_ref::row(k.v, c));
        const auto kc = pdml_ref::row(k.k, c);
        const pdml_ref::Real l = scoring == pdml::NivmfScoring::paper_rule
                                     ? pdml_ref::nivmf_paper_score(nu, kc, mu)
                                     : pdml_ref::nivmf_log_density(nu, kc, mu);
        CHECK(sim(i, c) == Approx(static_cast<double>(l / k.t)).epsilon(1e-12).margin(1e-13));
      }
    }
    Mat ge(4, 5), gv(3, 5), gk(3, 5);
    double gt = 0;
    pdml::nivmf_point_similarity_backward(saved, cview(k.w), mview(ge), mview(gv), mview(gk),
                                          &gt);
    auto f = [&] {
      pdml::NivmfPointSimilaritySaved<double> s;
      return weighted_sum(k.w, forward(k, s));
    };
    const double ee = relative_error(ge, numeric_gradient(f, k.e));
    const double ev = relative_error(gv, numeric_gradient(f, k.v));
    const double ek = relative_error(gk, numeric_gradient(f, k.k));
    Mat tm(1, 1);
    tm(0, 0) = k.t;
    const double et = relative_error(gt, numeric_gradient(
                                             [&] {
                                               k.t = tm(0, 0);
                                               return f();
                                             },
                                             tm)(0, 0));
    k.t = tm(0, 0);
    INFO("nivMF-to-point scoring " << static_cast<int>(scoring) << ": rel err embeddings " << ee
                                   << " proxies " << ev << " kappas " << ek << " T " << et);
    CHECK(ee <= 1e-6);
    CHECK(ev <= 1e-6);
    CHECK(ek <= 1e-6);
    CHECK(et <= 1e-6);

    // Permuting the batch permutes the rows.
    Case p = k;
    p.e = k.e.colwise().reverse().eval();
    pdml::NivmfPointSimilaritySaved<double> sp;
    const Mat sim_p = forward(p, sp);
    CHECK((sim_p.colwise().reverse() - sim).cwiseAbs().maxCoeff() <=
          1e-12 * sim.cwiseAbs().maxCoeff());
  }
}

TEST_CASE("nivMF-to-point similarity: extremes and bad input", "[similarities]") {
  Case k = make_case(52, 3, 4, 4096, pdml::NivmfScoring::paper_rule);
  k.e.row(2).setZero();  // uniform vMF: direction 0
  k.k.row(0).setConstant(1e5);
  k.t = 0.003;
  pdml::NivmfPointSimilaritySaved<double> saved;
  const Mat sim = forward(k, saved);
  Mat ge(3, 4096), gv(4, 4096), gk(4, 4096);
  double gt = 0;
  pdml::nivmf_point_similarity_backward(saved, cview(k.w), mview(ge), mview(gv), mview(gk), &gt);
  CHECK(sim.allFinite());
  CHECK(ge.allFinite());
  CHECK(gv.allFinite());
  CHECK(gk.allFinite());
  CHECK(std::isfinite(gt));
  CHECK(ge.row(2).isZero());

  Mat out = Mat::Constant(3, 4, 42.0);
  Case bad = k;
  bad.scoring = pdml::NivmfScoring::exact_density;
  CHECK_THROWS_WITH(pdml::nivmf_point_similarity_forward(cview(bad.e), cview(bad.v), cview(bad.k),
                                                         0.1, 1.0, bad.scoring, mview(out), saved),
                    Catch::Contains("'embeddings'"));
  bad = k;
  bad.k(1, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(pdml::nivmf_point_similarity_forward(cview(bad.e), cview(bad.v), cview(bad.k),
                                                         0.1, 1.0, bad.scoring, mview(out), saved),
                    Catch::Contains("'kappas'"));
  CHECK_THROWS_WITH(pdml::nivmf_point_similarity_forward(cview(k.e), cview(k.v), cview(k.k), 0.1,
                                                         0.0, k.scoring, mview(out), saved),
                    Catch::Contains("'temperature'"));
  CHECK((out.array() == 42.0).all());
}
