// SPDX-License-Identifier: MIT
#pragma once
// Batched log-normalizers, mean resultants and Bessel functions on the GPU:
// the device-callable routines of include/pdml/math, one thread per element.
// Inputs and outputs are device arrays of n elements; the call is enqueued on
// `stream` and does not synchronize. Invalid numeric input (negative, NaN)
// gives NaN in that element, as on the host.

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/backend_cuda.hpp"
#include "pdml/cuda/math/detail/math_functors.hpp"
#include "pdml/cuda/parallel/launch.hpp"

namespace pdml {
namespace cuda {

/// out[i] = f(p, kappa[i]) for i in [0, n). p >= 2 (else every output is NaN,
/// as the host function returns). Throws std::invalid_argument for n < 0 or
/// null arrays with n > 0.
template <class T>
cudaError_t vmf_function(VmfFunction function, int p, const T* kappa, T* out, Index n,
                         cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::vmf_function";
  if (n < 0) detail::throw_cuda_argument(fn, "n", "is negative");
  if (n > 0 && kappa == nullptr) detail::throw_cuda_argument(fn, "kappa", "is a null pointer");
  if (n > 0 && out == nullptr) detail::throw_cuda_argument(fn, "out", "is a null pointer");
  const detail::CudaBackend backend{stream, nullptr};
  return detail::for_each_index(backend, n, detail::VmfFunctionApply<T>{function, p, kappa, out});
}

/// out[i] = f(v[i], x[i]) for i in [0, n).
template <class T>
cudaError_t bessel_function(BesselFunction function, const T* v, const T* x, T* out, Index n,
                            cudaStream_t stream = nullptr) {
  const char* fn = "pdml::cuda::bessel_function";
  if (n < 0) detail::throw_cuda_argument(fn, "n", "is negative");
  if (n > 0 && (v == nullptr || x == nullptr)) {
    detail::throw_cuda_argument(fn, v == nullptr ? "v" : "x", "is a null pointer");
  }
  if (n > 0 && out == nullptr) detail::throw_cuda_argument(fn, "out", "is a null pointer");
  const detail::CudaBackend backend{stream, nullptr};
  return detail::for_each_index(backend, n, detail::BesselFunctionApply<T>{function, v, x, out});
}

/// log C_p(kappa[i]), the vMF log-normalizer.
template <class T>
cudaError_t vmf_log_normalizer(int p, const T* kappa, T* out, Index n,
                               cudaStream_t stream = nullptr) {
  return vmf_function(VmfFunction::log_normalizer, p, kappa, out, n, stream);
}

/// A_p(kappa[i]), the mean resultant length.
template <class T>
cudaError_t vmf_mean_resultant(int p, const T* kappa, T* out, Index n,
                               cudaStream_t stream = nullptr) {
  return vmf_function(VmfFunction::mean_resultant, p, kappa, out, n, stream);
}

}  // namespace cuda
}  // namespace pdml
