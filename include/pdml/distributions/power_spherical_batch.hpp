// SPDX-License-Identifier: MIT
#pragma once
// Batched, validated host APIs of the Power Spherical distribution
// (power_spherical.hpp): sampling with its backward, and log-densities.
//
// Distribution n has direction row n of `directions` (N x p, unit rows) and
// concentration row n of `concentrations` (N x 1, >= 0). Samples follow the
// vMF sampler's layout: sample s of distribution n is row s * N + n of the
// (n_samples * N) x p output, and it is drawn from the random stream
// RandomStream(rng, s * N + n) (first p normals from a fresh block, then the
// Beta draw), so results depend neither on threads nor on the host/device.
// Use an RngKey offset distinct from the vMF / nivMF samplers' in the same step:
// equal keys address equal streams.

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/distributions/detail/batch_checks.hpp"
#include "pdml/distributions/power_spherical.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {

/// What power_spherical_sample keeps for power_spherical_sample_backward (owning copies).
template <class T>
struct PowerSphericalSampleSaved {
  Index n_distributions = 0;
  int dimension = 0;
  int n_samples = 0;
  std::vector<T> directions;               ///< N x p
  std::vector<T> concentrations;           ///< N
  std::vector<T> samples;                  ///< (n_samples * N) x p
  std::vector<PowerSphericalDraw<T>> draws;  ///< n_samples * N
};

namespace detail {

/// Unit rows within sqrt(epsilon) (the sampler uses mu as given).
template <class T>
void check_unit_rows(const char* fn, const char* arg, MatrixView<const T> v) {
  const T tol = std::sqrt(std::numeric_limits<T>::epsilon());
  for (Index r = 0; r < v.rows; ++r) {
    T s = T(0);
    for (Index c = 0; c < v.cols; ++c) s += v(r, c) * v(r, c);
    if (!(std::abs(std::sqrt(s) - T(1)) <= tol)) {
      std::ostringstream os;
      os << "has row " << r << " of norm " << std::sqrt(s) << ", not a unit vector";
      throw_invalid(fn, arg, os.str());
    }
  }
}

template <class T>
void check_power_spherical_parameters(const char* fn, InputView<T> directions,
                                      InputView<T> concentrations) {
  check_view(fn, "directions", directions);
  check_dimension(fn, "directions", directions.cols);
  check_finite(fn, "directions", directions);
  check_unit_rows<T>(fn, "directions", directions);
  check_shape(fn, "concentrations", concentrations, directions.rows, 1);
  check_finite(fn, "concentrations", concentrations);
  for (Index n = 0; n < concentrations.rows; ++n) {
    if (concentrations(n, 0) < T(0)) throw_invalid(fn, "concentrations", "must be >= 0");
  }
}

}  // namespace detail

/// Draws n_samples samples of each PS(directions_n, concentrations_n) into
/// samples ((n_samples * N) x p); fills *saved for the backward when given.
/// Throws std::invalid_argument on invalid arguments (before writing), and
/// std::runtime_error if a Beta draw hit its rejection cap (probability below
/// 1e-80 per draw; the affected rows are NaN).
template <class T>
void power_spherical_sample(detail::InputView<T> directions, detail::InputView<T> concentrations,
                            int n_samples, RngKey rng, MatrixView<T> samples,
                            PowerSphericalSampleSaved<T>* saved = nullptr) {
  const char* fn = "pdml::power_spherical_sample";
  detail::check_power_spherical_parameters<T>(fn, directions, concentrations);
  if (n_samples < 0) detail::throw_invalid(fn, "n_samples", "must be >= 0");
  const Index n_dist = directions.rows;
  const int p = static_cast<int>(directions.cols);
  const Index rows = n_dist * n_samples;
  detail::check_shape(fn, "samples", samples, rows, p);
  std::vector<PowerSphericalDraw<T>> local;
  std::vector<PowerSphericalDraw<T>>& draws = saved ? saved->draws : local;
  draws.resize(static_cast<std::size_t>(rows));
  long failures = 0;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) reduction(+ : failures)
