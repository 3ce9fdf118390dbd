// SPDX-License-Identifier: MIT
#pragma once
// EL-vMF and B-vMF similarities (closed form, isotropic proxies): the log probability
// product kernel of order rho between the image vMF (natural parameter e_i) and the proxy
// vMF (natural parameter kappa_c nu_c),
//   sim(i, c) = [rho (log C(kappa_i) + log C(kappa_c)) - log C(|rho (e_i + kappa_c nu_c)|)] / T,
// rho = 1: expected likelihood (EL-vMF); rho = 1/2: Bhattacharyya (B-vMF).
// The per-pair formula and its gradient: distributions/vmf.hpp (vmf_log_ppk).

#include "pdml/core/gradient_mode.hpp"
#include "pdml/distributions/vmf.hpp"
#include "pdml/similarities/detail/isotropic_proxies.hpp"

namespace pdml {

/// Order of the probability product kernel.
enum class PpkOrder {
  expected_likelihood,  ///< rho = 1
  bhattacharyya,        ///< rho = 1/2
};

template <class T>
using PpkSimilaritySaved = IsotropicProxySaved<T>;

namespace detail {

template <class T>
struct PpkPair {
  int dim;
  T rho;
  T value(const T* e, const T* m) const { return vmf_log_ppk(dim, e, m, rho); }
  void backward(const T* e, const T* m, T grad, T* grad_e, T* grad_m) const {
    vmf_log_ppk_backward(dim, e, m, rho, grad, grad_e, grad_m);
  }
};

template <class T>
T ppk_rho(PpkOrder order) {
  return order == PpkOrder::bhattacharyya ? T(0.5) : T(1);
}

}  // namespace detail

/// Similarities (B x C) of image vMFs (embeddings = natural parameters, B x D) to isotropic
/// proxies (proxies C x D, kappas C x 1 clamped at min_kappa). Throws
/// std::invalid_argument (naming the argument) before writing anything.
template <class T>
void ppk_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> embeddings,
                            ConstMatrixView<detail::NonDeduced<T>> proxies,
                            ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                            T temperature, PpkOrder order, MatrixView<T> similarities,
                            PpkSimilaritySaved<T>& saved) {
  detail::check_isotropic_inputs("pdml::ppk_similarity_forward", embeddings, proxies, kappas,
                                 min_kappa, temperature, similarities);
  detail::check_isotropic_reach("pdml::ppk_similarity_forward", embeddings, kappas, min_kappa);
  if (order != PpkOrder::expected_likelihood && order != PpkOrder::bhattacharyya) {
    detail::throw_invalid("pdml::ppk_similarity_forward", "order", "is not a PpkOrder value");
  }
  const detail::PpkPair<T> pair{static_cast<int>(embeddings.cols), detail::ppk_rho<T>(order)};
  detail::isotropic_forward(pair, T(1), embeddings, proxies, kappas, min_kappa, temperature,
                            similarities, saved);
  saved.order = pair.rho;
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas (C x 1, zero where
/// clamped) and *grad_temperature (unless null).
template <class T>
void ppk_similarity_backward(const PpkSimilaritySaved<T>& saved,
                             ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                             MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                             MatrixView<T> grad_kappas, detail::NonDeduced<T>* grad_temperature) {
  detail::check_isotropic_backward("pdml::ppk_similarity_backward", saved, grad_similarities,
                                   grad_embeddings, grad_proxies, grad_kappas);
  const detail::PpkPair<T> pair{static_cast<int>(saved.embeddings.cols()), saved.order};
  detail::isotropic_backward(pair, saved, grad_similarities, grad_embeddings, grad_proxies,
                             grad_kappas, grad_temperature);
}

/// ppk_similarity_backward with a GradientMode: GradientMode::accumulate adds the gradients into
/// the outputs (which must not overlap) instead of overwriting them.
template <class T>
void ppk_similarity_backward(const PpkSimilaritySaved<T>& saved,
                             ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                             MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                             MatrixView<T> grad_kappas, detail::NonDeduced<T>* grad_temperature,
                             GradientMode mode) {
  detail::backward_with_mode<T>("pdml::ppk_similarity_backward", mode,
                                {{"grad_embeddings", grad_embeddings},
                                 {"grad_proxies", grad_proxies},
                                 {"grad_kappas", grad_kappas}},
                                grad_temperature, [&] {
                                  ppk_similarity_backward(saved, grad_similarities, grad_embeddings,
                                                          grad_proxies, grad_kappas,
                                                          grad_temperature);
                                });
}

}  // namespace pdml
