// SPDX-License-Identifier: MIT
#pragma once
// The nivMF-to-point similarity written once against a Backend
// (parallel/launch.hpp), with the semantics of the CPU
// pdml::nivmf_point_similarity_forward / _backward
// (include/pdml/similarities/nivmf_point.hpp):
//   sim(i, c) = l_c(mu_i) / T,  mu_i = e_i / |e_i| (0 for a zero row),
// l_c the paper's scoring rule a_c + (K_c nu_c)^T mu or the exact log-density
// b_c + (K_c^2 nu_c)^T mu / |K_c mu| - D log |K_c mu|, with nu_c = v_c / |v_c|
// and K_c = diag(max(k_c, min_kappa)). The per-proxy parts (direction, clamp,
// slope, offset and their backward) are the criterion's functors, i.e. the
// distributions layer's nivmf_score_linear / nivmf_score_offset /
// nivmf_log_density_offset and their backward; the per-pair parts are GEMMs
// and fused element-wise passes. The same code with points given (instead of
// mu) and T = 1 is the batched nivMF scores l_c(x_n) of
// pdml::nivmf_scores_forward / _backward (nivmf_scores_core_* below). The
// public CUDA wrappers are in pdml/cuda/similarities/similarities.hpp and
// pdml/cuda/similarities/el_nivmf_similarity.hpp; the thrust-host tests run this on the CPU.

#include <cstddef>

#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas_ops.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/cuda/similarities/detail/similarity_functors.hpp"
#include "pdml/cuda/math/unit_rows.hpp"
#include "pdml/cuda/parallel/group.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_rows.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// What the backward needs: sizes, scalars, the raw concentrations (a view of
/// the forward's input, for the clamp mask), the scored points (mu in the
/// workspace, or the caller's points for the nivMF scores) and buffers in the
/// workspace.
template <class T>
struct NivmfPointState {
  Index rows = 0, classes = 0, dims = 0;
  T min_kappa = T(0.1);
  T temperature = T(1);  // 1 for the nivMF scores (division by 1 is exact)
  bool exact = false;
  bool embeddings = true;  // points are mu_i = e_i / |e_i| (carved), not given
  ConstMatrixView<T> kappas{nullptr, 0, 0, 0};
  ConstMatrixView<T> points{nullptr, 0, 0, 0};
  // Forward (saved).
  T *nu = nullptr, *kc = nullptr, *a = nullptr, *vnorm = nullptr, *bias = nullptr;
  T *mu = nullptr, *enorm = nullptr, *sim = nullptr;
  // Backward scratch.
  T *h = nullptr, *grad_bias = nullptr, *grad_a = nullptr, *grad_mu = nullptr, *partial = nullptr;
  // Exact density only.
  T *k2 = nullptr, *squares = nullptr, *u = nullptr, *q = nullptr, *grad_square = nullptr;
  T *h_k2 = nullptr, *grad_k2 = nullptr;
  bool valid = false;
};

/// Carves the buffers of one forward + backward (rows, classes, dims, exact
/// and embeddings must be set); the same sequence answers the size query.
/// Without embeddings (the nivMF scores) there is no mu, |e| or dL/dmu.
template <class T>
void carve_nivmf_point(WorkspaceCarver& carver, NivmfPointState<T>& st) {
  const Index B = st.rows, C = st.classes, D = st.dims;
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  st.nu = carver.take<T>(n(C * D));
  st.kc = carver.take<T>(n(C * D));
  st.a = carver.take<T>(n(C * D));
  st.vnorm = carver.take<T>(n(C));
  st.bias = carver.take<T>(n(C));
  if (st.embeddings) {
    st.mu = carver.take<T>(n(B * D));
    st.enorm = carver.take<T>(n(B));
  }
  st.sim = carver.take<T>(n(B * C));
  st.h = carver.take<T>(n(B * C));
  st.grad_bias = carver.take<T>(n(C));
  st.grad_a = carver.take<T>(n(C * D));
  if (st.embeddings) st.grad_mu = carver.take<T>(n(B * D));
  st.partial = carver.take<T>(n(chunk_count(B * C) + 1));
  if (st.exact) {
    st.k2 = carver.take<T>(n(C * D));
    st.squares = carver.take<T>(n(B * D));
    st.u = carver.take<T>(n(B * C));
    st.q = carver.take<T>(n(B * C));
    st.grad_square = carver.take<T>(n(B * C));
    st.h_k2 = carver.take<T>(n(B * D));
    st.grad_k2 = carver.take<T>(n(C * D));
  }
}

