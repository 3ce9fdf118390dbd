// SPDX-License-Identifier: MIT
#pragma once
// Batched log-densities on the GPU, with the layout and semantics of the CPU
// batched APIs (include/pdml/distributions/vmf_batch.hpp, nivmf_batch.hpp,
// power_spherical_batch.hpp): distribution n is row n of the N-row
// parameters; point row i of an M = S N row matrix (the samplers' layout) is
// evaluated under distribution i % N.
//   vmf_log_prob:             eta (N x p, natural parameters)
//   nivmf_log_prob:           directions, concentrations (N x p each; exact density)
//   power_spherical_log_prob: directions (N x p), concentrations (N x 1)
// Forwards write log_prob (M x 1) and need no workspace. Backwards overwrite
// the parameter gradients (sums over each distribution's points, in point
// order) and, unless grad_points is an empty view (0 rows, null data), the
// points' ambient gradients (M x p); they take a workspace of 2 p values per
// distribution (CUB-style size query: workspace == nullptr).
//
// Contract as in docs/cuda.md: device views (any row stride >= cols), the
// caller's stream, cudaError_t returns, std::invalid_argument naming the
// argument before anything is enqueued, deterministic outputs (one thread per
// point, or per distribution summing in order; no atomics). Unlike the CPU
// API the data is not validated (non-finite values, non-unit directions or
// non-positive concentrations give NaN or meaningless values where the CPU
// throws). Each formula is the per-item routine of the distributions layer.

#include <cstddef>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/distributions/detail/density_algorithms.hpp"

