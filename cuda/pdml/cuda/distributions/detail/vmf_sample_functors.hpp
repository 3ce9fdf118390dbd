// SPDX-License-Identifier: MIT
#pragma once
// The batched vMF sampler and its backward over the per-sample routines of
// include/pdml/distributions/vmf_sampler.hpp, step for step as the host's
// pdml::vmf_sample / vmf_sample_backward (include/pdml/distributions/
// vmf_sample.hpp): sample s of distribution n is row i = s N + n, drawn from
// RandomStream(rng, i); the kappa = 0 backward (used, as on the host, for every
// kappa <= pdml::vmf_uniform_kappa<T>()) draws from block kVmfBackwardBlock of the
// same stream. Device samples equal host samples for
// the same key (up to the last-bit differences of docs/cuda.md).

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/cuda/core/device_status.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/parallel/group.hpp"
#include "pdml/distributions/vmf_sample.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/math/vmf_normalizer.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Device buffers of one batched draw (inside a caller workspace).
template <class T>
struct VmfSampleBuffers {
  Index n_distributions = 0;
  int dimension = 0;
  int n_samples = 0;
  RngKey rng{0, 0};
  T* directions = nullptr;      // N x p: mu_n
  T* kappas = nullptr;          // N
  VmfMarginalParams* marginal_params = nullptr;  // N: Wood's envelope, as on the host
  // (S N) x p, row i: the unit tangent of sample i, or for kappa <= vmf_uniform_kappa the
  // sample itself (what the uniform-case estimator needs), as on the host.
  T* tangents = nullptr;
  VmfSampleDraw<T>* draws = nullptr;  // S N
  T* scratch = nullptr;         // N x 2p: the kappa = 0 backward's scratch
  // S N, or null: dw/dkappa of each sample, computed by the draw (a warp per sample)
  // so the backward needs no quadrature (the criterion's choice); with it, N: the mean
  // resultant term 1 - A_p(kappa_n) the quadrature needs, computed once per distribution
  // by the split.
  double* dw_dkappa = nullptr;
  double* one_minus_mean = nullptr;
};

template <class T>
VmfSampleBuffers<T> carve_vmf_sample_buffers(WorkspaceCarver& carver, Index n_samples,
                                             Index n_distributions, Index dimension,
                                             bool keep_dw_dkappa = false) {
  VmfSampleBuffers<T> b;
  b.n_distributions = n_distributions;
  b.dimension = static_cast<int>(dimension);
  b.n_samples = static_cast<int>(n_samples);
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  b.directions = carver.take<T>(n(n_distributions * dimension));
  b.kappas = carver.take<T>(n(n_distributions));
  b.marginal_params = carver.take<VmfMarginalParams>(n(n_distributions));
  b.tangents = carver.take<T>(n(n_samples * n_distributions * dimension));
  b.draws = carver.take<VmfSampleDraw<T>>(n(n_samples * n_distributions));
  b.scratch = carver.take<T>(n(n_distributions * 2 * dimension));
  if (keep_dw_dkappa) {
    b.dw_dkappa = carver.take<double>(n(n_samples * n_distributions));
    b.one_minus_mean = carver.take<double>(n(n_distributions));
  }
  return b;
}

/// Per distribution n: mu_n and kappa_n from eta_n (the sampler's own split)
/// and the marginal's envelope, once per distribution as on the host.
template <class T>
struct VmfSplitEta {
  ConstMatrixView<T> eta;
  T* directions;
  T* kappas;
  VmfMarginalParams* marginal_params;
  // N or null: each distribution's DeviceStatus bits, written whatever they are (the
  // criterion's finisher folds them into its status word; no atomics, no reset).
  std::uint32_t* flags = nullptr;
  // N or null: the mean resultant term of VmfSampleBuffers (for pathwise kappas).
  double* one_minus_mean = nullptr;
  PDML_HOST_DEVICE void operator()(Index n) const {
    const int p = static_cast<int>(eta.cols);
    const T kappa = vmf_mean_direction(eta.row(n), p, directions + n * p);
    kappas[n] = kappa;
    if (flags != nullptr) {
      flags[n] = finite_value(kappa) ? 0u : DeviceStatus::non_finite_embedding;
    }
    marginal_params[n] = vmf_marginal_params(p, static_cast<double>(kappa));
    if (one_minus_mean != nullptr && kappa > pdml::vmf_uniform_kappa<T>()) {
      one_minus_mean[n] = pdml::vmf_mean_resultant_complement(p, static_cast<double>(kappa));
    }
  }
};

