// SPDX-License-Identifier: MIT
// Regression tests of the contract of docs/reliability.md at finite extremes: every
// entry point either throws std::invalid_argument naming one of the caller's
// arguments before writing anything (a Saved included), or returns finite, exact
// results. One test per finding of the fuzzing campaign of issue 15.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include <pdml/core/scaled_norm.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/evaluation/neighbors.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/math/log_bessel.hpp>
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>

namespace {

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Runs f, which must throw std::invalid_argument whose message names `argument`.
template <class F>
void require_invalid_naming(F&& f, const std::string& argument) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("'" + argument + "'") != std::string::npos);
    return;
  }
  FAIL("no std::invalid_argument naming '" << argument << "' was thrown");
}

template <class T>
bool all_finite(const Matrix<T>& m) {
  return m.allFinite();
}

template <class T>
void check_unit_rows(const Matrix<T>& x, double tolerance) {
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    CHECK(std::abs(x.row(r).template cast<double>().norm() - 1.0) <= tolerance);
  }
}

/// One B x D problem of the criterion.
template <class T>
struct LossCase {
  Matrix<T> embeddings, proxies, kappas;
  std::vector<std::int64_t> labels;
};

template <class T>
LossCase<T> loss_case(int b, int c, int d, T embedding_scale, T kappa) {
  LossCase<T> k;
  k.embeddings.resize(b, d);
  k.proxies.resize(c, d);
  for (int i = 0; i < b; ++i) {
    for (int j = 0; j < d; ++j) k.embeddings(i, j) = embedding_scale * T(std::sin(1.0 + 3 * i + j));
  }
  for (int i = 0; i < c; ++i) {
    for (int j = 0; j < d; ++j) k.proxies(i, j) = T(std::cos(0.5 + 7 * i + 2 * j));
  }
  k.kappas = Matrix<T>::Constant(c, d, kappa);
  for (int i = 0; i < b; ++i) k.labels.push_back(i % c);
  return k;
}

}  // namespace

// ------------------------------------------------------------------- scaled norm

TEST_CASE("scaled_norm: norms whose squares overflow or underflow", "[robustness]") {
  const double big[4] = {0x1p1023, -0x1p1023, 0x1p1023, 0x1p1023};  // norm 2^1024
  const pdml::ScaledNorm nb = pdml::scaled_norm(big, 4);
  CHECK(nb.value == 2.0);
  CHECK(nb.exponent == 1023);
  CHECK(std::isinf(nb.to_double()));
  CHECK(nb.log() == Approx(1024.0 * std::log(2.0)));
  CHECK_FALSE(nb.fits<double>());
  const double two[2] = {0x1p1023, 0x1p1023};  // norm 2^1023 sqrt 2 < largest double
  CHECK(pdml::scaled_norm(two, 2).to_double() == Approx(std::sqrt(2.0) * 0x1p1023));
  CHECK(pdml::scaled_norm(two, 2).fits<double>());
  const double tiny[3] = {1e-320, 0.0, -1e-320};
  const pdml::ScaledNorm nt = pdml::scaled_norm(tiny, 3);
  CHECK(nt.to_double() == Approx(std::sqrt(2.0) * 1e-320).epsilon(1e-3));  // subnormal input
  const float f[2] = {3e38f, 3e38f};
  const pdml::ScaledNorm nf = pdml::scaled_norm(f, 2);
  CHECK(nf.to_double() == Approx(std::sqrt(2.0) * 3e38));
  CHECK_FALSE(nf.fits<float>());
  CHECK(nf.fits<double>());
  const double zero[2] = {0.0, 0.0};
  CHECK(pdml::scaled_norm(zero, 2).value == 0.0);
}

// ----------------------------------------------------------------------- Bessel

TEST_CASE("bessel_i_ratio at subnormal and huge arguments", "[robustness]") {
  for (const double v : {0.0, 0.5, 6.5, 100.0}) {
    CAPTURE(v);
    for (const double x : {1e-310, 4.9e-324, 1e-200}) {
      CAPTURE(x);
      CHECK(pdml::bessel_i_ratio_derivative(v, x) == 1.0 / (2.0 * v + 2.0));
      CHECK(pdml::bessel_i_ratio(v, x) == Approx(x / (2.0 * v + 2.0)).epsilon(1e-12));
      CHECK(pdml::bessel_i_ratio_complement(v, x) == 1.0);
    }
    for (const double x : {1e300, 1.797e308, std::numeric_limits<double>::max()}) {
      CAPTURE(x);
      const double r = pdml::bessel_i_ratio(v, x);
      const double c = pdml::bessel_i_ratio_complement(v, x);
      CHECK(r >= 0.0);
      CHECK(r <= 1.0);
      CHECK(c >= 0.0);
      CHECK(c <= 1.0);
      CHECK(pdml::bessel_i_ratio_derivative(v, x) >= 0.0);
    }
  }
  CHECK(pdml::bessel_i_ratio(6.5, 1.797e308) <= 1.0);
  CHECK(pdml::bessel_i_ratio(6.5f, 3e38f) <= 1.0f);
}

// ---------------------------------------------------------------- vMF sampler

