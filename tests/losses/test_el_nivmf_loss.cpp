// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <pdml/losses/el_nivmf_loss.hpp>

#include "../similarities/gradient_check.hpp"
#include "../similarities/reference_formulas.hpp"

using namespace pdml_test;
using Loss = pdml::ElNivmfLoss<double>;

namespace {

struct Case {
  Mat samples, e, v, k;
  std::vector<std::int64_t> y;
  double t = 0.5;
  pdml::Index b() const { return e.rows(); }
};

Case make_case(std::uint64_t seed, int b, int c, int d, int s) {
  std::mt19937_64 rng(seed);
  Case k;
  k.e = random_matrix(rng, b, d, 1.0);
  k.v = random_matrix(rng, c, d);
  k.k = random_uniform(rng, c, d, 0.5, 4.0);
  k.samples = unit_rows(random_matrix(rng, s * b, d));
  k.y = random_labels(rng, b, c);
  return k;
}

Loss::Options options(double guidance, pdml::NivmfScoring scoring, int s) {
  Loss::Options o;
  o.n_samples = s;
  o.guidance_weight = guidance;
  o.scoring = scoring;
  return o;
}

double with_samples(const Loss& loss, const Case& c) {
  Loss::Saved saved;
  return loss.forward_with_samples(cview(c.samples), cview(c.e), c.y.data(), cview(c.v),
                                   cview(c.k), c.t, saved);
}

// Direct evaluation of L = L_nca(EL-nivMF) + w L_pa, element by element (long double).
double direct(const Case& c, const Loss::Options& o) {
  using pdml_ref::Real;
  const int b = static_cast<int>(c.e.rows()), cc = static_cast<int>(c.v.rows());
  std::vector<std::vector<Real>> sim(b, std::vector<Real>(cc)), cosv(b, std::vector<Real>(cc));
  for (int i = 0; i < b; ++i) {
    const auto mu = pdml_ref::unit(pdml_ref::row(c.e, i));
    for (int cl = 0; cl < cc; ++cl) {
      const auto nu = pdml_ref::unit(pdml_ref::row(c.v, cl));
      auto kc = pdml_ref::row(c.k, cl);
      for (auto& x : kc) x = std::max<Real>(x, o.min_kappa);
      Real acc = 0;
      for (int s = 0; s < o.n_samples; ++s) {
        const auto x = pdml_ref::row(c.samples, s * b + i);
        const Real l = o.scoring == pdml::NivmfScoring::paper_rule
                           ? pdml_ref::nivmf_paper_score(nu, kc, x)
                           : pdml_ref::nivmf_log_density(nu, kc, x);
        acc += std::exp(l / c.t);
      }
      sim[i][cl] = std::log(acc / o.n_samples);
      cosv[i][cl] = pdml_ref::dot(mu, nu);
    }
  }
  Real nca = 0;
  for (int i = 0; i < b; ++i) {
    Real z = 0;
    for (int cl = 0; cl < cc; ++cl) z += std::exp(sim[i][cl]);
    nca += std::log(z) - sim[i][c.y[i]];
  }
  nca /= b;
  Real pos = 0, neg = 0;
  int present = 0;
  for (int cl = 0; cl < cc; ++cl) {
    Real ps = 0, ns = 0;
    bool here = false;
    for (int i = 0; i < b; ++i) {
      if (c.y[i] == cl) {
        here = true;
        ps += std::exp(-Real(o.proxy_anchor_alpha) * (cosv[i][cl] - o.proxy_anchor_delta));
      } else {
        ns += std::exp(Real(o.proxy_anchor_alpha) * (cosv[i][cl] + o.proxy_anchor_delta));
      }
    }
    if (here) {
      ++present;
      pos += std::log1p(ps);
    }
    neg += std::log1p(ns);
  }
  return static_cast<double>(nca + o.guidance_weight * (pos / present + neg / cc));
}

}  // namespace

TEST_CASE("ElNivmfLoss::forward_with_samples matches the direct formulas", "[losses]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    const Case c = make_case(61, 6, 4, 5, 3);
    const auto o = options(0.7, scoring, 3);
    const Loss loss(o);
    CHECK(with_samples(loss, c) == Approx(direct(c, o)).epsilon(1e-12));
  }
}

