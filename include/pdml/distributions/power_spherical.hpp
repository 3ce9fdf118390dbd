// SPDX-License-Identifier: MIT
#pragma once
// The Power Spherical distribution PS(mu, kappa) on S^{p-1} (De Cao & Aziz,
// 2020): density C(kappa) (1 + mu^T x)^kappa, a rejection-free alternative to
// the vMF for image distributions. Per-distribution, device-callable functions.
//
// With alpha = (p - 1)/2 + kappa and beta = (p - 1)/2:
//   z = (1 + mu^T x)/2 ~ Beta(alpha, beta), the tangent part of x is uniform
//   on the great sphere orthogonal to mu, and
//   log C(kappa) = -[(alpha + beta) log 2 + beta log pi + lgamma(alpha) - lgamma(alpha + beta)]
// (derivation in docs/math.md, section 4).
//
// mu is a unit direction, kappa >= 0 (kappa = 0 is the uniform distribution).
// The sampler and its backward use mu / |mu|: the batched API accepts rows
// within sqrt(epsilon) of unit norm, and a sample built on mu as given would
// inherit that error (|x| ~ |mu| as kappa grows), far beyond the samples'
// documented unit-norm tolerance. Gradients with respect to mu are ambient
// (taken at mu / |mu|, not chained through the normalization).
// The kappa-gradient of a sample goes through the Beta draw by implicit
// reparameterization, dz/dalpha = -(dI_z(alpha, beta)/dalpha) / f(z), computed
// by quadrature over the shorter tail (beta_sample_shape_derivative below).
// Batched host APIs: power_spherical_batch.hpp.

#include <cmath>
#include <cstdint>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/math/detail/scalar.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {
namespace detail {

template <class T>
struct PsConstants {
  static constexpr T log_two = T(0.69314718055994530941723212145818);
  static constexpr T log_pi = T(1.1447298858494001741434273513531);
};

/// Digamma for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10,
/// then the asymptotic series (truncation below 1e-17 at x = 10).
template <class T>
PDML_HOST_DEVICE T ps_digamma(T x) {
  T shift = T(0);
  for (int i = 0; i < 16 && x < T(10); ++i) {
    shift -= T(1) / x;
    x += T(1);
  }
  const T r = T(1) / x;
  const T r2 = r * r;
  const T series =
      r2 * (T(1) / T(12) -
            r2 * (T(1) / T(120) -
                  r2 * (T(1) / T(252) -
                        r2 * (T(1) / T(240) - r2 * (T(1) / T(132) - r2 * T(691) / T(32760))))));
  return shift + log_(x) - T(0.5) * r - series;
}

/// Trigamma for x > 0: psi1(x) = psi1(x + 1) + 1/x^2 up to x >= 12, then the
/// asymptotic series 1/x + 1/(2x^2) + sum_k B_2k / x^(2k+1) through B_16
/// (truncation below 1e-17 relative at x = 12).
template <class T>
PDML_HOST_DEVICE T ps_trigamma(T x) {
  T shift = T(0);
  for (int i = 0; i < 16 && x < T(12); ++i) {
    shift += T(1) / (x * x);
    x += T(1);
  }
  const T r = T(1) / x;
  const T r2 = r * r;
  // B_2 .. B_16 = 1/6, -1/30, 1/42, -1/30, 5/66, -691/2730, 7/6, -3617/510.
  const T bernoulli_sum =
      T(1) / T(6) +
      r2 * (T(-1) / T(30) +
            r2 * (T(1) / T(42) +
                  r2 * (T(-1) / T(30) +
                        r2 * (T(5) / T(66) +
                              r2 * (T(-691) / T(2730) +
                                    r2 * (T(7) / T(6) + r2 * T(-3617) / T(510)))))));
  return shift + r * (T(1) + r * (T(0.5) + r * bernoulli_sum));
}

/// psi(a) - psi(a + b) for b > 0. For a + b large the two values are close;
/// the difference is still accurate to ~ eps * log(a + b) absolute.
template <class T>
PDML_HOST_DEVICE T ps_digamma_difference(T a, T b) {
  return ps_digamma(a) - ps_digamma(a + b);
}

/// 15-point Gauss-Legendre rule on [-1, 1] (nodes >= 0 and weights; symmetric).
template <class T>
struct GaussLegendre15 {
  PDML_HOST_DEVICE static T node(int i) {
    constexpr double nodes[8] = {0.0,
                                 0.20119409399743451,
                                 0.39415134707756339,
                                 0.57097217260853883,
                                 0.72441773136017007,
                                 0.84820658341042721,
                                 0.93727339240070595,
                                 0.98799251802048538};
    return T(nodes[i]);
  }
  PDML_HOST_DEVICE static T weight(int i) {
    constexpr double weights[8] = {0.20257824192556129,  0.19843148532711158,
                                   0.18616100001556221,  0.16626920581699392,
                                   0.13957067792615432,  0.10715922046717194,
                                   0.070366047488108124, 0.030753241996117269};
    return T(weights[i]);
  }
};

/// Integrand of the tail integral in the log-distance sigma (see beta_sample_shape_derivative).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T ps_tail_integrand(T sigma, bool lower, T rate, T power,
                                                       T q, T y, T log_z, T mean_log) {
  const T decay = exp_(-sigma);
  const T rise = -expm1_(-sigma);  // 1 - e^{-sigma}, exact for small sigma
  const T weight = exp_(-rate * sigma + power * log1p_(q * rise));
  const T log_t = lower ? log_z - sigma : log1p_(-y * decay);
  return (log_t - mean_log) * weight;
}

}  // namespace detail