TEST_CASE("vmf_sample draws exactly for double eta whose norm or 2 kappa overflows or is "
          "subnormal",
          "[robustness]") {
  for (const int p : {2, 3, 5, 16}) {
    CAPTURE(p);
    Matrix<double> eta = Matrix<double>::Zero(3, p);
    eta(0, 0) = 0x1p1023;  // 2 kappa overflows
    eta(1, 0) = 1e308;     // |eta|^2 and 2 kappa overflow
    eta(1, 1) = -1e308;
    eta(2, p - 1) = 1e-320;  // subnormal: uniform to double precision
    const int s = 64;
    Matrix<double> samples(s * 3, p);
    pdml::VmfSampleSaved<double> saved;
    REQUIRE_NOTHROW(pdml::vmf_sample(pdml::view_of(static_cast<const Matrix<double>&>(eta)), s,
                                     pdml::RngKey{11, 0}, pdml::view_of(samples), &saved));
    CHECK(saved.failed_draws == 0);
    REQUIRE(all_finite(samples));
    check_unit_rows(samples, 1e-12);
    CHECK(saved.kappas[0] == 0x1p1023);
    CHECK(saved.kappas[1] == Approx(std::sqrt(2.0) * 1e308));
    CHECK(saved.kappas[2] == 1e-320);
    CHECK(saved.directions[static_cast<std::size_t>(2 * p + p - 1)] == Approx(1.0).epsilon(1e-15));
    double mean_last = 0.0;
    for (int i = 0; i < s; ++i) {
      // Concentrated beyond double precision: every sample is the mean direction.
      CHECK(samples(3 * i + 0, 0) == Approx(1.0).epsilon(1e-12));
      CHECK(samples(3 * i + 1, 0) == Approx(std::sqrt(0.5)).epsilon(1e-12));
      CHECK(samples(3 * i + 1, 1) == Approx(-std::sqrt(0.5)).epsilon(1e-12));
      mean_last += samples(3 * i + 2, p - 1) / s;
    }
    // kappa = 1e-320: E[x] = A_p(kappa) mu ~ 0; 64 uniform draws: |mean| < 5 / sqrt(64 p).
    CHECK(std::abs(mean_last) < 5.0 / std::sqrt(64.0 * p));
    Matrix<double> grad_samples = Matrix<double>::Ones(s * 3, p);
    Matrix<double> grad_eta(3, p);
    pdml::vmf_sample_backward(saved, pdml::view_of(static_cast<const Matrix<double>&>(grad_samples)),
                              pdml::view_of(grad_eta));
    INFO(grad_eta);
    CHECK(all_finite(grad_eta));
  }
}

TEST_CASE("vmf_sample rejects a float eta row whose norm exceeds the largest float, before "
          "writing",
          "[robustness]") {
  Matrix<float> eta(2, 2);
  eta << 3e38f, 3e38f, 1.0f, 0.0f;
  Matrix<float> samples = Matrix<float>::Constant(2, 2, 42.0f);
  pdml::VmfSampleSaved<float> saved;
  require_invalid_naming(
      [&] {
        pdml::vmf_sample(pdml::view_of(static_cast<const Matrix<float>&>(eta)), 1,
                         pdml::RngKey{1, 0}, pdml::view_of(samples), &saved);
      },
      "eta");
  CHECK((samples.array() == 42.0f).all());
  CHECK(saved.n_distributions == 0);
  // Below the bound, large float rows are drawn exactly.
  eta << 2e38f, 2e38f, 1.0f, 0.0f;
  REQUIRE_NOTHROW(pdml::vmf_sample(pdml::view_of(static_cast<const Matrix<float>&>(eta)), 1,
                                   pdml::RngKey{1, 0}, pdml::view_of(samples), &saved));
  CHECK(all_finite(samples));
  check_unit_rows(samples, 1e-6);
}

// ------------------------------------------------------------------ criterion

TEST_CASE("ElNivmfLoss: a temperature too small for the scores is rejected by forward, and "
          "the previous Saved stays usable",
          "[robustness]") {
  // The reported case: float, S 1, temperature 1e-35, embedding norm 1e7, kappas 1e4
  // (before: backward wrote its outputs, then threw naming 'grad_samples').
  using Loss = pdml::ElNivmfLoss<float>;
  Loss::Options options;
  options.n_samples = 1;
  const Loss loss(options);
  LossCase<float> k = loss_case<float>(4, 3, 8, 1e7f / std::sqrt(8.0f), 1e4f);
  Loss::Saved saved;
  const auto e = pdml::view_of(static_cast<const Matrix<float>&>(k.embeddings));
  const auto v = pdml::view_of(static_cast<const Matrix<float>&>(k.proxies));
  const auto kk = pdml::view_of(static_cast<const Matrix<float>&>(k.kappas));
  const float first = loss.forward(e, k.labels.data(), v, kk, 1.0f, pdml::RngKey{3, 0}, saved);
  REQUIRE(std::isfinite(first));
  Matrix<float> ge(4, 8), gv(3, 8), gk(3, 8);
  float gt = 0;
  loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt);
  REQUIRE(all_finite(ge));
  const Matrix<float> ge1 = ge, gv1 = gv, gk1 = gk;
  require_invalid_naming(
      [&] { loss.forward(e, k.labels.data(), v, kk, 1e-35f, pdml::RngKey{3, 1}, saved); },
      "temperature");
  // The rejected forward wrote nothing: backward reproduces the first pass exactly.
  loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt);
  CHECK(ge == ge1);
  CHECK(gv == gv1);
  CHECK(gk == gk1);
  // A forward rejected for a non-finite embedding leaves it usable too.
  k.embeddings(1, 1) = std::numeric_limits<float>::quiet_NaN();
  require_invalid_naming(
      [&] { loss.forward(e, k.labels.data(), v, kk, 1.0f, pdml::RngKey{3, 2}, saved); },
      "embeddings");
  loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt);
  CHECK(ge == ge1);
}

