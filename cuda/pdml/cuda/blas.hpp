// SPDX-License-Identifier: MIT
#pragma once
// Row-major GEMM through cuBLAS.
//
// pdml's views are row-major; cuBLAS is column-major. A row-major m x n
// matrix with row stride s is the column-major n x m matrix with leading
// dimension s, so C = op(A) op(B) in row-major is C^T = op(B)^T op(A)^T in
// column-major: the operands swap and the transpose flags stay as they are.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/blas_ops.hpp"

namespace pdml {
namespace cuda {

/// The cudaError_t closest to a cuBLAS status (cudaError_t is the single
/// error type of pdml::cuda's host API).
inline cudaError_t cublas_error(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return cudaSuccess;
    case CUBLAS_STATUS_NOT_INITIALIZED: return cudaErrorInitializationError;
    case CUBLAS_STATUS_ALLOC_FAILED: return cudaErrorMemoryAllocation;
    case CUBLAS_STATUS_INVALID_VALUE: return cudaErrorInvalidValue;
    case CUBLAS_STATUS_ARCH_MISMATCH: return cudaErrorNoKernelImageForDevice;
    case CUBLAS_STATUS_EXECUTION_FAILED: return cudaErrorLaunchFailure;
    case CUBLAS_STATUS_NOT_SUPPORTED: return cudaErrorNotSupported;
    default: return cudaErrorUnknown;
  }
}

namespace detail {
inline cublasOperation_t to_cublas(Op op) { return op == Op::none ? CUBLAS_OP_N : CUBLAS_OP_T; }

inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const float* alpha, const float* a, int lda,
                                const float* b, int ldb, const float* beta, float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, const double* alpha, const double* a, int lda,
                                const double* b, int ldb, const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace detail

/// Row-major C (m x n) = alpha op(A) op(B) + beta C on the handle's stream.
/// k is the shared dimension. Host-side scalars (CUBLAS_POINTER_MODE_HOST).
template <class T>
cudaError_t gemm(cublasHandle_t handle, Op op_a, Op op_b, Index m, Index n, Index k, T alpha,
                 const T* a, Index a_stride, const T* b, Index b_stride, T beta, T* c,
                 Index c_stride) {
  if (m == 0 || n == 0) return cudaSuccess;
  return cublas_error(detail::gemm_call(
      handle, detail::to_cublas(op_b), detail::to_cublas(op_a), static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &alpha, b, static_cast<int>(b_stride), a,
      static_cast<int>(a_stride), &beta, c, static_cast<int>(c_stride)));
}

/// Row-major C (m x n, fp32) = alpha op(A) op(B) + beta C with A and B in
/// half or bfloat16 (cudaDataType CUDA_R_16F / CUDA_R_16BF) and fp32
/// accumulation: the mixed-precision form of the pairwise products.
inline cudaError_t gemm_mixed(cublasHandle_t handle, Op op_a, Op op_b, Index m, Index n, Index k,
                              float alpha, const void* a, cudaDataType a_type, Index a_stride,
                              const void* b, cudaDataType b_type, Index b_stride, float beta,
                              float* c, Index c_stride) {
  if (m == 0 || n == 0) return cudaSuccess;
  return cublas_error(cublasGemmEx(handle, detail::to_cublas(op_b), detail::to_cublas(op_a),
                                   static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                                   &alpha, b, b_type, static_cast<int>(b_stride), a, a_type,
                                   static_cast<int>(a_stride), &beta, c, CUDA_R_32F,
                                   static_cast<int>(c_stride), CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
}

/// Binds a caller's cuBLAS handle to a stream for one pdml call and restores
/// the handle's previous stream afterwards, so pdml leaves the caller's handle
/// as it found it.
class CublasStreamScope {
 public:
  CublasStreamScope(cublasHandle_t handle, cudaStream_t stream) : handle_(handle) {
    status_ = cublasGetStream(handle_, &previous_);
    if (status_ == CUBLAS_STATUS_SUCCESS) status_ = cublasSetStream(handle_, stream);
  }
  ~CublasStreamScope() {
    if (status_ == CUBLAS_STATUS_SUCCESS) cublasSetStream(handle_, previous_);
  }
  CublasStreamScope(const CublasStreamScope&) = delete;
  CublasStreamScope& operator=(const CublasStreamScope&) = delete;
  cudaError_t status() const { return cublas_error(status_); }

 private:
  cublasHandle_t handle_;
  cudaStream_t previous_ = nullptr;
  cublasStatus_t status_;
};

}  // namespace cuda
}  // namespace pdml
