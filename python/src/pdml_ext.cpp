// SPDX-License-Identifier: MIT
// The `pdml._C` extension: thin bindings of pdml's forward/backward pairs on torch tensors.
// Autograd lives in Python (pdml/_autograd.py): each forward returns its outputs and an
// opaque state object (the C++ `Saved` struct) that the Python autograd.Function keeps on
// ctx and hands back to the matching backward. One translation unit on purpose: compiling
// torch's headers dominates the build time.
//
// Every entry point validates its tensors (dtype, device, layout) here and leaves value
// checks to pdml's own API, whose std::invalid_argument messages name the argument;
// pybind11 turns std::invalid_argument into ValueError.

#include <torch/extension.h>

#include <chrono>
#include <ctime>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf.hpp>
#include <pdml/distributions/vmf_batch.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/sharded_el_nivmf_loss.hpp>
#include <pdml/math/log_bessel.hpp>
#include <pdml/math/vmf_normalizer.hpp>
#include <pdml/similarities/el_nivmf.hpp>

#include "special_functions.hpp"
#ifdef PDML_WITH_CUDA
#include "pdml_cuda.hpp"
#endif

namespace py = pybind11;

namespace {

[[noreturn]] void fail(const std::string& fn, const char* arg, const std::string& what) {
  throw std::invalid_argument("pdml." + fn + ": argument '" + arg + "' " + what);
}

/// Where an entry point's tensors may live. Entry points without a CUDA implementation check
/// with no Place (CPU only); those with one name their first tensor, and every other tensor
/// must be on that tensor's device (the CPU, or a CUDA device in a build with CUDA kernels).
struct Place {
  const at::Tensor* tensor = nullptr;
  const char* name = nullptr;
};

/// A float32/float64 tensor of `dim` dimensions whose rows pdml can read through a
/// row-major view (unit column stride), on the CPU or, with a Place, on its device.
void check_tensor(const std::string& fn, const char* arg, const at::Tensor& t, int64_t dim,
                  at::ScalarType dtype, Place place = {}) {
  if (!t.defined()) fail(fn, arg, "is undefined");
  if (place.tensor != nullptr && place.tensor->defined() && t.device() != place.tensor->device()) {
    fail(fn, arg,
         "is on " + t.device().str() + " but argument '" + place.name + "' is on " +
             place.tensor->device().str() + ": pass every tensor on one device");
  }
  if (t.is_cuda()) {
#ifdef PDML_WITH_CUDA
    if (place.tensor == nullptr) {
      fail(fn, arg,
           "is a CUDA tensor, but pdml." + fn + " has no CUDA implementation: move it to the CPU");
    }
#else
    fail(fn, arg,
         "is a CUDA tensor, but this build of pdml has no CUDA kernels (it was built against a "
         "torch without CUDA): move it to the CPU");
#endif
  } else if (!t.device().is_cpu()) {
    fail(fn, arg, "must be a CPU or CUDA tensor");
  }
  if (t.scalar_type() != dtype) {
    fail(fn, arg, std::string("must have dtype ") + c10::toString(dtype) + " (got " +
                      c10::toString(t.scalar_type()) + ")");
  }
  if (t.dim() != dim) {
    fail(fn, arg, "must have " + std::to_string(dim) + " dimensions (got " +
                      std::to_string(t.dim()) + ")");
  }
  if (dim == 2 && t.size(1) > 1 && t.stride(1) != 1) {
    fail(fn, arg, "must have contiguous rows (unit column stride); call .contiguous()");
  }
  if (dim == 2 && t.size(0) > 1 && t.stride(0) < t.size(1)) {
    fail(fn, arg, "has overlapping rows; call .contiguous()");
  }
  if (dim != 2 && !t.is_contiguous()) fail(fn, arg, "must be contiguous; call .contiguous()");
}

void check_float(const std::string& fn, const char* arg, const at::Tensor& t, int64_t dim,
                 Place place = {}) {
  if (!t.defined()) fail(fn, arg, "is undefined");
  if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble) {
    fail(fn, arg, std::string("must be float32 or float64 (got ") + c10::toString(t.scalar_type()) +
                      ")");
  }
  check_tensor(fn, arg, t, dim, t.scalar_type(), place);
}

/// The first tensor of an entry point that has a CUDA implementation: any device pdml runs on;
/// the others are checked against it.
Place first_of(const std::string& fn, const char* arg, const at::Tensor& t, int64_t dim) {
  const Place place{&t, arg};
  check_float(fn, arg, t, dim, place);
  return place;
}

/// int32 or int64 labels, one per row, on place's device.
void check_labels(const std::string& fn, const at::Tensor& labels, int64_t rows, const char* arg,
                  Place place) {
  if (!labels.defined()) fail(fn, arg, "is undefined");
  const auto dtype = labels.scalar_type() == at::kInt ? at::kInt : at::kLong;
  check_tensor(fn, arg, labels, 1, dtype, place);
  if (labels.size(0) != rows) fail(fn, arg, "must have one entry per embedding");
}

/// int32 or int64 labels (pdml::Labels reads either without a copy), one per row.
pdml::Labels labels_of(const std::string& fn, const at::Tensor& labels, int64_t rows,
                       const char* arg = "labels") {
  if (!labels.defined()) fail(fn, arg, "is undefined");
  const auto dtype = labels.scalar_type() == at::kInt ? at::kInt : at::kLong;
  check_tensor(fn, arg, labels, 1, dtype);
  if (labels.size(0) != rows) fail(fn, arg, "must have one entry per embedding");
  if (dtype == at::kInt) return pdml::Labels(labels.data_ptr<std::int32_t>());
  return pdml::Labels(labels.data_ptr<std::int64_t>());
}

template <class T>
pdml::ConstMatrixView<T> cview(const at::Tensor& t) {
  const int64_t cols = t.dim() == 2 ? t.size(1) : 1;
  const int64_t stride = t.dim() == 2 ? (t.size(0) > 1 ? t.stride(0) : cols) : 1;
  return pdml::ConstMatrixView<T>{t.data_ptr<T>(), t.size(0), cols, stride};
}

template <class T>
pdml::MatrixView<T> mview(at::Tensor& t) {
  const int64_t cols = t.dim() == 2 ? t.size(1) : 1;
  return pdml::MatrixView<T>{t.data_ptr<T>(), t.size(0), cols, cols};
}

// ------------------------------------------------------------------ the criterion

pdml::NivmfScoring scoring_of(const std::string& scoring) {
  if (scoring == "paper_rule") return pdml::NivmfScoring::paper_rule;
  if (scoring == "exact_density") return pdml::NivmfScoring::exact_density;
  throw std::invalid_argument("pdml.el_nivmf_loss: argument 'scoring' must be \"paper_rule\" or "
                              "\"exact_density\" (got \"" + scoring + "\")");
}

struct LossOptions {
  int n_samples;
  double guidance_weight;
  double min_kappa;
  std::string scoring;
  double proxy_anchor_alpha;
  double proxy_anchor_delta;
  std::string reduction;
  c10::optional<std::int64_t> ignore_label;
};