TEST_CASE("ElNivmfLoss (exact density, float): samples whose squared norm overflows are "
          "rejected naming samples, before writing; just below, the loss is finite",
          "[robustness]") {
  // fuzz_criterion seed regress-exact-density-nan: D 2, B 3, C 4, S 3, all kappas clamped
  // to min_kappa 0.1 and a sample of norm 2.2e19. |K x|^2 = 4.9e36 is a normal float, but
  // the scores form it from x o x (4.9e38, overflows): the score was -inf and the loss NaN.
  using Loss = pdml::ElNivmfLoss<float>;
  Loss::Options options;
  options.n_samples = 3;
  options.scoring = pdml::NivmfScoring::exact_density;
  const Loss loss(options);
  LossCase<float> k = loss_case<float>(3, 4, 2, 1.0f, 0.0f);
  Matrix<float> samples(9, 2);
  for (int r = 0; r < 9; ++r) {
    samples(r, 0) = float(std::cos(0.3 + r));
    samples(r, 1) = float(std::sin(0.3 + r));
  }
  const auto e = pdml::view_of(static_cast<const Matrix<float>&>(k.embeddings));
  const auto v = pdml::view_of(static_cast<const Matrix<float>&>(k.proxies));
  const auto kk = pdml::view_of(static_cast<const Matrix<float>&>(k.kappas));
  const auto s = pdml::view_of(static_cast<const Matrix<float>&>(samples));
  Loss::Saved saved;
  const float first = loss.forward_with_samples(s, e, k.labels.data(), v, kk, 45.0f, saved);
  REQUIRE(std::isfinite(first));
  Matrix<float> ge(3, 2), gv(4, 2), gk(4, 2), gs(9, 2);
  float gt = 0;
  auto gs_view = pdml::view_of(gs);
  loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt,
                &gs_view);
  const Matrix<float> gs1 = gs;
  // Norm 2.2e19 (the finding): rejected, and the previous Saved still gives the same backward.
  samples(6, 0) = -33.7f;
  samples(6, 1) = -2.2e19f;
  require_invalid_naming(
      [&] { loss.forward_with_samples(s, e, k.labels.data(), v, kk, 45.0f, saved); }, "samples");
  loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt,
                &gs_view);
  CHECK(gs == gs1);
  // Norm 1e19 (|x|^2 = 1e38 < 3.4e38): accepted, finite loss and gradients.
  samples(6, 1) = -1e19f;
  const float loss_value =
      loss.forward_with_samples(s, e, k.labels.data(), v, kk, 45.0f, saved);
  CHECK(std::isfinite(loss_value));
  loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt,
                &gs_view);
  CHECK(all_finite(ge));
  CHECK(all_finite(gv));
  CHECK(all_finite(gk));
  CHECK(all_finite(gs));
}

TEST_CASE("ElNivmfLoss::backward: gradients that overflow are reported naming grad_loss, with "
          "nothing written",
          "[robustness]") {
  using Loss = pdml::ElNivmfLoss<float>;
  for (const float guidance : {0.0f, 1.0f}) {
    CAPTURE(guidance);
    Loss::Options options;
    options.n_samples = 2;
    options.guidance_weight = guidance;
    const Loss loss(options);
    LossCase<float> k = loss_case<float>(4, 3, 8, 10.0f, 1e4f);
    Loss::Saved saved;
    const float value = loss.forward(pdml::view_of(static_cast<const Matrix<float>&>(k.embeddings)),
                                     k.labels.data(),
                                     pdml::view_of(static_cast<const Matrix<float>&>(k.proxies)),
                                     pdml::view_of(static_cast<const Matrix<float>&>(k.kappas)),
                                     1e-3f, pdml::RngKey{5, 0}, saved);
    REQUIRE(std::isfinite(value));
    Matrix<float> ge = Matrix<float>::Constant(4, 8, 7.0f), gv = Matrix<float>::Constant(3, 8, 7.0f),
                  gk = Matrix<float>::Constant(3, 8, 7.0f), gs = Matrix<float>::Constant(8, 8, 7.0f);
    float gt = 7.0f;
    auto gs_view = pdml::view_of(gs);
    require_invalid_naming(
        [&] {
          loss.backward(saved, 3e38f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt,
                        &gs_view);
        },
        "grad_loss");
    CHECK((ge.array() == 7.0f).all());
    CHECK((gv.array() == 7.0f).all());
    CHECK((gk.array() == 7.0f).all());
    CHECK((gs.array() == 7.0f).all());
    CHECK(gt == 7.0f);
    // The same Saved with an ordinary grad_loss: finite gradients.
    loss.backward(saved, 1.0f, pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt,
                  &gs_view);
    CHECK(all_finite(ge));
    CHECK(all_finite(gv));
    CHECK(all_finite(gk));
    CHECK(all_finite(gs));
    CHECK(std::isfinite(gt));
  }
}

