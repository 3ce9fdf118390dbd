// SPDX-License-Identifier: MIT
#pragma once
// KL-vMF similarity (isotropic proxies): the negative exact KL divergence from the image
// vMF (natural parameter e_i) to the proxy vMF (natural parameter kappa_c nu_c),
//   sim(i, c) = -KL(vMF_i || vMF_c) / T,
//   KL = log C(kappa_i) - log C(kappa_c) + A(kappa_i) (kappa_i - kappa_c nu_c^T mu_i).
// (The reference implementation uses +KL without A(kappa_i): a bug.)
// The per-pair formula and its gradient: distributions/vmf.hpp (vmf_kl).

#include "pdml/core/gradient_mode.hpp"
#include "pdml/distributions/vmf.hpp"
#include "pdml/similarities/detail/isotropic_proxies.hpp"

namespace pdml {

template <class T>
using KlSimilaritySaved = IsotropicProxySaved<T>;

namespace detail {

template <class T>
struct KlPair {
  int dim;
  T value(const T* e, const T* m) const { return vmf_kl(dim, e, m); }
  void backward(const T* e, const T* m, T grad, T* grad_e, T* grad_m) const {
    vmf_kl_backward(dim, e, m, grad, grad_e, grad_m);
  }
};

}  // namespace detail

/// Similarities (B x C) of image vMFs (embeddings = natural parameters, B x D) to isotropic
/// proxies (proxies C x D, kappas C x 1 clamped at min_kappa). Throws
/// std::invalid_argument (naming the argument) before writing anything.
template <class T>
void kl_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> embeddings,
                           ConstMatrixView<detail::NonDeduced<T>> proxies,
                           ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                           T temperature, MatrixView<T> similarities, KlSimilaritySaved<T>& saved) {
  detail::check_isotropic_inputs("pdml::kl_similarity_forward", embeddings, proxies, kappas,
                                 min_kappa, temperature, similarities);
  detail::check_isotropic_reach("pdml::kl_similarity_forward", embeddings, kappas, min_kappa);
  const detail::KlPair<T> pair{static_cast<int>(embeddings.cols)};
  detail::isotropic_forward(pair, T(-1), embeddings, proxies, kappas, min_kappa, temperature,
                            similarities, saved);
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas (C x 1, zero where
/// clamped) and *grad_temperature (unless null).
template <class T>
void kl_similarity_backward(const KlSimilaritySaved<T>& saved,
                            ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                            MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                            MatrixView<T> grad_kappas, detail::NonDeduced<T>* grad_temperature) {
  detail::check_isotropic_backward("pdml::kl_similarity_backward", saved, grad_similarities,
                                   grad_embeddings, grad_proxies, grad_kappas);
  const detail::KlPair<T> pair{static_cast<int>(saved.embeddings.cols())};
  detail::isotropic_backward(pair, saved, grad_similarities, grad_embeddings, grad_proxies,
                             grad_kappas, grad_temperature);
}

/// kl_similarity_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void kl_similarity_backward(const KlSimilaritySaved<T>& saved,
                            ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                            MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                            MatrixView<T> grad_kappas, detail::NonDeduced<T>* grad_temperature,
                            GradientMode mode) {
  detail::backward_with_mode<T>("pdml::kl_similarity_backward", mode,
                                {{"grad_embeddings", grad_embeddings},
                                 {"grad_proxies", grad_proxies},
                                 {"grad_kappas", grad_kappas}},
                                grad_temperature, [&] {
                                  kl_similarity_backward(saved, grad_similarities, grad_embeddings,
                                                         grad_proxies, grad_kappas,
                                                         grad_temperature);
                                });
}

}  // namespace pdml
