// SPDX-License-Identifier: MIT
#pragma once
// Batched, validated host APIs of nivMF(nu, k) (nivmf.hpp, nivmf_sampler.hpp):
// exact sampling with its backward, and log-densities with theirs.
//
// Distribution n has direction row n of `directions` (N x p, unit rows) and
// concentrations row n of `concentrations` (N x p, every entry > 0).
// Samples follow vmf_sample's layout and streams: sample s of distribution n
// is row i = s * N + n of the (n_samples * N) x p output, drawn from
// RandomStream(rng, i) by exactly one vmf_sample_one call (p normals from a
// fresh block, then Wood's rejection loop), so a CUDA implementation
// reproduces it bit for bit. Use an RngKey offset distinct from the image
// vMF sampler's in the same step: equal keys address equal streams.
// Gradients with respect to the directions are ambient (not projected).

#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/thread_scratch.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/distributions/detail/batch_checks.hpp"
#include "pdml/distributions/nivmf.hpp"
#include "pdml/distributions/nivmf_sampler.hpp"
#include "pdml/distributions/vmf_sample.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/math/vmf_normalizer.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {

/// What nivmf_sample keeps for nivmf_sample_backward (owning copies).
template <class T>
struct NivmfSampleSaved {
  Index n_distributions = 0;
  int dimension = 0;
  int n_samples = 0;
  Index failed_draws = 0;
  std::vector<T> directions;       ///< N x p, nu_n
  std::vector<T> concentrations;   ///< N x p, k_n
  std::vector<T> mean_directions;  ///< N x p, K nu / |K nu| (the preimage vMF's mean direction)
  std::vector<T> kappas;           ///< N, |K nu|
  std::vector<T> samples;          ///< (n_samples N) x p, the samples x
  std::vector<T> tangents;         ///< (n_samples N) x p, unit tangents of the preimage vMF samples
  std::vector<VmfSampleDraw<T>> draws;  ///< n_samples N
  mutable detail::ThreadScratch<T> backward_scratch;  ///< 2p per thread, grown by the first backward
};

namespace detail {

template <class T>
void check_nivmf_parameters(const char* fn, InputView<T> directions, InputView<T> concentrations) {
  check_view(fn, "directions", directions);
  check_dimension(fn, "directions", directions.cols);
  check_finite(fn, "directions", directions);
  const T tol = std::sqrt(std::numeric_limits<T>::epsilon());
  for (Index r = 0; r < directions.rows; ++r) {
    T s = T(0);
    for (Index c = 0; c < directions.cols; ++c) s += directions(r, c) * directions(r, c);
    if (!(std::abs(std::sqrt(s) - T(1)) <= tol)) {
      std::ostringstream os;
      os << "has row " << r << " of norm " << std::sqrt(s) << ", not a unit vector";
      throw_invalid(fn, "directions", os.str());
    }
  }
  check_shape(fn, "concentrations", concentrations, directions.rows, directions.cols);
  check_finite(fn, "concentrations", concentrations);
  for (Index r = 0; r < concentrations.rows; ++r) {
    for (Index c = 0; c < concentrations.cols; ++c) {
      if (!(concentrations(r, c) > T(0))) {
        throw_invalid(fn, "concentrations", "must have every entry > 0");
      }
      // The pushforward divides by k and its gradients scale with max k / min k:
      // within [2^-500, 2^500] (double) / [2^-60, 2^60] (float) both stay finite
      // for incoming gradients up to ~1e300 / ~1e2 (docs/reliability.md).
      const T bound = std::ldexp(T(1), sizeof(T) == sizeof(float) ? 60 : 500);
      if (!(concentrations(r, c) >= T(1) / bound && concentrations(r, c) <= bound)) {
        std::ostringstream os;
        os << "has entry " << concentrations(r, c) << " at (" << r << ", " << c
           << ") outside [" << T(1) / bound << ", " << bound << "]";
        throw_invalid(fn, "concentrations", os.str());
      }
    }
  }
}

}  // namespace detail

