// SPDX-License-Identifier: MIT
// Every public backward of the similarities and distributions with
// GradientMode::accumulate equals its overwrite result plus what the outputs held,
// and rejects overlapping outputs before writing anything.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_batch.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_nivmf.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>
#include <pdml/similarities/nivmf_point.hpp>
#include <pdml/similarities/nivmf_scoring.hpp>

#include "gradient_check.hpp"

using namespace pdml_test;
using pdml::GradientMode;

namespace {

std::mt19937_64 rng(401);

/// run(mode) writes into *outputs (and *scalar when non-null).
void check_modes(const char* name, std::vector<Mat*> outputs, double* scalar,
                 const std::function<void(GradientMode)>& run) {
  INFO(name);
  for (Mat* m : outputs) m->setConstant(7.0);
  if (scalar != nullptr) *scalar = 7.0;
  run(GradientMode::overwrite);
  std::vector<Mat> fresh;
  for (Mat* m : outputs) fresh.push_back(*m);
  const double fresh_scalar = scalar != nullptr ? *scalar : 0.0;
  std::vector<Mat> previous;
  for (Mat* m : outputs) {
    *m = random_matrix(rng, m->rows(), m->cols());
    previous.push_back(*m);
  }
  const double previous_scalar = -0.375;
  if (scalar != nullptr) *scalar = previous_scalar;
  run(GradientMode::accumulate);
  for (std::size_t j = 0; j < outputs.size(); ++j) {
    const double scale = 1.0 + fresh[j].cwiseAbs().maxCoeff();
    CHECK((*outputs[j] - (previous[j] + fresh[j])).cwiseAbs().maxCoeff() <= 1e-14 * scale);
  }
  if (scalar != nullptr) {
    CHECK(*scalar == Approx(previous_scalar + fresh_scalar).epsilon(1e-14));
  }
}

}  // namespace

TEST_CASE("similarity backwards: accumulate == overwrite + previous", "[similarities]") {
  const int b = 5, c = 3, d = 4, s = 2;
  const Mat e = random_matrix(rng, b, d), v = random_matrix(rng, c, d);
  const Mat k = random_uniform(rng, c, d, 0.5, 3.0), k1 = random_uniform(rng, c, 1, 0.5, 3.0);
  const Mat samples = unit_rows(random_matrix(rng, s * b, d));
  const Mat up = random_matrix(rng, b, c);
  Mat sim(b, c), ge(b, d), gv(c, d), gk(c, d), gk1(c, 1), gx(s * b, d);
  double gt = 0;

  pdml::ElNivmfSimilaritySaved<double> el;
  pdml::el_nivmf_similarity_forward(cview(samples), s, cview(v), cview(k), 0.1, 0.5,
                                    pdml::NivmfScoring::paper_rule, mview(sim), el);
  check_modes("el_nivmf", {&gx, &gv, &gk}, &gt, [&](GradientMode m) {
    pdml::el_nivmf_similarity_backward(el, cview(up), mview(gx), mview(gv), mview(gk), &gt, m);
  });
  pdml::NivmfPointSimilaritySaved<double> point;
  pdml::nivmf_point_similarity_forward(cview(e), cview(v), cview(k), 0.1, 0.5,
                                       pdml::NivmfScoring::paper_rule, mview(sim), point);
  check_modes("nivmf_point", {&ge, &gv, &gk}, &gt, [&](GradientMode m) {
    pdml::nivmf_point_similarity_backward(point, cview(up), mview(ge), mview(gv), mview(gk),
                                          &gt, m);
  });
  pdml::PpkSimilaritySaved<double> ppk;
  pdml::ppk_similarity_forward(cview(e), cview(v), cview(k1), 0.1, 0.5,
                               pdml::PpkOrder::expected_likelihood, mview(sim), ppk);
  check_modes("ppk", {&ge, &gv, &gk1}, &gt, [&](GradientMode m) {
    pdml::ppk_similarity_backward(ppk, cview(up), mview(ge), mview(gv), mview(gk1), &gt, m);
  });
  pdml::KlSimilaritySaved<double> kl;
  pdml::kl_similarity_forward(cview(e), cview(v), cview(k1), 0.1, 0.5, mview(sim), kl);
  check_modes("kl", {&ge, &gv, &gk1}, &gt, [&](GradientMode m) {
    pdml::kl_similarity_backward(kl, cview(up), mview(ge), mview(gv), mview(gk1), &gt, m);
  });
  pdml::L2SimilaritySaved<double> l2;
  pdml::l2_similarity_forward(cview(e), cview(v), cview(k1), 0.1, 0.5, mview(sim), l2);
  check_modes("l2", {&ge, &gv, &gk1}, &gt, [&](GradientMode m) {
    pdml::l2_similarity_backward(l2, cview(up), mview(ge), mview(gv), mview(gk1), &gt, m);
  });
  pdml::CosineSimilaritySaved<double> cosine;
  pdml::cosine_similarity_forward(cview(e), cview(v), 0.5, mview(sim), cosine);
  check_modes("cosine", {&ge, &gv}, &gt, [&](GradientMode m) {
    pdml::cosine_similarity_backward(cosine, cview(up), mview(ge), mview(gv), &gt, m);
  });
  pdml::NivmfScoresSaved<double> scores;
  Mat sc(s * b, c);
  const Mat up_scores = random_matrix(rng, s * b, c);
  pdml::nivmf_scores_forward(cview(samples), cview(v), cview(k), 0.1,
                             pdml::NivmfScoring::paper_rule, mview(sc), scores);
  check_modes("nivmf_scores", {&gx, &gv, &gk}, nullptr, [&](GradientMode m) {
    pdml::nivmf_scores_backward(scores, cview(up_scores), mview(gx), mview(gv), mview(gk), m);
  });
  // Overlapping outputs are rejected in both modes, before anything is written.
  Mat shared = Mat::Constant(c, d, 3.0);
  for (GradientMode m : {GradientMode::overwrite, GradientMode::accumulate}) {
    CHECK_THROWS_WITH(pdml::nivmf_point_similarity_backward(point, cview(up), mview(ge),
                                                            mview(shared), mview(shared), &gt, m),
                      Catch::Contains("overlaps"));
  }
  CHECK((shared.array() == 3.0).all());
}

