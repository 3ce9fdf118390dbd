// SPDX-License-Identifier: MIT
// The standalone CUDA nivMF scores and EL-nivMF similarity
// (pdml/cuda/similarities/nivmf_scores.hpp, pdml/cuda/similarities/el_nivmf_similarity.hpp) on Thrust's
// CPP system with the host GEMM, through the same setup / run / backward
// functions as the public wrappers, against the CPU API
// (pdml::nivmf_scores_*, pdml::el_nivmf_similarity_*) on identical inputs:
// forward values and every gradient within 1e-12 relative (double) / 1e-5
// (float), both scoring rules, a few shapes, dense and strided views
// (stride > cols), clamped concentrations; recompute_in_backward (smaller
// workspace, bitwise the same results); the workspace protocol; repeatable
// bitwise-equal backward; host-side validation that throws before writing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/similarities/detail/nivmf_entries.hpp>
#include <pdml/similarities/el_nivmf.hpp>
#include <pdml/similarities/nivmf_scoring.hpp>

#include "host_test_support.hpp"

namespace {

using pdml::ConstMatrixView;
using pdml::Index;
using pdml::MatrixView;
using pdml_test::HostWorkspace;
using pdml_test::relative_difference;
using pdml_test::Strided;
using pdml_test::tolerance;
namespace pc = pdml::cuda;

template <class T>
struct Problem {
  Index n, c, d;  // points (or samples) n x d; proxies c x d
  std::vector<T> points, proxies, kappas, grad;  // grad: rows_out x c
  T min_kappa = T(0.1), temperature = T(0.25);
};

/// Unit points (samples on the sphere), proxies, concentrations spanning
/// (0.02, 5) with some below min_kappa and one exactly at it, gradients.
template <class T>
Problem<T> make_problem(Index n, Index c, Index d, Index grad_rows, unsigned seed) {
  Problem<T> q{n, c, d, {}, {}, {}, {}};
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.02, 5.0);
  pdml_test::append_unit_rows(q.points, n, d, gen, normal);
  for (Index k = 0; k < c * d; ++k) q.proxies.push_back(static_cast<T>(normal(gen)));
  for (Index k = 0; k < c * d; ++k) q.kappas.push_back(static_cast<T>(uniform(gen)));
  q.kappas[1] = q.min_kappa;
  for (Index k = 0; k < grad_rows * c; ++k) q.grad.push_back(static_cast<T>(normal(gen)));
  return q;
}

template <class T>
struct Result {
  std::vector<T> out, g_points, g_proxies, g_kappas;
  T g_temperature = T(0);
};

/// The generic run's outputs (dense), after checking that no call wrote
/// into the padding.
template <class T>
Result<T> generic_outputs(const Strided<T>& out, const Strided<T>& gx, const Strided<T>& gv,
                          const Strided<T>& gk) {
  CHECK(out.padding_intact());
  CHECK(gx.padding_intact());
  CHECK(gv.padding_intact());
  CHECK(gk.padding_intact());
  Result<T> r;
  r.out = out.dense();
  r.g_points = gx.dense();
  r.g_proxies = gv.dense();
  r.g_kappas = gk.dense();
  return r;
}

/// got against want (the CPU's): outputs and every gradient within tol
/// (relative); no concentration gradient where q's concentrations are
/// clamped (k <= min_kappa).
template <class T>
void check_result(const Problem<T>& q, const Result<T>& got, const Result<T>& want, double tol) {
  INFO("out " << relative_difference(got.out, want.out) << ", d/dx "
              << relative_difference(got.g_points, want.g_points) << ", d/dv "
              << relative_difference(got.g_proxies, want.g_proxies) << ", d/dk "
              << relative_difference(got.g_kappas, want.g_kappas) << ", d/dT "
              << got.g_temperature << " vs " << want.g_temperature);
  CHECK(relative_difference(got.out, want.out) <= tol);
  CHECK(relative_difference(got.g_points, want.g_points) <= tol);
  CHECK(relative_difference(got.g_proxies, want.g_proxies) <= tol);
  CHECK(relative_difference(got.g_kappas, want.g_kappas) <= tol);
  CHECK(std::abs(double(got.g_temperature) - double(want.g_temperature)) <=
        tol * std::max(1.0, std::abs(double(want.g_temperature))));
  for (std::size_t k = 0; k < q.kappas.size(); ++k) {
    if (!(q.kappas[k] > q.min_kappa)) CHECK(got.g_kappas[k] == T(0));
  }
}

