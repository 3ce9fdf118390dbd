// SPDX-License-Identifier: MIT
#pragma once
// LibTorch adapter: pdml's EL-nivMF criterion as a torch::autograd::Function, so a
// LibTorch model trains with it like with any built-in loss.
//
//   auto loss = pdml_torch::el_nivmf_loss(embeddings, labels, proxies, kappas, temperature,
//                                         options, pdml::RngKey{seed, step});
//   loss.backward();   // gradients reach embeddings, proxies, kappas and temperature
//
// Tensors: embeddings B x D, proxies and kappas C x D (float32 or float64, one dtype),
// labels int64 of length B, temperature a scalar tensor. CPU tensors only: Debian's
// LibTorch is a CPU build; with a CUDA LibTorch the same Function would dispatch to
// pdml::cuda::ElNivmfLoss on device tensors.
//
// The pdml Saved state of the forward lives in a custom-class holder inside the autograd
// context, so the backward reuses the forward's samples and weights (nothing recomputed).

#include <cstdint>
#include <stdexcept>
#include <string>

#include <torch/custom_class.h>
#include <torch/torch.h>

#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/random/philox.hpp>

namespace pdml_torch {

namespace detail {

template <class T>
struct SavedHolder : torch::CustomClassHolder {
  typename pdml::ElNivmfLoss<T>::Options options;
  typename pdml::ElNivmfLoss<T>::Saved saved;
};

// torch::class_ registration makes the holder storable in an IValue (ctx->saved_data).
inline void register_holders() {
  static const bool registered = [] {
    torch::class_<SavedHolder<float>>("pdml_torch", "ElNivmfSavedFloat");
    torch::class_<SavedHolder<double>>("pdml_torch", "ElNivmfSavedDouble");
    return true;
  }();
  (void)registered;
}

template <class T>
pdml::ConstMatrixView<T> const_view(const torch::Tensor& t) {
  return pdml::ConstMatrixView<T>{t.data_ptr<T>(), t.size(0), t.size(1), t.stride(0)};
}

template <class T>
pdml::MatrixView<T> view(torch::Tensor& t) {
  return pdml::MatrixView<T>{t.data_ptr<T>(), t.size(0), t.size(1), t.stride(0)};
}

inline torch::Tensor matrix(const torch::Tensor& t, const char* name, torch::ScalarType dtype) {
  if (t.dim() != 2) {
    throw std::invalid_argument(std::string("pdml_torch::el_nivmf_loss: argument '") + name +
                                "' must be a 2-D tensor");
  }
  if (!t.device().is_cpu()) {
    throw std::invalid_argument(std::string("pdml_torch::el_nivmf_loss: argument '") + name +
                                "' must be a CPU tensor (this LibTorch build has no CUDA)");
  }
  if (t.scalar_type() != dtype) {
    throw std::invalid_argument(std::string("pdml_torch::el_nivmf_loss: argument '") + name +
                                "' must have the dtype of 'embeddings'");
  }
  return t.contiguous();
}

}  // namespace detail

/// The autograd Function. Prefer the el_nivmf_loss() helper below.
template <class T>
struct ElNivmfFunction : torch::autograd::Function<ElNivmfFunction<T>> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor embeddings,
                               torch::Tensor labels, torch::Tensor proxies, torch::Tensor kappas,
                               torch::Tensor temperature,
                               typename pdml::ElNivmfLoss<T>::Options options,
                               pdml::RngKey rng) {
    detail::register_holders();
    auto holder = c10::make_intrusive<detail::SavedHolder<T>>();
    holder->options = options;
    const pdml::ElNivmfLoss<T> loss(options);
    const T value = loss.forward(detail::const_view<T>(embeddings), labels.data_ptr<std::int64_t>(),
                                 detail::const_view<T>(proxies), detail::const_view<T>(kappas),
                                 temperature.item<T>(), rng, holder->saved);
    ctx->saved_data["pdml"] = c10::IValue(holder);
    ctx->saved_data["shapes"] =
        std::vector<int64_t>{embeddings.size(0), proxies.size(0), embeddings.size(1)};
    return torch::tensor(value, embeddings.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto holder = ctx->saved_data["pdml"].toCustomClass<detail::SavedHolder<T>>();
    const auto shapes = ctx->saved_data["shapes"].toIntVector();
    const auto options = grad_outputs[0].options();
    auto grad_embeddings = torch::empty({shapes[0], shapes[2]}, options);
    auto grad_proxies = torch::empty({shapes[1], shapes[2]}, options);
    auto grad_kappas = torch::empty({shapes[1], shapes[2]}, options);
    T grad_temperature = 0;
    const pdml::ElNivmfLoss<T> loss(holder->options);
    loss.backward(holder->saved, grad_outputs[0].item<T>(), detail::view<T>(grad_embeddings),
                  detail::view<T>(grad_proxies), detail::view<T>(grad_kappas), &grad_temperature);
    return {grad_embeddings, torch::Tensor(), grad_proxies, grad_kappas,
            torch::tensor(grad_temperature, options), torch::Tensor(), torch::Tensor()};
  }
};