/// dz/da for z ~ Beta(a, b) at fixed b: the implicit-reparameterization
/// gradient -(d I_z(a, b) / da) / f(z; a, b), with z, 1 - z and their logs
/// given separately (as the Beta draw produces them, without cancellation).
///
/// d I_z / da = int_0^z (log t - m) f(t) dt with m = E[log t] = psi(a) - psi(a + b),
/// and the same integral over [z, 1] is its negative; the tail on the far side
/// of the mean from the bulk is used. The density ratio f(t)/f(z) needs no
/// normalizer. Substituting t = z e^{-sigma} (lower tail) or
/// 1 - t = (1 - z) e^{-sigma} (upper tail) removes the endpoint singularities
/// (a < 1 or b < 1) and leaves a smooth integrand on [0, inf) decaying at least
/// like e^{-a sigma} (or e^{-b sigma}); sigma is scaled by the local decay rate
/// and integrated with 15-point Gauss-Legendre panels [0, 1/16], then doubling
/// ([2^j, 2^(j+1)] / 16), stopped once a panel adds less than eps^2 of the mass
/// (typically 10-12 panels, at most 64). On a doubling panel where the
/// integrand decays by e^-V the rule's relative error is ~(V/2)^30 / 30! e^-V
/// of the total, at most 7e-15. Measured relative accuracy ~3e-9 against
/// finite differences of Boost's inverse (the differences' own error).
namespace detail {
template <class T>
PDML_HOST_DEVICE T beta_shape_derivative_impl(T a, T b, T z, T z_complement, T log_z,
                                              T log_z_complement) {
  if (!(z > T(0)) || !(z_complement > T(0))) return T(0);
  const T mean_log = detail::ps_digamma_difference(a, b);
  const bool lower = z * (a + b) < a;
  // Tail variables: y is the distance of z from the tail's end point, yb its complement.
  const T y = lower ? z : z_complement;
  const T yb = lower ? z_complement : z;
  const T rate = lower ? a : b;       // decay rate of the substituted integrand at infinity
  const T power = (lower ? b : a) - T(1);
  const T q = y / yb;
  const T slope = -rate + power * q;
  const T curvature = power * q * (T(1) + q);
  T lambda = detail::abs_(slope) + detail::sqrt_(detail::abs_(curvature));
  if (lambda < rate) lambda = rate;
  const T scale = T(1) / lambda;
  (void)log_z_complement;

  T total = T(0), total_abs = T(0);
  T left = T(0), right = T(1.0 / 16.0);
  for (int panel = 0; panel < 64; ++panel) {
    const T half = T(0.5) * (right - left) * scale;
    const T mid = T(0.5) * (right + left) * scale;
    T sum = detail::GaussLegendre15<T>::weight(0) *
            detail::ps_tail_integrand(mid, lower, rate, power, q, y, log_z, mean_log);
    for (int i = 1; i < 8; ++i) {
      const T d = half * detail::GaussLegendre15<T>::node(i);
      sum += detail::GaussLegendre15<T>::weight(i) *
             (detail::ps_tail_integrand(mid - d, lower, rate, power, q, y, log_z, mean_log) +
              detail::ps_tail_integrand(mid + d, lower, rate, power, q, y, log_z, mean_log));
    }
    const T contribution = sum * half;
    total += contribution;
    total_abs += detail::abs_(contribution);
    // Past the peak (the integrand decays from sigma ~ 1/lambda on) and negligible: stop.
    if (right > T(4) &&
        !(detail::abs_(contribution) > detail::epsilon_<T>() *
                                             detail::epsilon_<T>() * total_abs)) {
      break;
    }
    left = right;
    right *= T(2);
  }
  return lower ? -y * total : y * total;
}
}  // namespace detail