/// Per sample row i = s N + n.
template <class T>
struct VmfSampleRow {
  Index n_distributions;
  int p;
  RngKey rng;
  const T* directions;
  const T* kappas;
  const VmfMarginalParams* marginal_params;
  MatrixView<T> samples;
  T* tangents;
  VmfSampleDraw<T>* draws;
  PDML_HOST_DEVICE void operator()(Index i) const {
    const Index n = i % n_distributions;
    RandomStream stream(rng, static_cast<std::uint64_t>(i));
    // The host's rule (pdml::vmf_uniform_kappa): at or below it the backward uses the
    // kappa = 0 estimator, which needs the sample itself instead of the tangent.
    const bool pathwise = kappas[n] > pdml::vmf_uniform_kappa<T>();
    T* tangent = tangents + i * p;
    draws[i] = vmf_draw(stream, p, directions + n * p, marginal_params[n], samples.row(i),
                        pathwise ? tangent : static_cast<T*>(nullptr));
    if (!pathwise) {
      const T* x = samples.row(i);
      for (int j = 0; j < p; ++j) tangent[j] = x[j];
    }
  }
};

// ------------------------------------------------- one sample across a group of lanes
//
// pdml::vmf_sample_one's steps with each loop over p spread across the lanes (adjacent
// lanes on adjacent elements), giving the host's samples bit for bit (the thrust-host
// tests compare them):
//  1. the normals: the stream is counter-based, so block j of fill_normals' layout
//     (include/pdml/random/random_stream.hpp: block j gives normals 2j, 2j + 1 in double,
//     4j .. 4j + 3 in float) is drawn by whichever lane takes j;
//  2. mu^T g and |g|^2: vmf_dot_and_norm's 16 interleaved accumulators, accumulator k on
//     logical lane k of reduce<32> (lanes 16..31 contribute -0, which adds exactly), whose
//     tree from there on is vmf_sum_lanes'; the tail (p mod 16 elements) on every lane;
//  3. the rare second projection (g nearly parallel to mu) on lane 0, then |v| on every
//     lane from memory (a sync before anything overwrites x or v);
//  4. the marginal w on every lane from its own copy of the stream (same draws, same
//     branches: no divergence, nothing to broadcast);
//  5. the combine, element by element (VmfSampleCombine).

/// Which multiply-adds vmf_dot_and_norm fuses on this build (include/pdml/
/// distributions/vmf_sampler.hpp): its dispatched AVX2/AVX-512 kernels fuse, the
/// baseline level and builds without dispatch (the device) follow kFusedFma.
PDML_HOST_DEVICE inline bool vmf_dot_fuses() {
#if PDML_HAS_CPU_DISPATCH
  return pdml::detail::cpu_level() != pdml::detail::CpuLevel::baseline;
#else
  return pdml::detail::kFusedFma;
#endif
}

/// fill_normals fuses at every dispatch level (random_stream.hpp).
#if PDML_HAS_CPU_DISPATCH
constexpr bool kNormalsFuse = true;
#else
constexpr bool kNormalsFuse = pdml::detail::kFusedFma;
#endif

/// Blocks of the stream that fill_normals<T>(count) consumes.
template <class T>
PDML_HOST_DEVICE constexpr int vmf_normal_blocks(int count) {
  return sizeof(T) == sizeof(double) ? (count + 1) / 2 : (count + 3) / 4;
}

