// SPDX-License-Identifier: MIT
#pragma once
// The CPU side of the CUDA agreement tests, behind an Eigen-free interface:
// implemented in test_criterion_reference.cpp (compiled by the host compiler
// against the CPU API), called from the .cu test.

#include <cstdint>
#include <vector>

namespace pdml_test {

template <class T>
struct CriterionCase {
  long batch = 0, classes = 0, dims = 0, samples = 0;
  std::vector<T> embeddings, proxies, kappas;  // B x D, C x D, C x D
  std::vector<T> sample_rows;                   // (S B) x D: used by forward_with_samples
  std::vector<std::int64_t> labels;
  T temperature = T(0.1);
  T guidance_weight = T(0);
  bool exact_density = false;
  T grad_loss = T(1);
  std::uint64_t seed = 0, offset = 0;
};

template <class T>
struct CriterionResult {
  T loss = T(0);
  T grad_temperature = T(0);
  std::vector<T> samples;  // drawn by forward (sampled runs only)
  std::vector<T> grad_embeddings, grad_proxies, grad_kappas, grad_samples;
};

/// pdml::ElNivmfLoss<T>: forward (sampled = true, draws with (seed, offset)) or
/// forward_with_samples, then backward with grad_loss.
template <class T>
CriterionResult<T> cpu_criterion(const CriterionCase<T>& c, bool sampled);

/// pdml::vmf_sample + vmf_sample_backward: eta N x p, samples (S N) x p.
template <class T>
void cpu_vmf_sample(const std::vector<T>& eta, long n, long p, int n_samples, std::uint64_t seed,
                    std::uint64_t offset, const std::vector<T>& grad_samples,
                    std::vector<T>& samples, std::vector<T>& grad_eta);

/// pdml::power_spherical_sample + backward: directions N x p, concentrations N.
template <class T>
void cpu_power_spherical_sample(const std::vector<T>& directions,
                                const std::vector<T>& concentrations, long n, long p,
                                int n_samples, std::uint64_t seed, std::uint64_t offset,
                                const std::vector<T>& grad_samples, std::vector<T>& samples,
                                std::vector<T>& grad_directions,
                                std::vector<T>& grad_concentrations);

/// pdml::nivmf_sample + nivmf_sample_backward: directions and concentrations
/// N x p, samples (S N) x p.
template <class T>
void cpu_nivmf_sample(const std::vector<T>& directions, const std::vector<T>& concentrations,
                      long n, long p, int n_samples, std::uint64_t seed, std::uint64_t offset,
                      const std::vector<T>& grad_samples, std::vector<T>& samples,
                      std::vector<T>& grad_directions, std::vector<T>& grad_concentrations);

/// Similarity kinds: 0 EL-vMF, 1 B-vMF, 2 KL-vMF, 3 L2 (pdml::cuda::IsotropicSimilarity
/// order), 4 cosine. Forward then backward with grad_similarities g.
template <class T>
struct SimilarityResult {
  std::vector<T> similarities, grad_embeddings, grad_proxies, grad_kappas;
  T grad_temperature = T(0);
};

template <class T>
SimilarityResult<T> cpu_similarity(int kind, const std::vector<T>& embeddings,
                                   const std::vector<T>& proxies, const std::vector<T>& kappas,
                                   long b, long c, long d, T min_kappa, T temperature,
                                   const std::vector<T>& grad_similarities);

/// pdml::nivmf_point_similarity_forward / _backward (kappas C x D; grad_kappas C x D).
template <class T>
SimilarityResult<T> cpu_nivmf_point_similarity(bool exact_density,
                                               const std::vector<T>& embeddings,
                                               const std::vector<T>& proxies,
                                               const std::vector<T>& kappas, long b, long c,
                                               long d, T min_kappa, T temperature,
                                               const std::vector<T>& grad_similarities);

/// pdml::nivmf_scores_forward / _backward (points N x D; outputs N x C), or,
/// with n_samples > 0, pdml::el_nivmf_similarity_forward / _backward (points
/// = samples (S B) x D; outputs B x C; grad_temperature set): dense inputs,
/// grad_outputs the gradient of the outputs; grad_embeddings holds dL/dpoints.
template <class T>
SimilarityResult<T> cpu_nivmf_scores_or_el_similarity(
    bool exact_density, int n_samples, const std::vector<T>& points, const std::vector<T>& proxies,
    const std::vector<T>& kappas, long n, long c, long d, T min_kappa, T temperature,
    const std::vector<T>& grad_outputs);

/// The CPU batched log-densities and their backward (include/pdml/distributions/
/// *_batch.hpp): kind 0 vMF (first = eta), 1 nivMF (second = concentrations
/// N x p), 2 Power Spherical (second = concentrations N x 1); points M x p,
/// grad_log_prob M x 1. grad_second is empty for vMF.
template <class T>
struct DensityResult {
  std::vector<T> log_prob, grad_first, grad_second, grad_points;
};

template <class T>
DensityResult<T> cpu_log_prob(int kind, const std::vector<T>& first, const std::vector<T>& second,
                              const std::vector<T>& points, long n, long p, long m,
                              const std::vector<T>& grad_log_prob);

/// Proxy-NCA and ProxyAnchor (alpha 32, delta 0.1) of a B x C matrix, with backward.
template <class T>
struct ProxyLossResult {
  T nca = T(0), anchor = T(0);
  std::vector<T> grad_nca, grad_anchor;
};

template <class T>
ProxyLossResult<T> cpu_proxy_losses(const std::vector<T>& matrix,
                                    const std::vector<std::int64_t>& labels, long b, long c,
                                    T grad_loss);

}  // namespace pdml_test
