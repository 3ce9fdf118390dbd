// SPDX-License-Identifier: MIT
#pragma once
// Proxy-NCA and ProxyAnchor over a B x C similarity matrix on the GPU, with the semantics
// of the CPU losses (include/pdml/losses/proxy_nca.hpp, proxy_anchor.hpp). Contract as in
// docs/cuda.md: device views, workspace size query (workspace == nullptr), the caller's
// stream, cudaError_t returns, std::invalid_argument for bad host-side arguments,
// deterministic outputs. Each Saved refers to its workspace and to the forward's inputs.
// Scalars (loss) are device pointers.

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
#include "pdml/cuda/losses/detail/proxy_loss_algorithms.hpp"

namespace pdml {
namespace cuda {

template <class T>
struct ProxyNcaSaved {
  detail::ProxyNcaState<T> state;
};

/// Proxy-NCA (PNCA++ form): *loss = mean_i [logsumexp_c s_ic - s_{i,y_i}].
template <class T>
cudaError_t proxy_nca_forward(void* workspace, std::size_t& workspace_bytes,
                              ConstMatrixView<T> similarities, const std::int64_t* labels,
                              T* loss, ProxyNcaSaved<T>& saved, cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::proxy_nca_forward";
  if (similarities.rows < 1 || similarities.cols < 1) {
    detail::throw_cuda_argument(fn, "similarities", "is empty");
  }
  detail::check_device_view(fn, "similarities", similarities, similarities.rows,
                            similarities.cols);
  if (labels == nullptr) detail::throw_cuda_argument(fn, "labels", "is a null pointer");
  if (loss == nullptr) detail::throw_cuda_argument(fn, "loss", "is a null pointer");
  detail::ProxyNcaState<T> st;
  st.rows = similarities.rows;
  st.classes = similarities.cols;
  st.labels = labels;
  WorkspaceCarver carver(workspace);
  detail::carve_proxy_nca(carver, st);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  const detail::CudaBackend backend{stream, nullptr};
  PDML_CUDA_TRY(detail::proxy_nca_forward(backend, st, similarities, loss));
  saved.state = st;
  return cudaSuccess;
}

/// grad_similarities = grad_loss (softmax - onehot(y)) / B (overwritten).
template <class T>
cudaError_t proxy_nca_backward(const ProxyNcaSaved<T>& saved, T grad_loss,
                               MatrixView<T> grad_similarities, cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::proxy_nca_backward";
  if (!saved.state.valid) detail::throw_cuda_argument(fn, "saved", "holds no forward pass");
  detail::check_device_view(fn, "grad_similarities", grad_similarities, saved.state.rows,
                            saved.state.classes);
  const detail::CudaBackend backend{stream, nullptr};
  return detail::proxy_nca_backward(backend, saved.state, grad_loss, grad_similarities);
}

template <class T>
struct ProxyAnchorSaved {
  detail::ProxyAnchorState<T> state;
};

/// ProxyAnchor (Kim et al., 2020) of a B x C cosine matrix; alpha > 0, delta finite.
template <class T>
cudaError_t proxy_anchor_forward(void* workspace, std::size_t& workspace_bytes,
                                 ConstMatrixView<T> cosines, const std::int64_t* labels, T alpha,
                                 T delta, T* loss, ProxyAnchorSaved<T>& saved,
                                 cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::proxy_anchor_forward";
  if (cosines.rows < 1 || cosines.cols < 1) detail::throw_cuda_argument(fn, "cosines", "is empty");
  detail::check_device_view(fn, "cosines", cosines, cosines.rows, cosines.cols);
  if (labels == nullptr) detail::throw_cuda_argument(fn, "labels", "is a null pointer");
  if (loss == nullptr) detail::throw_cuda_argument(fn, "loss", "is a null pointer");
  detail::check_positive_finite(fn, "alpha", alpha);
  if (!(delta - delta == T(0))) detail::throw_cuda_argument(fn, "delta", "is not finite");
  detail::ProxyAnchorState<T> st;
  st.rows = cosines.rows;
  st.classes = cosines.cols;
  st.labels = labels;
  st.alpha = alpha;
  st.delta = delta;
  WorkspaceCarver carver(workspace);
  detail::carve_proxy_anchor(carver, st);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  const detail::CudaBackend backend{stream, nullptr};
  PDML_CUDA_TRY(detail::proxy_anchor_forward(backend, st, cosines, loss));
  saved.state = st;
  return cudaSuccess;
}

/// grad_cosines = grad_loss dL/ds (overwritten).
template <class T>
cudaError_t proxy_anchor_backward(const ProxyAnchorSaved<T>& saved, T grad_loss,
                                  MatrixView<T> grad_cosines, cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::proxy_anchor_backward";
  if (!saved.state.valid) detail::throw_cuda_argument(fn, "saved", "holds no forward pass");
  detail::check_device_view(fn, "grad_cosines", grad_cosines, saved.state.rows,
                            saved.state.classes);
  const detail::CudaBackend backend{stream, nullptr};
  return detail::proxy_anchor_backward(backend, saved.state, grad_loss, grad_cosines);
}

}  // namespace cuda
}  // namespace pdml