/// Step 1: out[0 .. count) = fill_normals<T>'s normals from the stream's next blocks,
/// block j on the lane that for_each hands j; the stream is not advanced.
template <class G>
PDML_HOST_DEVICE void vmf_fill_normals_across(const G& g, const RandomStream& stream,
                                              double* out, int count) {
  const std::uint32_t first_block = stream.blocks_used();
  g.for_each(vmf_normal_blocks<double>(count), [&](Index j) {
    const PhiloxBlock b = stream.block_at(first_block + static_cast<std::uint32_t>(j));
    const double u1 = uniform_from_bits(static_cast<std::uint64_t>(b.word[0]) |
                                        (static_cast<std::uint64_t>(b.word[1]) << 32));
    const double u2 = uniform_from_bits(static_cast<std::uint64_t>(b.word[2]) |
                                        (static_cast<std::uint64_t>(b.word[3]) << 32));
    double z0, z1;
    box_muller<double, kNormalsFuse>(u1, u2, z0, z1);
    const Index first = 2 * j;
    out[first] = z0;
    if (first + 1 < count) out[first + 1] = z1;
  });
}

template <class G>
PDML_HOST_DEVICE void vmf_fill_normals_across(const G& g, const RandomStream& stream, float* out,
                                              int count) {
  const std::uint32_t first_block = stream.blocks_used();
  g.for_each(vmf_normal_blocks<float>(count), [&](Index j) {
    const PhiloxBlock b = stream.block_at(first_block + static_cast<std::uint32_t>(j));
    float z[4];
    box_muller<float, kNormalsFuse>(uniform_from_bits(b.word[0]), uniform_from_bits(b.word[1]),
                                    z[0], z[1]);
    box_muller<float, kNormalsFuse>(uniform_from_bits(b.word[2]), uniform_from_bits(b.word[3]),
                                    z[2], z[3]);
    const Index first = 4 * j;
    for (int k = 0; k < 4 && first + k < count; ++k) out[first + k] = z[k];
  });
}

/// mu^T g and |g|^2 together (one value of the reduction).
struct VmfDotNorm {
  double dot;
  double norm2;
};

struct VmfDotNormSum {
  PDML_HOST_DEVICE PDML_FORCE_INLINE VmfDotNorm operator()(VmfDotNorm a, VmfDotNorm b) const {
    return VmfDotNorm{a.dot + b.dot, a.norm2 + b.norm2};
  }
};

/// Step 2 (see above): vmf_dot_and_norm_body<kFma>'s bits with its accumulators on lanes.
template <bool kFma, class G, class T>
PDML_HOST_DEVICE VmfDotNorm vmf_dot_and_norm_across(const G& g, const T* mu, const T* x, int n) {
  constexpr int kAccumulators = pdml::detail::kVmfDotLanes;
  static_assert(parallel::kRowLanes == 2 * kAccumulators,
                "the upper half of the logical lanes must fold onto the accumulators");
  const int body = n - n % kAccumulators;
  VmfDotNorm tail{0.0, 0.0};
  for (int j = body; j < n; ++j) {
    const double xj = static_cast<double>(x[j]);
    tail.dot = pdml::detail::fused_as<kFma>(static_cast<double>(mu[j]), xj, tail.dot);
    tail.norm2 = pdml::detail::fused_as<kFma>(xj, xj, tail.norm2);
  }
  if (body == 0) return tail;
  const VmfDotNorm sums = g.template reduce<parallel::kRowLanes>(
      parallel::kRowLanes, VmfDotNorm{-0.0, -0.0},
      [&](Index k) {
        if (k >= kAccumulators) return VmfDotNorm{-0.0, -0.0};
        VmfDotNorm acc{0.0, 0.0};
        for (Index j = k; j < body; j += kAccumulators) {
          const double xj = static_cast<double>(x[j]);
          acc.dot = pdml::detail::fused_as<kFma>(static_cast<double>(mu[j]), xj, acc.dot);
          acc.norm2 = pdml::detail::fused_as<kFma>(xj, xj, acc.norm2);
        }
        return acc;
      },
      VmfDotNormSum{});
  return VmfDotNorm{sums.dot + tail.dot, sums.norm2 + tail.norm2};
}

