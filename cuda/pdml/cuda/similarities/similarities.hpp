// SPDX-License-Identifier: MIT
#pragma once
// Similarities and proxy losses on the GPU, with the semantics of the CPU
// ones (include/pdml/similarities, include/pdml/losses):
//   * isotropic_similarity_*: EL-vMF, B-vMF, KL-vMF and L2 between image vMFs
//     (embeddings = natural parameters, B x D) and isotropic proxies (vectors
//     C x D, concentrations C x 1 clamped at min_kappa), B x C outputs;
//   * nivmf_point_similarity_*: the nivMF proxies' score of the image's mean
//     direction, l_c(mu_i) / T (paper's rule or exact density; proxy vectors
//     and concentrations C x D, clamped at min_kappa), through cuBLAS GEMMs;
//   * cosine_similarity_*: mu_i^T nu_c / T through a cuBLAS GEMM (float
//     similarities also from fp16 / bf16 embeddings and proxies);
// Proxy-NCA and ProxyAnchor over a B x C matrix are pdml/cuda/losses/proxy_losses.hpp, the
// EL-nivMF criterion pdml/cuda/losses/el_nivmf_loss.hpp.
//
// Contract as in docs/cuda.md: device views, workspace size query
// (workspace == nullptr), the caller's stream, cudaError_t returns,
// std::invalid_argument for bad host-side arguments, deterministic outputs.
// Each Saved refers to its workspace and to the forward's inputs: keep both
// alive and unchanged until the backward has run. Scalars (loss,
// grad_temperature) are device pointers.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/similarities/detail/half_inputs.hpp"
#include "pdml/cuda/similarities/detail/nivmf_point_algorithm.hpp"
#include "pdml/cuda/similarities/detail/similarity_algorithms.hpp"
#include "pdml/cuda/similarities/nivmf_scoring.hpp"

