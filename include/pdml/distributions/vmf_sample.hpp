// SPDX-License-Identifier: MIT
#pragma once
// Batched CPU API of the exact vMF sampler and of its exact backward
// (docs/math.md, section "vmf-sampler").
//
//   vmf_sample(eta, n_samples, rng, samples, saved)
//     eta      : N x p, row n = natural parameters eta_n = kappa_n mu_n
//     samples  : (n_samples * N) x p, sample s of distribution n in row s * N + n
//     stream   : row i = s * N + n is drawn from RandomStream(rng, i) (and only
//                from it), so results do not depend on threads or order, and
//                pdml::cuda::vmf_sample draws the same samples.
//   vmf_sample_backward(saved, grad_samples, grad_eta)
//     grad_eta (N x p, overwritten) = sum_s d L / d eta_n for the samples of
//     distribution n: implicit reparameterisation in kappa (exact), pathwise
//     in mu; at kappa = 0 an unbiased estimator (see vmf_sampler.hpp).
//
// Range: every finite eta whose rows have a norm |eta_n| = kappa_n that is a
// finite T is drawn exactly (norms are taken scaled, Wood's envelope is formed
// without overflow of 2 kappa); rows with |eta_n| above the largest T (only
// possible when several elements are near it) are rejected with
// std::invalid_argument naming `eta`, before anything is written.
//
// Iteration cap: a draw that hits the cap of Wood's rejection loop (probability
// below 2^-100 per draw for valid input) is written as NaN, counted in
// VmfSampleSaved::failed_draws, skipped by the backward, and vmf_sample throws
// VmfSampleCapReached (a std::runtime_error) after writing every other sample.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "pdml/core/detail/non_deduced.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/thread_scratch.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/math/vmf_normalizer.hpp"
#include "pdml/random/philox.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {

/// Thrown by vmf_sample when some draws hit the rejection loop's iteration
/// cap (their rows are NaN; all other rows are valid samples).
class VmfSampleCapReached : public std::runtime_error {
 public:
  VmfSampleCapReached(const std::string& what, Index failed)
      : std::runtime_error(what), failed_draws(failed) {}
  Index failed_draws;
};

/// What vmf_sample_backward needs. Memory: (n_samples N + N) p + N values of
/// T plus n_samples N VmfSampleDraw<T> records (40 bytes each) and N
/// VmfMarginalParams (80 bytes each), i.e. about
/// the size of the samples themselves plus 40 bytes per sample.
template <class T>
struct VmfSampleSaved {
  Index n_distributions = 0;
  int dimension = 0;
  int n_samples = 0;
  RngKey rng{0, 0};
  Index failed_draws = 0;
  std::vector<T> directions;  // N x p: mu_n (e_1 when eta_n = 0)
  std::vector<T> kappas;      // N: kappa_n = |eta_n|
  std::vector<VmfMarginalParams> marginal_params;  // N: Wood's envelope per distribution
  // (n_samples N) x p, row i: the unit tangent t of sample i (x = w mu +
  // sqrt(1 - w^2) t); for distributions with kappa = 0 the sample x itself,
  // which the uniform-case estimator needs instead.
  std::vector<T> tangents;
  std::vector<VmfSampleDraw<T>> draws;  // n_samples N
  // 2p per thread for the kappa = 0 estimator, grown by the first backward.
  mutable detail::ThreadScratch<T> backward_scratch;

  std::size_t memory_bytes() const {
    return (directions.size() + kappas.size() + tangents.size()) * sizeof(T) +
           marginal_params.size() * sizeof(VmfMarginalParams) +
           draws.size() * sizeof(VmfSampleDraw<T>) + backward_scratch.memory_bytes();
  }
};

/// The stream index of sample s of distribution n in a batch of N.
inline std::uint64_t vmf_sample_stream_index(Index s, Index n, Index n_distributions) {
  return static_cast<std::uint64_t>(s) * static_cast<std::uint64_t>(n_distributions) +
         static_cast<std::uint64_t>(n);
}

