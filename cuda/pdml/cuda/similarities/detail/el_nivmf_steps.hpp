// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF similarity's steps on the GPU, written once against a Backend
// (parallel/launch.hpp): the state every EL-nivMF pass carries (ElNivmfState), the
// products G = X A^T, the scores epilogue, the pair pass and the proxy backward, as the
// standalone similarity (similarities/el_nivmf_similarity.hpp) and the criterion
// (losses/detail/el_nivmf_algorithm.hpp) compose them. Inputs are trusted (the public
// wrappers validate them).

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/blas_ops.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/core/gemm_batch.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/cuda/math/logsumexp.hpp"
#include "pdml/cuda/parallel/group.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_rows.hpp"

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
  // Sharded criterion only: the C of ProxyAnchor's 1/C when these classes are one
  // shard of more (0: classes).
  Index anchor_classes = 0;
  // Inputs.
  ConstMatrixView<T> samples_view{nullptr, 0, 0, 0};
  ConstMatrixView<T> embeddings{nullptr, 0, 0, 0};
  ConstMatrixView<T> proxies{nullptr, 0, 0, 0};
  ConstMatrixView<T> kappas{nullptr, 0, 0, 0};
  const std::int64_t* labels = nullptr;
  // Forward buffers (saved).
  T *nu = nullptr, *kc = nullptr, *a = nullptr, *vnorm = nullptr, *bias = nullptr;
  T *z = nullptr, *sim = nullptr, *lse = nullptr, *nca = nullptr;
  parallel::LseState<T>* part = nullptr;  // B x score_chunks(C): the epilogue's partials
  T *mu = nullptr, *enorm = nullptr, *m = nullptr;
  T *pos = nullptr, *neg = nullptr, *present = nullptr, *n_present = nullptr;
  // Backward scratch.
  T *grad_g = nullptr, *grad_t = nullptr, *grad_bias = nullptr;
  T *grad_a = nullptr, *grad_samples = nullptr, *grad_m = nullptr, *grad_mu = nullptr;
  T *grad_nu_anchor = nullptr;
  // Exact density only.
  T *k2 = nullptr, *squares = nullptr, *u = nullptr, *q = nullptr, *grad_square = nullptr;
  T *h_k2 = nullptr, *grad_k2 = nullptr;
  // The criterion's DeviceStatus word (null for the standalone similarity).
  std::uint32_t* status = nullptr;
  // 2 B + C per-row DeviceStatus bits of the prepare launch (the split of eta, the
  // proxies, the image directions), folded into *status by the finisher.
  std::uint32_t* flags = nullptr;
  // The criterion with ProxyAnchor: the pointer arrays that batch M = mu Nu^T with the S
  // row blocks of X A^T (forward) and dL/dmu = dM Nu with those of dL/dX = dG A
  // (backward), S + 1 entries each (count 0: not carved, separate GEMMs).
  GemmBatch<T> anchor_products, anchor_gradients;
  bool valid = false;
};

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
  st.grad_t = carver.take<T>(n(C));
  st.grad_bias = carver.take<T>(n(C));
  st.grad_a = carver.take<T>(n(C * D));
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

#define PDML_CUDA_STEP(expr)                         \
  do {                                               \
    const cudaError_t pdml_step_status_ = (expr);    \
    if (pdml_step_status_ != cudaSuccess) return pdml_step_status_; \
  } while (0)

constexpr int kRowWidth = parallel::kRowLanes;

/// Where Z lives: st.z, or, when it is recomputed in the backward
/// (st.recompute), the dL/dG buffer that the pair backward overwrites in place.
template <class T>
T* el_scores_buffer(const ElNivmfState<T>& st) {
  return st.recompute ? st.grad_g : st.z;
}

template <class T>
ProxyPrepareRows<T> el_proxy_prepare(const ElNivmfState<T>& st) {
  return ProxyPrepareRows<T>{st.proxies, st.kappas, st.min_kappa, st.exact, st.nu,
                             st.kc,      st.a,      st.k2,        st.vnorm, st.bias,
                             st.flags == nullptr ? nullptr : st.flags + st.batch};
}

/// X A^T (every sample against every proxy's slope, N x C) into out; with a batch
/// (written by an earlier launch: RowBlocksPlusOne over the S blocks of B rows, plus
/// ProxyAnchor's M = mu Nu^T) as one batched call of S + 1 products B x D by D x C.
template <class T, class Backend>
cudaError_t el_sample_products(const Backend& be, const ElNivmfState<T>& st, T* out,
                               const GemmBatch<T>* batch) {
  const Index B = st.batch, C = st.classes, D = st.dims, N = st.samples * st.batch;
  if (batch != nullptr) {
    return be.gemm_batched(Op::none, Op::transpose, B, C, D, T(1), *batch, D, D, T(0), C);
  }
  return be.gemm(Op::none, Op::transpose, N, C, D, T(1), st.samples_view.data,
                 st.samples_view.stride, st.a, D, T(0), out, C);
}

/// The products behind the scores: G = X A^T (into z), or the exact density's terms;
/// X A^T batched with ProxyAnchor's product when `batch` is given (see el_sample_products).
template <class T, class Backend>
cudaError_t el_nivmf_products(const Backend& be, const ElNivmfState<T>& st, T* z,
                              const GemmBatch<T>* batch = nullptr) {
  const Index C = st.classes, D = st.dims, N = st.samples * st.batch;
  // Paper's rule: G = X A^T. Exact density: U = X (K^2 nu)^T and |K x|^2 = (X o X) (K^2)^T.
  if (!st.exact) return el_sample_products(be, st, z, batch);
  PDML_CUDA_STEP(for_each_index(be, N * D, SquareSamples<T>{st.samples_view, st.squares}));
  PDML_CUDA_STEP(el_sample_products(be, st, st.u, batch));
  PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, N, C, D, T(1), st.squares, D, st.k2, D, T(0),
                         st.q, C));
  return for_each_index(be, N * C, ExactDensityTerms<T>{st.u, st.q, z, T(D)});
}

