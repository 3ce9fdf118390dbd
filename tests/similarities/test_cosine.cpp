// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include <pdml/similarities/cosine.hpp>

#include "gradient_check.hpp"

using namespace pdml_test;

namespace {

struct Fixture {
  Mat e, v, w;
  double t = 0.7;
};

Mat forward(const Fixture& f, pdml::CosineSimilaritySaved<double>& saved) {
  Mat sim(f.e.rows(), f.v.rows());
  pdml::cosine_similarity_forward(cview(f.e), cview(f.v), f.t, mview(sim), saved);
  return sim;
}

}  // namespace

TEST_CASE("cosine similarity matches the element-by-element formula", "[similarities]") {
  std::mt19937_64 rng(11);
  Fixture f{random_matrix(rng, 5, 7), random_matrix(rng, 4, 7), Mat(), 0.3};
  pdml::CosineSimilaritySaved<double> saved;
  const Mat sim = forward(f, saved);
  for (int i = 0; i < 5; ++i) {
    for (int c = 0; c < 4; ++c) {
      double dot = 0, ne = 0, nv = 0;
      for (int j = 0; j < 7; ++j) {
        dot += f.e(i, j) * f.v(c, j);
        ne += f.e(i, j) * f.e(i, j);
        nv += f.v(c, j) * f.v(c, j);
      }
      CHECK(sim(i, c) == Approx(dot / std::sqrt(ne * nv) / f.t).epsilon(1e-13));
    }
  }
}

TEST_CASE("cosine similarity backward matches finite differences", "[similarities]") {
  std::mt19937_64 rng(12);
  Fixture f{random_matrix(rng, 6, 5), random_matrix(rng, 3, 5), random_matrix(rng, 6, 3), 0.8};
  pdml::CosineSimilaritySaved<double> saved;
  forward(f, saved);
  Mat ge(6, 5), gv(3, 5);
  double gt = 0;
  pdml::cosine_similarity_backward(saved, cview(f.w), mview(ge), mview(gv), &gt);
  auto loss = [&] {
    pdml::CosineSimilaritySaved<double> s;
    return weighted_sum(f.w, forward(f, s));
  };
  const double err_e = relative_error(ge, numeric_gradient(loss, f.e));
  const double err_v = relative_error(gv, numeric_gradient(loss, f.v));
  Mat tm(1, 1);
  tm(0, 0) = f.t;
  const Mat gt_num = numeric_gradient(
      [&] {
        f.t = tm(0, 0);
        pdml::CosineSimilaritySaved<double> s;
        return weighted_sum(f.w, forward(f, s));
      },
      tm);
  f.t = tm(0, 0);
  const double err_t = relative_error(gt, gt_num(0, 0));
  INFO("rel err e " << err_e << " v " << err_v << " T " << err_t);
  CHECK(err_e <= 1e-6);
  CHECK(err_v <= 1e-6);
  CHECK(err_t <= 1e-6);
}

TEST_CASE("cosine similarity: zero embedding, extremes and bad input", "[similarities]") {
  std::mt19937_64 rng(13);
  Fixture f{random_matrix(rng, 3, 4096), random_matrix(rng, 5, 4096), random_matrix(rng, 3, 5),
            0.003};
  f.e.row(1).setZero();
  pdml::CosineSimilaritySaved<double> saved;
  const Mat sim = forward(f, saved);
  CHECK(sim.allFinite());
  CHECK(sim.row(1).isZero());
  Mat ge(3, 4096), gv(5, 4096);
  double gt = 0;
  pdml::cosine_similarity_backward(saved, cview(f.w), mview(ge), mview(gv), &gt);
  CHECK(ge.allFinite());
  CHECK(gv.allFinite());
  CHECK(std::isfinite(gt));
  CHECK(ge.row(1).isZero());

  Mat out = Mat::Constant(3, 5, 42.0);
  auto untouched = [&] { return (out.array() == 42.0).all(); };
  auto expect_throw = [&](const Mat& e, const Mat& v, double t, const char* name) {
    try {
      pdml::cosine_similarity_forward(cview(e), cview(v), t, mview(out), saved);
      FAIL("no exception");
    } catch (const std::invalid_argument& ex) {
      CHECK(std::string(ex.what()).find(name) != std::string::npos);
    }
    CHECK(untouched());
  };
  Mat bad_e = f.e;
  bad_e(0, 0) = std::numeric_limits<double>::quiet_NaN();
  expect_throw(bad_e, f.v, 1.0, "'embeddings'");
  Mat bad_v = f.v;
  bad_v(2, 3) = std::numeric_limits<double>::infinity();
  expect_throw(f.e, bad_v, 1.0, "'proxies'");
  bad_v = f.v;
  bad_v.row(4).setZero();
  expect_throw(f.e, bad_v, 1.0, "'proxies'");
  expect_throw(f.e, Mat(f.v.leftCols(10)), 1.0, "'proxies'");
  expect_throw(f.e, f.v, 0.0, "'temperature'");
  expect_throw(f.e, f.v, -1.0, "'temperature'");
  Mat wrong_out(3, 4);
  CHECK_THROWS_AS(pdml::cosine_similarity_forward(cview(f.e), cview(f.v), 1.0, mview(wrong_out),
                                                  saved),
                  std::invalid_argument);
  Mat wrong_g(2, 5);
  ge.setConstant(7.0);
  CHECK_THROWS_AS(pdml::cosine_similarity_backward(saved, cview(wrong_g), mview(ge), mview(gv),
                                                   &gt),
                  std::invalid_argument);
  CHECK((ge.array() == 7.0).all());
}

TEST_CASE("cosine similarity in float agrees with double", "[similarities]") {
  std::mt19937_64 rng(14);
  Fixture f{random_matrix(rng, 8, 16), random_matrix(rng, 5, 16), Mat(), 0.1};
  pdml::CosineSimilaritySaved<double> saved;
  const Mat sim = forward(f, saved);
  const pdml::RowMajorMatrix<float> ef = f.e.cast<float>(), vf = f.v.cast<float>();
  pdml::RowMajorMatrix<float> simf(8, 5);
  pdml::CosineSimilaritySaved<float> savedf;
  pdml::cosine_similarity_forward(cview(ef), cview(vf), 0.1f, mview(simf), savedf);
  CHECK((simf.cast<double>() - sim).cwiseAbs().maxCoeff() < 1e-5);
}
