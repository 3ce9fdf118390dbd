// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF criterion with the classes sharded across ranks, written once
// against a Backend (parallel/launch.hpp) and a communicator: the public
// pdml::cuda::ShardedElNivmfLoss runs it on CudaBackend with a device
// communicator bound to its stream, the thrust-host tests on HostBackend with
// ranks as threads. Inputs are trusted (the public wrapper validates them).
//
// Each rank runs the single-process criterion's steps (detail/el_nivmf_algorithm.hpp)
// on its own classes -- ElNivmfState with `classes` = the shard's n classes and
// the labels turned into local columns -- and combines through the communicator
// (cudaError_t all_reduce_max / all_reduce_sum(T* data, std::size_t count)):
//   forward   max over ranks of B row maxima, then a sum of 2B + 3 numbers
//             (rescaled row sums of exp, positive similarities, ProxyAnchor sums);
//   backward  a sum of B D + 1 numbers (embedding and temperature gradients), plus
//             (S B) D when the caller gave the samples and asks for their gradient.
// Derivation and volumes: docs/scale.md ("CUDA / NCCL").

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/losses/detail/el_nivmf_algorithm.hpp"
#include "pdml/cuda/losses/detail/el_nivmf_criterion.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/distributions/detail/vmf_sample_functors.hpp"
#include "pdml/cuda/losses/detail/sharded_el_nivmf_functors.hpp"
#include "pdml/cuda/math/unit_rows.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_rows.hpp"
#include "pdml/random/philox.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// One rank's state of a sharded forward + backward: the single-process state
/// over the shard's classes (its labels point at local_labels) and the buffers
/// that travel through the communicator. Pointers into the caller's workspace.
template <class T>
struct ShardedElNivmfState {
  ElNivmfState<T> local;
  Index first = 0;          // the shard's first global class
  Index total_classes = 0;  // C
  const std::int64_t* labels = nullptr;  // B, global (device)
  bool sampled = false;     // the forward drew the samples (else the caller gave them)
  T* samples = nullptr;     // (S B) x D, when drawn
  VmfSampleBuffers<T> sampler;
  std::int64_t* local_labels = nullptr;  // B
  T* row_max = nullptr;     // B: all-reduced (max)
  T* row_sums = nullptr;    // 2B + 3: all-reduced (sum)
  // All-reduced (sum) in the backward: B x D embedding gradient, 1 temperature
  // gradient and, after a forward on given samples, the (S B) x D sample gradient.
  T* gradients = nullptr;
};

/// Carves one rank's buffers; the same sequence serves the size query (null
/// base) and the run. st.local's sizes and scalars and st.sampled must be set.
template <class T>
void carve_sharded_el_nivmf(WorkspaceCarver& carver, ShardedElNivmfState<T>& st) {
  ElNivmfState<T>& local = st.local;
  const Index B = local.batch, D = local.dims, N = local.samples * local.batch;
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  carve_el_nivmf(carver, local, st.sampled, &st.samples);
  if (st.sampled) st.sampler = carve_vmf_sample_buffers<T>(carver, local.samples, B, D, true);
  st.local_labels = carver.take<std::int64_t>(n(B));
  st.row_max = carver.take<T>(n(B));
  st.row_sums = carver.take<T>(n(2 * B + 3));
  st.gradients = carver.take<T>(n(B * D + 1 + (st.sampled ? 0 : N * D)));
}

#define PDML_SHARDED_STEP(expr)                                        \
  do {                                                                 \
    const cudaError_t pdml_sharded_status_ = (expr);                   \
    if (pdml_sharded_status_ != cudaSuccess) return pdml_sharded_status_; \
  } while (0)

/// Forward: draws the samples when draw is set (st.local.samples_view becomes them),
/// else uses st.local.samples_view; writes *loss (backend memory), the same on every rank.
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_forward(const Backend& be, ShardedElNivmfState<T>& st,
                                     Communicator& communicator, T* loss,
                                     const ElNivmfDraw<T>* draw) {
  ElNivmfState<T>& local = st.local;
  const Index B = local.batch, C = local.classes;
  const bool anchor = local.guidance_weight != T(0);
  local.labels = st.local_labels;
  local.anchor_classes = st.total_classes;
  // The single-process forward up to its finisher, on the shard's classes: the prepare
  // launch (its image role also writes the local labels), the draw, the products, the
  // scores epilogue's chunk partials and ProxyAnchor's per-class terms.
  const ShardImageRows<T> images{
      UnitRows<T>{local.embeddings, local.mu, local.enorm,
                  local.flags == nullptr ? nullptr : local.flags + B + C,
                  DeviceStatus::non_finite_embedding},
      anchor, ShardLocalLabel{st.labels, st.first, st.local_labels}};
  PDML_SHARDED_STEP(el_nivmf_forward_scores(be, local, draw, images, true));
  // In place of the finisher: the global logsumexp and the sums, through the communicator.
  const Index chunks = score_chunks(C);
  PDML_SHARDED_STEP(for_each_index(be, B, ShardRowMax<T>{local.part, chunks, st.row_max}));
  PDML_SHARDED_STEP(communicator.all_reduce_max(st.row_max, static_cast<std::size_t>(B)));
  PDML_SHARDED_STEP(for_each_index(
      be, B + 1,
      ShardRowSums<T>{local.part, chunks, st.row_max, local.sim, st.labels, st.local_labels, B,
                      C, st.total_classes, anchor, local.pos, local.neg, local.present,
                      st.row_sums}));
  PDML_SHARDED_STEP(communicator.all_reduce_sum(st.row_sums, static_cast<std::size_t>(2 * B + 3)));
  PDML_SHARDED_STEP(for_each_index(
      be, 1,
      ShardFinishLoss<T>{st.row_max, st.row_sums, st.labels, B, st.total_classes,
                         local.guidance_weight, local.lse, local.n_present, loss, local.status,
                         local.flags == nullptr ? nullptr
                                                : el_prepare_flags(local, draw != nullptr),
                         local.flags == nullptr
                             ? Index(0)
                             : el_prepare_flag_count(local, draw != nullptr, anchor)}));
  local.valid = true;
  return cudaSuccess;
}

