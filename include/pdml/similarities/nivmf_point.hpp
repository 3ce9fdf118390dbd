// SPDX-License-Identifier: MIT
#pragma once
// nivMF-to-point similarity: the nivMF proxy's score of the image's mean direction,
//   sim(i, c) = l_c(mu_i) / T,  mu_i = e_i / |e_i|,
// with l_c the paper's scoring rule (default) or the exact nivMF log-density
// (nivmf_scoring.hpp). A zero embedding has mu_i = 0: fine for the paper's rule (its
// score is the offset a_c, direction gradient 0); the exact density rejects it.

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/similarities/detail/batched.hpp"
#include "pdml/similarities/nivmf_scoring.hpp"

namespace pdml {

/// State kept by nivmf_point_similarity_forward for its backward.
template <class T>
struct NivmfPointSimilaritySaved {
  NivmfScoresSaved<T> scores;
  detail::RowVector<T> norms;       ///< B, |e_i|
  RowMajorMatrix<T> similarities;   ///< B x C (for d/dT)
  T temperature = T(1);
  mutable RowMajorMatrix<T> scratch_pairs;  ///< B x C
};

/// Similarities (B x C) of embeddings (B x D) to nivMF proxies (proxy vectors and raw
/// concentrations, C x D; concentrations clamped at min_kappa). Throws
/// std::invalid_argument (naming the argument) before writing anything.
template <class T>
void nivmf_point_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> embeddings,
                                    ConstMatrixView<detail::NonDeduced<T>> proxies,
                                    ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                                    T temperature, NivmfScoring scoring, MatrixView<T> similarities,
                                    NivmfPointSimilaritySaved<T>& saved) {
  const char* fn = "pdml::nivmf_point_similarity_forward";
  detail::check_nonempty(fn, "embeddings", embeddings);
  detail::check_input(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  detail::check_nonempty(fn, "proxies", proxies);
  detail::check_same_cols(fn, "proxies", proxies, "embeddings", embeddings);
  detail::check_proxy_vectors(fn, "proxies", proxies, proxies.rows, embeddings.cols);
  detail::check_shape_of(fn, "kappas", kappas, "proxies", proxies.rows, proxies.cols);
  detail::check_input(fn, "kappas", kappas, proxies.rows, embeddings.cols);
  detail::check_min_kappa(fn, min_kappa);
  detail::check_temperature(fn, temperature);
  if (scoring != NivmfScoring::paper_rule && scoring != NivmfScoring::exact_density) {
    detail::throw_invalid(fn, "scoring", "is not a NivmfScoring value");
  }
  if (scoring == NivmfScoring::exact_density) {
    double k_min = 0, k_max = 0;  // the points are unit directions
    detail::check_exact_density_kappas(fn, kappas, min_kappa, k_min, k_max);
    for (Index i = 0; i < embeddings.rows; ++i) {
      if (detail::is_zero_row(embeddings, i)) {
        detail::throw_invalid(fn, "embeddings",
                              "has a zero row (no mean direction for the exact density)");
      }
    }
  }
  detail::check_score_range(fn, proxies, kappas, min_kappa, scoring, 1.0, 1.0, temperature);
  detail::check_output(fn, "similarities", similarities, embeddings.rows, proxies.rows);
  const Index b = embeddings.rows, c_count = proxies.rows;
  RowMajorMatrix<T> directions;
  detail::normalize_rows(embeddings, directions, saved.norms);
  saved.similarities.resize(b, c_count);
  saved.scratch_pairs.resize(b, c_count);
  detail::nivmf_scores_forward_unchecked(detail::dense_const(directions), proxies, kappas,
                                         min_kappa, scoring, detail::dense(saved.similarities),
                                         saved.scores);
  saved.temperature = temperature;
  saved.similarities /= temperature;
  as_eigen(similarities) = saved.similarities;
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas (C x D, zero where
/// clamped) and *grad_temperature (unless null).
template <class T>
void nivmf_point_similarity_backward(const NivmfPointSimilaritySaved<T>& saved,
                                     ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                                     MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                     MatrixView<T> grad_kappas,
                                     detail::NonDeduced<T>* grad_temperature) {
  const char* fn = "pdml::nivmf_point_similarity_backward";
  const Index b = saved.similarities.rows(), c_count = saved.similarities.cols();
  if (c_count == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  const Index d = saved.scores.directions.cols();
  detail::check_input(fn, "grad_similarities", grad_similarities, b, c_count);
  detail::check_output(fn, "grad_embeddings", grad_embeddings, b, d);
  detail::check_output(fn, "grad_proxies", grad_proxies, c_count, d);
  detail::check_output(fn, "grad_kappas", grad_kappas, c_count, d);
  detail::check_no_overlap<T>(fn, {{"grad_embeddings", grad_embeddings},
                                  {"grad_proxies", grad_proxies},
                                  {"grad_kappas", grad_kappas}});
  const auto g = as_eigen(grad_similarities);
  if (grad_temperature != nullptr) {
    *grad_temperature = -(g.cwiseProduct(saved.similarities)).sum() / saved.temperature;
  }
  saved.scratch_pairs = g / saved.temperature;
  detail::nivmf_scores_backward_unchecked(saved.scores,
                                          detail::dense_const(saved.scratch_pairs),
                                          grad_embeddings, grad_proxies, grad_kappas);
  auto g_e = as_eigen(grad_embeddings);
  // saved.scores.points holds the directions mu_i.
  detail::parallel_rows(b, d, [&](Index i) {
    detail::normalize_row_backward_inplace(g_e.row(i), saved.scores.points.row(i),
                                           saved.norms[i]);
  });
}

/// nivmf_point_similarity_backward with a GradientMode: GradientMode::accumulate adds the gradients
/// into the outputs (which must not overlap) instead of overwriting them.
template <class T>
void nivmf_point_similarity_backward(const NivmfPointSimilaritySaved<T>& saved,
                                     ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                                     MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                     MatrixView<T> grad_kappas,
                                     detail::NonDeduced<T>* grad_temperature, GradientMode mode) {
  detail::backward_with_mode<T>("pdml::nivmf_point_similarity_backward", mode,
                                {{"grad_embeddings", grad_embeddings},
                                 {"grad_proxies", grad_proxies},
                                 {"grad_kappas", grad_kappas}},
                                grad_temperature, [&] {
                                  nivmf_point_similarity_backward(saved, grad_similarities,
                                                                  grad_embeddings, grad_proxies,
                                                                  grad_kappas, grad_temperature);
                                });
}

}  // namespace pdml
