// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF similarity on the GPU, with the semantics of the CPU
// pdml::el_nivmf_similarity_forward / _backward
// (include/pdml/similarities/el_nivmf.hpp): the expected likelihood of a
// nivMF proxy under an image vMF, estimated with S caller-drawn samples per
// image ((S B) x D, sample s of image i at row s B + i),
//   sim(i, c) = log( (1/S) sum_s exp( l_c(x_is) / T ) ),
// with l_c the nivMF score (pdml/cuda/similarities/nivmf_scores.hpp; the paper's rule or
// the exact log-density). This is steps 1-3 of the criterion
// pdml::cuda::ElNivmfLoss (same code: detail/el_nivmf_algorithm.hpp), which
// draws the samples itself; the pdml::cuda::vmf_sample of
// pdml/cuda/distributions/sampling.hpp draws the same samples as pdml::vmf_sample.
//
// Contract as in docs/cuda.md: device views (any row stride >= cols),
// workspace size query (workspace == nullptr), the caller's stream and
// cuBLAS handle, cudaError_t returns, std::invalid_argument naming the
// argument before anything is enqueued, deterministic outputs;
// *grad_temperature is a device scalar. Differences from the CPU API: the
// saved state refers to the caller's samples, proxies and concentrations
// (views) and to the workspace -- keep them alive and unchanged until the
// last backward --; the data is not validated (a zero proxy vector, or a
// zero sample under the exact density, gives NaN where the CPU throws).

#include <cstddef>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/similarities/detail/nivmf_entries.hpp"
#include "pdml/cuda/similarities/nivmf_scoring.hpp"

namespace pdml {
namespace cuda {

/// State kept by el_nivmf_similarity_forward for el_nivmf_similarity_backward
/// (views of the inputs, pointers into the workspace).
template <class T>
struct ElNivmfSimilaritySaved {
  detail::ElNivmfState<T> state;
};

/// EL-nivMF similarities (B x C) from samples ((S B) x D, S = n_samples),
/// proxy vectors and raw concentrations (C x D), min_kappa > 0 and
/// temperature > 0. recompute_in_backward = true does not keep the (S B) x C
/// scaled scores in the workspace (S B C elements less) and recomputes them
/// in the backward (one more GEMM; two for the exact density), as the CPU
/// option of the same name.
template <class T>
cudaError_t el_nivmf_similarity_forward(void* workspace, std::size_t& workspace_bytes,
                                        ConstMatrixView<T> samples, int n_samples,
                                        ConstMatrixView<T> proxies, ConstMatrixView<T> kappas,
                                        T min_kappa, T temperature, NivmfScoring scoring,
                                        MatrixView<T> similarities,
                                        ElNivmfSimilaritySaved<T>& saved, Context context,
                                        bool recompute_in_backward = false) {
  const char* fn = "pdml::cuda::el_nivmf_similarity_forward";
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  detail::ElNivmfState<T> st;
  if (detail::el_nivmf_similarity_setup(fn, workspace, workspace_bytes, samples, n_samples,
                                        proxies, kappas, min_kappa, temperature, scoring,
                                        similarities, recompute_in_backward, st)) {
    return cudaSuccess;
  }
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  PDML_CUDA_TRY(detail::el_nivmf_similarity_run(backend, st, similarities));
  saved.state = st;
  return cudaSuccess;
}

/// Backward of el_nivmf_similarity_forward: overwrites grad_samples
/// ((S B) x D), grad_proxies (C x D) and grad_kappas (C x D, zero where
/// clamped); writes *grad_temperature (device) unless it is null. May be
/// called more than once.
template <class T>
cudaError_t el_nivmf_similarity_backward(const ElNivmfSimilaritySaved<T>& saved,
                                         ConstMatrixView<T> grad_similarities,
                                         MatrixView<T> grad_samples, MatrixView<T> grad_proxies,
                                         MatrixView<T> grad_kappas,
                                         detail::NonDeduced<T>* grad_temperature,
                                         Context context) {
  const char* fn = "pdml::cuda::el_nivmf_similarity_backward";
  detail::el_nivmf_similarity_check_backward(fn, saved.state, grad_similarities, grad_samples,
                                             grad_proxies, grad_kappas);
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  return detail::el_nivmf_similarity_backward_run(backend, saved.state, grad_similarities,
                                                  grad_samples, grad_proxies, grad_kappas,
                                                  grad_temperature);
}

}  // namespace cuda
}  // namespace pdml