/// pdml::vmf_sample_one from RandomStream(rng, stream_index) with its loops over p
/// across the group (every lane calls it, every lane gets the record).
template <class T, class G>
PDML_HOST_DEVICE VmfSampleDraw<T> vmf_draw_across(const G& g, RngKey rng,
                                                  std::uint64_t stream_index, int p, const T* mu,
                                                  const VmfMarginalParams& marginal_params, T* x,
                                                  T* unit_tangent) {
  RandomStream stream(rng, stream_index);
  vmf_fill_normals_across(g, stream, x, p);
  stream.skip_blocks(static_cast<std::uint32_t>(vmf_normal_blocks<T>(p)));
  g.sync();  // x holds g, written by other lanes
  constexpr bool kFma = pdml::detail::kFusedFma;
  const VmfDotNorm projections = vmf_dot_fuses() ? vmf_dot_and_norm_across<true>(g, mu, x, p)
                                                 : vmf_dot_and_norm_across<kFma>(g, mu, x, p);
  const T* source = x;
  T coefficient = static_cast<T>(projections.dot);
  double norm;
  if (pdml::detail::vmf_one_projection(projections.dot, projections.norm2)) {
    norm = pdml::detail::vmf_projected_norm(projections.dot, projections.norm2);
  } else {
    T* v = unit_tangent != nullptr ? unit_tangent : x;
    g.sync();  // every lane has read x
    if (g.lane() == 0) pdml::detail::vmf_project_twice(p, mu, x, coefficient, v);
    g.sync();
    norm = ::sqrt(pdml::detail::vmf_dot(v, v, p));
    source = v;
    coefficient = T(0);
  }
  const VmfMarginalDraw marginal = vmf_draw_marginal_call(stream, marginal_params);
  const VmfSampleDraw<T> draw =
      pdml::detail::vmf_sample_record<T>(marginal, projections.dot, norm);
  // Every lane has read x (the dot products' tail, the whole of them below 16 elements)
  // and v (|v|) before any lane overwrites them.
  g.sync();
  if (!draw.ok) {
    const T nan = pdml::detail::quiet_nan_<T>();
    g.for_each(p, [&](Index j) {
      x[j] = nan;
      if (unit_tangent != nullptr) unit_tangent[j] = nan;
    });
    return draw;
  }
  const pdml::detail::VmfSampleCombine<T> combine =
      pdml::detail::vmf_sample_combine<T>(marginal, norm, coefficient);
  // Each lane reads source[j] before it writes x[j] (source may be x): the same j.
  g.for_each(p, [&](Index j) {
    const T v = combine.tangent_part(source[j], mu[j]);
    x[j] = combine.sample(mu[j], v);
    if (unit_tangent != nullptr) unit_tangent[j] = combine.unit_tangent(v);
  });
  return draw;
}

/// dw/dkappa of one sample (pdml::vmf_marginal_dw_dkappa's integral) with the
/// quadrature's nodes spread over the group's lanes: every lane computes the plan (the
/// same scalar code on the same inputs, so the same bits and the same branches), and
/// the node terms are summed by g.reduce's fixed tree over the flat node index, so
/// SerialGroup and LaneGroup<W> give the same bits. The CPU function sums panel by
/// panel instead: the two differ in the last bits (docs/cuda.md). Every lane of the
/// group must call it (it reduces); every lane gets the result.
template <class G>
PDML_HOST_DEVICE double vmf_dw_dkappa_across(const G& g, int p, double kappa,
                                             double one_minus_w, double one_plus_w,
                                             double one_minus_mean) {
  const VmfDwDkappaPlan plan =
      vmf_dw_dkappa_plan_call(p, kappa, one_minus_w, one_plus_w, one_minus_mean);
  if (!plan.quadrature) return plan.direct;
  const double sum = g.template reduce<parallel::kRowLanes>(
      plan.nodes(), 0.0, [&](Index j) { return plan.node_term(static_cast<int>(j)); },
      parallel::Sum{});
  return plan.finish(sum);
}

