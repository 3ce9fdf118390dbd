// SPDX-License-Identifier: MIT
#pragma once
// The host side of a sharded forward and backward (pdml::cuda::ShardedElNivmfLoss):
// argument checks, the state's sizes and scalars, the workspace carving and the
// size query. Free of cuBLAS calls and of the CUDA backend, so the thrust-host tests
// run exactly this setup -- checks included -- on the CPU.

#include <cstddef>
#include <cstdint>
#include <string>

#include <cublas_v2.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/losses/detail/sharded_el_nivmf_algorithm.hpp"
#include "pdml/losses/class_shard.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Checks the forward's arguments (std::invalid_argument naming the argument,
/// before anything is written), fills st (sizes, scalars, input views; st.sampled
/// when samples is null) and carves the workspace. Returns true when the call
/// was a size query (workspace null: workspace_bytes set, nothing else to do).
/// options: pdml::cuda::ElNivmfLoss<T>::Options or a struct with its fields,
/// already validated. samples: the caller's ((S B) x D), or null to draw them.
template <class T, class Options>
bool sharded_el_nivmf_setup(const char* fn, void* workspace, std::size_t& workspace_bytes,
                            const Options& options, const ConstMatrixView<T>* samples,
                            ConstMatrixView<T> embeddings, const std::int64_t* labels,
                            ConstMatrixView<T> proxies, ConstMatrixView<T> kappas,
                            T temperature, const ClassShard& shard, const T* loss,
                            cublasHandle_t cublas, ShardedElNivmfState<T>& st) {
  pdml::detail::check_class_shard(fn, "shard", shard);
  if (embeddings.rows < 1 || embeddings.cols < 2) {
    throw_cuda_argument(fn, "embeddings", "needs at least 1 row and 2 columns");
  }
  check_device_view(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  check_proxies(fn, proxies, kappas, embeddings.cols, embeddings.cols);
  if (proxies.rows != shard.size()) {
    throw_cuda_argument(fn, "proxies",
                        "has " + std::to_string(proxies.rows) + " rows but the shard holds " +
                            std::to_string(shard.size()) + " classes");
  }
  if (labels == nullptr) throw_cuda_argument(fn, "labels", "is a null pointer");
  if (!(temperature - temperature == T(0))) {
    throw_cuda_argument(fn, "temperature", "is not finite");
  }
  if (!(temperature > T(0))) throw_cuda_argument(fn, "temperature", "must be positive");
  if (loss == nullptr) throw_cuda_argument(fn, "loss", "is a null pointer");
  if (cublas == nullptr) throw_cuda_argument(fn, "context.cublas", "is null");
  if (samples != nullptr) {
    check_device_view(fn, "samples", *samples, Index(options.n_samples) * embeddings.rows,
                      embeddings.cols);
  }

  st = ShardedElNivmfState<T>{};
  st.first = shard.first;
  st.total_classes = shard.total;
  st.labels = labels;
  st.sampled = samples == nullptr;
  ElNivmfState<T>& local = st.local;
  local.batch = embeddings.rows;
  local.classes = shard.size();
  local.dims = embeddings.cols;
  local.samples = options.n_samples;
  local.temperature = temperature;
  local.min_kappa = options.min_kappa;
  local.guidance_weight = options.guidance_weight;
  local.alpha = options.proxy_anchor_alpha;
  local.delta = options.proxy_anchor_delta;
  local.exact = options.scoring == decltype(options.scoring)::exact_density;
  local.embeddings = embeddings;
  local.proxies = proxies;
  local.kappas = kappas;
  if (samples != nullptr) local.samples_view = *samples;
  WorkspaceCarver carver(workspace);
  carve_sharded_el_nivmf(carver, st);
  return answer_size_query(fn, workspace, workspace_bytes, carver.bytes());
}

/// Checks the backward's arguments against the forward's state (std::invalid_argument
/// naming the argument, before anything is written).
template <class T>
void sharded_el_nivmf_backward_checks(const char* fn, int n_samples,
                                      const ShardedElNivmfState<T>& saved, T grad_loss,
                                      MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                      MatrixView<T> grad_kappas,
                                      const MatrixView<T>* grad_samples, cublasHandle_t cublas) {
  const ElNivmfState<T>& st = saved.local;
  if (!st.valid) throw_cuda_argument(fn, "saved", "holds no forward pass");
  if (st.samples != n_samples) {
    throw_cuda_argument(fn, "saved", "comes from a loss with another n_samples");
  }
  if (!(grad_loss - grad_loss == T(0))) throw_cuda_argument(fn, "grad_loss", "is not finite");
  if (cublas == nullptr) throw_cuda_argument(fn, "context.cublas", "is null");
  check_device_view(fn, "grad_embeddings", grad_embeddings, st.batch, st.dims);
  check_device_view(fn, "grad_proxies", grad_proxies, st.classes, st.dims);
  check_device_view(fn, "grad_kappas", grad_kappas, st.classes, st.dims);
  if (grad_samples != nullptr) {
    check_device_view(fn, "grad_samples", *grad_samples, st.samples * st.batch, st.dims);
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