pdml::Reduction reduction_of(const std::string& reduction) {
  if (reduction == "mean") return pdml::Reduction::mean;
  if (reduction == "sum") return pdml::Reduction::sum;
  if (reduction == "none") return pdml::Reduction::none;
  throw std::invalid_argument("pdml.el_nivmf_loss: argument 'reduction' must be \"mean\", "
                              "\"sum\" or \"none\" (got \"" + reduction + "\")");
}

template <class T>
typename pdml::ElNivmfLoss<T>::Options convert(const LossOptions& o) {
  typename pdml::ElNivmfLoss<T>::Options options;
  options.n_samples = o.n_samples;
  options.guidance_weight = static_cast<T>(o.guidance_weight);
  options.min_kappa = static_cast<T>(o.min_kappa);
  options.scoring = scoring_of(o.scoring);
  options.proxy_anchor_alpha = static_cast<T>(o.proxy_anchor_alpha);
  options.proxy_anchor_delta = static_cast<T>(o.proxy_anchor_delta);
  options.reduction = reduction_of(o.reduction);
  if (o.ignore_label) options.ignore_label = *o.ignore_label;
  return options;
}

/// The forward's state, kept on the autograd ctx until the backward.
template <class T>
struct LossState {
  explicit LossState(const typename pdml::ElNivmfLoss<T>::Options& options) : loss(options) {}
  pdml::ElNivmfLoss<T> loss;
  typename pdml::ElNivmfLoss<T>::Saved saved;
  at::TensorOptions tensor_options;
};

struct LossInputs {
  at::Tensor embeddings, labels, proxies, kappas, samples;
};

void check_loss_inputs(const LossInputs& in) {
  const std::string fn = "el_nivmf_loss";
  const Place place = first_of(fn, "embeddings", in.embeddings, 2);
  const auto dtype = in.embeddings.scalar_type();
  check_tensor(fn, "proxies", in.proxies, 2, dtype, place);
  check_tensor(fn, "kappas", in.kappas, 2, dtype, place);
  check_labels(fn, in.labels, in.embeddings.size(0), "labels", place);
  if (in.samples.defined()) check_tensor(fn, "samples", in.samples, 2, dtype, place);
}

template <class T>
py::tuple loss_forward_typed(const LossInputs& in, double temperature, const LossOptions& o,
                             std::uint64_t seed, std::uint64_t offset) {
  auto state = std::make_shared<LossState<T>>(convert<T>(o));
  state->tensor_options = in.embeddings.options();
  const pdml::Labels labels = labels_of("el_nivmf_loss", in.labels, in.embeddings.size(0));
  T value;
  {
    py::gil_scoped_release release;
    if (in.samples.defined()) {
      value = state->loss.forward_with_samples(cview<T>(in.samples), cview<T>(in.embeddings), labels,
                                               cview<T>(in.proxies), cview<T>(in.kappas),
                                               static_cast<T>(temperature), state->saved);
    } else {
      value = state->loss.forward(cview<T>(in.embeddings), labels, cview<T>(in.proxies),
                                  cview<T>(in.kappas), static_cast<T>(temperature),
                                  pdml::RngKey{seed, offset}, state->saved);
    }
  }
  if (state->loss.options().reduction == pdml::Reduction::none) {
    // The B per-sample losses (0 for ignored rows).
    const auto losses = state->saved.sample_losses();
    at::Tensor out = at::empty({losses.rows}, in.embeddings.options());
    for (int64_t i = 0; i < losses.rows; ++i) out.data_ptr<T>()[i] = losses(i, 0);
    return py::make_tuple(out, py::cast(state), py::none());
  }
  return py::make_tuple(at::scalar_tensor(static_cast<double>(value), in.embeddings.options()),
                        py::cast(state), py::none());
}

#ifdef PDML_WITH_CUDA
/// The criterion on CUDA tensors (pdml::cuda::ElNivmfLoss). pdml::cuda has the paper's
/// criterion only: reduction "mean" with every row counted ("sum" is B x "mean" and is formed
/// in Python); labels are read as int64, so int32 labels are converted on the device.
/// Returns (loss, state, status): status is a 1-element int32 device tensor that receives the
/// forward's pdml::cuda::DeviceStatus word in stream order.
py::tuple el_nivmf_forward_cuda(const LossInputs& in, double temperature, const LossOptions& o,
                                std::uint64_t seed, std::uint64_t offset) {
  const std::string fn = "el_nivmf_loss";
  if (o.reduction != "mean") {
    fail(fn, "reduction",
         "must be \"mean\" here for CUDA tensors (pdml.functional.el_nivmf_loss forms \"sum\" "
         "as B x \"mean\"; pdml::cuda's criterion has no per-sample losses; got \"" +
             o.reduction + "\")");
  }
  if (o.ignore_label) {
    fail(fn, "ignore_index",
         "is not supported for CUDA tensors: pdml::cuda's criterion has no ignored label");
  }
  pdml_python::gpu::LossOptions options;
  options.n_samples = o.n_samples;
  options.guidance_weight = o.guidance_weight;
  options.min_kappa = o.min_kappa;
  options.exact_density = scoring_of(o.scoring) == pdml::NivmfScoring::exact_density;
  options.proxy_anchor_alpha = o.proxy_anchor_alpha;
  options.proxy_anchor_delta = o.proxy_anchor_delta;
  const at::Tensor labels = in.labels.scalar_type() == at::kLong ? in.labels
                                                                 : in.labels.to(at::kLong);
  pdml_python::gpu::LossForward result;
  {
    py::gil_scoped_release release;
    result = pdml_python::gpu::el_nivmf_forward(in.embeddings, labels, in.proxies, in.kappas,
                                                temperature, options, seed, offset, in.samples);
  }
  return py::make_tuple(result.loss, result.state, result.status);
}

/// Backward of el_nivmf_forward_cuda: (grad_embeddings, grad_proxies, grad_kappas,
/// grad_temperature (0-d, on the device), grad_samples or None).
py::tuple el_nivmf_backward_cuda(const pdml_python::gpu::State& state, at::Tensor grad_loss,
                                 bool want_samples) {
  const std::string fn = "el_nivmf_loss backward";
  if (!grad_loss.defined() || grad_loss.numel() != 1) fail(fn, "grad_loss", "must have one element");
  if (!grad_loss.is_cuda()) fail(fn, "grad_loss", "must be a CUDA tensor");
  std::vector<at::Tensor> g;
  {
    py::gil_scoped_release release;
    g = pdml_python::gpu::el_nivmf_backward(state, grad_loss.reshape({}), want_samples);
  }
  py::object samples_grad = g[4].defined() ? py::cast(g[4]) : py::none();
  return py::make_tuple(g[0], g[1], g[2], g[3], samples_grad);
}
#endif

