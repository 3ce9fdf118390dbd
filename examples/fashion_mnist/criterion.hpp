// SPDX-License-Identifier: MIT
#pragma once
// The selectable training criteria, each composed from pdml's forward/backward
// pairs (nothing of a loss is re-implemented here), together with the
// criterion's own learnable parameters: proxy vectors, proxy concentrations
// and the log-temperature (optimized in log space so T stays positive).
//
//   elnivmf      pdml::ElNivmfLoss: Proxy-NCA over EL-nivMF similarities + w ProxyAnchor
//   proxyanchor  pdml::cosine_similarity (T = 1) -> pdml::proxy_anchor
//   proxynca     pdml::cosine_similarity / T -> pdml::proxy_nca
//   elvmf        pdml::ppk_similarity (expected likelihood, isotropic proxies) -> pdml::proxy_nca

#include <cmath>
#include <cstdint>
#include <vector>

#include <pdml/core/eigen_map.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/proxy_anchor.hpp>
#include <pdml/losses/proxy_nca.hpp>
#include <pdml/random/philox.hpp>
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_vmf.hpp>

#include "args.hpp"
#include "mlp.hpp"

namespace fmnist {

class Criterion {
 public:
  Criterion(const Config& config, Eigen::Index classes, Eigen::Index dim)
      : kind_(config.loss),
        alpha_(config.alpha),
        delta_(config.delta),
        min_kappa_(config.min_kappa),
        kappa_init_(config.kappa_init),
        nivmf_(make_nivmf_options(config)) {
    proxies = Matrix::Zero(classes, dim);
    kappas = Matrix::Constant(classes, kappa_columns(), config.kappa_init);
    log_temperature = std::log(config.temperature);
    grad_proxies = Matrix::Zero(classes, dim);
    grad_kappas = Matrix::Zero(classes, kappa_columns());
  }

  bool has_temperature() const { return kind_ != LossKind::proxy_anchor; }
  bool has_kappas() const { return kind_ == LossKind::el_nivmf || kind_ == LossKind::el_vmf; }
  float temperature() const { return std::exp(log_temperature); }

  /// The paper's warm start: proxy directions from the class means of `embeddings`
  /// (pdml::warm_start_proxies), concentrations set to kappa_init.
  void warm_start(const Matrix& embeddings, const std::vector<std::int64_t>& labels) {
    Matrix full_kappas = Matrix::Constant(proxies.rows(), proxies.cols(), kappa_init_);
    pdml::warm_start_proxies(cview(embeddings), labels.data(), kappa_init_, mview(proxies),
                             mview(full_kappas));
    kappas = full_kappas.leftCols(kappa_columns());
  }