TEMPLATE_TEST_CASE("ElNivmfLoss: proxy rows of extreme norm act through their direction only",
                   "[robustness]", float, double) {
  using T = TestType;
  using Loss = pdml::ElNivmfLoss<T>;
  const bool is_float = sizeof(T) == 4;
  const T tiny = is_float ? T(1e-30) : T(1e-200);
  const T huge = is_float ? T(1e20) : T(1e200);
  for (const auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
    typename Loss::Options options;
    options.n_samples = 3;
    options.scoring = scoring;
    const Loss loss(options);
    LossCase<T> k = loss_case<T>(5, 3, 6, T(4), T(3));
    typename Loss::Saved saved;
    auto run = [&](const Matrix<T>& proxies) {
      return loss.forward(pdml::view_of(static_cast<const Matrix<T>&>(k.embeddings)),
                          k.labels.data(), pdml::view_of(proxies),
                          pdml::view_of(static_cast<const Matrix<T>&>(k.kappas)), T(0.5),
                          pdml::RngKey{9, 0}, saved);
    };
    const T reference = run(k.proxies);
    Matrix<T> scaled = k.proxies;
    scaled.row(0) *= tiny;
    scaled.row(2) *= huge;
    const T value = run(scaled);
    REQUIRE(std::isfinite(value));
    CHECK(value == Approx(reference).epsilon(is_float ? 1e-5 : 1e-12));
    Matrix<T> ge(5, 6), gv(3, 6), gk(3, 6);
    T gt = 0;
    loss.backward(saved, T(1), pdml::view_of(ge), pdml::view_of(gv), pdml::view_of(gk), &gt);
    CHECK(all_finite(ge));
    CHECK(all_finite(gv));
    CHECK(all_finite(gk));
  }
}

TEMPLATE_TEST_CASE("ElNivmfLoss: huge concentrations give a finite loss; subnormal temperatures "
                   "are rejected with the bound",
                   "[robustness]", float, double) {
  using T = TestType;
  using Loss = pdml::ElNivmfLoss<T>;
  const bool is_float = sizeof(T) == 4;
  typename Loss::Options options;
  options.n_samples = 2;
  const Loss loss(options);
  LossCase<T> k = loss_case<T>(4, 3, 5, T(2), is_float ? T(1e20) : T(1e160));
  typename Loss::Saved saved;
  const auto e = pdml::view_of(static_cast<const Matrix<T>&>(k.embeddings));
  const auto v = pdml::view_of(static_cast<const Matrix<T>&>(k.proxies));
  const auto kk = pdml::view_of(static_cast<const Matrix<T>&>(k.kappas));
  const T value = loss.forward(e, k.labels.data(), v, kk, T(1), pdml::RngKey{2, 0}, saved);
  CHECK(std::isfinite(value));
  CHECK(value >= T(0));
  const T subnormal = is_float ? T(1e-39) : T(1e-310);
  LossCase<T> ordinary = loss_case<T>(4, 3, 5, T(2), T(2));
  try {
    loss.forward(e, k.labels.data(), v,
                 pdml::view_of(static_cast<const Matrix<T>&>(ordinary.kappas)), subnormal,
                 pdml::RngKey{2, 1}, saved);
    FAIL("a subnormal temperature was accepted");
  } catch (const std::invalid_argument& error) {
    const std::string what = error.what();
    INFO(what);
    CHECK(what.find("'temperature'") != std::string::npos);
    CHECK(what.find("smallest normal") != std::string::npos);
  }
  // The same bound in the similarity layer.
  Matrix<T> similarities(4, 3);
  pdml::CosineSimilaritySaved<T> cosine_saved;
  require_invalid_naming(
      [&] {
        pdml::cosine_similarity_forward(e, v, subnormal, pdml::view_of(similarities),
                                        cosine_saved);
      },
      "temperature");
}

TEST_CASE("cosine similarity: proxy rows of norm 1e-200 and 1e200 keep their direction",
          "[robustness]") {
  Matrix<double> e(2, 3), v(2, 3);
  e << 1, 2, 3, -1, 0.5, 2;
  v << 1e-200, 2e-200, -1e-200, 3e200, -1e200, 2e200;
  Matrix<double> unit = v;
  unit.row(0) /= std::sqrt(6.0) * 1e-200;
  unit.row(1) /= std::sqrt(14.0) * 1e200;
  Matrix<double> s(2, 2), s_unit(2, 2);
  pdml::CosineSimilaritySaved<double> saved;
  pdml::cosine_similarity_forward(pdml::view_of(static_cast<const Matrix<double>&>(e)),
                                  pdml::view_of(static_cast<const Matrix<double>&>(v)), 1.0,
                                  pdml::view_of(s), saved);
  pdml::cosine_similarity_forward(pdml::view_of(static_cast<const Matrix<double>&>(e)),
                                  pdml::view_of(static_cast<const Matrix<double>&>(unit)), 1.0,
                                  pdml::view_of(s_unit), saved);
  CHECK(s.isApprox(s_unit, 1e-14));
}

