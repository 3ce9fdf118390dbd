// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF criterion written once against a Backend (detail/parallel.hpp):
// pdml::cuda::ElNivmfLoss runs it on CudaBackend, the thrust-host tests on
// HostBackend. Inputs are trusted (the public wrappers validate them).

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/blas_ops.hpp"
#include "pdml/cuda/core.hpp"
#include "pdml/cuda/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/detail/parallel.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Everything the backward needs: the forward's inputs (views, which must
/// stay alive and unchanged) and buffers inside the forward's workspace.
template <class T>
struct ElNivmfState {
  // Sizes and scalars.
  Index batch = 0, classes = 0, dims = 0, samples = 0;
  T temperature = T(1);
  T min_kappa = T(0.1);
  T guidance_weight = T(0);
  T alpha = T(32);
  T delta = T(0.1);
  bool exact = false;  // score: exact nivMF log-density instead of the paper's rule
  // Standalone similarity only: Z is not kept but recomputed by the backward
  // (one more GEMM, two for the exact density), saving N x C elements.
  bool recompute = false;
  // Inputs.
  ConstMatrixView<T> samples_view{nullptr, 0, 0, 0};
  ConstMatrixView<T> embeddings{nullptr, 0, 0, 0};
  ConstMatrixView<T> proxies{nullptr, 0, 0, 0};
  ConstMatrixView<T> kappas{nullptr, 0, 0, 0};
  const std::int64_t* labels = nullptr;
  // Forward buffers (saved).
  T *nu = nullptr, *kc = nullptr, *a = nullptr, *vnorm = nullptr, *bias = nullptr;
  T *z = nullptr, *sim = nullptr, *lse = nullptr, *nca = nullptr;
  T *lse_max = nullptr, *lse_sum = nullptr;
  T *mu = nullptr, *enorm = nullptr, *m = nullptr;
  T *pos = nullptr, *neg = nullptr, *present = nullptr, *n_present = nullptr;
  // Backward scratch.
  T *grad_g = nullptr, *grad_bias_ic = nullptr, *grad_t_ic = nullptr, *grad_bias = nullptr;
  T *grad_a = nullptr, *grad_samples = nullptr, *grad_m = nullptr, *grad_mu = nullptr;
  T *grad_nu_anchor = nullptr, *partial = nullptr;
  // Exact density only.
  T *k2 = nullptr, *squares = nullptr, *u = nullptr, *q = nullptr, *grad_square = nullptr;
  T *h_k2 = nullptr, *grad_k2 = nullptr;
  // The criterion's DeviceStatus word (null for the standalone similarity).
  std::uint32_t* status = nullptr;
  bool valid = false;
};

inline Index lse_chunks(Index classes) {
  return (classes + RowLogsumexpPartial<double>::kReductionChunkLse - 1) /
         RowLogsumexpPartial<double>::kReductionChunkLse;
}

/// Carves the buffers of the EL-nivMF similarity alone (forward + backward:
/// per-proxy terms, the N x C scaled scores and their gradient, B x C
/// similarities); the same sequence serves the size query (null base) and the
/// run. The criterion carves these first, then its own.
template <class T>
void carve_el_nivmf_similarity(WorkspaceCarver& carver, ElNivmfState<T>& st) {
  const Index B = st.batch, C = st.classes, D = st.dims, N = st.samples * st.batch;
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  st.nu = carver.take<T>(n(C * D));
  st.kc = carver.take<T>(n(C * D));
  st.a = carver.take<T>(n(C * D));
  st.vnorm = carver.take<T>(n(C));
  st.bias = carver.take<T>(n(C));
  if (!st.recompute) st.z = carver.take<T>(n(N * C));
  st.sim = carver.take<T>(n(B * C));
  st.grad_g = carver.take<T>(n(N * C));
  st.grad_bias_ic = carver.take<T>(n(B * C));
  st.grad_t_ic = carver.take<T>(n(B * C));
  st.grad_bias = carver.take<T>(n(C));
  st.grad_a = carver.take<T>(n(C * D));
  st.partial = carver.take<T>(n(chunk_count(B * C) + 1));
  if (st.exact) {
    st.k2 = carver.take<T>(n(C * D));
    st.squares = carver.take<T>(n(N * D));
    st.u = carver.take<T>(n(N * C));
    st.q = carver.take<T>(n(N * C));
    st.grad_square = carver.take<T>(n(N * C));
    st.h_k2 = carver.take<T>(n(N * D));
    st.grad_k2 = carver.take<T>(n(C * D));
  }
}

