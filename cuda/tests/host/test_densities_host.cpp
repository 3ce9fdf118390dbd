// SPDX-License-Identifier: MIT
// The batched CUDA log-densities (pdml/cuda/distributions/densities.hpp: vMF, exact nivMF,
// Power Spherical, with backward) on Thrust's CPP system, through the same
// checks and runs as the public wrappers, against the CPU batched APIs
// (include/pdml/distributions/*_batch.hpp) on identical inputs: log_prob and
// every gradient within 1e-12 relative (double) / 1e-5 (float), several
// points per distribution, strided views, grad_points given or skipped; the
// workspace protocol; bad host-side arguments throw before writing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/distributions/detail/density_algorithms.hpp>
#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_batch.hpp>

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
using Kind = pc::detail::DensityKind;
static_assert(static_cast<int>(Kind::vmf) == 0 && static_cast<int>(Kind::nivmf) == 1 &&
                  static_cast<int>(Kind::power_spherical) == 2,
              "pdml_test::make_density_case numbers the kinds in this order");

template <class T>
using Case = pdml_test::DensityCase<T>;

/// N distributions with a spread of concentrations, S points each.
template <class T>
Case<T> make_case(Kind kind, Index n, Index p, Index s, unsigned seed) {
  return pdml_test::make_density_case<T>(static_cast<int>(kind), n, p, s, seed);
}

template <class T>
struct Outputs {
  std::vector<T> log_prob, g_first, g_second, g_points;
};

template <class T>
Outputs<T> cpu(Kind kind, const Case<T>& c, bool want_points) {
  const Index m = c.s * c.n, p = c.p, cols = kind == Kind::nivmf ? p : 1;
  Outputs<T> o;
  o.log_prob.resize(static_cast<std::size_t>(m));
  o.g_first.resize(static_cast<std::size_t>(c.n * p));
  o.g_second.resize(kind == Kind::vmf ? 0 : static_cast<std::size_t>(c.n * cols));
  o.g_points.resize(want_points ? static_cast<std::size_t>(m * p) : 0);
  const ConstMatrixView<T> first{c.first.data(), c.n, p, p}, second{c.second.data(), c.n, cols, cols},
      x{c.points.data(), m, p, p}, g{c.grad.data(), m, 1, 1};
  const MatrixView<T> lp{o.log_prob.data(), m, 1, 1}, gf{o.g_first.data(), c.n, p, p},
      gs{o.g_second.data(), c.n, cols, cols},
      gx = want_points ? MatrixView<T>{o.g_points.data(), m, p, p} : MatrixView<T>{nullptr, 0, 0, 0};
  switch (kind) {
    case Kind::vmf:
      pdml::vmf_log_prob(first, x, lp);
      pdml::vmf_log_prob_backward(first, x, g, gf, gx);
      break;
    case Kind::nivmf:
      pdml::nivmf_log_prob(first, second, x, lp);
      pdml::nivmf_log_prob_backward(first, second, x, g, gf, gs, gx);
      break;
    case Kind::power_spherical:
      pdml::power_spherical_log_prob(first, second, x, lp);
      pdml::power_spherical_log_prob_backward(first, second, x, g, gf, gs, gx);
      break;
  }
  return o;
}

