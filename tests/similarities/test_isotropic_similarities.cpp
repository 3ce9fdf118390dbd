// SPDX-License-Identifier: MIT
// EL-vMF / B-vMF (probability product kernel), KL-vMF and L2 similarities to isotropic
// proxies.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>

#include "gradient_check.hpp"
#include "reference_formulas.hpp"

using namespace pdml_test;

namespace {

enum class Kind { el, bhattacharyya, kl, l2 };

const char* name(Kind k) {
  switch (k) {
    case Kind::el: return "EL-vMF";
    case Kind::bhattacharyya: return "B-vMF";
    case Kind::kl: return "KL-vMF";
    default: return "L2";
  }
}

struct Case {
  Mat e, v, kappa, w;
  double t = 0.6;
  double min_kappa = 0.1;
};

template <class T>
void run_forward(Kind kind, pdml::ConstMatrixView<T> e, pdml::ConstMatrixView<T> v,
                 pdml::ConstMatrixView<T> kappa, T min_kappa, T t, pdml::MatrixView<T> sim,
                 pdml::IsotropicProxySaved<T>& saved) {
  switch (kind) {
    case Kind::el:
      pdml::ppk_similarity_forward(e, v, kappa, min_kappa, t, pdml::PpkOrder::expected_likelihood,
                                   sim, saved);
      break;
    case Kind::bhattacharyya:
      pdml::ppk_similarity_forward(e, v, kappa, min_kappa, t, pdml::PpkOrder::bhattacharyya, sim,
                                   saved);
      break;
    case Kind::kl: pdml::kl_similarity_forward(e, v, kappa, min_kappa, t, sim, saved); break;
    case Kind::l2: pdml::l2_similarity_forward(e, v, kappa, min_kappa, t, sim, saved); break;
  }
}

template <class T>
void run_backward(Kind kind, const pdml::IsotropicProxySaved<T>& saved,
                  pdml::ConstMatrixView<T> g, pdml::MatrixView<T> ge, pdml::MatrixView<T> gv,
                  pdml::MatrixView<T> gk, T* gt) {
  switch (kind) {
    case Kind::el:
    case Kind::bhattacharyya: pdml::ppk_similarity_backward(saved, g, ge, gv, gk, gt); break;
    case Kind::kl: pdml::kl_similarity_backward(saved, g, ge, gv, gk, gt); break;
    case Kind::l2: pdml::l2_similarity_backward(saved, g, ge, gv, gk, gt); break;
  }
}

Mat forward(Kind kind, const Case& c, pdml::IsotropicProxySaved<double>& saved) {
  Mat sim(c.e.rows(), c.v.rows());
  run_forward<double>(kind, cview(c.e), cview(c.v), cview(c.kappa), c.min_kappa, c.t,
                      mview(sim), saved);
  return sim;
}

Case make_case(std::uint64_t seed, int b, int c, int d) {
  std::mt19937_64 rng(seed);
  Case k;
  k.e = random_matrix(rng, b, d, 1.5);
  k.v = random_matrix(rng, c, d);
  k.kappa = random_uniform(rng, c, 1, 0.5, 6.0);
  k.w = random_matrix(rng, b, c);
  return k;
}

const Kind kAll[] = {Kind::el, Kind::bhattacharyya, Kind::kl, Kind::l2};

}  // namespace

TEST_CASE("isotropic similarities match the element-by-element formulas", "[similarities]") {
  Case k = make_case(41, 4, 3, 5);
  k.kappa(2, 0) = 0.03;  // clamped to 0.1
  for (Kind kind : kAll) {
    pdml::IsotropicProxySaved<double> saved;
    const Mat sim = forward(kind, k, saved);
    for (int i = 0; i < 4; ++i) {
      for (int c = 0; c < 3; ++c) {
        const auto e = pdml_ref::row(k.e, i);
        auto m = pdml_ref::unit(pdml_ref::row(k.v, c));
        const pdml_ref::Real kc = std::max(0.1, k.kappa(c, 0));
        for (auto& x : m) x *= kc;
        pdml_ref::Real value = 0;
        switch (kind) {
          case Kind::el: value = pdml_ref::log_ppk(e, m, 1); break;
          case Kind::bhattacharyya: value = pdml_ref::log_ppk(e, m, 0.5L); break;
          case Kind::kl: value = -pdml_ref::kl(e, m); break;
          case Kind::l2:
            for (std::size_t j = 0; j < e.size(); ++j) value -= (e[j] - m[j]) * (e[j] - m[j]);
            break;
        }
        INFO(name(kind) << " (" << i << ", " << c << ")");
        CHECK(sim(i, c) == Approx(static_cast<double>(value / k.t)).epsilon(1e-12).margin(1e-13));
      }
    }
  }
}

