// SPDX-License-Identifier: MIT
#pragma once
// Proxy-NCA and ProxyAnchor over a B x C similarity matrix, written once against a
// Backend (parallel/launch.hpp); the public entry points are losses/proxy_losses.hpp.

#include <cstddef>
#include <cstdint>
#include <cuda_runtime_api.h>
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/core/blas_ops.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/similarities/detail/half_inputs.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/similarities/detail/similarity_functors.hpp"
#include "pdml/cuda/math/unit_rows.hpp"
#include "pdml/cuda/parallel/group.hpp"
#include "pdml/cuda/losses/detail/proxy_loss_functors.hpp"

namespace pdml {
namespace cuda {
namespace detail {

template <class T>
struct ProxyNcaState {
  Index rows = 0, classes = 0;
  const std::int64_t* labels = nullptr;
  T* probabilities = nullptr;
  T* row_losses = nullptr;
  bool valid = false;
};

template <class T>
void carve_proxy_nca(WorkspaceCarver& carver, ProxyNcaState<T>& st) {
  st.probabilities = carver.take<T>(static_cast<std::size_t>(st.rows * st.classes));
  st.row_losses = carver.take<T>(static_cast<std::size_t>(st.rows));
}

template <class T, class Backend>
cudaError_t proxy_nca_forward(const Backend& be, ProxyNcaState<T>& st,
                              ConstMatrixView<T> similarities, T* loss) {
  cudaError_t status = for_each_index(
      be, st.rows, ProxyNcaRow<T>{similarities, st.labels, st.probabilities, st.row_losses});
  if (status != cudaSuccess) return status;
  status = for_each_index(be, 1, MeanOfRows<T>{st.row_losses, st.rows, loss});
  st.valid = status == cudaSuccess;
  return status;
}

template <class T, class Backend>
cudaError_t proxy_nca_backward(const Backend& be, const ProxyNcaState<T>& st, T grad_loss,
                               MatrixView<T> grad_similarities) {
  return for_each_index(be, st.rows * st.classes,
                        ProxyNcaBackwardPair<T>{st.probabilities, st.labels, st.classes, st.rows,
                                                grad_loss, grad_similarities});
}

// -------------------------------------------------------------- ProxyAnchor

template <class T>
struct ProxyAnchorState {
  Index rows = 0, classes = 0;
  const std::int64_t* labels = nullptr;
  T alpha = T(32), delta = T(0.1);
  T* grad_cosines = nullptr;  // B x C for grad_loss = 1
  T* class_terms = nullptr;   // C
  T* n_present = nullptr;     // 1
  unsigned char* seen = nullptr;
  bool valid = false;
};

template <class T>
void carve_proxy_anchor(WorkspaceCarver& carver, ProxyAnchorState<T>& st) {
  st.grad_cosines = carver.take<T>(static_cast<std::size_t>(st.rows * st.classes));
  st.class_terms = carver.take<T>(static_cast<std::size_t>(st.classes));
  st.n_present = carver.take<T>(1);
  st.seen = carver.take<unsigned char>(static_cast<std::size_t>(st.classes));
}

template <class T, class Backend>
cudaError_t proxy_anchor_forward(const Backend& be, ProxyAnchorState<T>& st,
                                 ConstMatrixView<T> cosines, T* loss) {
  cudaError_t status = for_each_index(
      be, 1, CountPresent<T>{st.labels, st.rows, st.classes, st.seen, st.n_present});
  if (status != cudaSuccess) return status;
  status = for_each_index(be, st.classes,
                          ProxyAnchorColumn<T>{cosines, st.labels, st.alpha, st.delta,
                                               st.n_present, st.grad_cosines, st.class_terms});
  if (status != cudaSuccess) return status;
  status = for_each_index(be, 1, SumOfClasses<T>{st.class_terms, st.classes, loss});
  st.valid = status == cudaSuccess;
  return status;
}

template <class T, class Backend>
cudaError_t proxy_anchor_backward(const Backend& be, const ProxyAnchorState<T>& st, T grad_loss,
                                  MatrixView<T> grad_cosines) {
  return for_each_index(be, st.rows * st.classes,
                        ScaleInto<T>{st.grad_cosines, st.classes, grad_loss, grad_cosines});
}


// ------------------------------------------------------------------- cosine

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