/// Per (i, c): the score from the products and the proxy's offset, divided
/// by T (the CPU's order of operations). Paper's rule: g holds mu_i^T a_c.
/// Exact density: u holds mu_i^T (K^2 nu_c), q holds |K_c mu_i|^2 and is
/// replaced by |K_c mu_i| for the backward.
template <class T>
struct NivmfPointScores {
  bool exact;
  Index classes;
  T temperature, dims;
  const T* bias;
  const T* u;
  T* q;
  T* sim;  // B x C dense: paper's rule: mu^T a in, similarity out
  MatrixView<T> similarities;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    T score;
    if (exact) {
      const T norm = sqrt_(q[ic]);
      q[ic] = norm;
      score = bias[c] + u[ic] / norm - dims * log_(norm);
    } else {
      score = sim[ic] + bias[c];
    }
    const T s = score / temperature;
    sim[ic] = s;
    similarities(i, c) = s;
  }
};

/// Per (i, c): h = dL/dl = g / T; for the exact density then dL/dU = h / Q
/// (into h) and dL/d(Q^2) = -h (U / Q + D) / (2 Q^2).
template <class T>
struct NivmfPointPairBackward {
  bool exact;
  ConstMatrixView<T> grad_similarities;
  T temperature, dims;
  const T* u;
  const T* q;
  T* h;            // B x C
  T* grad_square;  // B x C (exact only)
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index classes = grad_similarities.cols;
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    const T g = grad_similarities(i, c) / temperature;
    if (!exact) {
      h[ic] = g;
      return;
    }
    const T norm = q[ic];
    h[ic] = g / norm;
    grad_square[ic] = -g * (u[ic] / norm + dims) / (T(2) * norm * norm);
  }
};

/// Per class c: dL/d(offset_c) = sum_i g_ic / T, in i order.
template <class T>
struct NivmfPointOffsetGradient {
  ConstMatrixView<T> grad_similarities;
  T temperature;
  T* grad_bias;  // C
  PDML_HOST_DEVICE void operator()(Index c) const {
    T sum = T(0);
    for (Index i = 0; i < grad_similarities.rows; ++i) {
      sum += grad_similarities(i, c) / temperature;
    }
    grad_bias[c] = sum;
  }
};

#define PDML_CUDA_POINT_STEP(expr)                                  \
  do {                                                              \
    const cudaError_t pdml_step_status_ = (expr);                   \
    if (pdml_step_status_ != cudaSuccess) return pdml_step_status_; \
  } while (0)

/// Scores of st.points (rows x D) under the proxies, divided by
/// st.temperature, into st.sim (dense) and `out`.
template <class T, class Backend>
cudaError_t nivmf_scores_core_forward(const Backend& be, NivmfPointState<T>& st,
                                      ConstMatrixView<T> proxies, MatrixView<T> out) {
  const Index B = st.rows, C = st.classes, D = st.dims;
  const T* x = st.points.data;
  const Index x_stride = st.points.stride;
  PDML_CUDA_POINT_STEP(for_each_row<parallel::kRowLanes>(
      be, C,
      ProxyPrepareRows<T>{proxies, st.kappas, st.min_kappa, st.exact, st.nu, st.kc, st.a, st.k2,
                          st.vnorm, st.bias}));
  if (!st.exact) {
    PDML_CUDA_POINT_STEP(be.gemm(Op::none, Op::transpose, B, C, D, T(1), x, x_stride, st.a, D,
                                 T(0), st.sim, C));
  } else {
    PDML_CUDA_POINT_STEP(for_each_index(be, B * D, SquareSamples<T>{st.points, st.squares}));
    PDML_CUDA_POINT_STEP(be.gemm(Op::none, Op::transpose, B, C, D, T(1), x, x_stride, st.a, D,
                                 T(0), st.u, C));
    PDML_CUDA_POINT_STEP(be.gemm(Op::none, Op::transpose, B, C, D, T(1), st.squares, D, st.k2, D,
                                 T(0), st.q, C));
  }
  PDML_CUDA_POINT_STEP(for_each_index(
      be, B * C,
      NivmfPointScores<T>{st.exact, C, st.temperature, T(D), st.bias, st.u, st.q, st.sim, out}));
  st.valid = true;
  return cudaSuccess;
}

