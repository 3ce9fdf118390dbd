// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>

#include <pdml/similarities/el_nivmf.hpp>

#include "gradient_check.hpp"
#include "reference_formulas.hpp"

using namespace pdml_test;

namespace {

struct Case {
  Mat samples, proxies, kappas, weights;
  int s = 3;
  double t = 0.5;
  double min_kappa = 0.1;
  pdml::NivmfScoring scoring = pdml::NivmfScoring::paper_rule;
  pdml::Index b() const { return samples.rows() / s; }
};

Case make_case(std::uint64_t seed, int b, int c, int d, int s, pdml::NivmfScoring scoring) {
  std::mt19937_64 rng(seed);
  Case k;
  k.s = s;
  k.scoring = scoring;
  k.samples = unit_rows(random_matrix(rng, s * b, d));
  k.proxies = random_matrix(rng, c, d);
  k.kappas = random_uniform(rng, c, d, 0.5, 4.0);
  k.weights = random_matrix(rng, b, c);
  return k;
}

Mat forward(const Case& k, pdml::ElNivmfSimilaritySaved<double>& saved) {
  Mat sim(k.b(), k.proxies.rows());
  pdml::el_nivmf_similarity_forward(cview(k.samples), k.s, cview(k.proxies), cview(k.kappas),
                                    k.min_kappa, k.t, k.scoring, mview(sim), saved);
  return sim;
}

double loss(const Case& k) {
  pdml::ElNivmfSimilaritySaved<double> saved;
  return weighted_sum(k.weights, forward(k, saved));
}

void check_gradients(Case k, double tol) {
  pdml::ElNivmfSimilaritySaved<double> saved;
  forward(k, saved);
  Mat gx(k.samples.rows(), k.samples.cols()), gv(k.proxies.rows(), k.proxies.cols()),
      gk(k.kappas.rows(), k.kappas.cols());
  double gt = 0;
  pdml::el_nivmf_similarity_backward(saved, cview(k.weights), mview(gx), mview(gv), mview(gk),
                                     &gt);
  auto f = [&] { return loss(k); };
  const double ex = relative_error(gx, numeric_gradient(f, k.samples));
  const double ev = relative_error(gv, numeric_gradient(f, k.proxies));
  const double ek = relative_error(gk, numeric_gradient(f, k.kappas));
  Mat tm(1, 1);
  tm(0, 0) = k.t;
  const double et = relative_error(gt, numeric_gradient(
                                           [&] {
                                             k.t = tm(0, 0);
                                             return loss(k);
                                           },
                                           tm)(0, 0));
  INFO("scoring " << static_cast<int>(k.scoring) << ": rel err samples " << ex << " proxies "
                  << ev << " kappas " << ek << " T " << et);
  CHECK(ex <= tol);
  CHECK(ev <= tol);
  CHECK(ek <= tol);
  CHECK(et <= tol);
}

}  // namespace

TEST_CASE("EL-nivMF similarity matches the element-by-element formula", "[similarities]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    Case k = make_case(31, 3, 4, 5, 3, scoring);
    k.kappas(1, 2) = 0.01;  // clamped to min_kappa
    pdml::ElNivmfSimilaritySaved<double> saved;
    const Mat sim = forward(k, saved);
    for (int i = 0; i < 3; ++i) {
      for (int c = 0; c < 4; ++c) {
        const auto nu = pdml_ref::unit(pdml_ref::row(k.proxies, c));
        auto kc = pdml_ref::row(k.kappas, c);
        for (auto& v : kc) v = std::max<pdml_ref::Real>(v, 0.1L);
        pdml_ref::Real acc = 0;
        for (int s = 0; s < k.s; ++s) {
          const auto x = pdml_ref::row(k.samples, s * 3 + i);
          const pdml_ref::Real l = scoring == pdml::NivmfScoring::paper_rule
                                       ? pdml_ref::nivmf_paper_score(nu, kc, x)
                                       : pdml_ref::nivmf_log_density(nu, kc, x);
          acc += std::exp(l / k.t);
        }
        const double expected = static_cast<double>(std::log(acc / k.s));
        CHECK(sim(i, c) == Approx(expected).epsilon(1e-12).margin(1e-12));
      }
    }
  }
}