/// The quadrature always runs in double (as the vMF sampler's dw/dkappa): in
/// float, psi(a) - psi(a + b) and log t cancel to ~3e-4 relative at a ~ 1e4.
template <class T>
PDML_HOST_DEVICE T beta_sample_shape_derivative(T a, T b, T z, T z_complement, T log_z,
                                                T log_z_complement) {
  return static_cast<T>(detail::beta_shape_derivative_impl<double>(
      static_cast<double>(a), static_cast<double>(b), static_cast<double>(z),
      static_cast<double>(z_complement), static_cast<double>(log_z),
      static_cast<double>(log_z_complement)));
}

// ------------------------------------------------------------ closed forms

/// log C_p(kappa) of the Power Spherical distribution.
template <class T>
PDML_HOST_DEVICE T power_spherical_log_normalizer(int p, T kappa) {
  const T beta = T(0.5) * T(p - 1);
  const T alpha = beta + kappa;
  return -((alpha + beta) * detail::PsConstants<T>::log_two +
           beta * detail::PsConstants<T>::log_pi + detail::lgamma_(alpha) -
           detail::lgamma_(alpha + beta));
}

/// d log C / dkappa = -(log 2 + psi(alpha) - psi(alpha + beta)) = -E[log(1 + mu^T x)].
template <class T>
PDML_HOST_DEVICE T power_spherical_log_normalizer_derivative(int p, T kappa) {
  const T beta = T(0.5) * T(p - 1);
  return -(detail::PsConstants<T>::log_two + detail::ps_digamma_difference(beta + kappa, beta));
}

/// log f(x) = log C(kappa) + kappa log(1 + mu^T x) (kappa = 0: the uniform log-density).
template <class T>
PDML_HOST_DEVICE T power_spherical_log_prob(int p, const T* mu, T kappa, const T* x) {
  T c = T(0);
  for (int j = 0; j < p; ++j) c += mu[j] * x[j];
  const T lc = power_spherical_log_normalizer(p, kappa);
  return kappa == T(0) ? lc : lc + kappa * detail::log1p_(c);
}

/// Gradients of grad_out * log f(x) (overwritten; null pointers skipped):
/// d/dmu = kappa x / (1 + mu^T x), d/dx = kappa mu / (1 + mu^T x),
/// d/dkappa = log(1 + mu^T x) + d log C / dkappa.
template <class T>
PDML_HOST_DEVICE void power_spherical_log_prob_backward(int p, const T* mu, T kappa, const T* x,
                                                        T grad_out, T* grad_mu, T* grad_kappa,
                                                        T* grad_x) {
  T c = T(0);
  for (int j = 0; j < p; ++j) c += mu[j] * x[j];
  if (grad_kappa) {
    *grad_kappa =
        grad_out * (detail::log1p_(c) + power_spherical_log_normalizer_derivative(p, kappa));
  }
  const T coef = kappa == T(0) ? T(0) : grad_out * kappa / (T(1) + c);
  for (int j = 0; j < p; ++j) {
    if (grad_mu) grad_mu[j] = coef * x[j];
    if (grad_x) grad_x[j] = coef * mu[j];
  }
}

