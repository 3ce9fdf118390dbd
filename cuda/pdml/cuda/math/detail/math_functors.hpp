// SPDX-License-Identifier: MIT
#pragma once
// Element-wise functors over the device-callable math layer
// (include/pdml/math): one evaluation per index, no state.

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/math/log_bessel.hpp"
#include "pdml/math/vmf_normalizer.hpp"

namespace pdml {
namespace cuda {

/// Functions of (p, kappa) evaluated by vmf_function().
enum class VmfFunction {
  log_normalizer,             ///< log C_p(kappa)
  mean_resultant,             ///< A_p(kappa) = I_{p/2}(kappa) / I_{p/2-1}(kappa)
  mean_resultant_derivative,  ///< A_p'(kappa)
  mean_resultant_complement,  ///< 1 - A_p(kappa), without cancellation
};

/// Functions of (v, x) evaluated by bessel_function().
enum class BesselFunction {
  log_i,             ///< log I_v(x)
  ratio,             ///< I_{v+1}(x) / I_v(x)
  ratio_complement,  ///< 1 - I_{v+1}(x) / I_v(x), without cancellation
};

namespace detail {

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T evaluate(VmfFunction f, int p, T kappa) {
  switch (f) {
    case VmfFunction::log_normalizer: return pdml::vmf_log_normalizer(p, kappa);
    case VmfFunction::mean_resultant: return pdml::vmf_mean_resultant(p, kappa);
    case VmfFunction::mean_resultant_derivative: return pdml::vmf_mean_resultant_derivative(p, kappa);
    default: return pdml::vmf_mean_resultant_complement(p, kappa);
  }
}

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T evaluate(BesselFunction f, T v, T x) {
  switch (f) {
    case BesselFunction::log_i: return pdml::log_bessel_i(v, x);
    case BesselFunction::ratio: return pdml::bessel_i_ratio(v, x);
    default: return pdml::bessel_i_ratio_complement(v, x);
  }
}

/// out[i] = f(p, kappa[i]); the switch is uniform across threads.
template <class T>
struct VmfFunctionApply {
  VmfFunction function;
  int p;
  const T* kappa;
  T* out;
  PDML_HOST_DEVICE void operator()(Index i) const { out[i] = evaluate(function, p, kappa[i]); }
};

/// out[i] = f(v[i], x[i]).
template <class T>
struct BesselFunctionApply {
  BesselFunction function;
  const T* v;
  const T* x;
  T* out;
  PDML_HOST_DEVICE void operator()(Index i) const { out[i] = evaluate(function, v[i], x[i]); }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
