// SPDX-License-Identifier: MIT
#pragma once
// pdml::cuda::ElNivmfLoss<T>: the paper's criterion (Proxy-NCA over EL-nivMF
// similarities plus w * ProxyAnchor) on the GPU, with the semantics of the
// CPU pdml::ElNivmfLoss<T> (include/pdml/losses/el_nivmf_loss.hpp): same
// Options, same formulas, same samples for the same RngKey.
//
// Contract (docs/cuda.md):
// * All views and label pointers are device memory; loss and
//   grad_temperature are device pointers (nothing is copied to the host, so
//   nothing synchronizes).
// * Workspace: call forward / forward_with_samples with workspace == nullptr
//   to get workspace_bytes, then with a device buffer of that size. The
//   buffer holds the saved state: keep it, and the forward's inputs, alive and
//   unchanged until the last backward of that forward.
// * cuBLAS: the caller's handle, bound to context.stream by the caller (else
//   std::invalid_argument); its modes are set for the call and restored
//   (HandleScope), its stream and workspace are never touched.
// * Device status: Saved::status() points at a DeviceStatus word that the
//   forward's kernels set on invalid device data (docs/cuda.md).
// * Half precision (ElNivmfLoss<float> only): forward and
//   forward_with_samples also take embeddings and proxy vectors as __half or
//   __nv_bfloat16 views; one fused pass converts them into fp32 buffers of
//   the workspace and the fp32 criterion runs on them (fp32 gradients).

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/losses/detail/el_nivmf_criterion.hpp"
#include "pdml/cuda/similarities/nivmf_scoring.hpp"
#include "pdml/random/philox.hpp"

namespace pdml {
namespace cuda {

template <class T>
class ElNivmfLoss {
 public:
  /// The CPU criterion's Options, field for field.
  struct Options {
    int n_samples = 5;
    T guidance_weight = 0;
    T proxy_anchor_alpha = 32;
    T proxy_anchor_delta = T(0.1);
    T min_kappa = T(0.1);
    NivmfScoring scoring = NivmfScoring::paper_rule;
  };

  /// Copies the fields of the CPU criterion's Options (or any struct with
  /// the same field names), so both sides can be configured from one place.
  template <class CpuOptions>
  static Options options_from(const CpuOptions& cpu) {
    Options o;
    o.n_samples = cpu.n_samples;
    o.guidance_weight = cpu.guidance_weight;
    o.proxy_anchor_alpha = cpu.proxy_anchor_alpha;
    o.proxy_anchor_delta = cpu.proxy_anchor_delta;
    o.min_kappa = cpu.min_kappa;
    o.scoring = static_cast<NivmfScoring>(static_cast<int>(cpu.scoring));
    return o;
  }

  /// Device state of one forward pass (pointers into its workspace).
  struct Saved {
    detail::ElNivmfState<T> state;
    bool sampled = false;
    T* samples = nullptr;                     ///< (S B) x D, when forward drew them
    detail::VmfSampleBuffers<T> sampler;      ///< the sampler's saved state
    /// The forward's DeviceStatus word (device memory, inside the workspace):
    /// 0 when the device data was valid, else DeviceStatus bits. Written by
    /// the forward's kernels in stream order; read it after them.
    const std::uint32_t* status() const { return state.status; }
  };

  explicit ElNivmfLoss(Options options) : options_(options) {
    const char* fn = "pdml::cuda::ElNivmfLoss::ElNivmfLoss";
    if (options.n_samples < 1) detail::throw_cuda_argument(fn, "options.n_samples", "must be >= 1");
    check_finite_scalar(fn, "options.guidance_weight", options.guidance_weight, false);
    if (options.guidance_weight < T(0)) {
      detail::throw_cuda_argument(fn, "options.guidance_weight", "must be >= 0");
    }
    check_finite_scalar(fn, "options.proxy_anchor_alpha", options.proxy_anchor_alpha, true);
    check_finite_scalar(fn, "options.proxy_anchor_delta", options.proxy_anchor_delta, false);
    check_finite_scalar(fn, "options.min_kappa", options.min_kappa, true);
    detail::check_scoring(fn, "options.scoring", options.scoring);
  }

  const Options& options() const { return options_; }

  /// Draws S samples per image from vMF(e_i) with rng (the same samples as
  /// the CPU criterion and pdml::vmf_sample) and writes L to *loss.
  cudaError_t forward(void* workspace, std::size_t& workspace_bytes,
                      ConstMatrixView<T> embeddings, const std::int64_t* labels,
                      ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T temperature,
                      RngKey rng, T* loss, Saved& saved, Context context) const {
    const char* fn = "pdml::cuda::ElNivmfLoss::forward";
    validate(fn, embeddings, labels, proxies, kappas, temperature, loss, context);
    Saved plan = make_plan(embeddings, labels, proxies, kappas, temperature);
    WorkspaceCarver carver(workspace);
    detail::carve_el_nivmf(carver, plan.state, true, &plan.samples);
    plan.sampler = detail::carve_vmf_sample_buffers<T>(carver, plan.state.samples,
                                                       plan.state.batch, plan.state.dims, true);
    if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
      return cudaSuccess;
    }
    plan.sampled = true;
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    PDML_CUDA_TRY(detail::el_nivmf_forward_sampled(backend, plan.state, plan.sampler,
                                                   plan.samples, rng, loss));
    saved = plan;
    return cudaSuccess;
  }

