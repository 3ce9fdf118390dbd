// SPDX-License-Identifier: MIT
// The options of the losses (reduction, per-sample losses, ignore label, log-temperature,
// gradient accumulation) against finite differences or the default paths, the label
// widths and view kinds against each other, and the rejections that guard them.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/distributions/vmf_batch.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/proxy_anchor.hpp>
#include <pdml/losses/proxy_nca.hpp>
#include <pdml/similarities/cosine.hpp>

#include "../similarities/gradient_check.hpp"

using namespace pdml_test;
using Loss = pdml::ElNivmfLoss<double>;

namespace {

struct Case {
  Mat samples, e, v, k;
  std::vector<std::int64_t> y;
  double t = 0.5;
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

Loss::Options options(double guidance, int s, pdml::Reduction reduction) {
  Loss::Options o;
  o.n_samples = s;
  o.guidance_weight = guidance;
  o.reduction = reduction;
  return o;
}

struct Grads {
  Mat e, v, k, x;
  double t = 0;
  Grads(const Case& c, int s)
      : e(Mat::Zero(c.e.rows(), c.e.cols())),
        v(Mat::Zero(c.v.rows(), c.v.cols())),
        k(Mat::Zero(c.k.rows(), c.k.cols())),
        x(Mat::Zero(s * c.e.rows(), c.e.cols())) {}
};

double forward(const Loss& loss, const Case& c, Loss::Saved& saved) {
  return loss.forward_with_samples(cview(c.samples), cview(c.e), c.y.data(), cview(c.v),
                                   cview(c.k), c.t, saved);
}

void backward(const Loss& loss, const Loss::Saved& saved, double g, Grads& out) {
  auto x = mview(out.x);
  loss.backward(saved, g, mview(out.e), mview(out.v), mview(out.k), &out.t, &x);
}

double max_abs_diff(const Mat& a, const Mat& b) { return (a - b).cwiseAbs().maxCoeff(); }

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("Reduction::sum is B times the mean, values and gradients", "[losses][options]") {
  const Case c = make_case(201, 6, 4, 5, 3);
  for (double guidance : {0.0, 0.7}) {
    const Loss mean(options(guidance, 3, pdml::Reduction::mean));
    const Loss sum(options(guidance, 3, pdml::Reduction::sum));
    Loss::Saved sm, ss;
    const double vm = forward(mean, c, sm), vs = forward(sum, c, ss);
    CHECK(vs == Approx(6.0 * vm).epsilon(1e-13));
    Grads gm(c, 3), gs(c, 3);
    backward(mean, sm, 1.0, gm);
    backward(sum, ss, 1.0, gs);
    const double scale = gm.x.cwiseAbs().maxCoeff();
    CHECK(max_abs_diff(gs.x, 6.0 * gm.x) <= 1e-13 * 6.0 * scale);
    CHECK(max_abs_diff(gs.v, 6.0 * gm.v) <= 1e-13 * 6.0 * gm.v.cwiseAbs().maxCoeff());
    CHECK(max_abs_diff(gs.k, 6.0 * gm.k) <= 1e-13 * 6.0 * gm.k.cwiseAbs().maxCoeff());
    CHECK(gs.t == Approx(6.0 * gm.t).epsilon(1e-13));
    if (guidance != 0.0) {
      CHECK(max_abs_diff(gs.e, 6.0 * gm.e) <= 1e-13 * 6.0 * gm.e.cwiseAbs().maxCoeff());
    }
  }
}

TEST_CASE("Reduction::none: per-sample losses and a per-sample upstream gradient",
          "[losses][options]") {
  Case c = make_case(202, 5, 4, 6, 3);
  const Loss none(options(0.0, 3, pdml::Reduction::none));
  const Loss sum(options(0.0, 3, pdml::Reduction::sum));
  Loss::Saved sn, ss;
  const double vn = forward(none, c, sn), vs = forward(sum, c, ss);
  CHECK(vn == vs);
  const pdml::ConstMatrixView<double> losses = sn.sample_losses();
  REQUIRE(losses.rows == 5);
  REQUIRE(losses.cols == 1);
  double total = 0;
  for (int i = 0; i < 5; ++i) total += losses(i, 0);
  CHECK(total == Approx(vn).epsilon(1e-14));
  // All-ones upstream == the sum's backward with grad_loss 1.
  const Mat ones = Mat::Ones(5, 1);
  Grads g1(c, 3), gsum(c, 3);
  auto x1 = mview(g1.x);
  none.backward_per_sample(sn, cview(ones), mview(g1.e), mview(g1.v), mview(g1.k), &g1.t, &x1);
  backward(sum, ss, 1.0, gsum);
  CHECK(max_abs_diff(g1.x, gsum.x) <= 1e-14 * gsum.x.cwiseAbs().maxCoeff());
  CHECK(max_abs_diff(g1.v, gsum.v) <= 1e-14 * gsum.v.cwiseAbs().maxCoeff());
  CHECK(max_abs_diff(g1.k, gsum.k) <= 1e-14 * gsum.k.cwiseAbs().maxCoeff());
  CHECK(g1.t == Approx(gsum.t).epsilon(1e-14));
  // Random upstream weights against finite differences of sum_i w_i loss_i.
  std::mt19937_64 rng(203);
  const Mat w = random_matrix(rng, 5, 1);
  Grads gw(c, 3);
  auto xw = mview(gw.x);
  none.backward_per_sample(sn, cview(w), mview(gw.e), mview(gw.v), mview(gw.k), &gw.t, &xw);
  auto weighted = [&] {
    Loss::Saved s;
    forward(none, c, s);
    double acc = 0;
    for (int i = 0; i < 5; ++i) acc += w(i, 0) * s.sample_losses()(i, 0);
    return acc;
  };
  const double ex = relative_error(gw.x, numeric_gradient(weighted, c.samples));
  const double ev = relative_error(gw.v, numeric_gradient(weighted, c.v));
  const double ek = relative_error(gw.k, numeric_gradient(weighted, c.k));
  INFO("none, weighted upstream: rel err samples " << ex << " proxies " << ev << " kappas "
                                                   << ek);
  CHECK(ex <= 1e-6);
  CHECK(ev <= 1e-6);
  CHECK(ek <= 1e-6);
}

TEST_CASE("GradientMode::accumulate adds the overwrite gradients to what was there",
          "[losses][options]") {
  const Case c = make_case(204, 6, 4, 5, 3);
  std::mt19937_64 rng(205);
  for (double guidance : {0.0, 0.6}) {
    Loss::Options o = options(guidance, 3, pdml::Reduction::mean);
    const Loss overwrite(o);
    o.gradients = pdml::GradientMode::accumulate;
    const Loss accumulate(o);
    Loss::Saved saved;
    forward(overwrite, c, saved);
    Grads fresh(c, 3);
    backward(overwrite, saved, 1.1, fresh);
    Grads before(c, 3);
    before.e = random_matrix(rng, 6, 5);
    before.v = random_matrix(rng, 4, 5);
    before.k = random_matrix(rng, 4, 5);
    before.x = random_matrix(rng, 18, 5);
    before.t = 0.25;
    Grads acc = before;
    backward(accumulate, saved, 1.1, acc);  // a Saved from the overwrite loss is accepted
    CHECK(max_abs_diff(acc.e, before.e + fresh.e) <= 1e-15 * (1 + fresh.e.cwiseAbs().maxCoeff()) * 4);
    CHECK(max_abs_diff(acc.v, before.v + fresh.v) <= 1e-15 * (1 + fresh.v.cwiseAbs().maxCoeff()) * 4);
    CHECK(max_abs_diff(acc.k, before.k + fresh.k) <= 1e-15 * (1 + fresh.k.cwiseAbs().maxCoeff()) * 4);
    CHECK(max_abs_diff(acc.x, before.x + fresh.x) <= 1e-15 * (1 + fresh.x.cwiseAbs().maxCoeff()) * 4);
    CHECK(acc.t == Approx(before.t + fresh.t).epsilon(1e-15));
  }
  // The free functions: Proxy-NCA, ProxyAnchor, cosine similarity, a distribution.
  const Mat sim = random_matrix(rng, 6, 4);
  pdml::ProxyNcaSaved<double> nca;
  pdml::proxy_nca_forward(cview(sim), c.y.data(), nca);
  Mat g_fresh(6, 4), g_prev = random_matrix(rng, 6, 4);
  pdml::proxy_nca_backward(nca, 0.7, mview(g_fresh));
  Mat g_acc = g_prev;
  pdml::proxy_nca_backward(nca, 0.7, mview(g_acc), pdml::GradientMode::accumulate);
  CHECK(max_abs_diff(g_acc, g_prev + g_fresh) <= 1e-15 * 4);
  pdml::ProxyAnchorSaved<double> anchor;
  pdml::proxy_anchor_forward(cview(Mat(sim / 4.0)), c.y.data(), 32.0, 0.1, anchor);
  pdml::proxy_anchor_backward(anchor, 0.7, mview(g_fresh));
  g_acc = g_prev;
  pdml::proxy_anchor_backward(anchor, 0.7, mview(g_acc), pdml::GradientMode::accumulate);
  CHECK(max_abs_diff(g_acc, g_prev + g_fresh) <= 1e-14 * (1 + g_fresh.cwiseAbs().maxCoeff()));

  pdml::CosineSimilaritySaved<double> cosine;
  Mat s(6, 4);
  pdml::cosine_similarity_forward(cview(c.e), cview(c.v), 0.5, mview(s), cosine);
  const Mat upstream = random_matrix(rng, 6, 4);
  Mat ge(6, 5), gv(4, 5);
  double gt = 0;
  pdml::cosine_similarity_backward(cosine, cview(upstream), mview(ge), mview(gv), &gt);
  Mat ge_acc = random_matrix(rng, 6, 5), gv_acc = random_matrix(rng, 4, 5);
  const Mat ge_prev = ge_acc, gv_prev = gv_acc;
  double gt_acc = -0.5;
  pdml::cosine_similarity_backward(cosine, cview(upstream), mview(ge_acc), mview(gv_acc),
                                   &gt_acc, pdml::GradientMode::accumulate);
  CHECK(max_abs_diff(ge_acc, ge_prev + ge) <= 1e-14 * (1 + ge.cwiseAbs().maxCoeff()));
  CHECK(max_abs_diff(gv_acc, gv_prev + gv) <= 1e-14 * (1 + gv.cwiseAbs().maxCoeff()));
  CHECK(gt_acc == Approx(-0.5 + gt).epsilon(1e-14));

  const Mat points = unit_rows(random_matrix(rng, 6, 5));
  const Mat glp = random_matrix(rng, 6, 1);
  Mat geta(6, 5), gpts(6, 5);
  pdml::vmf_log_prob_backward(cview(c.e), cview(points), cview(glp), mview(geta), mview(gpts));
  Mat geta_acc = random_matrix(rng, 6, 5), gpts_acc = random_matrix(rng, 6, 5);
  const Mat geta_prev = geta_acc, gpts_prev = gpts_acc;
  pdml::vmf_log_prob_backward(cview(c.e), cview(points), cview(glp), mview(geta_acc),
                              mview(gpts_acc), pdml::GradientMode::accumulate);
  CHECK(max_abs_diff(geta_acc, geta_prev + geta) <= 1e-14 * (1 + geta.cwiseAbs().maxCoeff()));
  CHECK(max_abs_diff(gpts_acc, gpts_prev + gpts) <= 1e-14 * (1 + gpts.cwiseAbs().maxCoeff()));
}

TEST_CASE("log_temperature: the gradient is T dL/dT and matches finite differences in log T",
          "[losses][options]") {
  Case c = make_case(206, 5, 4, 6, 3);
  for (double guidance : {0.0, 0.5}) {
    Loss::Options o = options(guidance, 3, pdml::Reduction::mean);
    const Loss plain(o);
    o.log_temperature = true;
    const Loss logged(o);
    Loss::Saved sp, sl;
    const double vp = forward(plain, c, sp);
    Case lc = c;
    lc.t = std::log(c.t);
    const double vl = forward(logged, lc, sl);
    CHECK(vl == Approx(vp).epsilon(1e-14));
    Grads gp(c, 3), gl(c, 3);
    backward(plain, sp, 1.0, gp);
    backward(logged, sl, 1.0, gl);
    CHECK(gl.t == Approx(c.t * gp.t).epsilon(1e-13));
    CHECK(max_abs_diff(gl.v, gp.v) <= 1e-14 * gp.v.cwiseAbs().maxCoeff());
    Mat log_t(1, 1);
    log_t(0, 0) = lc.t;
    const double numeric = numeric_gradient(
        [&] {
          lc.t = log_t(0, 0);
          Loss::Saved s;
          return forward(logged, lc, s);
        },
        log_t)(0, 0);
    INFO("dL/dlogT analytic " << gl.t << " numeric " << numeric);
    CHECK(relative_error(gl.t, numeric) <= 1e-7);
  }
}

TEST_CASE("ignore_label: the loss and gradients of the batch without the ignored rows",
          "[losses][options]") {
  const int b = 7, s = 3, d = 5;
  Case c = make_case(207, b, 4, d, s);
  const std::vector<int> ignored = {1, 4, 5};
  Case sub;
  sub.v = c.v;
  sub.k = c.k;
  sub.t = c.t;
  std::vector<int> kept;
  for (int i = 0; i < b; ++i) {
    if (i != 1 && i != 4 && i != 5) kept.push_back(i);
  }
  const int bk = static_cast<int>(kept.size());
  sub.e.resize(bk, d);
  sub.samples.resize(s * bk, d);
  for (int a = 0; a < bk; ++a) {
    sub.e.row(a) = c.e.row(kept[a]);
    sub.y.push_back(c.y[kept[a]]);
    for (int r = 0; r < s; ++r) sub.samples.row(r * bk + a) = c.samples.row(r * b + kept[a]);
  }
  for (int i : ignored) c.y[i] = -1;
  for (auto reduction : {pdml::Reduction::mean, pdml::Reduction::sum}) {
    for (double guidance : {0.0, 0.8}) {
      Loss::Options o = options(guidance, s, reduction);
      const Loss plain(o);
      o.ignore_label = -1;
      const Loss ignoring(o);
      Loss::Saved full, part;
      const double v_full = forward(ignoring, c, full);
      const double v_sub = forward(plain, sub, part);
      CHECK(v_full == Approx(v_sub).epsilon(1e-13));
      CHECK(full.kept_rows() == bk);
      for (int i : ignored) CHECK(full.sample_losses()(i, 0) == 0.0);
      Grads g_full(c, s), g_sub(sub, s);
      backward(ignoring, full, 1.0, g_full);
      backward(plain, part, 1.0, g_sub);
      CHECK(max_abs_diff(g_full.v, g_sub.v) <= 1e-13 * g_sub.v.cwiseAbs().maxCoeff());
      CHECK(max_abs_diff(g_full.k, g_sub.k) <= 1e-13 * g_sub.k.cwiseAbs().maxCoeff());
      CHECK(g_full.t == Approx(g_sub.t).epsilon(1e-13));
      for (int a = 0; a < bk; ++a) {
        CHECK((g_full.e.row(kept[a]) - g_sub.e.row(a)).cwiseAbs().maxCoeff() <=
              1e-13 * (1 + g_sub.e.cwiseAbs().maxCoeff()));
        for (int r = 0; r < s; ++r) {
          CHECK((g_full.x.row(r * b + kept[a]) - g_sub.x.row(r * bk + a)).cwiseAbs().maxCoeff() <=
                1e-13 * g_sub.x.cwiseAbs().maxCoeff());
        }
      }
      for (int i : ignored) {
        CHECK(g_full.e.row(i).cwiseAbs().maxCoeff() == 0.0);
        for (int r = 0; r < s; ++r) CHECK(g_full.x.row(r * b + i).cwiseAbs().maxCoeff() == 0.0);
      }
    }
  }
  // Every row ignored: loss 0 and zero gradients (no division by zero).
  Case all = c;
  for (auto& y : all.y) y = -1;
  Loss::Options o = options(0.8, s, pdml::Reduction::mean);
  o.ignore_label = -1;
  const Loss ignoring(o);
  Loss::Saved saved;
  CHECK(forward(ignoring, all, saved) == 0.0);
  Grads g(all, s);
  backward(ignoring, saved, 1.0, g);
  CHECK(g.e.cwiseAbs().maxCoeff() == 0.0);
  CHECK(g.v.cwiseAbs().maxCoeff() == 0.0);
  CHECK(g.t == 0.0);
}

TEST_CASE("int32 labels give bitwise the int64 results", "[losses][options]") {
  const Case c = make_case(208, 6, 4, 5, 3);
  const std::vector<std::int32_t> y32(c.y.begin(), c.y.end());
  const Loss loss(options(0.6, 3, pdml::Reduction::mean));
  Loss::Saved s64, s32;
  const double v64 = loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, {9, 1}, s64);
  const double v32 = loss.forward(cview(c.e), y32.data(), cview(c.v), cview(c.k), c.t, {9, 1}, s32);
  CHECK(v64 == v32);
  Grads g64(c, 3), g32(c, 3);
  loss.backward(s64, 1.0, mview(g64.e), mview(g64.v), mview(g64.k), &g64.t);
  loss.backward(s32, 1.0, mview(g32.e), mview(g32.v), mview(g32.k), &g32.t);
  CHECK(g64.e == g32.e);
  CHECK(g64.v == g32.v);
  CHECK(g64.k == g32.k);
  CHECK(g64.t == g32.t);
  pdml::ProxyNcaSaved<double> n64, n32;
  CHECK(pdml::proxy_nca_forward(cview(c.e), c.y.data(), n64) ==
        pdml::proxy_nca_forward(cview(c.e), y32.data(), n32));
  Mat v64m = Mat::Zero(4, 5), k64 = Mat::Zero(4, 5), v32m = Mat::Zero(4, 5), k32 = Mat::Zero(4, 5);
  pdml::warm_start_proxies(cview(c.e), c.y.data(), 3.0, mview(v64m), mview(k64));
  pdml::warm_start_proxies(cview(c.e), y32.data(), 3.0, mview(v32m), mview(k32));
  CHECK(v64m == v32m);
  CHECK(k64 == k32);
}

TEST_CASE("views of Map, Ref, blocks and mutable matrices give identical results",
          "[losses][views]") {
  const Case c = make_case(209, 6, 4, 5, 3);
  const Loss loss(options(0.6, 3, pdml::Reduction::mean));
  Loss::Saved saved;
  const double base = loss.forward(cview(c.e), c.y.data(), cview(c.v), cview(c.k), c.t, {4, 4}, saved);
  // Embeddings as the middle rows of a larger matrix, proxies through Map and Ref.
  Mat big = Mat::Zero(10, 5);
  big.middleRows(2, 6) = c.e;
  Mat v = c.v, k = c.k;  // non-const: view_of gives MatrixView<double>
  Eigen::Map<Mat> v_map(v.data(), 4, 5);
  Eigen::Ref<const Mat> k_ref(k);
  Loss::Saved s2;
  const double via_views = loss.forward(pdml::view_of(big.middleRows(2, 6)), c.y.data(),
                                        pdml::view_of(v_map), pdml::view_of(k_ref), c.t, {4, 4},
                                        s2);
  CHECK(via_views == base);
  // Gradient outputs written through blocks of a larger buffer.
  Mat ge(6, 5), gv(4, 5), gk(4, 5);
  double gt = 0;
  loss.backward(saved, 1.0, mview(ge), mview(gv), mview(gk), &gt);
  Mat out = Mat::Zero(14, 5);
  double gt2 = 0;
  loss.backward(s2, 1.0, pdml::view_of(out.topRows(6)), pdml::view_of(out.middleRows(6, 4)),
                pdml::view_of(out.bottomRows(4)), &gt2);
  CHECK(out.topRows(6) == ge);
  CHECK(out.middleRows(6, 4) == gv);
  CHECK(out.bottomRows(4) == gk);
  CHECK(gt2 == gt);
  // Template functions take mutable views where they read (deduction through the
  // implicit MatrixView<T> -> ConstMatrixView<T> conversion).
  Mat e_mut = c.e, v1 = Mat::Zero(4, 5), k1 = Mat::Zero(4, 5), v2 = v1, k2 = k1;
  CHECK(pdml::warm_start_proxies(pdml::view_of(e_mut), c.y.data(), 2.0, pdml::view_of(v1),
                                 pdml::view_of(k1)) ==
        pdml::warm_start_proxies(cview(c.e), c.y.data(), 2.0, mview(v2), mview(k2)));
  CHECK(v1 == v2);
  pdml::ProxyNcaSaved<double> n1, n2;
  CHECK(pdml::proxy_nca_forward(pdml::view_of(e_mut), c.y.data(), n1) ==
        pdml::proxy_nca_forward(cview(c.e), c.y.data(), n2));
}

TEST_CASE("loss options and outputs are validated", "[losses][options]") {
  const Case c = make_case(210, 5, 4, 6, 3);
  // A Saved from a loss with another guidance weight.
  const Loss half(options(0.5, 3, pdml::Reduction::mean));
  const Loss two(options(2.0, 3, pdml::Reduction::mean));
  Loss::Saved saved;
  forward(half, c, saved);
  Grads g(c, 3);
  g.e.setConstant(9.0);
  const std::string wrong = message_of([&] { backward(two, saved, 1.0, g); });
  CHECK(wrong.find("'saved'") != std::string::npos);
  CHECK(wrong.find("guidance_weight") != std::string::npos);
  CHECK((g.e.array() == 9.0).all());  // nothing written
  Loss::Options other = options(0.5, 3, pdml::Reduction::sum);
  CHECK(message_of([&] { backward(Loss(other), saved, 1.0, g); }).find("reduction") !=
        std::string::npos);
  other = options(0.5, 3, pdml::Reduction::mean);
  other.ignore_label = -1;
  CHECK(message_of([&] { backward(Loss(other), saved, 1.0, g); }).find("ignore_label") !=
        std::string::npos);
  other = options(0.5, 3, pdml::Reduction::mean);
  other.log_temperature = true;
  CHECK(message_of([&] { backward(Loss(other), saved, 1.0, g); }).find("log_temperature") !=
        std::string::npos);

  // Overlapping outputs.
  Mat shared = Mat::Constant(4, 6, 9.0);
  double gt = 0;
  const std::string overlap = message_of(
      [&] { half.backward(saved, 1.0, mview(g.e), mview(shared), mview(shared), &gt); });
  CHECK(overlap.find("'grad_kappas'") != std::string::npos);
  CHECK(overlap.find("overlaps") != std::string::npos);
  CHECK((shared.array() == 9.0).all());
  Mat wide = Mat::Zero(8, 6);  // two halves of one buffer: no overlap
  CHECK_NOTHROW(half.backward(saved, 1.0, mview(g.e), pdml::view_of(wide.topRows(4)),
                              pdml::view_of(wide.bottomRows(4)), &gt));
  pdml::CosineSimilaritySaved<double> cs;
  Mat sims(5, 4);
  pdml::cosine_similarity_forward(cview(c.e), cview(c.v), 1.0, mview(sims), cs);
  Mat both = Mat::Zero(5, 6);
  CHECK_THROWS_WITH(pdml::cosine_similarity_backward(cs, cview(sims), mview(both),
                                                     pdml::view_of(both.topRows(4)), nullptr),
                    Catch::Contains("overlaps"));

  // Negative guidance weight; reduction none with guidance.
  CHECK_THROWS_WITH(Loss(options(-0.5, 3, pdml::Reduction::mean)),
                    Catch::Contains("'options.guidance_weight'"));
  CHECK_THROWS_WITH(Loss(options(0.5, 3, pdml::Reduction::none)),
                    Catch::Contains("'options.reduction'"));
  // The per-sample backward needs Reduction::none.
  const Mat ones = Mat::Ones(5, 1);
  CHECK_THROWS_WITH(half.backward_per_sample(saved, cview(ones), mview(g.e), mview(g.v), mview(g.k), &gt),
                    Catch::Contains("'grad_sample_losses'"));

  // Shape errors name both arguments and both shapes.
  Loss::Saved s2;
  const Mat v_short = c.v.leftCols(4);
  const std::string cols = message_of([&] {
    half.forward_with_samples(cview(c.samples), cview(c.e), c.y.data(), cview(v_short),
                              cview(c.k), c.t, s2);
  });
  INFO(cols);
  CHECK(cols.find("'proxies' has 4 columns but 'embeddings' has 6") != std::string::npos);
  const Mat k_bad = c.k.topRows(3);
  const std::string kshape = message_of([&] {
    half.forward_with_samples(cview(c.samples), cview(c.e), c.y.data(), cview(c.v),
                              cview(k_bad), c.t, s2);
  });
  INFO(kshape);
  CHECK(kshape.find("'kappas' has shape 3 x 6 but 'proxies' has shape 4 x 6") !=
        std::string::npos);
  Mat gv_bad(4, 5);
  const std::string gshape =
      message_of([&] { half.backward(saved, 1.0, mview(g.e), mview(gv_bad), mview(g.k), &gt); });
  INFO(gshape);
  CHECK(gshape.find("'grad_proxies' has shape 4 x 5 but 'proxies' has shape 4 x 6") !=
        std::string::npos);
  const Mat few_samples = c.samples.topRows(7);
  const std::string sshape = message_of([&] {
    half.forward_with_samples(cview(few_samples), cview(c.e), c.y.data(), cview(c.v),
                              cview(c.k), c.t, s2);
  });
  INFO(sshape);
  CHECK(sshape.find("'samples' has shape 7 x 6 but 15 x 6 is required") != std::string::npos);
  CHECK(sshape.find("5 x 6 of 'embeddings'") != std::string::npos);
  // An ignore label outside [0, C) is accepted only as the ignore label.
  std::vector<std::int64_t> y = c.y;
  y[0] = -1;
  CHECK_THROWS_WITH(forward(half, Case{c.samples, c.e, c.v, c.k, y, c.t}, s2),
                    Catch::Contains("'labels'"));
}

TEST_CASE("ProxyNca options: reduction, ignore label, per-sample backward", "[losses][options]") {
  std::mt19937_64 rng(211);
  Mat sim = random_matrix(rng, 6, 4);
  std::vector<std::int64_t> y = random_labels(rng, 6, 4);
  pdml::ProxyNcaSaved<double> mean, sum, none, ign;
  const double vm = pdml::proxy_nca_forward(cview(sim), y.data(), mean);
  const double vs = pdml::proxy_nca_forward(cview(sim), y.data(),
                                            pdml::ProxyNcaOptions{pdml::Reduction::sum, {}}, sum);
  CHECK(vs == Approx(6 * vm).epsilon(1e-14));
  const double vn = pdml::proxy_nca_forward(
      cview(sim), y.data(), pdml::ProxyNcaOptions{pdml::Reduction::none, {}}, none);
  CHECK(vn == vs);
  const Mat w = random_matrix(rng, 6, 1);
  Mat g(6, 4);
  pdml::proxy_nca_backward_per_sample(none, cview(w), mview(g));
  auto weighted = [&] {
    pdml::ProxyNcaSaved<double> s;
    pdml::proxy_nca_forward(cview(sim), y.data(), pdml::ProxyNcaOptions{pdml::Reduction::none, {}},
                            s);
    double acc = 0;
    for (int i = 0; i < 6; ++i) acc += w(i, 0) * s.sample_losses()(i, 0);
    return acc;
  };
  CHECK(relative_error(g, numeric_gradient(weighted, sim)) <= 1e-8);
  // Ignore label: mean over the kept rows.
  std::vector<std::int64_t> yi = y;
  yi[2] = yi[5] = 99;
  const double vi = pdml::proxy_nca_forward(
      cview(sim), yi.data(), pdml::ProxyNcaOptions{pdml::Reduction::mean, 99}, ign);
  double kept_sum = 0;
  for (int i : {0, 1, 3, 4}) kept_sum += mean.sample_losses()(i, 0);
  CHECK(vi == Approx(kept_sum / 4).epsilon(1e-14));
  CHECK_THROWS_WITH(pdml::proxy_nca_backward_per_sample(mean, cview(w), mview(g)),
                    Catch::Contains("'grad_sample_losses'"));
}