// ------------------------------------------------------------------ evaluation

TEST_CASE("Retrieval: Recall@1 with rows whose squared norm overflows", "[robustness]") {
  const std::vector<std::int64_t> labels{0, 0, 1};
  pdml::RetrievalOptions options;
  options.recall_ks = {1};
  SECTION("cosine, double") {
    Matrix<double> x(3, 2);
    x << 1e300, 1e300, 1.0, 1.1, 1.0, -1.0;
    options.distance = pdml::Distance::cosine;
    const auto m = pdml::evaluate_retrieval(pdml::view_of(static_cast<const Matrix<double>&>(x)),
                                            labels.data(), options);
    CHECK(m.recall_at_k[0] == Approx(2.0 / 3.0));
    CHECK(m.nearest_is_correct == std::vector<std::uint8_t>{1, 1, 0});
  }
  SECTION("euclidean, float") {
    Matrix<float> x(3, 2);
    x << 2e38f, 2e38f, 1e38f, 1e38f, -1e38f, -1e38f;
    options.distance = pdml::Distance::euclidean;
    const auto m = pdml::evaluate_retrieval(pdml::view_of(static_cast<const Matrix<float>&>(x)),
                                            labels.data(), options);
    CHECK(m.recall_at_k[0] == Approx(2.0 / 3.0));
    CHECK(m.nearest_is_correct == std::vector<std::uint8_t>{1, 1, 0});
    Matrix<pdml::Index> neighbors(3, 2);
    Matrix<float> distances(3, 2);
    pdml::nearest_neighbors(pdml::view_of(static_cast<const Matrix<float>&>(x)), 2,
                            pdml::Distance::euclidean, pdml::view_of(neighbors),
                            pdml::view_of(distances));
    CHECK(all_finite(distances));
    CHECK(distances(0, 0) == Approx(std::sqrt(2.0f) * 1e38f));
    CHECK(distances(0, 1) == std::numeric_limits<float>::max());  // 4.2e38 saturates
  }
  SECTION("euclidean, double, subnormal rows") {
    Matrix<double> x(3, 2);
    x << 2e-320, 2e-320, 1e-320, 1e-320, -1e-320, -1e-320;
    options.distance = pdml::Distance::euclidean;
    const auto m = pdml::evaluate_retrieval(pdml::view_of(static_cast<const Matrix<double>&>(x)),
                                            labels.data(), options);
    CHECK(m.recall_at_k[0] == Approx(2.0 / 3.0));
  }
}

TEST_CASE("Norm AUROC with subnormal and overflowing norms", "[robustness]") {
  // positives {rows 1, 3}, negatives {rows 0, 2}, norms increasing with the row:
  // 3 of the 4 (positive, negative) pairs are ordered, AUROC = 0.75.
  const std::vector<std::uint8_t> positive{0, 1, 0, 1};
  SECTION("subnormal") {
    Matrix<double> x(4, 2);
    x << 1e-320, 0, 0, 2e-320, 3e-320, 0, 0, -4e-320;
    CHECK(pdml::norm_uncertainty_auroc(pdml::view_of(static_cast<const Matrix<double>&>(x)),
                                       positive) == Approx(0.75));
  }
  SECTION("overflowing") {
    Matrix<double> x(4, 2);
    x << 1e306, 0, 1e307, 0, 1e308, 1e308, 1.7e308, 1.7e308;
    CHECK(pdml::norm_uncertainty_auroc(pdml::view_of(static_cast<const Matrix<double>&>(x)),
                                       positive) == Approx(0.75));
  }
  SECTION("float near the largest float") {
    Matrix<float> x(4, 2);
    x << 1e30f, 0, 1e36f, 0, 2e38f, 2e38f, 3e38f, 3e38f;
    CHECK(pdml::norm_uncertainty_auroc(pdml::view_of(static_cast<const Matrix<float>&>(x)),
                                       positive) == Approx(0.75));
  }
}

TEST_CASE("warm_start_proxies with rows near the largest double", "[robustness]") {
  Matrix<double> e(3, 2), v = Matrix<double>::Zero(2, 2), k = Matrix<double>::Zero(2, 2);
  e << 1.5e308, 1.5e308, 1.5e308, 1.0e308, 1e-320, -1e-320;
  const std::vector<std::int64_t> labels{0, 0, 1};
  const auto n = pdml::warm_start_proxies(pdml::view_of(static_cast<const Matrix<double>&>(e)),
                                          labels.data(), 3.0, pdml::view_of(v), pdml::view_of(k));
  CHECK(n == 2);
  REQUIRE(all_finite(v));
  check_unit_rows(v, 1e-14);
  CHECK(v(0, 0) / v(0, 1) == Approx(3.0 / 2.5));
  CHECK(v(1, 0) == Approx(std::sqrt(0.5)));
}

// ------------------------------------------------- PPK, KL and L2 at extreme norms