  /// Like forward, with caller-drawn samples ((S B) x D, sample s of image i
  /// at row s B + i).
  cudaError_t forward_with_samples(void* workspace, std::size_t& workspace_bytes,
                                   ConstMatrixView<T> samples, ConstMatrixView<T> embeddings,
                                   const std::int64_t* labels, ConstMatrixView<T> proxies,
                                   ConstMatrixView<T> kappas, T temperature, T* loss,
                                   Saved& saved, Context context) const {
    const char* fn = "pdml::cuda::ElNivmfLoss::forward_with_samples";
    validate(fn, embeddings, labels, proxies, kappas, temperature, loss, context);
    detail::check_device_view(fn, "samples", samples, options_.n_samples * embeddings.rows,
                              embeddings.cols);
    Saved plan = make_plan(embeddings, labels, proxies, kappas, temperature);
    WorkspaceCarver carver(workspace);
    detail::carve_el_nivmf<T>(carver, plan.state, false, nullptr);
    if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
      return cudaSuccess;
    }
    plan.sampled = false;
    plan.state.samples_view = samples;
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    PDML_CUDA_TRY(detail::el_nivmf_forward_given_samples(backend, plan.state, loss));
    saved = plan;
    return cudaSuccess;
  }

  /// Half-precision inputs (ElNivmfLoss<float> only; In = __half or
  /// __nv_bfloat16): embeddings (B x D) and proxy vectors (C x D) in In,
  /// kappas, temperature and everything else in fp32. The inputs are
  /// converted (exactly) into fp32 copies in the workspace -- (B + C) D more
  /// floats, included in the size query -- and the fp32 criterion runs on
  /// them: the result is the fp32 criterion of the rounded inputs. backward
  /// is the fp32 one: gradients in fp32, with respect to the inputs' values.
  template <class In, class = std::enable_if_t<detail::IsHalfInput<In>::value>>
  cudaError_t forward(void* workspace, std::size_t& workspace_bytes,
                      MatrixView<const In> embeddings, const std::int64_t* labels,
                      MatrixView<const In> proxies, ConstMatrixView<T> kappas, T temperature,
                      RngKey rng, T* loss, Saved& saved, Context context) const {
    return forward_half("pdml::cuda::ElNivmfLoss::forward", workspace, workspace_bytes, nullptr,
                        embeddings, labels, proxies, kappas, temperature, rng, loss, saved,
                        context);
  }

  /// forward_with_samples with half-precision embeddings and proxy vectors
  /// (samples, (S B) x D, stay fp32); see the half-precision forward.
  template <class In, class = std::enable_if_t<detail::IsHalfInput<In>::value>>
  cudaError_t forward_with_samples(void* workspace, std::size_t& workspace_bytes,
                                   ConstMatrixView<T> samples, MatrixView<const In> embeddings,
                                   const std::int64_t* labels, MatrixView<const In> proxies,
                                   ConstMatrixView<T> kappas, T temperature, T* loss,
                                   Saved& saved, Context context) const {
    return forward_half("pdml::cuda::ElNivmfLoss::forward_with_samples", workspace,
                        workspace_bytes, &samples, embeddings, labels, proxies, kappas,
                        temperature, RngKey{0, 0}, loss, saved, context);
  }

  /// Gradients of grad_loss * L, as the CPU backward: overwrites
  /// grad_embeddings (B x D), grad_proxies and grad_kappas (C x D, zero where
  /// clamped) and *grad_temperature (device; skipped when null). After
  /// forward, grad_embeddings includes the path through the sampler; after
  /// forward_with_samples it holds only the ProxyAnchor term and dL/dx goes to
  /// *grad_samples (dropped when null). May be called more than once.
  cudaError_t backward(const Saved& saved, T grad_loss, MatrixView<T> grad_embeddings,
                       MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                       T* grad_temperature, MatrixView<T>* grad_samples,
                       Context context) const {
    const char* fn = "pdml::cuda::ElNivmfLoss::backward";
    const auto& st = saved.state;
    if (!st.valid) detail::throw_cuda_argument(fn, "saved", "holds no forward pass");
    if (st.samples != options_.n_samples) {
      detail::throw_cuda_argument(fn, "saved", "comes from a loss with another n_samples");
    }
    check_finite_scalar(fn, "grad_loss", grad_loss, false);
    if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
    detail::check_device_view(fn, "grad_embeddings", grad_embeddings, st.batch, st.dims);
    detail::check_device_view(fn, "grad_proxies", grad_proxies, st.classes, st.dims);
    detail::check_device_view(fn, "grad_kappas", grad_kappas, st.classes, st.dims);
    const Index rows = st.samples * st.batch;
    if (grad_samples != nullptr) {
      detail::check_device_view(fn, "grad_samples", *grad_samples, rows, st.dims);
    }
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    PDML_CUDA_TRY(detail::el_nivmf_backward_step(
        backend, st, saved.sampled ? &saved.sampler : nullptr, grad_loss, grad_embeddings,
        grad_proxies, grad_kappas, grad_temperature, grad_samples));
    return cudaSuccess;
  }

