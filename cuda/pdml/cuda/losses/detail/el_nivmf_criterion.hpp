// SPDX-License-Identifier: MIT
#pragma once
// The whole EL-nivMF criterion step as pdml::cuda::ElNivmfLoss runs it --
// sampling, forward, backward and the sampler's backward -- written against a
// Backend so the thrust-host tests execute exactly this composition on the CPU.

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/losses/detail/el_nivmf_algorithm.hpp"
#include "pdml/cuda/similarities/detail/half_inputs.hpp"
#include "pdml/cuda/distributions/detail/vmf_sample_functors.hpp"
#include "pdml/random/philox.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Draws S samples per image into `samples` (dense (S B) x D) and runs the
/// forward on them; st.samples_view is set to the drawn samples.
template <class T, class Backend>
cudaError_t el_nivmf_forward_sampled(const Backend& be, ElNivmfState<T>& st,
                                     VmfSampleBuffers<T>& sampler, T* samples, RngKey rng,
                                     T* loss) {
  const ElNivmfDraw<T> draw{&sampler, samples, rng};
  return el_nivmf_forward(be, st, loss, &draw);
}

/// The forward on caller-drawn samples (st.samples_view). The status word is written
/// whole by the forward's finisher: nothing to clear first.
template <class T, class Backend>
cudaError_t el_nivmf_forward_given_samples(const Backend& be, ElNivmfState<T>& st, T* loss) {
  return el_nivmf_forward(be, st, loss);
}

/// The forward of half-precision inputs: converts embeddings and proxies into
/// `converted` (st.embeddings and st.proxies must view those buffers), then
/// runs the fp32 forward: drawing the samples when sampler != null, else on
/// st.samples_view.
template <class In, class Backend>
cudaError_t el_nivmf_forward_from_half(const Backend& be, ElNivmfState<float>& st,
                                       const HalfInputBuffers& converted,
                                       MatrixView<const In> embeddings,
                                       MatrixView<const In> proxies,
                                       VmfSampleBuffers<float>* sampler, float* samples,
                                       RngKey rng, float* loss) {
  const cudaError_t status = convert_half_inputs(be, embeddings, proxies, converted);
  if (status != cudaSuccess) return status;
  return sampler != nullptr ? el_nivmf_forward_sampled(be, st, *sampler, samples, rng, loss)
                            : el_nivmf_forward_given_samples(be, st, loss);
}

/// The backward of either forward. sampler != null: the forward drew the
/// samples, and dL/dx is chained through the sampler into grad_embeddings.
/// Otherwise dL/dx goes to *grad_samples when given (dropped when null) and
/// grad_embeddings holds only the ProxyAnchor term.
template <class T, class Backend>
cudaError_t el_nivmf_backward_step(const Backend& be, const ElNivmfState<T>& st,
                                   const VmfSampleBuffers<T>* sampler, T grad_loss,
                                   MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                   MatrixView<T> grad_kappas, T* grad_temperature,
                                   MatrixView<T>* grad_samples) {
  const Index rows = st.samples * st.batch;
  const MatrixView<T> sample_grads = (sampler == nullptr && grad_samples != nullptr)
                                         ? *grad_samples
                                         : MatrixView<T>{st.grad_samples, rows, st.dims, st.dims};
  return el_nivmf_backward(be, st, grad_loss, grad_embeddings, grad_proxies, grad_kappas,
                           grad_temperature, sample_grads, sampler);
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
