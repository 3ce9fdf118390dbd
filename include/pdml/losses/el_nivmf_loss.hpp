// SPDX-License-Identifier: MIT
#pragma once
// The paper's criterion: Proxy-NCA over EL-nivMF similarities plus a ProxyAnchor
// guidance term on the mean directions,
//   L = L_nca(EL-nivMF similarities) + w L_pa(mu_i^T nu_c),
// as one forward/backward pair over views. Math: docs/math.md, section
// similarities-losses; contract and a training step: docs/api.md.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/distributions/vmf_sample.hpp"
#include "pdml/losses/proxy_anchor.hpp"
#include "pdml/losses/proxy_nca.hpp"
#include "pdml/losses/reduction.hpp"
#include "pdml/random/philox.hpp"
#include "pdml/similarities/cosine.hpp"
#include "pdml/similarities/detail/batched.hpp"
#include "pdml/similarities/el_nivmf.hpp"

namespace pdml {

/// The EL-nivMF criterion. Images are vMFs with natural parameters e_i (B x D);
/// class c is a nivMF proxy with vector v_c (direction v_c / |v_c|) and concentrations
/// k_c (both C x D). A const object is safe to share between threads; each concurrent
/// call needs its own Saved.
template <class T>
class ElNivmfLoss {
 public:
  struct Options {
    int n_samples = 5;             ///< S, vMF samples per image (shared across classes)
    T guidance_weight = 0;         ///< w, weight of the ProxyAnchor term
    T proxy_anchor_alpha = 32;     ///< ProxyAnchor scale
    T proxy_anchor_delta = T(0.1); ///< ProxyAnchor margin
    T min_kappa = T(0.1);          ///< concentrations are clamped from below here
    NivmfScoring scoring = NivmfScoring::paper_rule;  ///< or NivmfScoring::exact_density
    /// Recompute the (S B) x C sample weights in the backward (one more matrix product)
    /// instead of keeping them in Saved between forward and backward.
    bool recompute_in_backward = false;
    /// mean: L = (1/B') sum_i loss_i + w L_pa over the B' kept rows (the paper's);
    /// sum: B' times the mean; none: forward returns sum_i loss_i, the per-sample losses
    /// are Saved::sample_losses() and backward_per_sample takes one upstream gradient each
    /// (needs guidance_weight 0: the ProxyAnchor term has no per-sample form).
    Reduction reduction = Reduction::mean;
    /// Rows with this label contribute nothing (loss 0, every gradient 0); the mean then
    /// divides by the number of kept rows. Unset: every row counts.
    std::optional<std::int64_t> ignore_label;
    /// true: the `temperature` argument of forward is log T (any finite value) and
    /// *grad_temperature receives dL/d(log T) = T dL/dT (see docs/api.md for why).
    bool log_temperature = false;
    /// overwrite (default) or accumulate: backward adds into its gradient outputs.
    GradientMode gradients = GradientMode::overwrite;
  };

  /// Everything the backward needs; owns its buffers, so reusing one Saved across
  /// steps of equal shapes allocates nothing after the first step.
  struct Saved {
    Options options;          ///< the forward's options (backward checks they match its own)
    bool sampled = false;     ///< forward (true) or forward_with_samples (false)
    Index batch = 0;
    Index classes = 0;
    Index dim = 0;
    RowMajorMatrix<T> samples;     ///< (S B) x D, drawn by forward
    VmfSampleSaved<T> sampler;     ///< the sampler's state for its backward
    ElNivmfSimilaritySaved<T> similarity;
    RowMajorMatrix<T> similarities;  ///< B x C EL-nivMF similarities
    ProxyNcaSaved<T> nca;
    bool guided = false;
    CosineSimilaritySaved<T> cosine;
    RowMajorMatrix<T> cosines;       ///< B x C, mu_i^T nu_c (guided only)
    ProxyAnchorSaved<T> anchor;
    T nca_loss = 0;
    T anchor_loss = 0;
    // Backward scratch (sized by the forward).
    mutable RowMajorMatrix<T> grad_pairs;       ///< B x C
    mutable RowMajorMatrix<T> grad_samples;     ///< (S B) x D
    mutable RowMajorMatrix<T> grad_directions;  ///< B x D (guided only)
    mutable RowMajorMatrix<T> grad_proxy_terms; ///< C x D (guided only)
    /// The B per-sample Proxy-NCA losses loss_i = -sim(i, y_i) + logsumexp_c sim(i, c)
    /// of the last forward as a B x 1 view (0 for ignored rows); valid until the next
    /// forward. Their reduction plus the ProxyAnchor term is what forward returns.
    ConstMatrixView<T> sample_losses() const { return nca.sample_losses(); }
    /// Rows that counted (all of them unless options.ignore_label is set).
    Index kept_rows() const { return nca.kept_rows; }
    // Transactions: forward draws into the pending buffers and swaps them in only once
    // the draw succeeded; backward stages its gradients here and writes the caller's
    // outputs only once all of them are finite.
    RowMajorMatrix<T> pending_samples;
    VmfSampleSaved<T> pending_sampler;
    mutable RowMajorMatrix<T> staged_embeddings;  ///< B x D
    mutable RowMajorMatrix<T> staged_proxies;     ///< C x D
    mutable RowMajorMatrix<T> staged_kappas;      ///< C x D
  };