/// Draws n_samples exact samples of each nivMF(directions_n, concentrations_n).
/// Throws std::invalid_argument before writing on invalid arguments, and
/// VmfSampleCapReached (std::runtime_error) after writing if a vMF draw hit its
/// rejection cap (probability < 2^-100 per draw; those rows are NaN).
template <class T>
void nivmf_sample(detail::InputView<T> directions, detail::InputView<T> concentrations,
                  int n_samples, RngKey rng, MatrixView<T> samples,
                  NivmfSampleSaved<T>* saved = nullptr) {
  const char* fn = "pdml::nivmf_sample";
  detail::check_nivmf_parameters<T>(fn, directions, concentrations);
  if (n_samples < 0) detail::throw_invalid(fn, "n_samples", "must be >= 0");
  const Index n_dist = directions.rows;
  const int p = static_cast<int>(directions.cols);
  const Index rows = n_dist * n_samples;
  detail::check_shape(fn, "samples", samples, rows, p);

  std::vector<T> local_means, local_kappas;
  std::vector<T>& means = saved ? saved->mean_directions : local_means;
  std::vector<T>& kappas = saved ? saved->kappas : local_kappas;
  means.assign(static_cast<std::size_t>(n_dist * p), T(0));
  kappas.assign(static_cast<std::size_t>(n_dist), T(0));
  for (Index n = 0; n < n_dist; ++n) {
    kappas[static_cast<std::size_t>(n)] = nivmf_preimage_parameters(
        p, directions.row(n), concentrations.row(n), means.data() + n * p);
  }
  T* tangents = nullptr;
  if (saved) {
    saved->tangents.assign(static_cast<std::size_t>(rows * p), T(0));
    saved->draws.assign(static_cast<std::size_t>(rows), VmfSampleDraw<T>{});
    tangents = saved->tangents.data();
  }
  Index failed = 0;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) reduction(+ : failed) if (rows * p > 65536)
#endif
  for (Index i = 0; i < rows; ++i) {
    const Index n = i % n_dist;
    RandomStream stream(rng, static_cast<std::uint64_t>(i));
    const VmfSampleDraw<T> draw = nivmf_sample_one(
        stream, p, concentrations.row(n), means.data() + n * p, kappas[static_cast<std::size_t>(n)],
        samples.row(i), tangents ? tangents + i * p : static_cast<T*>(nullptr));
    if (!draw.ok) ++failed;
    if (saved) saved->draws[static_cast<std::size_t>(i)] = draw;
  }
  if (saved) {
    saved->n_distributions = n_dist;
    saved->dimension = p;
    saved->n_samples = n_samples;
    saved->failed_draws = failed;
    saved->directions.resize(static_cast<std::size_t>(n_dist * p));
    saved->concentrations.resize(static_cast<std::size_t>(n_dist * p));
    for (Index n = 0; n < n_dist; ++n) {
      for (int j = 0; j < p; ++j) {
        saved->directions[static_cast<std::size_t>(n * p + j)] = directions(n, j);
        saved->concentrations[static_cast<std::size_t>(n * p + j)] = concentrations(n, j);
      }
    }
    saved->samples.resize(static_cast<std::size_t>(rows * p));
    for (Index i = 0; i < rows; ++i) {
      for (int j = 0; j < p; ++j) saved->samples[static_cast<std::size_t>(i * p + j)] = samples(i, j);
    }
  }
  if (failed > 0) {
    throw VmfSampleCapReached(std::string(fn) + ": " + std::to_string(failed) +
                                  " draw(s) reached the vMF rejection cap; their rows are NaN",
                              failed);
  }
}

