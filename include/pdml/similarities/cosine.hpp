// SPDX-License-Identifier: MIT
#pragma once
// Cosine similarity between image mean directions and proxy directions:
//   sim(i, c) = mu_i^T nu_c / T,  mu_i = e_i / |e_i|,  nu_c = v_c / |v_c|.
// A zero embedding (the uniform vMF) has no direction: mu_i = 0 and its gradient is 0.
// Math: docs/math.md, section similarities-losses.

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/similarities/detail/batched.hpp"

namespace pdml {

/// State kept by cosine_similarity_forward for cosine_similarity_backward.
template <class T>
struct CosineSimilaritySaved {
  RowMajorMatrix<T> directions;            ///< B x D, mu_i
  detail::RowVector<T> norms;              ///< B, |e_i|
  RowMajorMatrix<T> proxy_directions;      ///< C x D, nu_c
  detail::RowVector<T> proxy_norms;        ///< C, |v_c|
  RowMajorMatrix<T> cosines;               ///< B x C, mu_i^T nu_c
  T temperature = T(1);
};

namespace detail {

template <class T>
void cosine_similarity_forward_unchecked(ConstMatrixView<T> embeddings,
                                         ConstMatrixView<T> proxies, T temperature,
                                         MatrixView<T> similarities,
                                         CosineSimilaritySaved<T>& saved) {
  normalize_rows(embeddings, saved.directions, saved.norms);
  normalize_rows(proxies, saved.proxy_directions, saved.proxy_norms);
  saved.cosines.noalias() = saved.directions * saved.proxy_directions.transpose();
  saved.temperature = temperature;
  as_eigen(similarities) = saved.cosines / temperature;
}

/// Overwrites both gradients.
template <class T>
void cosine_similarity_backward_unchecked(const CosineSimilaritySaved<T>& saved,
                                          ConstMatrixView<T> grad_similarities,
                                          MatrixView<T> grad_embeddings,
                                          MatrixView<T> grad_proxies, T* grad_temperature) {
  const auto g = as_eigen(grad_similarities);
  auto g_e = as_eigen(grad_embeddings);
  auto g_v = as_eigen(grad_proxies);
  const T inv_t = T(1) / saved.temperature;
  const Index b = saved.directions.rows(), c_count = saved.proxy_directions.rows();
  const Index d = saved.directions.cols();
  if (grad_temperature != nullptr) {
    // d sim / dT = -cos / T^2
    *grad_temperature = -(g.cwiseProduct(saved.cosines)).sum() * inv_t * inv_t;
  }
  g_e.noalias() = inv_t * g * saved.proxy_directions;
  parallel_rows(b, d, [&](Index i) {
    normalize_row_backward_inplace(g_e.row(i), saved.directions.row(i), saved.norms[i]);
  });
  g_v.noalias() = inv_t * g.transpose() * saved.directions;
  parallel_rows(c_count, d, [&](Index c) {
    normalize_row_backward_inplace(g_v.row(c), saved.proxy_directions.row(c),
                                   saved.proxy_norms[c]);
  });
}

}  // namespace detail

/// sim (B x C) = cosines of embeddings (B x D) and proxy vectors (C x D, no zero row) over
/// temperature > 0. Throws std::invalid_argument before writing anything.
template <class T>
void cosine_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> embeddings,
                               ConstMatrixView<detail::NonDeduced<T>> proxies, T temperature,
                               MatrixView<T> similarities, CosineSimilaritySaved<T>& saved) {
  const char* fn = "pdml::cosine_similarity_forward";
  detail::check_nonempty(fn, "embeddings", embeddings);
  detail::check_input(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  detail::check_nonempty(fn, "proxies", proxies);
  detail::check_same_cols(fn, "proxies", proxies, "embeddings", embeddings);
  detail::check_proxy_vectors(fn, "proxies", proxies, proxies.rows, embeddings.cols);
  detail::check_temperature(fn, temperature);
  detail::check_output(fn, "similarities", similarities, embeddings.rows, proxies.rows);
  detail::cosine_similarity_forward_unchecked(embeddings, proxies, temperature, similarities,
                                              saved);
}

/// Overwrites grad_embeddings (B x D) and grad_proxies (C x D); writes *grad_temperature
/// unless it is null.
template <class T>
void cosine_similarity_backward(const CosineSimilaritySaved<T>& saved,
                                ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                                MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                detail::NonDeduced<T>* grad_temperature) {
  const char* fn = "pdml::cosine_similarity_backward";
  const Index b = saved.directions.rows(), c_count = saved.proxy_directions.rows(),
              d = saved.directions.cols();
  if (c_count == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  detail::check_input(fn, "grad_similarities", grad_similarities, b, c_count);
  detail::check_output(fn, "grad_embeddings", grad_embeddings, b, d);
  detail::check_output(fn, "grad_proxies", grad_proxies, c_count, d);
  detail::check_no_overlap<T>(
      fn, {{"grad_embeddings", grad_embeddings}, {"grad_proxies", grad_proxies}});
  detail::cosine_similarity_backward_unchecked(saved, grad_similarities, grad_embeddings,
                                               grad_proxies, grad_temperature);
}

/// cosine_similarity_backward with a GradientMode: GradientMode::accumulate adds the gradients into
/// the outputs (which must not overlap) instead of overwriting them.
template <class T>
void cosine_similarity_backward(const CosineSimilaritySaved<T>& saved,
                                ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                                MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                detail::NonDeduced<T>* grad_temperature, GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::cosine_similarity_backward", mode,
      {{"grad_embeddings", grad_embeddings}, {"grad_proxies", grad_proxies}}, grad_temperature,
      [&] {
        cosine_similarity_backward(saved, grad_similarities, grad_embeddings, grad_proxies,
                                   grad_temperature);
      });
}

}  // namespace pdml