  explicit ElNivmfLoss(Options options) : options_(options) {
    const char* fn = "pdml::ElNivmfLoss::ElNivmfLoss";
    if (options.n_samples < 1) detail::throw_invalid(fn, "options.n_samples", "must be >= 1");
    detail::check_scalar(fn, "options.guidance_weight", options.guidance_weight, false);
    if (options.guidance_weight < T(0)) {
      detail::throw_invalid(fn, "options.guidance_weight", "must be >= 0");
    }
    detail::check_scalar(fn, "options.proxy_anchor_alpha", options.proxy_anchor_alpha, true);
    detail::check_scalar(fn, "options.proxy_anchor_delta", options.proxy_anchor_delta, false);
    detail::check_scalar(fn, "options.min_kappa", options.min_kappa, true);
    if (options.scoring != NivmfScoring::paper_rule &&
        options.scoring != NivmfScoring::exact_density) {
      detail::throw_invalid(fn, "options.scoring", "is not a NivmfScoring value");
    }
    if (options.reduction != Reduction::mean && options.reduction != Reduction::sum &&
        options.reduction != Reduction::none) {
      detail::throw_invalid(fn, "options.reduction", "is not a Reduction value");
    }
    if (options.reduction == Reduction::none && options.guidance_weight != T(0)) {
      detail::throw_invalid(fn, "options.reduction",
                            "is none, which needs guidance_weight 0 (the ProxyAnchor term is "
                            "a per-class term with no per-sample form)");
    }
    if (options.gradients != GradientMode::overwrite &&
        options.gradients != GradientMode::accumulate) {
      detail::throw_invalid(fn, "options.gradients", "is not a GradientMode value");
    }
  }

  const Options& options() const { return options_; }

  /// Draws S samples per image from vMF(e_i) with the counter-based key rng and returns L.
  /// Labels are std::int32_t or std::int64_t, in [0, C) (or the ignore label). With
  /// options.log_temperature, `temperature` is log T.
  T forward(ConstMatrixView<T> embeddings, Labels labels,
            ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T temperature, RngKey rng,
            Saved& saved) const {
    const char* fn = "pdml::ElNivmfLoss::forward";
    validate_inputs(fn, embeddings, labels, proxies, kappas, temperature);
    const Index b = embeddings.rows, d = embeddings.cols;
    if (options_.scoring == NivmfScoring::exact_density) {
      double k_min = 0, k_max = 0;  // the samples are unit vectors
      detail::check_exact_density_kappas(fn, kappas, options_.min_kappa, k_min, k_max);
    }
    detail::check_score_range(fn, proxies, kappas, options_.min_kappa, options_.scoring, 1.0,
                              1.0, temperature_of(temperature));
    // Drawn aside and swapped in: should a draw reach the sampler's iteration cap
    // (VmfSampleCapReached, below 2^-100 per draw), the previous forward stays usable.
    saved.pending_samples.resize(options_.n_samples * b, d);
    vmf_sample(embeddings, options_.n_samples, rng, detail::dense(saved.pending_samples),
               &saved.pending_sampler);
    saved.samples.swap(saved.pending_samples);
    std::swap(saved.sampler, saved.pending_sampler);
    return forward_unchecked(detail::dense_const(saved.samples), embeddings, labels,
                             proxies, kappas, temperature, true, saved);
  }