/// Backward of nivmf_sample: grad_samples ((n_samples N) x p) -> grad_directions
/// (N x p, ambient) and grad_concentrations (N x p), both overwritten.
template <class T>
void nivmf_sample_backward(const NivmfSampleSaved<T>& saved, detail::InputView<T> grad_samples,
                           MatrixView<T> grad_directions, MatrixView<T> grad_concentrations) {
  const char* fn = "pdml::nivmf_sample_backward";
  const Index n_dist = saved.n_distributions;
  const int p = saved.dimension;
  const Index rows = n_dist * saved.n_samples;
  if (p < 2 || saved.samples.size() != static_cast<std::size_t>(rows * p) ||
      saved.tangents.size() != static_cast<std::size_t>(rows * p) ||
      saved.draws.size() != static_cast<std::size_t>(rows) ||
      saved.kappas.size() != static_cast<std::size_t>(n_dist)) {
    detail::throw_invalid(fn, "saved", "does not hold the state of an nivmf_sample call");
  }
  detail::check_shape(fn, "grad_samples", grad_samples, rows, p);
  detail::check_finite(fn, "grad_samples", grad_samples);
  detail::check_shape(fn, "grad_directions", grad_directions, n_dist, p);
  detail::check_shape(fn, "grad_concentrations", grad_concentrations, n_dist, p);
  saved.backward_scratch.reserve(2 * Index(p));
#if defined(_OPENMP)
#pragma omp parallel if (rows * p > 16384)
#endif
  {
    T* scratch = saved.backward_scratch.local();
#if defined(_OPENMP)
#pragma omp for schedule(dynamic, 1)
#endif
    for (Index n = 0; n < n_dist; ++n) {
      T* gd = grad_directions.row(n);
      T* gk = grad_concentrations.row(n);
      for (int j = 0; j < p; ++j) gd[j] = gk[j] = T(0);
      const T* nu = saved.directions.data() + n * p;
      const T* k = saved.concentrations.data() + n * p;
      const T* m = saved.mean_directions.data() + n * p;
      const T kappa = saved.kappas[static_cast<std::size_t>(n)];
      const double one_minus_mean = vmf_mean_resultant_complement(p, static_cast<double>(kappa));
      for (int s = 0; s < saved.n_samples; ++s) {
        const Index i = static_cast<Index>(s) * n_dist + n;
        const VmfSampleDraw<T>& draw = saved.draws[static_cast<std::size_t>(i)];
        if (!draw.ok) continue;
        const double dw = vmf_marginal_dw_dkappa(p, static_cast<double>(kappa), draw.one_minus_w,
                                                 draw.one_plus_w, one_minus_mean);
        nivmf_sample_one_backward(p, nu, k, m, kappa, saved.samples.data() + i * p,
                                  saved.tangents.data() + i * p, draw, dw, grad_samples.row(i),
                                  scratch, gd, gk);
      }
    }
  }
}

/// log f_n(x_i) of the exact nivMF density for points row i (M = S * N rows),
/// n = i % N: log_prob is M x 1.
template <class T>
void nivmf_log_prob(detail::InputView<T> directions, detail::InputView<T> concentrations,
                    detail::InputView<T> points, MatrixView<T> log_prob) {
  const char* fn = "pdml::nivmf_log_prob";
  detail::check_nivmf_parameters<T>(fn, directions, concentrations);
  detail::check_repeated_rows(fn, "points", points, directions.rows, directions.cols);
  detail::check_finite(fn, "points", points);
  detail::check_shape(fn, "log_prob", log_prob, points.rows, 1);
  const int p = static_cast<int>(directions.cols);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (points.rows * p > 65536)
#endif
  for (Index i = 0; i < points.rows; ++i) {
    const Index n = i % directions.rows;
    log_prob(i, 0) = nivmf_log_prob(p, directions.row(n), concentrations.row(n), points.row(i));
  }
}