TEST_CASE("ElNivmfLoss::backward after forward_with_samples matches finite differences",
          "[losses]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    for (double guidance : {0.0, 0.6}) {
      Case c = make_case(62, 5, 4, 6, 3);
      c.k(2, 3) = 0.05;  // clamped
      const Loss loss(options(guidance, scoring, 3));
      Loss::Saved saved;
      loss.forward_with_samples(cview(c.samples), cview(c.e), c.y.data(), cview(c.v),
                                cview(c.k), c.t, saved);
      Mat ge(5, 6), gv(4, 6), gk(4, 6), gx(15, 6);
      double gt = 0;
      auto gx_view = mview(gx);
      loss.backward(saved, 1.3, mview(ge), mview(gv), mview(gk), &gt, &gx_view);
      auto f = [&] { return 1.3 * with_samples(loss, c); };
      const double ex = relative_error(gx, numeric_gradient(f, c.samples));
      const Mat ge_num = numeric_gradient(f, c.e);
      const double ee = guidance == 0.0 ? ge.norm() : relative_error(ge, ge_num);
      const double ev = relative_error(gv, numeric_gradient(f, c.v));
      const double ek = relative_error(gk, numeric_gradient(f, c.k));
      Mat tm(1, 1);
      tm(0, 0) = c.t;
      const double et = relative_error(gt, numeric_gradient(
                                               [&] {
                                                 c.t = tm(0, 0);
                                                 return f();
                                               },
                                               tm)(0, 0));
      c.t = tm(0, 0);
      INFO("ElNivmfLoss(with samples) scoring " << static_cast<int>(scoring) << " w " << guidance
                                                << ": rel err samples " << ex << " embeddings "
                                                << ee << " proxies " << ev << " kappas " << ek
                                                << " T " << et);
      CHECK(ex <= 1e-6);
      CHECK(ee <= 1e-6);
      CHECK(ev <= 1e-6);
      CHECK(ek <= 1e-6);
      CHECK(et <= 1e-6);
      CHECK(gk(2, 3) == 0.0);
      if (guidance == 0.0) CHECK(ge_num.norm() == 0.0);
    }
  }
}

TEST_CASE("ElNivmfLoss::forward with a fixed key: gradients through the sampler", "[losses]") {
  // p = 3: the sampler inverts the CDF of w exactly, so each sample is a smooth function
  // of eta at a fixed key and finite differences of the whole step are meaningful.
  {
    Case c = make_case(63, 4, 3, 3, 4);
    c.e *= 3.0;
    const Loss loss(options(0.5, pdml::NivmfScoring::paper_rule, 4));
    const pdml::RngKey key{1234, 5};
    auto f = [&] {
      Loss::Saved s;
      return loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, key, s);
    };
    Loss::Saved saved;
    const double value = loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, key,
                                      saved);
    CHECK(value == f());  // same key, same samples
    Mat ge(4, 3), gv(3, 3), gk(3, 3);
    double gt = 0;
    loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk), &gt);
    const double ee = relative_error(ge, numeric_gradient(f, c.e, 1e-5));
    const double ev = relative_error(gv, numeric_gradient(f, c.v));
    const double ek = relative_error(gk, numeric_gradient(f, c.k));
    INFO("ElNivmfLoss(forward, p = 3): rel err embeddings " << ee << " proxies " << ev
                                                             << " kappas " << ek);
    CHECK(ee <= 1e-6);
    CHECK(ev <= 1e-6);
    CHECK(ek <= 1e-6);
  }
  // p = 16 (rejection sampling): w is piecewise constant in kappa at a fixed key, but each
  // sample moves smoothly with the mean direction. Check the directional derivative along
  // rotations of e_i that keep |e_i| fixed.
  {
    Case c = make_case(64, 4, 3, 16, 3);
    c.e *= 4.0;
    const Loss loss(options(0.5, pdml::NivmfScoring::paper_rule, 3));
    const pdml::RngKey key{99, 0};
    Loss::Saved saved;
    loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, key, saved);
    Mat ge(4, 16), gv(3, 16), gk(3, 16);
    loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk), nullptr);
    std::mt19937_64 rng(65);
    double worst = 0;
    for (int i = 0; i < 4; ++i) {
      const Eigen::RowVectorXd e0 = c.e.row(i);
      const double kappa = e0.norm();
      const Eigen::RowVectorXd mu = e0 / kappa;
      Eigen::RowVectorXd u = random_matrix(rng, 1, 16).row(0);
      u -= u.dot(mu) * mu;
      u.normalize();
      auto at = [&](double angle) {
        c.e.row(i) = kappa * (std::cos(angle) * mu + std::sin(angle) * u);
        Loss::Saved s;
        const double v =
            loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, key, s);
        c.e.row(i) = e0;
        return v;
      };
      const double h = 1e-4;
      const double numeric =
          (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
      const double analytic = kappa * ge.row(i).dot(u);
      worst = std::max(worst, relative_error(analytic, numeric, 1e-8));
    }
    INFO("ElNivmfLoss(forward, p = 16) tangent directional derivative rel err " << worst);
    CHECK(worst <= 1e-6);
  }
}

