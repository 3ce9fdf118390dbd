// SPDX-License-Identifier: MIT
// pdml::cuda on CUDA tensors for the `pdml._C` extension (declarations and contract in
// pdml_cuda.hpp). Every call runs on torch's current stream of the tensors' device and, where
// pdml::cuda multiplies matrices, on torch's cuBLAS handle for that stream: PyTorch binds the
// handle to the current stream with its own workspace, which is what pdml::cuda::HandleScope
// requires (pdml sets the handle's modes for the call and restores them; it never rebinds the
// stream). Workspaces are uint8 tensors from torch's caching allocator, sized by pdml::cuda's
// size query, and live in the State as long as the autograd graph keeps it.

#include "pdml_cuda.hpp"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/cuda/distributions/densities.hpp>
#include <pdml/cuda/losses/el_nivmf_loss.hpp>
#include <pdml/cuda/similarities/el_nivmf_similarity.hpp>
#include <pdml/cuda/math/functions.hpp>
#include <pdml/cuda/distributions/sampling.hpp>

#include "special_functions.hpp"

namespace pdml_python {
namespace gpu {

State::~State() = default;

namespace {

template <class T>
pdml::ConstMatrixView<T> cview(const at::Tensor& t) {
  const std::int64_t cols = t.dim() == 2 ? t.size(1) : 1;
  const std::int64_t stride = t.dim() == 2 ? (t.size(0) > 1 ? t.stride(0) : cols) : 1;
  return pdml::ConstMatrixView<T>{t.data_ptr<T>(), t.size(0), cols, stride};
}

template <class T>
pdml::MatrixView<T> mview(at::Tensor& t) {
  const std::int64_t cols = t.dim() == 2 ? t.size(1) : 1;
  return pdml::MatrixView<T>{t.data_ptr<T>(), t.size(0), cols, cols};
}

void check_cuda(const char* fn, cudaError_t status) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("pdml.") + fn + ": CUDA error " +
                             cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
  }
}

/// The device guard and torch's current stream and cuBLAS handle for a tensor's device.
class Launch {
 public:
  explicit Launch(const at::Tensor& on)
      : guard_(on.device()), stream_(at::cuda::getCurrentCUDAStream(on.device().index())) {}
  cudaStream_t stream() const { return stream_.stream(); }
  /// The cuBLAS handle is looked up here, after the guard set the device: torch returns the
  /// current device's handle bound to the current stream.
  pdml::cuda::Context context() const {
    pdml::cuda::Context context;
    context.stream = stream_.stream();
    context.cublas = at::cuda::getCurrentCUDABlasHandle();
    return context;
  }