namespace pdml {
namespace cuda {

namespace detail {
template <class T>
DensityParameters<T> vmf_parameters(ConstMatrixView<T> eta) {
  return DensityParameters<T>{DensityKind::vmf, eta, ConstMatrixView<T>{nullptr, 0, 0, 0}};
}
template <class T>
DensityParameters<T> nivmf_parameters(ConstMatrixView<T> directions,
                                      ConstMatrixView<T> concentrations) {
  return DensityParameters<T>{DensityKind::nivmf, directions, concentrations};
}
template <class T>
DensityParameters<T> power_spherical_parameters(ConstMatrixView<T> directions,
                                                ConstMatrixView<T> concentrations) {
  return DensityParameters<T>{DensityKind::power_spherical, directions, concentrations};
}

template <class T>
cudaError_t density_forward(const char* fn, const char* first_name,
                            const DensityParameters<T>& density, ConstMatrixView<T> points,
                            MatrixView<T> log_prob, cudaStream_t stream) {
  check_density_forward(fn, density, first_name, points, log_prob);
  return log_prob_run(CudaBackend{stream, nullptr}, density, points, log_prob);
}

template <class T>
cudaError_t density_backward(const char* fn, const char* first_name, void* workspace,
                             std::size_t& workspace_bytes, const DensityParameters<T>& density,
                             ConstMatrixView<T> points, ConstMatrixView<T> grad_log_prob,
                             MatrixView<T> grad_first, const char* grad_first_name,
                             MatrixView<T> grad_second, MatrixView<T> grad_points,
                             cudaStream_t stream) {
  T* scratch = nullptr;
  if (density_backward_setup(fn, workspace, workspace_bytes, density, first_name, points,
                             grad_log_prob, grad_first, grad_first_name, grad_second,
                             grad_points, &scratch)) {
    return cudaSuccess;
  }
  return log_prob_backward_run(CudaBackend{stream, nullptr}, density, points, grad_log_prob,
                               grad_first, grad_second, grad_points, scratch);
}
}  // namespace detail

/// log f_n(x_i) of vMF(eta_n) (natural parameters), n = i % N: log_prob M x 1.
template <class T>
cudaError_t vmf_log_prob(ConstMatrixView<T> eta, ConstMatrixView<T> points,
                         MatrixView<T> log_prob, cudaStream_t stream = nullptr) {
  return detail::density_forward("pdml::cuda::vmf_log_prob", "eta", detail::vmf_parameters(eta),
                                 points, log_prob, stream);
}

/// Backward of vmf_log_prob: grad_eta (N x p); grad_points (M x p) unless empty.
template <class T>
cudaError_t vmf_log_prob_backward(void* workspace, std::size_t& workspace_bytes,
                                  ConstMatrixView<T> eta, ConstMatrixView<T> points,
                                  ConstMatrixView<T> grad_log_prob, MatrixView<T> grad_eta,
                                  MatrixView<T> grad_points = MatrixView<T>{nullptr, 0, 0, 0},
                                  cudaStream_t stream = nullptr) {
  return detail::density_backward("pdml::cuda::vmf_log_prob_backward", "eta", workspace,
                                  workspace_bytes, detail::vmf_parameters(eta), points,
                                  grad_log_prob, grad_eta, "grad_eta",
                                  MatrixView<T>{nullptr, 0, 0, 0}, grad_points, stream);
}

/// log f_n(x_i) of the exact nivMF(directions_n, concentrations_n), n = i % N.
template <class T>
cudaError_t nivmf_log_prob(ConstMatrixView<T> directions, ConstMatrixView<T> concentrations,
                           ConstMatrixView<T> points, MatrixView<T> log_prob,
                           cudaStream_t stream = nullptr) {
  return detail::density_forward("pdml::cuda::nivmf_log_prob", "directions",
                                 detail::nivmf_parameters(directions, concentrations), points,
                                 log_prob, stream);
}

/// Backward of nivmf_log_prob: grad_directions and grad_concentrations
/// (N x p); grad_points (M x p) unless empty.
template <class T>
cudaError_t nivmf_log_prob_backward(void* workspace, std::size_t& workspace_bytes,
                                    ConstMatrixView<T> directions,
                                    ConstMatrixView<T> concentrations, ConstMatrixView<T> points,
                                    ConstMatrixView<T> grad_log_prob,
                                    MatrixView<T> grad_directions,
                                    MatrixView<T> grad_concentrations,
                                    MatrixView<T> grad_points = MatrixView<T>{nullptr, 0, 0, 0},
                                    cudaStream_t stream = nullptr) {
  return detail::density_backward("pdml::cuda::nivmf_log_prob_backward", "directions", workspace,
                                  workspace_bytes,
                                  detail::nivmf_parameters(directions, concentrations), points,
                                  grad_log_prob, grad_directions, "grad_directions",
                                  grad_concentrations, grad_points, stream);
}

/// log f_n(x_i) of PowerSpherical(directions_n, concentrations_n), n = i % N;
/// concentrations N x 1.
template <class T>
cudaError_t power_spherical_log_prob(ConstMatrixView<T> directions,
                                     ConstMatrixView<T> concentrations, ConstMatrixView<T> points,
                                     MatrixView<T> log_prob, cudaStream_t stream = nullptr) {
  return detail::density_forward("pdml::cuda::power_spherical_log_prob", "directions",
                                 detail::power_spherical_parameters(directions, concentrations),
                                 points, log_prob, stream);
}

/// Backward of power_spherical_log_prob: grad_directions (N x p, ambient),
/// grad_concentrations (N x 1); grad_points (M x p) unless empty.
template <class T>
cudaError_t power_spherical_log_prob_backward(
    void* workspace, std::size_t& workspace_bytes, ConstMatrixView<T> directions,
    ConstMatrixView<T> concentrations, ConstMatrixView<T> points,
    ConstMatrixView<T> grad_log_prob, MatrixView<T> grad_directions,
    MatrixView<T> grad_concentrations, MatrixView<T> grad_points = MatrixView<T>{nullptr, 0, 0, 0},
    cudaStream_t stream = nullptr) {
  return detail::density_backward(
      "pdml::cuda::power_spherical_log_prob_backward", "directions", workspace, workspace_bytes,
      detail::power_spherical_parameters(directions, concentrations), points, grad_log_prob,
      grad_directions, "grad_directions", grad_concentrations, grad_points, stream);
}

}  // namespace cuda
}  // namespace pdml