/// Block of a sample's stream where the kappa = 0 backward draws its random
/// direction (far beyond anything the forward uses).
constexpr std::uint32_t kVmfBackwardBlock = std::uint32_t(1) << 31;

/// Draws n_samples samples from each vMF(eta_n) (see the header comment).
template <class T>
void vmf_sample(ConstMatrixView<detail::NonDeduced<T>> eta, int n_samples, RngKey rng,
                MatrixView<T> samples, VmfSampleSaved<T>* saved = nullptr) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "pdml::vmf_sample: T must be float or double");
  const char* fn = "pdml::vmf_sample";
  detail::check_view(fn, "eta", eta);
  if (eta.cols < 2) detail::throw_invalid(fn, "eta", "must have at least 2 columns (p >= 2)");
  if (eta.cols > std::numeric_limits<int>::max() / 4) {
    detail::throw_invalid(fn, "eta", "has too many columns");
  }
  detail::check_finite(fn, "eta", eta);
  detail::check_row_norms_fit(fn, "eta", eta);
  if (n_samples < 0) detail::throw_invalid(fn, "n_samples", "must be non-negative");
  const Index count = eta.rows;
  const int p = static_cast<int>(eta.cols);
  const Index rows = static_cast<Index>(n_samples) * count;
  detail::check_shape(fn, "samples", samples, rows, eta.cols);

  std::vector<T> local_directions;
  std::vector<T> local_kappas;
  std::vector<T>& directions = saved != nullptr ? saved->directions : local_directions;
  std::vector<T>& kappas = saved != nullptr ? saved->kappas : local_kappas;
  directions.assign(static_cast<std::size_t>(count * p), T(0));
  kappas.assign(static_cast<std::size_t>(count), T(0));
  std::vector<VmfMarginalParams> local_marginal_params;
  std::vector<VmfMarginalParams>& marginal_params =
      saved != nullptr ? saved->marginal_params : local_marginal_params;
  marginal_params.resize(static_cast<std::size_t>(count));
  for (Index n = 0; n < count; ++n) {
    kappas[static_cast<std::size_t>(n)] =
        vmf_mean_direction(eta.row(n), p, directions.data() + n * p);
    marginal_params[static_cast<std::size_t>(n)] =
        vmf_marginal_params(p, static_cast<double>(kappas[static_cast<std::size_t>(n)]));
  }
  T* tangents = nullptr;
  VmfSampleDraw<T>* draws = nullptr;
  if (saved != nullptr) {
    saved->n_distributions = count;
    saved->dimension = p;
    saved->n_samples = n_samples;
    saved->rng = rng;
    saved->tangents.assign(static_cast<std::size_t>(rows * p), T(0));
    saved->draws.assign(static_cast<std::size_t>(rows), VmfSampleDraw<T>{});
    tangents = saved->tangents.data();
    draws = saved->draws.data();
  }

  Index failed = 0;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) reduction(+ : failed) if (rows * p > 65536)
#endif
  for (Index i = 0; i < rows; ++i) {
    const Index n = i % count;
    RandomStream stream(rng, static_cast<std::uint64_t>(i));
    const T kappa = kappas[static_cast<std::size_t>(n)];
    const bool pathwise = kappa > vmf_uniform_kappa<T>();  // else the uniform-case backward
    T* tangent = tangents != nullptr && pathwise ? tangents + i * p : nullptr;
    const VmfSampleDraw<T> draw =
        vmf_sample_one(stream, p, directions.data() + n * p,
                       marginal_params[static_cast<std::size_t>(n)], samples.row(i), tangent);
    if (!draw.ok) ++failed;
    if (draws != nullptr) draws[i] = draw;
    if (tangents != nullptr && !pathwise) {
      const T* x = samples.row(i);
      for (int j = 0; j < p; ++j) tangents[i * p + j] = x[j];
    }
  }
  if (saved != nullptr) saved->failed_draws = failed;
  if (failed > 0) {
    throw VmfSampleCapReached(std::string(fn) + ": " + std::to_string(failed) +
                                  " draw(s) reached the rejection iteration cap; their rows are NaN",
                              failed);
  }
}