/// Carves the buffers of one criterion forward + backward; the same sequence
/// serves the size query (null base) and the run.
template <class T>
void carve_el_nivmf(WorkspaceCarver& carver, ElNivmfState<T>& st, bool with_samples_buffer,
                    T** samples_buffer) {
  const Index B = st.batch, C = st.classes, D = st.dims, N = st.samples * st.batch;
  const auto n = [](Index v) { return static_cast<std::size_t>(v); };
  if (with_samples_buffer) *samples_buffer = carver.take<T>(n(N * D));
  carve_el_nivmf_similarity(carver, st);
  st.lse = carver.take<T>(n(B));
  st.nca = carver.take<T>(n(B));
  st.lse_max = carver.take<T>(n(B * lse_chunks(C)));
  st.lse_sum = carver.take<T>(n(B * lse_chunks(C)));
  st.mu = carver.take<T>(n(B * D));
  st.enorm = carver.take<T>(n(B));
  st.m = carver.take<T>(n(B * C));
  st.pos = carver.take<T>(n(C));
  st.neg = carver.take<T>(n(C));
  st.present = carver.take<T>(n(C));
  st.n_present = carver.take<T>(1);
  st.grad_samples = carver.take<T>(n(N * D));
  st.grad_m = carver.take<T>(n(B * C));
  st.grad_mu = carver.take<T>(n(B * D));
  st.grad_nu_anchor = carver.take<T>(n(C * D));
  st.status = carver.take<std::uint32_t>(1);
}

#define PDML_CUDA_STEP(expr)                         \
  do {                                               \
    const cudaError_t pdml_step_status_ = (expr);    \
    if (pdml_step_status_ != cudaSuccess) return pdml_step_status_; \
  } while (0)

/// The scaled scores Z (N x C, into z) and the similarities sim (B x C,
/// dense in st.sim) of the samples in st.samples_view, from the per-proxy
/// terms of ProxyPrepare: the products G = X A^T (or the exact density's
/// terms) and logsumexp over the S samples. Deterministic, so a second run
/// (the backward's recomputation) reproduces Z and sim bit for bit.
template <class T, class Backend>
cudaError_t el_nivmf_scaled_scores(const Backend& be, const ElNivmfState<T>& st, T* z) {
  const Index B = st.batch, C = st.classes, D = st.dims, S = st.samples, N = S * B;
  const T* x = st.samples_view.data;
  const Index x_stride = st.samples_view.stride;
  if (!st.exact) {
    // G = X A^T: every sample against every proxy, shared across classes.
    PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, N, C, D, T(1), x, x_stride, st.a, D, T(0), z,
                           C));
  } else {
    // U = X (K^2 nu)^T and |K x|^2 = (X o X) (K^2)^T, both as GEMMs.
    PDML_CUDA_STEP(for_each_index(be, N * D, SquareSamples<T>{st.samples_view, st.squares}));
    PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, N, C, D, T(1), x, x_stride, st.a, D, T(0),
                           st.u, C));
    PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, N, C, D, T(1), st.squares, D, st.k2, D, T(0),
                           st.q, C));
    PDML_CUDA_STEP(for_each_index(be, N * C, ExactDensityTerms<T>{st.u, st.q, z, T(D)}));
  }
  const T inv_t = T(1) / st.temperature;
  const T log_s = log_(T(S));
  return for_each_index(
      be, B * C, SimilarityFromProducts<T>{z, st.bias, st.sim, B, C, S, inv_t, log_s});
}

/// Where Z lives: st.z, or, when it is recomputed in the backward
/// (st.recompute), the dL/dG buffer that the pair backward overwrites in place.
template <class T>
T* el_scores_buffer(const ElNivmfState<T>& st) {
  return st.recompute ? st.grad_g : st.z;
}

template <class T>
ProxyPrepare<T> el_proxy_prepare(const ElNivmfState<T>& st) {
  return ProxyPrepare<T>{st.proxies, st.kappas, st.min_kappa, st.exact, st.nu,
                         st.kc,      st.a,      st.k2,        st.vnorm, st.bias, st.status};
}

/// The EL-nivMF similarities sim (B x C, dense in st.sim) of the samples in
/// st.samples_view: the per-proxy terms, then el_nivmf_scaled_scores. Steps
/// 1-3 of the criterion, and the whole standalone similarity. With
/// image_count > 0, image_role(i) for i < image_count runs in the same launch
/// as the per-proxy terms (the criterion's EmbeddingPrepare).
template <class T, class Backend, class ImageRole>
cudaError_t el_nivmf_similarity_steps(const Backend& be, ElNivmfState<T>& st, Index image_count,
                                      ImageRole image_role) {
  (void)image_count;  // unused without an image role
  (void)image_role;
  if constexpr (!std::is_same<ImageRole, NoRole>::value) {
    if (image_count > 0) {
      PDML_CUDA_STEP(for_each_index(be, st.classes + image_count,
                                    two_roles(el_proxy_prepare(st), st.classes, image_role)));
      return el_nivmf_scaled_scores(be, st, el_scores_buffer(st));
    }
  }
  PDML_CUDA_STEP(for_each_index(be, st.classes, el_proxy_prepare(st)));
  return el_nivmf_scaled_scores(be, st, el_scores_buffer(st));
}

