// SPDX-License-Identifier: MIT
// The standalone CUDA nivMF scores and EL-nivMF similarity
// (pdml/cuda/similarities/nivmf_scores.hpp, pdml/cuda/similarities/el_nivmf_similarity.hpp) against the
// CPU API on identical inputs (CPU side in
// test_el_nivmf_similarity_reference.cpp): outputs and every gradient within
// 1e-12 relative (double) / 1e-5 (float), both scoring rules, strided views,
// a non-default stream, recompute_in_backward; bitwise-repeatable backward;
// host-side validation. Kept apart from test_criterion.cu so it compiles
// quickly.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <pdml/cuda/similarities/el_nivmf_similarity.hpp>
#include <pdml/cuda/similarities/nivmf_scores.hpp>

#include "cpu_reference.hpp"
#include "device_test_support.hpp"

namespace {

using pdml_test::CublasHandle;
using pdml_test::CudaStream;
using pdml_test::DeviceBuffer;
using pdml_test::random_vector;
using pdml_test::relative_difference;
using pdml_test::StridedMatrix;
using pdml_test::tolerance;

/// n_samples == 0: nivMF scores of n points; otherwise the EL-nivMF
/// similarity of n = S B samples.
template <class T>
void check_against_cpu(bool exact, int n_samples, bool recompute = false) {
  const long n = 12, c = 7, d = 9;
  const long out_rows = n_samples > 0 ? n / n_samples : n;
  auto x = random_vector<T>(static_cast<std::size_t>(n * d), 81u);
  pdml_test::normalize_rows(x, n, d);  // points on the sphere
  const auto v = random_vector<T>(static_cast<std::size_t>(c * d), 82u);
  const auto k = pdml_test::clamped_concentrations<T>(static_cast<std::size_t>(c * d), 83u);
  const auto g = random_vector<T>(static_cast<std::size_t>(out_rows * c), 84u);
  const T min_kappa = T(0.1), temperature = T(0.3);
  const auto want = pdml_test::cpu_nivmf_scores_or_el_similarity<T>(
      exact, n_samples, x, v, k, n, c, d, min_kappa, temperature, g);

  CublasHandle cublas;
  const CudaStream stream;
  // pdml requires the handle bound to the call's stream (it never rebinds it).
  REQUIRE(cublasSetStream(cublas.handle, stream) == CUBLAS_STATUS_SUCCESS);
  const pdml::cuda::Context context{stream, cublas.handle};
  StridedMatrix<T> xv(x, n, d, 2), vv(v, c, d, 3), kv(k, c, d, 1), gvw(g, out_rows, c, 2);
  StridedMatrix<T> out(out_rows, c, 1), gx(n, d, 2), gv(c, d, 1), gk(c, d, 4);
  DeviceBuffer<T> gt(1);
  const auto scoring =
      exact ? pdml::cuda::NivmfScoring::exact_density : pdml::cuda::NivmfScoring::paper_rule;
  std::size_t bytes = 0;
  std::vector<T> first_gx, first_gv;
  if (n_samples > 0) {
    pdml::cuda::ElNivmfSimilaritySaved<T> saved;
    REQUIRE(pdml::cuda::el_nivmf_similarity_forward<T>(nullptr, bytes, xv.view(), n_samples,
                                                       vv.view(), kv.view(), min_kappa,
                                                       temperature, scoring, out.view(), saved,
                                                       context, recompute) == cudaSuccess);
    DeviceBuffer<unsigned char> workspace(bytes);
    REQUIRE(pdml::cuda::el_nivmf_similarity_forward<T>(
                workspace.get(), bytes, xv.view(), n_samples, vv.view(), kv.view(), min_kappa,
                temperature, scoring, out.view(), saved, context, recompute) == cudaSuccess);
    for (int round = 0; round < 2; ++round) {
      REQUIRE(pdml::cuda::el_nivmf_similarity_backward<T>(saved, gvw.view(), gx.view(), gv.view(),
                                                       gk.view(), gt.get(), context) ==
              cudaSuccess);
      REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
      if (round == 0) {
        first_gx = gx.dense();
        first_gv = gv.dense();
      }
    }
    // grad_temperature may be skipped.
    REQUIRE(pdml::cuda::el_nivmf_similarity_backward<T>(saved, gvw.view(), gx.view(), gv.view(),
                                                     gk.view(), nullptr, context) == cudaSuccess);
  } else {
    pdml::cuda::NivmfScoresSaved<T> saved;
    REQUIRE(pdml::cuda::nivmf_scores_forward<T>(nullptr, bytes, xv.view(), vv.view(), kv.view(),
                                                min_kappa, scoring, out.view(), saved,
                                                context) == cudaSuccess);
    DeviceBuffer<unsigned char> workspace(bytes);
    REQUIRE(pdml::cuda::nivmf_scores_forward<T>(workspace.get(), bytes, xv.view(), vv.view(),
                                                kv.view(), min_kappa, scoring, out.view(), saved,
                                                context) == cudaSuccess);
    for (int round = 0; round < 2; ++round) {
      REQUIRE(pdml::cuda::nivmf_scores_backward<T>(saved, gvw.view(), gx.view(), gv.view(),
                                                gk.view(), context) == cudaSuccess);
      REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
      if (round == 0) {
        first_gx = gx.dense();
        first_gv = gv.dense();
      }
    }
  }
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  const auto got_gk = gk.dense();
  INFO((n_samples > 0 ? "EL-nivMF similarity" : "nivMF scores")
       << ", exact density " << exact << ", recompute " << recompute << ": out " << relative_difference(out.dense(), want.similarities)
       << ", d/dx " << relative_difference(gx.dense(), want.grad_embeddings) << ", d/dv "
       << relative_difference(gv.dense(), want.grad_proxies) << ", d/dk "
       << relative_difference(got_gk, want.grad_kappas));
  CHECK(relative_difference(out.dense(), want.similarities) <= tolerance<T>());
  CHECK(relative_difference(gx.dense(), want.grad_embeddings) <= tolerance<T>());
  CHECK(relative_difference(gv.dense(), want.grad_proxies) <= tolerance<T>());
  CHECK(relative_difference(got_gk, want.grad_kappas) <= tolerance<T>());
  CHECK(got_gk[0] == T(0));
  CHECK(got_gk[5] == T(0));
  CHECK(first_gx == gx.dense());  // deterministic: bitwise equal on repeat
  CHECK(first_gv == gv.dense());
  if (n_samples > 0) {
    const double gt_diff = std::abs(double(gt.download()[0]) - double(want.grad_temperature));
    CHECK(gt_diff <= tolerance<T>() * std::max(1.0, std::abs(double(want.grad_temperature))));
  }
}

}  // namespace

