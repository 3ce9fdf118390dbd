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

#include <string>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas_ops.hpp"
#include "pdml/cuda/core/context.hpp"

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

namespace detail {
inline cublasStatus_t gemm_precise(cublasHandle_t h, GemmPrecision precision, cublasOperation_t ta,
                                   cublasOperation_t tb, int m, int n, int k, const float* alpha,
                                   const float* a, int lda, const float* b, int ldb,
                                   const float* beta, float* c, int ldc) {
  if (precision == GemmPrecision::fp32) {
    return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  const cublasComputeType_t compute = precision == GemmPrecision::tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F_FAST_16BF;
  return cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c,
                      CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT);
}
// fp64 GEMMs ignore the precision option: always DGEMM.
inline cublasStatus_t gemm_precise(cublasHandle_t h, GemmPrecision, cublasOperation_t ta,
                                   cublasOperation_t tb, int m, int n, int k, const double* alpha,
                                   const double* a, int lda, const double* b, int ldb,
                                   const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace detail

/// gemm with the tensor-core policy of GemmPrecision for fp32 (fp64 is always
/// DGEMM). Expects the handle in host pointer mode with default math, as
/// HandleScope sets it.
template <class T>
cudaError_t gemm(cublasHandle_t handle, GemmPrecision precision, Op op_a, Op op_b, Index m,
                 Index n, Index k, T alpha, const T* a, Index a_stride, const T* b,
                 Index b_stride, T beta, T* c, Index c_stride) {
  if (m == 0 || n == 0) return cudaSuccess;
  return cublas_error(detail::gemm_precise(
      handle, precision, detail::to_cublas(op_b), detail::to_cublas(op_a), static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &alpha, b, static_cast<int>(b_stride), a,
      static_cast<int>(a_stride), &beta, c, static_cast<int>(c_stride)));
}

namespace detail {
inline cublasStatus_t gemm_batched_precise(cublasHandle_t h, GemmPrecision precision,
                                           cublasOperation_t ta, cublasOperation_t tb, int m,
                                           int n, int k, const float* alpha,
                                           const float* const* a, int lda,
                                           const float* const* b, int ldb, const float* beta,
                                           float* const* c, int ldc, int count) {
  if (precision == GemmPrecision::fp32) {
    return cublasSgemmBatched(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, count);
  }
  const cublasComputeType_t compute = precision == GemmPrecision::tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F_FAST_16BF;
  return cublasGemmBatchedEx(h, ta, tb, m, n, k, alpha, reinterpret_cast<const void* const*>(a),
                             CUDA_R_32F, lda, reinterpret_cast<const void* const*>(b), CUDA_R_32F,
                             ldb, beta, reinterpret_cast<void* const*>(c), CUDA_R_32F, ldc, count,
                             compute, CUBLAS_GEMM_DEFAULT);
}
inline cublasStatus_t gemm_batched_precise(cublasHandle_t h, GemmPrecision, cublasOperation_t ta,
                                           cublasOperation_t tb, int m, int n, int k,
                                           const double* alpha, const double* const* a, int lda,
                                           const double* const* b, int ldb, const double* beta,
                                           double* const* c, int ldc, int count) {
  return cublasDgemmBatched(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, count);
}
}  // namespace detail

/// Row-major out[i] (m x n) = alpha op(left[i]) op(right[i]) + beta out[i] for the
/// `count` entries of device pointer arrays (detail::GemmBatch), one cuBLAS call, with
/// the precision policy of gemm(). Every entry has the same sizes and row strides.
template <class T>
cudaError_t gemm_batched(cublasHandle_t handle, GemmPrecision precision, Op op_a, Op op_b,
                         Index m, Index n, Index k, T alpha, const T* const* left,
                         Index a_stride, const T* const* right, Index b_stride, T beta,
                         T* const* out, Index c_stride, Index count) {
  if (m == 0 || n == 0 || count == 0) return cudaSuccess;
  return cublas_error(detail::gemm_batched_precise(
      handle, precision, detail::to_cublas(op_b), detail::to_cublas(op_a), static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &alpha, right, static_cast<int>(b_stride), left,
      static_cast<int>(a_stride), &beta, out, static_cast<int>(c_stride),
      static_cast<int>(count)));
}

namespace detail {
/// The cuBLAS calls HandleScope makes (a template parameter so the
/// thrust-host test can check the save / set / restore sequence on the CPU).
struct CublasHandleCalls {
  static cublasStatus_t get_stream(cublasHandle_t h, cudaStream_t* s) { return cublasGetStream(h, s); }
  static cublasStatus_t get_pointer_mode(cublasHandle_t h, cublasPointerMode_t* m) {
    return cublasGetPointerMode(h, m);
  }
  static cublasStatus_t set_pointer_mode(cublasHandle_t h, cublasPointerMode_t m) {
    return cublasSetPointerMode(h, m);
  }
  static cublasStatus_t get_math_mode(cublasHandle_t h, cublasMath_t* m) {
    return cublasGetMathMode(h, m);
  }
  static cublasStatus_t set_math_mode(cublasHandle_t h, cublasMath_t m) {
    return cublasSetMathMode(h, m);
  }
  static cublasStatus_t get_atomics_mode(cublasHandle_t h, cublasAtomicsMode_t* m) {
    return cublasGetAtomicsMode(h, m);
  }
  static cublasStatus_t set_atomics_mode(cublasHandle_t h, cublasAtomicsMode_t m) {
    return cublasSetAtomicsMode(h, m);
  }
};

/// For the duration of one pdml call: checks that the caller's handle is
/// bound to the call's stream, saves its pointer, math and atomics modes, sets
/// what pdml's GEMMs rely on (host pointer mode for &alpha / &beta, default
/// math -- no TF32 behind an SGEMM --, atomics off for reproducible results)
/// and restores all three on every exit path. It never calls cublasSetStream
/// or cublasSetWorkspace: cuBLAS has no getter for the workspace, and
/// cublasSetStream resets it, so the caller's workspace (PyTorch sets one per
/// handle and stream) stays in force and nothing allocates inside pdml.
template <class Calls>
class BasicHandleScope {
 public:
  /// Throws std::invalid_argument naming `function` and context.cublas when
  /// the handle is bound to another stream than context.stream; nothing has
  /// been changed then.
  BasicHandleScope(const char* function, cublasHandle_t handle, cudaStream_t stream)
      : handle_(handle) {
    cudaStream_t bound = nullptr;
    status_ = Calls::get_stream(handle_, &bound);
    if (status_ != CUBLAS_STATUS_SUCCESS) return;
    if (bound != stream) {
      throw_cuda_argument(function, "context.cublas",
                          "is bound to another stream than context.stream; call "
                          "cublasSetStream(handle, stream) first (pdml does not rebind the "
                          "caller's handle, which would reset its workspace)");
    }
    status_ = Calls::get_pointer_mode(handle_, &pointer_mode_);
    if (status_ != CUBLAS_STATUS_SUCCESS) return;
    restore_pointer_mode_ = true;
    status_ = Calls::get_math_mode(handle_, &math_mode_);
    if (status_ != CUBLAS_STATUS_SUCCESS) return;
    restore_math_mode_ = true;
    status_ = Calls::get_atomics_mode(handle_, &atomics_mode_);
    if (status_ != CUBLAS_STATUS_SUCCESS) return;
    restore_atomics_mode_ = true;
    status_ = Calls::set_pointer_mode(handle_, CUBLAS_POINTER_MODE_HOST);
    if (status_ != CUBLAS_STATUS_SUCCESS) return;
    status_ = Calls::set_math_mode(handle_, CUBLAS_DEFAULT_MATH);
    if (status_ != CUBLAS_STATUS_SUCCESS) return;
    status_ = Calls::set_atomics_mode(handle_, CUBLAS_ATOMICS_NOT_ALLOWED);
  }
  ~BasicHandleScope() {
    if (restore_atomics_mode_) Calls::set_atomics_mode(handle_, atomics_mode_);
    if (restore_math_mode_) Calls::set_math_mode(handle_, math_mode_);
    if (restore_pointer_mode_) Calls::set_pointer_mode(handle_, pointer_mode_);
  }
  BasicHandleScope(const BasicHandleScope&) = delete;
  BasicHandleScope& operator=(const BasicHandleScope&) = delete;
  /// cudaSuccess, or the mapped cuBLAS status of the first failing call.
  cudaError_t status() const { return cublas_error(status_); }

 private:
  cublasHandle_t handle_;
  cublasStatus_t status_ = CUBLAS_STATUS_SUCCESS;
  cublasPointerMode_t pointer_mode_ = CUBLAS_POINTER_MODE_HOST;
  cublasMath_t math_mode_ = CUBLAS_DEFAULT_MATH;
  cublasAtomicsMode_t atomics_mode_ = CUBLAS_ATOMICS_NOT_ALLOWED;
  bool restore_pointer_mode_ = false;
  bool restore_math_mode_ = false;
  bool restore_atomics_mode_ = false;
};
}  // namespace detail

/// The handle discipline of every pdml::cuda entry point (see
/// detail::BasicHandleScope): stream checked, modes saved, set and restored.
class HandleScope : public detail::BasicHandleScope<detail::CublasHandleCalls> {
 public:
  HandleScope(const char* function, const Context& context)
      : detail::BasicHandleScope<detail::CublasHandleCalls>(function, context.cublas,
                                                            context.stream) {}
};

/// Kept for source compatibility; pdml no longer uses it. It rebinds the
/// handle with cublasSetStream, which also resets the handle's workspace to
/// cuBLAS's own pool; prefer binding the handle to your stream once and
/// leaving it there (HandleScope's contract).
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