// ------------------------------------------------------------ nivMF scores

template <class T>
Result<T> cpu_scores(const Problem<T>& q, pdml::NivmfScoring scoring) {
  Result<T> r;
  r.out.resize(static_cast<std::size_t>(q.n * q.c));
  r.g_points.resize(static_cast<std::size_t>(q.n * q.d));
  r.g_proxies.resize(static_cast<std::size_t>(q.c * q.d));
  r.g_kappas.resize(r.g_proxies.size());
  pdml::NivmfScoresSaved<T> saved;
  pdml::nivmf_scores_forward(ConstMatrixView<T>{q.points.data(), q.n, q.d, q.d},
                             ConstMatrixView<T>{q.proxies.data(), q.c, q.d, q.d},
                             ConstMatrixView<T>{q.kappas.data(), q.c, q.d, q.d}, q.min_kappa,
                             scoring, MatrixView<T>{r.out.data(), q.n, q.c, q.c}, saved);
  pdml::nivmf_scores_backward(saved, ConstMatrixView<T>{q.grad.data(), q.n, q.c, q.c},
                              MatrixView<T>{r.g_points.data(), q.n, q.d, q.d},
                              MatrixView<T>{r.g_proxies.data(), q.c, q.d, q.d},
                              MatrixView<T>{r.g_kappas.data(), q.c, q.d, q.d});
  return r;
}

template <class T>
Result<T> generic_scores(const Problem<T>& q, bool exact, Index pad) {
  const Strided<T> x(q.points, q.n, q.d, pad), v(q.proxies, q.c, q.d, pad),
      k(q.kappas, q.c, q.d, pad), g(q.grad, q.n, q.c, pad);
  Strided<T> out(q.n, q.c, pad, T(-3)), gx(q.n, q.d, pad, T(9)), gv(q.c, q.d, pad, T(9)),
      gk(q.c, q.d, pad, T(9));
  const auto scoring = exact ? pc::NivmfScoring::exact_density : pc::NivmfScoring::paper_rule;
  const char* fn = "test";
  pc::detail::NivmfPointState<T> st;
  std::size_t bytes = 0;
  REQUIRE(pc::detail::nivmf_scores_setup(fn, nullptr, bytes, x.cview(), v.cview(), k.cview(),
                                         q.min_kappa, scoring, out.view(), st));
  REQUIRE(bytes > 0);
  CHECK_FALSE(st.valid);
  HostWorkspace workspace(bytes);
  std::size_t too_small = bytes - 1;
  CHECK_THROWS_AS(pc::detail::nivmf_scores_setup(fn, workspace.data(), too_small, x.cview(),
                                                 v.cview(), k.cview(), q.min_kappa, scoring,
                                                 out.view(), st),
                  std::invalid_argument);
  REQUIRE_FALSE(pc::detail::nivmf_scores_setup(fn, workspace.data(), bytes, x.cview(), v.cview(),
                                               k.cview(), q.min_kappa, scoring, out.view(), st));
  const pc::detail::HostBackend be;
  REQUIRE(pc::detail::nivmf_scores_run(be, st, v.cview(), out.view()) == cudaSuccess);
  REQUIRE(st.valid);
  std::vector<T> first_gx;
  for (int round = 0; round < 2; ++round) {  // repeatable, bit for bit
    pc::detail::nivmf_scores_check_backward(fn, st, g.cview(), gx.view(), gv.view(), gk.view());
    REQUIRE(pc::detail::nivmf_scores_backward_run(be, st, g.cview(), gx.view(), gv.view(),
                                                  gk.view()) == cudaSuccess);
    if (round == 0) first_gx = gx.dense();
  }
  CHECK(first_gx == gx.dense());
  return generic_outputs(out, gx, gv, gk);
}

template <class T>
void check_scores(Index n, Index c, Index d, bool exact, Index pad) {
  const auto q = make_problem<T>(n, c, d, n, 100u + static_cast<unsigned>(n * 7 + d));
  const auto want =
      cpu_scores(q, exact ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule);
  const auto got = generic_scores(q, exact, pad);
  INFO("scores n " << n << " c " << c << " d " << d << " exact " << exact << " pad " << pad);
  check_result(q, got, want, tolerance<T>());
}

// --------------------------------------------------- EL-nivMF similarity

