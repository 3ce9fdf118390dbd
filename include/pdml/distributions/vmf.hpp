// SPDX-License-Identifier: MIT
#pragma once
// Closed forms of the von Mises-Fisher distribution vMF(mu, kappa) on S^{p-1}:
// log-density, entropy, mean, mode, KL divergence and the log probability
// product kernel, each with a closed-form backward.
//
// Every function exists in two parameterizations:
//  * natural: eta = kappa * mu (a p-vector); kappa = |eta|. Gradients are with
//    respect to eta and are finite at eta = 0 (the uniform distribution):
//    every 1/kappa is absorbed into the ratios r(k) = A_p(k) / k -> 1/p and
//    t(k) = A_p'(k) - A_p(k) / k -> 0 (see docs/math.md, section 4).
//  * polar: a direction mu (unit p-vector, not re-normalized) and kappa >= 0.
//    Gradients with respect to mu are ambient (the derivative of the formula
//    in R^p, not projected onto the tangent space), so a caller that
//    parameterizes mu = v / |v| chains them through its own normalization.
//
// Device-callable: raw pointers, no allocation, loops bounded by p. Backward
// functions overwrite their outputs; a null output pointer is skipped.
// Batched, validated host entry points are in vmf_batch.hpp.

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "pdml/config.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/math/vmf_normalizer.hpp"

