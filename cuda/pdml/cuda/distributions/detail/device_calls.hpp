// SPDX-License-Identifier: MIT
#pragma once
// Out-of-line entry points to the heavy per-item routines of the library
// (log-normalizers, the sampler, the dw/dkappa quadrature, KL and PPK).
//
// Why: pdml's device-callable routines are inline, so every kernel that
// calls one gets its own inlined copy, and ptxas compiles each copy
// separately, once per architecture. Several kernels of one translation unit
// call the same routine (forward, backward per image, backward per proxy), so
// nvcc time multiplies. Calling them through these __noinline__ wrappers
// compiles each routine once per translation unit and type; the call costs a
// few instructions next to routines of hundreds.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/distributions/nivmf.hpp"
#include "pdml/distributions/nivmf_sampler.hpp"
#include "pdml/distributions/power_spherical.hpp"
#include "pdml/distributions/vmf.hpp"
#include "pdml/distributions/vmf_sampler.hpp"
#include "pdml/random/random_stream.hpp"

#if defined(__CUDACC__)
#define PDML_CUDA_OUT_OF_LINE __noinline__
#else
#define PDML_CUDA_OUT_OF_LINE
#endif

namespace pdml {
namespace cuda {
namespace detail {

/// Offset of the nivMF score: exact log-density or the paper's rule.
template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE T nivmf_offset(bool exact, int p, const T* nu, const T* k) {
  return exact ? pdml::nivmf_log_density_offset(p, nu, k) : pdml::nivmf_score_offset(p, nu, k);
}

/// ADDS the offset's gradients (see pdml::nivmf_score_offset_backward).
template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void nivmf_offset_backward(bool exact, int p, const T* nu,
                                                                 const T* k, T grad, T* grad_nu,
                                                                 T* grad_k) {
  if (exact) {
    pdml::nivmf_log_density_offset_backward(p, nu, k, grad, grad_nu, grad_k);
  } else {
    pdml::nivmf_score_offset_backward(p, nu, k, grad, grad_nu, grad_k);
  }
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE VmfSampleDraw<T> vmf_draw(
    RandomStream& stream, int p, const T* mu, const VmfMarginalParams& marginal_params, T* x,
    T* tangent) {
  return pdml::vmf_sample_one(stream, p, mu, marginal_params, x, tangent);
}

PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE inline double vmf_dw_dkappa(int p, double kappa,
                                                                   double one_minus_w,
                                                                   double one_plus_w,
                                                                   double one_minus_mean) {
  return pdml::vmf_marginal_dw_dkappa(p, kappa, one_minus_w, one_plus_w, one_minus_mean);
}

/// Wood's rejection for w (every lane of a sample's group runs it on its own copy of
/// the stream).
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE inline VmfMarginalDraw vmf_draw_marginal_call(
    RandomStream& stream, const VmfMarginalParams& params) {
  return pdml::vmf_draw_marginal(stream, params);
}

/// The scalar part of dw/dkappa (bracket, peak, panel bounds) for callers that sum its
/// nodes across lanes.
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE inline VmfDwDkappaPlan vmf_dw_dkappa_plan_call(
    int p, double kappa, double one_minus_w, double one_plus_w, double one_minus_mean) {
  return pdml::vmf_dw_dkappa_plan(p, kappa, one_minus_w, one_plus_w, one_minus_mean);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void vmf_draw_backward(
    int p, const T* mu, T kappa, const T* tangent, double w, double one_minus_w, double one_plus_w,
    T projection_ratio, double dw_dkappa, const T* grad_x, T* grad_eta) {
  pdml::vmf_sample_one_backward(p, mu, kappa, tangent, w, one_minus_w, one_plus_w,
                                projection_ratio, dw_dkappa, grad_x, grad_eta);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void vmf_draw_backward_uniform(RandomStream& stream, int p,
                                                                      const T* x, const T* grad_x,
                                                                      T* scratch, T* grad_eta) {
  pdml::vmf_sample_one_backward_uniform(stream, p, x, grad_x, scratch, grad_eta);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE VmfSampleDraw<T> nivmf_draw(RandomStream& stream, int p,
                                                                   const T* k,
                                                                   const T* mean_direction,
                                                                   T kappa, T* x, T* tangent) {
  return pdml::nivmf_sample_one(stream, p, k, mean_direction, kappa, x, tangent);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void nivmf_draw_backward(
    int p, const T* nu, const T* k, const T* mean_direction, T kappa, const T* x,
    const T* tangent, const VmfSampleDraw<T>& draw, double dw_dkappa, const T* grad_x, T* scratch,
    T* grad_nu, T* grad_k) {
  pdml::nivmf_sample_one_backward(p, nu, k, mean_direction, kappa, x, tangent, draw, dw_dkappa,
                                  grad_x, scratch, grad_nu, grad_k);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE PowerSphericalDraw<T> power_spherical_draw_call(
    int p, const T* mu, T kappa, RandomStream& stream, T* x) {
  return pdml::power_spherical_draw(p, mu, kappa, stream, x);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void power_spherical_draw_backward_call(
    int p, const T* mu, T kappa, const T* x, const PowerSphericalDraw<T>& draw, const T* grad_x,
    T* grad_mu, T* grad_kappa) {
  pdml::power_spherical_draw_backward(p, mu, kappa, x, draw, grad_x, grad_mu, grad_kappa);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE T vmf_kl_call(int p, const T* e, const T* m) {
  return pdml::vmf_kl(p, e, m);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void vmf_kl_backward_call(int p, const T* e, const T* m,
                                                                 T grad, T* grad_e, T* grad_m) {
  pdml::vmf_kl_backward(p, e, m, grad, grad_e, grad_m);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE T vmf_log_ppk_call(int p, const T* e, const T* m, T rho) {
  return pdml::vmf_log_ppk(p, e, m, rho);
}

template <class T>
PDML_HOST_DEVICE PDML_CUDA_OUT_OF_LINE void vmf_log_ppk_backward_call(int p, const T* e,
                                                                      const T* m, T rho, T grad,
                                                                      T* grad_e, T* grad_m) {
  pdml::vmf_log_ppk_backward(p, e, m, rho, grad, grad_e, grad_m);
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