template <class T>
Result<T> cpu_similarity(const Problem<T>& q, Index s, pdml::NivmfScoring scoring,
                         bool recompute) {
  const Index b = q.n / s;
  Result<T> r;
  r.out.resize(static_cast<std::size_t>(b * q.c));
  r.g_points.resize(static_cast<std::size_t>(q.n * q.d));
  r.g_proxies.resize(static_cast<std::size_t>(q.c * q.d));
  r.g_kappas.resize(r.g_proxies.size());
  pdml::ElNivmfSimilaritySaved<T> saved;
  pdml::el_nivmf_similarity_forward(
      ConstMatrixView<T>{q.points.data(), q.n, q.d, q.d}, static_cast<int>(s),
      ConstMatrixView<T>{q.proxies.data(), q.c, q.d, q.d},
      ConstMatrixView<T>{q.kappas.data(), q.c, q.d, q.d}, q.min_kappa, q.temperature, scoring,
      MatrixView<T>{r.out.data(), b, q.c, q.c}, saved, recompute);
  pdml::el_nivmf_similarity_backward(saved, ConstMatrixView<T>{q.grad.data(), b, q.c, q.c},
                                     MatrixView<T>{r.g_points.data(), q.n, q.d, q.d},
                                     MatrixView<T>{r.g_proxies.data(), q.c, q.d, q.d},
                                     MatrixView<T>{r.g_kappas.data(), q.c, q.d, q.d},
                                     &r.g_temperature);
  return r;
}

template <class T>
Result<T> generic_similarity(const Problem<T>& q, Index s, bool exact, Index pad,
                             bool recompute) {
  const Index b = q.n / s;
  const Strided<T> x(q.points, q.n, q.d, pad), v(q.proxies, q.c, q.d, pad),
      k(q.kappas, q.c, q.d, pad), g(q.grad, b, q.c, pad);
  Strided<T> out(b, q.c, pad, T(-3)), gx(q.n, q.d, pad, T(9)), gv(q.c, q.d, pad, T(9)),
      gk(q.c, q.d, pad, T(9));
  const auto scoring = exact ? pc::NivmfScoring::exact_density : pc::NivmfScoring::paper_rule;
  const char* fn = "test";
  pc::detail::ElNivmfState<T> st;
  std::size_t bytes = 0;
  REQUIRE(pc::detail::el_nivmf_similarity_setup(fn, nullptr, bytes, x.cview(),
                                                static_cast<int>(s), v.cview(), k.cview(),
                                                q.min_kappa, q.temperature, scoring, out.view(),
                                                recompute, st));
  REQUIRE(bytes > 0);
  if (recompute) {  // the (S B) x C scaled scores are not kept
    std::size_t keeping = 0;
    pc::detail::el_nivmf_similarity_setup(fn, nullptr, keeping, x.cview(), static_cast<int>(s),
                                          v.cview(), k.cview(), q.min_kappa, q.temperature,
                                          scoring, out.view(), false, st);
    CHECK(keeping - bytes >= static_cast<std::size_t>(q.n * q.c) * sizeof(T));
  }
  HostWorkspace workspace(bytes);
  std::size_t too_small = bytes / 2;
  CHECK_THROWS_AS(pc::detail::el_nivmf_similarity_setup(
                      fn, workspace.data(), too_small, x.cview(), static_cast<int>(s), v.cview(),
                      k.cview(), q.min_kappa, q.temperature, scoring, out.view(), recompute,
                      st),
                  std::invalid_argument);
  CHECK_FALSE(st.valid);
  REQUIRE_FALSE(pc::detail::el_nivmf_similarity_setup(
      fn, workspace.data(), bytes, x.cview(), static_cast<int>(s), v.cview(), k.cview(),
      q.min_kappa, q.temperature, scoring, out.view(), recompute, st));
  const pc::detail::HostBackend be;
  REQUIRE(pc::detail::el_nivmf_similarity_run(be, st, out.view()) == cudaSuccess);
  REQUIRE(st.valid);
  std::vector<T> first_gv;
  T gt = T(0), first_gt = T(0);
  for (int round = 0; round < 2; ++round) {  // repeatable, bit for bit
    pc::detail::el_nivmf_similarity_check_backward(fn, st, g.cview(), gx.view(), gv.view(),
                                                   gk.view());
    REQUIRE(pc::detail::el_nivmf_similarity_backward_run(be, st, g.cview(), gx.view(), gv.view(),
                                                         gk.view(), &gt) == cudaSuccess);
    if (round == 0) {
      first_gv = gv.dense();
      first_gt = gt;
    }
  }
  CHECK(first_gv == gv.dense());
  CHECK(first_gt == gt);
  Result<T> r = generic_outputs(out, gx, gv, gk);
  r.g_temperature = gt;
  return r;
}