/// Backward of nivmf_log_prob: grad_directions and grad_concentrations (N x p)
/// sum over each distribution's points; grad_points (M x p) is optional (an
/// empty view skips it). All outputs are overwritten.
template <class T>
void nivmf_log_prob_backward(detail::InputView<T> directions, detail::InputView<T> concentrations,
                             detail::InputView<T> points, detail::InputView<T> grad_log_prob,
                             MatrixView<T> grad_directions, MatrixView<T> grad_concentrations,
                             MatrixView<T> grad_points = MatrixView<T>{nullptr, 0, 0, 0}) {
  const char* fn = "pdml::nivmf_log_prob_backward";
  detail::check_nivmf_parameters<T>(fn, directions, concentrations);
  detail::check_repeated_rows(fn, "points", points, directions.rows, directions.cols);
  detail::check_finite(fn, "points", points);
  detail::check_shape(fn, "grad_log_prob", grad_log_prob, points.rows, 1);
  detail::check_finite(fn, "grad_log_prob", grad_log_prob);
  detail::check_shape(fn, "grad_directions", grad_directions, directions.rows, directions.cols);
  detail::check_shape(fn, "grad_concentrations", grad_concentrations, directions.rows,
                      directions.cols);
  const bool want_points =
      detail::optional_output(fn, "grad_points", grad_points, points.rows, points.cols);
  const int p = static_cast<int>(directions.cols);
  const Index n_dist = directions.rows;
  const Index per = n_dist == 0 ? 0 : points.rows / n_dist;
#if defined(_OPENMP)
#pragma omp parallel if (points.rows * p > 65536)
#endif
  {
    std::vector<T> g_nu(static_cast<std::size_t>(p)), g_k(static_cast<std::size_t>(p));
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (Index n = 0; n < n_dist; ++n) {
      T* gd = grad_directions.row(n);
      T* gk = grad_concentrations.row(n);
      for (int j = 0; j < p; ++j) gd[j] = gk[j] = T(0);
      for (Index s = 0; s < per; ++s) {
        const Index i = s * n_dist + n;
        nivmf_log_prob_backward(p, directions.row(n), concentrations.row(n), points.row(i),
                                grad_log_prob(i, 0), g_nu.data(), g_k.data(),
                                want_points ? grad_points.row(i) : static_cast<T*>(nullptr));
        for (int j = 0; j < p; ++j) {
          gd[j] += g_nu[static_cast<std::size_t>(j)];
          gk[j] += g_k[static_cast<std::size_t>(j)];
        }
      }
    }
  }
}

/// nivmf_sample_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void nivmf_sample_backward(const NivmfSampleSaved<T>& saved, detail::InputView<T> grad_samples,
                           MatrixView<T> grad_directions, MatrixView<T> grad_concentrations,
                           GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::nivmf_sample_backward", mode,
      {{"grad_directions", grad_directions}, {"grad_concentrations", grad_concentrations}},
      static_cast<T*>(nullptr),
      [&] { nivmf_sample_backward(saved, grad_samples, grad_directions, grad_concentrations); });
}

/// nivmf_log_prob_backward with a GradientMode: GradientMode::accumulate adds the gradients into
/// the outputs (which must not overlap) instead of overwriting them.
template <class T>
void nivmf_log_prob_backward(detail::InputView<T> directions, detail::InputView<T> concentrations,
                             detail::InputView<T> points, detail::InputView<T> grad_log_prob,
                             MatrixView<T> grad_directions, MatrixView<T> grad_concentrations,
                             MatrixView<T> grad_points, GradientMode mode) {
  detail::backward_with_mode<T>("pdml::nivmf_log_prob_backward", mode,
                                {{"grad_directions", grad_directions},
                                 {"grad_concentrations", grad_concentrations},
                                 {"grad_points", grad_points}},
                                static_cast<T*>(nullptr), [&] {
                                  nivmf_log_prob_backward(directions, concentrations, points,
                                                          grad_log_prob, grad_directions,
                                                          grad_concentrations, grad_points);
                                });
}

}  // namespace pdml