 private:
  static void check_finite_scalar(const char* fn, const char* arg, T value, bool positive) {
    if (!(value - value == T(0))) detail::throw_cuda_argument(fn, arg, "is not finite");
    if (positive && !(value > T(0))) detail::throw_cuda_argument(fn, arg, "must be positive");
  }

  template <class In>
  cudaError_t forward_half(const char* fn, void* workspace, std::size_t& workspace_bytes,
                           const ConstMatrixView<T>* samples, MatrixView<const In> embeddings,
                           const std::int64_t* labels, MatrixView<const In> proxies,
                           ConstMatrixView<T> kappas, T temperature, RngKey rng, T* loss,
                           Saved& saved, Context context) const {
    static_assert(std::is_same<T, float>::value,
                  "half-precision inputs are accepted by ElNivmfLoss<float> only");
    validate(fn, embeddings, labels, proxies, kappas, temperature, loss, context);
    const Index B = embeddings.rows, C = proxies.rows, D = embeddings.cols;
    if (samples != nullptr) {
      detail::check_device_view(fn, "samples", *samples, options_.n_samples * B, D);
    }
    WorkspaceCarver carver(workspace);
    const detail::HalfInputBuffers converted = detail::carve_half_inputs(carver, B, C, D);
    Saved plan = make_plan(ConstMatrixView<T>{converted.embeddings, B, D, D}, labels,
                           ConstMatrixView<T>{converted.proxies, C, D, D}, kappas, temperature);
    plan.sampled = samples == nullptr;
    if (plan.sampled) {
      detail::carve_el_nivmf(carver, plan.state, true, &plan.samples);
      plan.sampler = detail::carve_vmf_sample_buffers<T>(carver, plan.state.samples,
                                                         plan.state.batch, plan.state.dims, true);
    } else {
      detail::carve_el_nivmf<T>(carver, plan.state, false, nullptr);
      plan.state.samples_view = *samples;
    }
    if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
      return cudaSuccess;
    }
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    PDML_CUDA_TRY(detail::el_nivmf_forward_from_half(backend, plan.state, converted, embeddings,
                                                     proxies,
                                                     plan.sampled ? &plan.sampler : nullptr,
                                                     plan.samples, rng, loss));
    saved = plan;
    return cudaSuccess;
  }

  template <class E>
  void validate(const char* fn, MatrixView<const E> embeddings, const std::int64_t* labels,
                MatrixView<const E> proxies, ConstMatrixView<T> kappas, T temperature, T* loss,
                Context context) const {
    if (embeddings.rows < 1 || embeddings.cols < 2) {
      detail::throw_cuda_argument(fn, "embeddings", "needs at least 1 row and 2 columns");
    }
    detail::check_device_view(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
    detail::check_proxies(fn, proxies, kappas, embeddings.cols, embeddings.cols);
    if (labels == nullptr) detail::throw_cuda_argument(fn, "labels", "is a null pointer");
    check_finite_scalar(fn, "temperature", temperature, true);
    if (loss == nullptr) detail::throw_cuda_argument(fn, "loss", "is a null pointer");
    if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  }

  Saved make_plan(ConstMatrixView<T> embeddings, const std::int64_t* labels,
                  ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T temperature) const {
    Saved plan;
    auto& st = plan.state;
    st.batch = embeddings.rows;
    st.classes = proxies.rows;
    st.dims = embeddings.cols;
    st.samples = options_.n_samples;
    st.temperature = temperature;
    st.min_kappa = options_.min_kappa;
    st.guidance_weight = options_.guidance_weight;
    st.alpha = options_.proxy_anchor_alpha;
    st.delta = options_.proxy_anchor_delta;
    st.exact = options_.scoring == NivmfScoring::exact_density;
    st.embeddings = embeddings;
    st.proxies = proxies;
    st.kappas = kappas;
    st.labels = labels;
    return plan;
  }

  Options options_;
};

}  // namespace cuda
}  // namespace pdml