 private:
  c10::cuda::CUDAGuard guard_;
  c10::cuda::CUDAStream stream_;
};

/// A workspace of at least `bytes` from torch's caching allocator on `like`'s device (one
/// byte when pdml needs none, so that the pointer is never null: a null workspace would make
/// the call a size query again).
at::Tensor workspace_for(std::size_t bytes, const at::Tensor& like) {
  const auto count = static_cast<std::int64_t>(std::max<std::size_t>(bytes, 1));
  return at::empty({count}, like.options().dtype(at::kByte));
}

/// A backward that runs on another stream than its forward (the autograd engine normally
/// keeps them equal) must keep the forward's workspace from being reused before it is done.
void use_on_stream(const at::Tensor& workspace, cudaStream_t forward_stream,
                   const c10::cuda::CUDAStream& now) {
  if (workspace.defined() && now.stream() != forward_stream) {
    c10::cuda::CUDACachingAllocator::recordStream(workspace.storage().data_ptr(), now);
  }
}

// ------------------------------------------------------------------ the criterion

template <class T>
struct LossState : State {
  explicit LossState(const typename pdml::cuda::ElNivmfLoss<T>::Options& options)
      : loss(options) {}
  pdml::cuda::ElNivmfLoss<T> loss;
  typename pdml::cuda::ElNivmfLoss<T>::Saved saved;
  // pdml::cuda's Saved points into these: they live as long as the state.
  at::Tensor workspace, embeddings, labels, proxies, kappas, samples;
  cudaStream_t stream = nullptr;
};

template <class T>
LossForward loss_forward_typed(const at::Tensor& embeddings, const at::Tensor& labels,
                               const at::Tensor& proxies, const at::Tensor& kappas,
                               double temperature, const LossOptions& o, std::uint64_t seed,
                               std::uint64_t offset, const at::Tensor& samples) {
  typename pdml::cuda::ElNivmfLoss<T>::Options options;
  options.n_samples = o.n_samples;
  options.guidance_weight = static_cast<T>(o.guidance_weight);
  options.min_kappa = static_cast<T>(o.min_kappa);
  options.scoring =
      o.exact_density ? pdml::cuda::NivmfScoring::exact_density : pdml::cuda::NivmfScoring::paper_rule;
  options.proxy_anchor_alpha = static_cast<T>(o.proxy_anchor_alpha);
  options.proxy_anchor_delta = static_cast<T>(o.proxy_anchor_delta);
  auto state = std::make_shared<LossState<T>>(options);
  state->embeddings = embeddings;
  state->labels = labels;
  state->proxies = proxies;
  state->kappas = kappas;
  state->samples = samples;

  const Launch launch(embeddings);
  const pdml::cuda::Context context = launch.context();
  state->stream = context.stream;
  at::Tensor loss = at::empty({}, embeddings.options());
  const T t = static_cast<T>(temperature);
  const std::int64_t* label_data = labels.data_ptr<std::int64_t>();
  auto run = [&](void* workspace, std::size_t& bytes) {
    if (samples.defined()) {
      return state->loss.forward_with_samples(workspace, bytes, cview<T>(samples),
                                              cview<T>(embeddings), label_data, cview<T>(proxies),
                                              cview<T>(kappas), t, loss.data_ptr<T>(),
                                              state->saved, context);
    }
    return state->loss.forward(workspace, bytes, cview<T>(embeddings), label_data,
                               cview<T>(proxies), cview<T>(kappas), t,
                               pdml::RngKey{seed, offset}, loss.data_ptr<T>(), state->saved,
                               context);
  };
  std::size_t bytes = 0;
  check_cuda("el_nivmf_loss", run(nullptr, bytes));
  state->workspace = workspace_for(bytes, embeddings);
  check_cuda("el_nivmf_loss", run(state->workspace.data_ptr(), bytes));
  at::Tensor status = at::empty({1}, embeddings.options().dtype(at::kInt));
  check_cuda("el_nivmf_loss",
             cudaMemcpyAsync(status.data_ptr(), state->saved.status(), sizeof(std::uint32_t),
                             cudaMemcpyDeviceToDevice, context.stream));
  return LossForward{loss, state, status};
}

template <class T>
std::vector<at::Tensor> loss_backward_typed(const LossState<T>& state, const at::Tensor& grad_loss,
                                            bool want_samples) {
  const Launch launch(state.embeddings);
  const pdml::cuda::Context context = launch.context();
  use_on_stream(state.workspace, state.stream, at::cuda::getCurrentCUDAStream());
  const auto& o = state.embeddings.options();
  at::Tensor ge = at::empty_like(state.embeddings, at::MemoryFormat::Contiguous);
  at::Tensor gp = at::empty({state.proxies.size(0), state.proxies.size(1)}, o);
  at::Tensor gk = at::empty({state.kappas.size(0), state.kappas.size(1)}, o);
  at::Tensor gt = at::empty({}, o);
  const bool samples_grad = want_samples && state.samples.defined();
  at::Tensor gs = samples_grad ? at::empty({state.samples.size(0), state.samples.size(1)}, o)
                               : at::Tensor();
  pdml::MatrixView<T> gs_view{nullptr, 0, 0, 0};
  if (samples_grad) gs_view = mview<T>(gs);
  check_cuda("el_nivmf_loss backward",
             state.loss.backward(state.saved, T(1), mview<T>(ge), mview<T>(gp), mview<T>(gk),
                                 gt.data_ptr<T>(), samples_grad ? &gs_view : nullptr, context));
  // The loss is linear in its upstream gradient: scale on the device, no host read.
  ge.mul_(grad_loss);
  gp.mul_(grad_loss);
  gk.mul_(grad_loss);
  gt.mul_(grad_loss);
  if (samples_grad) gs.mul_(grad_loss);
  return {ge, gp, gk, gt, gs};
}

// ---------------------------------------------------------- EL-nivMF similarity

template <class T>
struct SimilarityState : State {
  pdml::cuda::ElNivmfSimilaritySaved<T> saved;
  at::Tensor workspace, samples, proxies, kappas;
  cudaStream_t stream = nullptr;
};

template <class T>
SimilarityForward similarity_forward_typed(const at::Tensor& samples, int n_samples,
                                           const at::Tensor& proxies, const at::Tensor& kappas,
                                           double min_kappa, double temperature,
                                           bool exact_density) {
  auto state = std::make_shared<SimilarityState<T>>();
  state->samples = samples;
  state->proxies = proxies;
  state->kappas = kappas;
  const Launch launch(samples);
  const pdml::cuda::Context context = launch.context();
  state->stream = context.stream;
  const std::int64_t batch = n_samples > 0 ? samples.size(0) / n_samples : 0;
  at::Tensor out = at::empty({batch, proxies.size(0)}, samples.options());
  const auto scoring =
      exact_density ? pdml::cuda::NivmfScoring::exact_density : pdml::cuda::NivmfScoring::paper_rule;
  auto run = [&](void* workspace, std::size_t& bytes) {
    return pdml::cuda::el_nivmf_similarity_forward<T>(
        workspace, bytes, cview<T>(samples), n_samples, cview<T>(proxies), cview<T>(kappas),
        static_cast<T>(min_kappa), static_cast<T>(temperature), scoring, mview<T>(out),
        state->saved, context);
  };
  std::size_t bytes = 0;
  check_cuda("el_nivmf_similarity", run(nullptr, bytes));
  state->workspace = workspace_for(bytes, samples);
  check_cuda("el_nivmf_similarity", run(state->workspace.data_ptr(), bytes));
  return SimilarityForward{out, state};
}

template <class T>
std::vector<at::Tensor> similarity_backward_typed(const SimilarityState<T>& state,
                                                  const at::Tensor& grad) {
  const Launch launch(state.samples);
  const pdml::cuda::Context context = launch.context();
  use_on_stream(state.workspace, state.stream, at::cuda::getCurrentCUDAStream());
  at::Tensor gs = at::empty_like(state.samples, at::MemoryFormat::Contiguous);
  at::Tensor gp = at::empty_like(state.proxies, at::MemoryFormat::Contiguous);
  at::Tensor gk = at::empty_like(state.kappas, at::MemoryFormat::Contiguous);
  at::Tensor gt = at::empty({}, state.samples.options());
  check_cuda("el_nivmf_similarity backward",
             pdml::cuda::el_nivmf_similarity_backward<T>(state.saved, cview<T>(grad),
                                                         mview<T>(gs), mview<T>(gp),
                                                         mview<T>(gk), gt.data_ptr<T>(),
                                                         context));
  return {gs, gp, gk, gt};
}

// ------------------------------------------------------------------- samplers

/// What every sampler state keeps: the workspace (pdml's saved buffers) and the tensors
/// pdml::cuda's saved state points into.
struct SamplerTensors {
  at::Tensor workspace, first, second, samples;
  cudaStream_t stream = nullptr;
};

template <class T>
struct VmfSampleState : State {
  pdml::cuda::VmfSampleSaved<T> saved;
  SamplerTensors tensors;
};

template <class T>
struct NivmfSampleState : State {
  pdml::cuda::NivmfSampleSaved<T> saved;
  SamplerTensors tensors;
};

template <class T>
struct PowerSphericalSampleState : State {
  pdml::cuda::PowerSphericalSampleSaved<T> saved;
  SamplerTensors tensors;
};

/// Size query, workspace, run: the protocol every sampler shares. `run(workspace, bytes,
/// stream)` calls the pdml::cuda sampler.
template <class Run>
void run_sampler(const char* fn, SamplerTensors& tensors, const Run& run) {
  const Launch launch(tensors.first);
  tensors.stream = launch.stream();
  std::size_t bytes = 0;
  check_cuda(fn, run(nullptr, bytes, launch.stream()));
  tensors.workspace = workspace_for(bytes, tensors.first);
  check_cuda(fn, run(tensors.workspace.data_ptr(), bytes, launch.stream()));
}

template <class T>
SampleForward vmf_sample_typed(const at::Tensor& eta, int n_samples, std::uint64_t seed,
                               std::uint64_t offset) {
  auto state = std::make_shared<VmfSampleState<T>>();
  auto& k = state->tensors;
  k.first = eta;
  k.samples = at::empty({eta.size(0) * n_samples, eta.size(1)}, eta.options());
  run_sampler("VonMisesFisher.rsample", k, [&](void* ws, std::size_t& bytes, cudaStream_t s) {
    return pdml::cuda::vmf_sample<T>(ws, bytes, cview<T>(eta), n_samples,
                                     pdml::RngKey{seed, offset}, mview<T>(k.samples),
                                     &state->saved, s);
  });
  return SampleForward{k.samples, state};
}

template <class T>
SampleForward nivmf_sample_typed(const at::Tensor& directions, const at::Tensor& concentrations,
                                 int n_samples, std::uint64_t seed, std::uint64_t offset) {
  auto state = std::make_shared<NivmfSampleState<T>>();
  auto& k = state->tensors;
  k.first = directions;
  k.second = concentrations;
  k.samples = at::empty({directions.size(0) * n_samples, directions.size(1)},
                        directions.options());
  run_sampler("NonIsotropicVonMisesFisher.rsample", k,
              [&](void* ws, std::size_t& bytes, cudaStream_t s) {
                return pdml::cuda::nivmf_sample<T>(ws, bytes, cview<T>(directions),
                                                   cview<T>(concentrations), n_samples,
                                                   pdml::RngKey{seed, offset},
                                                   mview<T>(k.samples), &state->saved, s);
              });
  return SampleForward{k.samples, state};
}

template <class T>
SampleForward ps_sample_typed(const at::Tensor& directions, const at::Tensor& concentrations,
                              int n_samples, std::uint64_t seed, std::uint64_t offset) {
  auto state = std::make_shared<PowerSphericalSampleState<T>>();
  auto& k = state->tensors;
  k.first = directions;
  k.second = concentrations;
  k.samples = at::empty({directions.size(0) * n_samples, directions.size(1)},
                        directions.options());
  run_sampler("PowerSpherical.rsample", k, [&](void* ws, std::size_t& bytes, cudaStream_t s) {
    return pdml::cuda::power_spherical_sample<T>(ws, bytes, cview<T>(directions),
                                                 cview<T>(concentrations), n_samples,
                                                 pdml::RngKey{seed, offset}, mview<T>(k.samples),
                                                 &state->saved, s);
  });
  return SampleForward{k.samples, state};
}

/// The sampler backwards, by state type; nullopt-like empty vector when `state` is not T's.
template <class T>
bool try_sample_backward(const State& state, const at::Tensor& grad,
                         std::vector<at::Tensor>& out) {
  if (const auto* v = dynamic_cast<const VmfSampleState<T>*>(&state)) {
    const Launch launch(v->tensors.first);
    use_on_stream(v->tensors.workspace, v->tensors.stream, at::cuda::getCurrentCUDAStream());
    at::Tensor ge = at::empty_like(v->tensors.first, at::MemoryFormat::Contiguous);
    check_cuda("VonMisesFisher.rsample backward",
               pdml::cuda::vmf_sample_backward<T>(v->saved, cview<T>(grad), mview<T>(ge),
                                                  launch.stream()));
    out = {ge};
    return true;
  }
  if (const auto* n = dynamic_cast<const NivmfSampleState<T>*>(&state)) {
    const Launch launch(n->tensors.first);
    use_on_stream(n->tensors.workspace, n->tensors.stream, at::cuda::getCurrentCUDAStream());
    at::Tensor gd = at::empty_like(n->tensors.first, at::MemoryFormat::Contiguous);
    at::Tensor gc = at::empty_like(n->tensors.second, at::MemoryFormat::Contiguous);
    check_cuda("NonIsotropicVonMisesFisher.rsample backward",
               pdml::cuda::nivmf_sample_backward<T>(n->saved, cview<T>(grad), mview<T>(gd),
                                                    mview<T>(gc), launch.stream()));
    out = {gd, gc};
    return true;
  }
  if (const auto* p = dynamic_cast<const PowerSphericalSampleState<T>*>(&state)) {
    const Launch launch(p->tensors.first);
    use_on_stream(p->tensors.workspace, p->tensors.stream, at::cuda::getCurrentCUDAStream());
    at::Tensor gd = at::empty_like(p->tensors.first, at::MemoryFormat::Contiguous);
    at::Tensor gc = at::empty_like(p->tensors.second, at::MemoryFormat::Contiguous);
    check_cuda("PowerSpherical.rsample backward",
               pdml::cuda::power_spherical_sample_backward<T>(
                   p->saved, cview<T>(grad), mview<T>(gd), mview<T>(gc), launch.stream()));
    out = {gd, gc};
    return true;
  }
  return false;
}

// ------------------------------------------------------------------- densities

template <class T>
at::Tensor log_prob_typed(int kind, const at::Tensor& first, const at::Tensor& second,
                          const at::Tensor& points) {
  const Launch launch(first);
  at::Tensor out = at::empty({points.size(0), 1}, first.options());
  cudaError_t status = cudaSuccess;
  if (kind == 0) {
    status = pdml::cuda::vmf_log_prob<T>(cview<T>(first), cview<T>(points), mview<T>(out),
                                         launch.stream());
  } else if (kind == 1) {
    status = pdml::cuda::nivmf_log_prob<T>(cview<T>(first), cview<T>(second), cview<T>(points),
                                           mview<T>(out), launch.stream());
  } else {
    status = pdml::cuda::power_spherical_log_prob<T>(cview<T>(first), cview<T>(second),
                                                     cview<T>(points), mview<T>(out),
                                                     launch.stream());
  }
  check_cuda("log_prob", status);
  return out;
}

template <class T>
std::vector<at::Tensor> log_prob_backward_typed(int kind, const at::Tensor& first,
                                                const at::Tensor& second, const at::Tensor& points,
                                                const at::Tensor& grad) {
  const Launch launch(first);
  at::Tensor g1 = at::empty_like(first, at::MemoryFormat::Contiguous);
  at::Tensor g2 = kind == 0 ? at::Tensor() : at::empty_like(second, at::MemoryFormat::Contiguous);
  at::Tensor gx = at::empty_like(points, at::MemoryFormat::Contiguous);
  auto run = [&](void* workspace, std::size_t& bytes) {
    if (kind == 0) {
      return pdml::cuda::vmf_log_prob_backward<T>(workspace, bytes, cview<T>(first),
                                                  cview<T>(points), cview<T>(grad),
                                                  mview<T>(g1), mview<T>(gx), launch.stream());
    }
    if (kind == 1) {
      return pdml::cuda::nivmf_log_prob_backward<T>(
          workspace, bytes, cview<T>(first), cview<T>(second), cview<T>(points), cview<T>(grad),
          mview<T>(g1), mview<T>(g2), mview<T>(gx), launch.stream());
    }
    return pdml::cuda::power_spherical_log_prob_backward<T>(
        workspace, bytes, cview<T>(first), cview<T>(second), cview<T>(points), cview<T>(grad),
        mview<T>(g1), mview<T>(g2), mview<T>(gx), launch.stream());
  };
  std::size_t bytes = 0;
  check_cuda("log_prob backward", run(nullptr, bytes));
  // Scratch for this call only: the caching allocator reuses it after the stream's later work.
  at::Tensor workspace = workspace_for(bytes, first);
  check_cuda("log_prob backward", run(workspace.data_ptr(), bytes));
  if (kind == 0) return {g1, gx};
  return {g1, g2, gx};
}

// ------------------------------------------------------------ special functions

/// out[i] = special_value(f, a[i], x[i]): the functions pdml::cuda's math.hpp does not
/// expose, on pdml::cuda's elementwise launcher.
template <class T>
struct SpecialApply {
  Special function;
  const T* a;
  const T* x;
  T* out;
  PDML_HOST_DEVICE void operator()(pdml::Index i) const {
    out[i] = special_value<T>(function, a[i], x[i]);
  }
};

template <class T>
at::Tensor special_typed(Special f, const at::Tensor& a, const at::Tensor& x) {
  const Launch launch(x);
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  const T* pa = a.data_ptr<T>();
  const T* px = x.data_ptr<T>();
  T* po = out.data_ptr<T>();
  const pdml::Index n = x.numel();
  cudaError_t status = cudaSuccess;
  if (f == Special::log_bessel_i) {
    status = pdml::cuda::bessel_function<T>(pdml::cuda::BesselFunction::log_i, pa, px, po, n,
                                            launch.stream());
  } else if (f == Special::bessel_i_ratio) {
    status = pdml::cuda::bessel_function<T>(pdml::cuda::BesselFunction::ratio, pa, px, po, n,
                                            launch.stream());
  } else {
    const pdml::cuda::detail::CudaBackend backend{launch.stream(), nullptr};
    status = pdml::cuda::detail::for_each_index(backend, n, SpecialApply<T>{f, pa, px, po});
  }
  check_cuda("special", status);
  return out;
}

}  // namespace