namespace pdml {
namespace detail {

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T vmf_dot(int p, const T* a, const T* b) {
  T s = T(0);
  for (int j = 0; j < p; ++j) s += a[j] * b[j];
  return s;
}

/// |a|, taken scaled (core/scaled_norm.hpp): no overflow or underflow of the squares.
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T vmf_norm(int p, const T* a) {
  return static_cast<T>(scaled_norm(a, p).to_double());
}

/// Elements rho (a_j + b_j) (the natural parameter of a PPK's product), as doubles.
template <class T>
struct VmfScaledSumElements {
  const T* a;
  const T* b;
  T rho;
  PDML_HOST_DEVICE double operator()(std::int64_t j) const {
    return static_cast<double>(rho) * (static_cast<double>(a[j]) + static_cast<double>(b[j]));
  }
};

/// Elements rho (k1 u_j + k2 v_j) (the product's natural parameter in polar form), as doubles.
template <class T>
struct VmfScaledPolarSumElements {
  const T* u;
  T k1;
  const T* v;
  T k2;
  T rho;
  PDML_HOST_DEVICE double operator()(std::int64_t j) const {
    return static_cast<double>(rho) * (static_cast<double>(k1) * static_cast<double>(u[j]) +
                                       static_cast<double>(k2) * static_cast<double>(v[j]));
  }
};

/// |rho (k1 u + k2 v)|, scaled.
template <class T>
PDML_HOST_DEVICE T vmf_scaled_polar_sum_norm(int p, const T* u, T k1, const T* v, T k2, T rho) {
  return static_cast<T>(
      scaled_norm_of(p, VmfScaledPolarSumElements<T>{u, k1, v, k2, rho}).to_double());
}

/// mu1^T (eta1 - eta2) with mu1 = eta1 / k1 (0 for k1 = 0), in double: the KL's
/// cross term divided by k1, whose square-sized undivided form overflows (or
/// underflows) for norms of 1e200 (1e-200) in double, 1e20 (1e-20) in float.
template <class T>
PDML_HOST_DEVICE double vmf_direction_dot_difference(int p, const T* eta1, const T* eta2, T k1) {
  if (!(k1 > T(0))) return 0.0;
  const ScaledNorm norm = scaled_norm(eta1, p);
  const double inv_value = 1.0 / norm.value;
  double s = 0.0;
  for (int j = 0; j < p; ++j) {
    const double direction = ::scalbn(static_cast<double>(eta1[j]), -norm.exponent) * inv_value;
    const double a = static_cast<double>(eta1[j]), b = static_cast<double>(eta2[j]);
    const double difference = a - b;  // exact-ish; overflows only near the largest double
    s += difference - difference == 0.0 ? direction * difference : direction * a - direction * b;
  }
  return s;
}

/// |rho (a + b)|, scaled.
template <class T>
PDML_HOST_DEVICE T vmf_scaled_sum_norm(int p, const T* a, const T* b, T rho) {
  return static_cast<T>(scaled_norm_of(p, VmfScaledSumElements<T>{a, b, rho}).to_double());
}

/// Below this kappa the ratios use their Taylor series (truncation error
/// O(k^6) relative, far below the double epsilon): A_p(k) / k loses relative
/// accuracy when both numerator and denominator underflow, and A_p'(k) - A_p(k)/k
/// is a difference of two numbers close to 1/p.
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T vmf_small_kappa() {
  return T(1e-3);
}

/// r(k) = A_p(k) / k, with r(0) = 1/p. Multiplying eta by r gives A_p(k) mu
/// without dividing by kappa.
template <class T>
PDML_HOST_DEVICE T vmf_resultant_ratio(int p, T k) {
  const T pp = T(p);
  if (k < vmf_small_kappa<T>()) {
    const T k2 = k * k;
    return T(1) / pp - k2 / (pp * pp * (pp + T(2))) +
           T(2) * k2 * k2 / (pp * pp * pp * (pp + T(2)) * (pp + T(4)));
  }
  return vmf_mean_resultant(p, k) / k;
}

/// t(k) = A_p'(k) - A_p(k) / k = k r'(k) (always <= 0, t(0) = 0): the extra
/// eigenvalue of the Jacobian of eta -> A_p(|eta|) eta / |eta| along mu.
template <class T>
PDML_HOST_DEVICE T vmf_resultant_ratio_slope(int p, T k) {
  const T pp = T(p);
  if (k < vmf_small_kappa<T>()) {
    const T k2 = k * k;
    return -T(2) * k2 / (pp * pp * (pp + T(2))) +
           T(8) * k2 * k2 / (pp * pp * pp * (pp + T(2)) * (pp + T(4)));
  }
  return vmf_mean_resultant_derivative(p, k) - vmf_mean_resultant(p, k) / k;
}

/// A_p'(k) with the exact limit 1/p at k = 0.
template <class T>
PDML_HOST_DEVICE T vmf_resultant_derivative_safe(int p, T k) {
  return vmf_resultant_ratio(p, k) + vmf_resultant_ratio_slope(p, k);
}

/// g_out = r g + t (u^T g) u: the symmetric Jacobian (r I + t u u^T) applied
/// to g, with u = eta / |eta| (u is irrelevant when t = 0, i.e. at eta = 0).
template <class T>
PDML_HOST_DEVICE void vmf_apply_resultant_jacobian(int p, const T* eta, T k, T r, T t,
                                                   const T* g, T scale, T* out) {
  const T inv_k = k > T(0) ? T(1) / k : T(0);
  const T along = vmf_dot(p, eta, g) * inv_k * inv_k * t;
  for (int j = 0; j < p; ++j) out[j] = scale * (r * g[j] + along * eta[j]);
}

}  // namespace detail

// ----------------------------------------------------------------- log_prob

/// log f(x) = log C_p(|eta|) + eta^T x.
template <class T>
PDML_HOST_DEVICE T vmf_log_prob(int p, const T* eta, const T* x) {
  return vmf_log_normalizer(p, detail::vmf_norm(p, eta)) + detail::vmf_dot(p, eta, x);
}

/// d/deta = g (x - A_p(k) mu) = g (x - r(k) eta);  d/dx = g eta (ambient).
template <class T>
PDML_HOST_DEVICE void vmf_log_prob_backward(int p, const T* eta, const T* x, T grad_out,
                                            T* grad_eta, T* grad_x) {
  const T r = detail::vmf_resultant_ratio(p, detail::vmf_norm(p, eta));
  for (int j = 0; j < p; ++j) {
    if (grad_eta) grad_eta[j] = grad_out * (x[j] - r * eta[j]);
    if (grad_x) grad_x[j] = grad_out * eta[j];
  }
}

/// log f(x) = log C_p(kappa) + kappa mu^T x.
template <class T>
PDML_HOST_DEVICE T vmf_log_prob(int p, const T* mu, T kappa, const T* x) {
  return vmf_log_normalizer(p, kappa) + kappa * detail::vmf_dot(p, mu, x);
}

/// d/dmu = g kappa x, d/dkappa = g (mu^T x - A_p(kappa)), d/dx = g kappa mu.
template <class T>
PDML_HOST_DEVICE void vmf_log_prob_backward(int p, const T* mu, T kappa, const T* x, T grad_out,
                                            T* grad_mu, T* grad_kappa, T* grad_x) {
  if (grad_kappa) {
    *grad_kappa = grad_out * (detail::vmf_dot(p, mu, x) - vmf_mean_resultant(p, kappa));
  }
  for (int j = 0; j < p; ++j) {
    if (grad_mu) grad_mu[j] = grad_out * kappa * x[j];
    if (grad_x) grad_x[j] = grad_out * kappa * mu[j];
  }
}

// ------------------------------------------------------------------ entropy

/// H = -log C_p(kappa) - kappa A_p(kappa); log|S^{p-1}| at kappa = 0.
/// (Restricted to floating-point kappa so that a non-const eta pointer selects
/// the natural-parameter overload below.)
template <class T, std::enable_if_t<std::is_floating_point<T>::value, int> = 0>
PDML_HOST_DEVICE T vmf_entropy(int p, T kappa) {
  return -vmf_log_normalizer(p, kappa) - kappa * vmf_mean_resultant(p, kappa);
}

/// dH/dkappa = -kappa A_p'(kappa).
template <class T>
PDML_HOST_DEVICE T vmf_entropy_derivative(int p, T kappa) {
  return -kappa * detail::vmf_resultant_derivative_safe(p, kappa);
}

/// Entropy in natural parameters.
template <class T>
PDML_HOST_DEVICE T vmf_entropy(int p, const T* eta) {
  return vmf_entropy(p, detail::vmf_norm(p, eta));
}

/// dH/deta = -A_p'(k) eta (zero at eta = 0).
template <class T>
PDML_HOST_DEVICE void vmf_entropy_backward(int p, const T* eta, T grad_out, T* grad_eta) {
  const T d = detail::vmf_resultant_derivative_safe(p, detail::vmf_norm(p, eta));
  for (int j = 0; j < p; ++j) grad_eta[j] = -grad_out * d * eta[j];
}

// --------------------------------------------------------------- mean, mode

/// E[x] = A_p(k) mu = r(k) eta (zero vector at eta = 0).
template <class T>
PDML_HOST_DEVICE void vmf_mean(int p, const T* eta, T* mean) {
  const T r = detail::vmf_resultant_ratio(p, detail::vmf_norm(p, eta));
  for (int j = 0; j < p; ++j) mean[j] = r * eta[j];
}

/// d/deta = (r I + t mu mu^T) grad_mean (symmetric Jacobian; (1/p) I at eta = 0).
template <class T>
PDML_HOST_DEVICE void vmf_mean_backward(int p, const T* eta, const T* grad_mean, T* grad_eta) {
  const T k = detail::vmf_norm(p, eta);
  detail::vmf_apply_resultant_jacobian(p, eta, k, detail::vmf_resultant_ratio(p, k),
                                       detail::vmf_resultant_ratio_slope(p, k), grad_mean, T(1),
                                       grad_eta);
}

/// E[x] = A_p(kappa) mu.
template <class T>
PDML_HOST_DEVICE void vmf_mean(int p, const T* mu, T kappa, T* mean) {
  const T a = vmf_mean_resultant(p, kappa);
  for (int j = 0; j < p; ++j) mean[j] = a * mu[j];
}

/// d/dmu = A_p(kappa) grad_mean, d/dkappa = A_p'(kappa) mu^T grad_mean.
template <class T>
PDML_HOST_DEVICE void vmf_mean_backward(int p, const T* mu, T kappa, const T* grad_mean,
                                        T* grad_mu, T* grad_kappa) {
  if (grad_kappa) {
    *grad_kappa = detail::vmf_resultant_derivative_safe(p, kappa) *
                  detail::vmf_dot(p, mu, grad_mean);
  }
  if (grad_mu) {
    const T a = vmf_mean_resultant(p, kappa);
    for (int j = 0; j < p; ++j) grad_mu[j] = a * grad_mean[j];
  }
}

/// The mode eta / |eta|. At eta = 0 every point is a mode; by convention the
/// first basis vector e_1 is returned (with a zero gradient, see below).
/// In polar form the mode is mu itself.
template <class T>
PDML_HOST_DEVICE void vmf_mode(int p, const T* eta, T* mode) {
  const T k = detail::vmf_norm(p, eta);
  if (!(k > T(0))) {
    for (int j = 0; j < p; ++j) mode[j] = j == 0 ? T(1) : T(0);
    return;
  }
  for (int j = 0; j < p; ++j) mode[j] = eta[j] / k;
}

/// d/deta = (I - mu mu^T) grad_mode / k; defined as 0 at eta = 0, where the
/// mode is not a function of eta (the convention keeps gradients finite).
template <class T>
PDML_HOST_DEVICE void vmf_mode_backward(int p, const T* eta, const T* grad_mode, T* grad_eta) {
  const T k = detail::vmf_norm(p, eta);
  if (!(k > T(0))) {
    for (int j = 0; j < p; ++j) grad_eta[j] = T(0);
    return;
  }
  const T along = detail::vmf_dot(p, eta, grad_mode) / (k * k);
  for (int j = 0; j < p; ++j) grad_eta[j] = (grad_mode[j] - along * eta[j]) / k;
}

// ---------------------------------------------------------------------- KL

/// KL(vMF(eta1) || vMF(eta2)) = log C(k1) - log C(k2) + A(k1) (k1 - mu1^T eta2)
///                            = log C(k1) - log C(k2) + r(k1) eta1^T (eta1 - eta2).
template <class T>
PDML_HOST_DEVICE T vmf_kl(int p, const T* eta1, const T* eta2) {
  const T k1 = detail::vmf_norm(p, eta1);
  const T k2 = detail::vmf_norm(p, eta2);
  // r(k1) eta1^T (eta1 - eta2) = A(k1) mu1^T (eta1 - eta2): no square of the norms.
  const double cross_over_k1 = detail::vmf_direction_dot_difference(p, eta1, eta2, k1);
  return vmf_log_normalizer(p, k1) - vmf_log_normalizer(p, k2) +
         static_cast<T>(static_cast<double>(vmf_mean_resultant(p, k1)) * cross_over_k1);
}

/// d/deta1 = (r1 I + t1 mu1 mu1^T)(eta1 - eta2);  d/deta2 = r2 eta2 - r1 eta1.
template <class T>
PDML_HOST_DEVICE void vmf_kl_backward(int p, const T* eta1, const T* eta2, T grad_out,
                                      T* grad_eta1, T* grad_eta2) {
  const T k1 = detail::vmf_norm(p, eta1);
  const T k2 = detail::vmf_norm(p, eta2);
  const T r1 = detail::vmf_resultant_ratio(p, k1);
  if (grad_eta2) {
    const T r2 = detail::vmf_resultant_ratio(p, k2);
    for (int j = 0; j < p; ++j) grad_eta2[j] = grad_out * (r2 * eta2[j] - r1 * eta1[j]);
  }
  if (grad_eta1) {
    const T t1 = detail::vmf_resultant_ratio_slope(p, k1);
    // t1 eta1^T (eta1 - eta2) / k1^2 = t1 mu1^T (eta1 - eta2) / k1: neither k1^2 nor
    // 1 / k1^2 is formed (t1 = O(k1^2) as k1 -> 0).
    const T along =
        k1 > T(0) ? static_cast<T>(static_cast<double>(t1) *
                                   detail::vmf_direction_dot_difference(p, eta1, eta2, k1) /
                                   static_cast<double>(k1))
                  : T(0);
    for (int j = 0; j < p; ++j) {
      grad_eta1[j] = grad_out * (r1 * (eta1[j] - eta2[j]) + along * eta1[j]);
    }
  }
}

/// KL in polar form: log C(k1) - log C(k2) + A(k1) (k1 - k2 mu2^T mu1).
template <class T>
PDML_HOST_DEVICE T vmf_kl(int p, const T* mu1, T kappa1, const T* mu2, T kappa2) {
  return vmf_log_normalizer(p, kappa1) - vmf_log_normalizer(p, kappa2) +
         vmf_mean_resultant(p, kappa1) * (kappa1 - kappa2 * detail::vmf_dot(p, mu1, mu2));
}

/// d/dk1 = A'(k1)(k1 - k2 c), d/dk2 = A(k2) - A(k1) c, d/dmu1 = -A(k1) k2 mu2,
/// d/dmu2 = -A(k1) k2 mu1, with c = mu1^T mu2.
template <class T>
PDML_HOST_DEVICE void vmf_kl_backward(int p, const T* mu1, T kappa1, const T* mu2, T kappa2,
                                      T grad_out, T* grad_mu1, T* grad_kappa1, T* grad_mu2,
                                      T* grad_kappa2) {
  const T c = detail::vmf_dot(p, mu1, mu2);
  const T a1 = vmf_mean_resultant(p, kappa1);
  if (grad_kappa1) {
    *grad_kappa1 =
        grad_out * detail::vmf_resultant_derivative_safe(p, kappa1) * (kappa1 - kappa2 * c);
  }
  if (grad_kappa2) *grad_kappa2 = grad_out * (vmf_mean_resultant(p, kappa2) - a1 * c);
  for (int j = 0; j < p; ++j) {
    if (grad_mu1) grad_mu1[j] = -grad_out * a1 * kappa2 * mu2[j];
    if (grad_mu2) grad_mu2[j] = -grad_out * a1 * kappa2 * mu1[j];
  }
}

// ------------------------------------------------- probability product kernel

/// log PPK of order rho: log int f1^rho f2^rho
///   = rho (log C(k1) + log C(k2)) - log C(|rho (eta1 + eta2)|).
/// rho = 1: expected likelihood kernel; rho = 1/2: Bhattacharyya kernel.
template <class T>
PDML_HOST_DEVICE T vmf_log_ppk(int p, const T* eta1, const T* eta2, T rho) {
  return rho * (vmf_log_normalizer(p, detail::vmf_norm(p, eta1)) +
                vmf_log_normalizer(p, detail::vmf_norm(p, eta2))) -
         vmf_log_normalizer(p, detail::vmf_scaled_sum_norm(p, eta1, eta2, rho));
}

/// d/deta_i = rho (r(k3) eta3 - r(k_i) eta_i), eta3 = rho (eta1 + eta2);
/// d/drho = log C(k1) + log C(k2) + A(k3) k3 / rho  (0 when eta3 = 0).
template <class T>
PDML_HOST_DEVICE void vmf_log_ppk_backward(int p, const T* eta1, const T* eta2, T rho,
                                           T grad_out, T* grad_eta1, T* grad_eta2,
                                           T* grad_rho = nullptr) {
  const T k1 = detail::vmf_norm(p, eta1);
  const T k2 = detail::vmf_norm(p, eta2);
  const T k3 = detail::vmf_scaled_sum_norm(p, eta1, eta2, rho);
  const T r1 = detail::vmf_resultant_ratio(p, k1);
  const T r2 = detail::vmf_resultant_ratio(p, k2);
  const T r3 = detail::vmf_resultant_ratio(p, k3);
  for (int j = 0; j < p; ++j) {
    const T e3 = rho * (eta1[j] + eta2[j]);
    if (grad_eta1) grad_eta1[j] = grad_out * rho * (r3 * e3 - r1 * eta1[j]);
    if (grad_eta2) grad_eta2[j] = grad_out * rho * (r3 * e3 - r2 * eta2[j]);
  }
  if (grad_rho) {
    // d k3 / d rho = k3 / rho = |eta1 + eta2|, so the last term is A(k3) |eta1 + eta2|
    // = r(k3) k3 |eta1 + eta2|, finite for every rho.
    const T n12 = detail::vmf_scaled_sum_norm(p, eta1, eta2, T(1));
    *grad_rho = grad_out * (vmf_log_normalizer(p, k1) + vmf_log_normalizer(p, k2) +
                            r3 * k3 * n12);
  }
}

/// Polar form of the log PPK.
template <class T>
PDML_HOST_DEVICE T vmf_log_ppk(int p, const T* mu1, T kappa1, const T* mu2, T kappa2, T rho) {
  return rho * (vmf_log_normalizer(p, kappa1) + vmf_log_normalizer(p, kappa2)) -
         vmf_log_normalizer(p,
                            detail::vmf_scaled_polar_sum_norm(p, mu1, kappa1, mu2, kappa2, rho));
}

/// d/dk1 = rho (A(k3) mu3^T mu1 - A(k1)), d/dmu1 = rho k1 r(k3) eta3 (ambient),
/// and symmetrically for distribution 2.
template <class T>
PDML_HOST_DEVICE void vmf_log_ppk_backward(int p, const T* mu1, T kappa1, const T* mu2,
                                           T kappa2, T rho, T grad_out, T* grad_mu1,
                                           T* grad_kappa1, T* grad_mu2, T* grad_kappa2) {
  T d1 = T(0), d2 = T(0);
  for (int j = 0; j < p; ++j) {
    const T e = rho * (kappa1 * mu1[j] + kappa2 * mu2[j]);
    d1 += e * mu1[j];
    d2 += e * mu2[j];
  }
  const T k3 = detail::vmf_scaled_polar_sum_norm(p, mu1, kappa1, mu2, kappa2, rho);
  // r(k3) x = A(k3) (x / k3) for large k3: r(k3) alone is subnormal near the largest
  // float, and products kappa r(k3) e are taken with the O(1) factor kappa r(k3) first
  // (kappa * e first overflows to inf and gives inf * 0 = NaN).
  const bool large = k3 >= T(1);
  const T r3 = large ? T(0) : detail::vmf_resultant_ratio(p, k3);
  const T a3 = large ? vmf_mean_resultant(p, k3) : T(0);
  const T r3_d1 = large ? a3 * (d1 / k3) : r3 * d1;
  const T r3_d2 = large ? a3 * (d2 / k3) : r3 * d2;
  const T kappa1_r3 = large ? a3 * (kappa1 / k3) : kappa1 * r3;
  const T kappa2_r3 = large ? a3 * (kappa2 / k3) : kappa2 * r3;
  if (grad_kappa1) *grad_kappa1 = grad_out * rho * (r3_d1 - vmf_mean_resultant(p, kappa1));
  if (grad_kappa2) *grad_kappa2 = grad_out * rho * (r3_d2 - vmf_mean_resultant(p, kappa2));
  for (int j = 0; j < p; ++j) {
    const T e = rho * (kappa1 * mu1[j] + kappa2 * mu2[j]);
    if (grad_mu1) grad_mu1[j] = grad_out * rho * kappa1_r3 * e;
    if (grad_mu2) grad_mu2[j] = grad_out * rho * kappa2_r3 * e;
  }
}

}  // namespace pdml