#endif
  for (Index i = 0; i < rows; ++i) {
    const Index n = i % n_dist;
    RandomStream stream(rng, static_cast<std::uint64_t>(i));
    draws[static_cast<std::size_t>(i)] = power_spherical_draw(
        p, directions.row(n), concentrations(n, 0), stream, samples.row(i));
    if (!draws[static_cast<std::size_t>(i)].ok) ++failures;
  }
  if (saved) {
    saved->n_distributions = n_dist;
    saved->dimension = p;
    saved->n_samples = n_samples;
    saved->directions.resize(static_cast<std::size_t>(n_dist * p));
    saved->concentrations.resize(static_cast<std::size_t>(n_dist));
    saved->samples.resize(static_cast<std::size_t>(rows * p));
    for (Index n = 0; n < n_dist; ++n) {
      saved->concentrations[static_cast<std::size_t>(n)] = concentrations(n, 0);
      for (int j = 0; j < p; ++j) saved->directions[static_cast<std::size_t>(n * p + j)] = directions(n, j);
    }
    for (Index i = 0; i < rows; ++i) {
      for (int j = 0; j < p; ++j) saved->samples[static_cast<std::size_t>(i * p + j)] = samples(i, j);
    }
  }
  if (failures > 0) {
    throw std::runtime_error("pdml::power_spherical_sample: " + std::to_string(failures) +
                             " Beta draws hit the rejection cap; their rows are NaN");
  }
}

/// Backward of power_spherical_sample: grad_samples ((n_samples * N) x p) ->
/// grad_directions (N x p, ambient) and grad_concentrations (N x 1), both
/// overwritten (summed over each distribution's samples).
template <class T>
void power_spherical_sample_backward(const PowerSphericalSampleSaved<T>& saved,
                                     detail::InputView<T> grad_samples,
                                     MatrixView<T> grad_directions,
                                     MatrixView<T> grad_concentrations) {
  const char* fn = "pdml::power_spherical_sample_backward";
  const Index n_dist = saved.n_distributions;
  const int p = saved.dimension;
  detail::check_shape(fn, "grad_samples", grad_samples, n_dist * saved.n_samples, p);
  detail::check_finite(fn, "grad_samples", grad_samples);
  detail::check_shape(fn, "grad_directions", grad_directions, n_dist, p);
  detail::check_shape(fn, "grad_concentrations", grad_concentrations, n_dist, 1);
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 4)
#endif
  for (Index n = 0; n < n_dist; ++n) {
    T* gd = grad_directions.row(n);
    T gk = T(0);
    for (int j = 0; j < p; ++j) gd[j] = T(0);
    const T* mu = saved.directions.data() + n * p;
    const T kappa = saved.concentrations[static_cast<std::size_t>(n)];
    for (int s = 0; s < saved.n_samples; ++s) {
      const Index i = static_cast<Index>(s) * n_dist + n;
      power_spherical_draw_backward(p, mu, kappa, saved.samples.data() + i * p,
                                    saved.draws[static_cast<std::size_t>(i)], grad_samples.row(i),
                                    gd, &gk);
    }
    grad_concentrations(n, 0) = gk;
  }
}

/// log f_n(x_i) for points row i (M = S * N rows), n = i % N: log_prob is M x 1.
template <class T>
void power_spherical_log_prob(detail::InputView<T> directions, detail::InputView<T> concentrations,
                              detail::InputView<T> points, MatrixView<T> log_prob) {
  const char* fn = "pdml::power_spherical_log_prob";
  detail::check_power_spherical_parameters<T>(fn, directions, concentrations);
  detail::check_repeated_rows(fn, "points", points, directions.rows, directions.cols);
  detail::check_finite(fn, "points", points);
  detail::check_shape(fn, "log_prob", log_prob, points.rows, 1);
  const int p = static_cast<int>(directions.cols);
  for (Index i = 0; i < points.rows; ++i) {
    const Index n = i % directions.rows;
    log_prob(i, 0) = power_spherical_log_prob(p, directions.row(n), concentrations(n, 0), points.row(i));
  }
}