/// The criterion's draw, one sample per row (row i = s N + n, a group of lanes per
/// sample): VmfSampleRow's sample (the host's vmf_sample_one, bit for bit) drawn across
/// the lanes (vmf_draw_across), then its dw/dkappa with the quadrature's nodes across
/// the lanes (vmf_dw_dkappa_across). Every lane holds the draw's record, so the
/// branches below are uniform across the group; lane 0 stores the scalars.
template <class T>
struct VmfSampleRows {
  VmfSampleRow<T> sample;
  // S N or null (see VmfSampleBuffers), with the split's 1 - A_p(kappa_n) (N).
  double* dw_dkappa = nullptr;
  const double* one_minus_mean = nullptr;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index i) const {
    const Index n = i % sample.n_distributions;
    const int p = sample.p;
    // The host's rule (pdml::vmf_uniform_kappa): at or below it the backward uses the
    // kappa = 0 estimator, which needs the sample itself instead of the tangent.
    const bool pathwise = sample.kappas[n] > pdml::vmf_uniform_kappa<T>();
    T* tangent = sample.tangents + i * p;
    T* x = sample.samples.row(i);
    const VmfSampleDraw<T> draw = vmf_draw_across<T>(
        g, sample.rng, static_cast<std::uint64_t>(i), p, sample.directions + n * p,
        sample.marginal_params[n], x, pathwise ? tangent : static_cast<T*>(nullptr));
    if (g.lane() == 0) sample.draws[i] = draw;
    if (!pathwise) g.for_each(p, [&](Index j) { tangent[j] = x[j]; });  // its own elements
    if (dw_dkappa == nullptr) return;
    const double dw =
        pathwise && draw.ok
            ? vmf_dw_dkappa_across(g, p, static_cast<double>(sample.kappas[n]),
                                   draw.one_minus_w, draw.one_plus_w, one_minus_mean[n])
            : 0.0;
    if (g.lane() == 0) dw_dkappa[i] = dw;
  }
};

/// Per distribution n: dL/d(eta_n) summed over its samples in sample order.
/// Overwrites grad_eta row n, or adds to it when accumulate is set.
template <class T>
struct VmfSampleBackwardRow {
  VmfSampleBuffers<T> saved;
  ConstMatrixView<T> grad_samples;
  MatrixView<T> grad_eta;
  bool accumulate;
  PDML_HOST_DEVICE void operator()(Index n) const {
    const int p = saved.dimension;
    const Index count = saved.n_distributions;
    T* g = grad_eta.row(n);
    if (!accumulate) {
      for (int j = 0; j < p; ++j) g[j] = T(0);
    }
    const T kappa = saved.kappas[n];
    const T* mu = saved.directions + n * p;
    // In double whatever T is, as the host backward does.
    // The host's rule: the pathwise derivative (~1/kappa) only above vmf_uniform_kappa.
    const bool pathwise = kappa > pdml::vmf_uniform_kappa<T>();
    const double one_minus_mean =
        pathwise && saved.dw_dkappa == nullptr
            ? pdml::vmf_mean_resultant_complement(p, static_cast<double>(kappa))
            : 1.0;
    for (int s = 0; s < saved.n_samples; ++s) {
      const Index i = static_cast<Index>(s) * count + n;
      const VmfSampleDraw<T>& draw = saved.draws[i];
      if (!draw.ok) continue;
      if (pathwise && saved.dw_dkappa != nullptr) {
        vmf_draw_backward(p, mu, kappa, saved.tangents + i * p, draw.w, draw.one_minus_w,
                          draw.one_plus_w, draw.projection_ratio, saved.dw_dkappa[i],
                          grad_samples.row(i), g);
      } else if (pathwise) {
        const double dw = vmf_dw_dkappa(p, static_cast<double>(kappa), draw.one_minus_w,
                                        draw.one_plus_w, one_minus_mean);
        vmf_draw_backward(p, mu, kappa, saved.tangents + i * p, draw.w, draw.one_minus_w,
                          draw.one_plus_w, draw.projection_ratio, dw, grad_samples.row(i), g);
      } else {
        RandomStream stream(saved.rng, static_cast<std::uint64_t>(i));
        stream.skip_blocks(kVmfBackwardBlock);
        vmf_draw_backward_uniform(stream, p, saved.tangents + i * p, grad_samples.row(i),
                                  saved.scratch + n * 2 * p, g);
      }
    }
  }
};

