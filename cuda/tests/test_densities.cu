// The batched CUDA log-densities (pdml/cuda/densities.hpp) against the CPU
// batched APIs on identical inputs (CPU side in test_densities_reference.cpp):
// log_prob and every gradient within 1e-12 relative (double) / 1e-5 (float)
// (docs/cuda.md, host and device last-bit differences), strided views, a
// non-default stream, grad_points skipped; host-side validation. Small on
// purpose, so it compiles quickly.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include <pdml/cuda/densities.hpp>

#include "cpu_reference.hpp"
#include "device_test_support.hpp"

namespace {

using pdml_test::DeviceBuffer;
using pdml_test::relative_difference;
using pdml_test::StridedMatrix;
using pdml_test::tolerance;

template <class T>
std::vector<T> unit_rows(long rows, long p, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  std::vector<T> out;
  for (long i = 0; i < rows; ++i) {
    std::vector<double> x(static_cast<std::size_t>(p));
    double nn = 0;
    for (auto& v : x) {
      v = normal(gen);
      nn += v * v;
    }
    for (auto v : x) out.push_back(static_cast<T>(v / std::sqrt(nn)));
  }
  return out;
}

/// kind: 0 vMF, 1 nivMF, 2 Power Spherical.
template <class T>
void check_density(int kind, long p) {
  const long n = 7, s = 3, m = s * n, cols = kind == 1 ? p : 1;
  std::mt19937_64 gen(900u + static_cast<unsigned>(kind * 10 + p));
  std::uniform_real_distribution<double> log_uniform(std::log(0.05), std::log(500.0));
  std::normal_distribution<double> normal;
  std::vector<T> first = unit_rows<T>(n, p, gen), second;
  if (kind == 0) {
    for (long i = 0; i < n; ++i) {
      const double kappa = std::exp(log_uniform(gen));
      for (long j = 0; j < p; ++j) first[i * p + j] = static_cast<T>(kappa * first[i * p + j]);
    }
  } else {
    for (long k = 0; k < n * cols; ++k) second.push_back(static_cast<T>(std::exp(log_uniform(gen))));
  }
  const std::vector<T> points = unit_rows<T>(m, p, gen);
  std::vector<T> grad;
  for (long i = 0; i < m; ++i) grad.push_back(static_cast<T>(normal(gen)));
  const auto want = pdml_test::cpu_log_prob<T>(kind, first, second, points, n, p, m, grad);

  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreate(&stream) == cudaSuccess);
  StridedMatrix<T> fv(first, n, p, 2), xv(points, m, p, 1), gv(grad, m, 1, 2);
  StridedMatrix<T> sv(kind == 0 ? std::vector<T>(1) : second, kind == 0 ? 0 : n,
                      kind == 0 ? 0 : cols, 1);
  StridedMatrix<T> lp(std::vector<T>(static_cast<std::size_t>(m)), m, 1, 1),
      gf(std::vector<T>(first.size()), n, p, 3),
      gs(std::vector<T>(kind == 0 ? 1 : second.size()), kind == 0 ? 0 : n, kind == 0 ? 0 : cols, 2),
      gx(std::vector<T>(points.size()), m, p, 1);
  std::size_t bytes = 0;
  const auto backward = [&](void* workspace, pdml::MatrixView<T> grad_points) {
    switch (kind) {
      case 0:
        return pdml::cuda::vmf_log_prob_backward<T>(workspace, bytes, fv.view(), xv.view(),
                                                    gv.view(), gf.view(), grad_points, stream);
      case 1:
        return pdml::cuda::nivmf_log_prob_backward<T>(workspace, bytes, fv.view(), sv.view(),
                                                      xv.view(), gv.view(), gf.view(), gs.view(),
                                                      grad_points, stream);
      default:
        return pdml::cuda::power_spherical_log_prob_backward<T>(
            workspace, bytes, fv.view(), sv.view(), xv.view(), gv.view(), gf.view(), gs.view(),
            grad_points, stream);
    }
  };
  switch (kind) {
    case 0:
      REQUIRE(pdml::cuda::vmf_log_prob<T>(fv.view(), xv.view(), lp.view(), stream) == cudaSuccess);
      break;
    case 1:
      REQUIRE(pdml::cuda::nivmf_log_prob<T>(fv.view(), sv.view(), xv.view(), lp.view(), stream) ==
              cudaSuccess);
      break;
    default:
      REQUIRE(pdml::cuda::power_spherical_log_prob<T>(fv.view(), sv.view(), xv.view(), lp.view(),
                                                      stream) == cudaSuccess);
  }
  REQUIRE(backward(nullptr, gx.view()) == cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes);
  REQUIRE(backward(workspace.get(), gx.view()) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  const auto got_gx = gx.dense();
  const auto got_gf = gf.dense();
  // grad_points skipped: the parameter gradients are the same.
  REQUIRE(backward(workspace.get(), pdml::MatrixView<T>{nullptr, 0, 0, 0}) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  CHECK(gf.dense() == got_gf);
  INFO("kind " << kind << " p " << p << ": log_prob "
               << relative_difference(lp.dense(), want.log_prob) << ", first "
               << relative_difference(got_gf, want.grad_first) << ", points "
               << relative_difference(got_gx, want.grad_points));
  CHECK(relative_difference(lp.dense(), want.log_prob) <= tolerance<T>());
  CHECK(relative_difference(got_gf, want.grad_first) <= tolerance<T>());
  CHECK(relative_difference(got_gx, want.grad_points) <= tolerance<T>());
  if (kind != 0) CHECK(relative_difference(gs.dense(), want.grad_second) <= tolerance<T>());
  cudaStreamDestroy(stream);
}

}  // namespace

TEST_CASE("CUDA batched log-densities equal the CPU ones", "[cuda][distributions]") {
  for (int kind : {0, 1, 2}) {
    for (long p : {3L, 32L}) {
      check_density<double>(kind, p);
      check_density<float>(kind, p);
    }
  }
}

TEST_CASE("CUDA batched log-densities validate host-side arguments", "[cuda][distributions]") {
  double dummy = 0;
  std::size_t bytes = 0;
  const pdml::ConstMatrixView<double> eta{&dummy, 2, 4, 4}, x{&dummy, 6, 4, 4};
  const pdml::MatrixView<double> lp{&dummy, 6, 1, 1};
  CHECK_THROWS_AS(pdml::cuda::vmf_log_prob<double>(eta, pdml::ConstMatrixView<double>{&dummy, 5, 4, 4},
                                                   pdml::MatrixView<double>{&dummy, 5, 1, 1}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::nivmf_log_prob<double>(eta, pdml::ConstMatrixView<double>{&dummy, 2, 1, 1},
                                                     x, lp),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::power_spherical_log_prob<double>(eta, eta, x, lp),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::vmf_log_prob_backward<double>(
                      nullptr, bytes, eta, x, pdml::ConstMatrixView<double>{&dummy, 6, 1, 1},
                      pdml::MatrixView<double>{&dummy, 2, 3, 3}),
                  std::invalid_argument);
  std::size_t small = 1;
  CHECK_THROWS_AS(pdml::cuda::vmf_log_prob_backward<double>(
                      &dummy, small, eta, x, pdml::ConstMatrixView<double>{&dummy, 6, 1, 1},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4}),
                  std::invalid_argument);
}