namespace {

/// log C_3(k) = log(k / (4 pi sinh k)) in long double (range to 1e4932: no square of a
/// 1e200 norm overflows), written independently of pdml's Bessel-based normalizer.
long double log_c3_reference(long double k) {
  const long double pi = 3.141592653589793238462643383279502884L;
  if (k > 1.0L) return std::log(k) - std::log(2.0L * pi) - k - std::log1p(-std::exp(-2.0L * k));
  return std::log(k / std::sinh(k)) - std::log(4.0L * pi);
}

/// A_3(k) = coth k - 1/k in long double.
long double mean_resultant3_reference(long double k) {
  if (k < 1e-4L) return k / 3.0L;
  return 1.0L / std::tanh(k) - 1.0L / k;
}

long double norm3(const long double* x) {
  return std::sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
}

}  // namespace

TEMPLATE_TEST_CASE("vmf_log_ppk (polar form): concentrations whose squares overflow or "
                   "underflow give the exact kernel",
                   "[robustness]", float, double) {
  using T = TestType;
  const bool is_double = sizeof(T) == 8;
  const T huge = is_double ? T(1e200) : T(1e30);
  const T tiny = is_double ? T(1e-200) : T(1e-30);
  const T mu1[3] = {T(1), T(0), T(0)};
  const T mu2[3] = {T(0.6), T(0.8), T(0)};
  const double tolerance = is_double ? 1e-12 : 2e-5;
  const T pairs[3][2] = {{huge, huge}, {tiny, tiny}, {huge, tiny}};
  for (const auto& kk : pairs) {
    for (const T rho : {T(1), T(0.5)}) {
      const long double k1 = kk[0], k2 = kk[1], r = rho;
      long double e3[3];
      for (int j = 0; j < 3; ++j) e3[j] = r * (k1 * mu1[j] + k2 * mu2[j]);
      const long double k3 = norm3(e3);
      const long double expected =
          r * (log_c3_reference(k1) + log_c3_reference(k2)) - log_c3_reference(k3);
      const T value = pdml::vmf_log_ppk(3, mu1, kk[0], mu2, kk[1], rho);
      INFO("k1 " << kk[0] << " k2 " << kk[1] << " rho " << rho << " value " << value
                 << " expected " << static_cast<double>(expected));
      REQUIRE(std::isfinite(value));
      CHECK(std::abs(static_cast<long double>(value) - expected) <=
            tolerance * std::max(1.0L, std::abs(expected)));

      // d/dk1 = rho (A(k3) mu3^T mu1 - A(k1)).
      T grad_mu1[3], grad_mu2[3], grad_k1 = 0, grad_k2 = 0;
      pdml::vmf_log_ppk_backward(3, mu1, kk[0], mu2, kk[1], rho, T(1), grad_mu1, &grad_k1,
                                 grad_mu2, &grad_k2);
      long double mu3_dot_mu1 = 0;
      for (int j = 0; j < 3; ++j) mu3_dot_mu1 += e3[j] / k3 * mu1[j];
      const long double expected_k1 =
          r * (mean_resultant3_reference(k3) * mu3_dot_mu1 - mean_resultant3_reference(k1));
      CHECK(std::isfinite(grad_k1));
      CHECK(std::isfinite(grad_k2));
      CHECK(std::abs(static_cast<long double>(grad_k1) - expected_k1) <=
            10 * tolerance * std::max(1.0L, std::abs(expected_k1)));
      for (int j = 0; j < 3; ++j) {
        CHECK(std::isfinite(grad_mu1[j]));
        CHECK(std::isfinite(grad_mu2[j]));
      }
    }
  }
}

TEMPLATE_TEST_CASE("vmf_kl and kl_similarity: natural parameters of norm 1e200 / 1e-200 "
                   "(float 1e30 / 1e-30) give the exact divergence and finite gradients",
                   "[robustness]", float, double) {
  using T = TestType;
  const bool is_double = sizeof(T) == 8;
  const double tolerance = is_double ? 1e-12 : 2e-5;
  for (const T scale : {is_double ? T(1e200) : T(1e30), is_double ? T(1e-200) : T(1e-30)}) {
    const T eta1[3] = {scale, T(0), T(0)};
    const T eta2[3] = {T(0.6) * scale, T(0.8) * scale, T(0)};
    long double l1[3], l2[3];
    for (int j = 0; j < 3; ++j) {
      l1[j] = eta1[j];
      l2[j] = eta2[j];
    }
    const long double k1 = norm3(l1), k2 = norm3(l2);
    long double mu1_dot_eta2 = 0;
    for (int j = 0; j < 3; ++j) mu1_dot_eta2 += l1[j] / k1 * l2[j];
    // KL = log C(k1) - log C(k2) + A(k1) (k1 - mu1^T eta2).
    const long double expected = log_c3_reference(k1) - log_c3_reference(k2) +
                                 mean_resultant3_reference(k1) * (k1 - mu1_dot_eta2);
    const T value = pdml::vmf_kl(3, eta1, eta2);
    INFO("scale " << scale << " value " << value << " expected " << static_cast<double>(expected));
    REQUIRE(std::isfinite(value));
    CHECK(std::abs(static_cast<long double>(value) - expected) <=
          tolerance * std::max(1.0L, std::abs(expected)));

    // d/deta1 = r1 (eta1 - eta2) + t1 mu1 mu1^T (eta1 - eta2), t1 = A'(k1) - A(k1)/k1;
    // with eta1 along the first axis only its first component carries t1.
    T grad1[3], grad2[3];
    pdml::vmf_kl_backward(3, eta1, eta2, T(1), grad1, grad2);
    const long double a1 = mean_resultant3_reference(k1);
    const long double r1 = a1 / k1;
    const long double slope1 =
        k1 < 1e-4L ? 0.0L : (1.0L - a1 * a1 - 2.0L * a1 / k1) - r1;  // A' = 1 - A^2 - 2A/k
    const long double expected1[3] = {(r1 + slope1) * (l1[0] - l2[0]), r1 * (l1[1] - l2[1]),
                                      0.0L};
    for (int j = 0; j < 3; ++j) {
      INFO("component " << j << " grad " << grad1[j] << " expected "
                        << static_cast<double>(expected1[j]));
      REQUIRE(std::isfinite(grad1[j]));
      REQUIRE(std::isfinite(grad2[j]));
      CHECK(std::abs(static_cast<long double>(grad1[j]) - expected1[j]) <=
            1e3 * tolerance * std::max(std::abs(expected1[j]), std::abs(l1[0] - l2[0]) * 1e-3L));
    }

    // Through the public similarity: finite and equal to -KL / T.
    Matrix<T> e(1, 3), v(1, 3), kappas(1, 1), s(1, 1);
    e << eta1[0], eta1[1], eta1[2];
    v << T(0.6), T(0.8), T(0);
    kappas << static_cast<T>(k2);
    pdml::KlSimilaritySaved<T> saved;
    pdml::kl_similarity_forward(pdml::view_of(static_cast<const Matrix<T>&>(e)),
                                pdml::view_of(static_cast<const Matrix<T>&>(v)),
                                pdml::view_of(static_cast<const Matrix<T>&>(kappas)),
                                std::numeric_limits<T>::min(), T(1), pdml::view_of(s), saved);
    REQUIRE(std::isfinite(s(0, 0)));
    CHECK(std::abs(-static_cast<long double>(s(0, 0)) - expected) <=
          10 * tolerance * std::max(1.0L, std::abs(expected)));
  }
}

