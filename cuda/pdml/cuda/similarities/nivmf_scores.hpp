// SPDX-License-Identifier: MIT
#pragma once
// Batched nivMF scores on the GPU: the N x C matrix l_c(x_n) of N points
// under C nivMF proxies, with its backward, with the semantics of the CPU
// pdml::nivmf_scores_forward / _backward
// (include/pdml/similarities/nivmf_scoring.hpp):
//   paper's rule:   l_c(x) = a_c + (K_c nu_c)^T x,
//   exact density:  l_c(x) = b_c + (K_c^2 nu_c)^T x / |K_c x| - D log |K_c x|,
// nu_c = v_c / |v_c|, K_c = diag(max(k_c, min_kappa)) (zero gradient where
// clamped). It runs the per-proxy pass of the criterion and the
// nivMF-to-point similarity (the distributions layer's offsets, once per
// proxy), the pairwise products as cuBLAS GEMMs and one fused pass over the
// pairs.
//
// Contract as in docs/cuda.md: device views (any row stride >= cols),
// workspace size query (workspace == nullptr), the caller's stream and
// cuBLAS handle, cudaError_t returns, std::invalid_argument naming the
// argument before anything is enqueued, deterministic outputs. Differences
// from the CPU API: the saved state refers to the caller's points (a view,
// the CPU copies them) and to the workspace -- keep both alive and unchanged
// until the backward -- and the data is not validated (a zero proxy vector,
// or a zero point under the exact density, gives NaN where the CPU throws).

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

/// State kept by nivmf_scores_forward for nivmf_scores_backward (views of
/// the points and raw concentrations, pointers into the workspace).
template <class T>
struct NivmfScoresSaved {
  detail::NivmfPointState<T> state;
};

/// scores (N x C) of points (N x D) under proxies (vectors) and kappas (raw
/// concentrations), both C x D; min_kappa > 0.
template <class T>
cudaError_t nivmf_scores_forward(void* workspace, std::size_t& workspace_bytes,
                                 ConstMatrixView<T> points, ConstMatrixView<T> proxies,
                                 ConstMatrixView<T> kappas, T min_kappa, NivmfScoring scoring,
                                 MatrixView<T> scores, NivmfScoresSaved<T>& saved,
                                 Context context) {
  const char* fn = "pdml::cuda::nivmf_scores_forward";
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  detail::NivmfPointState<T> st;
  if (detail::nivmf_scores_setup(fn, workspace, workspace_bytes, points, proxies, kappas,
                                 min_kappa, scoring, scores, st)) {
    return cudaSuccess;
  }
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  PDML_CUDA_TRY(detail::nivmf_scores_run(backend, st, proxies, scores));
  saved.state = st;
  return cudaSuccess;
}

/// Backward of nivmf_scores_forward: overwrites grad_points (N x D),
/// grad_proxies (C x D) and grad_kappas (C x D, zero where clamped). May be
/// called more than once.
template <class T>
cudaError_t nivmf_scores_backward(const NivmfScoresSaved<T>& saved, ConstMatrixView<T> grad_scores,
                                  MatrixView<T> grad_points, MatrixView<T> grad_proxies,
                                  MatrixView<T> grad_kappas, Context context) {
  const char* fn = "pdml::cuda::nivmf_scores_backward";
  detail::nivmf_scores_check_backward(fn, saved.state, grad_scores, grad_points, grad_proxies,
                                      grad_kappas);
  if (context.cublas == nullptr) detail::throw_cuda_argument(fn, "context.cublas", "is null");
  HandleScope scope(fn, context);
  PDML_CUDA_TRY(scope.status());
  const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
  return detail::nivmf_scores_backward_run(backend, saved.state, grad_scores, grad_points,
                                           grad_proxies, grad_kappas);
}

}  // namespace cuda
}  // namespace pdml
