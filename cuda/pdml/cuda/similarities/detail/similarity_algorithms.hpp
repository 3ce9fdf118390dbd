// SPDX-License-Identifier: MIT
#pragma once
// The isotropic-proxy similarities, Proxy-NCA and ProxyAnchor written once
// against a Backend (parallel/launch.hpp); the public CUDA wrappers are in
// pdml/cuda/similarities/similarities.hpp, the thrust-host tests run these on the CPU.

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/core/blas_ops.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/similarities/detail/half_inputs.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/similarities/detail/similarity_functors.hpp"
#include "pdml/cuda/math/unit_rows.hpp"
#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace detail {

template <class T>
struct IsotropicState {
  IsotropicPair<T> pair{IsotropicSimilarity::expected_likelihood, 0};
  ConstMatrixView<T> embeddings{nullptr, 0, 0, 0};
  ConstMatrixView<T> kappas{nullptr, 0, 0, 0};
  T min_kappa = T(0.1);
  T temperature = T(1);
  T *nu = nullptr, *kappa = nullptr, *location = nullptr, *vnorm = nullptr;
  T *similarities = nullptr, *scratch_rows = nullptr, *scratch_proxies = nullptr;
  T *partial = nullptr;
  bool valid = false;
};

template <class T>
void carve_isotropic(WorkspaceCarver& carver, IsotropicState<T>& st, Index b, Index c, Index d) {
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  st.nu = carver.take<T>(n(c * d));
  st.kappa = carver.take<T>(n(c));
  st.location = carver.take<T>(n(c * d));
  st.vnorm = carver.take<T>(n(c));
  st.similarities = carver.take<T>(n(b * c));
  st.scratch_rows = carver.take<T>(n(b * d));
  st.scratch_proxies = carver.take<T>(n(c * d));
  st.partial = carver.take<T>(n(chunk_count(b * c) + 1));
}

template <class T, class Backend>
cudaError_t isotropic_forward(const Backend& be, IsotropicState<T>& st, ConstMatrixView<T> proxies,
                              MatrixView<T> similarities) {
  const Index b = st.embeddings.rows, c = proxies.rows;
  cudaError_t status = for_each_index(
      be, c,
      IsotropicProxyPrepare<T>{proxies, st.kappas, st.min_kappa, st.nu, st.kappa, st.location,
                               st.vnorm});
  if (status != cudaSuccess) return status;
  status = for_each_index(be, b * c,
                          IsotropicPairForward<T>{st.pair, st.embeddings, st.location, c,
                                                  T(1) / st.temperature, st.similarities,
                                                  similarities});
  st.valid = status == cudaSuccess;
  return status;
}

template <class T>
struct FinishTemperatureGradient {
  T inv_temperature;
  T* out;
  PDML_HOST_DEVICE void operator()(T sum) const { *out = -sum * inv_temperature; }
};

template <class T, class Backend>
cudaError_t isotropic_backward(const Backend& be, const IsotropicState<T>& st, Index classes,
                               ConstMatrixView<T> grad_similarities,
                               MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                               MatrixView<T> grad_kappas, T* grad_temperature) {
  const Index b = st.embeddings.rows;
  const T scale = st.pair.sign() / st.temperature;
  if (grad_temperature != nullptr) {
    const cudaError_t status = deterministic_sum<T>(
        be, b * classes, TemperatureTerms<T>{grad_similarities, st.similarities}, st.partial,
        FinishTemperatureGradient<T>{T(1) / st.temperature, grad_temperature});
    if (status != cudaSuccess) return status;
  }
  cudaError_t status = for_each_index(
      be, b,
      IsotropicImageBackward<T>{st.pair, st.embeddings, st.location, classes, scale,
                                grad_similarities, st.scratch_rows, grad_embeddings});
  if (status != cudaSuccess) return status;
  return for_each_index(
      be, classes,
      IsotropicProxyBackward<T>{st.pair, st.embeddings, st.kappas, st.min_kappa, st.nu, st.kappa,
                                st.location, st.vnorm, scale, grad_similarities,
                                st.scratch_proxies, grad_proxies, grad_kappas});
}

// ---------------------------------------------------------------- Proxy-NCA

template <class T>
struct CosineState {
  Index rows = 0, classes = 0, dims = 0;
  T temperature = T(1);
  T *mu = nullptr, *enorm = nullptr, *nu = nullptr, *vnorm = nullptr, *cosines = nullptr;
  T *grad_mu = nullptr, *grad_nu = nullptr, *partial = nullptr, *grad_dense = nullptr;
  bool valid = false;
};

