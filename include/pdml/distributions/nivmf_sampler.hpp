// SPDX-License-Identifier: MIT
#pragma once
// Exact sampler of nivMF(nu, k) and its backward, per sample, device-callable.
//
// The sampler is the definition of nivMF as a pushforward (nivmf.hpp):
//   y ~ vMF(m, kappa) with u = K nu, kappa = |u|, m = u / kappa (vmf_sample_one),
//   x = K^{-1} y / |K^{-1} y|.
// The backward chains dL/dx through the normalization and K^{-1} to dL/dy,
// then through the exact vMF sample backward (implicit reparameterization in
// kappa, pathwise in m) to dL/du, and finally through u = K nu.
// Since k_j > 0 and nu != 0, kappa > 0: the vMF's uniform case never occurs.

#include <cmath>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/distributions/nivmf.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {

/// The preimage vMF's parameters: m = K nu / |K nu| into mean_direction (p
/// values); returns kappa = |K nu|.
template <class T>
PDML_HOST_DEVICE T nivmf_preimage_parameters(int p, const T* nu, const T* k, T* mean_direction) {
  // |K nu| scaled (core/scaled_norm.hpp): no overflow or underflow of the squares.
  const detail::KNuElements<T> u{nu, k};
  const ScaledNorm norm = scaled_norm_of(p, u);
  const double inv_value = 1.0 / norm.value;
  for (int j = 0; j < p; ++j) {
    mean_direction[j] = static_cast<T>(::scalbn(u(j), -norm.exponent) * inv_value);
  }
  // |K nu| <= max_j k_j for a unit nu; a direction accepted within its tolerance
  // (|nu| = 1 + O(sqrt eps)) may push it a hair past the largest T: saturate there.
  return norm.template fits<T>() ? static_cast<T>(norm.to_double()) : std::numeric_limits<T>::max();
}

/// Draws x ~ nivMF(nu, k) from `stream`, given the preimage parameters
/// (nivmf_preimage_parameters): exactly the random numbers of one
/// vmf_sample_one call. `unit_tangent` (p values, may be null) receives the
/// vMF sample's unit tangent, which the backward needs. On failure (the vMF
/// rejection cap, probability < 2^-100) x is NaN and ok == false.
template <class T>
PDML_HOST_DEVICE VmfSampleDraw<T> nivmf_sample_one(RandomStream& stream, int p, const T* k,
                                                   const T* mean_direction, T kappa, T* x,
                                                   T* unit_tangent) {
  const VmfSampleDraw<T> draw = vmf_sample_one(stream, p, mean_direction, kappa, x, unit_tangent);
  if (!draw.ok) return draw;
  // x holds y; map it through K^{-1} and renormalize.
  double n2 = 0.0;
  for (int j = 0; j < p; ++j) {
    const double z = static_cast<double>(x[j]) / static_cast<double>(k[j]);
    n2 += z * z;
  }
  const double inv = 1.0 / ::sqrt(n2);
  for (int j = 0; j < p; ++j) {
    x[j] = static_cast<T>(static_cast<double>(x[j]) / static_cast<double>(k[j]) * inv);
  }
  return draw;
}

/// Backward of one nivmf_sample_one draw: ADDS dL/dnu (ambient) to grad_nu and
/// dL/dk to grad_k given grad_x = dL/dx. `mean_direction`, `kappa` and
/// `unit_tangent` are the sampler's outputs, `dw_dkappa` the vMF marginal's
/// implicit-reparameterization derivative (vmf_marginal_dw_dkappa) for this
/// draw, and `scratch` holds 2p values. With b = |K x| (= 1 / |K^{-1} y|):
///   dL/dz = b (G - (x^T G) x)           (z = K^{-1} y, x = z / |z|)
///   dL/dy_j = (dL/dz)_j / k_j,  direct dL/dk_j = -(dL/dz)_j x_j / (k_j b)
///   dL/du = vMF sample backward of dL/dy; dL/dnu = K dL/du, dL/dk += nu o dL/du.
template <class T>
PDML_HOST_DEVICE void nivmf_sample_one_backward(int p, const T* nu, const T* k,
                                                const T* mean_direction, T kappa, const T* x,
                                                const T* unit_tangent,
                                                const VmfSampleDraw<T>& draw, double dw_dkappa,
                                                const T* grad_x, T* scratch, T* grad_nu,
                                                T* grad_k) {
  if (!draw.ok) return;
  T* grad_y = scratch;
  T* grad_u = scratch + p;
  double b2 = 0.0, xg = 0.0;
  for (int j = 0; j < p; ++j) {
    const double kx = static_cast<double>(k[j]) * static_cast<double>(x[j]);
    b2 += kx * kx;
    xg += static_cast<double>(x[j]) * static_cast<double>(grad_x[j]);
  }
  const double b = ::sqrt(b2);
  for (int j = 0; j < p; ++j) {
    const double dz = b * (static_cast<double>(grad_x[j]) - xg * static_cast<double>(x[j]));
    grad_y[j] = static_cast<T>(dz / static_cast<double>(k[j]));
    if (grad_k) {
      grad_k[j] += static_cast<T>(-dz * static_cast<double>(x[j]) / (static_cast<double>(k[j]) * b));
    }
    grad_u[j] = T(0);
  }
  vmf_sample_one_backward(p, mean_direction, kappa, unit_tangent, draw.w, draw.one_minus_w,
                          draw.one_plus_w, draw.projection_ratio, dw_dkappa, grad_y, grad_u);
  for (int j = 0; j < p; ++j) {
    if (grad_nu) grad_nu[j] += k[j] * grad_u[j];
    if (grad_k) grad_k[j] += nu[j] * grad_u[j];
  }
}

}  // namespace pdml
