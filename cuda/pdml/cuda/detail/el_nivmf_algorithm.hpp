// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF criterion written once against a Backend (detail/parallel.hpp):
// pdml::cuda::ElNivmfLoss runs it on CudaBackend, the thrust-host tests on
// HostBackend. Inputs are trusted (the public wrappers validate them).
//
// Launches of a sampled step with ProxyAnchor (paper's rule), 12 in all:
//   forward   prepare: eta split + proxy rows + image rows |
//             draw the samples | GEMM G = X A^T | GEMM M = mu Nu^T |
//             scores epilogue + ProxyAnchor per class | finisher (one block)
//   backward  pair pass (Proxy-NCA + ProxyAnchor pairs, per-class sums) |
//             GEMM dmu | GEMM dNu | GEMM dX | GEMM dA |
//             proxy rows + image rows (with the sampler's backward) + dT fold
// Without ProxyAnchor the two GEMMs on mu go and the step takes 9. The
// thrust-host test "launches of one criterion step" counts them.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/blas_ops.hpp"
#include "pdml/cuda/core.hpp"
#include "pdml/cuda/detail/el_nivmf_functors.hpp"
#include "pdml/cuda/detail/parallel.hpp"
#include "pdml/cuda/detail/vmf_sample_functors.hpp"
#include "pdml/cuda/losses/detail/el_nivmf_rows.hpp"
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
  st.part = carver.take<parallel::LseState<T>>(n(B * score_chunks(C)));
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
  st.flags = carver.take<std::uint32_t>(n(2 * B + C));
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

/// The products behind the scores: G = X A^T (into z), or the exact density's terms.
template <class T, class Backend>
cudaError_t el_nivmf_products(const Backend& be, const ElNivmfState<T>& st, T* z) {
  const Index C = st.classes, D = st.dims, N = st.samples * st.batch;
  const T* x = st.samples_view.data;
  const Index x_stride = st.samples_view.stride;
  if (!st.exact) {
    // G = X A^T: every sample against every proxy, shared across classes.
    return be.gemm(Op::none, Op::transpose, N, C, D, T(1), x, x_stride, st.a, D, T(0), z, C);
  }
  // U = X (K^2 nu)^T and |K x|^2 = (X o X) (K^2)^T, both as GEMMs.
  PDML_CUDA_STEP(for_each_index(be, N * D, SquareSamples<T>{st.samples_view, st.squares}));
  PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, N, C, D, T(1), x, x_stride, st.a, D, T(0), st.u,
                         C));
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
  return for_each_row<kRowWidth>(be, st.batch * score_chunks(st.classes),
                                 el_scores_epilogue(st, z, static_cast<parallel::LseState<T>*>(nullptr)));
}

/// The standalone EL-nivMF similarity: per-proxy rows, then the scores.
template <class T, class Backend>
cudaError_t el_nivmf_similarity_steps(const Backend& be, ElNivmfState<T>& st) {
  PDML_CUDA_STEP(for_each_row<kRowWidth>(be, st.classes, el_proxy_prepare(st)));
  return el_nivmf_scaled_scores(be, st, el_scores_buffer(st));
}