py::tuple el_nivmf_forward(at::Tensor embeddings, at::Tensor labels, at::Tensor proxies,
                           at::Tensor kappas, double temperature, LossOptions options,
                           std::uint64_t seed, std::uint64_t offset,
                           c10::optional<at::Tensor> samples) {
  LossInputs in{embeddings, labels, proxies, kappas, samples ? *samples : at::Tensor()};
  check_loss_inputs(in);
#ifdef PDML_WITH_CUDA
  if (embeddings.is_cuda()) return el_nivmf_forward_cuda(in, temperature, options, seed, offset);
#endif
  if (embeddings.scalar_type() == at::kDouble) {
    return loss_forward_typed<double>(in, temperature, options, seed, offset);
  }
  return loss_forward_typed<float>(in, temperature, options, seed, offset);
}

/// Returns (grad_embeddings, grad_proxies, grad_kappas, grad_temperature, grad_samples or None).
template <class T>
py::tuple el_nivmf_backward(const LossState<T>& state, at::Tensor grad_loss, bool want_samples) {
  const auto& saved = state.saved;
  const auto& o = state.tensor_options;
  const int64_t rows = static_cast<int64_t>(saved.batch) * state.loss.options().n_samples;
  at::Tensor ge = at::empty({saved.batch, saved.dim}, o);
  at::Tensor gp = at::empty({saved.classes, saved.dim}, o);
  at::Tensor gk = at::empty({saved.classes, saved.dim}, o);
  at::Tensor gs = want_samples ? at::empty({rows, saved.dim}, o) : at::Tensor();
  const bool per_sample = state.loss.options().reduction == pdml::Reduction::none;
  check_tensor("el_nivmf_loss backward", "grad_loss", grad_loss, per_sample ? 1 : 0,
               c10::CppTypeToScalarType<T>::value);
  if (per_sample && grad_loss.size(0) != saved.batch) {
    fail("el_nivmf_loss backward", "grad_loss", "must have one entry per embedding");
  }
  T grad_temperature = 0;
  {
    py::gil_scoped_release release;
    auto gs_view = want_samples ? mview<T>(gs) : pdml::MatrixView<T>{nullptr, 0, 0, 0};
    if (state.loss.options().reduction == pdml::Reduction::none) {
      // grad_loss: the upstream gradient of each per-sample loss (B, contiguous).
      const pdml::ConstMatrixView<T> per_sample{grad_loss.data_ptr<T>(), saved.batch, 1, 1};
      state.loss.backward_per_sample(saved, per_sample, mview<T>(ge), mview<T>(gp), mview<T>(gk),
                                     &grad_temperature, want_samples ? &gs_view : nullptr);
    } else {
      state.loss.backward(saved, grad_loss.item<T>(), mview<T>(ge), mview<T>(gp), mview<T>(gk),
                          &grad_temperature, want_samples ? &gs_view : nullptr);
    }
  }
  py::object samples_grad = want_samples ? py::cast(gs) : py::none();
  return py::make_tuple(ge, gp, gk, at::scalar_tensor(static_cast<double>(grad_temperature), o),
                        samples_grad);
}

/// Wall and CPU seconds per forward+backward step of the C++ criterion, timed inside C++
/// (no Python between steps): the reference the Python module is compared with.
/// (wall seconds, process CPU seconds) per step.
using StepTimes = std::pair<double, double>;

template <class T>
StepTimes time_step_typed(const LossInputs& in, double temperature, const LossOptions& o,
                       int steps) {
  const pdml::ElNivmfLoss<T> loss(convert<T>(o));
  typename pdml::ElNivmfLoss<T>::Saved saved;
  const auto b = in.embeddings.size(0), d = in.embeddings.size(1), c = in.proxies.size(0);
  pdml::RowMajorMatrix<T> ge(b, d), gp(c, d), gk(c, d);
  T gt = 0;
  const pdml::Labels labels = labels_of("el_nivmf_time_step", in.labels, in.embeddings.size(0));
  py::gil_scoped_release release;
  auto step = [&](std::uint64_t offset) {
    loss.forward(cview<T>(in.embeddings), labels, cview<T>(in.proxies), cview<T>(in.kappas),
                 static_cast<T>(temperature), pdml::RngKey{7, offset}, saved);
    loss.backward(saved, T(1), pdml::view_of<T>(ge), pdml::view_of<T>(gp), pdml::view_of<T>(gk),
                  &gt);
  };
  step(0);  // sizes every buffer of Saved
  std::timespec cpu_start{}, cpu_end{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_start);
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) step(static_cast<std::uint64_t>(s + 1));
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_end);
  const double cpu = double(cpu_end.tv_sec - cpu_start.tv_sec) +
                     1e-9 * double(cpu_end.tv_nsec - cpu_start.tv_nsec);
  return {elapsed.count() / steps, cpu / steps};
}

StepTimes el_nivmf_time_step(at::Tensor embeddings, at::Tensor labels, at::Tensor proxies,
                          at::Tensor kappas, double temperature, LossOptions options, int steps) {
  LossInputs in{embeddings, labels, proxies, kappas, at::Tensor()};
  check_loss_inputs(in);
  if (steps < 1) throw std::invalid_argument("pdml.el_nivmf_time_step: argument 'steps' must be >= 1");
  if (embeddings.scalar_type() == at::kDouble) {
    return time_step_typed<double>(in, temperature, options, steps);
  }
  return time_step_typed<float>(in, temperature, options, steps);
}

int64_t warm_start(at::Tensor embeddings, at::Tensor labels, double initial_kappa, at::Tensor proxies,
                   at::Tensor kappas, c10::optional<std::int64_t> ignore_label) {
  const std::string fn = "ElNivmfLoss.warm_start";
  check_float(fn, "embeddings", embeddings, 2);
  const auto dtype = embeddings.scalar_type();
  check_tensor(fn, "proxies", proxies, 2, dtype);
  check_tensor(fn, "kappas", kappas, 2, dtype);
  if (!proxies.is_contiguous()) fail(fn, "proxies", "must be contiguous");
  if (!kappas.is_contiguous()) fail(fn, "kappas", "must be contiguous");
  const pdml::Labels l = labels_of(fn, labels, embeddings.size(0));
  std::optional<std::int64_t> ignore;
  if (ignore_label) ignore = *ignore_label;
  if (dtype == at::kDouble) {
    return pdml::warm_start_proxies<double>(cview<double>(embeddings), l, initial_kappa,
                                            mview<double>(proxies), mview<double>(kappas),
                                            ignore);
  }
  return pdml::warm_start_proxies<float>(cview<float>(embeddings), l, static_cast<float>(initial_kappa),
                                         mview<float>(proxies), mview<float>(kappas), ignore);
}

// ------------------------------------------------------------ elementwise special functions

/// f(a, x) elementwise over two contiguous tensors of one shape and dtype. For the
/// dimension-indexed functions `a` holds the dimension p (an integer >= 2).
at::Tensor special(int which, at::Tensor a, at::Tensor x) {
  const std::string fn = "special";
  const Place place = first_of(fn, "x", x, x.dim());
  check_tensor(fn, "v", a, a.dim(), x.scalar_type(), place);
  if (!a.sizes().equals(x.sizes())) fail(fn, "v", "must have the shape of x");
#ifdef PDML_WITH_CUDA
  if (x.is_cuda()) {
    if (which < 0 || which > static_cast<int>(pdml_python::Special::power_spherical_mean_resultant_derivative)) {
      fail(fn, "which", "is not a special function index");
    }
    py::gil_scoped_release release;
    return pdml_python::gpu::special(which, a, x);
  }
#endif
  const auto f = static_cast<pdml_python::Special>(which);
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  const int64_t n = x.numel();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pdml_special", [&] {
    const scalar_t* pa = a.data_ptr<scalar_t>();
    const scalar_t* px = x.data_ptr<scalar_t>();
    scalar_t* po = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) po[i] = pdml_python::special_value<scalar_t>(f, pa[i], px[i]);
  });
  return out;
}