template <class T>
void check_similarity(Index b, Index c, Index d, Index s, bool exact, Index pad) {
  const auto q = make_problem<T>(s * b, c, d, b, 300u + static_cast<unsigned>(b * 13 + d + s));
  const auto scoring = exact ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule;
  const double tol = tolerance<T>();
  const auto kept = generic_similarity(q, s, exact, pad, false);
  const auto recomputed = generic_similarity(q, s, exact, pad, true);
  // Recomputing reproduces the forward's scores bit for bit: same gradients.
  CHECK(recomputed.out == kept.out);
  CHECK(recomputed.g_points == kept.g_points);
  CHECK(recomputed.g_proxies == kept.g_proxies);
  CHECK(recomputed.g_kappas == kept.g_kappas);
  CHECK(recomputed.g_temperature == kept.g_temperature);
  for (bool recompute : {false, true}) {  // the CPU's two backward paths
    INFO("similarity b " << b << " c " << c << " d " << d << " s " << s << " exact " << exact
                         << " pad " << pad << " (cpu recompute " << recompute << ")");
    check_result(q, kept, cpu_similarity(q, s, scoring, recompute), tol);
  }
}

}  // namespace

TEST_CASE("generic nivMF scores equal the CPU ones", "[thrust-host]") {
  for (bool exact : {false, true}) {
    for (Index pad : {0, 3}) {
      check_scores<double>(7, 5, 6, exact, pad);
      check_scores<float>(7, 5, 6, exact, pad);
      check_scores<double>(12, 3, 2, exact, pad);
      check_scores<float>(12, 3, 2, exact, pad);
      check_scores<double>(5, 9, 17, exact, pad);
      check_scores<float>(5, 9, 17, exact, pad);
    }
  }
}

TEST_CASE("generic EL-nivMF similarity equals the CPU one", "[thrust-host]") {
  for (bool exact : {false, true}) {
    for (Index pad : {0, 2}) {
      check_similarity<double>(4, 5, 6, 3, exact, pad);
      check_similarity<float>(4, 5, 6, 3, exact, pad);
      check_similarity<double>(9, 6, 7, 1, exact, pad);
      check_similarity<float>(9, 6, 7, 1, exact, pad);
      check_similarity<double>(3, 11, 16, 5, exact, pad);
      check_similarity<float>(3, 11, 16, 5, exact, pad);
    }
  }
}