/// The same backward with the W lanes of a group on distribution n, when the draw kept
/// dw/dkappa (VmfSampleBuffers::dw_dkappa): per sample in order, G^T mu and G^T t reduced
/// across the lanes, then each lane adds its elements (the host's formula,
/// pdml::vmf_sample_backward_coefficients). Without dw/dkappa, and for the kappa = 0
/// estimator (which draws from the RandomStream), lane 0 runs VmfSampleBackwardRow.
template <class T>
struct VmfSampleBackwardRows {
  VmfSampleBackwardRow<T> sequential;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index n) const {
    const VmfSampleBuffers<T>& saved = sequential.saved;
    const T kappa = saved.kappas[n];
    if (!(kappa > pdml::vmf_uniform_kappa<T>()) || saved.dw_dkappa == nullptr) {
      if (g.lane() == 0) sequential(n);
      return;
    }
    const int p = saved.dimension;
    T* grad = sequential.grad_eta.row(n);
    if (!sequential.accumulate) g.for_each(p, [&](Index j) { grad[j] = T(0); });
    const T* mu = saved.directions + n * p;
    for (int s = 0; s < saved.n_samples; ++s) {
      const Index i = static_cast<Index>(s) * saved.n_distributions + n;
      const VmfSampleDraw<T> draw = saved.draws[i];
      if (!draw.ok) continue;
      const T* gx = sequential.grad_samples.row(i);
      const T* t = saved.tangents + i * p;
      const double gm = g.template reduce<parallel::kRowLanes>(
          p, 0.0,
          [&](Index j) { return static_cast<double>(gx[j]) * static_cast<double>(mu[j]); },
          parallel::Sum{});
      const double gt = g.template reduce<parallel::kRowLanes>(
          p, 0.0,
          [&](Index j) { return static_cast<double>(gx[j]) * static_cast<double>(t[j]); },
          parallel::Sum{});
      const VmfSampleBackwardCoefficients<T> coef =
          pdml::vmf_sample_backward_coefficients(gm, gt, kappa, draw.w, draw.one_minus_w,
                                                 draw.one_plus_w, draw.projection_ratio,
                                                 saved.dw_dkappa[i]);
      g.for_each(p, [&](Index j) {
        grad[j] += coef.g * gx[j] + coef.mu * mu[j] + coef.tangent * t[j];
      });
    }
  }
};

/// Draws S samples of each of the N distributions (rows of eta) into samples
/// and fills the buffers for the backward.
template <class T, class Backend>
cudaError_t vmf_sample_run(const Backend& be, ConstMatrixView<T> eta, int n_samples, RngKey rng,
                           MatrixView<T> samples, VmfSampleBuffers<T>& buffers,
                           std::uint32_t* flags = nullptr) {
  const Index count = eta.rows;
  const int p = static_cast<int>(eta.cols);
  buffers.rng = rng;
  cudaError_t status =
      for_each_index(be, count, VmfSplitEta<T>{eta, buffers.directions, buffers.kappas,
                                               buffers.marginal_params, flags});
  if (status != cudaSuccess) return status;
  return for_each_index(be, count * n_samples,
                        VmfSampleRow<T>{count, p, rng, buffers.directions, buffers.kappas,
                                        buffers.marginal_params, samples, buffers.tangents,
                                        buffers.draws});
}

template <class T, class Backend>
cudaError_t vmf_sample_backward_run(const Backend& be, const VmfSampleBuffers<T>& buffers,
                                    ConstMatrixView<T> /*eta*/, int /*n_samples*/,
                                    ConstMatrixView<T> grad_samples, MatrixView<T> grad_eta,
                                    bool accumulate) {
  return for_each_index(be, buffers.n_distributions,
                        VmfSampleBackwardRow<T>{buffers, grad_samples, grad_eta, accumulate});
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