TEST_CASE("CUDA nivMF scores equal the CPU ones (both scoring rules)", "[cuda][similarity]") {
  for (bool exact : {false, true}) {
    check_against_cpu<double>(exact, 0);
    check_against_cpu<float>(exact, 0);
  }
}

TEST_CASE("CUDA EL-nivMF similarity equals the CPU one (both scoring rules)",
          "[cuda][similarity]") {
  for (bool exact : {false, true}) {
    for (int s : {1, 3}) {
      check_against_cpu<double>(exact, s);
      check_against_cpu<float>(exact, s);
    }
    check_against_cpu<double>(exact, 3, true);  // recompute_in_backward
    check_against_cpu<float>(exact, 3, true);
  }
}

TEST_CASE("CUDA nivMF scores and EL-nivMF similarity validate host-side arguments",
          "[cuda][similarity]") {
  double dummy = 0;
  std::size_t bytes = 0;
  CublasHandle cublas;
  const pdml::cuda::Context context{nullptr, cublas.handle};
  const pdml::ConstMatrixView<double> x{&dummy, 6, 4, 4}, v{&dummy, 2, 4, 4};
  const auto paper = pdml::cuda::NivmfScoring::paper_rule;
  pdml::cuda::ElNivmfSimilaritySaved<double> saved;
  const auto forward = [&](int s, double temperature, pdml::MatrixView<double> sim,
                           pdml::cuda::Context ctx) {
    return pdml::cuda::el_nivmf_similarity_forward<double>(nullptr, bytes, x, s, v, v, 0.1,
                                                           temperature, paper, sim, saved, ctx);
  };
  const pdml::MatrixView<double> sim{&dummy, 2, 2, 2};
  CHECK(forward(3, 0.5, sim, context) == cudaSuccess);
  CHECK(bytes > 0);
  CHECK_THROWS_AS(forward(4, 0.5, sim, context), std::invalid_argument);
  CHECK_THROWS_AS(forward(3, 0.0, sim, context), std::invalid_argument);
  CHECK_THROWS_AS(forward(2, 0.5, sim, context), std::invalid_argument);  // sim must be 3 x 2
  CHECK_THROWS_AS(forward(3, 0.5, sim, pdml::cuda::Context{nullptr, nullptr}),
                  std::invalid_argument);
  std::size_t too_small = 1;
  CHECK_THROWS_AS(pdml::cuda::el_nivmf_similarity_forward<double>(
                      &dummy, too_small, x, 3, v, v, 0.1, 0.5, paper, sim, saved, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::el_nivmf_similarity_backward<double>(
                      saved, pdml::ConstMatrixView<double>{&dummy, 2, 2, 2},
                      pdml::MatrixView<double>{&dummy, 6, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4}, nullptr, context),
                  std::invalid_argument);  // no forward pass
  pdml::cuda::NivmfScoresSaved<double> scores;
  CHECK_THROWS_AS(pdml::cuda::nivmf_scores_forward<double>(
                      nullptr, bytes, x, v, pdml::ConstMatrixView<double>{&dummy, 2, 3, 3}, 0.1,
                      paper, pdml::MatrixView<double>{&dummy, 6, 2, 2}, scores, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::nivmf_scores_forward<double>(
                      nullptr, bytes, x, v, v, -1.0, paper,
                      pdml::MatrixView<double>{&dummy, 6, 2, 2}, scores, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::nivmf_scores_backward<double>(
                      scores, pdml::ConstMatrixView<double>{&dummy, 6, 2, 2},
                      pdml::MatrixView<double>{&dummy, 6, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4}, context),
                  std::invalid_argument);
}
