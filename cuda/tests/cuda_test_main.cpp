// SPDX-License-Identifier: MIT
// main() for the CUDA tests: runs Catch2 when a CUDA device is present, and
// otherwise reports a skip with exit code 77 (ctest SKIP_RETURN_CODE).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include <cuda_runtime_api.h>

int main(int argc, char* argv[]) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device available (%s)\n",
                status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