TEST_CASE("isotropic similarities: backward matches finite differences", "[similarities]") {
  for (Kind kind : kAll) {
    Case k = make_case(42, 5, 4, 6);
    k.kappa(1, 0) = -0.5;  // clamped: zero gradient
    pdml::IsotropicProxySaved<double> saved;
    forward(kind, k, saved);
    Mat ge(5, 6), gv(4, 6), gk(4, 1);
    double gt = 0;
    run_backward<double>(kind, saved, cview(k.w), mview(ge), mview(gv), mview(gk), &gt);
    auto f = [&] {
      pdml::IsotropicProxySaved<double> s;
      return weighted_sum(k.w, forward(kind, k, s));
    };
    const double ee = relative_error(ge, numeric_gradient(f, k.e));
    const double ev = relative_error(gv, numeric_gradient(f, k.v));
    const double ek = relative_error(gk, numeric_gradient(f, k.kappa));
    Mat tm(1, 1);
    tm(0, 0) = k.t;
    const double et = relative_error(gt, numeric_gradient(
                                             [&] {
                                               k.t = tm(0, 0);
                                               return f();
                                             },
                                             tm)(0, 0));
    INFO(name(kind) << ": rel err embeddings " << ee << " proxies " << ev << " kappas " << ek
                    << " T " << et);
    CHECK(ee <= 1e-6);
    CHECK(ev <= 1e-6);
    CHECK(ek <= 1e-6);
    CHECK(et <= 1e-6);
    CHECK(gk(1, 0) == 0.0);
  }
}

TEST_CASE("isotropic similarities: invariance, extremes, zero embedding, float",
          "[similarities]") {
  for (Kind kind : kAll) {
    // Relabelling: reversing the proxies reverses the columns.
    Case k = make_case(43, 3, 4, 5);
    pdml::IsotropicProxySaved<double> saved;
    const Mat sim = forward(kind, k, saved);
    Case r = k;
    r.v = k.v.colwise().reverse().eval();
    r.kappa = k.kappa.colwise().reverse().eval();
    pdml::IsotropicProxySaved<double> saved_r;
    const Mat sim_r = forward(kind, r, saved_r);
    CHECK((sim_r.rowwise().reverse() - sim).cwiseAbs().maxCoeff() <= 1e-12 * (1 + sim.cwiseAbs().maxCoeff()));

    Case x = make_case(44, 3, 4, 4096);
    x.e.row(0) *= 1e5 / x.e.row(0).norm();
    x.e.row(1).setZero();
    x.kappa(0, 0) = 1e5;
    x.t = 0.003;
    pdml::IsotropicProxySaved<double> sx;
    const Mat simx = forward(kind, x, sx);
    Mat ge(3, 4096), gv(4, 4096), gk(4, 1);
    double gt = 0;
    run_backward<double>(kind, sx, cview(x.w), mview(ge), mview(gv), mview(gk), &gt);
    INFO(name(kind));
    CHECK(simx.allFinite());
    CHECK(ge.allFinite());
    CHECK(gv.allFinite());
    CHECK(gk.allFinite());
    CHECK(std::isfinite(gt));

    const pdml::RowMajorMatrix<float> ef = k.e.cast<float>(), vf = k.v.cast<float>(),
                                      kf = k.kappa.cast<float>();
    pdml::RowMajorMatrix<float> simf(3, 4);
    pdml::IsotropicProxySaved<float> sf;
    run_forward<float>(kind, cview(ef), cview(vf), cview(kf), 0.1f, 0.6f, mview(simf), sf);
    CHECK((simf.cast<double>() - sim).cwiseAbs().maxCoeff() <=
          1e-4 * (1 + sim.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("isotropic similarities reject bad input before writing", "[similarities]") {
  Case k = make_case(45, 3, 4, 5);
  Mat out = Mat::Constant(3, 4, 42.0);
  for (Kind kind : kAll) {
    pdml::IsotropicProxySaved<double> saved;
    auto expect = [&](const Case& c, const char* arg) {
      try {
        run_forward<double>(kind, cview(c.e), cview(c.v), cview(c.kappa), c.min_kappa, c.t,
                            mview(out), saved);
        FAIL("no exception");
      } catch (const std::invalid_argument& ex) {
        INFO(ex.what());
        CHECK(std::string(ex.what()).find(arg) != std::string::npos);
      }
      CHECK((out.array() == 42.0).all());
    };
    Case bad = k;
    bad.e(0, 1) = std::numeric_limits<double>::quiet_NaN();
    expect(bad, "'embeddings'");
    bad = k;
    bad.v.row(1).setZero();
    expect(bad, "'proxies'");
    bad = k;
    bad.v = Mat::Ones(4, 6);
    expect(bad, "'proxies'");
    bad = k;
    bad.kappa = Mat::Ones(4, 2);
    expect(bad, "'kappas'");
    bad = k;
    bad.kappa(3, 0) = -std::numeric_limits<double>::infinity();
    expect(bad, "'kappas'");
    bad = k;
    bad.t = -0.1;
    expect(bad, "'temperature'");
    bad = k;
    bad.min_kappa = 0;
    expect(bad, "'min_kappa'");
  }
}