#ifdef PDML_WITH_CUDA
// ------------------------------------------------------------------- CUDA glue helpers

template <class Tensors>
py::tuple tuple_of(const Tensors& tensors) {
  py::tuple out(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) out[i] = py::cast(tensors[i]);
  return out;
}

/// (samples, state) of a pdml::cuda sampler, run without the GIL.
template <class Run>
py::tuple sample_cuda(const Run& run) {
  pdml_python::gpu::SampleForward result;
  {
    py::gil_scoped_release release;
    result = run();
  }
  return py::make_tuple(result.samples, result.state);
}

std::vector<at::Tensor> log_prob_backward_cuda(int kind, const at::Tensor& first,
                                               const at::Tensor& second, const at::Tensor& points,
                                               const at::Tensor& grad) {
  py::gil_scoped_release release;
  return pdml_python::gpu::log_prob_backward(kind, first, second, points, grad);
}

/// The parameter gradients of a CUDA sampler's state from dL/d(samples).
std::vector<at::Tensor> sample_backward_cuda(const std::string& fn,
                                             const pdml_python::gpu::State& state,
                                             const at::Tensor& grad_samples) {
  first_of(fn, "grad_samples", grad_samples, 2);
  if (!grad_samples.is_cuda()) fail(fn, "grad_samples", "must be a CUDA tensor");
  py::gil_scoped_release release;
  return pdml_python::gpu::sample_backward(state, grad_samples);
}

/// (grad_samples, grad_proxies, grad_kappas, grad_temperature (0-d, on the device)).
py::tuple el_nivmf_similarity_backward_cuda(const pdml_python::gpu::State& state, at::Tensor grad) {
  const std::string fn = "el_nivmf_similarity backward";
  first_of(fn, "grad", grad, 2);
  if (!grad.is_cuda()) fail(fn, "grad", "must be a CUDA tensor");
  std::vector<at::Tensor> g;
  {
    py::gil_scoped_release release;
    g = pdml_python::gpu::el_nivmf_similarity_backward(state, grad);
  }
  return tuple_of(g);
}
#endif

// ------------------------------------------------------------------------ vMF

template <class T>
struct VmfSampleState {
  pdml::VmfSampleSaved<T> saved;
};

template <class T>
py::tuple vmf_sample_typed(const at::Tensor& eta, int n_samples, std::uint64_t seed,
                           std::uint64_t offset) {
  auto state = std::make_shared<VmfSampleState<T>>();
  at::Tensor samples = at::empty({eta.size(0) * n_samples, eta.size(1)}, eta.options());
  {
    py::gil_scoped_release release;
    pdml::vmf_sample<T>(cview<T>(eta), n_samples, pdml::RngKey{seed, offset}, mview<T>(samples),
                        &state->saved);
  }
  return py::make_tuple(samples, py::cast(state));
}

py::tuple vmf_sample(at::Tensor eta, int n_samples, std::uint64_t seed, std::uint64_t offset) {
  first_of("VonMisesFisher.rsample", "loc * concentration", eta, 2);
#ifdef PDML_WITH_CUDA
  if (eta.is_cuda()) return sample_cuda([&] {
    return pdml_python::gpu::vmf_sample(eta, n_samples, seed, offset);
  });
#endif
  if (eta.scalar_type() == at::kDouble) return vmf_sample_typed<double>(eta, n_samples, seed, offset);
  return vmf_sample_typed<float>(eta, n_samples, seed, offset);
}

template <class T>
at::Tensor vmf_sample_backward(const VmfSampleState<T>& state, at::Tensor grad_samples) {
  check_tensor("VonMisesFisher.rsample backward", "grad_samples", grad_samples, 2,
               c10::CppTypeToScalarType<T>::value);
  at::Tensor grad_eta = at::empty({state.saved.n_distributions, state.saved.dimension},
                                  grad_samples.options());
  py::gil_scoped_release release;
  pdml::vmf_sample_backward<T>(state.saved, cview<T>(grad_samples), mview<T>(grad_eta));
  return grad_eta;
}

