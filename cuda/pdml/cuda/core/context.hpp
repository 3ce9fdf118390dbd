// SPDX-License-Identifier: MIT
#pragma once
// Conventions shared by every pdml::cuda entry point.
//
// * Errors. Host wrappers throw std::invalid_argument for arguments that are
//   wrong on the host side (shapes, strides, null pointers, non-positive
//   temperature, a workspace that is too small) before anything is enqueued,
//   and otherwise return the cudaError_t of the first failing CUDA or cuBLAS
//   call (cuBLAS statuses are mapped onto cudaError_t, see cublas_error()).
//   Device code never traps: invalid numeric input gives NaN, as <cmath> does.
// * Workspace. Like CUB, an entry point called with workspace == nullptr only
//   stores the number of bytes it needs in workspace_bytes and returns
//   cudaSuccess; called again with at least that many bytes of device memory
//   it runs. Nothing inside pdml::cuda calls cudaMalloc. Any base address is
//   accepted: WorkspaceCarver aligns it up to kWorkspaceAlignment, and every
//   size includes the kWorkspaceAlignment - 1 bytes of slack for that.
// * Streams. All work is enqueued on the caller's stream; no call
//   synchronizes the device or the stream. A backward runs on its forward's
//   stream or on one ordered after it (docs/cuda.md). The cuBLAS handle must
//   be bound to the call's stream; pdml never rebinds it (HandleScope).
// * Determinism. No pdml kernel uses floating-point atomics; every reduction
//   runs in a fixed order, so outputs are bitwise reproducible for the same
//   inputs, device and launch (see docs/cuda.md for cuBLAS).

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/detail/non_deduced.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/device_status.hpp"

namespace pdml {
namespace cuda {

/// How pdml's fp32 GEMMs may use tensor cores (Context::gemm_precision).
/// fp64 GEMMs are always plain DGEMMs. See docs/cuda.md for the agreement
/// with the CPU each setting gives.
enum class GemmPrecision {
  fp32,  ///< default: full fp32 products (cublasSgemm, no TF32), 1e-5 agreement
  tf32,  ///< opt-in: TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32)
  bf16,  ///< opt-in: BF16 tensor cores (CUBLAS_COMPUTE_32F_FAST_16BF)
};

/// Where the work of a pdml::cuda call runs: the caller's stream and, for
/// calls that multiply matrices, the caller's cuBLAS handle, which must be
/// bound to `stream` (cublasSetStream(cublas, stream)): pdml never rebinds
/// it, because cublasSetStream would also reset the handle's workspace.
struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  GemmPrecision gemm_precision = GemmPrecision::fp32;
};

/// Alignment of every buffer carved out of a caller workspace (bytes); the
/// same as cudaMalloc's guarantee, so vectorized loads stay legal.
constexpr std::size_t kWorkspaceAlignment = 256;

/// Carves typed, aligned buffers out of one caller-provided workspace.
/// Constructed with a null base it only counts bytes, which is how the size
/// queries are answered: the planning pass and the running pass execute the
/// same sequence of take() calls, so they cannot disagree. Any base address
/// is accepted: the carver aligns it up to kWorkspaceAlignment, and bytes()
/// includes the kWorkspaceAlignment - 1 bytes of slack that this may skip.
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(align_base(base)) {}

  template <class T>
  T* take(std::size_t count) {
    const std::size_t begin = round_up(used_);
    used_ = begin + round_up(count * sizeof(T));
    return base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + begin);
  }

  /// Bytes a caller must provide: what was taken, plus the alignment slack.
  std::size_t bytes() const { return used_ == 0 ? 0 : used_ + kWorkspaceAlignment - 1; }
  bool planning() const { return base_ == nullptr; }

 private:
  static unsigned char* align_base(void* base) {
    if (base == nullptr) return nullptr;
    const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(base);
    const std::uintptr_t aligned =
        (address + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment;
    return static_cast<unsigned char*>(base) + (aligned - address);
  }
  static std::size_t round_up(std::size_t bytes) {
    return (bytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment;
  }
  unsigned char* base_;
  std::size_t used_ = 0;
};

namespace detail {

[[noreturn]] inline void throw_cuda_argument(const char* function, const char* argument,
                                             const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": argument '" + argument + "' " + what);
}

/// Structural view checks that never dereference (the data is device memory).
template <class T>
void check_device_view(const char* function, const char* argument, MatrixView<T> view,
                       Index rows, Index cols) {
  if (view.rows != rows || view.cols != cols) {
    throw_cuda_argument(function, argument,
                        "has shape " + std::to_string(view.rows) + " x " +
                            std::to_string(view.cols) + " but " + std::to_string(rows) + " x " +
                            std::to_string(cols) + " is required");
  }
  if (view.stride < view.cols) {
    throw_cuda_argument(function, argument, "has a stride smaller than its column count");
  }
  if (view.data == nullptr && rows > 0 && cols > 0) {
    throw_cuda_argument(function, argument, "is a null pointer");
  }
}

/// Proxy vectors (C x dims, C >= 1) and their concentrations (C x
/// kappa_cols): the checks every proxy-based entry point makes, in one order.
template <class P, class K>
void check_proxies(const char* function, MatrixView<P> proxies, MatrixView<K> kappas, Index dims,
                   Index kappa_cols) {
  if (proxies.rows < 1) throw_cuda_argument(function, "proxies", "is empty");
  check_device_view(function, "proxies", proxies, proxies.rows, dims);
  check_device_view(function, "kappas", kappas, proxies.rows, kappa_cols);
}

/// Keeps a parameter out of template argument deduction, so that a literal
/// nullptr can be passed for an optional T* output (the CPU API's helper).
using pdml::detail::NonDeduced;

/// Host scalars such as temperatures and clamps: positive and finite.
template <class T>
void check_positive_finite(const char* function, const char* argument, T value) {
  if (!(value - value == T(0)) || !(value > T(0))) {
    throw_cuda_argument(function, argument, "must be positive and finite");
  }
}

/// The workspace protocol: returns true when the call was only a size query.
inline bool answer_size_query(const char* function, void* workspace, std::size_t& workspace_bytes,
                              std::size_t required) {
  if (workspace == nullptr) {
    workspace_bytes = required;
    return true;
  }
  if (workspace_bytes < required) {
    throw_cuda_argument(function, "workspace_bytes",
                        "is " + std::to_string(workspace_bytes) + " but " +
                            std::to_string(required) + " bytes are required");
  }
  return false;
}

/// Grid size for a grid-stride loop over n items.
inline unsigned grid_for(Index n, unsigned block) {
  const Index blocks = (n + block - 1) / block;
  const Index cap = 65535 * 8;  // enough to fill any current GPU; the loop covers the rest
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

}  // namespace detail

/// Returns the first error among a sequence of CUDA calls.
#define PDML_CUDA_TRY(expr)                               \
  do {                                                    \
    const cudaError_t pdml_cuda_status_ = (expr);         \
    if (pdml_cuda_status_ != cudaSuccess) return pdml_cuda_status_; \
  } while (0)

}  // namespace cuda
}  // namespace pdml
