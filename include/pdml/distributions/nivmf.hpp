// SPDX-License-Identifier: MIT
#pragma once
// The non-isotropic von Mises-Fisher distribution nivMF(nu, k) on S^{p-1}
// (class proxies of the paper): per-distribution, device-callable functions.
//
// nu is a direction (a unit p-vector; formulas use it as given), k in R^p with
// k_j > 0, K = diag(k). nivMF(nu, k) is the exact pushforward
//     y ~ vMF(K nu / |K nu|, |K nu|),   x = K^{-1} y / |K^{-1} y|,
// whose normalized log-density on the sphere is
//     log f(x) = log C_p(|K nu|) + (K nu)^T (K x) / |K x| + sum_j log k_j - p log |K x|
// (the last two terms are the log-Jacobian of y -> x; docs/math.md, section 4).
// nu is the image of the preimage vMF's mode, but in general NOT the mode of
// f: the Jacobian factor prod(k) / |K x|^p favours the axes of small k_j.
//
// The paper's objective uses instead the scoring rule (not a normalized density)
//     l_ref(x) = log C_p(|K nu|) + (K nu)^T x + sum_j log k_j - log |K nu|,
// which is linear in x: l_ref(x) = a + (K nu)^T x with the per-distribution
// offset a = log C_p(|K nu|) + sum_j log k_j - log |K nu|.
//
// Gradients with respect to nu and x are ambient (derivatives of the formulas
// in R^p; no tangent projection). Backward functions overwrite their outputs
// and skip null pointers, except the *_offset_backward functions, which ADD to
// their outputs (they are one term of a larger gradient, see
// similarities/nivmf_scoring.hpp).
// The exact sampler is in nivmf_sampler.hpp, batched host APIs in nivmf_batch.hpp.

#include <cmath>
#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/distributions/vmf.hpp"
#include "pdml/math/vmf_normalizer.hpp"