  /// Like forward, with caller-drawn samples ((S B) x D, sample s of image i at row s B + i).
  T forward_with_samples(ConstMatrixView<T> samples, ConstMatrixView<T> embeddings,
                         Labels labels, ConstMatrixView<T> proxies,
                         ConstMatrixView<T> kappas, T temperature, Saved& saved) const {
    const char* fn = "pdml::ElNivmfLoss::forward_with_samples";
    validate_inputs(fn, embeddings, labels, proxies, kappas, temperature);
    if (samples.rows != options_.n_samples * embeddings.rows ||
        samples.cols != embeddings.cols) {
      detail::check_view(fn, "samples", samples);
      std::ostringstream os;
      os << "has shape " << samples.rows << " x " << samples.cols << " but "
         << options_.n_samples * embeddings.rows << " x " << embeddings.cols
         << " is required (options.n_samples = " << options_.n_samples << " times the "
         << embeddings.rows << " x " << embeddings.cols << " of 'embeddings')";
      detail::throw_invalid(fn, "samples", os.str());
    }
    detail::check_input(fn, "samples", samples, options_.n_samples * embeddings.rows,
                        embeddings.cols);
    if (options_.scoring == NivmfScoring::exact_density) {
      detail::check_exact_density_range(fn, "samples", samples, kappas, options_.min_kappa);
    }
    double x_min = 0, x_max = 0;
    detail::row_norm_range(samples, x_min, x_max);
    detail::check_score_range(fn, proxies, kappas, options_.min_kappa, options_.scoring, x_min,
                              x_max, temperature_of(temperature));
    return forward_unchecked(samples, embeddings, labels, proxies, kappas, temperature, false,
                             saved);
  }

  /// Gradients of grad_loss * L. Overwrites (or, with options.gradients = accumulate,
  /// adds into) grad_embeddings (B x D), grad_proxies (C x D), grad_kappas (C x D, zero
  /// where clamped) and *grad_temperature (unless null; d/d(log T) with
  /// options.log_temperature). After forward, grad_embeddings includes the path through
  /// the sampler. After forward_with_samples it holds only the direct ProxyAnchor term,
  /// and the sample gradients ((S B) x D) go to *grad_samples (dropped when it is null).
  /// After forward, a non-null grad_samples also receives the sample gradients. With
  /// Reduction::none, grad_loss is the upstream gradient of every per-sample loss.
  /// Rejects a Saved whose forward ran with other options, and outputs that overlap.
  void backward(const Saved& saved, T grad_loss, MatrixView<T> grad_embeddings,
                MatrixView<T> grad_proxies, MatrixView<T> grad_kappas, T* grad_temperature,
                MatrixView<T>* grad_samples = nullptr) const {
    const char* fn = "pdml::ElNivmfLoss::backward";
    check_backward(fn, saved, grad_embeddings, grad_proxies, grad_kappas, grad_samples);
    detail::check_scalar(fn, "grad_loss", grad_loss, false);
    run_backward(fn, "grad_loss", saved, grad_embeddings, grad_proxies, grad_kappas,
                 grad_temperature, grad_samples, grad_loss, [&](MatrixView<T> grad_pairs) {
                   detail::proxy_nca_backward_unchecked(saved.nca, grad_loss, grad_pairs);
                 });
  }

  /// Backward of a Reduction::none forward: grad_sample_losses (B x 1) holds the upstream
  /// gradient of each per-sample loss (rows with the ignore label get none). Outputs as
  /// in the scalar backward.
  /// (A separate name, so that &ElNivmfLoss::backward stays unambiguous.)
  void backward_per_sample(const Saved& saved, ConstMatrixView<T> grad_sample_losses,
                           MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                           MatrixView<T> grad_kappas, T* grad_temperature,
                           MatrixView<T>* grad_samples = nullptr) const {
    const char* fn = "pdml::ElNivmfLoss::backward_per_sample";
    check_backward(fn, saved, grad_embeddings, grad_proxies, grad_kappas, grad_samples);
    if (options_.reduction != Reduction::none) {
      detail::throw_invalid(fn, "grad_sample_losses",
                            "needs options.reduction = none (pass a scalar grad_loss)");
    }
    detail::check_input(fn, "grad_sample_losses", grad_sample_losses, saved.batch, 1);
    run_backward(fn, "grad_sample_losses", saved, grad_embeddings, grad_proxies, grad_kappas,
                 grad_temperature, grad_samples, T(0), [&](MatrixView<T> grad_pairs) {
                   detail::proxy_nca_backward_rows(
                       saved.nca, [&](Index i) { return grad_sample_losses(i, 0); },
                       grad_pairs);
                 });
  }

