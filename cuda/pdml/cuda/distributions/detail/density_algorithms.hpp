// SPDX-License-Identifier: MIT
#pragma once
// Batched log-densities of the distributions layer (vMF in natural
// parameters, exact nivMF, Power Spherical) and their backward, written once
// against a Backend: the public wrappers in pdml/cuda/distributions/densities.hpp run them
// on CudaBackend, the thrust-host tests on HostBackend. The layout is that of
// include/pdml/distributions/*_batch.hpp: distribution n is row n of the
// N-row parameters; point row i (M = S N rows) is evaluated under
// distribution i % N. Every formula is the device-callable per-item routine
// of the distributions layer (vmf_log_prob, nivmf_log_prob,
// power_spherical_log_prob and their _backward): the forward runs one thread
// per point, the backward one thread per distribution, which sums its points'
// per-item gradients in s order (no atomics) through a p-vector of scratch in
// the workspace.

#include <cstddef>

#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/launch.hpp"
#include "pdml/distributions/nivmf.hpp"
#include "pdml/distributions/power_spherical.hpp"
#include "pdml/distributions/vmf.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Which density; the parameters are (eta) for vMF, (directions,
/// concentrations N x p) for nivMF and (directions, concentrations N x 1)
/// for Power Spherical.
enum class DensityKind { vmf, nivmf, power_spherical };

/// One density's parameters and per-item routines.
template <class T>
struct DensityParameters {
  DensityKind kind;
  ConstMatrixView<T> first;   // eta (vMF) or directions, N x p
  ConstMatrixView<T> second;  // concentrations: N x p (nivMF), N x 1 (Power Spherical), unused

  PDML_HOST_DEVICE T log_prob(Index n, const T* x) const {
    const int p = static_cast<int>(first.cols);
    switch (kind) {
      case DensityKind::vmf: return pdml::vmf_log_prob(p, first.row(n), x);
      case DensityKind::nivmf: return pdml::nivmf_log_prob(p, first.row(n), second.row(n), x);
      default: return pdml::power_spherical_log_prob(p, first.row(n), second(n, 0), x);
    }
  }

  /// Per-item gradients of g log f_n(x): into g_first (p), g_second (p for
  /// nivMF, 1 for Power Spherical, unused for vMF) and g_x (p, or null).
  PDML_HOST_DEVICE void log_prob_backward(Index n, const T* x, T g, T* g_first, T* g_second,
                                          T* g_x) const {
    const int p = static_cast<int>(first.cols);
    switch (kind) {
      case DensityKind::vmf:
        pdml::vmf_log_prob_backward(p, first.row(n), x, g, g_first, g_x);
        return;
      case DensityKind::nivmf:
        pdml::nivmf_log_prob_backward(p, first.row(n), second.row(n), x, g, g_first, g_second,
                                      g_x);
        return;
      default:
        pdml::power_spherical_log_prob_backward(p, first.row(n), second(n, 0), x, g, g_first,
                                                g_second, g_x);
        return;
    }
  }

  Index second_cols() const {
    return kind == DensityKind::nivmf ? first.cols
                                      : (kind == DensityKind::power_spherical ? 1 : 0);
  }
};

/// Per point i: log f_{i % N}(x_i).
template <class T>
struct LogProbRows {
  DensityParameters<T> density;
  ConstMatrixView<T> points;  // M x p
  MatrixView<T> log_prob;     // M x 1
  PDML_HOST_DEVICE void operator()(Index i) const {
    log_prob(i, 0) = density.log_prob(i % density.first.rows, points.row(i));
  }
};

/// Per distribution n: the sums over its points s (rows s N + n, in s
/// order) of the per-item gradients; the points' own gradients are written
/// directly when wanted.
template <class T>
struct LogProbBackwardRows {
  DensityParameters<T> density;
  ConstMatrixView<T> points;         // M x p
  ConstMatrixView<T> grad_log_prob;  // M x 1
  MatrixView<T> grad_first;          // N x p
  MatrixView<T> grad_second;         // N x p, N x 1 or empty
  MatrixView<T> grad_points;         // M x p or empty (skipped)
  T* scratch;                        // N x (p + p) dense
  PDML_HOST_DEVICE void operator()(Index n) const {
    const Index n_dist = density.first.rows, p = density.first.cols;
    const Index per = points.rows / n_dist;
    const Index second = grad_second.cols;
    const bool want_points = grad_points.rows > 0;
    T* g_first = scratch + n * 2 * p;
    T* g_second = g_first + p;
    T* sum_first = grad_first.row(n);
    for (Index j = 0; j < p; ++j) sum_first[j] = T(0);
    for (Index j = 0; j < second; ++j) grad_second(n, j) = T(0);
    for (Index s = 0; s < per; ++s) {
      const Index i = s * n_dist + n;
      density.log_prob_backward(n, points.row(i), grad_log_prob(i, 0), g_first,
                                second > 0 ? g_second : static_cast<T*>(nullptr),
                                want_points ? grad_points.row(i) : static_cast<T*>(nullptr));
      for (Index j = 0; j < p; ++j) sum_first[j] += g_first[j];
      for (Index j = 0; j < second; ++j) grad_second(n, j) += g_second[j];
    }
  }
};

