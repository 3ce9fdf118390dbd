// SPDX-License-Identifier: MIT
// The generic (Thrust) nivMF code of pdml::cuda -- the batched exact sampler
// with its backward, and the nivMF-to-point similarity with its backward --
// run on Thrust's CPP system with the host GEMM, against the CPU API on
// identical inputs:
//  * samples: bit for bit those of pdml::nivmf_sample for the same key (same
//    per-sample routines, same streams, same compiler); sampler gradients
//    within 1e-12 relative (double) / 1e-5 (float) of
//    pdml::nivmf_sample_backward (and counted for exact equality);
//  * nivMF-to-point similarity, both scoring rules: similarities and every
//    gradient within 1e-12 (double) / 1e-5 (float) of
//    pdml::nivmf_point_similarity_forward / _backward, including clamped
//    concentrations, a zero embedding (paper's rule) and strided views, plus a
//    central-difference check of the generic backward itself.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/similarities/detail/nivmf_point_algorithm.hpp>
#include <pdml/cuda/distributions/detail/nivmf_sample_functors.hpp>
#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/similarities/nivmf_point.hpp>

#include "host_test_support.hpp"

namespace {

using pdml::ConstMatrixView;
using pdml::Index;
using pdml::MatrixView;
using pdml_test::count_equal;
using pdml_test::relative_difference;
using pdml_test::tolerance;
namespace pc = pdml::cuda;

/// N unit directions and N x p concentrations spanning four orders of
/// magnitude of |K nu| and strongly anisotropic K.
template <class T>
void make_nivmf_parameters(Index n, Index p, unsigned seed, std::vector<T>& directions,
                           std::vector<T>& concentrations) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  const double scales[] = {0.05, 1.0, 20.0, 400.0};
  directions.resize(static_cast<std::size_t>(n * p));
  concentrations.resize(static_cast<std::size_t>(n * p));
  for (Index r = 0; r < n; ++r) {
    std::vector<double> v(static_cast<std::size_t>(p));
    double nn = 0;
    for (auto& x : v) {
      x = normal(gen);
      nn += x * x;
    }
    const double scale = scales[r % 4];
    for (Index j = 0; j < p; ++j) {
      directions[static_cast<std::size_t>(r * p + j)] =
          static_cast<T>(v[static_cast<std::size_t>(j)] / std::sqrt(nn));
      concentrations[static_cast<std::size_t>(r * p + j)] =
          static_cast<T>(scale * std::exp(0.8 * normal(gen)));
    }
  }
}

