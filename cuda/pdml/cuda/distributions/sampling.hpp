// SPDX-License-Identifier: MIT
#pragma once
// Batched samplers on the GPU, with their backward: the vMF sampler
// (pdml::vmf_sample's layout and random streams, so the same key gives the
// same samples on host and device), the exact nivMF sampler
// (pdml::nivmf_sample's) and the Power Spherical sampler
// (pdml::power_spherical_sample's). One thread per sample; the backward runs
// one thread per distribution and sums its samples in sample order (no
// atomics, bitwise reproducible).
//
// Workspace protocol of docs/cuda.md: call with workspace == nullptr for
// workspace_bytes. The workspace holds the state of the backward: keep it,
// the inputs and the samples alive until the backward has run.
// A draw that hits the sampler's iteration cap (probability far below 1e-30
// per draw in the documented domain) leaves a NaN row and contributes no
// gradient; the host API throws in that case, the device cannot.

#include <cstddef>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/distributions/detail/nivmf_sample_functors.hpp"
#include "pdml/cuda/distributions/detail/power_spherical_functors.hpp"
#include "pdml/cuda/distributions/detail/vmf_sample_functors.hpp"
#include "pdml/random/philox.hpp"

namespace pdml {
namespace cuda {

/// State of one vmf_sample call for vmf_sample_backward (device pointers).
template <class T>
struct VmfSampleSaved {
  detail::VmfSampleBuffers<T> buffers;
  bool valid = false;
};

/// eta: N x p natural parameters (device); samples: (n_samples N) x p, sample
/// s of distribution n at row s N + n. saved may be null (no backward).
template <class T>
cudaError_t vmf_sample(void* workspace, std::size_t& workspace_bytes, ConstMatrixView<T> eta,
                       int n_samples, RngKey rng, MatrixView<T> samples, VmfSampleSaved<T>* saved,
                       cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::vmf_sample";
  if (eta.cols < 2) detail::throw_cuda_argument(fn, "eta", "needs at least 2 columns");
  detail::check_device_view(fn, "eta", eta, eta.rows, eta.cols);
  if (n_samples < 0) detail::throw_cuda_argument(fn, "n_samples", "must be >= 0");
  detail::check_device_view(fn, "samples", samples, eta.rows * n_samples, eta.cols);
  WorkspaceCarver carver(workspace);
  detail::VmfSampleBuffers<T> buffers =
      detail::carve_vmf_sample_buffers<T>(carver, n_samples, eta.rows, eta.cols);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  const detail::CudaBackend backend{stream, nullptr};
  PDML_CUDA_TRY(detail::vmf_sample_run(backend, eta, n_samples, rng, samples, buffers));
  if (saved != nullptr) {
    saved->buffers = buffers;
    saved->valid = true;
  }
  return cudaSuccess;
}

/// dL/d(eta) (N x p, overwritten) from dL/dx ((n_samples N) x p): pathwise in
/// the direction, exact (implicit reparameterization) in kappa.
template <class T>
cudaError_t vmf_sample_backward(const VmfSampleSaved<T>& saved, ConstMatrixView<T> grad_samples,
                                MatrixView<T> grad_eta, cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::vmf_sample_backward";
  if (!saved.valid) detail::throw_cuda_argument(fn, "saved", "holds no vmf_sample call");
  const auto& b = saved.buffers;
  detail::check_device_view(fn, "grad_samples", grad_samples,
                            b.n_distributions * b.n_samples, b.dimension);
  detail::check_device_view(fn, "grad_eta", grad_eta, b.n_distributions, b.dimension);
  const detail::CudaBackend backend{stream, nullptr};
  return detail::vmf_sample_backward_run(backend, b, ConstMatrixView<T>{nullptr, 0, 0, 0},
                                         b.n_samples, grad_samples, grad_eta, false);
}

/// State of one nivmf_sample call for nivmf_sample_backward: views of the
/// inputs and samples, and device buffers inside the workspace.
template <class T>
struct NivmfSampleSaved {
  detail::NivmfSampleBuffers<T> buffers;
  bool valid = false;
};

/// Exact samples of nivMF(directions_n, concentrations_n), n < N:
/// directions N x p (unit rows), concentrations N x p (every entry > 0),
/// samples (n_samples N) x p with sample s of distribution n at row s N + n,
/// drawn from RandomStream(rng, s N + n) as pdml::nivmf_sample does. The data
/// is not validated (it is device memory): a zero direction or a
/// non-positive concentration yields NaN rows. saved may be null.
template <class T>
cudaError_t nivmf_sample(void* workspace, std::size_t& workspace_bytes,
                         ConstMatrixView<T> directions, ConstMatrixView<T> concentrations,
                         int n_samples, RngKey rng, MatrixView<T> samples,
                         NivmfSampleSaved<T>* saved, cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::nivmf_sample";
  if (directions.cols < 2) detail::throw_cuda_argument(fn, "directions", "needs >= 2 columns");
  detail::check_device_view(fn, "directions", directions, directions.rows, directions.cols);
  detail::check_device_view(fn, "concentrations", concentrations, directions.rows,
                            directions.cols);
  if (n_samples < 0) detail::throw_cuda_argument(fn, "n_samples", "must be >= 0");
  detail::check_device_view(fn, "samples", samples, directions.rows * n_samples,
                            directions.cols);
  WorkspaceCarver carver(workspace);
  detail::NivmfSampleBuffers<T> buffers = detail::carve_nivmf_sample_buffers<T>(
      carver, n_samples, directions.rows, directions.cols);
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  const detail::CudaBackend backend{stream, nullptr};
  PDML_CUDA_TRY(detail::nivmf_sample_run(backend, directions, concentrations, n_samples, rng,
                                         samples, buffers));
  if (saved != nullptr) {
    saved->buffers = buffers;
    saved->valid = true;
  }
  return cudaSuccess;
}

/// dL/d(direction) (N x p, ambient, not projected) and dL/d(concentrations)
/// (N x p), both overwritten, from dL/dx ((n_samples N) x p): pathwise
/// through K^{-1} and the normalization, exact (implicit reparameterization)
/// in the preimage vMF's concentration.
template <class T>
cudaError_t nivmf_sample_backward(const NivmfSampleSaved<T>& saved,
                                  ConstMatrixView<T> grad_samples,
                                  MatrixView<T> grad_directions,
                                  MatrixView<T> grad_concentrations,
                                  cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::nivmf_sample_backward";
  if (!saved.valid) detail::throw_cuda_argument(fn, "saved", "holds no nivmf_sample call");
  const auto& b = saved.buffers;
  detail::check_device_view(fn, "grad_samples", grad_samples, b.n_distributions * b.n_samples,
                            b.dimension);
  detail::check_device_view(fn, "grad_directions", grad_directions, b.n_distributions,
                            b.dimension);
  detail::check_device_view(fn, "grad_concentrations", grad_concentrations, b.n_distributions,
                            b.dimension);
  const detail::CudaBackend backend{stream, nullptr};
  return detail::nivmf_sample_backward_run(backend, b, grad_samples, grad_directions,
                                           grad_concentrations);
}

/// State of one power_spherical_sample call (device pointers).
template <class T>
struct PowerSphericalSampleSaved {
  ConstMatrixView<T> directions{nullptr, 0, 0, 0};
  ConstMatrixView<T> concentrations{nullptr, 0, 0, 0};
  ConstMatrixView<T> samples{nullptr, 0, 0, 0};
  PowerSphericalDraw<T>* draws = nullptr;
  int n_samples = 0;
  bool valid = false;
};

/// directions: N x p unit rows, concentrations: N x 1 (>= 0), samples:
/// (n_samples N) x p with sample s of distribution n at row s N + n.
template <class T>
cudaError_t power_spherical_sample(void* workspace, std::size_t& workspace_bytes,
                                   ConstMatrixView<T> directions,
                                   ConstMatrixView<T> concentrations, int n_samples, RngKey rng,
                                   MatrixView<T> samples, PowerSphericalSampleSaved<T>* saved,
                                   cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::power_spherical_sample";
  if (directions.cols < 2) detail::throw_cuda_argument(fn, "directions", "needs >= 2 columns");
  detail::check_device_view(fn, "directions", directions, directions.rows, directions.cols);
  detail::check_device_view(fn, "concentrations", concentrations, directions.rows, 1);
  if (n_samples < 0) detail::throw_cuda_argument(fn, "n_samples", "must be >= 0");
  const Index rows = directions.rows * n_samples;
  detail::check_device_view(fn, "samples", samples, rows, directions.cols);
  WorkspaceCarver carver(workspace);
  PowerSphericalDraw<T>* draws =
      carver.take<PowerSphericalDraw<T>>(static_cast<std::size_t>(rows));
  if (detail::answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) {
    return cudaSuccess;
  }
  const detail::CudaBackend backend{stream, nullptr};
  PDML_CUDA_TRY(detail::for_each_index(
      backend, rows,
      detail::PowerSphericalSampleRow<T>{directions, concentrations, rng, samples, draws}));
  if (saved != nullptr) {
    *saved = PowerSphericalSampleSaved<T>{directions, concentrations, samples, draws, n_samples,
                                          true};
  }
  return cudaSuccess;
}

/// dL/d(direction) (N x p, ambient) and dL/d(concentration) (N x 1), both
/// overwritten, from dL/dx.
template <class T>
cudaError_t power_spherical_sample_backward(const PowerSphericalSampleSaved<T>& saved,
                                            ConstMatrixView<T> grad_samples,
                                            MatrixView<T> grad_directions,
                                            MatrixView<T> grad_concentrations,
                                            cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::power_spherical_sample_backward";
  if (!saved.valid) detail::throw_cuda_argument(fn, "saved", "holds no sampling call");
  const Index count = saved.directions.rows;
  detail::check_device_view(fn, "grad_samples", grad_samples, count * saved.n_samples,
                            saved.directions.cols);
  detail::check_device_view(fn, "grad_directions", grad_directions, count, saved.directions.cols);
  detail::check_device_view(fn, "grad_concentrations", grad_concentrations, count, 1);
  const detail::CudaBackend backend{stream, nullptr};
  return detail::for_each_index(
      backend, count,
      detail::PowerSphericalBackwardRow<T>{saved.directions, saved.concentrations, saved.samples,
                                           saved.draws, saved.n_samples, grad_samples,
                                           grad_directions, grad_concentrations});
}

}  // namespace cuda
}  // namespace pdml
