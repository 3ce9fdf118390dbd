// SPDX-License-Identifier: MIT
#pragma once
// pdml::cuda::ShardedElNivmfLoss<T>: the criterion of pdml::cuda::ElNivmfLoss
// with the classes sharded across R ranks (one GPU each), exact to the
// single-process result up to rounding -- the CUDA counterpart of the CPU
// pdml::ShardedElNivmfLoss (include/pdml/losses/sharded_el_nivmf_loss.hpp).
// Rank r holds a contiguous range of classes (pdml::ClassShard, e.g. from
// pdml::even_class_shard): its proxies, concentrations and their gradients,
// plus the whole batch's embeddings and labels (the caller all-gathers them).
// Samples of image i are drawn from the same RngKey on every rank, so they are
// identical and only per-row statistics and gradient sums travel, through a
// device communicator (losses/device_communicator.hpp; pdml::cuda::NcclCommunicator
// satisfies it) on the call's stream.
//
// Contract: that of pdml::cuda::ElNivmfLoss (docs/cuda.md) -- device views and
// pointers, caller workspace with a size query (workspace == nullptr: size only,
// nothing enqueued, nothing communicated), the caller's cuBLAS handle bound to
// context.stream, nothing synchronizes, a DeviceStatus word in Saved -- plus:
// * forward, forward_with_samples and backward are collectives: every rank calls
//   them in the same order, with the same batch, labels, temperature, rng,
//   grad_loss and total class count, and its own shard. They throw
//   std::invalid_argument before enqueuing or communicating anything; a rank that
//   throws leaves the others waiting in the collective, so a trainer aborts the
//   group on an exception (as with the CPU criterion).
// * loss (device) is the global loss on every rank; backward leaves every rank
//   with the full embedding and temperature gradients (summed over the shards)
//   and its own shard's proxy and concentration gradients.
// Algorithm, launches and bytes per rank: docs/scale.md ("CUDA / NCCL").

#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/losses/el_nivmf_loss.hpp"
#include "pdml/cuda/losses/detail/sharded_el_nivmf_algorithm.hpp"
#include "pdml/cuda/losses/detail/sharded_el_nivmf_setup.hpp"
#include "pdml/cuda/losses/device_communicator.hpp"
#include "pdml/losses/class_shard.hpp"
#include "pdml/random/philox.hpp"

namespace pdml {
namespace cuda {

template <class T>
class ShardedElNivmfLoss {
 public:
  /// pdml::cuda::ElNivmfLoss's Options (same fields and rules); ElNivmfLoss<T>::options_from
  /// copies them from the CPU criterion's.
  using Options = typename ElNivmfLoss<T>::Options;

  /// Device state of one forward pass on this rank (pointers into its workspace).
  struct Saved {
    detail::ShardedElNivmfState<T> state;
    /// The forward's DeviceStatus word (device memory, inside the workspace), as
    /// ElNivmfLoss::Saved::status(); a label outside [0, shard.total) sets
    /// label_out_of_range on every rank.
    const std::uint32_t* status() const { return state.local.status; }
  };

  /// Validates options with ElNivmfLoss's rules (std::invalid_argument).
  explicit ShardedElNivmfLoss(Options options) : criterion_(options) {}

  const Options& options() const { return criterion_.options(); }

  /// Draws S samples per image from vMF(e_i) with rng (the same key on every rank: the
  /// samples of pdml::cuda::ElNivmfLoss::forward) and writes the global loss to *loss.
  /// embeddings: B x D (whole batch); labels: B global classes in [0, shard.total) (device);
  /// proxies, kappas: shard.size() x D, the rows of classes [shard.first, shard.end).
  /// communicator: a device communicator (is_device_communicator_v), called on context.stream.
  template <class Communicator>
  cudaError_t forward(void* workspace, std::size_t& workspace_bytes,
                      ConstMatrixView<T> embeddings, const std::int64_t* labels,
                      ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T temperature,
                      RngKey rng, ClassShard shard, Communicator& communicator, T* loss,
                      Saved& saved, Context context) const {
    static_assert(is_device_communicator_v<Communicator, T>,
                  "Communicator needs cudaError_t all_reduce_max(T*, std::size_t, cudaStream_t) "
                  "and all_reduce_sum(T*, std::size_t, cudaStream_t)");
    const char* fn = "pdml::cuda::ShardedElNivmfLoss::forward";
    Saved plan;
    if (detail::sharded_el_nivmf_setup(fn, workspace, workspace_bytes, options(),
                                       static_cast<const ConstMatrixView<T>*>(nullptr),
                                       embeddings, labels, proxies, kappas, temperature, shard,
                                       loss, context.cublas, plan.state)) {
      return cudaSuccess;
    }
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    detail::StreamBoundCommunicator<Communicator> bound{&communicator, context.stream};
    PDML_CUDA_TRY(
        detail::sharded_el_nivmf_forward_sampled(backend, plan.state, rng, bound, loss));
    saved = plan;
    return cudaSuccess;
  }