template <class T>
void check_nivmf_sampler(Index p) {
  const Index n = 12;
  const int s = 4;
  const Index rows = n * s;
  std::vector<T> directions, concentrations;
  make_nivmf_parameters<T>(n, p, 40u + static_cast<unsigned>(p), directions, concentrations);
  std::vector<T> grad(static_cast<std::size_t>(rows * p));
  {
    std::mt19937_64 gen(77u);
    std::normal_distribution<double> normal;
    for (auto& g : grad) g = static_cast<T>(normal(gen));
  }
  const pdml::RngKey rng{987654321u, 3u};
  const ConstMatrixView<T> dv{directions.data(), n, p, p}, kv{concentrations.data(), n, p, p},
      gv{grad.data(), rows, p, p};

  // CPU API.
  std::vector<T> cpu_samples(static_cast<std::size_t>(rows * p));
  std::vector<T> cpu_gd(static_cast<std::size_t>(n * p)), cpu_gk(cpu_gd.size());
  pdml::NivmfSampleSaved<T> cpu_saved;
  pdml::nivmf_sample(dv, kv, s, rng, MatrixView<T>{cpu_samples.data(), rows, p, p}, &cpu_saved);
  pdml::nivmf_sample_backward(cpu_saved, gv, MatrixView<T>{cpu_gd.data(), n, p, p},
                              MatrixView<T>{cpu_gk.data(), n, p, p});

  // Generic code on the host backend, samples written into a strided view.
  const Index stride = p + 3;
  std::vector<T> strided(static_cast<std::size_t>(rows * stride), T(-7));
  const MatrixView<T> sample_view{strided.data(), rows, p, stride};
  pc::detail::NivmfSampleBuffers<T> buffers;
  const auto workspace = pdml_test::carve_host_workspace([&](pc::WorkspaceCarver& carver) {
    buffers = pc::detail::carve_nivmf_sample_buffers<T>(carver, s, n, p);
  });
  const pc::detail::HostBackend be;
  REQUIRE(pc::detail::nivmf_sample_run(be, dv, kv, s, rng, sample_view, buffers) == cudaSuccess);
  std::vector<T> samples(static_cast<std::size_t>(rows * p));
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < p; ++j) {
      samples[static_cast<std::size_t>(i * p + j)] = sample_view(i, j);
    }
    CHECK(strided[static_cast<std::size_t>(i * stride + p)] == T(-7));  // padding untouched
  }
  // Fill the gradient outputs with garbage: the backward overwrites them.
  std::vector<T> gd(cpu_gd.size(), T(13)), gk(cpu_gk.size(), T(13));
  REQUIRE(pc::detail::nivmf_sample_backward_run(be, buffers, gv, MatrixView<T>{gd.data(), n, p, p},
                                                MatrixView<T>{gk.data(), n, p, p}) ==
          cudaSuccess);
  const double gd_diff = relative_difference(gd, cpu_gd);
  const double gk_diff = relative_difference(gk, cpu_gk);
  INFO("p " << p << ": " << count_equal(samples, cpu_samples) << " of " << samples.size()
            << " sample coordinates equal; gradient rel diff (direction) " << gd_diff << " ("
            << count_equal(gd, cpu_gd) << " of " << gd.size() << " equal), (concentration) "
            << gk_diff << " (" << count_equal(gk, cpu_gk) << " equal)");
  CHECK(count_equal(samples, cpu_samples) == samples.size());
  CHECK(gd_diff <= tolerance<T>());
  CHECK(gk_diff <= tolerance<T>());
  // Saved state agrees with the CPU's.
  for (Index r = 0; r < n; ++r) {
    CHECK(buffers.kappas[r] == cpu_saved.kappas[static_cast<std::size_t>(r)]);
  }
  // Same key, same samples; a different offset, different samples.
  std::vector<T> again(static_cast<std::size_t>(rows * p));
  REQUIRE(pc::detail::nivmf_sample_run(be, dv, kv, s, rng,
                                       MatrixView<T>{again.data(), rows, p, p}, buffers) ==
          cudaSuccess);
  CHECK(count_equal(again, samples) == samples.size());
  REQUIRE(pc::detail::nivmf_sample_run(be, dv, kv, s, pdml::RngKey{987654321u, 4u},
                                       MatrixView<T>{again.data(), rows, p, p}, buffers) ==
          cudaSuccess);
  CHECK(count_equal(again, samples) < samples.size() / 2);
}

// ------------------------------------------------------ nivMF-to-point

template <class T>
struct PointProblem {
  Index b, c, d;
  std::vector<T> embeddings, proxies, kappas, grad;
  T min_kappa, temperature;
};

template <class T>
PointProblem<T> make_point_problem(bool zero_row, unsigned seed) {
  PointProblem<T> q{8, 5, 6, {}, {}, {}, {}, T(0.1), T(0.35)};
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.02, 4.0);
  for (Index k = 0; k < q.b * q.d; ++k) q.embeddings.push_back(static_cast<T>(3 * normal(gen)));
  if (zero_row) {  // the paper's rule only: the exact density needs a direction
    for (Index j = 0; j < q.d; ++j) q.embeddings[static_cast<std::size_t>(2 * q.d + j)] = T(0);
  }
  for (Index k = 0; k < q.c * q.d; ++k) q.proxies.push_back(static_cast<T>(normal(gen)));
  // Some concentrations below min_kappa (clamped), one exactly at it (clamped too).
  for (Index k = 0; k < q.c * q.d; ++k) q.kappas.push_back(static_cast<T>(uniform(gen)));
  q.kappas[3] = q.min_kappa;
  for (Index k = 0; k < q.b * q.c; ++k) q.grad.push_back(static_cast<T>(normal(gen)));
  return q;
}

template <class T>
struct PointResult {
  std::vector<T> sim, ge, gv, gk;
  T gt = T(0);
};

