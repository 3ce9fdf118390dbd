// SPDX-License-Identifier: MIT
#pragma once
// L2 similarity to isotropic proxies: the negative squared distance between the
// embedding and the proxy location m_c = kappa_c nu_c,
//   sim(i, c) = -|e_i - kappa_c nu_c|^2 / T.

#include "pdml/core/gradient_mode.hpp"
#include "pdml/similarities/detail/isotropic_proxies.hpp"

namespace pdml {

template <class T>
using L2SimilaritySaved = IsotropicProxySaved<T>;

namespace detail {

template <class T>
struct SquaredDistancePair {
  int dim;
  T value(const T* e, const T* m) const {
    T s = T(0);
    for (int j = 0; j < dim; ++j) s += (e[j] - m[j]) * (e[j] - m[j]);
    return s;
  }
  /// d/de = 2 (e - m), d/dm = -2 (e - m).
  void backward(const T* e, const T* m, T grad, T* grad_e, T* grad_m) const {
    for (int j = 0; j < dim; ++j) {
      const T g = T(2) * grad * (e[j] - m[j]);
      if (grad_e) grad_e[j] = g;
      if (grad_m) grad_m[j] = -g;
    }
  }
};

}  // namespace detail

/// Similarities (B x C) of embeddings (B x D) to proxy locations kappa_c nu_c (proxies
/// C x D, kappas C x 1 clamped at min_kappa). Throws std::invalid_argument (naming the
/// argument) before writing anything.
template <class T>
void l2_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> embeddings,
                           ConstMatrixView<detail::NonDeduced<T>> proxies,
                           ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                           T temperature, MatrixView<T> similarities, L2SimilaritySaved<T>& saved) {
  detail::check_isotropic_inputs("pdml::l2_similarity_forward", embeddings, proxies, kappas,
                                 min_kappa, temperature, similarities);
  const detail::SquaredDistancePair<T> pair{static_cast<int>(embeddings.cols)};
  detail::isotropic_forward(pair, T(-1), embeddings, proxies, kappas, min_kappa, temperature,
                            similarities, saved);
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas (C x 1, zero where
/// clamped) and *grad_temperature (unless null).
template <class T>
void l2_similarity_backward(const L2SimilaritySaved<T>& saved,
                            ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                            MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                            MatrixView<T> grad_kappas, detail::NonDeduced<T>* grad_temperature) {
  detail::check_isotropic_backward("pdml::l2_similarity_backward", saved, grad_similarities,
                                   grad_embeddings, grad_proxies, grad_kappas);
  const detail::SquaredDistancePair<T> pair{static_cast<int>(saved.embeddings.cols())};
  detail::isotropic_backward(pair, saved, grad_similarities, grad_embeddings, grad_proxies,
                             grad_kappas, grad_temperature);
}

/// l2_similarity_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void l2_similarity_backward(const L2SimilaritySaved<T>& saved,
                            ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                            MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                            MatrixView<T> grad_kappas, detail::NonDeduced<T>* grad_temperature,
                            GradientMode mode) {
  detail::backward_with_mode<T>("pdml::l2_similarity_backward", mode,
                                {{"grad_embeddings", grad_embeddings},
                                 {"grad_proxies", grad_proxies},
                                 {"grad_kappas", grad_kappas}},
                                grad_temperature, [&] {
                                  l2_similarity_backward(saved, grad_similarities, grad_embeddings,
                                                         grad_proxies, grad_kappas,
                                                         grad_temperature);
                                });
}

}  // namespace pdml