namespace pdml {
namespace cuda {

template <class T>
struct IsotropicSimilaritySaved {
  detail::IsotropicState<T> state;
  Index classes = 0;
};

/// sim (B x C) between image vMFs and isotropic proxies; see the header comment.
template <class T>
cudaError_t isotropic_similarity_forward(void* workspace, std::size_t& workspace_bytes,
                                         IsotropicSimilarity kind, ConstMatrixView<T> embeddings,
                                         ConstMatrixView<T> proxies, ConstMatrixView<T> kappas,
                                         T min_kappa, T temperature, MatrixView<T> similarities,
                                         IsotropicSimilaritySaved<T>& saved,
                                         cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::isotropic_similarity_forward";
  if (embeddings.rows < 1 || embeddings.cols < 2) {
    detail::throw_cuda_argument(fn, "embeddings", "needs at least 1 row and 2 columns");
  }
  detail::check_device_view(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  detail::check_proxies(fn, proxies, kappas, embeddings.cols, 1);
  detail::check_device_view(fn, "similarities", similarities, embeddings.rows, proxies.rows);
  detail::check_positive_finite(fn, "min_kappa", min_kappa);
  detail::check_positive_finite(fn, "temperature", temperature);
  if (static_cast<int>(kind) < 0 || static_cast<int>(kind) > 3) {
    detail::throw_cuda_argument(fn, "kind", "is not an IsotropicSimilarity value");
  }
  detail::IsotropicState<T> st;
  WorkspaceCarver carver(workspace);
  detail::carve_isotropic(carver, st, embeddings.rows, proxies.rows, embeddings.cols);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  st.pair = detail::IsotropicPair<T>{kind, static_cast<int>(embeddings.cols)};
  st.embeddings = embeddings;
  st.kappas = kappas;
  st.min_kappa = min_kappa;
  st.temperature = temperature;
  const detail::CudaBackend backend{stream, nullptr};
  PDML_CUDA_TRY(detail::isotropic_forward(backend, st, proxies, similarities));
  saved.state = st;
  saved.classes = proxies.rows;
  return cudaSuccess;
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas
/// (C x 1, zero where clamped) and *grad_temperature (device; null: skipped).
template <class T>
cudaError_t isotropic_similarity_backward(const IsotropicSimilaritySaved<T>& saved,
                                          ConstMatrixView<T> grad_similarities,
                                          MatrixView<T> grad_embeddings,
                                          MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                                          T* grad_temperature, cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::isotropic_similarity_backward";
  const auto& st = saved.state;
  if (!st.valid) detail::throw_cuda_argument(fn, "saved", "holds no forward pass");
  const Index b = st.embeddings.rows, c = saved.classes, d = st.embeddings.cols;
  detail::check_device_view(fn, "grad_similarities", grad_similarities, b, c);
  detail::check_device_view(fn, "grad_embeddings", grad_embeddings, b, d);
  detail::check_device_view(fn, "grad_proxies", grad_proxies, c, d);
  detail::check_device_view(fn, "grad_kappas", grad_kappas, c, 1);
  const detail::CudaBackend backend{stream, nullptr};
  return detail::isotropic_backward(backend, st, c, grad_similarities, grad_embeddings,
                                    grad_proxies, grad_kappas, grad_temperature);
}

template <class T>
struct NivmfPointSimilaritySaved {
  detail::NivmfPointState<T> state;
};

/// sim (B x C) = l_c(mu_i) / T with mu_i = e_i / |e_i| (0 for a zero row) and
/// l_c the nivMF proxy's score (pdml::nivmf_point_similarity_forward):
/// embeddings B x D, proxies (vectors) and kappas (raw concentrations) C x D,
/// min_kappa > 0, temperature > 0. Unlike the CPU API the data is not
/// validated: a zero proxy, or a zero embedding under the exact density,
/// gives NaN in the affected entries.
template <class T>
cudaError_t nivmf_point_similarity_forward(void* workspace, std::size_t& workspace_bytes,
                                           ConstMatrixView<T> embeddings,
                                           ConstMatrixView<T> proxies, ConstMatrixView<T> kappas,
                                           T min_kappa, T temperature, NivmfScoring scoring,
                                           MatrixView<T> similarities,
                                           NivmfPointSimilaritySaved<T>& saved, Context context) {
  const char* fn = "pdml::cuda::nivmf_point_similarity_forward";
  if (embeddings.rows < 1 || embeddings.cols < 2) {
    detail::throw_cuda_argument(fn, "embeddings", "needs at least 1 row and 2 columns");
  }
  detail::check_device_view(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  detail::check_proxies(fn, proxies, kappas, embeddings.cols, embeddings.cols);
  detail::check_device_view(fn, "similarities", similarities, embeddings.rows, proxies.rows);
  detail::check_positive_finite(fn, "min_kappa", min_kappa);
  detail::check_positive_finite(fn, "temperature", temperature);
  detail::check_scoring(fn, "scoring", scoring);
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  detail::NivmfPointState<T> st;
  st.rows = embeddings.rows;
  st.classes = proxies.rows;
  st.dims = embeddings.cols;
  st.exact = scoring == NivmfScoring::exact_density;
  WorkspaceCarver carver(workspace);
  detail::carve_nivmf_point(carver, st);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  st.min_kappa = min_kappa;
  st.temperature = temperature;
  st.kappas = kappas;
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  PDML_CUDA_TRY(detail::nivmf_point_forward(backend, st, embeddings, proxies, similarities));
  saved.state = st;
  return cudaSuccess;
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas
/// (C x D, zero where clamped) and *grad_temperature (device; null: skipped).
template <class T>
cudaError_t nivmf_point_similarity_backward(const NivmfPointSimilaritySaved<T>& saved,
                                            ConstMatrixView<T> grad_similarities,
                                            MatrixView<T> grad_embeddings,
                                            MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                                            T* grad_temperature, Context context) {
  const char* fn = "pdml::cuda::nivmf_point_similarity_backward";
  const auto& st = saved.state;
  if (!st.valid) detail::throw_cuda_argument(fn, "saved", "holds no forward pass");
  detail::check_device_view(fn, "grad_similarities", grad_similarities, st.rows, st.classes);
  detail::check_device_view(fn, "grad_embeddings", grad_embeddings, st.rows, st.dims);
  detail::check_device_view(fn, "grad_proxies", grad_proxies, st.classes, st.dims);
  detail::check_device_view(fn, "grad_kappas", grad_kappas, st.classes, st.dims);
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  return detail::nivmf_point_backward(backend, st, grad_similarities, grad_embeddings,
                                      grad_proxies, grad_kappas, grad_temperature);
}

template <class T>
struct CosineSimilaritySaved {
  detail::CosineState<T> state;
};

namespace detail {
/// The host-side checks of cosine_similarity_forward, for fp32/fp64 and
/// half-precision (E = __half, __nv_bfloat16) inputs alike.
template <class E, class T>
CosineState<T> cosine_plan(const char* fn, MatrixView<const E> embeddings,
                           MatrixView<const E> proxies, T temperature,
                           MatrixView<T> similarities, Context context) {
  if (embeddings.rows < 1 || embeddings.cols < 1) throw_cuda_argument(fn, "embeddings", "is empty");
  check_device_view(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  if (proxies.rows < 1) throw_cuda_argument(fn, "proxies", "is empty");
  check_device_view(fn, "proxies", proxies, proxies.rows, embeddings.cols);
  check_device_view(fn, "similarities", similarities, embeddings.rows, proxies.rows);
  check_positive_finite(fn, "temperature", temperature);
  if (context.cublas == nullptr) throw_cuda_argument(fn, "context.cublas", "is null");
  CosineState<T> st;
  st.rows = embeddings.rows;
  st.classes = proxies.rows;
  st.dims = embeddings.cols;
  st.temperature = temperature;
  return st;
}
}  // namespace detail

/// sim (B x C) = mu_i^T nu_c / T; a zero embedding has mu = 0 (and zero gradient).
template <class T>
cudaError_t cosine_similarity_forward(void* workspace, std::size_t& workspace_bytes,
                                      ConstMatrixView<T> embeddings, ConstMatrixView<T> proxies,
                                      T temperature, MatrixView<T> similarities,
                                      CosineSimilaritySaved<T>& saved, Context context) {
  const char* fn = "pdml::cuda::cosine_similarity_forward";
  detail::CosineState<T> st =
      detail::cosine_plan(fn, embeddings, proxies, temperature, similarities, context);
  WorkspaceCarver carver(workspace);
  detail::carve_cosine(carver, st);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  PDML_CUDA_TRY(detail::cosine_forward(backend, st, embeddings, proxies, similarities));
  saved.state = st;
  return cudaSuccess;
}

/// Half-precision inputs (In = __half or __nv_bfloat16, fp32 similarities):
/// embeddings and proxies are converted exactly into fp32 buffers of the
/// workspace ((B + C) D floats more, counted by the size query) and the fp32
/// similarity runs on them; cosine_similarity_backward is the fp32 one (fp32
/// gradients with respect to the inputs' values).
template <class In, class = std::enable_if_t<detail::IsHalfInput<In>::value>>
cudaError_t cosine_similarity_forward(void* workspace, std::size_t& workspace_bytes,
                                      MatrixView<const In> embeddings,
                                      MatrixView<const In> proxies, float temperature,
                                      MatrixView<float> similarities,
                                      CosineSimilaritySaved<float>& saved, Context context) {
  const char* fn = "pdml::cuda::cosine_similarity_forward";
  detail::CosineState<float> st =
      detail::cosine_plan(fn, embeddings, proxies, temperature, similarities, context);
  WorkspaceCarver carver(workspace);
  const detail::HalfInputBuffers converted =
      detail::carve_half_inputs(carver, st.rows, st.classes, st.dims);
  detail::carve_cosine(carver, st);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  PDML_CUDA_TRY(detail::cosine_forward_from_half(backend, st, converted, embeddings, proxies,
                                                 similarities));
  saved.state = st;
  return cudaSuccess;
}

/// Overwrites grad_embeddings (B x D) and grad_proxies (C x D); writes
/// *grad_temperature (device) unless null.
template <class T>
cudaError_t cosine_similarity_backward(const CosineSimilaritySaved<T>& saved,
                                       ConstMatrixView<T> grad_similarities,
                                       MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                       T* grad_temperature, Context context) {
  const char* fn = "pdml::cuda::cosine_similarity_backward";
  const auto& st = saved.state;
  if (!st.valid) detail::throw_cuda_argument(fn, "saved", "holds no forward pass");
  detail::check_device_view(fn, "grad_similarities", grad_similarities, st.rows, st.classes);
  detail::check_device_view(fn, "grad_embeddings", grad_embeddings, st.rows, st.dims);
  detail::check_device_view(fn, "grad_proxies", grad_proxies, st.classes, st.dims);
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  return detail::cosine_backward(backend, st, grad_similarities, grad_embeddings, grad_proxies,
                                 grad_temperature);
}

}  // namespace cuda
}  // namespace pdml