/// From the pair pass's dL/dG, grad_bias and grad_t to dL/dx (grad_samples_out, N x D)
/// and dL/da (st.grad_a); the exact density's extra terms included.
template <class T, class Backend>
cudaError_t el_nivmf_backward_products(const Backend& be, const ElNivmfState<T>& st,
                                       MatrixView<T> grad_samples_out) {
  const Index C = st.classes, D = st.dims, N = st.samples * st.batch;
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

/// What the criterion's forward draws: S samples of each embedding's vMF.
template <class T>
struct ElNivmfDraw {
  VmfSampleBuffers<T>* buffers;
  T* samples;  // dense (S B) x D
  RngKey rng;
};

/// The prepare launch: [the sampler's split of eta] + proxy rows + [image rows].
template <class T, class Backend, class Proxy, class Image>
cudaError_t el_nivmf_prepare(const Backend& be, const ElNivmfState<T>& st,
                             const ElNivmfDraw<T>* draw, Proxy proxy_rows, Image image_rows,
                             bool with_images) {
  const Index B = st.batch, C = st.classes;
  if (draw == nullptr) {
    if (!with_images) return for_each_row<kRowWidth>(be, C, proxy_rows);
    return for_each_row<kRowWidth>(be, C + B, parallel::group_roles(proxy_rows, C, image_rows));
  }
  const VmfSampleBuffers<T>& b = *draw->buffers;
  const auto split = items_role(
      VmfSplitEta<T>{st.embeddings, b.directions, b.kappas, b.marginal_params, st.flags}, B);
  const Index split_rows = item_rows(B);
  if (!with_images) {
    return for_each_row<kRowWidth>(be, split_rows + C,
                                   parallel::group_roles(split, split_rows, proxy_rows));
  }
  return for_each_row<kRowWidth>(
      be, split_rows + C + B,
      parallel::group_roles(split, split_rows, parallel::group_roles(proxy_rows, C, image_rows)));
}

/// The forward up to the finisher: draws the samples when draw is set (st.samples_view
/// becomes them), else uses st.samples_view; leaves the scores' chunk partials in st.part
/// and, with ProxyAnchor, the per-class terms. image_rows: the prepare launch's image role
/// (UnitRows for mu, or a role that includes it), run when with_images.
template <class T, class Backend, class Image>
cudaError_t el_nivmf_forward_scores(const Backend& be, ElNivmfState<T>& st,
                                    const ElNivmfDraw<T>* draw, Image image_rows,
                                    bool with_images) {
  const Index B = st.batch, C = st.classes, D = st.dims;
  const bool anchor = st.guidance_weight != T(0);
  PDML_CUDA_STEP(el_nivmf_prepare(be, st, draw, el_proxy_prepare(st), image_rows, with_images));
  if (draw != nullptr) {
    VmfSampleBuffers<T>& b = *draw->buffers;
    const Index rows = st.samples * B;
    const MatrixView<T> drawn{draw->samples, rows, D, D};
    b.rng = draw->rng;
    PDML_CUDA_STEP(for_each_row<kRowWidth>(
        be, item_rows(rows),
        items_role(VmfSampleRow<T>{B, static_cast<int>(D), draw->rng, b.directions, b.kappas,
                                   b.marginal_params, drawn, b.tangents, b.draws, b.dw_dkappa},
                   rows)));
    st.samples_view = drawn;
  }
  PDML_CUDA_STEP(el_nivmf_products(be, st, st.z));
  if (anchor) {
    // M = mu Nu^T: cosine similarities of images and proxies.
    PDML_CUDA_STEP(be.gemm(Op::none, Op::transpose, B, C, D, T(1), st.mu, D, st.nu, D, T(0), st.m,
                           C));
  }
  const Index score_rows = B * score_chunks(C);
  const auto epilogue = el_scores_epilogue(st, st.z, st.part);
  if (!anchor) {
    PDML_CUDA_STEP(for_each_row<kRowWidth>(be, score_rows, epilogue));
  } else {
    PDML_CUDA_STEP(for_each_row<kRowWidth>(
        be, score_rows + item_rows(C),
        parallel::group_roles(
            epilogue, score_rows,
            items_role(ProxyAnchorPerClass<T>{st.m, st.labels, B, C, st.alpha, st.delta, st.pos,
                                              st.neg, st.present},
                       C))));
  }
  return cudaSuccess;
}

/// Where the prepare launch's flag words start (ElNivmfState::flags: the split's B, the
/// proxies' C, the images' B) and how many it wrote: a role that did not run has its
/// range left out of the finisher's fold.
template <class T>
const std::uint32_t* el_prepare_flags(const ElNivmfState<T>& st, bool drawn) {
  return drawn ? st.flags : st.flags + st.batch;
}
template <class T>
Index el_prepare_flag_count(const ElNivmfState<T>& st, bool drawn, bool with_images) {
  return (drawn ? st.batch : 0) + st.classes + (with_images ? st.batch : 0);
}

/// Forward: draws the samples when draw is set (st.samples_view becomes them), else uses
/// st.samples_view; writes *loss (backend memory).
template <class T, class Backend>
cudaError_t el_nivmf_forward(const Backend& be, ElNivmfState<T>& st, T* loss,
                             const ElNivmfDraw<T>* draw = nullptr) {
  const Index B = st.batch, C = st.classes;
  const bool anchor = st.guidance_weight != T(0);
  PDML_CUDA_STEP(el_nivmf_forward_scores(
      be, st, draw,
      UnitRows<T>{st.embeddings, st.mu, st.enorm,
                  st.flags == nullptr ? nullptr : st.flags + B + C,
                  DeviceStatus::non_finite_embedding},
      anchor));
  ElNivmfFinisher<T> finisher{st.part, score_chunks(C), st.sim, st.labels, B, C, st.lse,
                              st.nca, st.pos, st.neg, st.present, st.guidance_weight, loss,
                              st.n_present, st.status};
  if (st.status != nullptr) {
    finisher.flags = el_prepare_flags(st, draw != nullptr);
    finisher.flag_count = el_prepare_flag_count(st, draw != nullptr, anchor);
  }
  PDML_CUDA_STEP(for_each_block_row(be, 1, finisher));
  st.valid = true;
  return cudaSuccess;
}

/// Backward. grad_samples_out: where dL/dx goes (N x D). sampler != null: the forward
/// drew the samples, and dL/dx is chained through the sampler into grad_embeddings (in
/// the same launch as the proxy rows). grad_embeddings receives the ProxyAnchor term.
template <class T, class Backend>
cudaError_t el_nivmf_backward(const Backend& be, const ElNivmfState<T>& st, T grad_loss,
                              MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                              MatrixView<T> grad_kappas, T* grad_temperature,
                              MatrixView<T> grad_samples_out,
                              const VmfSampleBuffers<T>* sampler) {
  const Index B = st.batch, C = st.classes, D = st.dims;
  const bool anchor = st.guidance_weight != T(0);
  const NcaSimilarityGradient<T> nca{st.sim, st.lse, st.labels, B, C, grad_loss};
  if (!anchor) {
    PDML_CUDA_STEP(for_each_row<kRowWidth>(be, item_rows(C), el_pair_pass(st, nca, NoPairExtra{})));
  } else {
    ProxyAnchorBackwardPerPair<T> anchor_pairs{
        st.m,     st.labels, st.pos,   st.neg, st.n_present, grad_loss, C, st.alpha,
        st.delta, st.guidance_weight, st.grad_m};
    anchor_pairs.weight_classes = st.anchor_classes;
    PDML_CUDA_STEP(for_each_row<kRowWidth>(be, item_rows(C), el_pair_pass(st, nca, anchor_pairs)));
    // dL/dmu = dM Nu; dL/dnu (anchor part) = dM^T mu.
    PDML_CUDA_STEP(be.gemm(Op::none, Op::none, B, D, C, T(1), st.grad_m, C, st.nu, D, T(0),
                           st.grad_mu, D));
    PDML_CUDA_STEP(be.gemm(Op::transpose, Op::none, C, D, B, T(1), st.grad_m, C, st.mu, D, T(0),
                           st.grad_nu_anchor, D));
  }
  PDML_CUDA_STEP(el_nivmf_backward_products(be, st, grad_samples_out));
  // One launch: proxy rows, image rows (embedding backward, then the sampler's), dT.
  const auto proxy_rows = el_proxy_backward(st, anchor ? st.grad_nu_anchor : nullptr,
                                            grad_proxies, grad_kappas);
  VmfSampleBackwardRows<T> sampler_row{};
  if (sampler != nullptr) {
    sampler_row.sequential = VmfSampleBackwardRow<T>{
        *sampler, ConstMatrixView<T>(grad_samples_out), grad_embeddings, true};
  }
  const ImageBackwardRows<T> image_rows{
      UnitRowsBackward<T>{st.mu, st.enorm, anchor ? st.grad_mu : nullptr, D, false,
                          grad_embeddings},
      sampler != nullptr, sampler_row};
  const auto rows = parallel::group_roles(proxy_rows, C, image_rows);
  if (grad_temperature == nullptr) return for_each_row<kRowWidth>(be, C + B, rows);
  return for_each_row<kRowWidth>(
      be, C + B + 1,
      parallel::group_roles(rows, C + B,
                            TemperatureFold<T>{st.grad_t, C, T(1) / st.temperature,
                                               grad_temperature}));
}

#undef PDML_CUDA_STEP

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
