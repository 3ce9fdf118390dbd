// SPDX-License-Identifier: MIT
// A consumer of the installed pdml::cuda: the criterion's host API (size
// query, forward, backward) and pdml's device functions in an own kernel.
// Built with nvcc -Werror all-warnings and no pdml-specific flag; it runs the
// criterion when a device is present and otherwise exits 0 right away (in CI
// this project checks that pdml compiles for consumers).
#include <cstdint>
#include <cstdio>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <pdml/cuda/el_nivmf_loss.hpp>  // the old path: a forwarding header for one release
#include <pdml/cuda/losses/el_nivmf_loss.hpp>
#include <pdml/math/vmf_normalizer.hpp>

namespace {

__global__ void log_normalizers(const double* kappa, double* out, int n, int p) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = pdml::vmf_log_normalizer(p, kappa[i]);
}

bool ok(cudaError_t status, const char* what) {
  if (status != cudaSuccess) std::printf("%s: %s\n", what, cudaGetErrorString(status));
  return status == cudaSuccess;
}

}  // namespace

int main() {
  const long B = 4, C = 6, D = 16;
  pdml::cuda::ElNivmfLoss<float>::Options options;
  options.guidance_weight = 0.5f;
  const pdml::cuda::ElNivmfLoss<float> loss(options);
  pdml::cuda::ElNivmfLoss<float>::Saved saved;
  int devices = 0;
  const bool device = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
  std::vector<float> host_e(B * D, 0.5f), host_v(C * D, 0.25f), host_k(C * D, 1.0f);
  std::vector<std::int64_t> host_labels = {0, 1, 2, 3};
  float *e = nullptr, *v = nullptr, *k = nullptr, *l = nullptr, *ge = nullptr, *gv = nullptr,
        *gk = nullptr;
  std::int64_t* labels = nullptr;
  cublasHandle_t handle = nullptr;
  if (!device) {
    std::printf("no CUDA device: compiled only\n");
    return 0;
  }
  {
    if (!ok(cudaMalloc(&e, sizeof(float) * B * D), "cudaMalloc") ||
        !ok(cudaMalloc(&v, sizeof(float) * C * D), "cudaMalloc") ||
        !ok(cudaMalloc(&k, sizeof(float) * C * D), "cudaMalloc") ||
        !ok(cudaMalloc(&l, sizeof(float)), "cudaMalloc") ||
        !ok(cudaMalloc(&ge, sizeof(float) * B * D), "cudaMalloc") ||
        !ok(cudaMalloc(&gv, sizeof(float) * C * D), "cudaMalloc") ||
        !ok(cudaMalloc(&gk, sizeof(float) * C * D), "cudaMalloc") ||
        !ok(cudaMalloc(&labels, sizeof(std::int64_t) * B), "cudaMalloc")) {
      return 1;
    }
    cudaMemcpy(e, host_e.data(), sizeof(float) * B * D, cudaMemcpyHostToDevice);
    cudaMemcpy(v, host_v.data(), sizeof(float) * C * D, cudaMemcpyHostToDevice);
    cudaMemcpy(k, host_k.data(), sizeof(float) * C * D, cudaMemcpyHostToDevice);
    cudaMemcpy(labels, host_labels.data(), sizeof(std::int64_t) * B, cudaMemcpyHostToDevice);
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return 1;
  }
  const pdml::cuda::Context context{nullptr, handle};  // cublasCreate binds stream 0
  const pdml::ConstMatrixView<float> ev{e, B, D, D}, vv{v, C, D, D}, kv{k, C, D, D};
  std::size_t bytes = 0;
  if (!ok(loss.forward(nullptr, bytes, ev, labels, vv, kv, 0.1f, pdml::RngKey{1, 0}, l, saved,
                       context),
          "size query")) {
    return 1;
  }
  std::printf("criterion workspace at B %ld C %ld D %ld: %zu bytes\n", B, C, D, bytes);
  void* workspace = nullptr;
  if (!ok(cudaMalloc(&workspace, bytes), "cudaMalloc") ||
      !ok(loss.forward(workspace, bytes, ev, labels, vv, kv, 0.1f, pdml::RngKey{1, 0}, l, saved,
                       context),
          "forward") ||
      !ok(loss.backward(saved, 1.0f, pdml::MatrixView<float>{ge, B, D, D},
                        pdml::MatrixView<float>{gv, C, D, D},
                        pdml::MatrixView<float>{gk, C, D, D}, nullptr, nullptr, context),
          "backward")) {
    return 1;
  }
  double host_kappa[2] = {1.0, 10.0}, host_out[2] = {0, 0};
  double *kappa = nullptr, *out = nullptr;
  cudaMalloc(&kappa, sizeof(host_kappa));
  cudaMalloc(&out, sizeof(host_out));
  cudaMemcpy(kappa, host_kappa, sizeof(host_kappa), cudaMemcpyHostToDevice);
  log_normalizers<<<1, 32>>>(kappa, out, 2, 16);
  float host_loss = 0;
  std::uint32_t status = 0;
  if (!ok(cudaMemcpy(host_out, out, sizeof(host_out), cudaMemcpyDeviceToHost), "copy") ||
      !ok(cudaMemcpy(&host_loss, l, sizeof(float), cudaMemcpyDeviceToHost), "copy") ||
      !ok(cudaMemcpy(&status, saved.status(), sizeof(status), cudaMemcpyDeviceToHost), "copy")) {
    return 1;
  }
  std::printf("loss %.6f status %u log C_16(1) %.6f log C_16(10) %.6f\n", host_loss, status,
              host_out[0], host_out[1]);
  return status == 0 ? 0 : 1;
}