template <class T, class Backend>
cudaError_t el_nivmf_similarity_steps(const Backend& be, ElNivmfState<T>& st) {
  return el_nivmf_similarity_steps(be, st, 0, NoRole{});
}

/// The pair backward of the similarity, set up on the state's buffers.
template <class T>
ElPairBackward<T> el_pair_backward(const ElNivmfState<T>& st) {
  return ElPairBackward<T>{el_scores_buffer(st),
                           st.sim,
                           st.batch,
                           st.classes,
                           st.samples,
                           T(1) / st.temperature,
                           log_(T(st.samples)),
                           st.grad_g,
                           st.grad_bias_ic,
                           st.grad_t_ic};
}

/// From dL/dsim (already turned by ElPairBackward into st.grad_g,
/// st.grad_bias_ic and st.grad_t_ic) to dL/dT (unless null), dL/dx
/// (grad_samples_out, N x D), dL/dv and dL/dk (C x D). grad_nu_anchor:
/// an extra dL/dnu (C x D, the criterion's ProxyAnchor term) or null.
/// With image_count > 0, image_role(i) for i < image_count runs in the same
/// launch as the per-proxy backward (the criterion's EmbeddingBackward).
template <class T, class Backend, class ImageRole>
cudaError_t el_nivmf_similarity_backward_steps(const Backend& be, const ElNivmfState<T>& st,
                                               T* grad_temperature,
                                               MatrixView<T> grad_samples_out,
                                               MatrixView<T> grad_proxies,
                                               MatrixView<T> grad_kappas,
                                               const T* grad_nu_anchor, Index image_count,
                                               ImageRole image_role) {
  (void)image_count;  // unused without an image role
  (void)image_role;
  const Index B = st.batch, C = st.classes, D = st.dims, S = st.samples, N = S * B;
  const T inv_t = T(1) / st.temperature;
  PDML_CUDA_STEP(for_each_index(be, C, ColumnSum<T>{st.grad_bias_ic, B, C, st.grad_bias}));
  if (grad_temperature != nullptr) {
    PDML_CUDA_STEP(deterministic_sum<T>(be, B * C, ArrayValues<T>{st.grad_t_ic}, st.partial,
                                        FinishTemperature<T>{inv_t, grad_temperature}));
  }
  if (st.exact) {
    // grad_g becomes dL/dU; dL/d|K x|^2 goes to grad_square.
    PDML_CUDA_STEP(for_each_index(
        be, N * C, ExactDensityBackward<T>{st.u, st.q, st.grad_g, st.grad_square, T(D)}));
  }
  // dL/dX = dG A (N x C times C x D); dL/dA = dG^T X (C x N times N x D).
  PDML_CUDA_STEP(be.gemm(Op::none, Op::none, N, D, C, T(1), st.grad_g, C, st.a, D, T(0),
                         grad_samples_out.data, grad_samples_out.stride));
  PDML_CUDA_STEP(be.gemm(Op::transpose, Op::none, C, D, N, T(1), st.grad_g, C,
                         st.samples_view.data, st.samples_view.stride, T(0), st.grad_a, D));
  if (st.exact) {
    // |K x|^2 = (X o X) K^2: dL/dX += 2 X o (H K^2), dL/dK^2 = H^T (X o X).
    PDML_CUDA_STEP(be.gemm(Op::none, Op::none, N, D, C, T(1), st.grad_square, C, st.k2, D, T(0),
                           st.h_k2, D));
    PDML_CUDA_STEP(for_each_index(
        be, N * D, ExactDensitySampleGradient<T>{st.samples_view, st.h_k2, grad_samples_out}));
    PDML_CUDA_STEP(be.gemm(Op::transpose, Op::none, C, D, N, T(1), st.grad_square, C, st.squares,
                           D, T(0), st.grad_k2, D));
  }
  const ProxyBackward<T> proxy_backward{st.kappas,    st.min_kappa,  st.exact,  st.nu,
                                        st.kc,        st.vnorm,      st.grad_a, st.grad_k2,
                                        st.grad_bias, grad_nu_anchor, D,        grad_proxies,
                                        grad_kappas};
  if constexpr (!std::is_same<ImageRole, NoRole>::value) {
    if (image_count > 0) {
      return for_each_index(be, C + image_count, two_roles(proxy_backward, C, image_role));
    }
  }
  return for_each_index(be, C, proxy_backward);
}

