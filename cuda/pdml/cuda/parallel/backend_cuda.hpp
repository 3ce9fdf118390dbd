// SPDX-License-Identifier: MIT
#pragma once
// CudaBackend: Thrust's CUDA system on the caller's stream and cuBLAS.

#include <cstddef>

#include <thrust/system/cuda/execution_policy.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "pdml/cuda/core/blas.hpp"
#include "pdml/cuda/core/gemm_batch.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/parallel/group_cuda.cuh"

namespace pdml {
namespace cuda {
namespace detail {

struct CudaBackend {
  cudaStream_t stream;
  cublasHandle_t cublas;  // bound to `stream`, modes set by HandleScope
  GemmPrecision precision = GemmPrecision::fp32;

  // par_nosync: Thrust neither synchronizes the stream nor the device.
  auto policy() const { return thrust::cuda::par_nosync.on(stream); }
  void count_kernel() const {}
  cudaError_t last_error() const { return cudaPeekAtLastError(); }
  /// Zeroes device memory on the stream (a memset node under graph capture).
  cudaError_t zero_bytes(void* data, std::size_t bytes) const {
    return cudaMemsetAsync(data, 0, bytes, stream);
  }
  cudaError_t error_from(const thrust::system_error& error) const {
    return static_cast<cudaError_t>(error.code().value());
  }

  template <int W, class F>
  cudaError_t launch_rows(Index rows, F f) const {
    constexpr Index kRowsPerBlock = parallel::kThreadsPerBlock / W;
    const Index blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
    parallel::lane_group_kernel<W, F>
        <<<static_cast<unsigned>(blocks), parallel::kThreadsPerBlock, 0, stream>>>(rows, f);
    return cudaPeekAtLastError();
  }
  template <class F>
  cudaError_t launch_blocks(Index rows, F f) const {
    parallel::block_group_kernel<F>
        <<<static_cast<unsigned>(rows), parallel::kThreadsPerBlock, 0, stream>>>(rows, f);
    return cudaPeekAtLastError();
  }

  template <class T>
  cudaError_t gemm(Op op_a, Op op_b, Index m, Index n, Index k, T alpha, const T* a,
                   Index a_stride, const T* b, Index b_stride, T beta, T* c,
                   Index c_stride) const {
    return pdml::cuda::gemm(cublas, precision, op_a, op_b, m, n, k, alpha, a, a_stride, b,
                            b_stride, beta, c, c_stride);
  }
  /// One batched cuBLAS call over the entries of `batch` (device pointer arrays).
  template <class T>
  cudaError_t gemm_batched(Op op_a, Op op_b, Index m, Index n, Index k, T alpha,
                           const GemmBatch<T>& batch, Index a_stride, Index b_stride, T beta,
                           Index c_stride) const {
    return pdml::cuda::gemm_batched(cublas, precision, op_a, op_b, m, n, k, alpha, batch.left,
                                    a_stride, batch.right, b_stride, beta, batch.out, c_stride,
                                    batch.count);
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