/// grad_eta (N x p, overwritten) = d L / d eta from grad_samples = d L / d
/// samples ((n_samples N) x p) for the call that filled `saved`.
template <class T>
void vmf_sample_backward(const VmfSampleSaved<T>& saved,
                         ConstMatrixView<detail::NonDeduced<T>> grad_samples,
                         MatrixView<T> grad_eta) {
  const char* fn = "pdml::vmf_sample_backward";
  const Index count = saved.n_distributions;
  const int p = saved.dimension;
  const Index rows = static_cast<Index>(saved.n_samples) * count;
  if (p < 2 || saved.directions.size() != static_cast<std::size_t>(count * p) ||
      saved.kappas.size() != static_cast<std::size_t>(count) ||
      saved.tangents.size() != static_cast<std::size_t>(rows * p) ||
      saved.draws.size() != static_cast<std::size_t>(rows)) {
    detail::throw_invalid(fn, "saved", "does not hold the state of a vmf_sample call");
  }
  detail::check_shape(fn, "grad_samples", grad_samples, rows, p);
  detail::check_finite(fn, "grad_samples", grad_samples);
  detail::check_shape(fn, "grad_eta", grad_eta, count, p);

  saved.backward_scratch.reserve(2 * Index(p));
#if defined(_OPENMP)
#pragma omp parallel if (rows * p > 16384)
#endif
  {
    T* scratch = saved.backward_scratch.local();
#if defined(_OPENMP)
#pragma omp for schedule(dynamic, 1)
#endif
    for (Index n = 0; n < count; ++n) {
      T* g = grad_eta.row(n);
      for (int j = 0; j < p; ++j) g[j] = T(0);
      const T kappa = saved.kappas[static_cast<std::size_t>(n)];
      const T* mu = saved.directions.data() + n * p;
      const bool uniform_case = !(kappa > vmf_uniform_kappa<T>());
      const double one_minus_mean =
          uniform_case ? 1.0 : vmf_mean_resultant_complement(p, static_cast<double>(kappa));
      for (int s = 0; s < saved.n_samples; ++s) {
        const Index i = static_cast<Index>(s) * count + n;
        const VmfSampleDraw<T>& draw = saved.draws[static_cast<std::size_t>(i)];
        if (!draw.ok) continue;
        const T* row = saved.tangents.data() + i * p;
        if (uniform_case) {
          RandomStream stream(saved.rng, static_cast<std::uint64_t>(i));
          stream.skip_blocks(kVmfBackwardBlock);
          vmf_sample_one_backward_uniform(stream, p, row, grad_samples.row(i), scratch, g);
        } else {
          const double dw = vmf_marginal_dw_dkappa(p, static_cast<double>(kappa), draw.one_minus_w,
                                                   draw.one_plus_w, one_minus_mean);
          vmf_sample_one_backward(p, mu, kappa, row, draw.w, draw.one_minus_w, draw.one_plus_w,
                                  draw.projection_ratio, dw, grad_samples.row(i), g);
        }
      }
    }
  }
}

/// vmf_sample_backward with a GradientMode: GradientMode::accumulate adds the gradients into the
/// outputs (which must not overlap) instead of overwriting them.
template <class T>
void vmf_sample_backward(const VmfSampleSaved<T>& saved,
                         ConstMatrixView<detail::NonDeduced<T>> grad_samples,
                         MatrixView<T> grad_eta, GradientMode mode) {
  detail::backward_with_mode<T>("pdml::vmf_sample_backward", mode, {{"grad_eta", grad_eta}},
                                static_cast<T*>(nullptr),
                                [&] { vmf_sample_backward(saved, grad_samples, grad_eta); });
}

}  // namespace pdml