/// Draws S samples per image into st.samples (the same on every rank for the
/// same rng) and runs the forward on them.
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_forward_sampled(const Backend& be, ShardedElNivmfState<T>& st,
                                             RngKey rng, Communicator& communicator, T* loss) {
  const ElNivmfDraw<T> draw{&st.sampler, st.samples, rng};
  return sharded_el_nivmf_forward(be, st, communicator, loss, &draw);
}

/// The forward on caller-drawn samples (st.local.samples_view). The status word is
/// written whole by the forward's last launch: nothing to clear first.
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_forward_given_samples(const Backend& be, ShardedElNivmfState<T>& st,
                                                   Communicator& communicator, T* loss) {
  return sharded_el_nivmf_forward(be, st, communicator, loss,
                                  static_cast<const ElNivmfDraw<T>*>(nullptr));
}

/// Gradients of grad_loss * L. Per rank: the shard's proxy and concentration
/// gradients (grad_proxies, grad_kappas: n x D), and its contributions to the
/// embedding and temperature gradients (and to dL/dx after a forward on given
/// samples), which are summed over the ranks and copied to grad_embeddings,
/// *grad_temperature (unless null) and *grad_samples (unless null; after a
/// sampled forward it is not used: dL/dx is chained through the sampler).
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_backward(const Backend& be, const ShardedElNivmfState<T>& st,
                                      T grad_loss, MatrixView<T> grad_embeddings,
                                      MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                                      T* grad_temperature, MatrixView<T>* grad_samples,
                                      Communicator& communicator) {
  const ElNivmfState<T>& local = st.local;
  const Index B = local.batch, D = local.dims, N = local.samples * B;
  // The buffer summed over ranks: [B D embedding | temperature | N D samples (given only)].
  const MatrixView<T> embedding_part{st.gradients, B, D, D};
  T* const temperature_part = st.gradients + B * D;
  const MatrixView<T> sample_part =
      st.sampled ? MatrixView<T>{local.grad_samples, N, D, D}
                 : MatrixView<T>{st.gradients + B * D + 1, N, D, D};

  // The single-process backward on the shard's classes: Proxy-NCA's dL/dsim with the
  // global lse and ProxyAnchor's dL/dm with the global |P+| and 1/C (st.local.anchor_classes)
  // give the shard's final proxy and concentration gradients, and its parts of dL/dT, of
  // dL/dx and of dL/de (the ProxyAnchor term, then -- drawn samples -- the sampler's
  // backward of the shard's dL/dx, which is linear in it: each rank sends B x D, S times
  // fewer numbers than the sample gradients).
  PDML_SHARDED_STEP(el_nivmf_backward(be, local, grad_loss, embedding_part, grad_proxies,
                                      grad_kappas, temperature_part, sample_part,
                                      st.sampled ? &st.sampler : nullptr));
  const bool with_samples = !st.sampled && grad_samples != nullptr;
  const Index reduced = B * D + 1 + (with_samples ? N * D : 0);
  PDML_SHARDED_STEP(communicator.all_reduce_sum(st.gradients, static_cast<std::size_t>(reduced)));
  // (A named view, not the conditional inside the braces: nvcc 13's cicc crashes on that.)
  const MatrixView<T> samples_target =
      with_samples ? *grad_samples : MatrixView<T>{nullptr, 0, D, D};
  const CopyIntoView<T> samples_out{sample_part.data, samples_target};
  return for_each_index(be, reduced,
                        ShardGradientsOut<T>{CopyIntoView<T>{st.gradients, grad_embeddings},
                                             with_samples, samples_out, temperature_part,
                                             grad_temperature});
}

#undef PDML_SHARDED_STEP

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
