// SPDX-License-Identifier: MIT
// CPU side of test_criterion.cu: the CPU API on the same inputs.
#include "cpu_reference.hpp"

#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/proxy_anchor.hpp>
#include <pdml/losses/proxy_nca.hpp>
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>
#include <pdml/similarities/nivmf_point.hpp>

namespace pdml_test {

template <class T>
CriterionResult<T> cpu_criterion(const CriterionCase<T>& c, bool sampled) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  typename pdml::ElNivmfLoss<T>::Options options;
  options.n_samples = static_cast<int>(c.samples);
  options.guidance_weight = c.guidance_weight;
  options.scoring =
      c.exact_density ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule;
  const pdml::ElNivmfLoss<T> loss(options);
  typename pdml::ElNivmfLoss<T>::Saved saved;
  const ConstMatrixView<T> e{c.embeddings.data(), c.batch, c.dims, c.dims};
  const ConstMatrixView<T> v{c.proxies.data(), c.classes, c.dims, c.dims};
  const ConstMatrixView<T> k{c.kappas.data(), c.classes, c.dims, c.dims};
  CriterionResult<T> r;
  const long rows = c.samples * c.batch;
  if (sampled) {
    r.loss = loss.forward(e, c.labels.data(), v, k, c.temperature, pdml::RngKey{c.seed, c.offset},
                          saved);
    r.samples.assign(saved.samples.data(), saved.samples.data() + saved.samples.size());
  } else {
    const ConstMatrixView<T> x{c.sample_rows.data(), rows, c.dims, c.dims};
    r.loss = loss.forward_with_samples(x, e, c.labels.data(), v, k, c.temperature, saved);
  }
  r.grad_embeddings.resize(static_cast<std::size_t>(c.batch * c.dims));
  r.grad_proxies.resize(static_cast<std::size_t>(c.classes * c.dims));
  r.grad_kappas.resize(static_cast<std::size_t>(c.classes * c.dims));
  r.grad_samples.resize(static_cast<std::size_t>(rows * c.dims));
  MatrixView<T> gx{r.grad_samples.data(), rows, c.dims, c.dims};
  loss.backward(saved, c.grad_loss, MatrixView<T>{r.grad_embeddings.data(), c.batch, c.dims, c.dims},
                MatrixView<T>{r.grad_proxies.data(), c.classes, c.dims, c.dims},
                MatrixView<T>{r.grad_kappas.data(), c.classes, c.dims, c.dims}, &r.grad_temperature,
                sampled ? nullptr : &gx);
  return r;
}

template <class T>
void cpu_vmf_sample(const std::vector<T>& eta, long n, long p, int n_samples, std::uint64_t seed,
                    std::uint64_t offset, const std::vector<T>& grad_samples,
                    std::vector<T>& samples, std::vector<T>& grad_eta) {
  samples.assign(static_cast<std::size_t>(n * p * n_samples), T(0));
  grad_eta.assign(static_cast<std::size_t>(n * p), T(0));
  pdml::VmfSampleSaved<T> saved;
  pdml::vmf_sample(pdml::ConstMatrixView<T>{eta.data(), n, p, p}, n_samples,
                   pdml::RngKey{seed, offset},
                   pdml::MatrixView<T>{samples.data(), n * n_samples, p, p}, &saved);
  pdml::vmf_sample_backward(saved, pdml::ConstMatrixView<T>{grad_samples.data(), n * n_samples, p, p},
                            pdml::MatrixView<T>{grad_eta.data(), n, p, p});
}

template <class T>
void cpu_power_spherical_sample(const std::vector<T>& directions,
                                const std::vector<T>& concentrations, long n, long p,
                                int n_samples, std::uint64_t seed, std::uint64_t offset,
                                const std::vector<T>& grad_samples, std::vector<T>& samples,
                                std::vector<T>& grad_directions,
                                std::vector<T>& grad_concentrations) {
  samples.assign(static_cast<std::size_t>(n * p * n_samples), T(0));
  grad_directions.assign(static_cast<std::size_t>(n * p), T(0));
  grad_concentrations.assign(static_cast<std::size_t>(n), T(0));
  pdml::PowerSphericalSampleSaved<T> saved;
  pdml::power_spherical_sample(pdml::ConstMatrixView<T>{directions.data(), n, p, p},
                               pdml::ConstMatrixView<T>{concentrations.data(), n, 1, 1}, n_samples,
                               pdml::RngKey{seed, offset},
                               pdml::MatrixView<T>{samples.data(), n * n_samples, p, p}, &saved);
  pdml::power_spherical_sample_backward(
      saved, pdml::ConstMatrixView<T>{grad_samples.data(), n * n_samples, p, p},
      pdml::MatrixView<T>{grad_directions.data(), n, p, p},
      pdml::MatrixView<T>{grad_concentrations.data(), n, 1, 1});
}