/// E[mu^T x] = (alpha - beta) / (alpha + beta) = kappa / (p - 1 + kappa).
template <class T>
PDML_HOST_DEVICE T power_spherical_mean_resultant(int p, T kappa) {
  return kappa / (T(p - 1) + kappa);
}

/// d/dkappa E[mu^T x] = (p - 1) / (p - 1 + kappa)^2.
template <class T>
PDML_HOST_DEVICE T power_spherical_mean_resultant_derivative(int p, T kappa) {
  const T s = T(p - 1) + kappa;
  return T(p - 1) / (s * s);
}

/// H = -log C - kappa (log 2 + psi(alpha) - psi(alpha + beta)).
template <class T>
PDML_HOST_DEVICE T power_spherical_entropy(int p, T kappa) {
  return -power_spherical_log_normalizer(p, kappa) +
         kappa * power_spherical_log_normalizer_derivative(p, kappa);
}

/// dH/dkappa = -kappa (psi1(alpha) - psi1(alpha + beta)).
template <class T>
PDML_HOST_DEVICE T power_spherical_entropy_derivative(int p, T kappa) {
  const T beta = T(0.5) * T(p - 1);
  return -kappa * (detail::ps_trigamma(beta + kappa) - detail::ps_trigamma(T(2) * beta + kappa));
}

/// KL(PS(mu, kappa) || uniform on S^{p-1}) = log |S^{p-1}| - H.
template <class T>
PDML_HOST_DEVICE T power_spherical_kl_uniform(int p, T kappa) {
  const T half_p = T(0.5) * T(p);
  const T log_area = detail::PsConstants<T>::log_two + half_p * detail::PsConstants<T>::log_pi -
                     detail::lgamma_(half_p);
  return log_area - power_spherical_entropy(p, kappa);
}

/// d KL / dkappa = -dH/dkappa.
template <class T>
PDML_HOST_DEVICE T power_spherical_kl_uniform_derivative(int p, T kappa) {
  return -power_spherical_entropy_derivative(p, kappa);
}

// ----------------------------------------------------------------- sampling

/// What one Power Spherical draw keeps for its backward.
template <class T>
struct PowerSphericalDraw {
  T w;              ///< mu^T x = z - (1 - z)
  T z;              ///< the Beta(alpha, beta) draw
  T z_complement;   ///< 1 - z, without cancellation
  T log_z;
  T log_z_complement;
  T tangent_ratio;  ///< (mu^T g) / |g - (mu^T g) mu| for the Gaussian g behind the tangent
  bool ok;          ///< false if the Beta draw failed (probability < 1e-80) or inputs are invalid
};

namespace detail {
/// 1 / |mu| for the sampler's direction (mu != 0; rows are validated near unit norm).
template <class T>
PDML_HOST_DEVICE T ps_inverse_norm(int p, const T* mu) {
  T norm2 = T(0);
  for (int j = 0; j < p; ++j) norm2 += mu[j] * mu[j];
  return T(1) / detail::sqrt_(norm2);
}
}  // namespace detail

/// Maximum redraws of the Gaussian behind the tangent direction (a redraw is
/// needed only if its projection on mu-perp is exactly zero).
constexpr int kPowerSphericalTangentAttempts = 4;