TEST_CASE("ElNivmfLoss: forward = forward_with_samples chained through vmf_sample_backward",
          "[losses]") {
  Case c = make_case(73, 6, 4, 8, 3);
  c.e *= 5.0;
  const Loss loss(options(0.8, pdml::NivmfScoring::paper_rule, 3));
  Loss::Saved sampled;
  const double v1 = loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, {17, 2},
                                 sampled);
  Mat ge(6, 8), gv(4, 8), gk(4, 8), gx_full(18, 8);
  double gt = 0;
  auto gx_full_view = mview(gx_full);
  loss.backward(sampled, 1.0, mview(ge), mview(gv), mview(gk), &gt, &gx_full_view);
  Loss::Saved given;
  const double v2 = loss.forward_with_samples(cview(sampled.samples), cview(c.e), c.y.data(),
                                              cview(c.v), cview(c.k), c.t, given);
  CHECK(v1 == v2);
  Mat ge_direct(6, 8), gv2(4, 8), gk2(4, 8), gx(18, 8), ge_chain(6, 8);
  double gt2 = 0;
  auto gx_view = mview(gx);
  loss.backward(given, 1.0, mview(ge_direct), mview(gv2), mview(gk2), &gt2, &gx_view);
  pdml::vmf_sample_backward(sampled.sampler, cview(gx), mview(ge_chain));
  CHECK((ge_chain + ge_direct - ge).cwiseAbs().maxCoeff() <= 1e-13 * ge.cwiseAbs().maxCoeff());
  CHECK(gx == gx_full);
  CHECK(gv2 == gv);
  CHECK(gk2 == gk);
  CHECK(gt2 == gt);
}

TEST_CASE("ElNivmfLoss is invariant to relabelling classes and permuting the batch",
          "[losses]") {
  const Case c = make_case(66, 6, 5, 4, 2);
  const Loss loss(options(0.4, pdml::NivmfScoring::paper_rule, 2));
  const double base = with_samples(loss, c);
  std::mt19937_64 rng(67);
  std::vector<int> pc(5), pb(6);
  std::iota(pc.begin(), pc.end(), 0);
  std::iota(pb.begin(), pb.end(), 0);
  std::shuffle(pc.begin(), pc.end(), rng);
  std::shuffle(pb.begin(), pb.end(), rng);
  Case q = c;
  for (int k = 0; k < 5; ++k) {
    q.v.row(pc[k]) = c.v.row(k);
    q.k.row(pc[k]) = c.k.row(k);
  }
  for (int i = 0; i < 6; ++i) {
    q.e.row(i) = c.e.row(pb[i]);
    q.y[i] = pc[c.y[pb[i]]];
    for (int s = 0; s < 2; ++s) q.samples.row(s * 6 + i) = c.samples.row(s * 6 + pb[i]);
  }
  CHECK(with_samples(loss, q) == Approx(base).epsilon(1e-13));
}