// ------------------------------------------------------------------ entry points

LossForward el_nivmf_forward(const at::Tensor& embeddings, const at::Tensor& labels,
                             const at::Tensor& proxies, const at::Tensor& kappas,
                             double temperature, const LossOptions& options, std::uint64_t seed,
                             std::uint64_t offset, const at::Tensor& samples) {
  if (embeddings.scalar_type() == at::kDouble) {
    return loss_forward_typed<double>(embeddings, labels, proxies, kappas, temperature, options,
                                      seed, offset, samples);
  }
  return loss_forward_typed<float>(embeddings, labels, proxies, kappas, temperature, options,
                                   seed, offset, samples);
}

std::vector<at::Tensor> el_nivmf_backward(const State& state, const at::Tensor& grad_loss,
                                          bool want_samples) {
  if (const auto* d = dynamic_cast<const LossState<double>*>(&state)) {
    return loss_backward_typed<double>(*d, grad_loss, want_samples);
  }
  if (const auto* f = dynamic_cast<const LossState<float>*>(&state)) {
    return loss_backward_typed<float>(*f, grad_loss, want_samples);
  }
  throw std::invalid_argument("pdml.el_nivmf_loss backward: argument 'state' is not a CUDA "
                              "criterion state");
}

SimilarityForward el_nivmf_similarity_forward(const at::Tensor& samples, int n_samples,
                                              const at::Tensor& proxies,
                                              const at::Tensor& kappas, double min_kappa,
                                              double temperature, bool exact_density) {
  if (samples.scalar_type() == at::kDouble) {
    return similarity_forward_typed<double>(samples, n_samples, proxies, kappas, min_kappa,
                                            temperature, exact_density);
  }
  return similarity_forward_typed<float>(samples, n_samples, proxies, kappas, min_kappa,
                                         temperature, exact_density);
}

