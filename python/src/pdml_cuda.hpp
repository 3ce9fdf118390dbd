// SPDX-License-Identifier: MIT
#pragma once
// The CUDA half of the `pdml._C` extension (pdml_cuda.cu, compiled by nvcc only when the
// installed torch has CUDA): pdml::cuda's entry points on CUDA tensors, on torch's current
// stream and cuBLAS handle, with every workspace allocated through torch's caching allocator.
//
// pdml_ext.cpp validates dtype, device, dimensions and layout before calling in here (the
// same checks as on the CPU); pdml::cuda then checks shapes and options and throws
// std::invalid_argument naming the argument before anything is enqueued. A failing CUDA or
// cuBLAS call becomes std::runtime_error. Nothing here synchronizes the stream.
//
// Each forward returns a State that owns what its backward needs: the workspace (which holds
// pdml::cuda's saved device state) and the forward's input tensors (pdml::cuda keeps views of
// them). pdml_ext.cpp binds State to Python, and the autograd.Function keeps it on ctx.

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace pdml_python {
namespace gpu {

/// Opaque forward state; the concrete types live in pdml_cuda.cu.
class State {
 public:
  virtual ~State();
};
using StatePtr = std::shared_ptr<State>;

/// pdml::cuda::ElNivmfLoss<T>::Options, in double (converted to T in the .cu).
struct LossOptions {
  int n_samples = 5;
  double guidance_weight = 0;
  double min_kappa = 0.1;
  bool exact_density = false;
  double proxy_anchor_alpha = 32;
  double proxy_anchor_delta = 0.1;
};

/// The criterion's forward. labels: int64 on the embeddings' device; samples: undefined to
/// draw S samples per image from vMF(embeddings) under (seed, offset). Returns the 0-d loss,
/// the state, and a 1-element int32 tensor receiving (in stream order, without a host read)
/// the forward's pdml::cuda::DeviceStatus word.
struct LossForward {
  at::Tensor loss;
  StatePtr state;
  at::Tensor status;
};
LossForward el_nivmf_forward(const at::Tensor& embeddings, const at::Tensor& labels,
                             const at::Tensor& proxies, const at::Tensor& kappas,
                             double temperature, const LossOptions& options, std::uint64_t seed,
                             std::uint64_t offset, const at::Tensor& samples);

/// Gradients of grad_loss (a 0-d tensor on the device) times the loss: {grad_embeddings,
/// grad_proxies, grad_kappas, grad_temperature (0-d), grad_samples (undefined unless
/// want_samples and the forward took samples)}. Runs pdml's backward with upstream gradient 1
/// and scales on the device, so the upstream gradient is never read on the host.
std::vector<at::Tensor> el_nivmf_backward(const State& state, const at::Tensor& grad_loss,
                                          bool want_samples);

/// EL-nivMF similarities (B x C) of (S B) x D samples; state for the backward.
struct SimilarityForward {
  at::Tensor similarities;
  StatePtr state;
};
SimilarityForward el_nivmf_similarity_forward(const at::Tensor& samples, int n_samples,
                                              const at::Tensor& proxies,
                                              const at::Tensor& kappas, double min_kappa,
                                              double temperature, bool exact_density);
/// {grad_samples, grad_proxies, grad_kappas, grad_temperature (0-d)}.
std::vector<at::Tensor> el_nivmf_similarity_backward(const State& state, const at::Tensor& grad);

/// Samplers: samples ((n_samples N) x p, sample s of distribution n at row s N + n) and state.
struct SampleForward {
  at::Tensor samples;
  StatePtr state;
};
SampleForward vmf_sample(const at::Tensor& eta, int n_samples, std::uint64_t seed,
                         std::uint64_t offset);
SampleForward nivmf_sample(const at::Tensor& directions, const at::Tensor& concentrations,
                           int n_samples, std::uint64_t seed, std::uint64_t offset);
SampleForward power_spherical_sample(const at::Tensor& directions,
                                     const at::Tensor& concentrations, int n_samples,
                                     std::uint64_t seed, std::uint64_t offset);
/// The parameter gradients of a sampler's state: {grad_eta} for vMF, {grad_directions,
/// grad_concentrations} for nivMF and Power Spherical.
std::vector<at::Tensor> sample_backward(const State& state, const at::Tensor& grad_samples);

/// Log-densities: kind 0 = vMF (first = eta, second undefined), 1 = nivMF (directions,
/// concentrations N x p), 2 = Power Spherical (directions, concentrations N x 1). points M x p
/// with M a multiple of N; returns M x 1.
at::Tensor log_prob(int kind, const at::Tensor& first, const at::Tensor& second,
                    const at::Tensor& points);
/// {grad_first, grad_second (kinds 1, 2 only), grad_points}.
std::vector<at::Tensor> log_prob_backward(int kind, const at::Tensor& first,
                                          const at::Tensor& second, const at::Tensor& points,
                                          const at::Tensor& grad);

/// special_functions.hpp's function `which` of (a, x), elementwise over two contiguous
/// tensors of one shape.
at::Tensor special(int which, const at::Tensor& a, const at::Tensor& x);

}  // namespace gpu
}  // namespace pdml_python
