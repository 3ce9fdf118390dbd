// SPDX-License-Identifier: MIT
#pragma once
// The elementwise special functions of pdml.special, one switch shared by the CPU loop
// (pdml_ext.cpp) and the CUDA kernel (pdml_cuda.cu), so each function is chosen in one place.
// The enumerators' order is the index that python/pdml/special.py passes.

#include <pdml/config.hpp>
#include <pdml/distributions/power_spherical.hpp>
#include <pdml/distributions/vmf.hpp>
#include <pdml/math/log_bessel.hpp>
#include <pdml/math/vmf_normalizer.hpp>

namespace pdml_python {

enum class Special {
  log_bessel_i,
  bessel_i_ratio,
  bessel_i_ratio_derivative,
  vmf_log_normalizer,
  vmf_mean_resultant,
  vmf_mean_resultant_derivative,
  vmf_entropy,
  vmf_entropy_derivative,
  power_spherical_entropy,
  power_spherical_entropy_derivative,
  power_spherical_mean_resultant,
  power_spherical_mean_resultant_derivative,
};

template <class T>
PDML_HOST_DEVICE T special_value(Special f, T a, T x) {
  switch (f) {
    case Special::log_bessel_i: return pdml::log_bessel_i<T>(a, x);
    case Special::bessel_i_ratio: return pdml::bessel_i_ratio<T>(a, x);
    case Special::bessel_i_ratio_derivative: return pdml::bessel_i_ratio_derivative<T>(a, x);
    default: break;
  }
  const int p = static_cast<int>(a);
  switch (f) {
    case Special::vmf_log_normalizer: return pdml::vmf_log_normalizer<T>(p, x);
    case Special::vmf_mean_resultant: return pdml::vmf_mean_resultant<T>(p, x);
    case Special::vmf_mean_resultant_derivative: return pdml::vmf_mean_resultant_derivative<T>(p, x);
    case Special::vmf_entropy: return pdml::vmf_entropy<T>(p, x);
    case Special::vmf_entropy_derivative: return pdml::vmf_entropy_derivative<T>(p, x);
    case Special::power_spherical_entropy: return pdml::power_spherical_entropy<T>(p, x);
    case Special::power_spherical_entropy_derivative:
      return pdml::power_spherical_entropy_derivative<T>(p, x);
    case Special::power_spherical_mean_resultant:
      return pdml::power_spherical_mean_resultant<T>(p, x);
    case Special::power_spherical_mean_resultant_derivative:
      return pdml::power_spherical_mean_resultant_derivative<T>(p, x);
    default: return T(0);
  }
}


}  // namespace pdml_python
