// SPDX-License-Identifier: MIT
// libFuzzer harness: log I_v(x), the ratio I_{v+1}/I_v with its complement and
// derivative, and the vMF log-normalizer with its derivatives, in float and double.
// Contract (docs/reliability.md): for v >= 0, x >= 0 (finite) the ratio and its
// complement lie in [0, 1] and sum to 1 within rounding, the derivative lies in
// [0, inf) and tends to 1/(2v+2) at x -> 0 (orders up to the documented 1e30;
// larger orders, like negative ones, give NaN), log I is finite for x > 0 (or -inf/0 at x = 0)
// and never NaN; invalid input (negative, NaN) gives NaN and nothing else.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <pdml/math/log_bessel.hpp>
#include <pdml/math/vmf_normalizer.hpp>

#include "fuzz_common.hpp"

namespace {

template <class T>
void check_bessel(T v, T x) {
  const std::string where = "at v = " + std::to_string(static_cast<double>(v)) + " (" +
                            pdml_fuzz::hex(v) + "), x = " + pdml_fuzz::hex(x);
  auto require = [&](bool condition, const char* what) {
    if (!condition) pdml_fuzz::fail(what, where);
  };
  const T log_i = pdml::log_bessel_i(v, x);
  const T r = pdml::bessel_i_ratio(v, x);
  const T c = pdml::bessel_i_ratio_complement(v, x);
  const T dr = pdml::bessel_i_ratio_derivative(v, x);
  const bool valid = v >= T(0) && x >= T(0) && std::isfinite(x) && static_cast<double>(v) <= 1e30;
  if (!valid) {
    if (std::isnan(v) || std::isnan(x) || v < T(0) || x < T(0) || static_cast<double>(v) > 1e30) {
      require(std::isnan(r) && std::isnan(c) && std::isnan(dr), "invalid input must give NaN");
    }
    return;
  }
  require(!std::isnan(log_i), "log I_v(x) is NaN for valid input");
  // In double log I_v(x) is finite for x > 0 (|log I| <= ~1e153 over the domain); a
  // float result may saturate to +-inf where the true value exceeds the float range.
  if (x > T(0) && sizeof(T) == sizeof(double)) require(std::isfinite(log_i), "log I_v(x) not finite");
  require(r >= T(0) && r <= T(1), "ratio outside [0, 1]");
  require(c >= T(0) && c <= T(1), "complement outside [0, 1]");
  require(std::abs((r + c) - T(1)) <= T(8) * std::numeric_limits<T>::epsilon(), "ratio + complement != 1");
  require(std::isfinite(dr) && dr >= T(0), "derivative not finite and >= 0");
  const double limit = 0.5 / (static_cast<double>(v) + 1.0);
  if (x < T(1e-20)) {
    require(std::abs(static_cast<double>(dr) - limit) <= 1e-6 * limit, "derivative limit at tiny x");
  }
}

template <class T>
void check_vmf(int p, T kappa) {
  const std::string where = "at p = " + std::to_string(p) + ", kappa = " + pdml_fuzz::hex(kappa);
  auto require = [&](bool condition, const char* what) {
    if (!condition) pdml_fuzz::fail(what, where);
  };
  const T log_c = pdml::vmf_log_normalizer(p, kappa);
  const T a = pdml::vmf_mean_resultant(p, kappa);
  const T one_minus_a = pdml::vmf_mean_resultant_complement(p, kappa);
  const T da = pdml::vmf_mean_resultant_derivative(p, kappa);
  if (!(kappa >= T(0)) || !std::isfinite(kappa)) return;
  require(std::isfinite(log_c), "vmf_log_normalizer not finite");
  require(a >= T(0) && a <= T(1), "A_p outside [0, 1]");
  require(one_minus_a >= T(0) && one_minus_a <= T(1), "1 - A_p outside [0, 1]");
  require(std::isfinite(da) && da >= T(0), "A_p' not finite and >= 0");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pdml_fuzz::Input in(data, size);
  const bool use_float = in.flag();
  const int p = in.integer(2, 255) + (in.flag() ? in.integer(0, 255) * 32 : 0);
  if (use_float) {
    const float v = in.value<float>(), x = in.value<float>();
    check_bessel(std::abs(v), x);
    check_bessel(v, x);
    check_vmf(p, std::abs(x));
  } else {
    const double v = in.value<double>(), x = in.value<double>();
    check_bessel(std::abs(v), x);
    check_bessel(v, x);
    check_vmf(p, std::abs(x));
  }
  return 0;
}