 private:
  /// Every option the backward depends on (all but `gradients`) equal, else the name of
  /// the first that differs.
  static const char* differing_option(const Options& a, const Options& b) {
    if (a.n_samples != b.n_samples) return "n_samples";
    if (a.guidance_weight != b.guidance_weight) return "guidance_weight";
    if (a.proxy_anchor_alpha != b.proxy_anchor_alpha) return "proxy_anchor_alpha";
    if (a.proxy_anchor_delta != b.proxy_anchor_delta) return "proxy_anchor_delta";
    if (a.min_kappa != b.min_kappa) return "min_kappa";
    if (a.scoring != b.scoring) return "scoring";
    if (a.recompute_in_backward != b.recompute_in_backward) return "recompute_in_backward";
    if (a.reduction != b.reduction) return "reduction";
    if (a.ignore_label != b.ignore_label) return "ignore_label";
    if (a.log_temperature != b.log_temperature) return "log_temperature";
    return nullptr;
  }

  void check_backward(const char* fn, const Saved& saved, MatrixView<T> grad_embeddings,
                      MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                      MatrixView<T>* grad_samples) const {
    if (saved.batch == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
    if (const char* field = differing_option(saved.options, options_)) {
      detail::throw_invalid(fn, "saved",
                            std::string("comes from a loss with other options (options.") +
                                field + " differs)");
    }
    const Index b = saved.batch, c_count = saved.classes, d = saved.dim;
    const Index rows = Index(options_.n_samples) * b;
    detail::check_shape_of(fn, "grad_embeddings", grad_embeddings, "embeddings", b, d);
    detail::check_shape_of(fn, "grad_proxies", grad_proxies, "proxies", c_count, d);
    detail::check_shape_of(fn, "grad_kappas", grad_kappas, "kappas", c_count, d);
    if (grad_samples != nullptr) {
      detail::check_shape_of(fn, "grad_samples", *grad_samples, "samples", rows, d);
    }
    const MatrixView<T> no_view{nullptr, 0, 0, 0};
    detail::check_no_overlap<T>(fn, {{"grad_embeddings", grad_embeddings},
                                     {"grad_proxies", grad_proxies},
                                     {"grad_kappas", grad_kappas},
                                     {"grad_samples", grad_samples ? *grad_samples : no_view}});
  }

  /// The shared backward: nca_backward fills the B x C gradient of the Proxy-NCA term;
  /// the ProxyAnchor term is scaled by grad_loss (0 for the per-sample form, whose
  /// options exclude guidance). Every gradient is computed into the Saved's staging
  /// buffers first; the caller's outputs are written (overwritten or added to) only once
  /// all of them are finite, since a gradient can exceed the largest T (e.g. in float
  /// for a tiny temperature against large |K nu|). Otherwise it throws naming
  /// upstream_name, the caller's upstream gradient, with nothing written.
  template <class NcaBackward>
  void run_backward(const char* fn, const char* upstream_name, const Saved& saved,
                    MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                    MatrixView<T> grad_kappas, T* grad_temperature,
                    MatrixView<T>* grad_samples, T grad_loss,
                    NcaBackward&& nca_backward) const {
    auto overflow = [&]() {
      std::ostringstream os;
      os << "is too large for this forward pass (its temperature "
         << saved.similarity.temperature
         << "): some gradient exceeds the largest finite value of its type; nothing was "
            "written";
      detail::throw_invalid(fn, upstream_name, os.str());
    };
    nca_backward(detail::dense(saved.grad_pairs));
    T staged_temperature = 0;
    detail::el_nivmf_similarity_backward_unchecked(
        saved.similarity, detail::dense_const(saved.grad_pairs), detail::dense(saved.grad_samples),
        detail::dense(saved.staged_proxies), detail::dense(saved.staged_kappas),
        &staged_temperature);
    if (options_.log_temperature) {
      staged_temperature *= saved.similarity.temperature;  // dL/dlogT = T dL/dT
    }
    if (!saved.grad_samples.allFinite() || !saved.staged_proxies.allFinite() ||
        !saved.staged_kappas.allFinite() || !std::isfinite(staged_temperature)) {
      overflow();
    }
    saved.staged_embeddings.setZero();  // after forward_with_samples: only the guidance term
    if (saved.sampled) {
      vmf_sample_backward(saved.sampler, detail::dense_const(saved.grad_samples),
                          detail::dense(saved.staged_embeddings));
    }
    if (saved.guided) {
      // sum reduction is B' times the mean, the ProxyAnchor term included.
      const T anchor_scale = options_.reduction == Reduction::mean
                                 ? T(1)
                                 : static_cast<T>(saved.nca.kept_rows);
      detail::proxy_anchor_backward_unchecked(
          saved.anchor, grad_loss * options_.guidance_weight * anchor_scale,
          detail::dense(saved.grad_pairs));
      detail::cosine_similarity_backward_unchecked(
          saved.cosine, detail::dense_const(saved.grad_pairs),
          detail::dense(saved.grad_directions), detail::dense(saved.grad_proxy_terms),
          static_cast<T*>(nullptr));
      saved.staged_embeddings += saved.grad_directions;
      saved.staged_proxies += saved.grad_proxy_terms;
    }
    if (!saved.staged_embeddings.allFinite() || !saved.staged_proxies.allFinite()) overflow();
    const bool add = options_.gradients == GradientMode::accumulate;
    auto commit = [add](MatrixView<T> output, const RowMajorMatrix<T>& staged) {
      if (add) {
        as_eigen(output) += staged;
      } else {
        as_eigen(output) = staged;
      }
    };
    commit(grad_embeddings, saved.staged_embeddings);
    commit(grad_proxies, saved.staged_proxies);
    commit(grad_kappas, saved.staged_kappas);
    if (grad_samples != nullptr) commit(*grad_samples, saved.grad_samples);
    if (grad_temperature != nullptr) {
      *grad_temperature = add ? *grad_temperature + staged_temperature : staged_temperature;
    }
  }

  /// T from the caller's temperature argument (log T with options.log_temperature).
  T temperature_of(T argument) const {
    return options_.log_temperature ? std::exp(argument) : argument;
  }

  void validate_inputs(const char* fn, ConstMatrixView<T> embeddings, Labels labels,
                       ConstMatrixView<T> proxies, ConstMatrixView<T> kappas,
                       T temperature) const {
    detail::check_nonempty(fn, "embeddings", embeddings);
    if (embeddings.cols < 2) detail::throw_invalid(fn, "embeddings", "needs at least 2 columns");
    detail::check_input(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
    detail::check_row_norms_fit(fn, "embeddings", embeddings);
    detail::check_nonempty(fn, "proxies", proxies);
    detail::check_same_cols(fn, "proxies", proxies, "embeddings", embeddings);
    detail::check_proxy_vectors(fn, "proxies", proxies, proxies.rows, embeddings.cols);
    detail::check_shape_of(fn, "kappas", kappas, "proxies", proxies.rows, proxies.cols);
    detail::check_input(fn, "kappas", kappas, proxies.rows, embeddings.cols);
    detail::check_labels(fn, "labels", labels, embeddings.rows, proxies.rows,
                         options_.ignore_label ? &*options_.ignore_label : nullptr);
    if (options_.log_temperature) {
      // log T: T = exp(log T) must be a normal number, as a temperature itself must.
      detail::check_scalar(fn, "temperature", temperature, false);
      detail::check_temperature(fn, std::exp(temperature));
    } else {
      detail::check_temperature(fn, temperature);
    }
  }

  T forward_unchecked(ConstMatrixView<T> samples, ConstMatrixView<T> embeddings,
                      Labels labels, ConstMatrixView<T> proxies,
                      ConstMatrixView<T> kappas, T temperature_argument, bool sampled,
                      Saved& saved) const {
    const Index b = embeddings.rows, c_count = proxies.rows, d = embeddings.cols;
    const T temperature = temperature_of(temperature_argument);
    saved.options = options_;
    saved.sampled = sampled;
    saved.batch = b;
    saved.classes = c_count;
    saved.dim = d;
    saved.similarities.resize(b, c_count);
    detail::el_nivmf_similarity_forward_unchecked(
        samples, Index(options_.n_samples), proxies, kappas, options_.min_kappa, temperature,
        options_.scoring, detail::dense(saved.similarities), saved.similarity,
        options_.recompute_in_backward);
    saved.nca_loss = detail::proxy_nca_forward_unchecked(
        detail::dense_const(saved.similarities), labels, saved.nca,
        ProxyNcaOptions{options_.reduction, options_.ignore_label});
    saved.guided = options_.guidance_weight != T(0);
    saved.anchor_loss = 0;
    if (saved.guided) {
      saved.cosines.resize(b, c_count);
      detail::cosine_similarity_forward_unchecked(embeddings, proxies, T(1),
                                                  detail::dense(saved.cosines), saved.cosine);
      saved.anchor_loss = detail::proxy_anchor_forward_unchecked(
          detail::dense_const(saved.cosines), labels, options_.proxy_anchor_alpha,
          options_.proxy_anchor_delta, saved.anchor, options_.ignore_label);
      saved.grad_directions.resize(b, d);
      saved.grad_proxy_terms.resize(c_count, d);
    }
    saved.grad_pairs.resize(b, c_count);
    saved.grad_samples.resize(Index(options_.n_samples) * b, d);
    saved.staged_embeddings.resize(b, d);
    saved.staged_proxies.resize(c_count, d);
    saved.staged_kappas.resize(c_count, d);
    const T anchor_scale =
        options_.reduction == Reduction::mean ? T(1) : static_cast<T>(saved.nca.kept_rows);
    return saved.nca_loss + options_.guidance_weight * anchor_scale * saved.anchor_loss;
  }

  Options options_;
};

/// The paper's warm start: for every class present in labels, proxies row c = the
/// normalized mean of the embeddings of class c and kappas row c = initial_kappa in every
/// dimension. Rows of absent classes (and of classes whose mean is 0) are left untouched.
/// Returns the number of classes initialized. Labels are std::int32_t or std::int64_t;
/// rows whose label equals ignore_label (when set) are skipped.
template <class T>
Index warm_start_proxies(ConstMatrixView<detail::NonDeduced<T>> embeddings, Labels labels,
                         detail::NonDeduced<T> initial_kappa, MatrixView<T> proxies,
                         MatrixView<T> kappas,
                         std::optional<std::int64_t> ignore_label = std::nullopt) {
  const char* fn = "pdml::warm_start_proxies";
  detail::check_nonempty(fn, "embeddings", embeddings);
  detail::check_input(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  detail::check_nonempty(fn, "proxies", proxies);
  detail::check_same_cols(fn, "proxies", proxies, "embeddings", embeddings);
  detail::check_shape_of(fn, "kappas", kappas, "proxies", proxies.rows, proxies.cols);
  detail::check_labels(fn, "labels", labels, embeddings.rows, proxies.rows,
                       ignore_label ? &*ignore_label : nullptr);
  detail::check_no_overlap<T>(fn, {{"proxies", proxies}, {"kappas", kappas}});
  detail::check_scalar(fn, "initial_kappa", initial_kappa, true);
  // The direction of a sum does not change under a common power-of-two scale: each
  // class sums its embeddings scaled by 2^-e (e the exponent of the class's largest
  // magnitude), so that sums of large rows do not overflow and rows near the
  // subnormals keep their bits.
  std::vector<T> largest(static_cast<std::size_t>(proxies.rows), T(0));
  for (Index i = 0; i < embeddings.rows; ++i) {
    if (ignore_label && labels[i] == *ignore_label) continue;
    T& top = largest[static_cast<std::size_t>(labels[i])];
    for (Index j = 0; j < embeddings.cols; ++j) top = std::max(top, std::abs(embeddings(i, j)));
  }
  RowMajorMatrix<T> sums = RowMajorMatrix<T>::Zero(proxies.rows, embeddings.cols);
  for (Index i = 0; i < embeddings.rows; ++i) {
    if (ignore_label && labels[i] == *ignore_label) continue;
    const T top = largest[static_cast<std::size_t>(labels[i])];
    const int exponent = top > T(0) ? std::ilogb(top) : 0;
    for (Index j = 0; j < embeddings.cols; ++j) {
      sums(labels[i], j) += std::scalbn(embeddings(i, j), -exponent);
    }
  }
  auto v = as_eigen(proxies);
  auto k = as_eigen(kappas);
  Index initialized = 0;
  for (Index c = 0; c < proxies.rows; ++c) {
    const ScaledNorm norm = scaled_norm(sums.row(c).data(), sums.cols());
    if (!(norm.value > 0.0)) continue;
    divide_by_scaled_norm(sums.row(c).data(), sums.cols(), 1, norm, v.row(c).data());
    k.row(c).setConstant(initial_kappa);
    ++initialized;
  }
  return initialized;
}

}  // namespace pdml