/// Backward of power_spherical_log_prob: grad_directions (N x p, ambient) and
/// grad_concentrations (N x 1) sum over each distribution's points;
/// grad_points (M x p) is optional (an empty view skips it). Overwrites all.
template <class T>
void power_spherical_log_prob_backward(detail::InputView<T> directions,
                                       detail::InputView<T> concentrations,
                                       detail::InputView<T> points,
                                       detail::InputView<T> grad_log_prob,
                                       MatrixView<T> grad_directions,
                                       MatrixView<T> grad_concentrations,
                                       MatrixView<T> grad_points = MatrixView<T>{nullptr, 0, 0, 0}) {
  const char* fn = "pdml::power_spherical_log_prob_backward";
  detail::check_power_spherical_parameters<T>(fn, directions, concentrations);
  detail::check_repeated_rows(fn, "points", points, directions.rows, directions.cols);
  detail::check_finite(fn, "points", points);
  detail::check_shape(fn, "grad_log_prob", grad_log_prob, points.rows, 1);
  detail::check_finite(fn, "grad_log_prob", grad_log_prob);
  detail::check_shape(fn, "grad_directions", grad_directions, directions.rows, directions.cols);
  detail::check_shape(fn, "grad_concentrations", grad_concentrations, directions.rows, 1);
  const bool want_points =
      detail::optional_output(fn, "grad_points", grad_points, points.rows, points.cols);
  const int p = static_cast<int>(directions.cols);
  const Index n_dist = directions.rows;
  const Index per = n_dist == 0 ? 0 : points.rows / n_dist;
  std::vector<T> g_mu(static_cast<std::size_t>(p));
  for (Index n = 0; n < n_dist; ++n) {
    T* gd = grad_directions.row(n);
    T gk_total = T(0);
    for (int j = 0; j < p; ++j) gd[j] = T(0);
    for (Index s = 0; s < per; ++s) {
      const Index i = s * n_dist + n;
      T gk = T(0);
      power_spherical_log_prob_backward(p, directions.row(n), concentrations(n, 0), points.row(i),
                                        grad_log_prob(i, 0), g_mu.data(), &gk,
                                        want_points ? grad_points.row(i) : static_cast<T*>(nullptr));
      gk_total += gk;
      for (int j = 0; j < p; ++j) gd[j] += g_mu[static_cast<std::size_t>(j)];
    }
    grad_concentrations(n, 0) = gk_total;
  }
}

/// power_spherical_sample_backward with a GradientMode: GradientMode::accumulate adds the gradients
/// into the outputs (which must not overlap) instead of overwriting them.
template <class T>
void power_spherical_sample_backward(const PowerSphericalSampleSaved<T>& saved,
                                     detail::InputView<T> grad_samples,
                                     MatrixView<T> grad_directions,
                                     MatrixView<T> grad_concentrations, GradientMode mode) {
  detail::backward_with_mode<T>(
      "pdml::power_spherical_sample_backward", mode,
      {{"grad_directions", grad_directions}, {"grad_concentrations", grad_concentrations}},
      static_cast<T*>(nullptr), [&] {
        power_spherical_sample_backward(saved, grad_samples, grad_directions, grad_concentrations);
      });
}

/// power_spherical_log_prob_backward with a GradientMode: GradientMode::accumulate adds the
/// gradients into the outputs (which must not overlap) instead of overwriting them.
template <class T>
void power_spherical_log_prob_backward(
    detail::InputView<T> directions, detail::InputView<T> concentrations,
    detail::InputView<T> points, detail::InputView<T> grad_log_prob, MatrixView<T> grad_directions,
    MatrixView<T> grad_concentrations, MatrixView<T> grad_points, GradientMode mode) {
  detail::backward_with_mode<T>("pdml::power_spherical_log_prob_backward", mode,
                                {{"grad_directions", grad_directions},
                                 {"grad_concentrations", grad_concentrations},
                                 {"grad_points", grad_points}},
                                static_cast<T*>(nullptr), [&] {
                                  power_spherical_log_prob_backward(
                                      directions, concentrations, points, grad_log_prob,
                                      grad_directions, grad_concentrations, grad_points);
                                });
}

}  // namespace pdml