namespace pdml {
namespace detail {

/// The elements u_j = k_j nu_j of K nu, as doubles.
template <class T>
struct KNuElements {
  const T* nu;
  const T* k;
  PDML_HOST_DEVICE double operator()(std::int64_t j) const {
    return static_cast<double>(k[j]) * static_cast<double>(nu[j]);
  }
};

/// |K nu|, taken scaled (no overflow or underflow of the squares for any
/// finite k; |K nu| <= max_j k_j since nu is a unit vector).
template <class T>
PDML_HOST_DEVICE T nivmf_norm_k_nu(int p, const T* nu, const T* k) {
  return static_cast<T>(scaled_norm_of(p, KNuElements<T>{nu, k}).to_double());
}

/// |K nu| and sum_j log k_j.
template <class T>
PDML_HOST_DEVICE void nivmf_scale_terms(int p, const T* nu, const T* k, T* norm_k_nu,
                                        T* sum_log_k) {
  T l = T(0);
  for (int j = 0; j < p; ++j) l += std::log(k[j]);
  *norm_k_nu = nivmf_norm_k_nu(p, nu, k);
  *sum_log_k = l;
}

/// The factor f of d/du [log C_p(|u|) + extra_log log|u|] = f u (u = K nu, norm = |u|):
/// f = -A_p(|u|)/|u| + extra_log/|u|^2. Shared with the CUDA row routines, which reduce
/// |K nu| across lanes.
template <class T>
PDML_HOST_DEVICE T nivmf_offset_gradient_factor(int p, T norm, T extra_log) {
  return -vmf_resultant_ratio(p, norm) + extra_log / (norm * norm);
}

/// Adds d/dnu and d/dk of  grad * (log C_p(|K nu|) + sum log k + extra_log * log|K nu|).
template <class T>
PDML_HOST_DEVICE void nivmf_offset_backward_add(int p, const T* nu, const T* k, T grad,
                                                T extra_log, T* grad_nu, T* grad_k) {
  const T norm = nivmf_norm_k_nu(p, nu, k);
  const T coef = nivmf_offset_gradient_factor(p, norm, extra_log);
  for (int j = 0; j < p; ++j) {
    const T g_u = grad * coef * k[j] * nu[j];
    if (grad_nu) grad_nu[j] += k[j] * g_u;
    if (grad_k) grad_k[j] += nu[j] * g_u + grad / k[j];
  }
}

}  // namespace detail

// ------------------------------------------------------------ exact density

/// The exact density's offset from its two reductions, |K nu| and sum_j log k_j.
template <class T>
PDML_HOST_DEVICE T nivmf_log_density_offset_from(int p, T norm_k_nu, T sum_log_k) {
  return vmf_log_normalizer(p, norm_k_nu) + sum_log_k;
}

/// The paper's offset from the same two reductions.
template <class T>
PDML_HOST_DEVICE T nivmf_score_offset_from(int p, T norm_k_nu, T sum_log_k) {
  return vmf_log_normalizer(p, norm_k_nu) + sum_log_k - std::log(norm_k_nu);
}

/// b = log C_p(|K nu|) + sum_j log k_j: the x-independent part of log f.
template <class T>
PDML_HOST_DEVICE T nivmf_log_density_offset(int p, const T* nu, const T* k) {
  T norm = T(0), sum_log_k = T(0);
  detail::nivmf_scale_terms(p, nu, k, &norm, &sum_log_k);
  return nivmf_log_density_offset_from(p, norm, sum_log_k);
}

/// ADDS grad_offset * db/dnu to grad_nu and grad_offset * db/dk to grad_k.
template <class T>
PDML_HOST_DEVICE void nivmf_log_density_offset_backward(int p, const T* nu, const T* k,
                                                        T grad_offset, T* grad_nu, T* grad_k) {
  detail::nivmf_offset_backward_add(p, nu, k, grad_offset, T(0), grad_nu, grad_k);
}

/// The normalized log-density log f(x) of nivMF(nu, k) at the unit vector x.
template <class T>
PDML_HOST_DEVICE T nivmf_log_prob(int p, const T* nu, const T* k, const T* x) {
  T uz = T(0);
  for (int j = 0; j < p; ++j) uz += k[j] * nu[j] * (k[j] * x[j]);
  const T norm_z = detail::nivmf_norm_k_nu(p, x, k);  // |K x|, scaled
  return nivmf_log_density_offset(p, nu, k) + uz / norm_z - T(p) * std::log(norm_z);
}

/// Gradients of grad_out * log f(x) with respect to nu, k and x (overwritten;
/// null pointers skipped). With u = K nu, z = K x, b = |z|, s = u^T z:
///   g_u = -A(|u|) u / |u| + z / b,   g_z = u / b - s z / b^3 - p z / b^2,
///   d/dnu = K g_u,  d/dk_j = nu_j g_u,j + x_j g_z,j + 1 / k_j,  d/dx = K g_z.
template <class T>
PDML_HOST_DEVICE void nivmf_log_prob_backward(int p, const T* nu, const T* k, const T* x,
                                              T grad_out, T* grad_nu, T* grad_k, T* grad_x) {
  T uz = T(0);
  for (int j = 0; j < p; ++j) uz += (k[j] * nu[j]) * (k[j] * x[j]);
  const T b = detail::nivmf_norm_k_nu(p, x, k);  // |K x|, scaled
  const T inv_b = T(1) / b;
  const T r = detail::vmf_resultant_ratio(p, detail::nivmf_norm_k_nu(p, nu, k));
  const T z_coef = -uz * inv_b * inv_b * inv_b - T(p) * inv_b * inv_b;
  for (int j = 0; j < p; ++j) {
    const T z = k[j] * x[j];
    const T u = k[j] * nu[j];
    const T g_u = grad_out * (-r * u + z * inv_b);
    const T g_z = grad_out * (u * inv_b + z_coef * z);
    if (grad_nu) grad_nu[j] = k[j] * g_u;
    if (grad_k) grad_k[j] = nu[j] * g_u + x[j] * g_z + grad_out / k[j];
    if (grad_x) grad_x[j] = k[j] * g_z;
  }
}

// ------------------------------------------------------ the paper's l_ref

/// a = log C_p(|K nu|) + sum_j log k_j - log |K nu|: the x-independent part of
/// l_ref (l_ref(x) = a + (K nu)^T x).
template <class T>
PDML_HOST_DEVICE T nivmf_score_offset(int p, const T* nu, const T* k) {
  T norm = T(0), sum_log_k = T(0);
  detail::nivmf_scale_terms(p, nu, k, &norm, &sum_log_k);
  return nivmf_score_offset_from(p, norm, sum_log_k);
}

/// ADDS grad_offset * da/dnu to grad_nu and grad_offset * da/dk to grad_k:
///   da/du = -(A(|u|)/|u| + 1/|u|^2) u with u = K nu;
///   da/dnu = K da/du,  da/dk_j = nu_j (da/du)_j + 1 / k_j.
template <class T>
PDML_HOST_DEVICE void nivmf_score_offset_backward(int p, const T* nu, const T* k, T grad_offset,
                                                  T* grad_nu, T* grad_k) {
  detail::nivmf_offset_backward_add(p, nu, k, grad_offset, T(-1), grad_nu, grad_k);
}

/// The slope of l_ref: linear = K nu.
template <class T>
PDML_HOST_DEVICE void nivmf_score_linear(int p, const T* nu, const T* k, T* linear) {
  for (int j = 0; j < p; ++j) linear[j] = k[j] * nu[j];
}

/// l_ref(x) = a + (K nu)^T x.
template <class T>
PDML_HOST_DEVICE T nivmf_score(int p, const T* nu, const T* k, const T* x) {
  T s = T(0);
  for (int j = 0; j < p; ++j) s += k[j] * nu[j] * x[j];
  return nivmf_score_offset(p, nu, k) + s;
}

/// Gradients of grad_out * l_ref(x) (overwritten; null pointers skipped):
///   d/dnu = K (x + da/du),  d/dk_j = nu_j (x_j + (da/du)_j) + 1 / k_j,  d/dx = K nu.
template <class T>
PDML_HOST_DEVICE void nivmf_score_backward(int p, const T* nu, const T* k, const T* x,
                                           T grad_out, T* grad_nu, T* grad_k, T* grad_x) {
  for (int j = 0; j < p; ++j) {
    if (grad_nu) grad_nu[j] = grad_out * k[j] * x[j];
    if (grad_k) grad_k[j] = grad_out * nu[j] * x[j];
    if (grad_x) grad_x[j] = grad_out * k[j] * nu[j];
  }
  nivmf_score_offset_backward(p, nu, k, grad_out, grad_nu, grad_k);
}

}  // namespace pdml