template <class T>
void cpu_nivmf_sample(const std::vector<T>& directions, const std::vector<T>& concentrations,
                      long n, long p, int n_samples, std::uint64_t seed, std::uint64_t offset,
                      const std::vector<T>& grad_samples, std::vector<T>& samples,
                      std::vector<T>& grad_directions, std::vector<T>& grad_concentrations) {
  samples.assign(static_cast<std::size_t>(n * p * n_samples), T(0));
  grad_directions.assign(static_cast<std::size_t>(n * p), T(0));
  grad_concentrations.assign(static_cast<std::size_t>(n * p), T(0));
  pdml::NivmfSampleSaved<T> saved;
  pdml::nivmf_sample(pdml::ConstMatrixView<T>{directions.data(), n, p, p},
                     pdml::ConstMatrixView<T>{concentrations.data(), n, p, p}, n_samples,
                     pdml::RngKey{seed, offset},
                     pdml::MatrixView<T>{samples.data(), n * n_samples, p, p}, &saved);
  pdml::nivmf_sample_backward(saved,
                              pdml::ConstMatrixView<T>{grad_samples.data(), n * n_samples, p, p},
                              pdml::MatrixView<T>{grad_directions.data(), n, p, p},
                              pdml::MatrixView<T>{grad_concentrations.data(), n, p, p});
}

template <class T>
SimilarityResult<T> cpu_nivmf_point_similarity(bool exact_density,
                                               const std::vector<T>& embeddings,
                                               const std::vector<T>& proxies,
                                               const std::vector<T>& kappas, long b, long c,
                                               long d, T min_kappa, T temperature,
                                               const std::vector<T>& grad_similarities) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  SimilarityResult<T> r;
  r.similarities.resize(static_cast<std::size_t>(b * c));
  r.grad_embeddings.resize(static_cast<std::size_t>(b * d));
  r.grad_proxies.resize(static_cast<std::size_t>(c * d));
  r.grad_kappas.resize(static_cast<std::size_t>(c * d));
  pdml::NivmfPointSimilaritySaved<T> saved;
  pdml::nivmf_point_similarity_forward(
      ConstMatrixView<T>{embeddings.data(), b, d, d}, ConstMatrixView<T>{proxies.data(), c, d, d},
      ConstMatrixView<T>{kappas.data(), c, d, d}, min_kappa, temperature,
      exact_density ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule,
      MatrixView<T>{r.similarities.data(), b, c, c}, saved);
  pdml::nivmf_point_similarity_backward(
      saved, ConstMatrixView<T>{grad_similarities.data(), b, c, c},
      MatrixView<T>{r.grad_embeddings.data(), b, d, d}, MatrixView<T>{r.grad_proxies.data(), c, d, d},
      MatrixView<T>{r.grad_kappas.data(), c, d, d}, &r.grad_temperature);
  return r;
}