TEST_CASE("ElNivmfLoss: extreme inputs give finite losses and gradients", "[losses]") {
  for (auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    Case c = make_case(68, 4, 5, 4096, 5);
    c.e.row(0) *= 1e5 / c.e.row(0).norm();
    c.e.row(1).setZero();  // uniform vMF
    c.k.row(0).setConstant(1e5);
    c.k.row(1).setConstant(1e-4);
    c.t = 0.003;
    const Loss loss(options(1.0, scoring, 5));
    Loss::Saved saved;
    const double value =
        loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, {3, 4}, saved);
    Mat ge(4, 4096), gv(5, 4096), gk(5, 4096);
    double gt = 0;
    loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk), &gt);
    INFO("scoring " << static_cast<int>(scoring) << " loss " << value);
    CHECK(std::isfinite(value));
    CHECK(ge.allFinite());
    CHECK(gv.allFinite());
    CHECK(gk.allFinite());
    CHECK(std::isfinite(gt));
  }
  // float, the training precision.
  Case c = make_case(69, 8, 6, 512, 5);
  c.e *= 20.0;
  const pdml::RowMajorMatrix<float> ef = c.e.cast<float>(), vf = c.v.cast<float>(),
                                    kf = (c.k * 10.0).cast<float>();
  pdml::ElNivmfLoss<float>::Options of;
  of.guidance_weight = 1.0f;
  const pdml::ElNivmfLoss<float> lf(of);
  pdml::ElNivmfLoss<float>::Saved sf;
  const float value = lf.forward(cview(ef), c.y.data(), cview(vf), cview(kf), 0.003f, {5, 6}, sf);
  pdml::RowMajorMatrix<float> ge(8, 512), gv(6, 512), gk(6, 512);
  float gt = 0;
  lf.backward(sf, 1.0f, mview(ge), mview(gv), mview(gk), &gt);
  CHECK(std::isfinite(value));
  CHECK(ge.allFinite());
  CHECK(gv.allFinite());
  CHECK(gk.allFinite());
  CHECK(std::isfinite(gt));
}

TEST_CASE("ElNivmfLoss: results do not depend on the number of threads", "[losses]") {
#if defined(_OPENMP)
  Case c = make_case(70, 64, 300, 64, 5);
  const Loss loss(options(0.5, pdml::NivmfScoring::paper_rule, 5));
  auto run = [&](int threads, Mat& ge, Mat& gv) {
    omp_set_num_threads(threads);
    Loss::Saved saved;
    const double v =
        loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, {8, 9}, saved);
    Mat gk(300, 64);
    loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk), nullptr);
    return v;
  };
  Mat ge1(64, 64), gv1(300, 64), ge2(64, 64), gv2(300, 64);
  const int before = omp_get_max_threads();
  const double v1 = run(1, ge1, gv1);
  const double v2 = run(2, ge2, gv2);
  omp_set_num_threads(before);
  CHECK(v1 == v2);
  CHECK(ge1 == ge2);
  CHECK(gv1 == gv2);
#else
  SUCCEED("built without OpenMP");
#endif
}

