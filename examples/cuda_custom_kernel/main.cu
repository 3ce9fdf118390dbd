// SPDX-License-Identifier: MIT
// A user's own CUDA kernel built from pdml's device functions: for every
// image (a vMF with natural parameter e_i) it draws samples with the per-sample
// vMF sampler, scores them under a nivMF class proxy with the paper's scoring
// rule, and also evaluates the log-normalizer and mean resultant length of the
// image distribution. The same functions run on the host, so the example
// checks the kernel's results against host evaluations and prints both.
//
// Without a CUDA device it prints a skip message and exits 0.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <cuda_runtime_api.h>

#include <pdml/distributions/nivmf.hpp>
#include <pdml/distributions/vmf_sampler.hpp>
#include <pdml/math/vmf_normalizer.hpp>
#include <pdml/random/philox.hpp>
#include <pdml/random/random_stream.hpp>

namespace {

constexpr int kDims = 16;
constexpr int kSamples = 8;

struct ImageSummary {
  double log_normalizer;  // log C_p(kappa_i)
  double mean_resultant;  // A_p(kappa_i) = E[mu^T x]
  double mean_score;      // (1/S) sum_s l(x_is) under the proxy
  double mean_cosine;     // (1/S) sum_s mu^T x_is, a Monte Carlo estimate of A_p
  int failed_draws;       // draws that hit the sampler's iteration cap
};

// Everything one image needs; callable on host and device, so the host check
// runs the identical code.
__host__ __device__ ImageSummary summarize_image(const double* eta, const double* proxy_nu,
                                                 const double* proxy_k, pdml::RngKey key,
                                                 std::uint64_t image, std::uint64_t images) {
  double mu[kDims];
  const double kappa = pdml::vmf_mean_direction(eta, kDims, mu);
  ImageSummary out{};
  out.log_normalizer = pdml::vmf_log_normalizer(kDims, kappa);
  out.mean_resultant = pdml::vmf_mean_resultant(kDims, kappa);
  double x[kDims];
  for (int s = 0; s < kSamples; ++s) {
    // Stream s * N + n: the layout of pdml::vmf_sample, so these are the very
    // samples the batched host and CUDA APIs draw for this key.
    pdml::RandomStream stream(key, static_cast<std::uint64_t>(s) * images + image);
    const pdml::VmfSampleDraw<double> draw =
        pdml::vmf_sample_one(stream, kDims, mu, kappa, x, static_cast<double*>(nullptr));
    if (!draw.ok) {
      ++out.failed_draws;
      continue;
    }
    double cosine = 0;
    for (int j = 0; j < kDims; ++j) cosine += mu[j] * x[j];
    out.mean_cosine += cosine / kSamples;
    out.mean_score += pdml::nivmf_score(kDims, proxy_nu, proxy_k, x) / kSamples;
  }
  return out;
}

__global__ void summarize_kernel(const double* eta, int images, const double* proxy_nu,
                                 const double* proxy_k, pdml::RngKey key, ImageSummary* out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= images) return;
  out[i] = summarize_image(eta + i * kDims, proxy_nu, proxy_k, key, static_cast<std::uint64_t>(i),
                           static_cast<std::uint64_t>(images));
}

bool check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
  return status == cudaSuccess;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device available; cuda_custom_kernel was built but not run\n");
    return 0;
  }
  const int images = 6;
  std::vector<double> eta(images * kDims), nu(kDims), k(kDims);
  for (int i = 0; i < images; ++i) {
    const double kappa = i == 0 ? 0.0 : std::pow(10.0, i - 2);  // 0 (uniform), 0.1 ... 1000
    for (int j = 0; j < kDims; ++j) eta[i * kDims + j] = (j == i % kDims ? kappa : 0.0);
  }
  double nn = 0;
  for (int j = 0; j < kDims; ++j) {
    nu[j] = 1.0 + j;
    nn += nu[j] * nu[j];
    k[j] = 2.0 + 0.25 * j;
  }
  for (double& v : nu) v /= std::sqrt(nn);
  const pdml::RngKey key{20221023u, 0u};

  double *d_eta = nullptr, *d_nu = nullptr, *d_k = nullptr;
  ImageSummary* d_out = nullptr;
  if (!check(cudaMalloc(&d_eta, eta.size() * sizeof(double)), "cudaMalloc") ||
      !check(cudaMalloc(&d_nu, kDims * sizeof(double)), "cudaMalloc") ||
      !check(cudaMalloc(&d_k, kDims * sizeof(double)), "cudaMalloc") ||
      !check(cudaMalloc(&d_out, images * sizeof(ImageSummary)), "cudaMalloc")) {
    return 1;
  }
  cudaMemcpy(d_eta, eta.data(), eta.size() * sizeof(double), cudaMemcpyHostToDevice);
  cudaMemcpy(d_nu, nu.data(), kDims * sizeof(double), cudaMemcpyHostToDevice);
  cudaMemcpy(d_k, k.data(), kDims * sizeof(double), cudaMemcpyHostToDevice);
  summarize_kernel<<<1, 64>>>(d_eta, images, d_nu, d_k, key, d_out);
  if (!check(cudaGetLastError(), "launch")) return 1;
  std::vector<ImageSummary> device(images);
  if (!check(cudaMemcpy(device.data(), d_out, images * sizeof(ImageSummary),
                        cudaMemcpyDeviceToHost),
             "copy back")) {
    return 1;
  }
  cudaFree(d_eta);
  cudaFree(d_nu);
  cudaFree(d_k);
  cudaFree(d_out);

  std::printf("%6s %14s %14s %14s %14s %14s\n", "kappa", "log C_p", "A_p", "MC mu^T x",
              "mean score", "host-device");
  double worst = 0;
  for (int i = 0; i < images; ++i) {
    const ImageSummary host = summarize_image(eta.data() + i * kDims, nu.data(), k.data(), key,
                                              static_cast<std::uint64_t>(i),
                                              static_cast<std::uint64_t>(images));
    const double diff = std::fabs(host.mean_score - device[i].mean_score) +
                        std::fabs(host.log_normalizer - device[i].log_normalizer) +
                        std::fabs(host.mean_resultant - device[i].mean_resultant);
    worst = std::fmax(worst, diff);
    const double kappa = i == 0 ? 0.0 : std::pow(10.0, i - 2);
    std::printf("%6g %14.8g %14.8g %14.8g %14.8g %14.3g%s\n", kappa, device[i].log_normalizer,
                device[i].mean_resultant, device[i].mean_cosine, device[i].mean_score, diff,
                device[i].failed_draws ? " (draws failed)" : "");
  }
  std::printf("largest host/device difference: %.3g\n", worst);
  return worst < 1e-9 ? 0 : 1;
}