TEST_CASE("EL-nivMF similarity backward matches finite differences", "[similarities]") {
  check_gradients(make_case(32, 4, 5, 6, 3, pdml::NivmfScoring::paper_rule), 1e-6);
  check_gradients(make_case(33, 4, 5, 6, 3, pdml::NivmfScoring::exact_density), 1e-6);
  // Some concentrations clamped (far from the kink): their gradient is exactly zero.
  Case k = make_case(34, 3, 4, 5, 2, pdml::NivmfScoring::paper_rule);
  k.kappas(0, 1) = 0.02;
  k.kappas(3, 4) = -1.0;
  check_gradients(k, 1e-6);
  pdml::ElNivmfSimilaritySaved<double> saved;
  forward(k, saved);
  Mat gx(k.samples.rows(), 5), gv(4, 5), gk(4, 5);
  pdml::el_nivmf_similarity_backward(saved, cview(k.weights), mview(gx), mview(gv), mview(gk),
                                     static_cast<double*>(nullptr));
  CHECK(gk(0, 1) == 0.0);
  CHECK(gk(3, 4) == 0.0);
}

TEST_CASE("EL-nivMF similarity: recomputing in the backward gives the same gradients",
          "[similarities]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    Case k = make_case(40, 4, 5, 6, 3, scoring);
    Mat grads[2][3];
    double gt[2];
    for (int recompute = 0; recompute < 2; ++recompute) {
      pdml::ElNivmfSimilaritySaved<double> saved;
      Mat sim(4, 5);
      pdml::el_nivmf_similarity_forward(cview(k.samples), k.s, cview(k.proxies), cview(k.kappas),
                                        k.min_kappa, k.t, k.scoring, mview(sim), saved,
                                        recompute == 1);
      CHECK(saved.weights.size() == (recompute == 1 ? 0 : 12 * 5));
      grads[recompute][0].resize(12, 6);
      grads[recompute][1].resize(5, 6);
      grads[recompute][2].resize(5, 6);
      pdml::el_nivmf_similarity_backward(saved, cview(k.weights), mview(grads[recompute][0]),
                                         mview(grads[recompute][1]), mview(grads[recompute][2]),
                                         &gt[recompute]);
    }
    for (int j = 0; j < 3; ++j) {
      CHECK((grads[0][j] - grads[1][j]).cwiseAbs().maxCoeff() <=
            1e-14 * grads[0][j].cwiseAbs().maxCoeff());
    }
    CHECK(gt[0] == Approx(gt[1]).epsilon(1e-14));
  }
}

TEST_CASE("EL-nivMF similarity is invariant to relabelling and batch permutation",
          "[similarities]") {
  Case k = make_case(35, 5, 6, 4, 3, pdml::NivmfScoring::paper_rule);
  pdml::ElNivmfSimilaritySaved<double> saved;
  const Mat sim = forward(k, saved);
  std::mt19937_64 rng(36);
  std::vector<int> pc(6), pb(5);
  std::iota(pc.begin(), pc.end(), 0);
  std::iota(pb.begin(), pb.end(), 0);
  std::shuffle(pc.begin(), pc.end(), rng);
  std::shuffle(pb.begin(), pb.end(), rng);
  Case q = k;
  for (int c = 0; c < 6; ++c) {
    q.proxies.row(pc[c]) = k.proxies.row(c);
    q.kappas.row(pc[c]) = k.kappas.row(c);
  }
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 5; ++i) q.samples.row(s * 5 + i) = k.samples.row(s * 5 + pb[i]);
  }
  pdml::ElNivmfSimilaritySaved<double> saved_q;
  const Mat sim_q = forward(q, saved_q);
  double worst = 0;
  for (int i = 0; i < 5; ++i) {
    for (int c = 0; c < 6; ++c) worst = std::max(worst, std::abs(sim_q(i, pc[c]) - sim(pb[i], c)));
  }
  CHECK(worst <= 1e-12 * sim.cwiseAbs().maxCoeff());
}

