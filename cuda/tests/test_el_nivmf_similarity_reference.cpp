// SPDX-License-Identifier: MIT
// CPU side of test_el_nivmf_similarity.cu: the CPU nivMF scores and EL-nivMF
// similarity on the same inputs.
#include "cpu_reference.hpp"

#include <pdml/similarities/el_nivmf.hpp>
#include <pdml/similarities/nivmf_scoring.hpp>

namespace pdml_test {

template <class T>
SimilarityResult<T> cpu_nivmf_scores_or_el_similarity(
    bool exact_density, int n_samples, const std::vector<T>& points, const std::vector<T>& proxies,
    const std::vector<T>& kappas, long n, long c, long d, T min_kappa, T temperature,
    const std::vector<T>& grad_outputs) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  const auto scoring =
      exact_density ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule;
  const long out_rows = n_samples > 0 ? n / n_samples : n;
  SimilarityResult<T> r;
  r.similarities.resize(static_cast<std::size_t>(out_rows * c));
  r.grad_embeddings.resize(static_cast<std::size_t>(n * d));
  r.grad_proxies.resize(static_cast<std::size_t>(c * d));
  r.grad_kappas.resize(static_cast<std::size_t>(c * d));
  const ConstMatrixView<T> x{points.data(), n, d, d}, v{proxies.data(), c, d, d},
      k{kappas.data(), c, d, d}, g{grad_outputs.data(), out_rows, c, c};
  const MatrixView<T> out{r.similarities.data(), out_rows, c, c},
      gx{r.grad_embeddings.data(), n, d, d}, gv{r.grad_proxies.data(), c, d, d},
      gk{r.grad_kappas.data(), c, d, d};
  if (n_samples > 0) {
    pdml::ElNivmfSimilaritySaved<T> saved;
    pdml::el_nivmf_similarity_forward(x, n_samples, v, k, min_kappa, temperature, scoring, out,
                                      saved);
    pdml::el_nivmf_similarity_backward(saved, g, gx, gv, gk, &r.grad_temperature);
  } else {
    pdml::NivmfScoresSaved<T> saved;
    pdml::nivmf_scores_forward(x, v, k, min_kappa, scoring, out, saved);
    pdml::nivmf_scores_backward(saved, g, gx, gv, gk);
  }
  return r;
}

#define PDML_TEST_INSTANTIATE(T)                                                               \
  template SimilarityResult<T> cpu_nivmf_scores_or_el_similarity<T>(                           \
      bool, int, const std::vector<T>&, const std::vector<T>&, const std::vector<T>&, long, long, \
      long, T, T, const std::vector<T>&);
PDML_TEST_INSTANTIATE(float)
PDML_TEST_INSTANTIATE(double)
#undef PDML_TEST_INSTANTIATE

}  // namespace pdml_test