template <class T>
PointResult<T> cpu_point(const PointProblem<T>& q, pdml::NivmfScoring scoring) {
  PointResult<T> r;
  r.sim.resize(static_cast<std::size_t>(q.b * q.c));
  r.ge.resize(static_cast<std::size_t>(q.b * q.d));
  r.gv.resize(static_cast<std::size_t>(q.c * q.d));
  r.gk.resize(r.gv.size());
  pdml::NivmfPointSimilaritySaved<T> saved;
  pdml::nivmf_point_similarity_forward(
      ConstMatrixView<T>{q.embeddings.data(), q.b, q.d, q.d},
      ConstMatrixView<T>{q.proxies.data(), q.c, q.d, q.d},
      ConstMatrixView<T>{q.kappas.data(), q.c, q.d, q.d}, q.min_kappa, q.temperature, scoring,
      MatrixView<T>{r.sim.data(), q.b, q.c, q.c}, saved);
  pdml::nivmf_point_similarity_backward(saved, ConstMatrixView<T>{q.grad.data(), q.b, q.c, q.c},
                                        MatrixView<T>{r.ge.data(), q.b, q.d, q.d},
                                        MatrixView<T>{r.gv.data(), q.c, q.d, q.d},
                                        MatrixView<T>{r.gk.data(), q.c, q.d, q.d}, &r.gt);
  return r;
}

/// A strided copy (row stride cols + 2) of a dense row-major matrix.
template <class T>
std::vector<T> strided_copy(const std::vector<T>& dense, Index rows, Index cols) {
  std::vector<T> out(static_cast<std::size_t>(rows * (cols + 2)), T(1e30));
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) {
      out[static_cast<std::size_t>(i * (cols + 2) + j)] =
          dense[static_cast<std::size_t>(i * cols + j)];
    }
  }
  return out;
}

/// The generic algorithm on the host backend; inputs passed as strided views
/// when `strided`.
template <class T>
PointResult<T> generic_point(const PointProblem<T>& q, bool exact, bool strided,
                             bool with_backward = true) {
  const Index b = q.b, c = q.c, d = q.d;
  const Index sd = strided ? d + 2 : d, sc = strided ? c + 2 : c;
  const std::vector<T> e = strided ? strided_copy(q.embeddings, b, d) : q.embeddings;
  const std::vector<T> v = strided ? strided_copy(q.proxies, c, d) : q.proxies;
  const std::vector<T> k = strided ? strided_copy(q.kappas, c, d) : q.kappas;
  const std::vector<T> g = strided ? strided_copy(q.grad, b, c) : q.grad;
  pc::detail::NivmfPointState<T> st;
  st.rows = b;
  st.classes = c;
  st.dims = d;
  st.exact = exact;
  const auto workspace = pdml_test::carve_host_workspace(
      [&](pc::WorkspaceCarver& carver) { pc::detail::carve_nivmf_point(carver, st); });
  st.min_kappa = q.min_kappa;
  st.temperature = q.temperature;
  st.kappas = ConstMatrixView<T>{k.data(), c, d, sd};
  const pc::detail::HostBackend be;
  PointResult<T> r;
  std::vector<T> sim(static_cast<std::size_t>(b * sc), T(1e30));
  REQUIRE(pc::detail::nivmf_point_forward(be, st, ConstMatrixView<T>{e.data(), b, d, sd},
                                          ConstMatrixView<T>{v.data(), c, d, sd},
                                          MatrixView<T>{sim.data(), b, c, sc}) == cudaSuccess);
  for (Index i = 0; i < b; ++i) {
    for (Index j = 0; j < c; ++j) r.sim.push_back(sim[static_cast<std::size_t>(i * sc + j)]);
  }
  if (!with_backward) return r;
  std::vector<T> ge(static_cast<std::size_t>(b * sd), T(9));
  std::vector<T> gv(static_cast<std::size_t>(c * sd), T(9)), gk(gv.size(), T(9));
  // Twice: the backward is repeatable.
  for (int round = 0; round < 2; ++round) {
    REQUIRE(pc::detail::nivmf_point_backward(be, st, ConstMatrixView<T>{g.data(), b, c, sc},
                                             MatrixView<T>{ge.data(), b, d, sd},
                                             MatrixView<T>{gv.data(), c, d, sd},
                                             MatrixView<T>{gk.data(), c, d, sd},
                                             &r.gt) == cudaSuccess);
  }
  const auto dense = [d, sd](const std::vector<T>& x, Index rows) {
    std::vector<T> out;
    for (Index i = 0; i < rows; ++i) {
      for (Index j = 0; j < d; ++j) out.push_back(x[static_cast<std::size_t>(i * sd + j)]);
    }
    return out;
  };
  r.ge = dense(ge, b);
  r.gv = dense(gv, c);
  r.gk = dense(gk, c);
  return r;
}