std::vector<at::Tensor> el_nivmf_similarity_backward(const State& state, const at::Tensor& grad) {
  if (const auto* d = dynamic_cast<const SimilarityState<double>*>(&state)) {
    return similarity_backward_typed<double>(*d, grad);
  }
  if (const auto* f = dynamic_cast<const SimilarityState<float>*>(&state)) {
    return similarity_backward_typed<float>(*f, grad);
  }
  throw std::invalid_argument("pdml.el_nivmf_similarity backward: argument 'state' is not a "
                              "CUDA similarity state");
}

SampleForward vmf_sample(const at::Tensor& eta, int n_samples, std::uint64_t seed,
                         std::uint64_t offset) {
  if (eta.scalar_type() == at::kDouble) {
    return vmf_sample_typed<double>(eta, n_samples, seed, offset);
  }
  return vmf_sample_typed<float>(eta, n_samples, seed, offset);
}

SampleForward nivmf_sample(const at::Tensor& directions, const at::Tensor& concentrations,
                           int n_samples, std::uint64_t seed, std::uint64_t offset) {
  if (directions.scalar_type() == at::kDouble) {
    return nivmf_sample_typed<double>(directions, concentrations, n_samples, seed, offset);
  }
  return nivmf_sample_typed<float>(directions, concentrations, n_samples, seed, offset);
}

