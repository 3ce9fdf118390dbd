// SPDX-License-Identifier: MIT
#pragma once
// EL-nivMF similarity (the paper's): the expected likelihood of a proxy under an image
// vMF, estimated with S samples x_is ~ vMF(mu_i, kappa_i) shared across classes,
//   sim(i, c) = log( (1/S) sum_s exp( l_c(x_is) / T ) ),
// with l_c the nivMF score of nivmf_scoring.hpp (the paper's rule by default, or the
// exact log-density). This header takes caller-drawn samples ((S B) x D, sample s of
// image i at row s B + i); ElNivmfLoss (losses/el_nivmf_loss.hpp) draws them itself.
// Math: docs/math.md, section similarities-losses.

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "pdml/core/cpu_dispatch.hpp"
#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/similarities/detail/batched.hpp"
#include "pdml/similarities/nivmf_scoring.hpp"

namespace pdml {

/// State kept by el_nivmf_similarity_forward for el_nivmf_similarity_backward.
template <class T>
struct ElNivmfSimilaritySaved {
  NivmfScoresSaved<T> scores;
  Index n_samples = 0;
  T temperature = T(1);
  bool recompute = false;         ///< weights recomputed in the backward instead of stored
  RowMajorMatrix<T> weights;      ///< (S B) x C: softmax over s of l_c(x_is) / T (if stored)
  RowMajorMatrix<T> log_sums;     ///< B x C: logsumexp_s l_c(x_is) / T
  RowMajorMatrix<T> mean_scaled;  ///< B x C: sum_s w_isc l_c(x_is) / T (for d/dT)
  mutable RowMajorMatrix<T> scratch_pairs;  ///< (S B) x C
};

namespace detail {

#if PDML_HAS_CPU_DISPATCH
// The per-image softmax over samples of el_nivmf_similarity_forward, for image
// i: w holds its S rows l_s / T scores (row s at w + s * row_stride, C each),
// overwritten with the weights; top (the similarity row), mean and sum (C
// each) receive lse - log S, sum_s w_s l_s / T and lse. Plain loops with a
// vectorisable exp (vmf_quadrature_exp, evaluated in double) so that the
// run-time dispatched kernels below vectorise them at the level the CPU has.
// Only builds with run-time dispatch use it: where the flags already give the
// wide instruction set, Eigen's vectorised float exp (below) is faster.
template <bool kFma, class T>
PDML_FORCE_INLINE void el_nivmf_softmax_image_body(T* w, Index row_stride, Index n_samples,
                                                   Index c_count, T inv_t, T log_s, T* top,
                                                   T* mean, T* sum) {
  for (Index c = 0; c < c_count; ++c) top[c] = w[c] * inv_t;
  for (Index s = 1; s < n_samples; ++s) {
    const T* row = w + s * row_stride;
    PDML_SIMD_LOOP
    for (Index c = 0; c < c_count; ++c) {
      const T scaled = row[c] * inv_t;
      top[c] = scaled > top[c] ? scaled : top[c];
    }
  }
  for (Index c = 0; c < c_count; ++c) {
    sum[c] = T(0);
    mean[c] = T(0);
  }
  // Chunks of kChunk classes: the exponentials go to a local array first (a
  // lane loop with no stores to memory the compiler must assume aliased).
  constexpr Index kChunk = 16;
  for (Index s = 0; s < n_samples; ++s) {
    T* row = w + s * row_stride;
    for (Index start = 0; start < c_count; start += kChunk) {
      const Index count = c_count - start < kChunk ? c_count - start : kChunk;
      // scaled is rounded once and used twice, so that no level contracts
      // scaled - top into an FMA (that would change the weights' last bits).
      T scaled[kChunk];
      double exponent[kChunk];
      for (Index k = 0; k < kChunk; ++k) {
        scaled[k] = k < count ? row[start + k] * inv_t : T(0);
        exponent[k] = k < count ? static_cast<double>(scaled[k] - top[start + k]) : 0.0;
      }
      double e[kChunk];
      PDML_SIMD_LOOP
      for (Index k = 0; k < kChunk; ++k) e[k] = vmf_quadrature_exp<kFma>(exponent[k]);
      for (Index k = 0; k < count; ++k) {
        const T value = static_cast<T>(e[k]);
        mean[start + k] += value * scaled[k];
        row[start + k] = value;
        sum[start + k] += value;
      }
    }
  }
  for (Index c = 0; c < c_count; ++c) {
    const T inv_sum = T(1) / sum[c];
    for (Index s = 0; s < n_samples; ++s) w[s * row_stride + c] *= inv_sum;
    mean[c] *= inv_sum;
    sum[c] = top[c] + std::log(sum[c]);
    top[c] = sum[c] - log_s;
  }
}

// Run-time dispatched kernels (core/cpu_dispatch.hpp); results agree with the
// baseline level's to a few ulp.
template <class T>
PDML_TARGET_AVX512 void el_nivmf_softmax_image_avx512(T* w, Index row_stride, Index n_samples,
                                                      Index c_count, T inv_t, T log_s, T* top,
                                                      T* mean, T* sum) {
  el_nivmf_softmax_image_body<true>(w, row_stride, n_samples, c_count, inv_t, log_s, top, mean,
                                    sum);
}
template <class T>
PDML_TARGET_AVX2 void el_nivmf_softmax_image_avx2(T* w, Index row_stride, Index n_samples,
                                                  Index c_count, T inv_t, T log_s, T* top,
                                                  T* mean, T* sum) {
  el_nivmf_softmax_image_body<true>(w, row_stride, n_samples, c_count, inv_t, log_s, top, mean,
                                    sum);
}

template <class T>
void el_nivmf_softmax_image(T* w, Index row_stride, Index n_samples, Index c_count, T inv_t,
                            T log_s, T* top, T* mean, T* sum) {
  switch (cpu_level()) {
    case CpuLevel::avx512:
      el_nivmf_softmax_image_avx512(w, row_stride, n_samples, c_count, inv_t, log_s, top, mean,
                                    sum);
      return;
    case CpuLevel::avx2:
      el_nivmf_softmax_image_avx2(w, row_stride, n_samples, c_count, inv_t, log_s, top, mean, sum);
      return;
    default: break;
  }
  el_nivmf_softmax_image_body<kFusedFma>(w, row_stride, n_samples, c_count, inv_t, log_s, top,
                                         mean, sum);
}
#endif

template <class T>
void el_nivmf_similarity_forward_unchecked(ConstMatrixView<T> samples, Index n_samples,
                                           ConstMatrixView<T> proxies,
                                           ConstMatrixView<T> kappas, T min_kappa,
                                           T temperature, NivmfScoring scoring,
                                           MatrixView<T> similarities,
                                           ElNivmfSimilaritySaved<T>& saved,
                                           bool recompute = false) {
  const Index rows = samples.rows, c_count = proxies.rows;
  const Index b = rows / n_samples;
  saved.n_samples = n_samples;
  saved.temperature = temperature;
  saved.recompute = recompute;
  saved.mean_scaled.resize(b, c_count);
  saved.scratch_pairs.resize(rows, c_count);
  // Recomputing: the scores go to the backward's scratch and only the B x C log-sums stay.
  saved.weights.resize(recompute ? 0 : rows, recompute ? 0 : c_count);
  saved.log_sums.resize(b, c_count);
  nivmf_scores_forward_unchecked(
      samples, proxies, kappas, min_kappa, scoring,
      recompute ? detail::dense(saved.scratch_pairs) : detail::dense(saved.weights),
      saved.scores);
  const T inv_t = T(1) / temperature;
  const T log_s = std::log(static_cast<T>(n_samples));
  auto& w = recompute ? saved.scratch_pairs : saved.weights;
  auto& sums = saved.log_sums;  // holds the sums of exponentials, then their logs
  // Row-wise over classes (contiguous, vectorized exp): for image i and every class,
  // top = max_s l/T, e_s = exp(l_s/T - top), sum = sum_s e_s, w_s = e_s / sum,
  // mean = sum_s w_s l_s/T, lse = top + log(sum).
#if PDML_HAS_CPU_DISPATCH
  parallel_rows(b, c_count * n_samples, [&](Index i) {
    el_nivmf_softmax_image(w.data() + i * c_count, b * c_count, n_samples, c_count, inv_t, log_s,
                           similarities.row(i), saved.mean_scaled.data() + i * c_count,
                           sums.data() + i * c_count);
  });
#else
  auto sim = as_eigen(similarities);
  parallel_rows(b, c_count * n_samples, [&](Index i) {
    auto top = sim.row(i).array();
    auto mean = saved.mean_scaled.row(i).array();
    auto sum = sums.row(i).array();
    top = w.row(i).array() * inv_t;
    for (Index s = 1; s < n_samples; ++s) top = top.max(w.row(s * b + i).array() * inv_t);
    sum.setZero();
    mean.setZero();
    for (Index s = 0; s < n_samples; ++s) {
      auto row = w.row(s * b + i).array();
      row *= inv_t;  // scaled score
      mean += (row - top).exp() * row;
      row = (row - top).exp();
      sum += row;
    }
    const auto inv_sum = sum.inverse();
    for (Index s = 0; s < n_samples; ++s) w.row(s * b + i).array() *= inv_sum;
    mean *= inv_sum;
    sum = top + sum.log();
    top = sum - log_s;
  });
#endif
}

/// Overwrites grad_samples ((S B) x D), grad_proxies and grad_kappas (C x D); writes
/// *grad_temperature unless null.
template <class T>
void el_nivmf_similarity_backward_unchecked(const ElNivmfSimilaritySaved<T>& saved,
                                            ConstMatrixView<T> grad_similarities,
                                            MatrixView<T> grad_samples,
                                            MatrixView<T> grad_proxies,
                                            MatrixView<T> grad_kappas, T* grad_temperature) {
  const Index rows = saved.scratch_pairs.rows(), c_count = saved.scratch_pairs.cols();
  const Index n_samples = saved.n_samples, b = rows / n_samples;
  const auto g = as_eigen(grad_similarities);
  const T inv_t = T(1) / saved.temperature;
  auto& h = saved.scratch_pairs;
  if (saved.recompute) {
    nivmf_scores_recompute(saved.scores, detail::dense(h));
    parallel_rows(rows, c_count, [&](Index r) {
      const Index i = r % b;
      h.row(r).array() = g.row(i).array() * inv_t *
                         (h.row(r).array() * inv_t - saved.log_sums.row(i).array()).exp();
    });
  } else {
    parallel_rows(rows, c_count, [&](Index r) {
      const Index i = r % b;
      h.row(r) = (saved.weights.row(r).array() * g.row(i).array() * inv_t).matrix();
    });
  }
  if (grad_temperature != nullptr) {
    // d sim / dT = -(1/T) sum_s w l / T
    *grad_temperature = -(g.cwiseProduct(saved.mean_scaled)).sum() * inv_t;
  }
  nivmf_scores_backward_unchecked(saved.scores, detail::dense_const(h), grad_samples,
                                  grad_proxies, grad_kappas);
}

}  // namespace detail

/// EL-nivMF similarities (B x C) from samples ((S B) x D, sample s of image i at row s B + i),
/// proxy vectors and raw concentrations (C x D), min_kappa > 0 and temperature > 0.
/// recompute_in_backward = true keeps only B x C log-sums instead of the (S B) x C sample
/// weights and recomputes the scores in the backward (one more matrix product).
/// Throws std::invalid_argument (naming the argument) before writing anything.
template <class T>
void el_nivmf_similarity_forward(ConstMatrixView<detail::NonDeduced<T>> samples, int n_samples,
                                 ConstMatrixView<detail::NonDeduced<T>> proxies,
                                 ConstMatrixView<detail::NonDeduced<T>> kappas, T min_kappa,
                                 T temperature, NivmfScoring scoring, MatrixView<T> similarities,
                                 ElNivmfSimilaritySaved<T>& saved,
                                 bool recompute_in_backward = false) {
  const char* fn = "pdml::el_nivmf_similarity_forward";
  if (n_samples < 1) detail::throw_invalid(fn, "n_samples", "must be at least 1");
  detail::check_nonempty(fn, "samples", samples);
  detail::check_nonempty(fn, "proxies", proxies);
  if (samples.rows % n_samples != 0) {
    detail::throw_invalid(fn, "samples", "has a row count that is not a multiple of n_samples");
  }
  detail::check_same_cols(fn, "proxies", proxies, "samples", samples);
  detail::check_input(fn, "samples", samples, samples.rows, proxies.cols);
  detail::check_proxy_vectors(fn, "proxies", proxies, proxies.rows, proxies.cols);
  detail::check_shape_of(fn, "kappas", kappas, "proxies", proxies.rows, proxies.cols);
  detail::check_input(fn, "kappas", kappas, proxies.rows, proxies.cols);
  detail::check_min_kappa(fn, min_kappa);
  detail::check_temperature(fn, temperature);
  if (scoring == NivmfScoring::exact_density) {
    detail::check_exact_density_range(fn, "samples", samples, kappas, min_kappa);
  }
  double x_min = 0, x_max = 0;
  detail::row_norm_range(samples, x_min, x_max);
  detail::check_score_range(fn, proxies, kappas, min_kappa, scoring, x_min, x_max, temperature);
  detail::check_output(fn, "similarities", similarities, samples.rows / n_samples, proxies.rows);
  detail::el_nivmf_similarity_forward_unchecked(samples, Index(n_samples), proxies, kappas,
                                                min_kappa, temperature, scoring, similarities,
                                                saved, recompute_in_backward);
}

/// Backward of el_nivmf_similarity_forward. Overwrites grad_samples ((S B) x D),
/// grad_proxies (C x D) and grad_kappas (C x D, zero where clamped); writes
/// *grad_temperature unless it is null.
template <class T>
void el_nivmf_similarity_backward(const ElNivmfSimilaritySaved<T>& saved,
                                  ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                                  MatrixView<T> grad_samples, MatrixView<T> grad_proxies,
                                  MatrixView<T> grad_kappas,
                                  detail::NonDeduced<T>* grad_temperature) {
  const char* fn = "pdml::el_nivmf_similarity_backward";
  if (saved.n_samples == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
  const Index rows = saved.scratch_pairs.rows(), c_count = saved.scratch_pairs.cols();
  const Index d = saved.scores.directions.cols();
  detail::check_input(fn, "grad_similarities", grad_similarities, rows / saved.n_samples,
                      c_count);
  detail::check_output(fn, "grad_samples", grad_samples, rows, d);
  detail::check_output(fn, "grad_proxies", grad_proxies, c_count, d);
  detail::check_output(fn, "grad_kappas", grad_kappas, c_count, d);
  detail::check_no_overlap<T>(fn, {{"grad_samples", grad_samples},
                                  {"grad_proxies", grad_proxies},
                                  {"grad_kappas", grad_kappas}});
  detail::el_nivmf_similarity_backward_unchecked(saved, grad_similarities, grad_samples,
                                                 grad_proxies, grad_kappas, grad_temperature);
}

/// el_nivmf_similarity_backward with a GradientMode: GradientMode::accumulate adds the gradients
/// into the outputs (which must not overlap) instead of overwriting them.
template <class T>
void el_nivmf_similarity_backward(const ElNivmfSimilaritySaved<T>& saved,
                                  ConstMatrixView<detail::NonDeduced<T>> grad_similarities,
                                  MatrixView<T> grad_samples, MatrixView<T> grad_proxies,
                                  MatrixView<T> grad_kappas,
                                  detail::NonDeduced<T>* grad_temperature, GradientMode mode) {
  detail::backward_with_mode<T>("pdml::el_nivmf_similarity_backward", mode,
                                {{"grad_samples", grad_samples},
                                 {"grad_proxies", grad_proxies},
                                 {"grad_kappas", grad_kappas}},
                                grad_temperature, [&] {
                                  el_nivmf_similarity_backward(saved, grad_similarities,
                                                               grad_samples, grad_proxies,
                                                               grad_kappas, grad_temperature);
                                });
}

}  // namespace pdml
