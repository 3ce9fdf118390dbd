// SPDX-License-Identifier: MIT
// Device sanity: the host/device macro and views work inside a kernel.
#include <catch2/catch.hpp>

#include <pdml/core/matrix_view.hpp>

namespace {
__global__ void scale_kernel(pdml::MatrixView<float> view, float factor) {
  const int r = static_cast<int>(blockIdx.x);
  const int c = static_cast<int>(threadIdx.x);
  if (r < view.rows && c < view.cols) view(r, c) *= factor;
}
}  // namespace

TEST_CASE("a MatrixView is usable inside a kernel", "[cuda]") {
  float host[6] = {1, 2, 3, 4, 5, 6};
  float* device = nullptr;
  REQUIRE(cudaMalloc(&device, sizeof(host)) == cudaSuccess);
  REQUIRE(cudaMemcpy(device, host, sizeof(host), cudaMemcpyHostToDevice) == cudaSuccess);
  scale_kernel<<<2, 3>>>(pdml::MatrixView<float>{device, 2, 3, 3}, 2.0f);
  REQUIRE(cudaMemcpy(host, device, sizeof(host), cudaMemcpyDeviceToHost) == cudaSuccess);
  cudaFree(device);
  CHECK(host[5] == 12.0f);
}
