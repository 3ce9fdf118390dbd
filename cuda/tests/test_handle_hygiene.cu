// SPDX-License-Identifier: MIT
// pdml::cuda and the caller's cuBLAS handle, stream and workspace, on a GPU:
//  * a handle in device pointer mode, TF32 math and atomics allowed gives the
//    results of a default handle, and is left exactly as it was;
//  * a handle bound to another stream than the call's is rejected
//    (std::invalid_argument) and left unchanged;
//  * the opt-in TF32 / BF16 GEMMs stay within the bound of docs/cuda.md;
//  * a workspace at an odd address works (the carver aligns it);
//  * the device status word: 0 on valid data, label_out_of_range otherwise.
// Without a device the binary exits 77 (skipped).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <cublas_v2.h>

#include <pdml/cuda/losses/el_nivmf_loss.hpp>

#include "device_test_support.hpp"

namespace {

using pdml_test::CublasHandle;
using pdml_test::CudaStream;
using pdml_test::DeviceBuffer;
using pdml_test::random_vector;

constexpr long kB = 8, kC = 40, kD = 64, kS = 3;
constexpr float kTemperature = 0.1f, kGuidance = 0.5f, kAlpha = 32.0f;

struct Modes {
  cublasPointerMode_t pointer;
  cublasMath_t math;
  cublasAtomicsMode_t atomics;
  cudaStream_t stream;
  bool operator==(const Modes& o) const {
    return pointer == o.pointer && math == o.math && atomics == o.atomics && stream == o.stream;
  }
};

Modes modes_of(cublasHandle_t h) {
  Modes m{};
  REQUIRE(cublasGetPointerMode(h, &m.pointer) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasGetMathMode(h, &m.math) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasGetAtomicsMode(h, &m.atomics) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasGetStream(h, &m.stream) == CUBLAS_STATUS_SUCCESS);
  return m;
}

struct Inputs {
  std::vector<float> embeddings = random_vector<float>(kB * kD, 11u, 2.0);
  std::vector<float> proxies = random_vector<float>(kC * kD, 12u);
  std::vector<float> kappas;
  std::vector<std::int64_t> labels;
  Inputs() {
    kappas = random_vector<float>(kC * kD, 13u);
    for (auto& k : kappas) k = 0.2f + 2.8f * std::abs(k) / 3.0f;
    for (long i = 0; i < kB; ++i) labels.push_back(i % kC);
  }
  float max_kappa() const { return *std::max_element(kappas.begin(), kappas.end()); }
};

struct Outcome {
  float loss;
  std::vector<float> grad_embeddings, grad_proxies;
  std::uint32_t status;
};

/// forward + backward of the float criterion on `context`, with the
/// workspace starting `misalign` bytes after a cudaMalloc'ed address.
Outcome run(const Inputs& in, const pdml::cuda::Context& context, std::size_t misalign = 0) {
  pdml::cuda::ElNivmfLoss<float>::Options options;
  options.n_samples = static_cast<int>(kS);
  options.guidance_weight = kGuidance;
  options.proxy_anchor_alpha = kAlpha;
  const pdml::cuda::ElNivmfLoss<float> loss(options);
  DeviceBuffer<float> e(in.embeddings), v(in.proxies), k(in.kappas), d_loss(1), grad_t(1),
      ge(kB * kD), gv(kC * kD), gk(kC * kD);
  DeviceBuffer<std::int64_t> labels(in.labels);
  const pdml::ConstMatrixView<float> ev{e.get(), kB, kD, kD}, vv{v.get(), kC, kD, kD},
      kv{k.get(), kC, kD, kD};
  pdml::cuda::ElNivmfLoss<float>::Saved saved;
  std::size_t bytes = 0;
  const pdml::RngKey rng{99u, 3u};
  REQUIRE(loss.forward(nullptr, bytes, ev, labels.get(), vv, kv, kTemperature, rng, d_loss.get(),
                       saved, context) == cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes + misalign);
  std::size_t available = bytes;
  REQUIRE(loss.forward(workspace.get() + misalign, available, ev, labels.get(), vv, kv,
                       kTemperature, rng, d_loss.get(), saved, context) == cudaSuccess);
  REQUIRE(loss.backward(saved, 1.0f, pdml::MatrixView<float>{ge.get(), kB, kD, kD},
                        pdml::MatrixView<float>{gv.get(), kC, kD, kD},
                        pdml::MatrixView<float>{gk.get(), kC, kD, kD}, grad_t.get(), nullptr,
                        context) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(context.stream) == cudaSuccess);
  Outcome out{};
  out.loss = d_loss.download()[0];
  out.grad_embeddings = ge.download();
  out.grad_proxies = gv.download();
  REQUIRE(cudaMemcpy(&out.status, saved.status(), sizeof(out.status), cudaMemcpyDeviceToHost) ==
          cudaSuccess);
  return out;
}

TEST_CASE("a caller's handle modes neither change pdml's results nor survive changed",
          "[cuda]") {
  const Inputs in;
  const CudaStream stream;
  CublasHandle plain, odd;
  REQUIRE(cublasSetStream(plain.handle, stream) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSetStream(odd.handle, stream) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSetPointerMode(odd.handle, CUBLAS_POINTER_MODE_DEVICE) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSetMathMode(odd.handle, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSetAtomicsMode(odd.handle, CUBLAS_ATOMICS_ALLOWED) == CUBLAS_STATUS_SUCCESS);
  const Modes before = modes_of(odd.handle);

  const Outcome want = run(in, pdml::cuda::Context{stream, plain.handle});
  const Outcome got = run(in, pdml::cuda::Context{stream, odd.handle});
  CHECK(modes_of(odd.handle) == before);
  CHECK(want.status == 0u);
  CHECK(got.status == 0u);
  // Same GEMM configuration inside pdml's calls: the fp32 results agree to
  // fp32 rounding (cuBLAS may still pick another kernel for another handle).
  CHECK(std::abs(got.loss - want.loss) <= 1e-5f * std::max(1.0f, std::abs(want.loss)));
  CHECK(pdml_test::relative_difference(got.grad_embeddings, want.grad_embeddings) <= 1e-5);
  CHECK(pdml_test::relative_difference(got.grad_proxies, want.grad_proxies) <= 1e-5);

  // A workspace at an odd address gives the same result.
  const Outcome shifted = run(in, pdml::cuda::Context{stream, plain.handle}, 8);
  CHECK(shifted.loss == want.loss);
}

TEST_CASE("a handle bound to another stream is rejected and left unchanged", "[cuda]") {
  const Inputs in;
  const CudaStream stream, other;
  CublasHandle handle;
  REQUIRE(cublasSetStream(handle.handle, other) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasSetPointerMode(handle.handle, CUBLAS_POINTER_MODE_DEVICE) ==
          CUBLAS_STATUS_SUCCESS);
  const Modes before = modes_of(handle.handle);
  pdml::cuda::ElNivmfLoss<float>::Options options;
  const pdml::cuda::ElNivmfLoss<float> loss(options);
  DeviceBuffer<float> e(in.embeddings), v(in.proxies), k(in.kappas), d_loss(1);
  DeviceBuffer<std::int64_t> labels(in.labels);
  const pdml::ConstMatrixView<float> ev{e.get(), kB, kD, kD}, vv{v.get(), kC, kD, kD},
      kv{k.get(), kC, kD, kD};
  pdml::cuda::ElNivmfLoss<float>::Saved saved;
  std::size_t bytes = 0;
  const pdml::cuda::Context context{stream, handle.handle};
  REQUIRE(loss.forward(nullptr, bytes, ev, labels.get(), vv, kv, kTemperature,
                       pdml::RngKey{1u, 2u}, d_loss.get(), saved, context) == cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes);
  CHECK_THROWS_AS(loss.forward(workspace.get(), bytes, ev, labels.get(), vv, kv, kTemperature,
                               pdml::RngKey{1u, 2u}, d_loss.get(), saved, context),
                  std::invalid_argument);
  CHECK(modes_of(handle.handle) == before);
}

TEST_CASE("opt-in tensor-core GEMMs stay within docs/cuda.md's bound", "[cuda]") {
  const Inputs in;
  const CudaStream stream;
  CublasHandle handle;
  REQUIRE(cublasSetStream(handle.handle, stream) == CUBLAS_STATUS_SUCCESS);
  const Outcome exact = run(in, pdml::cuda::Context{stream, handle.handle});
  // |dL| <= 4 u (max kappa / T + w alpha), u the format's unit roundoff.
  const auto bound = [&](double u) {
    return 4.0 * u * (in.max_kappa() / kTemperature + kGuidance * kAlpha) +
           1e-5 * std::max(1.0, double(std::abs(exact.loss)));
  };
  pdml::cuda::Context tf32{stream, handle.handle, pdml::cuda::GemmPrecision::tf32};
  pdml::cuda::Context bf16{stream, handle.handle, pdml::cuda::GemmPrecision::bf16};
  const Outcome t = run(in, tf32);
  const Outcome b = run(in, bf16);
  INFO("fp32 " << exact.loss << " tf32 " << t.loss << " bf16 " << b.loss);
  CHECK(std::abs(double(t.loss) - exact.loss) <= bound(std::ldexp(1.0, -11)));
  CHECK(std::abs(double(b.loss) - exact.loss) <= bound(std::ldexp(1.0, -8)));
}

TEST_CASE("the device status word reports an out-of-range label", "[cuda]") {
  Inputs in;
  in.labels[3] = kC + 5;
  const CudaStream stream;
  CublasHandle handle;
  REQUIRE(cublasSetStream(handle.handle, stream) == CUBLAS_STATUS_SUCCESS);
  const Outcome out = run(in, pdml::cuda::Context{stream, handle.handle});
  CHECK((out.status & pdml::cuda::DeviceStatus::label_out_of_range) != 0u);
  CHECK((out.status & pdml::cuda::DeviceStatus::non_finite_loss) != 0u);
  CHECK(std::isnan(out.loss));
}

}  // namespace