SampleForward power_spherical_sample(const at::Tensor& directions,
                                     const at::Tensor& concentrations, int n_samples,
                                     std::uint64_t seed, std::uint64_t offset) {
  if (directions.scalar_type() == at::kDouble) {
    return ps_sample_typed<double>(directions, concentrations, n_samples, seed, offset);
  }
  return ps_sample_typed<float>(directions, concentrations, n_samples, seed, offset);
}

std::vector<at::Tensor> sample_backward(const State& state, const at::Tensor& grad_samples) {
  std::vector<at::Tensor> out;
  if (try_sample_backward<double>(state, grad_samples, out)) return out;
  if (try_sample_backward<float>(state, grad_samples, out)) return out;
  throw std::invalid_argument("pdml rsample backward: argument 'state' is not a CUDA sampler "
                              "state");
}

at::Tensor log_prob(int kind, const at::Tensor& first, const at::Tensor& second,
                    const at::Tensor& points) {
  if (first.scalar_type() == at::kDouble) return log_prob_typed<double>(kind, first, second, points);
  return log_prob_typed<float>(kind, first, second, points);
}

std::vector<at::Tensor> log_prob_backward(int kind, const at::Tensor& first,
                                          const at::Tensor& second, const at::Tensor& points,
                                          const at::Tensor& grad) {
  if (first.scalar_type() == at::kDouble) {
    return log_prob_backward_typed<double>(kind, first, second, points, grad);
  }
  return log_prob_backward_typed<float>(kind, first, second, points, grad);
}

at::Tensor special(int which, const at::Tensor& a, const at::Tensor& x) {
  const auto f = static_cast<Special>(which);
  if (x.scalar_type() == at::kDouble) return special_typed<double>(f, a, x);
  return special_typed<float>(f, a, x);
}

}  // namespace gpu
}  // namespace pdml_python