template <class T>
Outputs<T> generic(Kind kind, const Case<T>& c, bool want_points, Index pad) {
  const Index m = c.s * c.n, p = c.p, cols = kind == Kind::nivmf ? p : 1;
  const Strided<T> first(c.first, c.n, p, pad), x(c.points, m, p, pad), g(c.grad, m, 1, pad);
  const Strided<T> second(kind == Kind::vmf ? std::vector<T>() : c.second,
                          kind == Kind::vmf ? 0 : c.n, kind == Kind::vmf ? 0 : cols, pad);
  Strided<T> lp(m, 1, pad, T(5)), gf(c.n, p, pad, T(5)),
      gs(kind == Kind::vmf ? 0 : c.n, kind == Kind::vmf ? 0 : cols, pad, T(5)),
      gx(m, p, pad, T(5));
  const pc::detail::DensityParameters<T> density{
      kind, first.cview(),
      kind == Kind::vmf ? ConstMatrixView<T>{nullptr, 0, 0, 0} : second.cview()};
  const char* fn = "test";
  pc::detail::check_density_forward(fn, density, "first", x.cview(), lp.view());
  const pc::detail::HostBackend be;
  REQUIRE(pc::detail::log_prob_run(be, density, x.cview(), lp.view()) == cudaSuccess);
  const MatrixView<T> gx_view = want_points ? gx.view() : MatrixView<T>{nullptr, 0, 0, 0};
  std::size_t bytes = 0;
  T* scratch = nullptr;
  REQUIRE(pc::detail::density_backward_setup(fn, nullptr, bytes, density, "first", x.cview(),
                                             g.cview(), gf.view(), "grad_first", gs.view(),
                                             gx_view, &scratch));
  REQUIRE(bytes >= static_cast<std::size_t>(c.n * 2 * p) * sizeof(T));
  HostWorkspace workspace(bytes);
  std::size_t too_small = bytes - 1;
  CHECK_THROWS_AS(pc::detail::density_backward_setup(fn, workspace.data(), too_small, density,
                                                     "first", x.cview(), g.cview(), gf.view(),
                                                     "grad_first", gs.view(), gx_view, &scratch),
                  std::invalid_argument);
  REQUIRE_FALSE(pc::detail::density_backward_setup(fn, workspace.data(), bytes, density, "first",
                                                   x.cview(), g.cview(), gf.view(), "grad_first",
                                                   gs.view(), gx_view, &scratch));
  REQUIRE(pc::detail::log_prob_backward_run(be, density, x.cview(), g.cview(), gf.view(),
                                            gs.view(), gx_view, scratch) == cudaSuccess);
  CHECK(lp.padding_intact());
  CHECK(gf.padding_intact());
  CHECK(gs.padding_intact());
  CHECK(gx.padding_intact());
  Outputs<T> o;
  o.log_prob = lp.dense();
  o.g_first = gf.dense();
  o.g_second = gs.dense();
  if (want_points) {
    o.g_points = gx.dense();
  } else {  // skipped: untouched
    const auto untouched = gx.dense();
    CHECK(std::all_of(untouched.begin(), untouched.end(), [](T v) { return v == T(5); }));
  }
  return o;
}

template <class T>
void check(Kind kind, Index n, Index p, Index s, bool want_points, Index pad) {
  const auto c = make_case<T>(kind, n, p, s, 500u + static_cast<unsigned>(n * 31 + p * 7 + s));
  const auto want = cpu(kind, c, want_points);
  const auto got = generic(kind, c, want_points, pad);
  INFO("kind " << static_cast<int>(kind) << " n " << n << " p " << p << " s " << s
               << " points " << want_points << " pad " << pad << ": log_prob "
               << relative_difference(got.log_prob, want.log_prob) << ", first "
               << relative_difference(got.g_first, want.g_first) << ", second "
               << relative_difference(got.g_second, want.g_second) << ", points "
               << relative_difference(got.g_points, want.g_points));
  const double tol = tolerance<T>();
  CHECK(relative_difference(got.log_prob, want.log_prob) <= tol);
  CHECK(relative_difference(got.g_first, want.g_first) <= tol);
  CHECK(relative_difference(got.g_second, want.g_second) <= tol);
  CHECK(relative_difference(got.g_points, want.g_points) <= tol);
}

template <class T>
void check_all(Kind kind) {
  for (bool want_points : {true, false}) {
    for (Index pad : {0, 3}) {
      check<T>(kind, 6, 3, 4, want_points, pad);
      check<T>(kind, 5, 16, 1, want_points, pad);
      check<T>(kind, 3, 64, 3, want_points, pad);
    }
  }
}

}  // namespace

TEST_CASE("generic batched vMF log-density equals the CPU one", "[thrust-host]") {
  check_all<double>(Kind::vmf);
  check_all<float>(Kind::vmf);
}

TEST_CASE("generic batched nivMF log-density equals the CPU one", "[thrust-host]") {
  check_all<double>(Kind::nivmf);
  check_all<float>(Kind::nivmf);
}

TEST_CASE("generic batched Power Spherical log-density equals the CPU one", "[thrust-host]") {
  check_all<double>(Kind::power_spherical);
  check_all<float>(Kind::power_spherical);
}