TEST_CASE("ElNivmfLoss rejects bad input before writing anything", "[losses]") {
  const Case c = make_case(71, 4, 3, 5, 2);
  const Loss loss(options(0.5, pdml::NivmfScoring::paper_rule, 2));
  Loss::Saved saved;
  const double value =
      loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, {1, 1}, saved);
  const Mat sims_before = saved.similarities;
  auto expect = [&](const Case& b, double t, const char* arg) {
    try {
      loss.forward(cview(b.e), b.y.data(), cview(b.v), cview(b.k), t, {1, 1}, saved);
      FAIL("no exception from forward");
    } catch (const std::invalid_argument& ex) {
      INFO(ex.what());
      CHECK(std::string(ex.what()).find(arg) != std::string::npos);
    }
    try {
      loss.forward_with_samples(cview(b.samples), cview(b.e), b.y.data(), cview(b.v), cview(b.k),
                                t, saved);
      FAIL("no exception from forward_with_samples");
    } catch (const std::invalid_argument& ex) {
      INFO(ex.what());
      CHECK(std::string(ex.what()).find(arg) != std::string::npos);
    }
    CHECK(saved.similarities == sims_before);
    CHECK(saved.nca_loss + 0.5 * saved.anchor_loss == Approx(value));
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Case b = c;
  b.e(0, 0) = nan;
  expect(b, c.t, "'embeddings'");
  b = c;
  b.v(1, 1) = std::numeric_limits<double>::infinity();
  expect(b, c.t, "'proxies'");
  b = c;
  b.v.row(2).setZero();
  expect(b, c.t, "'proxies'");
  b = c;
  b.v = Mat::Ones(3, 4);
  expect(b, c.t, "'proxies'");
  b = c;
  b.k = Mat::Ones(2, 5);
  expect(b, c.t, "'kappas'");
  b = c;
  b.k(0, 0) = nan;
  expect(b, c.t, "'kappas'");
  b = c;
  b.y[3] = 3;
  expect(b, c.t, "'labels'");
  b = c;
  b.y[0] = -2;
  expect(b, c.t, "'labels'");
  expect(c, 0.0, "'temperature'");
  expect(c, -1.0, "'temperature'");
  expect(c, nan, "'temperature'");
  b = c;
  b.samples(0, 0) = nan;
  CHECK_THROWS_WITH(loss.forward_with_samples(cview(b.samples), cview(b.e), b.y.data(),
                                              cview(b.v), cview(b.k), b.t, saved),
                    Catch::Contains("'samples'"));
  b.samples = Mat::Ones(6, 5);
  CHECK_THROWS_WITH(loss.forward_with_samples(cview(b.samples), cview(b.e), b.y.data(),
                                              cview(b.v), cview(b.k), b.t, saved),
                    Catch::Contains("'samples'"));
  CHECK(saved.similarities == sims_before);

  // backward: shapes checked before any gradient is written.
  Mat ge = Mat::Constant(4, 5, 9.0), gv = Mat::Constant(3, 5, 9.0), gk = Mat::Constant(3, 4, 9.0);
  double gt = 9.0;
  CHECK_THROWS_WITH(loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk), &gt),
                    Catch::Contains("'grad_kappas'"));
  Mat gx(7, 5);
  auto gx_view = mview(gx);
  Mat gk_ok(3, 5);
  CHECK_THROWS_WITH(loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk_ok), &gt, &gx_view),
                    Catch::Contains("'grad_samples'"));
  CHECK_THROWS_WITH(loss.backward(saved, nan, mview(ge), mview(gv), mview(gk_ok), &gt),
                    Catch::Contains("'grad_loss'"));
  CHECK((ge.array() == 9.0).all());
  CHECK((gv.array() == 9.0).all());
  CHECK(gt == 9.0);
  Loss::Saved empty;
  CHECK_THROWS_WITH(loss.backward(empty, 1.0, mview(ge), mview(gv), mview(gk_ok), &gt),
                    Catch::Contains("'saved'"));

  auto bad_options = [](Loss::Options o, const char* arg) {
    CHECK_THROWS_WITH(Loss(o), Catch::Contains(arg));
  };
  Loss::Options o;
  o.n_samples = 0;
  bad_options(o, "'options.n_samples'");
  o = Loss::Options();
  o.min_kappa = 0;
  bad_options(o, "'options.min_kappa'");
  o = Loss::Options();
  o.proxy_anchor_alpha = nan;
  bad_options(o, "'options.proxy_anchor_alpha'");
  o = Loss::Options();
  o.guidance_weight = std::numeric_limits<double>::infinity();
  bad_options(o, "'options.guidance_weight'");
}

TEST_CASE("warm_start_proxies: normalized class means and the initial concentration",
          "[losses]") {
  const Case c = make_case(72, 10, 4, 6, 1);
  std::vector<std::int64_t> y = {0, 0, 1, 1, 1, 3, 3, 0, 1, 3};  // class 2 absent
  Mat v = Mat::Constant(4, 6, 5.0), k = Mat::Constant(4, 6, 5.0);
  const auto n = pdml::warm_start_proxies(cview(c.e), y.data(), 16.0, mview(v), mview(k));
  CHECK(n == 3);
  for (int cl : {0, 1, 3}) {
    Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(6);
    for (int i = 0; i < 10; ++i) {
      if (y[i] == cl) mean += c.e.row(i);
    }
    CHECK((v.row(cl) - mean.normalized()).norm() <= 1e-14);
    CHECK((k.row(cl).array() == 16.0).all());
  }
  CHECK((v.row(2).array() == 5.0).all());
  CHECK((k.row(2).array() == 5.0).all());
  CHECK_THROWS_WITH(pdml::warm_start_proxies(cview(c.e), y.data(), 0.0, mview(v), mview(k)),
                    Catch::Contains("'initial_kappa'"));
}
