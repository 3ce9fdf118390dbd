// SPDX-License-Identifier: MIT
#pragma once
// HostBackend: the generic pdml::cuda algorithms on Thrust's CPP system and
// a loop GEMM, so the code path of the CUDA criterion executes (and is tested)
// on machines without a GPU. Compiles with a plain C++17 compiler given
// CCCL's include directory; not meant for production use on the host (the
// CPU API in include/pdml is).

#include <cstddef>
#include <cstring>

#include <thrust/system/cpp/execution_policy.h>

#include <cuda_runtime_api.h>

#include "pdml/cuda/core/blas_ops.hpp"
#include "pdml/cuda/core/gemm_batch.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// What a step enqueues, counted by HostBackend: kernels (for_each_index
/// launches), GEMMs (one cuBLAS call each, at least one kernel on a GPU) and
/// memsets.
struct LaunchCounts {
  long kernels = 0;
  long gemms = 0;
  long memsets = 0;
};

struct HostBackend {
  LaunchCounts* counts = nullptr;  ///< counted when not null

  auto policy() const { return thrust::cpp::par; }
  void count_kernel() const {
    if (counts != nullptr) ++counts->kernels;
  }
  cudaError_t last_error() const { return cudaSuccess; }
  cudaError_t zero_bytes(void* data, std::size_t bytes) const {
    if (counts != nullptr) ++counts->memsets;
    std::memset(data, 0, bytes);
    return cudaSuccess;
  }
  cudaError_t error_from(const thrust::system_error&) const { return cudaErrorUnknown; }

  template <int W, class F>
  cudaError_t launch_rows(Index rows, F f) const {
    const parallel::SerialGroup group;
    for (Index row = 0; row < rows; ++row) f(group, row);
    return cudaSuccess;
  }
  template <class F>
  cudaError_t launch_blocks(Index rows, F f) const {
    return launch_rows<1>(rows, f);
  }

  template <class T>
  cudaError_t gemm(Op op_a, Op op_b, Index m, Index n, Index k, T alpha, const T* a,
                   Index a_stride, const T* b, Index b_stride, T beta, T* c,
                   Index c_stride) const {
    if (counts != nullptr) ++counts->gemms;
    host_gemm(op_a == Op::transpose, op_b == Op::transpose, m, n, k, alpha, a, a_stride, b,
              b_stride, beta, c, c_stride);
    return cudaSuccess;
  }
  /// The entries of `batch` one after the other: one call, counted as one GEMM.
  template <class T>
  cudaError_t gemm_batched(Op op_a, Op op_b, Index m, Index n, Index k, T alpha,
                           const GemmBatch<T>& batch, Index a_stride, Index b_stride, T beta,
                           Index c_stride) const {
    if (counts != nullptr) ++counts->gemms;
    for (Index i = 0; i < batch.count; ++i) {
      host_gemm(op_a == Op::transpose, op_b == Op::transpose, m, n, k, alpha, batch.left[i],
                a_stride, batch.right[i], b_stride, beta, batch.out[i], c_stride);
    }
    return cudaSuccess;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