template <class T>
void carve_cosine(WorkspaceCarver& carver, CosineState<T>& st) {
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  st.mu = carver.take<T>(n(st.rows * st.dims));
  st.enorm = carver.take<T>(n(st.rows));
  st.nu = carver.take<T>(n(st.classes * st.dims));
  st.vnorm = carver.take<T>(n(st.classes));
  st.cosines = carver.take<T>(n(st.rows * st.classes));
  st.grad_mu = carver.take<T>(n(st.rows * st.dims));
  st.grad_nu = carver.take<T>(n(st.classes * st.dims));
  st.partial = carver.take<T>(n(chunk_count(st.rows * st.classes) + 1));
  st.grad_dense = carver.take<T>(n(st.rows * st.classes));
}

/// similarities = cosines / T, written element-wise into a strided view.
template <class T>
struct ScaleCosines {
  const T* cosines;
  Index classes;
  T inv_temperature;
  MatrixView<T> out;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    out(i, ic - i * classes) = cosines[ic] * inv_temperature;
  }
};

template <class T, class Backend>
cudaError_t cosine_forward(const Backend& be, CosineState<T>& st, ConstMatrixView<T> embeddings,
                           ConstMatrixView<T> proxies, MatrixView<T> similarities) {
  const Index b = st.rows, c = st.classes, d = st.dims;
  // Images and proxies are both normalized rows: one launch, two roles.
  cudaError_t status = for_each_row<parallel::kRowLanes>(
      be, b + c,
      parallel::group_roles(UnitRows<T>{embeddings, st.mu, st.enorm}, b,
                            UnitRows<T>{proxies, st.nu, st.vnorm}));
  if (status != cudaSuccess) return status;
  status = be.gemm(Op::none, Op::transpose, b, c, d, T(1), st.mu, d, st.nu, d, T(0), st.cosines, c);
  if (status != cudaSuccess) return status;
  status = for_each_index(be, b * c,
                          ScaleCosines<T>{st.cosines, c, T(1) / st.temperature, similarities});
  st.valid = status == cudaSuccess;
  return status;
}

/// cosine_forward of half-precision inputs, converted into `converted` first.
template <class In, class Backend>
cudaError_t cosine_forward_from_half(const Backend& be, CosineState<float>& st,
                                     const HalfInputBuffers& converted,
                                     MatrixView<const In> embeddings, MatrixView<const In> proxies,
                                     MatrixView<float> similarities) {
  const cudaError_t status = convert_half_inputs(be, embeddings, proxies, converted);
  if (status != cudaSuccess) return status;
  return cosine_forward(be, st, ConstMatrixView<float>{converted.embeddings, st.rows, st.dims,
                                                       st.dims},
                        ConstMatrixView<float>{converted.proxies, st.classes, st.dims, st.dims},
                        similarities);
}

/// Dense copy of a strided view (the GEMMs take dense operands).
template <class T>
struct CopyDense {
  ConstMatrixView<T> in;
  T* out;
  PDML_HOST_DEVICE void operator()(Index k) const {
    const Index i = k / in.cols;
    out[k] = in(i, k - i * in.cols);
  }
};

template <class T, class Backend>
cudaError_t cosine_backward(const Backend& be, const CosineState<T>& st,
                            ConstMatrixView<T> grad_similarities,
                            MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                            T* grad_temperature) {
  const Index b = st.rows, c = st.classes, d = st.dims;
  const T inv_t = T(1) / st.temperature;
  T* dense_grad = st.grad_dense;
  cudaError_t status = cudaSuccess;
  if (grad_temperature != nullptr) {
    // d sim / dT = -cos / T^2
    status = deterministic_sum<T>(be, b * c, TemperatureTerms<T>{grad_similarities, st.cosines},
                                  st.partial,
                                  FinishTemperatureGradient<T>{inv_t * inv_t, grad_temperature});
    if (status != cudaSuccess) return status;
  }
  status = for_each_index(be, b * c, CopyDense<T>{grad_similarities, dense_grad});
  if (status != cudaSuccess) return status;
  status = be.gemm(Op::none, Op::none, b, d, c, inv_t, dense_grad, c, st.nu, d, T(0), st.grad_mu, d);
  if (status != cudaSuccess) return status;
  status = be.gemm(Op::transpose, Op::none, c, d, b, inv_t, dense_grad, c, st.mu, d, T(0),
                   st.grad_nu, d);
  if (status != cudaSuccess) return status;
  return for_each_row<parallel::kRowLanes>(
      be, b + c,
      parallel::group_roles(
          UnitRowsBackward<T>{st.mu, st.enorm, st.grad_mu, d, false, grad_embeddings},
          b,
          UnitRowsBackward<T>{st.nu, st.vnorm, st.grad_nu, d, false, grad_proxies}));
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
