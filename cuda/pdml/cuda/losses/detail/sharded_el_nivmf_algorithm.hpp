// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF criterion with the classes sharded across ranks, written once
// against a Backend (detail/parallel.hpp) and a communicator: the public
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
#include "pdml/cuda/core.hpp"
#include "pdml/cuda/detail/el_nivmf_algorithm.hpp"
#include "pdml/cuda/detail/el_nivmf_criterion.hpp"
#include "pdml/cuda/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/detail/parallel.hpp"
#include "pdml/cuda/detail/vmf_sample_functors.hpp"
#include "pdml/cuda/losses/detail/sharded_el_nivmf_functors.hpp"
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
/// base) and the run. st.local's sizes, st.sampled and st.total_classes must be set.
template <class T>
void carve_sharded_el_nivmf(WorkspaceCarver& carver, ShardedElNivmfState<T>& st) {
  ElNivmfState<T>& local = st.local;
  const Index B = local.batch, D = local.dims, N = local.samples * local.batch;
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  carve_el_nivmf(carver, local, st.sampled, &st.samples);
  if (st.sampled) st.sampler = carve_vmf_sample_buffers<T>(carver, local.samples, B, D);
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

/// Forward on the samples in st.local.samples_view; writes *loss (backend
/// memory), the same on every rank.
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_forward(const Backend& be, ShardedElNivmfState<T>& st,
                                     Communicator& communicator, T* loss) {
  ElNivmfState<T>& local = st.local;
  const Index B = local.batch, C = local.classes, D = local.dims;
  const bool anchor = local.guidance_weight != T(0);
  local.labels = st.local_labels;
  // Local labels (and mu_i = e_i / |e_i| with ProxyAnchor) in the per-proxy launch, then
  // the shard's B x n similarities: the single-process steps 1-3.
  const ShardImagePrepare<T> images{
      st.labels,  st.first, st.total_classes, st.local_labels, anchor,
      EmbeddingPrepare<T>{local.embeddings, local.mu, local.enorm, local.status}, local.status};
  PDML_SHARDED_STEP(el_nivmf_similarity_steps(be, local, B, images));
  const Index chunks = lse_chunks(C);
  PDML_SHARDED_STEP(for_each_index(
      be, B * chunks, RowLogsumexpPartial<T>{local.sim, C, chunks, local.lse_max, local.lse_sum}));
  const ShardRowMax<T> row_max{local.lse_max, chunks, st.row_max};
  if (anchor) {
    // M = mu Nu^T over the shard's proxies, and their ProxyAnchor terms with the row maxima.
    PDML_SHARDED_STEP(be.gemm(Op::none, Op::transpose, B, C, D, T(1), local.mu, D, local.nu, D,
                              T(0), local.m, C));
    PDML_SHARDED_STEP(for_each_index(
        be, B + C,
        two_roles(row_max, B,
                  ProxyAnchorPerClass<T>{local.m, local.labels, B, C, local.alpha, local.delta,
                                         local.pos, local.neg, local.present})));
  } else {
    PDML_SHARDED_STEP(for_each_index(be, B, row_max));
  }
  PDML_SHARDED_STEP(communicator.all_reduce_max(st.row_max, static_cast<std::size_t>(B)));
  PDML_SHARDED_STEP(for_each_index(
      be, B + 1,
      ShardRowSums<T>{local.lse_max, local.lse_sum, chunks, st.row_max, local.sim, st.labels,
                      st.local_labels, B, C, st.total_classes, anchor, local.pos, local.neg,
                      local.present, st.row_sums}));
  PDML_SHARDED_STEP(communicator.all_reduce_sum(st.row_sums, static_cast<std::size_t>(2 * B + 3)));
  PDML_SHARDED_STEP(for_each_index(
      be, 1,
      ShardFinishLoss<T>{st.row_max, st.row_sums, B, st.total_classes, local.guidance_weight,
                         local.lse, local.n_present, loss, local.status}));
  local.valid = true;
  return cudaSuccess;
}

/// Draws S samples per image into st.samples (the same on every rank for the
/// same rng) and runs the forward on them.
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_forward_sampled(const Backend& be, ShardedElNivmfState<T>& st,
                                             RngKey rng, Communicator& communicator, T* loss) {
  ElNivmfState<T>& local = st.local;
  const MatrixView<T> drawn{st.samples, local.samples * local.batch, local.dims, local.dims};
  PDML_SHARDED_STEP(el_nivmf_reset_status(be, local));
  PDML_SHARDED_STEP(vmf_sample_run(be, local.embeddings, static_cast<int>(local.samples), rng,
                                   drawn, st.sampler, local.status));
  local.samples_view = drawn;
  return sharded_el_nivmf_forward(be, st, communicator, loss);
}

/// The forward on caller-drawn samples (st.local.samples_view), status cleared first.
template <class T, class Backend, class Communicator>
cudaError_t sharded_el_nivmf_forward_given_samples(const Backend& be, ShardedElNivmfState<T>& st,
                                                   Communicator& communicator, T* loss) {
  PDML_SHARDED_STEP(el_nivmf_reset_status(be, st.local));
  return sharded_el_nivmf_forward(be, st, communicator, loss);
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
  const Index B = local.batch, C = local.classes, D = local.dims, N = local.samples * B;
  const bool anchor = local.guidance_weight != T(0);
  // The buffer summed over ranks: [B D embedding | temperature | N D samples (given only)].
  const MatrixView<T> embedding_part{st.gradients, B, D, D};
  T* const temperature_part = st.gradients + B * D;
  const MatrixView<T> sample_part =
      st.sampled ? MatrixView<T>{local.grad_samples, N, D, D}
                 : MatrixView<T>{st.gradients + B * D + 1, N, D, D};

  // dL/dsim of Proxy-NCA (global lse, local labels; mean over the B rows) and dL/dm of
  // ProxyAnchor (global |P+| in n_present, the negatives weighted by 1 / C), one launch.
  const NcaBackwardPerPair<T> nca_pairs{el_pair_backward(local), local.lse, local.labels,
                                        grad_loss};
  if (!anchor) {
    PDML_SHARDED_STEP(for_each_index(be, B * C, nca_pairs));
  } else {
    ProxyAnchorBackwardPerPair<T> anchor_pairs{
        local.m,     local.labels, local.pos,   local.neg,
        local.n_present, grad_loss, C,         local.alpha,
        local.delta, local.guidance_weight, local.grad_m};
    anchor_pairs.weight_classes = st.total_classes;
    PDML_SHARDED_STEP(for_each_index(
        be, B * C,
        BothPerIndex<NcaBackwardPerPair<T>, ProxyAnchorBackwardPerPair<T>>{nca_pairs,
                                                                           anchor_pairs}));
    // dL/dmu = dM Nu (this shard's part); dL/dnu (anchor part) = dM^T mu.
    PDML_SHARDED_STEP(be.gemm(Op::none, Op::none, B, D, C, T(1), local.grad_m, C, local.nu, D,
                              T(0), local.grad_mu, D));
    PDML_SHARDED_STEP(be.gemm(Op::transpose, Op::none, C, D, B, T(1), local.grad_m, C, local.mu,
                              D, T(0), local.grad_nu_anchor, D));
  }
  // The similarity's backward: this shard's dL/dT, dL/dx, dL/dv, dL/dk, and the anchor's
  // dL/de (EmbeddingBackward, overwriting) in the per-proxy launch.
  PDML_SHARDED_STEP(el_nivmf_similarity_backward_steps(
      be, local, temperature_part, sample_part, grad_proxies, grad_kappas,
      anchor ? local.grad_nu_anchor : nullptr, B,
      EmbeddingBackward<T>{local.mu, local.enorm, anchor ? local.grad_mu : nullptr, D, false,
                           embedding_part}));
  if (st.sampled) {
    // The sampler's backward is linear in dL/dx: each rank chains its own part, and the
    // B x D results are summed (S times fewer numbers than the sample gradients).
    PDML_SHARDED_STEP(vmf_sample_backward_run(be, st.sampler, local.embeddings,
                                              static_cast<int>(local.samples),
                                              ConstMatrixView<T>(sample_part), embedding_part,
                                              true));
  }
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