  /// Like forward, with caller-drawn samples ((S B) x D, sample s of image i at row s B + i,
  /// the same on every rank).
  template <class Communicator>
  cudaError_t forward_with_samples(void* workspace, std::size_t& workspace_bytes,
                                   ConstMatrixView<T> samples, ConstMatrixView<T> embeddings,
                                   const std::int64_t* labels, ConstMatrixView<T> proxies,
                                   ConstMatrixView<T> kappas, T temperature, ClassShard shard,
                                   Communicator& communicator, T* loss, Saved& saved,
                                   Context context) const {
    static_assert(is_device_communicator_v<Communicator, T>,
                  "Communicator needs cudaError_t all_reduce_max(T*, std::size_t, cudaStream_t) "
                  "and all_reduce_sum(T*, std::size_t, cudaStream_t)");
    const char* fn = "pdml::cuda::ShardedElNivmfLoss::forward_with_samples";
    Saved plan;
    if (detail::sharded_el_nivmf_setup(fn, workspace, workspace_bytes, options(), &samples,
                                       embeddings, labels, proxies, kappas, temperature, shard,
                                       loss, context.cublas, plan.state)) {
      return cudaSuccess;
    }
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    detail::StreamBoundCommunicator<Communicator> bound{&communicator, context.stream};
    PDML_CUDA_TRY(
        detail::sharded_el_nivmf_forward_given_samples(backend, plan.state, bound, loss));
    saved = plan;
    return cudaSuccess;
  }

  /// Gradients of grad_loss * L (grad_loss the same on every rank), as
  /// ElNivmfLoss::backward: overwrites grad_proxies and grad_kappas (shard.size() x D: this
  /// rank's classes, zero where clamped), grad_embeddings (B x D) and *grad_temperature
  /// (device; skipped when null) with the gradients summed over all shards. After forward,
  /// grad_embeddings includes the path through the sampler; after forward_with_samples it
  /// holds only the ProxyAnchor term and dL/dx (summed over the shards) goes to
  /// *grad_samples (dropped when null). May be called more than once (collectively).
  template <class Communicator>
  cudaError_t backward(const Saved& saved, T grad_loss, MatrixView<T> grad_embeddings,
                       MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                       T* grad_temperature, MatrixView<T>* grad_samples,
                       Communicator& communicator, Context context) const {
    static_assert(is_device_communicator_v<Communicator, T>,
                  "Communicator needs cudaError_t all_reduce_max(T*, std::size_t, cudaStream_t) "
                  "and all_reduce_sum(T*, std::size_t, cudaStream_t)");
    const char* fn = "pdml::cuda::ShardedElNivmfLoss::backward";
    detail::sharded_el_nivmf_backward_checks(fn, options().n_samples, saved.state, grad_loss,
                                             grad_embeddings, grad_proxies, grad_kappas,
                                             grad_samples, context.cublas);
    HandleScope scope(fn, context);
    PDML_CUDA_TRY(scope.status());
    const detail::CudaBackend backend{context.stream, context.cublas, context.gemm_precision};
    detail::StreamBoundCommunicator<Communicator> bound{&communicator, context.stream};
    return detail::sharded_el_nivmf_backward(backend, saved.state, grad_loss, grad_embeddings,
                                             grad_proxies, grad_kappas, grad_temperature,
                                             grad_samples, bound);
  }

 private:
  ElNivmfLoss<T> criterion_;  // the options, validated by the single-process rules
};

}  // namespace cuda
}  // namespace pdml