template <class T>
void check_point(bool exact, bool strided) {
  const auto q = make_point_problem<T>(!exact, exact ? 11u : 12u);
  const auto want =
      cpu_point(q, exact ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule);
  const auto got = generic_point(q, exact, strided);
  const double tol = tolerance<T>();
  INFO("exact " << exact << " strided " << strided << ": sim "
                << relative_difference(got.sim, want.sim) << ", d/de "
                << relative_difference(got.ge, want.ge) << ", d/dv "
                << relative_difference(got.gv, want.gv) << ", d/dk "
                << relative_difference(got.gk, want.gk) << ", d/dT " << got.gt << " vs "
                << want.gt);
  CHECK(relative_difference(got.sim, want.sim) <= tol);
  CHECK(relative_difference(got.ge, want.ge) <= tol);
  CHECK(relative_difference(got.gv, want.gv) <= tol);
  CHECK(relative_difference(got.gk, want.gk) <= tol);
  CHECK(std::abs(double(got.gt) - double(want.gt)) <=
        tol * std::max(1.0, std::abs(double(want.gt))));
  // Clamped concentrations (k < min_kappa, and k == min_kappa) pass no gradient.
  for (std::size_t k = 0; k < q.kappas.size(); ++k) {
    if (!(q.kappas[k] > q.min_kappa)) CHECK(got.gk[k] == T(0));
  }
  if (!exact) {  // the zero embedding (row 2) has no direction: zero gradient
    for (Index j = 0; j < q.d; ++j) CHECK(got.ge[static_cast<std::size_t>(2 * q.d + j)] == T(0));
  }
}

/// L = sum_ic g_ic sim_ic; central differences of the generic forward
/// against the generic backward, every coordinate (double). No zero
/// embedding here: the direction is not differentiable at 0.
void check_point_finite_differences(bool exact) {
  auto q = make_point_problem<double>(false, 21u);
  const auto analytic = generic_point(q, exact, false);
  const auto objective = [&](const PointProblem<double>& x) {
    const auto r = generic_point(x, exact, false, false);
    double sum = 0;
    for (std::size_t k = 0; k < r.sim.size(); ++k) sum += x.grad[k] * r.sim[k];
    return sum;
  };
  const double h = 1e-6;
  const auto check = [&](std::vector<double> PointProblem<double>::*member,
                         const std::vector<double>& grad, const char* name) {
    double worst = 0, scale = 0;
    for (std::size_t k = 0; k < (q.*member).size(); ++k) {
      const double saved = (q.*member)[k];
      // Skip concentrations within h of the clamp (one-sided there).
      if (member == &PointProblem<double>::kappas && std::abs(saved - q.min_kappa) < 2 * h) {
        continue;
      }
      (q.*member)[k] = saved + h;
      const double up = objective(q);
      (q.*member)[k] = saved - h;
      const double down = objective(q);
      (q.*member)[k] = saved;
      const double fd = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(fd - grad[k]));
      scale = std::max(scale, std::abs(grad[k]));
    }
    INFO(name << " (exact " << exact << "): max |fd - analytic| " << worst << ", scale " << scale);
    CHECK(worst <= 1e-6 * std::max(1.0, scale));
  };
  check(&PointProblem<double>::embeddings, analytic.ge, "d/de");
  check(&PointProblem<double>::proxies, analytic.gv, "d/dv");
  check(&PointProblem<double>::kappas, analytic.gk, "d/dk");
  const double t = q.temperature;
  q.temperature = t + h;
  const double up = objective(q);
  q.temperature = t - h;
  const double down = objective(q);
  q.temperature = t;
  CHECK(std::abs((up - down) / (2 * h) - analytic.gt) <=
        1e-6 * std::max(1.0, std::abs(analytic.gt)));
}

}  // namespace

TEST_CASE("generic nivMF sampler: samples equal the CPU's bit for bit, gradients agree",
          "[thrust-host]") {
  for (Index p : {2, 3, 10, 64}) {
    check_nivmf_sampler<double>(p);
    check_nivmf_sampler<float>(p);
  }
}

TEST_CASE("generic nivMF-to-point similarity equals the CPU one", "[thrust-host]") {
  for (bool exact : {false, true}) {
    for (bool strided : {false, true}) {
      check_point<double>(exact, strided);
      check_point<float>(exact, strided);
    }
  }
}

TEST_CASE("generic nivMF-to-point backward matches central differences", "[thrust-host]") {
  check_point_finite_differences(false);
  check_point_finite_differences(true);
}