TEST_CASE("nivMF scores and EL-nivMF similarity reject bad host-side arguments",
          "[thrust-host]") {
  using T = double;
  const Index b = 3, s = 2, c = 4, d = 5, n = s * b;
  std::vector<T> x(static_cast<std::size_t>(n * d), T(0.5)), v(static_cast<std::size_t>(c * d), T(1)),
      k(v.size(), T(1)), out(static_cast<std::size_t>(n * c), T(-5));
  const ConstMatrixView<T> xv{x.data(), n, d, d}, vv{v.data(), c, d, d}, kv{k.data(), c, d, d};
  const MatrixView<T> sim{out.data(), b, c, c}, scores{out.data(), n, c, c};
  const auto paper = pc::NivmfScoring::paper_rule;
  const auto bad_scoring = static_cast<pc::NivmfScoring>(7);
  const char* fn = "fn";
  std::size_t bytes = 0;
  pc::detail::ElNivmfState<T> st;
  const auto el = [&](ConstMatrixView<T> samples, int s_count, ConstMatrixView<T> proxies,
                      ConstMatrixView<T> kappas, T min_kappa, T temperature,
                      pc::NivmfScoring scoring, MatrixView<T> similarities) {
    pc::detail::el_nivmf_similarity_setup(fn, nullptr, bytes, samples, s_count, proxies, kappas,
                                          min_kappa, temperature, scoring, similarities, false,
                                          st);
  };
  CHECK_NOTHROW(el(xv, 2, vv, kv, T(0.1), T(0.5), paper, sim));
  CHECK_THROWS_AS(el(xv, 0, vv, kv, T(0.1), T(0.5), paper, sim), std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 4, vv, kv, T(0.1), T(0.5), paper, sim), std::invalid_argument);
  CHECK_THROWS_AS(el(ConstMatrixView<T>{x.data(), 0, d, d}, 2, vv, kv, T(0.1), T(0.5), paper, sim),
                  std::invalid_argument);
  CHECK_THROWS_AS(el(ConstMatrixView<T>{x.data(), n, d, d - 1}, 2, vv, kv, T(0.1), T(0.5), paper,
                     sim),
                  std::invalid_argument);
  CHECK_THROWS_AS(el(ConstMatrixView<T>{nullptr, n, d, d}, 2, vv, kv, T(0.1), T(0.5), paper, sim),
                  std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, ConstMatrixView<T>{v.data(), c, d - 1, d}, kv, T(0.1), T(0.5), paper,
                     sim),
                  std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, vv, ConstMatrixView<T>{k.data(), c - 1, d, d}, T(0.1), T(0.5), paper,
                     sim),
                  std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, vv, kv, T(0), T(0.5), paper, sim), std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, vv, kv, T(0.1), T(-1), paper, sim), std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, vv, kv, T(0.1), std::numeric_limits<T>::infinity(), paper, sim),
                  std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, vv, kv, T(0.1), T(0.5), bad_scoring, sim), std::invalid_argument);
  CHECK_THROWS_AS(el(xv, 2, vv, kv, T(0.1), T(0.5), paper, MatrixView<T>{out.data(), n, c, c}),
                  std::invalid_argument);
  // The message names the argument.
  try {
    el(xv, 2, vv, kv, T(0.1), T(0), paper, sim);
    FAIL("no throw");
  } catch (const std::invalid_argument& error) {
    CHECK(std::string(error.what()).find("'temperature'") != std::string::npos);
  }
  // Backward of a state that holds no forward pass.
  pc::detail::ElNivmfState<T> empty;
  std::vector<T> gx(x.size()), gv(v.size()), gk(k.size());
  CHECK_THROWS_AS(pc::detail::el_nivmf_similarity_check_backward(
                      fn, empty, ConstMatrixView<T>{out.data(), b, c, c},
                      MatrixView<T>{gx.data(), n, d, d}, MatrixView<T>{gv.data(), c, d, d},
                      MatrixView<T>{gk.data(), c, d, d}),
                  std::invalid_argument);

  pc::detail::NivmfPointState<T> pst;
  const auto ns = [&](ConstMatrixView<T> points, ConstMatrixView<T> proxies,
                      ConstMatrixView<T> kappas, T min_kappa, pc::NivmfScoring scoring,
                      MatrixView<T> target) {
    pc::detail::nivmf_scores_setup(fn, nullptr, bytes, points, proxies, kappas, min_kappa,
                                   scoring, target, pst);
  };
  CHECK_NOTHROW(ns(xv, vv, kv, T(0.1), paper, scores));
  CHECK_THROWS_AS(ns(ConstMatrixView<T>{x.data(), n, 0, d}, vv, kv, T(0.1), paper, scores),
                  std::invalid_argument);
  CHECK_THROWS_AS(ns(xv, ConstMatrixView<T>{v.data(), 0, d, d}, kv, T(0.1), paper, scores),
                  std::invalid_argument);
  CHECK_THROWS_AS(ns(xv, vv, ConstMatrixView<T>{k.data(), c, d, d - 2}, T(0.1), paper, scores),
                  std::invalid_argument);
  CHECK_THROWS_AS(ns(xv, vv, kv, T(-0.1), paper, scores), std::invalid_argument);
  CHECK_THROWS_AS(ns(xv, vv, kv, T(0.1), bad_scoring, scores), std::invalid_argument);
  CHECK_THROWS_AS(ns(xv, vv, kv, T(0.1), paper, sim), std::invalid_argument);
  pc::detail::NivmfPointState<T> empty_scores;
  CHECK_THROWS_AS(pc::detail::nivmf_scores_check_backward(
                      fn, empty_scores, ConstMatrixView<T>{out.data(), n, c, c},
                      MatrixView<T>{gx.data(), n, d, d}, MatrixView<T>{gv.data(), c, d, d},
                      MatrixView<T>{gk.data(), c, d, d}),
                  std::invalid_argument);
  // Nothing was written by any of the rejected calls.
  CHECK(std::all_of(out.begin(), out.end(), [](T value) { return value == T(-5); }));
}