template <class T, class Backend>
cudaError_t el_nivmf_similarity_backward_steps(const Backend& be, const ElNivmfState<T>& st,
                                               T* grad_temperature,
                                               MatrixView<T> grad_samples_out,
                                               MatrixView<T> grad_proxies,
                                               MatrixView<T> grad_kappas,
                                               const T* grad_nu_anchor) {
  return el_nivmf_similarity_backward_steps(be, st, grad_temperature, grad_samples_out,
                                            grad_proxies, grad_kappas, grad_nu_anchor, 0,
                                            NoRole{});
}

/// Forward from samples already in st.samples_view; writes *loss (backend memory).
template <class T, class Backend>
cudaError_t el_nivmf_forward(const Backend& be, ElNivmfState<T>& st, T* loss) {
  const Index B = st.batch, C = st.classes, D = st.dims;
  const bool anchor = st.guidance_weight != T(0);
  // With ProxyAnchor, mu_i = e_i / |e_i| is computed in the per-proxy launch.
  PDML_CUDA_STEP(el_nivmf_similarity_steps(
      be, st, anchor ? B : 0, EmbeddingPrepare<T>{st.embeddings, st.mu, st.enorm, st.status}));
  const Index chunks = lse_chunks(C);
  PDML_CUDA_STEP(for_each_index(
      be, B * chunks, RowLogsumexpPartial<T>{st.sim, C, chunks, st.lse_max, st.lse_sum}));
  PDML_CUDA_STEP(for_each_index(be, B,
                                RowLogsumexpCombine<T>{st.lse_max, st.lse_sum, chunks, C, st.sim,
                                                       st.labels, st.lse, st.nca, st.status}));
  if (anchor) {
    // M = mu Nu^T: cosine similarities of images and proxies.
    PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, B, C, D, T(1), st.mu, D, st.nu, D, T(0), st.m,
                           C));
    PDML_CUDA_STEP(for_each_index(be, C,
                                  ProxyAnchorPerClass<T>{st.m, st.labels, B, C, st.alpha, st.delta,
                                                         st.pos, st.neg, st.present}));
  }
  PDML_CUDA_STEP(for_each_index(be, 1,
                                FinishLoss<T>{st.nca, st.pos, st.neg, st.present, B, C,
                                              st.guidance_weight, loss, st.n_present,
                                              st.status}));
  st.valid = true;
  return cudaSuccess;
}

/// Backward. grad_samples_out: where dL/dx goes (N x D).
/// grad_embeddings receives the ProxyAnchor term, added to what is there when
/// accumulate.
template <class T, class Backend>
cudaError_t el_nivmf_backward(const Backend& be, const ElNivmfState<T>& st, T grad_loss,
                              MatrixView<T> grad_embeddings, bool accumulate_embeddings,
                              MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                              T* grad_temperature, MatrixView<T> grad_samples_out) {
  const Index B = st.batch, C = st.classes, D = st.dims;
  const NcaBackwardPerPair<T> nca_pairs{el_pair_backward(st), st.lse, st.labels, grad_loss};
  const bool anchor = st.guidance_weight != T(0);
  if (!anchor) {
    PDML_CUDA_STEP(for_each_index(be, B * C, nca_pairs));
  } else {
    // Both pair backwards in one launch (disjoint outputs).
    const ProxyAnchorBackwardPerPair<T> anchor_pairs{
        st.m,     st.labels, st.pos,   st.neg, st.n_present, grad_loss, C, st.alpha,
        st.delta, st.guidance_weight, st.grad_m};
    PDML_CUDA_STEP(for_each_index(
        be, B * C,
        BothPerIndex<NcaBackwardPerPair<T>, ProxyAnchorBackwardPerPair<T>>{nca_pairs,
                                                                           anchor_pairs}));
    // dL/dmu = dM Nu; dL/dnu (anchor part) = dM^T mu.
    PDML_CUDA_STEP(be.gemm(Op::none, Op::none, B, D, C, T(1), st.grad_m, C, st.nu, D, T(0),
                           st.grad_mu, D));
    PDML_CUDA_STEP(be.gemm(Op::transpose, Op::none, C, D, B, T(1), st.grad_m, C, st.mu, D, T(0),
                           st.grad_nu_anchor, D));
  }
  // EmbeddingBackward runs as a second role of the per-proxy backward launch.
  return el_nivmf_similarity_backward_steps(
      be, st, grad_temperature, grad_samples_out, grad_proxies, grad_kappas,
      anchor ? st.grad_nu_anchor : nullptr, B,
      EmbeddingBackward<T>{st.mu, st.enorm, anchor ? st.grad_mu : nullptr, D,
                           accumulate_embeddings, grad_embeddings});
}

#undef PDML_CUDA_STEP

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
