// SPDX-License-Identifier: MIT
#pragma once
// The backend-independent halves of the standalone nivMF scores and EL-nivMF
// similarity entry points (pdml/cuda/similarities/nivmf_scores.hpp,
// pdml/cuda/similarities/el_nivmf_similarity.hpp): host-side validation and workspace
// planning (*_setup / *_check_backward: they throw std::invalid_argument
// before anything is written) and the runs on a Backend (*_run). The public
// wrappers call them with CudaBackend; the thrust-host tests call exactly the
// same functions with HostBackend, so validation, planning and the algorithm
// are all exercised without a GPU. The algorithms themselves are the
// criterion's (el_nivmf_algorithm.hpp) and the nivMF-to-point similarity's
// (nivmf_point_algorithm.hpp): one place per formula.

#include <cstddef>

#include <cuda_runtime_api.h>

#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/similarities/detail/el_nivmf_steps.hpp"
#include "pdml/cuda/similarities/detail/nivmf_point_algorithm.hpp"
#include "pdml/cuda/similarities/nivmf_scoring.hpp"

namespace pdml {
namespace cuda {
namespace detail {

// ------------------------------------------------------------ nivMF scores

/// Validates the forward's arguments (as pdml::nivmf_scores_forward does for
/// everything that is not device data), fills the plan in st and carves its
/// workspace. Returns true when the call is only a size query (bytes set).
template <class T>
bool nivmf_scores_setup(const char* fn, void* workspace, std::size_t& workspace_bytes,
                        ConstMatrixView<T> points, ConstMatrixView<T> proxies,
                        ConstMatrixView<T> kappas, T min_kappa, NivmfScoring scoring,
                        MatrixView<T> scores, NivmfPointState<T>& st) {
  if (points.rows < 1 || points.cols < 1) throw_cuda_argument(fn, "points", "is empty");
  check_device_view(fn, "points", points, points.rows, points.cols);
  check_proxies(fn, proxies, kappas, points.cols, points.cols);
  check_positive_finite(fn, "min_kappa", min_kappa);
  check_scoring(fn, "scoring", scoring);
  check_device_view(fn, "scores", scores, points.rows, proxies.rows);
  NivmfPointState<T> plan;
  plan.rows = points.rows;
  plan.classes = proxies.rows;
  plan.dims = points.cols;
  plan.exact = scoring == NivmfScoring::exact_density;
  plan.embeddings = false;
  plan.temperature = T(1);
  plan.min_kappa = min_kappa;
  plan.kappas = kappas;
  plan.points = points;
  WorkspaceCarver carver(workspace);
  carve_nivmf_point(carver, plan);
  if (answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) return true;
  st = plan;
  return false;
}

/// Scores (rows x C) into `scores`; st from nivmf_scores_setup.
template <class T, class Backend>
cudaError_t nivmf_scores_run(const Backend& be, NivmfPointState<T>& st, ConstMatrixView<T> proxies,
                             MatrixView<T> scores) {
  st.valid = false;
  return nivmf_scores_core_forward(be, st, proxies, scores);
}

template <class T>
void nivmf_scores_check_backward(const char* fn, const NivmfPointState<T>& st,
                                 ConstMatrixView<T> grad_scores, MatrixView<T> grad_points,
                                 MatrixView<T> grad_proxies, MatrixView<T> grad_kappas) {
  if (!st.valid) throw_cuda_argument(fn, "saved", "holds no forward pass");
  check_device_view(fn, "grad_scores", grad_scores, st.rows, st.classes);
  check_device_view(fn, "grad_points", grad_points, st.rows, st.dims);
  check_device_view(fn, "grad_proxies", grad_proxies, st.classes, st.dims);
  check_device_view(fn, "grad_kappas", grad_kappas, st.classes, st.dims);
}

template <class T, class Backend>
cudaError_t nivmf_scores_backward_run(const Backend& be, const NivmfPointState<T>& st,
                                      ConstMatrixView<T> grad_scores, MatrixView<T> grad_points,
                                      MatrixView<T> grad_proxies, MatrixView<T> grad_kappas) {
  return nivmf_scores_core_backward(be, st, grad_scores, grad_points, grad_proxies, grad_kappas,
                                    static_cast<T*>(nullptr));
}

// --------------------------------------------------- EL-nivMF similarity

/// Validates the forward's arguments (as pdml::el_nivmf_similarity_forward
/// does for everything that is not device data), fills the plan in st and
/// carves its workspace. Returns true when the call is only a size query.
template <class T>
bool el_nivmf_similarity_setup(const char* fn, void* workspace, std::size_t& workspace_bytes,
                               ConstMatrixView<T> samples, int n_samples,
                               ConstMatrixView<T> proxies, ConstMatrixView<T> kappas,
                               T min_kappa, T temperature, NivmfScoring scoring,
                               MatrixView<T> similarities, bool recompute_in_backward,
                               ElNivmfState<T>& st) {
  if (n_samples < 1) throw_cuda_argument(fn, "n_samples", "must be at least 1");
  if (samples.rows < 1 || samples.cols < 1) throw_cuda_argument(fn, "samples", "is empty");
  if (samples.rows % n_samples != 0) {
    throw_cuda_argument(fn, "samples", "has a row count that is not a multiple of n_samples");
  }
  check_device_view(fn, "samples", samples, samples.rows, samples.cols);
  check_proxies(fn, proxies, kappas, samples.cols, samples.cols);
  check_positive_finite(fn, "min_kappa", min_kappa);
  check_positive_finite(fn, "temperature", temperature);
  check_scoring(fn, "scoring", scoring);
  check_device_view(fn, "similarities", similarities, samples.rows / n_samples, proxies.rows);
  ElNivmfState<T> plan;
  plan.samples = n_samples;
  plan.batch = samples.rows / n_samples;
  plan.classes = proxies.rows;
  plan.dims = samples.cols;
  plan.temperature = temperature;
  plan.min_kappa = min_kappa;
  plan.exact = scoring == NivmfScoring::exact_density;
  plan.recompute = recompute_in_backward;
  plan.samples_view = samples;
  plan.proxies = proxies;
  plan.kappas = kappas;
  WorkspaceCarver carver(workspace);
  carve_el_nivmf_similarity(carver, plan);
  if (answer_size_query(fn, workspace, workspace_bytes, carver.bytes())) return true;
  st = plan;
  return false;
}

/// Similarities (B x C) into `similarities`; st from el_nivmf_similarity_setup.
template <class T, class Backend>
cudaError_t el_nivmf_similarity_run(const Backend& be, ElNivmfState<T>& st,
                                    MatrixView<T> similarities) {
  st.valid = false;
  const cudaError_t status = el_nivmf_similarity_steps(be, st);
  if (status != cudaSuccess) return status;
  const cudaError_t copied =
      for_each_index(be, st.batch * st.classes, CopyIntoView<T>{st.sim, similarities});
  st.valid = copied == cudaSuccess;
  return copied;
}

template <class T>
void el_nivmf_similarity_check_backward(const char* fn, const ElNivmfState<T>& st,
                                        ConstMatrixView<T> grad_similarities,
                                        MatrixView<T> grad_samples, MatrixView<T> grad_proxies,
                                        MatrixView<T> grad_kappas) {
  if (!st.valid) throw_cuda_argument(fn, "saved", "holds no forward pass");
  check_device_view(fn, "grad_similarities", grad_similarities, st.batch, st.classes);
  check_device_view(fn, "grad_samples", grad_samples, st.samples * st.batch, st.dims);
  check_device_view(fn, "grad_proxies", grad_proxies, st.classes, st.dims);
  check_device_view(fn, "grad_kappas", grad_kappas, st.classes, st.dims);
}

template <class T, class Backend>
cudaError_t el_nivmf_similarity_backward_run(const Backend& be, const ElNivmfState<T>& st,
                                             ConstMatrixView<T> grad_similarities,
                                             MatrixView<T> grad_samples,
                                             MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                                             T* grad_temperature) {
  if (st.recompute) {
    // Z back into the dL/dG buffer, bitwise the forward's (sim is rewritten
    // with the same values).
    const cudaError_t status = el_nivmf_scaled_scores(be, st, st.grad_g);
    if (status != cudaSuccess) return status;
  }
  const cudaError_t status = for_each_row<kRowWidth>(
      be, item_rows(st.classes),
      el_pair_pass(st, GivenSimilarityGradient<T>{grad_similarities}, NoPairExtra{}));
  if (status != cudaSuccess) return status;
  return el_nivmf_similarity_backward_steps(be, st, grad_temperature, grad_samples, grad_proxies,
                                            grad_kappas);
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
