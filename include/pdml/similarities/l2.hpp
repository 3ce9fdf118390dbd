// SPDX-License-Identifier: MIT
#pragma once
// L2 similarity to isotropic proxies: the negative squared distance between the
// embedding and the proxy location m_c = kappa_c nu_c,
//   sim(i, c) = -|e_i - kappa_c nu_c|^2 / T.

#include <algorithm>
#include <limits>
#include <sstream>

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

/// The squared distances over the temperature must be finite: they are at most
/// (max |e_i| + max kappa_c)^2 / T, which must stay below the largest T (norms taken
/// scaled). Throws naming the largest contributor (`embeddings` or `kappas`), or
/// `temperature` when only the division overflows.
template <class T>
void check_l2_range(const char* function, ConstMatrixView<T> embeddings,
                    ConstMatrixView<T> kappas, T min_kappa, T temperature) {
  double e_max = 0.0, k_max = static_cast<double>(min_kappa);
  for (Index i = 0; i < embeddings.rows; ++i) {
    e_max = std::max(e_max, scaled_norm(embeddings.row(i), embeddings.cols).to_double());
  }
  for (Index c = 0; c < kappas.rows; ++c) k_max = std::max(k_max, static_cast<double>(kappas(c, 0)));
  const double largest = static_cast<double>(std::numeric_limits<T>::max());
  const double reach = e_max + k_max;  // <= 2 max(T) < the largest double
  if (reach * reach <= largest && reach * reach / static_cast<double>(temperature) <= largest) {
    return;
  }
  std::ostringstream os;
  os << "gives squared distances up to (" << e_max << " + " << k_max << ")^2";
  if (reach * reach <= largest) {
    os << ", which over temperature " << temperature << " exceed the largest value of its type";
    throw_invalid(function, "temperature", os.str());
  }
  os << ", beyond the largest value of its type";
  throw_invalid(function, e_max >= k_max ? "embeddings" : "kappas", os.str());
}

}  // namespace detail

/// Similarities (B x C) of embeddings (B x D) to proxy locations kappa_c nu_c (proxies
/// C x D, kappas C x 1 clamped at min_kappa). Throws std::invalid_argument (naming the
/// argument) before writing anything, also when a squared distance over the temperature
/// could exceed the largest T (detail::check_l2_range).
template <class T>
void l2_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> embeddings,
                           ConstMatrixView<detail::NonDeduced<T>> proxies,
                           ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                           T temperature, MatrixView<T> similarities, L2SimilaritySaved<T>& saved) {
  detail::check_isotropic_inputs("pdml::l2_similarity_forward", embeddings, proxies, kappas,
                                 min_kappa, temperature, similarities);
  detail::check_l2_range("pdml::l2_similarity_forward", embeddings, kappas, min_kappa, temperature);
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