/// Shape checks of the parameters and points (everything that is not device
/// data, as the CPU batched APIs check it).
template <class T>
void check_density_inputs(const char* fn, const DensityParameters<T>& density,
                          const char* first_name, ConstMatrixView<T> points) {
  if (density.first.cols < 2) {
    throw_cuda_argument(fn, first_name,
                        "must have at least 2 columns (the sphere S^{p-1}, p >= 2)");
  }
  check_device_view(fn, first_name, density.first, density.first.rows, density.first.cols);
  if (density.kind != DensityKind::vmf) {
    check_device_view(fn, "concentrations", density.second, density.first.rows,
                      density.second_cols());
  }
  check_device_view(fn, "points", points, points.rows, density.first.cols);
  const Index n_dist = density.first.rows;
  if (n_dist == 0 ? points.rows != 0 : points.rows % n_dist != 0) {
    throw_cuda_argument(fn, "points",
                        "must have a multiple of the number of distributions as rows");
  }
}

template <class T>
void check_density_forward(const char* fn, const DensityParameters<T>& density,
                           const char* first_name, ConstMatrixView<T> points,
                           MatrixView<T> log_prob) {
  check_density_inputs(fn, density, first_name, points);
  check_device_view(fn, "log_prob", log_prob, points.rows, 1);
}

template <class T, class Backend>
cudaError_t log_prob_run(const Backend& be, const DensityParameters<T>& density,
                         ConstMatrixView<T> points, MatrixView<T> log_prob) {
  return for_each_index(be, points.rows, LogProbRows<T>{density, points, log_prob});
}

/// Shape checks of the backward, and the workspace protocol (2 p scratch
/// values per distribution). Returns true when the call is only a size query.
/// grad_points may be an empty view (0 rows, null data): skipped.
template <class T>
bool density_backward_setup(const char* fn, void* workspace, std::size_t& workspace_bytes,
                            const DensityParameters<T>& density, const char* first_name,
                            ConstMatrixView<T> points, ConstMatrixView<T> grad_log_prob,
                            MatrixView<T> grad_first, const char* grad_first_name,
                            MatrixView<T> grad_second, MatrixView<T> grad_points,
                            T** scratch) {
  check_density_inputs(fn, density, first_name, points);
  check_device_view(fn, "grad_log_prob", grad_log_prob, points.rows, 1);
  const Index n = density.first.rows, p = density.first.cols;
  check_device_view(fn, grad_first_name, grad_first, n, p);
  if (density.kind != DensityKind::vmf) {
    check_device_view(fn, "grad_concentrations", grad_second, n, density.second_cols());
  }
  if (!(grad_points.rows == 0 && grad_points.data == nullptr)) {
    check_device_view(fn, "grad_points", grad_points, points.rows, p);
  }
  WorkspaceCarver carver(workspace);
  *scratch = carver.take<T>(static_cast<std::size_t>(n * 2 * p));
  return answer_size_query(fn, workspace, workspace_bytes, carver.bytes());
}

template <class T, class Backend>
cudaError_t log_prob_backward_run(const Backend& be, const DensityParameters<T>& density,
                                  ConstMatrixView<T> points, ConstMatrixView<T> grad_log_prob,
                                  MatrixView<T> grad_first, MatrixView<T> grad_second,
                                  MatrixView<T> grad_points, T* scratch) {
  if (density.kind == DensityKind::vmf) grad_second = MatrixView<T>{nullptr, 0, 0, 0};
  if (grad_points.data == nullptr) grad_points = MatrixView<T>{nullptr, 0, 0, 0};
  return for_each_index(be, density.first.rows,
                        LogProbBackwardRows<T>{density, points, grad_log_prob, grad_first,
                                               grad_second, grad_points, scratch});
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