/// Backward of nivmf_scores_core_forward: overwrites grad_points (rows x D),
/// grad_proxies, grad_kappas and, unless null, *grad_temperature.
template <class T, class Backend>
cudaError_t nivmf_scores_core_backward(const Backend& be, const NivmfPointState<T>& st,
                                       ConstMatrixView<T> grad_scores, MatrixView<T> grad_points,
                                       MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                                       T* grad_temperature) {
  const Index B = st.rows, C = st.classes, D = st.dims;
  const T* x = st.points.data;
  const Index x_stride = st.points.stride;
  if (grad_temperature != nullptr) {
    // d sim / dT = -sim / T.
    PDML_CUDA_POINT_STEP(deterministic_sum<T>(
        be, B * C, TemperatureTerms<T>{grad_scores, st.sim}, st.partial,
        FinishTemperature<T>{T(1) / st.temperature, grad_temperature}));
  }
  PDML_CUDA_POINT_STEP(for_each_index(
      be, B * C,
      NivmfPointPairBackward<T>{st.exact, grad_scores, st.temperature, T(D), st.u, st.q, st.h,
                                st.grad_square}));
  PDML_CUDA_POINT_STEP(for_each_index(
      be, C, NivmfPointOffsetGradient<T>{grad_scores, st.temperature, st.grad_bias}));
  // dL/dx = H A (B x C times C x D); dL/dA = H^T X (C x B times B x D).
  PDML_CUDA_POINT_STEP(be.gemm(Op::none, Op::none, B, D, C, T(1), st.h, C, st.a, D, T(0),
                               grad_points.data, grad_points.stride));
  PDML_CUDA_POINT_STEP(be.gemm(Op::transpose, Op::none, C, D, B, T(1), st.h, C, x, x_stride, T(0),
                               st.grad_a, D));
  if (st.exact) {
    // |K x|^2 = (x o x) k^2: dL/dx += 2 x o (H2 K^2), dL/dk^2 = H2^T (x o x).
    PDML_CUDA_POINT_STEP(be.gemm(Op::none, Op::none, B, D, C, T(1), st.grad_square, C, st.k2, D,
                                 T(0), st.h_k2, D));
    PDML_CUDA_POINT_STEP(for_each_index(
        be, B * D, ExactDensitySampleGradient<T>{st.points, st.h_k2, grad_points}));
    PDML_CUDA_POINT_STEP(be.gemm(Op::transpose, Op::none, C, D, B, T(1), st.grad_square, C,
                                 st.squares, D, T(0), st.grad_k2, D));
  }
  return for_each_row<parallel::kRowLanes>(
      be, C,
      ProxyBackwardRows<T>{st.kappas, st.min_kappa, st.exact, st.nu, st.kc, st.vnorm, st.grad_a,
                           st.grad_k2, st.grad_bias, nullptr, D, grad_proxies, grad_kappas});
}

template <class T, class Backend>
cudaError_t nivmf_point_forward(const Backend& be, NivmfPointState<T>& st,
                                ConstMatrixView<T> embeddings, ConstMatrixView<T> proxies,
                                MatrixView<T> similarities) {
  const Index B = st.rows, D = st.dims;
  PDML_CUDA_POINT_STEP(for_each_row<parallel::kRowLanes>(
      be, B, UnitRows<T>{embeddings, st.mu, st.enorm}));
  st.points = ConstMatrixView<T>{st.mu, B, D, D};
  return nivmf_scores_core_forward(be, st, proxies, similarities);
}

/// Overwrites grad_embeddings, grad_proxies, grad_kappas and, unless null,
/// *grad_temperature. Repeatable: it only writes scratch and outputs.
template <class T, class Backend>
cudaError_t nivmf_point_backward(const Backend& be, const NivmfPointState<T>& st,
                                 ConstMatrixView<T> grad_similarities,
                                 MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                                 MatrixView<T> grad_kappas, T* grad_temperature) {
  const Index B = st.rows, D = st.dims;
  PDML_CUDA_POINT_STEP(nivmf_scores_core_backward(be, st, grad_similarities,
                                                  MatrixView<T>{st.grad_mu, B, D, D},
                                                  grad_proxies, grad_kappas, grad_temperature));
  return for_each_row<parallel::kRowLanes>(
      be, B,
      UnitRowsBackward<T>{st.mu, st.enorm, st.grad_mu, D, false, grad_embeddings});
}

#undef PDML_CUDA_POINT_STEP

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