TEST_CASE("EL-nivMF similarity: extreme inputs stay finite; float agrees", "[similarities]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    Case k = make_case(37, 3, 4, 4096, 2, scoring);
    k.kappas.row(0).setConstant(1e5);
    k.kappas.row(1).setConstant(1e-3);
    k.t = 0.003;
    pdml::ElNivmfSimilaritySaved<double> saved;
    const Mat sim = forward(k, saved);
    CHECK(sim.allFinite());
    Mat gx(k.samples.rows(), 4096), gv(4, 4096), gk(4, 4096);
    double gt = 0;
    pdml::el_nivmf_similarity_backward(saved, cview(k.weights), mview(gx), mview(gv), mview(gk),
                                       &gt);
    CHECK(gx.allFinite());
    CHECK(gv.allFinite());
    CHECK(gk.allFinite());
    CHECK(std::isfinite(gt));

    const pdml::RowMajorMatrix<float> xf = k.samples.cast<float>(), vf = k.proxies.cast<float>(),
                                      kf = k.kappas.cast<float>();
    pdml::RowMajorMatrix<float> simf(3, 4);
    pdml::ElNivmfSimilaritySaved<float> savedf;
    pdml::el_nivmf_similarity_forward(cview(xf), 2, cview(vf), cview(kf), 0.1f, 0.003f, scoring,
                                      mview(simf), savedf);
    CHECK(simf.allFinite());
  }
  Case k = make_case(38, 4, 5, 16, 3, pdml::NivmfScoring::paper_rule);
  pdml::ElNivmfSimilaritySaved<double> saved;
  const Mat sim = forward(k, saved);
  const pdml::RowMajorMatrix<float> xf = k.samples.cast<float>(), vf = k.proxies.cast<float>(),
                                    kf = k.kappas.cast<float>();
  pdml::RowMajorMatrix<float> simf(4, 5);
  pdml::ElNivmfSimilaritySaved<float> savedf;
  pdml::el_nivmf_similarity_forward(cview(xf), 3, cview(vf), cview(kf), 0.1f, 0.5f, k.scoring,
                                    mview(simf), savedf);
  CHECK((simf.cast<double>() - sim).cwiseAbs().maxCoeff() <= 1e-4 * sim.cwiseAbs().maxCoeff());
}

TEST_CASE("EL-nivMF similarity rejects bad input before writing", "[similarities]") {
  Case k = make_case(39, 3, 4, 5, 2, pdml::NivmfScoring::paper_rule);
  Mat out = Mat::Constant(3, 4, 42.0);
  pdml::ElNivmfSimilaritySaved<double> saved;
  auto expect = [&](const Case& c, int s, const char* name) {
    try {
      pdml::el_nivmf_similarity_forward(cview(c.samples), s, cview(c.proxies), cview(c.kappas),
                                        c.min_kappa, c.t, c.scoring, mview(out), saved);
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
    CHECK((out.array() == 42.0).all());
  };
  expect(k, 0, "'n_samples'");
  expect(k, 4, "'samples'");
  Case bad = k;
  bad.samples(1, 1) = std::numeric_limits<double>::quiet_NaN();
  expect(bad, 2, "'samples'");
  bad = k;
  bad.proxies.row(2).setZero();
  expect(bad, 2, "'proxies'");
  bad = k;
  bad.kappas(0, 0) = std::numeric_limits<double>::infinity();
  expect(bad, 2, "'kappas'");
  bad = k;
  bad.kappas = Mat::Ones(4, 4);
  expect(bad, 2, "'kappas'");
  bad = k;
  bad.t = 0;
  expect(bad, 2, "'temperature'");
  bad = k;
  bad.min_kappa = -1;
  expect(bad, 2, "'min_kappa'");
  bad = k;
  bad.scoring = pdml::NivmfScoring::exact_density;
  bad.samples.row(0).setZero();
  expect(bad, 2, "'samples'");
}