TEST_CASE("batched log-densities reject bad host-side arguments", "[thrust-host]") {
  using T = double;
  std::vector<T> a(64, T(0.5)), out(16, T(-5));
  const ConstMatrixView<T> eta{a.data(), 2, 4, 4}, conc{a.data(), 2, 4, 4}, conc1{a.data(), 2, 1, 1};
  const ConstMatrixView<T> x{a.data(), 6, 4, 4};
  const MatrixView<T> lp{out.data(), 6, 1, 1};
  const char* fn = "fn";
  using Params = pc::detail::DensityParameters<T>;
  const ConstMatrixView<T> none{nullptr, 0, 0, 0};
  CHECK_NOTHROW(pc::detail::check_density_forward(fn, Params{Kind::vmf, eta, none}, "eta", x, lp));
  CHECK_NOTHROW(pc::detail::check_density_forward(fn, Params{Kind::nivmf, eta, conc}, "d", x, lp));
  CHECK_NOTHROW(
      pc::detail::check_density_forward(fn, Params{Kind::power_spherical, eta, conc1}, "d", x, lp));
  // p = 1, a points count that is no multiple of N, wrong shapes, wrong concentrations.
  CHECK_THROWS_AS(pc::detail::check_density_forward(
                      fn, Params{Kind::vmf, ConstMatrixView<T>{a.data(), 2, 1, 1}, none}, "eta",
                      ConstMatrixView<T>{a.data(), 6, 1, 1}, lp),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::check_density_forward(fn, Params{Kind::vmf, eta, none}, "eta",
                                                    ConstMatrixView<T>{a.data(), 5, 4, 4},
                                                    MatrixView<T>{out.data(), 5, 1, 1}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::check_density_forward(fn, Params{Kind::vmf, eta, none}, "eta",
                                                    ConstMatrixView<T>{a.data(), 6, 3, 3}, lp),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::check_density_forward(fn, Params{Kind::vmf, eta, none}, "eta", x,
                                                    MatrixView<T>{out.data(), 6, 2, 2}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::check_density_forward(fn, Params{Kind::nivmf, eta, conc1}, "d", x, lp),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      pc::detail::check_density_forward(fn, Params{Kind::power_spherical, eta, conc}, "d", x, lp),
      std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::check_density_forward(
                      fn, Params{Kind::vmf, ConstMatrixView<T>{nullptr, 2, 4, 4}, none}, "eta", x,
                      lp),
                  std::invalid_argument);
  // Backward: gradient shapes and the optional grad_points.
  std::vector<T> g(64);
  std::size_t bytes = 0;
  T* scratch = nullptr;
  const ConstMatrixView<T> glp{out.data(), 6, 1, 1};
  const MatrixView<T> gd{g.data(), 2, 4, 4}, gk{g.data(), 2, 4, 4};
  CHECK(pc::detail::density_backward_setup(fn, nullptr, bytes, Params{Kind::nivmf, eta, conc}, "d",
                                           x, glp, gd, "gd", gk, MatrixView<T>{nullptr, 0, 0, 0},
                                           &scratch));
  CHECK_THROWS_AS(pc::detail::density_backward_setup(
                      fn, nullptr, bytes, Params{Kind::nivmf, eta, conc}, "d", x, glp, gd, "gd",
                      MatrixView<T>{g.data(), 2, 1, 1}, MatrixView<T>{nullptr, 0, 0, 0}, &scratch),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::density_backward_setup(
                      fn, nullptr, bytes, Params{Kind::nivmf, eta, conc}, "d", x,
                      ConstMatrixView<T>{out.data(), 5, 1, 1}, gd, "gd", gk,
                      MatrixView<T>{nullptr, 0, 0, 0}, &scratch),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::density_backward_setup(
                      fn, nullptr, bytes, Params{Kind::vmf, eta, none}, "eta", x, glp,
                      MatrixView<T>{g.data(), 2, 3, 3}, "grad_eta", MatrixView<T>{nullptr, 0, 0, 0},
                      MatrixView<T>{nullptr, 0, 0, 0}, &scratch),
                  std::invalid_argument);
  CHECK_THROWS_AS(pc::detail::density_backward_setup(
                      fn, nullptr, bytes, Params{Kind::vmf, eta, none}, "eta", x, glp, gd,
                      "grad_eta", MatrixView<T>{nullptr, 0, 0, 0}, MatrixView<T>{g.data(), 5, 4, 4},
                      &scratch),
                  std::invalid_argument);
  CHECK(std::all_of(out.begin(), out.end(), [](T v) { return v == T(-5); }));
}
