// SPDX-License-Identifier: MIT
#pragma once
// The fused steps of the EL-nivMF criterion (see docs/math.md and
// include/pdml/losses for the formulas). Each functor is applied over an
// index range by detail::for_each_index and computes everything of one index
// in a fixed order, so every output is bitwise reproducible.
//
// Notation: B images, C classes, D dimensions, S samples per image,
// N = S B sample rows (sample s of image i at row n = s B + i).
//   kc_c   = max(k_c, k_min) (element-wise), nu_c = v_c / |v_c|,
//   a_c    = kc_c * nu_c, r_c = |a_c|,
//   bias_c = log C_D(r_c) + sum_j log kc_cj - log r_c        (paper's rule)
//   Z_nc   = (a_c^T x_n + bias_c) / T,
//   sim_ic = logsumexp_s Z_{sB+i,c} - log S,
//   L_nca  = mean_i [logsumexp_c sim_ic - sim_{i,y_i}],
//   L_pa   = ProxyAnchor on m_ic = mu_i^T nu_c,
//   L      = L_nca + w L_pa.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/cuda/core/device_status.hpp"
#include "pdml/distributions/nivmf.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Exact density, per sample row n and column j: x_nj^2 (for |K_c x_n|^2).
template <class T>
struct SquareSamples {
  ConstMatrixView<T> samples;
  T* squares;  // N x D dense
  PDML_HOST_DEVICE void operator()(Index nj) const {
    const Index n = nj / samples.cols;
    const Index j = nj - n * samples.cols;
    const T x = samples(n, j);
    squares[nj] = x * x;
  }
};

/// Exact density, per (n, c): from U = x^T (K^2 nu) and Q^2 = |K x|^2 to the
/// x-dependent part U / Q - D log Q of the log-density (Q is kept).
template <class T>
struct ExactDensityTerms {
  const T* u;      // N x C
  T* q;            // N x C: |K x|^2 in, |K x| out
  T* out;          // N x C
  T dims;
  PDML_HOST_DEVICE void operator()(Index nc) const {
    const T norm = sqrt_(q[nc]);
    q[nc] = norm;
    out[nc] = u[nc] / norm - dims * log_(norm);
  }
};

/// Exact density backward, per (n, c): dL/dU = g / Q and
/// dL/d(Q^2) = -g (U / Q + D) / (2 Q^2), with g = dL/dl (overwritten by dL/dU).
template <class T>
struct ExactDensityBackward {
  const T* u;
  const T* q;
  T* grad;         // N x C: dL/dl in, dL/dU out
  T* grad_square;  // N x C
  T dims;
  PDML_HOST_DEVICE void operator()(Index nc) const {
    const T g = grad[nc];
    const T norm = q[nc];
    grad[nc] = g / norm;
    grad_square[nc] = -g * (u[nc] / norm + dims) / (T(2) * norm * norm);
  }
};

/// Exact density backward, per (n, j): adds d(Q^2)/dx = 2 x o (h K^2).
template <class T>
struct ExactDensitySampleGradient {
  ConstMatrixView<T> samples;
  const T* h_k2;  // N x D: (dL/dQ^2) K^2
  MatrixView<T> grad_samples;
  PDML_HOST_DEVICE void operator()(Index nj) const {
    const Index n = nj / samples.cols;
    const Index j = nj - n * samples.cols;
    grad_samples(n, j) += T(2) * samples(n, j) * h_k2[nj];
  }
};

/// Copies a dense rows x cols matrix into a (possibly strided) view.
template <class T>
struct CopyIntoView {
  const T* source;
  MatrixView<T> target;
  PDML_HOST_DEVICE void operator()(Index k) const {
    const Index r = k / target.cols;
    target(r, k - r * target.cols) = source[k];
  }
};

/// dL/dT = -(1/T) sum of the temperature terms, finished on the device.
template <class T>
struct FinishTemperature {
  T inv_temperature;
  T* grad_temperature;
  PDML_HOST_DEVICE void operator()(T sum) const { *grad_temperature = -sum * inv_temperature; }
};

template <class T>
struct ArrayValues {
  const T* x;
  PDML_HOST_DEVICE T operator()(Index k) const { return x[k]; }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