template <class T>
ScoresEpilogue<T> el_scores_epilogue(const ElNivmfState<T>& st, T* z,
                                     parallel::LseState<T>* part) {
  return ScoresEpilogue<T>{z,
                           st.bias,
                           st.sim,
                           st.batch,
                           st.classes,
                           st.samples,
                           T(1) / st.temperature,
                           log_(T(st.samples)),
                           part,
                           score_chunks(st.classes)};
}

/// The scaled scores Z (N x C, into z) and the similarities sim (B x C, dense in
/// st.sim) of the samples in st.samples_view, from the per-proxy terms. Deterministic,
/// so a second run (the backward's recomputation) reproduces Z and sim bit for bit.
template <class T, class Backend>
cudaError_t el_nivmf_scaled_scores(const Backend& be, const ElNivmfState<T>& st, T* z) {
  PDML_CUDA_STEP(el_nivmf_products(be, st, z));
  parallel::LseState<T>* const no_partials = nullptr;  // the similarity alone
  return for_each_row<kRowWidth>(be, st.batch * score_chunks(st.classes),
                                 el_scores_epilogue(st, z, no_partials));
}

/// The standalone EL-nivMF similarity: per-proxy rows, then the scores.
template <class T, class Backend>
cudaError_t el_nivmf_similarity_steps(const Backend& be, ElNivmfState<T>& st) {
  PDML_CUDA_STEP(for_each_row<kRowWidth>(be, st.classes, el_proxy_prepare(st)));
  return el_nivmf_scaled_scores(be, st, el_scores_buffer(st));
}

/// From the pair pass's dL/dG, grad_bias and grad_t to dL/dx (grad_samples_out, N x D)
/// and dL/da (st.grad_a); the exact density's extra terms included. With a batch (written
/// by the pair pass's launch), dL/dX = dG A runs as its S blocks of B rows batched with
/// ProxyAnchor's dL/dmu = dM Nu: one call of S + 1 products B x C by C x D.
template <class T, class Backend>
cudaError_t el_nivmf_backward_products(const Backend& be, const ElNivmfState<T>& st,
                                       MatrixView<T> grad_samples_out,
                                       const GemmBatch<T>* batch = nullptr) {
  const Index B = st.batch, C = st.classes, D = st.dims, N = st.samples * st.batch;
  if (st.exact) {
    // grad_g becomes dL/dU; dL/d|K x|^2 goes to grad_square.
    PDML_CUDA_STEP(for_each_index(
        be, N * C, ExactDensityBackward<T>{st.u, st.q, st.grad_g, st.grad_square, T(D)}));
  }
  // dL/dX = dG A (N x C times C x D); dL/dA = dG^T X (C x N times N x D).
  if (batch != nullptr) {
    PDML_CUDA_STEP(be.gemm_batched(Op::none, Op::none, B, D, C, T(1), *batch, C, D, T(0), D));
  } else {
    PDML_CUDA_STEP(be.gemm(Op::none, Op::none, N, D, C, T(1), st.grad_g, C, st.a, D, T(0),
                           grad_samples_out.data, grad_samples_out.stride));
  }
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
  return cudaSuccess;
}

template <class T>
ProxyBackwardRows<T> el_proxy_backward(const ElNivmfState<T>& st, const T* grad_nu_anchor,
                                       MatrixView<T> grad_proxies, MatrixView<T> grad_kappas) {
  return ProxyBackwardRows<T>{st.kappas, st.min_kappa, st.exact,     st.nu,
                              st.kc,     st.vnorm,     st.grad_a,    st.grad_k2,
                              st.grad_bias, grad_nu_anchor, st.dims, grad_proxies,
                              grad_kappas};
}

template <class T, class GradSim, class Extra>
ElPairPass<T, GradSim, Extra> el_pair_pass(const ElNivmfState<T>& st, GradSim grad_sim,
                                           Extra extra) {
  return ElPairPass<T, GradSim, Extra>{el_scores_buffer(st),
                                       st.sim,
                                       st.batch,
                                       st.classes,
                                       st.samples,
                                       T(1) / st.temperature,
                                       log_(T(st.samples)),
                                       grad_sim,
                                       st.grad_g,
                                       st.grad_bias,
                                       st.grad_t,
                                       extra};
}

/// The standalone similarity's backward after its pair pass: the GEMMs, then one launch
/// of the proxy rows with the temperature fold as a second role.
template <class T, class Backend>
cudaError_t el_nivmf_similarity_backward_steps(const Backend& be, const ElNivmfState<T>& st,
                                               T* grad_temperature,
                                               MatrixView<T> grad_samples_out,
                                               MatrixView<T> grad_proxies,
                                               MatrixView<T> grad_kappas) {
  PDML_CUDA_STEP(el_nivmf_backward_products(be, st, grad_samples_out));
  const auto proxy_rows =
      el_proxy_backward(st, static_cast<const T*>(nullptr), grad_proxies, grad_kappas);
  if (grad_temperature == nullptr) return for_each_row<kRowWidth>(be, st.classes, proxy_rows);
  return for_each_row<kRowWidth>(
      be, st.classes + 1,
      parallel::group_roles(proxy_rows, st.classes,
                            TemperatureFold<T>{st.grad_t, st.classes, T(1) / st.temperature,
                                               grad_temperature}));
}

#undef PDML_CUDA_STEP

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