template <class T>
SimilarityResult<T> cpu_similarity(int kind, const std::vector<T>& embeddings,
                                   const std::vector<T>& proxies, const std::vector<T>& kappas,
                                   long b, long c, long d, T min_kappa, T temperature,
                                   const std::vector<T>& grad_similarities) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  SimilarityResult<T> r;
  r.similarities.resize(static_cast<std::size_t>(b * c));
  r.grad_embeddings.resize(static_cast<std::size_t>(b * d));
  r.grad_proxies.resize(static_cast<std::size_t>(c * d));
  r.grad_kappas.resize(static_cast<std::size_t>(c));
  const ConstMatrixView<T> e{embeddings.data(), b, d, d}, v{proxies.data(), c, d, d},
      k{kappas.data(), c, 1, 1}, g{grad_similarities.data(), b, c, c};
  const MatrixView<T> sim{r.similarities.data(), b, c, c}, ge{r.grad_embeddings.data(), b, d, d},
      gv{r.grad_proxies.data(), c, d, d}, gk{r.grad_kappas.data(), c, 1, 1};
  if (kind == 0 || kind == 1) {
    pdml::PpkSimilaritySaved<T> saved;
    pdml::ppk_similarity_forward(e, v, k, min_kappa, temperature,
                                 kind == 0 ? pdml::PpkOrder::expected_likelihood
                                           : pdml::PpkOrder::bhattacharyya,
                                 sim, saved);
    pdml::ppk_similarity_backward(saved, g, ge, gv, gk, &r.grad_temperature);
  } else if (kind == 2) {
    pdml::KlSimilaritySaved<T> saved;
    pdml::kl_similarity_forward(e, v, k, min_kappa, temperature, sim, saved);
    pdml::kl_similarity_backward(saved, g, ge, gv, gk, &r.grad_temperature);
  } else if (kind == 3) {
    pdml::L2SimilaritySaved<T> saved;
    pdml::l2_similarity_forward(e, v, k, min_kappa, temperature, sim, saved);
    pdml::l2_similarity_backward(saved, g, ge, gv, gk, &r.grad_temperature);
  } else {
    pdml::CosineSimilaritySaved<T> saved;
    pdml::cosine_similarity_forward(e, v, temperature, sim, saved);
    pdml::cosine_similarity_backward(saved, g, ge, gv, &r.grad_temperature);
  }
  return r;
}

template <class T>
ProxyLossResult<T> cpu_proxy_losses(const std::vector<T>& matrix,
                                    const std::vector<std::int64_t>& labels, long b, long c,
                                    T grad_loss) {
  ProxyLossResult<T> r;
  const pdml::ConstMatrixView<T> m{matrix.data(), b, c, c};
  r.grad_nca.resize(matrix.size());
  r.grad_anchor.resize(matrix.size());
  pdml::ProxyNcaSaved<T> nca;
  r.nca = pdml::proxy_nca_forward(m, labels.data(), nca);
  pdml::proxy_nca_backward(nca, grad_loss, pdml::MatrixView<T>{r.grad_nca.data(), b, c, c});
  pdml::ProxyAnchorSaved<T> anchor;
  r.anchor = pdml::proxy_anchor_forward(m, labels.data(), T(32), T(0.1), anchor);
  pdml::proxy_anchor_backward(anchor, grad_loss, pdml::MatrixView<T>{r.grad_anchor.data(), b, c, c});
  return r;
}

#define PDML_TEST_INSTANTIATE(T)                                                              \
  template CriterionResult<T> cpu_criterion<T>(const CriterionCase<T>&, bool);                \
  template void cpu_vmf_sample<T>(const std::vector<T>&, long, long, int, std::uint64_t,      \
                                  std::uint64_t, const std::vector<T>&, std::vector<T>&,      \
                                  std::vector<T>&);                                           \
  template void cpu_power_spherical_sample<T>(                                                \
      const std::vector<T>&, const std::vector<T>&, long, long, int, std::uint64_t,           \
      std::uint64_t, const std::vector<T>&, std::vector<T>&, std::vector<T>&, std::vector<T>&);  \
  template void cpu_nivmf_sample<T>(const std::vector<T>&, const std::vector<T>&, long, long,   \
                                    int, std::uint64_t, std::uint64_t, const std::vector<T>&,  \
                                    std::vector<T>&, std::vector<T>&, std::vector<T>&);        \
  template SimilarityResult<T> cpu_nivmf_point_similarity<T>(                                 \
      bool, const std::vector<T>&, const std::vector<T>&, const std::vector<T>&, long, long,   \
      long, T, T, const std::vector<T>&);                                                      \
  template SimilarityResult<T> cpu_similarity<T>(int, const std::vector<T>&,                  \
                                                 const std::vector<T>&, const std::vector<T>&, \
                                                 long, long, long, T, T,                        \
                                                 const std::vector<T>&);                        \
  template ProxyLossResult<T> cpu_proxy_losses<T>(const std::vector<T>&,                      \
                                                  const std::vector<std::int64_t>&, long, long, \
                                                  T);
PDML_TEST_INSTANTIATE(float)
PDML_TEST_INSTANTIATE(double)

}  // namespace pdml_test