TEST_CASE("distribution backwards: accumulate == overwrite + previous", "[distributions]") {
  const int n = 4, p = 3, s = 2;
  const Mat eta = 3.0 * random_matrix(rng, n, p), eta2 = 2.0 * random_matrix(rng, n, p);
  const Mat dirs = unit_rows(random_matrix(rng, n, p));
  const Mat conc = random_uniform(rng, n, p, 1.0, 4.0), conc1 = random_uniform(rng, n, 1, 1.0, 4.0);
  const Mat points = unit_rows(random_matrix(rng, n, p));
  const Mat up1 = random_matrix(rng, n, 1), up_samples = random_matrix(rng, s * n, p);
  Mat g1(n, p), g2(n, p), gc(n, p), gc1(n, 1), gp(n, p), x(s * n, p);

  pdml::VmfSampleSaved<double> vs;
  pdml::vmf_sample(cview(eta), s, {1, 2}, mview(x), &vs);
  check_modes("vmf_sample", {&g1}, nullptr, [&](GradientMode m) {
    pdml::vmf_sample_backward(vs, cview(up_samples), mview(g1), m);
  });
  check_modes("vmf_log_prob", {&g1, &gp}, nullptr, [&](GradientMode m) {
    pdml::vmf_log_prob_backward(cview(eta), cview(points), cview(up1), mview(g1), mview(gp), m);
  });
  check_modes("vmf_entropy", {&g1}, nullptr, [&](GradientMode m) {
    pdml::vmf_entropy_backward(cview(eta), cview(up1), mview(g1), m);
  });
  check_modes("vmf_kl", {&g1, &g2}, nullptr, [&](GradientMode m) {
    pdml::vmf_kl_backward(cview(eta), cview(eta2), cview(up1), mview(g1), mview(g2), m);
  });
  check_modes("vmf_log_ppk", {&g1, &g2}, nullptr, [&](GradientMode m) {
    pdml::vmf_log_ppk_backward(cview(eta), cview(eta2), 0.5, cview(up1), mview(g1), mview(g2),
                               m);
  });
  pdml::NivmfSampleSaved<double> ns;
  pdml::nivmf_sample(cview(dirs), cview(conc), s, {3, 4}, mview(x), &ns);
  check_modes("nivmf_sample", {&g1, &gc}, nullptr, [&](GradientMode m) {
    pdml::nivmf_sample_backward(ns, cview(up_samples), mview(g1), mview(gc), m);
  });
  check_modes("nivmf_log_prob", {&g1, &gc, &gp}, nullptr, [&](GradientMode m) {
    pdml::nivmf_log_prob_backward(cview(dirs), cview(conc), cview(points), cview(up1),
                                  mview(g1), mview(gc), mview(gp), m);
  });
  pdml::PowerSphericalSampleSaved<double> ps;
  pdml::power_spherical_sample(cview(dirs), cview(conc1), s, {5, 6}, mview(x), &ps);
  check_modes("power_spherical_sample", {&g1, &gc1}, nullptr, [&](GradientMode m) {
    pdml::power_spherical_sample_backward(ps, cview(up_samples), mview(g1), mview(gc1), m);
  });
  check_modes("power_spherical_log_prob", {&g1, &gc1, &gp}, nullptr, [&](GradientMode m) {
    pdml::power_spherical_log_prob_backward(cview(dirs), cview(conc1), cview(points),
                                            cview(up1), mview(g1), mview(gc1), mview(gp), m);
  });
  // The optional grad_points may be left empty in accumulate mode too.
  Mat g_only = random_matrix(rng, n, p);
  const Mat before = g_only;
  Mat g_over(n, p);
  pdml::vmf_log_prob_backward(cview(eta), cview(points), cview(up1), mview(g_over));
  pdml::vmf_log_prob_backward(cview(eta), cview(points), cview(up1), mview(g_only),
                              pdml::MatrixView<double>{nullptr, 0, 0, 0}, GradientMode::accumulate);
  CHECK((g_only - (before + g_over)).cwiseAbs().maxCoeff() <= 1e-14 * (1 + g_over.norm()));
}
