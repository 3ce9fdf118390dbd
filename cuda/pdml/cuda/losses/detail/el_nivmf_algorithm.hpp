// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF criterion written once against a Backend (parallel/launch.hpp):
// pdml::cuda::ElNivmfLoss runs it on CudaBackend, the thrust-host tests on
// HostBackend. Inputs are trusted (the public wrappers validate them).
//
// Launches of a sampled step with ProxyAnchor (paper's rule), 10 in all:
//   forward   prepare: eta split + proxy rows + image rows + the forward's GEMM batch |
//             draw the samples | batched GEMM: G = X A^T (S blocks) and M = mu Nu^T |
//             scores epilogue + ProxyAnchor per class | finisher (one block)
//   backward  pair pass (Proxy-NCA + ProxyAnchor pairs, per-class sums) + the
//             backward's GEMM batch | batched GEMM: dX = dG A (S blocks) and
//             dmu = dM Nu | GEMM dA = dG^T X | GEMM dNu = dM^T mu |
//             proxy rows + image rows (with the sampler's backward) + dT fold
// The batches (core/gemm_batch.hpp) need dense sample rows; caller samples or sample
// gradients with a row stride other than D take the separate GEMMs (12 launches).
// Without ProxyAnchor: 9. The thrust-host test "launches of one criterion step"
// counts them.

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/gemm_batch.hpp"
#include "pdml/cuda/distributions/detail/vmf_sample_functors.hpp"
#include "pdml/cuda/losses/detail/el_nivmf_rows.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_steps.hpp"

namespace pdml {
namespace cuda {
namespace detail {

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
  if (st.guidance_weight != T(0)) {
    st.anchor_products = carve_gemm_batch<T>(carver, st.samples + 1);
    st.anchor_gradients = carve_gemm_batch<T>(carver, st.samples + 1);
  }
}

#define PDML_CUDA_STEP(expr)                         \
  do {                                               \
    const cudaError_t pdml_step_status_ = (expr);    \
    if (pdml_step_status_ != cudaSuccess) return pdml_step_status_; \
  } while (0)

/// What the criterion's forward draws: S samples of each embedding's vMF.
template <class T>
struct ElNivmfDraw {
  VmfSampleBuffers<T>* buffers;
  T* samples;  // dense (S B) x D
  RngKey rng;
};

/// The prepare launch: [the sampler's split of eta] + proxy rows + [image rows] + [the
/// pointer arrays of the forward's GEMM batch]; a bracketed role gets no rows when absent.
template <class T, class Backend, class Proxy, class Image>
cudaError_t el_nivmf_prepare(const Backend& be, const ElNivmfState<T>& st,
                             const ElNivmfDraw<T>* draw, Proxy proxy_rows, Image image_rows,
                             bool with_images, const RowBlocksPlusOne<T>& batch_writer) {
  const Index B = st.batch, C = st.classes;
  VmfSplitEta<T> split{st.embeddings, nullptr, nullptr, nullptr};
  if (draw != nullptr) {
    const VmfSampleBuffers<T>& b = *draw->buffers;
    split = VmfSplitEta<T>{st.embeddings, b.directions, b.kappas, b.marginal_params, st.flags,
                           b.one_minus_mean};
  }
  const Index split_rows = draw != nullptr ? item_rows(B) : 0;
  const Index image_count = with_images ? B : 0;
  const Index entries = batch_writer.batch.count;
  return for_each_row<kRowWidth>(
      be, split_rows + C + image_count + item_rows(entries),
      parallel::group_roles(
          items_role(split, B), split_rows,
          parallel::group_roles(
              proxy_rows, C,
              parallel::group_roles(image_rows, image_count,
                                    items_role(batch_writer, entries)))));
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
  // ProxyAnchor's M = mu Nu^T joins the sample products as one batched GEMM when the
  // sample rows are dense (mu's are): the prepare launch writes the pointer arrays.
  const T* x = draw != nullptr ? draw->samples : st.samples_view.data;
  const bool batched = anchor && st.anchor_products.count > 0 &&
                       (draw != nullptr || st.samples_view.stride == D);
  const RowBlocksPlusOne<T> batch_writer{
      batched ? st.anchor_products : GemmBatch<T>{},  // no entries: no rows
      x, D, st.a, st.exact ? st.u : st.z, C, st.samples, B, st.mu, st.nu, st.m};
  PDML_CUDA_STEP(el_nivmf_prepare(be, st, draw, el_proxy_prepare(st), image_rows, with_images,
                                  batch_writer));
  if (draw != nullptr) {
    VmfSampleBuffers<T>& b = *draw->buffers;
    const Index rows = st.samples * B;
    const MatrixView<T> drawn{draw->samples, rows, D, D};
    b.rng = draw->rng;
    // One sample per row: its dw/dkappa's nodes across the row's lanes.
    PDML_CUDA_STEP(for_each_row<kRowWidth>(
        be, rows,
        VmfSampleRows<T>{VmfSampleRow<T>{B, static_cast<int>(D), draw->rng, b.directions,
                                         b.kappas, b.marginal_params, drawn, b.tangents, b.draws},
                         b.dw_dkappa, b.one_minus_mean}));
    st.samples_view = drawn;
  }
  PDML_CUDA_STEP(el_nivmf_products(be, st, st.z, batched ? &st.anchor_products : nullptr));
  if (anchor && !batched) {
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
  // With ProxyAnchor, dL/dmu = dM Nu joins dL/dX = dG A as one batched GEMM when the
  // sample gradient rows are dense: the pair pass's launch writes the pointer arrays.
  const bool batched =
      anchor && st.anchor_gradients.count > 0 && grad_samples_out.stride == D;
  if (!anchor) {
    PDML_CUDA_STEP(
        for_each_row<kRowWidth>(be, item_rows(C), el_pair_pass(st, nca, NoPairExtra{})));
  } else {
    ProxyAnchorBackwardPerPair<T> anchor_pairs{
        st.m,     st.labels, st.pos,   st.neg, st.n_present, grad_loss, C, st.alpha,
        st.delta, st.guidance_weight, st.grad_m};
    anchor_pairs.weight_classes = st.anchor_classes;
    const RowBlocksPlusOne<T> batch_writer{
        batched ? st.anchor_gradients : GemmBatch<T>{},  // no entries: no rows
        st.grad_g, C, st.a, grad_samples_out.data, D, st.samples, B, st.grad_m, st.nu,
        st.grad_mu};
    const Index entries = batch_writer.batch.count;
    PDML_CUDA_STEP(for_each_row<kRowWidth>(
        be, item_rows(C) + item_rows(entries),
        parallel::group_roles(el_pair_pass(st, nca, anchor_pairs), item_rows(C),
                              items_role(batch_writer, entries))));
    if (!batched) {
      // dL/dmu = dM Nu (else in the batch with dL/dX below).
      PDML_CUDA_STEP(be.gemm(Op::none, Op::none, B, D, C, T(1), st.grad_m, C, st.nu, D, T(0),
                             st.grad_mu, D));
    }
    // dL/dnu (ProxyAnchor's part) = dM^T mu.
    PDML_CUDA_STEP(be.gemm(Op::transpose, Op::none, C, D, B, T(1), st.grad_m, C, st.mu, D, T(0),
                           st.grad_nu_anchor, D));
  }
  PDML_CUDA_STEP(el_nivmf_backward_products(be, st, grad_samples_out,
                                            batched ? &st.anchor_gradients : nullptr));
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
