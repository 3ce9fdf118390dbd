// SPDX-License-Identifier: MIT
#pragma once
// The batched nivMF sampler and its backward over the per-sample routines of
// include/pdml/distributions/nivmf_sampler.hpp, step for step as the host's
// pdml::nivmf_sample / nivmf_sample_backward (include/pdml/distributions/
// nivmf_batch.hpp): per distribution n the preimage vMF's parameters
// (nivmf_preimage_parameters), then sample s of distribution n is row
// i = s N + n, drawn from RandomStream(rng, i) by one nivmf_sample_one call;
// the backward sums each distribution's samples in sample order. Device
// samples equal host samples for the same key (up to the last-bit
// differences of docs/cuda.md; on Thrust's host backend bit for bit).

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/distributions/nivmf_sampler.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/math/vmf_normalizer.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// What one batched nivMF draw keeps for its backward: views of the caller's
/// inputs and samples (which must stay alive and unchanged) and buffers inside
/// the caller's workspace.
template <class T>
struct NivmfSampleBuffers {
  Index n_distributions = 0;
  int dimension = 0;
  int n_samples = 0;
  ConstMatrixView<T> directions{nullptr, 0, 0, 0};      // N x p, nu_n
  ConstMatrixView<T> concentrations{nullptr, 0, 0, 0};  // N x p, k_n
  ConstMatrixView<T> samples{nullptr, 0, 0, 0};         // (S N) x p
  T* mean_directions = nullptr;       // N x p: K nu / |K nu|
  T* kappas = nullptr;                // N: |K nu|
  T* tangents = nullptr;              // (S N) x p: unit tangents of the preimage vMF draws
  VmfSampleDraw<T>* draws = nullptr;  // S N
  T* scratch = nullptr;               // N x 2p: nivmf_sample_one_backward's scratch
};

template <class T>
NivmfSampleBuffers<T> carve_nivmf_sample_buffers(WorkspaceCarver& carver, Index n_samples,
                                                 Index n_distributions, Index dimension) {
  NivmfSampleBuffers<T> b;
  b.n_distributions = n_distributions;
  b.dimension = static_cast<int>(dimension);
  b.n_samples = static_cast<int>(n_samples);
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  b.mean_directions = carver.take<T>(n(n_distributions * dimension));
  b.kappas = carver.take<T>(n(n_distributions));
  b.tangents = carver.take<T>(n(n_samples * n_distributions * dimension));
  b.draws = carver.take<VmfSampleDraw<T>>(n(n_samples * n_distributions));
  b.scratch = carver.take<T>(n(n_distributions * 2 * dimension));
  return b;
}

/// Per distribution n: the preimage vMF's mean direction and concentration.
template <class T>
struct NivmfPreimage {
  ConstMatrixView<T> directions;
  ConstMatrixView<T> concentrations;
  T* mean_directions;
  T* kappas;
  PDML_HOST_DEVICE void operator()(Index n) const {
    const int p = static_cast<int>(directions.cols);
    kappas[n] = nivmf_preimage_parameters(p, directions.row(n), concentrations.row(n),
                                          mean_directions + n * p);
  }
};

/// Per sample row i = s N + n.
template <class T>
struct NivmfSampleRow {
  ConstMatrixView<T> concentrations;
  RngKey rng;
  const T* mean_directions;
  const T* kappas;
  MatrixView<T> samples;
  T* tangents;
  VmfSampleDraw<T>* draws;
  PDML_HOST_DEVICE void operator()(Index i) const {
    const Index n = i % concentrations.rows;
    const int p = static_cast<int>(concentrations.cols);
    RandomStream stream(rng, static_cast<std::uint64_t>(i));
    draws[i] = nivmf_draw(stream, p, concentrations.row(n), mean_directions + n * p, kappas[n],
                          samples.row(i), tangents + i * p);
  }
};

/// Per distribution n: dL/dnu_n (ambient) and dL/dk_n summed over its
/// samples in sample order; both rows are overwritten. A failed draw (NaN
/// row) contributes nothing, as on the host.
template <class T>
struct NivmfSampleBackwardRow {
  NivmfSampleBuffers<T> saved;
  ConstMatrixView<T> grad_samples;
  MatrixView<T> grad_directions;
  MatrixView<T> grad_concentrations;
  PDML_HOST_DEVICE void operator()(Index n) const {
    const int p = saved.dimension;
    const Index count = saved.n_distributions;
    T* gd = grad_directions.row(n);
    T* gk = grad_concentrations.row(n);
    for (int j = 0; j < p; ++j) gd[j] = gk[j] = T(0);
    const T kappa = saved.kappas[n];
    const T* mean = saved.mean_directions + n * p;
    // In double whatever T is, as the host backward does. Qualified: the batched
    // pdml::cuda::vmf_mean_resultant (pdml/cuda/math/functions.hpp) would hide it.
    const double kappa_d = static_cast<double>(kappa);
    const double one_minus_mean = pdml::vmf_mean_resultant_complement(p, kappa_d);
    for (int s = 0; s < saved.n_samples; ++s) {
      const Index i = static_cast<Index>(s) * count + n;
      const VmfSampleDraw<T>& draw = saved.draws[i];
      if (!draw.ok) continue;
      const double dw = vmf_dw_dkappa(p, static_cast<double>(kappa), draw.one_minus_w,
                                      draw.one_plus_w, one_minus_mean);
      nivmf_draw_backward(p, saved.directions.row(n), saved.concentrations.row(n), mean, kappa,
                          saved.samples.row(i), saved.tangents + i * p, draw, dw,
                          grad_samples.row(i), saved.scratch + n * 2 * p, gd, gk);
    }
  }
};

/// Draws n_samples samples of each of the N distributions into samples and
/// fills the buffers (carved beforehand) for the backward.
template <class T, class Backend>
cudaError_t nivmf_sample_run(const Backend& be, ConstMatrixView<T> directions,
                             ConstMatrixView<T> concentrations, int n_samples, RngKey rng,
                             MatrixView<T> samples, NivmfSampleBuffers<T>& buffers) {
  const Index count = directions.rows;
  buffers.directions = directions;
  buffers.concentrations = concentrations;
  buffers.samples = ConstMatrixView<T>{samples.data, samples.rows, samples.cols, samples.stride};
  cudaError_t status = for_each_index(
      be, count,
      NivmfPreimage<T>{directions, concentrations, buffers.mean_directions, buffers.kappas});
  if (status != cudaSuccess) return status;
  return for_each_index(be, count * n_samples,
                        NivmfSampleRow<T>{concentrations, rng, buffers.mean_directions,
                                          buffers.kappas, samples, buffers.tangents,
                                          buffers.draws});
}

template <class T, class Backend>
cudaError_t nivmf_sample_backward_run(const Backend& be, const NivmfSampleBuffers<T>& buffers,
                                      ConstMatrixView<T> grad_samples,
                                      MatrixView<T> grad_directions,
                                      MatrixView<T> grad_concentrations) {
  return for_each_index(be, buffers.n_distributions,
                        NivmfSampleBackwardRow<T>{buffers, grad_samples, grad_directions,
                                                  grad_concentrations});
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