TEMPLATE_TEST_CASE("l2_similarity: squared distances that overflow are rejected naming the "
                   "argument before writing; tiny ones are exact",
                   "[robustness]", float, double) {
  using T = TestType;
  const bool is_double = sizeof(T) == 8;
  const T huge = is_double ? T(1e200) : T(1e30);
  const T tiny = is_double ? T(1e-200) : T(1e-30);
  Matrix<T> e(1, 2), v(1, 2), kappas(1, 1), s = Matrix<T>::Constant(1, 1, T(7));
  v << T(0.6), T(0.8);
  pdml::L2SimilaritySaved<T> saved;
  const auto forward = [&](T temperature) {
    pdml::l2_similarity_forward(pdml::view_of(static_cast<const Matrix<T>&>(e)),
                                pdml::view_of(static_cast<const Matrix<T>&>(v)),
                                pdml::view_of(static_cast<const Matrix<T>&>(kappas)),
                                std::numeric_limits<T>::min(), temperature, pdml::view_of(s),
                                saved);
  };
  e << huge, T(0);
  kappas << T(1);
  require_invalid_naming([&] { forward(T(1)); }, "embeddings");
  CHECK(s(0, 0) == T(7));
  e << T(1), T(0);
  kappas << huge;
  require_invalid_naming([&] { forward(T(1)); }, "kappas");
  CHECK(s(0, 0) == T(7));
  kappas << T(2);
  require_invalid_naming([&] { forward(std::numeric_limits<T>::min()); }, "temperature");
  CHECK(s(0, 0) == T(7));

  // Tiny: |e - m|^2 = |(tiny, 0) - tiny (0.6, 0.8)|^2 = 0.8 tiny^2 underflows to 0, the
  // correctly rounded similarity at T = 1 (no NaN, no rejection).
  e << tiny, T(0);
  kappas << tiny;
  forward(T(1));
  CHECK(s(0, 0) == T(0));
}

TEMPLATE_TEST_CASE("ppk and kl similarities: embeddings and kappas whose sum of norms leaves T "
                   "are rejected naming them before writing (found by fuzz_similarities)",
                   "[robustness]", float, double) {
  using T = TestType;
  const T big = std::numeric_limits<T>::max() / T(2);
  Matrix<T> e(1, 2), v(1, 2), kappas(1, 1), s = Matrix<T>::Constant(1, 1, T(7));
  v << T(1), T(1);
  pdml::PpkSimilaritySaved<T> saved;
  const auto ppk = [&] {
    pdml::ppk_similarity_forward(pdml::view_of(static_cast<const Matrix<T>&>(e)),
                                 pdml::view_of(static_cast<const Matrix<T>&>(v)),
                                 pdml::view_of(static_cast<const Matrix<T>&>(kappas)), T(1), T(1),
                                 pdml::PpkOrder::expected_likelihood, pdml::view_of(s), saved);
  };
  const auto kl = [&] {
    pdml::kl_similarity_forward(pdml::view_of(static_cast<const Matrix<T>&>(e)),
                                pdml::view_of(static_cast<const Matrix<T>&>(v)),
                                pdml::view_of(static_cast<const Matrix<T>&>(kappas)), T(1), T(1),
                                pdml::view_of(s), saved);
  };
  e << big, big;  // row norm max / sqrt(2), a finite T; |e| + kappa exceeds max / 2
  kappas << T(1);
  require_invalid_naming(ppk, "embeddings");
  require_invalid_naming(kl, "embeddings");
  e << std::numeric_limits<T>::max(), std::numeric_limits<T>::max();  // norm exceeds max
  require_invalid_naming(ppk, "embeddings");
  e << T(1), T(2);
  kappas << std::numeric_limits<T>::max();
  require_invalid_naming(ppk, "kappas");
  require_invalid_naming(kl, "kappas");
  CHECK(s(0, 0) == T(7));
  CHECK(saved.similarities.size() == 0);
}