/// One sample x of PS(mu, kappa) drawn from `stream`, in the vMF sampler's
/// order: first p standard normals from a fresh block (fill_normals), projected
/// on mu-perp (redrawn if the projection is exactly 0), then the Beta draw (two
/// Marsaglia-Tsang gammas). On failure x is NaN and ok is false.
template <class T>
PDML_HOST_DEVICE PowerSphericalDraw<T> power_spherical_draw(int p, const T* mu, T kappa,
                                                            RandomStream& stream, T* x) {
  const T nan = detail::quiet_nan_<T>();
  PowerSphericalDraw<T> out{nan, nan, nan, nan, nan, nan, false};
  const T beta_shape = T(0.5) * T(p - 1);
  if (p < 2 || !(kappa >= T(0))) {
    for (int j = 0; j < p; ++j) x[j] = nan;
    return out;
  }
  const T mu_scale = detail::ps_inverse_norm(p, mu);
  T c = T(0), n2 = T(0);
  bool tangent_ok = false;
  for (int attempt = 0; attempt < kPowerSphericalTangentAttempts && !tangent_ok; ++attempt) {
    fill_normals<T>(stream, x, p);
    // Gram-Schmidt twice: when g is nearly parallel to mu, one pass leaves a
    // component along mu that is large relative to the small remainder.
    c = T(0);
    for (int j = 0; j < p; ++j) c += mu_scale * mu[j] * x[j];
    for (int j = 0; j < p; ++j) x[j] -= c * (mu_scale * mu[j]);
    T c2 = T(0);
    for (int j = 0; j < p; ++j) c2 += mu_scale * mu[j] * x[j];
    n2 = T(0);
    for (int j = 0; j < p; ++j) {
      x[j] -= c2 * (mu_scale * mu[j]);
      n2 += x[j] * x[j];
    }
    c += c2;
    tangent_ok = n2 > T(0);
  }
  const BetaDraw<T> z = beta<T>(stream, beta_shape + kappa, beta_shape);
  if (!z.ok || !tangent_ok) {
    for (int j = 0; j < p; ++j) x[j] = nan;
    return out;
  }
  const T n = detail::sqrt_(n2);
  const T w = z.value - z.complement;
  const T s = T(2) * detail::sqrt_(z.value * z.complement);
  const T s_over_n = s / n;
  for (int j = 0; j < p; ++j) x[j] = w * (mu_scale * mu[j]) + s_over_n * x[j];
  out.w = w;
  out.z = z.value;
  out.z_complement = z.complement;
  out.log_z = z.log_value;
  out.log_z_complement = z.log_complement;
  out.tangent_ratio = c / n;
  out.ok = true;
  return out;
}

/// Backward of one draw: ADDS dL/dmu (ambient) to grad_mu and dL/dkappa to
/// *grad_kappa, given dL/dx. With t = x - w mu = s v (the tangent part),
/// s = sqrt(1 - w^2) = 2 sqrt(z (1 - z)) and rho = tangent_ratio:
///   dL/dmu   = w g - (g.mu) t - rho s (g.mu) mu - rho s g + rho (g.t / s) t,
///   dL/dkappa = (g.mu - w (g.t) / s^2) * 2 dz/dalpha.
template <class T>
PDML_HOST_DEVICE void power_spherical_draw_backward(int p, const T* mu, T kappa, const T* x,
                                                    const PowerSphericalDraw<T>& draw,
                                                    const T* grad_x, T* grad_mu, T* grad_kappa) {
  if (!draw.ok) return;
  const T w = draw.w;
  const T s2 = T(4) * draw.z * draw.z_complement;
  const T s = detail::sqrt_(s2);
  const T mu_scale = detail::ps_inverse_norm(p, mu);
  T g_mu = T(0), g_t = T(0);
  for (int j = 0; j < p; ++j) {
    g_mu += grad_x[j] * (mu_scale * mu[j]);
    g_t += grad_x[j] * (x[j] - w * (mu_scale * mu[j]));
  }
  if (grad_kappa) {
    const T beta_shape = T(0.5) * T(p - 1);
    const T dz = beta_sample_shape_derivative(beta_shape + kappa, beta_shape, draw.z,
                                              draw.z_complement, draw.log_z,
                                              draw.log_z_complement);
    const T dl_dw = g_mu - (s2 > T(0) ? w * g_t / s2 : T(0));
    *grad_kappa += dl_dw * T(2) * dz;
  }
  if (grad_mu) {
    const T rho = draw.tangent_ratio;
    const T along_t = -g_mu + (s > T(0) ? rho * g_t / s : T(0));
    const T along_mu = -rho * s * g_mu;
    for (int j = 0; j < p; ++j) {
      const T unit_mu = mu_scale * mu[j];
      const T t = x[j] - w * unit_mu;
      grad_mu[j] += w * grad_x[j] - rho * s * grad_x[j] + along_t * t + along_mu * unit_mu;
    }
  }
}

}  // namespace pdml