  /// Loss of a batch; fills grad_embeddings (B x D) and the gradients of the
  /// criterion's parameters (grad_proxies, grad_kappas, grad_log_temperature).
  float forward_backward(const Matrix& embeddings, const std::vector<std::int64_t>& labels,
                         pdml::RngKey rng, Matrix& grad_embeddings) {
    const Eigen::Index b = embeddings.rows(), c = proxies.rows();
    grad_embeddings.resize(b, embeddings.cols());
    float grad_temperature = 0.0f;
    float loss = 0.0f;
    const float t = temperature();
    switch (kind_) {
      case LossKind::el_nivmf: {
        loss = nivmf_.forward(cview(embeddings), labels.data(), cview(proxies), cview(kappas), t,
                              rng, nivmf_saved_);
        nivmf_.backward(nivmf_saved_, 1.0f, mview(grad_embeddings), mview(grad_proxies),
                        mview(grad_kappas), &grad_temperature);
        break;
      }
      case LossKind::proxy_anchor: {
        similarities_.resize(b, c);
        grad_similarities_.resize(b, c);
        pdml::cosine_similarity_forward(cview(embeddings), cview(proxies), 1.0f,
                                        mview(similarities_), cosine_saved_);
        loss = pdml::proxy_anchor_forward(cview(similarities_), labels.data(), alpha_, delta_,
                                          anchor_saved_);
        pdml::proxy_anchor_backward(anchor_saved_, 1.0f, mview(grad_similarities_));
        pdml::cosine_similarity_backward(cosine_saved_, cview(grad_similarities_),
                                         mview(grad_embeddings), mview(grad_proxies),
                                         static_cast<float*>(nullptr));
        break;
      }
      case LossKind::proxy_nca: {
        similarities_.resize(b, c);
        grad_similarities_.resize(b, c);
        pdml::cosine_similarity_forward(cview(embeddings), cview(proxies), t,
                                        mview(similarities_), cosine_saved_);
        loss = pdml::proxy_nca_forward(cview(similarities_), labels.data(), nca_saved_);
        pdml::proxy_nca_backward(nca_saved_, 1.0f, mview(grad_similarities_));
        pdml::cosine_similarity_backward(cosine_saved_, cview(grad_similarities_),
                                         mview(grad_embeddings), mview(grad_proxies),
                                         &grad_temperature);
        break;
      }
      case LossKind::el_vmf: {
        similarities_.resize(b, c);
        grad_similarities_.resize(b, c);
        pdml::ppk_similarity_forward(cview(embeddings), cview(proxies), cview(kappas), min_kappa_,
                                     t, pdml::PpkOrder::expected_likelihood,
                                     mview(similarities_), ppk_saved_);
        loss = pdml::proxy_nca_forward(cview(similarities_), labels.data(), nca_saved_);
        pdml::proxy_nca_backward(nca_saved_, 1.0f, mview(grad_similarities_));
        pdml::ppk_similarity_backward(ppk_saved_, cview(grad_similarities_),
                                      mview(grad_embeddings), mview(grad_proxies),
                                      mview(grad_kappas), &grad_temperature);
        break;
      }
    }
    grad_log_temperature = grad_temperature * t;
    return loss;
  }

  Matrix proxies;   ///< C x D proxy vectors (directions are their normalizations)
  Matrix kappas;    ///< C x D (nivMF) or C x 1 (vMF) concentrations; unused otherwise
  float log_temperature;
  Matrix grad_proxies;
  Matrix grad_kappas;
  float grad_log_temperature = 0.0f;

 private:
  // nivMF proxies have a concentration per dimension; the others one (or an unused one).
  Eigen::Index kappa_columns() const { return kind_ == LossKind::el_nivmf ? proxies.cols() : 1; }

  static typename pdml::ElNivmfLoss<float>::Options make_nivmf_options(const Config& config) {
    typename pdml::ElNivmfLoss<float>::Options options;
    options.n_samples = config.samples;
    options.guidance_weight = config.guidance;
    options.proxy_anchor_alpha = config.alpha;
    options.proxy_anchor_delta = config.delta;
    options.min_kappa = config.min_kappa;
    return options;
  }

  static pdml::ConstMatrixView<float> cview(const Matrix& m) {
    return pdml::ConstMatrixView<float>{m.data(), m.rows(), m.cols(), m.cols()};
  }
  static pdml::MatrixView<float> mview(Matrix& m) {
    return pdml::MatrixView<float>{m.data(), m.rows(), m.cols(), m.cols()};
  }

  LossKind kind_;
  float alpha_;
  float delta_;
  float min_kappa_;
  float kappa_init_;
  pdml::ElNivmfLoss<float> nivmf_;
  typename pdml::ElNivmfLoss<float>::Saved nivmf_saved_;
  pdml::CosineSimilaritySaved<float> cosine_saved_;
  pdml::ProxyAnchorSaved<float> anchor_saved_;
  pdml::ProxyNcaSaved<float> nca_saved_;
  pdml::PpkSimilaritySaved<float> ppk_saved_;
  Matrix similarities_;
  Matrix grad_similarities_;
};

}  // namespace fmnist
