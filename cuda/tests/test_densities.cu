// SPDX-License-Identifier: MIT
// The batched CUDA log-densities (pdml/cuda/distributions/densities.hpp) against the CPU
// batched APIs on identical inputs (CPU side in test_densities_reference.cpp):
// log_prob and every gradient within 1e-12 relative (double) / 1e-5 (float)
// (docs/cuda.md, host and device last-bit differences), strided views, a
// non-default stream, grad_points skipped; host-side validation. Small on
// purpose, so it compiles quickly.
#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include <pdml/cuda/distributions/densities.hpp>

#include "cpu_reference.hpp"
#include "device_test_support.hpp"

namespace {

using pdml_test::CudaStream;
using pdml_test::DeviceBuffer;
using pdml_test::relative_difference;
using pdml_test::StridedMatrix;
using pdml_test::tolerance;

/// kind: 0 vMF, 1 nivMF, 2 Power Spherical.
template <class T>
void check_density(int kind, long p) {
  const long n = 7, s = 3, m = s * n, cols = kind == 1 ? p : 1;
  const auto c = pdml_test::make_density_case<T>(kind, n, p, s,
                                                 900u + static_cast<unsigned>(kind * 10 + p));
  const auto want = pdml_test::cpu_log_prob<T>(kind, c.first, c.second, c.points, n, p, m, c.grad);

  const CudaStream stream;
  StridedMatrix<T> fv(c.first, n, p, 2), xv(c.points, m, p, 1), gv(c.grad, m, 1, 2);
  // vMF has no second parameter: 0 x 0 views.
  const long second_rows = kind == 0 ? 0 : n, second_cols = kind == 0 ? 0 : cols;
  StridedMatrix<T> sv(c.second, second_rows, second_cols, 1);
  StridedMatrix<T> lp(m, 1, 1), gf(n, p, 3), gs(second_rows, second_cols, 2), gx(m, p, 1);
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