TEST_CASE("polar vmf_log_ppk_backward: a concentration near the largest float gives no NaN "
          "(found by fuzz_similarities)",
          "[robustness]") {
  // kappa2 = 2^127: kappa2 * e overflowed to inf before the O(1) factor kappa2 r(k3) was
  // formed, and inf * 0 (mu2[1] = 0) gave NaN.
  const float mu1[4] = {0.70710677f, 0.0f, -0.70710677f, 0.0f};
  const float mu2[4] = {0.0f, 0.0f, -1.0f, 0.0f};
  const float kappa1 = 122.8125f, kappa2 = 1.7014118e38f;
  float g1[4], g2[4], gk1 = 0, gk2 = 0;
  pdml::vmf_log_ppk_backward(4, mu1, kappa1, mu2, kappa2, 1.0f, 100.0f, g1, &gk1, g2, &gk2);
  CHECK(std::isfinite(gk1));
  CHECK(std::isfinite(gk2));
  for (int j = 0; j < 4; ++j) {
    INFO("component " << j << ": " << g1[j] << " " << g2[j]);
    CHECK(!std::isnan(g1[j]));
    CHECK(!std::isnan(g2[j]));
  }
  // d/dmu2 along the zero component: kappa2 r(k3) e_1 = 0 exactly.
  CHECK(g2[1] == 0.0f);
  CHECK(g2[3] == 0.0f);
}

TEMPLATE_TEST_CASE("power_spherical_sample: directions accepted off unit norm still give unit "
                   "samples at huge concentrations (found by fuzz_samplers)",
                   "[robustness]", float, double) {
  using T = TestType;
  // Rows are accepted within sqrt(epsilon) of unit norm. With kappa ~ 1e27 every sample is
  // w mu + s v with w = 1 and s ~ 0, so a sampler using mu as given returned |x| = |mu|
  // (1 + 2.9e-5 for the fuzzer's float row 0), far outside the samples' unit tolerance.
  const T edge = T(1) + T(0.9) * std::sqrt(std::numeric_limits<T>::epsilon());
  Matrix<T> directions(3, 4);
  directions << T(0x1.f3b646p-8), T(-0x1.ep-142), T(-1), T(0x1.d672d6p-61),  // the fuzzer's row
      edge, T(0), T(0), T(0),                                                 // |mu| just inside
      T(0), T(0.6) / edge, T(0), T(-0.8) / edge;                              // |mu| just inside
  Matrix<T> concentrations(3, 1);
  // In double, the fuzzer's row (norm 1 + 2.9e-5) is rejected: scale it to just inside.
  const double fuzz_norm = directions.row(0).template cast<double>().norm();
  if (fuzz_norm > double(edge)) directions.row(0) *= T(double(edge) / fuzz_norm);
  concentrations << T(0x1.d88dd8p+89), T(1e6), T(0.5);
  const int s = 64;
  Matrix<T> samples(s * 3, 4);
  pdml::PowerSphericalSampleSaved<T> saved;
  REQUIRE_NOTHROW(pdml::power_spherical_sample(
      pdml::view_of(static_cast<const Matrix<T>&>(directions)),
      pdml::view_of(static_cast<const Matrix<T>&>(concentrations)), s, pdml::RngKey{0x5c, 2},
      pdml::view_of(samples), &saved));
  REQUIRE(all_finite(samples));
  // The fuzz contract's tolerance (docs/reliability.md) is 64 epsilon; the samples do better.
  check_unit_rows(samples, 8 * std::numeric_limits<T>::epsilon());
  for (int i = 0; i < s; ++i) {
    // The sample is the unit direction mu / |mu| up to its tangent part
    // s = 2 sqrt(z (1 - z)) with 1 - z ~ Gamma(3/2) / kappa, i.e. s ~ 1e-13 at kappa ~ 1e27.
    const Eigen::Matrix<double, 1, Eigen::Dynamic> mu0 =
        directions.row(0).template cast<double>().normalized();
    CHECK((samples.row(3 * i).template cast<double>() - mu0).norm() <=
          8 * std::numeric_limits<T>::epsilon() + 1e-11);
  }
  Matrix<T> grad_samples = Matrix<T>::Ones(s * 3, 4);
  Matrix<T> grad_directions(3, 4), grad_concentrations(3, 1);
  pdml::power_spherical_sample_backward(
      saved, pdml::view_of(static_cast<const Matrix<T>&>(grad_samples)),
      pdml::view_of(grad_directions), pdml::view_of(grad_concentrations));
  INFO(grad_directions << "\n" << grad_concentrations);
  CHECK(all_finite(grad_directions));
  CHECK(all_finite(grad_concentrations));
}