at::Tensor vmf_log_prob(at::Tensor eta, at::Tensor points) {
  const std::string fn = "VonMisesFisher.log_prob";
  const Place place = first_of(fn, "loc * concentration", eta, 2);
  check_tensor(fn, "value", points, 2, eta.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (eta.is_cuda()) {
    py::gil_scoped_release release;
    return pdml_python::gpu::log_prob(0, eta, at::Tensor(), points);
  }
#endif
  at::Tensor out = at::empty({points.size(0), 1}, eta.options());
  AT_DISPATCH_FLOATING_TYPES(eta.scalar_type(), "vmf_log_prob", [&] {
    pdml::vmf_log_prob<scalar_t>(cview<scalar_t>(eta), cview<scalar_t>(points), mview<scalar_t>(out));
  });
  return out;
}

py::tuple vmf_log_prob_backward(at::Tensor eta, at::Tensor points, at::Tensor grad) {
  const std::string fn = "VonMisesFisher.log_prob backward";
  const Place place = first_of(fn, "eta", eta, 2);
  check_tensor(fn, "value", points, 2, eta.scalar_type(), place);
  check_tensor(fn, "grad", grad, 2, eta.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (eta.is_cuda()) {
    return tuple_of(log_prob_backward_cuda(0, eta, at::Tensor(), points, grad));
  }
#endif
  at::Tensor ge = at::empty_like(eta, at::MemoryFormat::Contiguous);
  at::Tensor gx = at::empty_like(points, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(eta.scalar_type(), "vmf_log_prob_backward", [&] {
    pdml::vmf_log_prob_backward<scalar_t>(cview<scalar_t>(eta), cview<scalar_t>(points),
                                          cview<scalar_t>(grad), mview<scalar_t>(ge),
                                          mview<scalar_t>(gx));
  });
  return py::make_tuple(ge, gx);
}

at::Tensor vmf_kl(at::Tensor eta1, at::Tensor eta2) {
  const std::string fn = "kl_divergence(VonMisesFisher, VonMisesFisher)";
  check_float(fn, "p", eta1, 2);
  check_tensor(fn, "q", eta2, 2, eta1.scalar_type());
  at::Tensor out = at::empty({eta1.size(0), 1}, eta1.options());
  AT_DISPATCH_FLOATING_TYPES(eta1.scalar_type(), "vmf_kl", [&] {
    pdml::vmf_kl<scalar_t>(cview<scalar_t>(eta1), cview<scalar_t>(eta2), mview<scalar_t>(out));
  });
  return out;
}

py::tuple vmf_kl_backward(at::Tensor eta1, at::Tensor eta2, at::Tensor grad) {
  const std::string fn = "kl_divergence(VonMisesFisher, VonMisesFisher) backward";
  check_float(fn, "p", eta1, 2);
  check_tensor(fn, "q", eta2, 2, eta1.scalar_type());
  check_tensor(fn, "grad", grad, 2, eta1.scalar_type());
  at::Tensor g1 = at::empty_like(eta1, at::MemoryFormat::Contiguous);
  at::Tensor g2 = at::empty_like(eta2, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(eta1.scalar_type(), "vmf_kl_backward", [&] {
    pdml::vmf_kl_backward<scalar_t>(cview<scalar_t>(eta1), cview<scalar_t>(eta2),
                                    cview<scalar_t>(grad), mview<scalar_t>(g1), mview<scalar_t>(g2));
  });
  return py::make_tuple(g1, g2);
}

// ---------------------------------------------------------------- Power Spherical

template <class T>
struct PowerSphericalSampleState {
  pdml::PowerSphericalSampleSaved<T> saved;
};

template <class T>
py::tuple ps_sample_typed(const at::Tensor& loc, const at::Tensor& conc, int n_samples,
                          std::uint64_t seed, std::uint64_t offset) {
  auto state = std::make_shared<PowerSphericalSampleState<T>>();
  at::Tensor samples = at::empty({loc.size(0) * n_samples, loc.size(1)}, loc.options());
  {
    py::gil_scoped_release release;
    pdml::power_spherical_sample<T>(cview<T>(loc), cview<T>(conc), n_samples,
                                    pdml::RngKey{seed, offset}, mview<T>(samples), &state->saved);
  }
  return py::make_tuple(samples, py::cast(state));
}

py::tuple ps_sample(at::Tensor loc, at::Tensor conc, int n_samples, std::uint64_t seed,
                    std::uint64_t offset) {
  const std::string fn = "PowerSpherical.rsample";
  const Place place = first_of(fn, "loc", loc, 2);
  check_tensor(fn, "concentration", conc, 2, loc.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (loc.is_cuda()) return sample_cuda([&] {
    return pdml_python::gpu::power_spherical_sample(loc, conc, n_samples, seed, offset);
  });
#endif
  if (loc.scalar_type() == at::kDouble) return ps_sample_typed<double>(loc, conc, n_samples, seed, offset);
  return ps_sample_typed<float>(loc, conc, n_samples, seed, offset);
}

template <class T>
py::tuple ps_sample_backward(const PowerSphericalSampleState<T>& state, at::Tensor grad_samples) {
  check_tensor("PowerSpherical.rsample backward", "grad_samples", grad_samples, 2,
               c10::CppTypeToScalarType<T>::value);
  at::Tensor gl = at::empty({state.saved.n_distributions, state.saved.dimension}, grad_samples.options());
  at::Tensor gc = at::empty({state.saved.n_distributions, 1}, grad_samples.options());
  {
    py::gil_scoped_release release;
    pdml::power_spherical_sample_backward<T>(state.saved, cview<T>(grad_samples), mview<T>(gl),
                                             mview<T>(gc));
  }
  return py::make_tuple(gl, gc);
}

at::Tensor ps_log_prob(at::Tensor loc, at::Tensor conc, at::Tensor points) {
  const std::string fn = "PowerSpherical.log_prob";
  const Place place = first_of(fn, "loc", loc, 2);
  check_tensor(fn, "concentration", conc, 2, loc.scalar_type(), place);
  check_tensor(fn, "value", points, 2, loc.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (loc.is_cuda()) {
    py::gil_scoped_release release;
    return pdml_python::gpu::log_prob(2, loc, conc, points);
  }
#endif
  at::Tensor out = at::empty({points.size(0), 1}, loc.options());
  AT_DISPATCH_FLOATING_TYPES(loc.scalar_type(), "ps_log_prob", [&] {
    pdml::power_spherical_log_prob<scalar_t>(cview<scalar_t>(loc), cview<scalar_t>(conc),
                                             cview<scalar_t>(points), mview<scalar_t>(out));
  });
  return out;
}

py::tuple ps_log_prob_backward(at::Tensor loc, at::Tensor conc, at::Tensor points, at::Tensor grad) {
  const std::string fn = "PowerSpherical.log_prob backward";
  const Place place = first_of(fn, "loc", loc, 2);
  check_tensor(fn, "concentration", conc, 2, loc.scalar_type(), place);
  check_tensor(fn, "value", points, 2, loc.scalar_type(), place);
  check_tensor(fn, "grad", grad, 2, loc.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (loc.is_cuda()) return tuple_of(log_prob_backward_cuda(2, loc, conc, points, grad));
#endif
  at::Tensor gl = at::empty_like(loc, at::MemoryFormat::Contiguous);
  at::Tensor gc = at::empty_like(conc, at::MemoryFormat::Contiguous);
  at::Tensor gx = at::empty_like(points, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(loc.scalar_type(), "ps_log_prob_backward", [&] {
    pdml::power_spherical_log_prob_backward<scalar_t>(
        cview<scalar_t>(loc), cview<scalar_t>(conc), cview<scalar_t>(points), cview<scalar_t>(grad),
        mview<scalar_t>(gl), mview<scalar_t>(gc), mview<scalar_t>(gx));
  });
  return py::make_tuple(gl, gc, gx);
}

// ------------------------------------------------------------------- nivMF

template <class T>
struct NivmfSampleState {
  pdml::NivmfSampleSaved<T> saved;
};

template <class T>
py::tuple nivmf_sample_typed(const at::Tensor& loc, const at::Tensor& conc, int n_samples,
                             std::uint64_t seed, std::uint64_t offset) {
  auto state = std::make_shared<NivmfSampleState<T>>();
  at::Tensor samples = at::empty({loc.size(0) * n_samples, loc.size(1)}, loc.options());
  {
    py::gil_scoped_release release;
    pdml::nivmf_sample<T>(cview<T>(loc), cview<T>(conc), n_samples, pdml::RngKey{seed, offset},
                          mview<T>(samples), &state->saved);
  }
  return py::make_tuple(samples, py::cast(state));
}

py::tuple nivmf_sample(at::Tensor loc, at::Tensor conc, int n_samples, std::uint64_t seed,
                       std::uint64_t offset) {
  const std::string fn = "NonIsotropicVonMisesFisher.rsample";
  const Place place = first_of(fn, "loc", loc, 2);
  check_tensor(fn, "concentrations", conc, 2, loc.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (loc.is_cuda()) return sample_cuda([&] {
    return pdml_python::gpu::nivmf_sample(loc, conc, n_samples, seed, offset);
  });
#endif
  if (loc.scalar_type() == at::kDouble) {
    return nivmf_sample_typed<double>(loc, conc, n_samples, seed, offset);
  }
  return nivmf_sample_typed<float>(loc, conc, n_samples, seed, offset);
}

template <class T>
py::tuple nivmf_sample_backward(const NivmfSampleState<T>& state, at::Tensor grad_samples) {
  check_tensor("NonIsotropicVonMisesFisher.rsample backward", "grad_samples", grad_samples, 2,
               c10::CppTypeToScalarType<T>::value);
  at::Tensor gl = at::empty({state.saved.n_distributions, state.saved.dimension}, grad_samples.options());
  at::Tensor gc = at::empty({state.saved.n_distributions, state.saved.dimension}, grad_samples.options());
  {
    py::gil_scoped_release release;
    pdml::nivmf_sample_backward<T>(state.saved, cview<T>(grad_samples), mview<T>(gl), mview<T>(gc));
  }
  return py::make_tuple(gl, gc);
}

at::Tensor nivmf_log_prob(at::Tensor loc, at::Tensor conc, at::Tensor points) {
  const std::string fn = "NonIsotropicVonMisesFisher.log_prob";
  const Place place = first_of(fn, "loc", loc, 2);
  check_tensor(fn, "concentrations", conc, 2, loc.scalar_type(), place);
  check_tensor(fn, "value", points, 2, loc.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (loc.is_cuda()) {
    py::gil_scoped_release release;
    return pdml_python::gpu::log_prob(1, loc, conc, points);
  }
#endif
  at::Tensor out = at::empty({points.size(0), 1}, loc.options());
  AT_DISPATCH_FLOATING_TYPES(loc.scalar_type(), "nivmf_log_prob", [&] {
    pdml::nivmf_log_prob<scalar_t>(cview<scalar_t>(loc), cview<scalar_t>(conc),
                                   cview<scalar_t>(points), mview<scalar_t>(out));
  });
  return out;
}

py::tuple nivmf_log_prob_backward(at::Tensor loc, at::Tensor conc, at::Tensor points, at::Tensor grad) {
  const std::string fn = "NonIsotropicVonMisesFisher.log_prob backward";
  const Place place = first_of(fn, "loc", loc, 2);
  check_tensor(fn, "concentrations", conc, 2, loc.scalar_type(), place);
  check_tensor(fn, "value", points, 2, loc.scalar_type(), place);
  check_tensor(fn, "grad", grad, 2, loc.scalar_type(), place);
#ifdef PDML_WITH_CUDA
  if (loc.is_cuda()) return tuple_of(log_prob_backward_cuda(1, loc, conc, points, grad));
#endif
  at::Tensor gl = at::empty_like(loc, at::MemoryFormat::Contiguous);
  at::Tensor gc = at::empty_like(conc, at::MemoryFormat::Contiguous);
  at::Tensor gx = at::empty_like(points, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(loc.scalar_type(), "nivmf_log_prob_backward", [&] {
    pdml::nivmf_log_prob_backward<scalar_t>(cview<scalar_t>(loc), cview<scalar_t>(conc),
                                            cview<scalar_t>(points), cview<scalar_t>(grad),
                                            mview<scalar_t>(gl), mview<scalar_t>(gc),
                                            mview<scalar_t>(gx));
  });
  return py::make_tuple(gl, gc, gx);
}

// ------------------------------------------------------------------ evaluation

pdml::RetrievalOptions retrieval_options(const std::string& fn, const std::vector<int64_t>& ks,
                                         const std::string& distance) {
  pdml::RetrievalOptions options;
  if (distance == "cosine") {
    options.distance = pdml::Distance::cosine;
  } else if (distance == "euclidean") {
    options.distance = pdml::Distance::euclidean;
  } else {
    fail(fn, "distance", "must be \"cosine\" or \"euclidean\"");
  }
  options.recall_ks.assign(ks.begin(), ks.end());
  return options;
}

template <class T>
void store_metrics(py::dict& out, const pdml::RetrievalMetrics& metrics, double nmi, double auroc) {
  for (std::size_t i = 0; i < metrics.recall_ks.size(); ++i) {
    out[py::str("recall@" + std::to_string(metrics.recall_ks[i]))] = metrics.recall_at_k[i];
  }
  out["map_at_r"] = metrics.map_at_r;
  out["nmi"] = nmi;
  out["norm_auroc"] = auroc;
}

/// Leave-one-out mode: every row against all the others.
py::dict evaluate_retrieval(at::Tensor embeddings, at::Tensor labels, std::vector<int64_t> ks,
                            std::string distance, std::uint64_t seed) {
  const std::string fn = "evaluate_retrieval";
  check_float(fn, "embeddings", embeddings, 2);
  const pdml::Labels l = labels_of(fn, labels, embeddings.size(0));
  const pdml::RetrievalOptions options = retrieval_options(fn, ks, distance);
  pdml::KMeansOptions kmeans;
  kmeans.seed = seed;
  py::dict out;
  AT_DISPATCH_FLOATING_TYPES(embeddings.scalar_type(), "evaluate_retrieval", [&] {
    const auto view = cview<scalar_t>(embeddings);
    pdml::RetrievalMetrics metrics;
    double nmi = 0, auroc = 0;
    {
      py::gil_scoped_release release;
      metrics = pdml::evaluate_retrieval<scalar_t>(view, l, options);
      nmi = pdml::clustering_nmi<scalar_t>(view, l, options.distance, kmeans);
      auroc = pdml::norm_uncertainty_auroc<scalar_t>(view, metrics.nearest_is_correct);
    }
    store_metrics<scalar_t>(out, metrics, nmi, auroc);
  });
  return out;
}

/// Query / gallery mode: every query row against every gallery row. NMI clusters the
/// union of both sets (`everything`, `everything_labels`: queries then gallery); the
/// norm AUROC is over the queries.
py::dict evaluate_retrieval_gallery(at::Tensor queries, at::Tensor query_labels, at::Tensor gallery,
                                    at::Tensor gallery_labels, at::Tensor everything,
                                    at::Tensor everything_labels, std::vector<int64_t> ks,
                                    std::string distance, std::uint64_t seed) {
  const std::string fn = "evaluate_retrieval";
  check_float(fn, "embeddings", queries, 2);
  check_tensor(fn, "gallery", gallery, 2, queries.scalar_type());
  check_tensor(fn, "embeddings", everything, 2, queries.scalar_type());
  const pdml::Labels ql = labels_of(fn, query_labels, queries.size(0));
  const pdml::Labels gl = labels_of(fn, gallery_labels, gallery.size(0), "gallery_labels");
  const pdml::Labels al = labels_of(fn, everything_labels, everything.size(0));
  const pdml::RetrievalOptions options = retrieval_options(fn, ks, distance);
  pdml::KMeansOptions kmeans;
  kmeans.seed = seed;
  py::dict out;
  AT_DISPATCH_FLOATING_TYPES(queries.scalar_type(), "evaluate_retrieval_gallery", [&] {
    const auto q = cview<scalar_t>(queries);
    pdml::RetrievalMetrics metrics;
    double nmi = 0, auroc = 0;
    {
      py::gil_scoped_release release;
      metrics = pdml::evaluate_retrieval<scalar_t>(q, ql, cview<scalar_t>(gallery), gl, options);
      nmi = pdml::clustering_nmi<scalar_t>(cview<scalar_t>(everything), al, options.distance,
                                           kmeans);
      auroc = pdml::norm_uncertainty_auroc<scalar_t>(q, metrics.nearest_is_correct);
    }
    store_metrics<scalar_t>(out, metrics, nmi, auroc);
  });
  return out;
}

// ---------------------------------------------------------- EL-nivMF similarity

template <class T>
struct SimilarityState {
  pdml::ElNivmfSimilaritySaved<T> saved;
  at::TensorOptions tensor_options;
};

py::tuple el_nivmf_similarity_forward(at::Tensor samples, int n_samples, at::Tensor proxies,
                                      at::Tensor kappas, double min_kappa, double temperature,
                                      std::string scoring) {
  const std::string fn = "el_nivmf_similarity";
  const Place place = first_of(fn, "samples", samples, 2);
  check_tensor(fn, "proxies", proxies, 2, samples.scalar_type(), place);
  check_tensor(fn, "kappas", kappas, 2, samples.scalar_type(), place);
  const pdml::NivmfScoring rule = scoring_of(scoring);
  if (n_samples < 1) fail(fn, "n_samples", "must be >= 1");
  if (samples.size(0) % n_samples != 0) {
    fail(fn, "samples", "must have n_samples x B rows (a multiple of n_samples)");
  }
#ifdef PDML_WITH_CUDA
  if (samples.is_cuda()) {
    pdml_python::gpu::SimilarityForward result;
    {
      py::gil_scoped_release release;
      result = pdml_python::gpu::el_nivmf_similarity_forward(
          samples, n_samples, proxies, kappas, min_kappa, temperature,
          rule == pdml::NivmfScoring::exact_density);
    }
    return py::make_tuple(result.similarities, result.state);
  }
#endif
  at::Tensor out = at::empty({samples.size(0) / n_samples, proxies.size(0)}, samples.options());
  py::object state_object;
  AT_DISPATCH_FLOATING_TYPES(samples.scalar_type(), "el_nivmf_similarity", [&] {
    auto state = std::make_shared<SimilarityState<scalar_t>>();
    state->tensor_options = samples.options();
    {
      py::gil_scoped_release release;
      pdml::el_nivmf_similarity_forward<scalar_t>(
          cview<scalar_t>(samples), n_samples, cview<scalar_t>(proxies), cview<scalar_t>(kappas),
          static_cast<scalar_t>(min_kappa), static_cast<scalar_t>(temperature), rule,
          mview<scalar_t>(out), state->saved);
    }
    state_object = py::cast(state);
  });
  return py::make_tuple(out, state_object);
}

/// (grad_samples, grad_proxies, grad_kappas, grad_temperature).
template <class T>
py::tuple el_nivmf_similarity_backward(const SimilarityState<T>& state, at::Tensor grad) {
  const auto& saved = state.saved;
  check_tensor("el_nivmf_similarity backward", "grad", grad, 2, c10::CppTypeToScalarType<T>::value);
  const int64_t rows = saved.scratch_pairs.rows(), classes = saved.scratch_pairs.cols();
  const int64_t d = saved.scores.directions.cols();
  const auto& o = state.tensor_options;
  at::Tensor gs = at::empty({rows, d}, o), gp = at::empty({classes, d}, o),
             gk = at::empty({classes, d}, o);
  T gt = 0;
  {
    py::gil_scoped_release release;
    pdml::el_nivmf_similarity_backward<T>(saved, cview<T>(grad), mview<T>(gs), mview<T>(gp),
                                          mview<T>(gk), &gt);
  }
  return py::make_tuple(gs, gp, gk, at::scalar_tensor(static_cast<double>(gt), o));
}

// -------------------------------------------- sharded criterion (torch.distributed)

/// pdml's communicator concept on Python callables: all_reduce_max(t) and all_reduce_sum(t)
/// reduce a 1-D CPU tensor in place across the process group (the Python side calls
/// torch.distributed.all_reduce). The tensor wraps pdml's own buffer, so nothing is copied
/// here. Called with the GIL held (the sharded calls do not release it).
struct PythonCommunicator {
  py::function max_fn;
  py::function sum_fn;
  template <class T>
  void all_reduce_max(T* data, std::size_t count) { call(max_fn, data, count); }
  template <class T>
  void all_reduce_sum(T* data, std::size_t count) { call(sum_fn, data, count); }

 private:
  template <class T>
  static void call(const py::function& fn, T* data, std::size_t count) {
    at::Tensor buffer = at::from_blob(data, {static_cast<int64_t>(count)},
                                      at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
    fn(buffer);
  }
};

template <class T>
struct ShardedState {
  explicit ShardedState(const typename pdml::ShardedElNivmfLoss<T>::Options& options)
      : loss(options) {}
  pdml::ShardedElNivmfLoss<T> loss;
  typename pdml::ShardedElNivmfLoss<T>::Saved saved;
  at::Tensor proxies, kappas;  ///< the forward's, for the backward's recomputation
  at::TensorOptions tensor_options;
};

template <class T>
py::tuple sharded_forward_typed(const LossInputs& in, double temperature, const LossOptions& o,
                                int64_t block_classes, pdml::ClassShard shard, std::uint64_t seed,
                                std::uint64_t offset, PythonCommunicator& communicator) {
  typename pdml::ShardedElNivmfLoss<T>::Options options;
  options.criterion = convert<T>(o);
  options.block_classes = block_classes;
  auto state = std::make_shared<ShardedState<T>>(options);
  state->proxies = in.proxies;
  state->kappas = in.kappas;
  state->tensor_options = in.embeddings.options();
  const T value = state->loss.forward(cview<T>(in.embeddings), in.labels.data_ptr<std::int64_t>(),
                                      cview<T>(in.proxies), cview<T>(in.kappas),
                                      static_cast<T>(temperature), pdml::RngKey{seed, offset},
                                      shard, communicator, state->saved);
  return py::make_tuple(at::scalar_tensor(static_cast<double>(value), in.embeddings.options()),
                        py::cast(state));
}

py::tuple sharded_el_nivmf_forward(at::Tensor embeddings, at::Tensor labels, at::Tensor proxies,
                                   at::Tensor kappas, double temperature, LossOptions options,
                                   int64_t block_classes, int64_t first, int64_t end,
                                   int64_t total, std::uint64_t seed, std::uint64_t offset,
                                   py::function all_reduce_max, py::function all_reduce_sum) {
  const std::string fn = "distributed.ShardedElNivmfLoss";
  LossInputs in{embeddings, labels, proxies, kappas, at::Tensor()};
  check_float(fn, "embeddings", embeddings, 2);
  check_tensor(fn, "proxies", proxies, 2, embeddings.scalar_type());
  check_tensor(fn, "kappas", kappas, 2, embeddings.scalar_type());
  check_tensor(fn, "labels", labels, 1, at::kLong);
  if (labels.size(0) != embeddings.size(0)) fail(fn, "labels", "must have one entry per embedding");
  PythonCommunicator communicator{std::move(all_reduce_max), std::move(all_reduce_sum)};
  const pdml::ClassShard shard{first, end, total};
  if (embeddings.scalar_type() == at::kDouble) {
    return sharded_forward_typed<double>(in, temperature, options, block_classes, shard, seed,
                                         offset, communicator);
  }
  return sharded_forward_typed<float>(in, temperature, options, block_classes, shard, seed, offset,
                                      communicator);
}

/// (grad_embeddings (summed over shards), grad_proxies, grad_kappas (local rows),
/// grad_temperature (summed over shards)).
template <class T>
py::tuple sharded_el_nivmf_backward(const ShardedState<T>& state, double grad_loss,
                                    py::function all_reduce_max, py::function all_reduce_sum) {
  const auto& saved = state.saved;
  const auto& o = state.tensor_options;
  const int64_t n_local = saved.shard.size();
  at::Tensor ge = at::empty({saved.batch, saved.dim}, o);
  at::Tensor gp = at::empty({n_local, saved.dim}, o);
  at::Tensor gk = at::empty({n_local, saved.dim}, o);
  T gt = 0;
  PythonCommunicator communicator{std::move(all_reduce_max), std::move(all_reduce_sum)};
  state.loss.backward(saved, static_cast<T>(grad_loss), cview<T>(state.proxies),
                      cview<T>(state.kappas), mview<T>(ge), mview<T>(gp), mview<T>(gk), &gt,
                      communicator);
  return py::make_tuple(ge, gp, gk, at::scalar_tensor(static_cast<double>(gt), o));
}

template <class T>
void bind_states(py::module_& m, const std::string& suffix) {
  py::class_<LossState<T>, std::shared_ptr<LossState<T>>>(m, ("ElNivmfState_" + suffix).c_str());
  py::class_<VmfSampleState<T>, std::shared_ptr<VmfSampleState<T>>>(
      m, ("VmfSampleState_" + suffix).c_str());
  py::class_<PowerSphericalSampleState<T>, std::shared_ptr<PowerSphericalSampleState<T>>>(
      m, ("PowerSphericalSampleState_" + suffix).c_str());
  py::class_<NivmfSampleState<T>, std::shared_ptr<NivmfSampleState<T>>>(
      m, ("NivmfSampleState_" + suffix).c_str());
  py::class_<SimilarityState<T>, std::shared_ptr<SimilarityState<T>>>(
      m, ("ElNivmfSimilarityState_" + suffix).c_str());
  py::class_<ShardedState<T>, std::shared_ptr<ShardedState<T>>>(
      m, ("ShardedElNivmfState_" + suffix).c_str());
  m.def("el_nivmf_backward", &el_nivmf_backward<T>, py::arg("state"), py::arg("grad_loss"),
        py::arg("want_samples"));
  m.def("el_nivmf_similarity_backward", &el_nivmf_similarity_backward<T>);
  m.def("sharded_el_nivmf_backward", &sharded_el_nivmf_backward<T>);
  m.def("vmf_sample_backward", &vmf_sample_backward<T>);
  m.def("power_spherical_sample_backward", &ps_sample_backward<T>);
  m.def("nivmf_sample_backward", &nivmf_sample_backward<T>);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "pdml C++ kernels (use the pdml package, not this module)";
  py::class_<LossOptions>(m, "LossOptions")
      .def(py::init<int, double, double, std::string, double, double, std::string,
                    c10::optional<std::int64_t>>(),
           py::arg("n_samples"), py::arg("guidance_weight"), py::arg("min_kappa"),
           py::arg("scoring"), py::arg("proxy_anchor_alpha"), py::arg("proxy_anchor_delta"),
           py::arg("reduction") = "mean", py::arg("ignore_label") = py::none());
  m.def("validate_loss_options", [](const LossOptions& o) {
    const pdml::ElNivmfLoss<double> loss(convert<double>(o));  // throws on bad options
    (void)loss;
  });
  m.def("el_nivmf_forward", &el_nivmf_forward, py::arg("embeddings"), py::arg("labels"),
        py::arg("proxies"), py::arg("kappas"), py::arg("temperature"), py::arg("options"),
        py::arg("seed"), py::arg("offset"), py::arg("samples") = py::none());
  m.def("el_nivmf_time_step", &el_nivmf_time_step);
  m.def("warm_start", &warm_start, py::arg("embeddings"), py::arg("labels"),
        py::arg("initial_kappa"), py::arg("proxies"), py::arg("kappas"),
        py::arg("ignore_label") = py::none());
  m.def("special", &special);
  m.def("vmf_sample", &vmf_sample);
  m.def("vmf_log_prob", &vmf_log_prob);
  m.def("vmf_log_prob_backward", &vmf_log_prob_backward);
  m.def("vmf_kl", &vmf_kl);
  m.def("vmf_kl_backward", &vmf_kl_backward);
  m.def("power_spherical_sample", &ps_sample);
  m.def("power_spherical_log_prob", &ps_log_prob);
  m.def("power_spherical_log_prob_backward", &ps_log_prob_backward);
  m.def("nivmf_sample", &nivmf_sample);
  m.def("nivmf_log_prob", &nivmf_log_prob);
  m.def("nivmf_log_prob_backward", &nivmf_log_prob_backward);
  m.def("evaluate_retrieval", &evaluate_retrieval);
  m.def("evaluate_retrieval_gallery", &evaluate_retrieval_gallery);
  m.def("el_nivmf_similarity_forward", &el_nivmf_similarity_forward);
  m.def("sharded_el_nivmf_forward", &sharded_el_nivmf_forward);
  m.def("validate_sharded_options", [](const LossOptions& o, int64_t block_classes) {
    typename pdml::ShardedElNivmfLoss<double>::Options options;
    options.criterion = convert<double>(o);
    options.block_classes = block_classes;
    const pdml::ShardedElNivmfLoss<double> loss(options);  // throws on bad options
    (void)loss;
  });
  bind_states<float>(m, "float");
  bind_states<double>(m, "double");
#ifdef PDML_WITH_CUDA
  m.def("has_cuda", [] { return true; });
  // Overloads taking a CUDA state, tried after the CPU states' (pybind11 picks the first
  // overload whose argument types match).
  py::class_<pdml_python::gpu::State, std::shared_ptr<pdml_python::gpu::State>>(m, "CudaState");
  m.def("el_nivmf_backward", &el_nivmf_backward_cuda, py::arg("state"), py::arg("grad_loss"),
        py::arg("want_samples"));
  m.def("el_nivmf_similarity_backward", &el_nivmf_similarity_backward_cuda);
  m.def("vmf_sample_backward", [](const pdml_python::gpu::State& state, at::Tensor grad) {
    return sample_backward_cuda("VonMisesFisher.rsample backward", state, grad).at(0);
  });
  m.def("power_spherical_sample_backward", [](const pdml_python::gpu::State& state,
                                              at::Tensor grad) {
    return tuple_of(sample_backward_cuda("PowerSpherical.rsample backward", state, grad));
  });
  m.def("nivmf_sample_backward", [](const pdml_python::gpu::State& state, at::Tensor grad) {
    return tuple_of(
        sample_backward_cuda("NonIsotropicVonMisesFisher.rsample backward", state, grad));
  });
#else
  m.def("has_cuda", [] { return false; });
#endif
  py::register_exception<pdml::VmfSampleCapReached>(m, "SampleCapReached", PyExc_RuntimeError);
}