/// Options in double; converted to the tensors' dtype.
struct ElNivmfOptions {
  int n_samples = 5;
  double guidance_weight = 0;
  double proxy_anchor_alpha = 32;
  double proxy_anchor_delta = 0.1;
  double min_kappa = 0.1;
  pdml::NivmfScoring scoring = pdml::NivmfScoring::paper_rule;
};

namespace detail {
template <class T>
typename pdml::ElNivmfLoss<T>::Options convert(const ElNivmfOptions& options) {
  typename pdml::ElNivmfLoss<T>::Options o;
  o.n_samples = options.n_samples;
  o.guidance_weight = static_cast<T>(options.guidance_weight);
  o.proxy_anchor_alpha = static_cast<T>(options.proxy_anchor_alpha);
  o.proxy_anchor_delta = static_cast<T>(options.proxy_anchor_delta);
  o.min_kappa = static_cast<T>(options.min_kappa);
  o.scoring = options.scoring;
  return o;
}
}  // namespace detail

/// The EL-nivMF criterion (Proxy-NCA over EL-nivMF similarities + guidance_weight x
/// ProxyAnchor) as a differentiable scalar tensor.
inline torch::Tensor el_nivmf_loss(const torch::Tensor& embeddings, const torch::Tensor& labels,
                                   const torch::Tensor& proxies, const torch::Tensor& kappas,
                                   const torch::Tensor& temperature,
                                   const ElNivmfOptions& options, pdml::RngKey rng) {
  const auto dtype = embeddings.scalar_type();
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) {
    throw std::invalid_argument(
        "pdml_torch::el_nivmf_loss: argument 'embeddings' must be float32 or float64");
  }
  auto e = detail::matrix(embeddings, "embeddings", dtype);
  auto p = detail::matrix(proxies, "proxies", dtype);
  auto k = detail::matrix(kappas, "kappas", dtype);
  if (labels.dim() != 1 || labels.scalar_type() != torch::kInt64 || !labels.device().is_cpu()) {
    throw std::invalid_argument(
        "pdml_torch::el_nivmf_loss: argument 'labels' must be a 1-D int64 CPU tensor");
  }
  if (labels.size(0) != e.size(0)) {
    throw std::invalid_argument(
        "pdml_torch::el_nivmf_loss: argument 'labels' must have one entry per embedding");
  }
  if (temperature.numel() != 1 || temperature.scalar_type() != dtype) {
    throw std::invalid_argument(
        "pdml_torch::el_nivmf_loss: argument 'temperature' must be a one-element tensor of the "
        "embeddings' dtype");
  }
  auto l = labels.contiguous();
  auto t = temperature.reshape({});
  if (dtype == torch::kFloat64) {
    return ElNivmfFunction<double>::apply(e, l, p, k, t, detail::convert<double>(options), rng);
  }
  return ElNivmfFunction<float>::apply(e, l, p, k, t, detail::convert<float>(options), rng);
}

}  // namespace pdml_torch
