// SPDX-License-Identifier: MIT
#pragma once
// Power Spherical sampling over a batch: one thread per sample row, the
// stream layout of pdml::power_spherical_sample (sample s of distribution n
// is row i = s N + n, drawn from RandomStream(rng, i)).

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/distributions/power_spherical.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {
namespace cuda {
namespace detail {

template <class T>
struct PowerSphericalSampleRow {
  ConstMatrixView<T> directions;      // N x p
  ConstMatrixView<T> concentrations;  // N x 1
  RngKey rng;
  MatrixView<T> samples;              // (S N) x p
  PowerSphericalDraw<T>* draws;       // S N, or null
  PDML_HOST_DEVICE void operator()(Index i) const {
    const Index n = i % directions.rows;
    RandomStream stream(rng, static_cast<std::uint64_t>(i));
    const PowerSphericalDraw<T> draw =
        power_spherical_draw_call(static_cast<int>(directions.cols), directions.row(n),
                                  concentrations(n, 0), stream, samples.row(i));
    if (draws != nullptr) draws[i] = draw;
  }
};

/// Per distribution n: sums the backward of its samples in sample order.
template <class T>
struct PowerSphericalBackwardRow {
  ConstMatrixView<T> directions;
  ConstMatrixView<T> concentrations;
  ConstMatrixView<T> samples;
  const PowerSphericalDraw<T>* draws;
  int n_samples;
  ConstMatrixView<T> grad_samples;
  MatrixView<T> grad_directions;      // N x p
  MatrixView<T> grad_concentrations;  // N x 1
  PDML_HOST_DEVICE void operator()(Index n) const {
    const int p = static_cast<int>(directions.cols);
    T* gd = grad_directions.row(n);
    for (int j = 0; j < p; ++j) gd[j] = T(0);
    T gk = T(0);
    for (int s = 0; s < n_samples; ++s) {
      const Index i = static_cast<Index>(s) * directions.rows + n;
      power_spherical_draw_backward_call(p, directions.row(n), concentrations(n, 0),
                                         samples.row(i), draws[i], grad_samples.row(i), gd, &gk);
    }
    grad_concentrations(n, 0) = gk;
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
