// SPDX-License-Identifier: MIT
#pragma once
// Batched vMF log-normalizer and mean resultant for one dimension p over an
// array of concentrations (host only):
//
//   vmf_log_normalizer_batch(p, kappa, n, log_normalizer, mean_resultant)
//
// Everything that depends on the order v = p/2 - 1 (number of Debye terms,
// constants) is chosen once per call, outside the loop; the loop body is
// branch-free straight-line code over blocks of kBlock lanes (the Debye
// expansion, a branch-free logarithm) that compilers vectorize. For p < 36
// (v < 17) the Debye expansion only holds for kappa >= 32: those lanes are
// computed for every element, then the lanes with kappa < 32 are patched by
// the scalar routine (selection by mask, never by order).
//
// Results agree with the scalar vmf_log_normalizer / vmf_mean_resultant to a
// few ulp (tests/math/test_vmf_normalizer.cpp measures both against the
// 50-digit reference).

#include <cmath>
#include <cstdint>
#include <cstring>

#include "pdml/core/cpu_dispatch.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/math/log_bessel.hpp"
#include "pdml/math/vmf_normalizer.hpp"

namespace pdml {
namespace detail {
namespace vmf_batch {

/// Lanes per block: a multiple of every SIMD width (2, 4, 8 doubles).
constexpr int kBlock = 8;

/// Natural logarithm of a positive, finite, normal double without branches
/// (so that it vectorizes): x = 2^e m with m in [sqrt(1/2), sqrt(2)),
/// log m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, by its odd
/// series to f^23; e log 2 is added in two parts. Error about 1 ulp.
PDML_FORCE_INLINE double branch_free_log(double x) {
  // Integer-only range reduction (no selects, so SSE2 vectorizes it too):
  // shifting by the bits of sqrt(1/2) puts m in [sqrt(1/2), sqrt(2)).
  constexpr std::uint64_t kSqrtHalfBits = 0x3fe6a09e667f3bcdULL;
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x3ff0000000000000ULL - kSqrtHalfBits;
  // The biased exponent as a double without an int64 -> double conversion
  // (absent from SSE2): the bit pattern 2^52 + n, minus 2^52 + 1023.
  const std::uint64_t exponent_bits = (bits >> 52) | 0x4330000000000000ULL;
  double e;
  std::memcpy(&e, &exponent_bits, sizeof e);
  e -= 4503599627371519.0;  // 2^52 + 1023
  const std::uint64_t mantissa_bits = (bits & 0x000fffffffffffffULL) + kSqrtHalfBits;
  double m;
  std::memcpy(&m, &mantissa_bits, sizeof m);
  const double f = (m - 1.0) / (m + 1.0);
  const double s = f * f;
  // 2 atanh(f) = 2 f (1 + s/3 + s^2/5 + ...), s <= 0.02944: 11 terms reach 1e-18.
  double series = 1.0 / 23.0;
  series = series * s + 1.0 / 21.0;
  series = series * s + 1.0 / 19.0;
  series = series * s + 1.0 / 17.0;
  series = series * s + 1.0 / 15.0;
  series = series * s + 1.0 / 13.0;
  series = series * s + 1.0 / 11.0;
  series = series * s + 1.0 / 9.0;
  series = series * s + 1.0 / 7.0;
  series = series * s + 1.0 / 5.0;
  series = series * s + 1.0 / 3.0;
  const double two_f = 2.0 * f;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000: e * hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return e * kLn2Hi + (two_f + (two_f * s * series + e * kLn2Lo));
}

/// sqrt(s) for positive, finite, normal s without a library call: the libm
/// sqrt may set errno, which keeps compilers (without -fno-math-errno) from
/// vectorizing the loop around it. A bit-level first guess of 1/sqrt(s)
/// (relative error < 3.5%) takes four Newton steps to full precision, and a
/// final Heron correction of s * y leaves about half an ulp.
PDML_FORCE_INLINE double branch_free_sqrt(double s) {
  std::uint64_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  bits = 0x5fe6eb50c7b537a9ULL - (bits >> 1);
  double y;
  std::memcpy(&y, &bits, sizeof y);
  const double half_s = 0.5 * s;
  y = y * (1.5 - half_s * y * y);
  y = y * (1.5 - half_s * y * y);
  y = y * (1.5 - half_s * y * y);
  y = y * (1.5 - half_s * y * y);
  const double root = s * y;
  return root + 0.5 * y * (s - root * root);
}

/// One block of the Debye form of log C_p and A_p (see log_bessel.hpp):
///   log C_p = -(p/2) log(2 pi) - [R - v log(v + R) - log(2 pi R)/2 + L],
///   A_p = (k / R) (R / (R + v) + Q).
template <int K>
PDML_FORCE_INLINE void debye_block(double v, double half_p_log_two_pi, const double* kappa,
                                   double* log_normalizer, double* mean_resultant) {
  using namespace pdml::detail::debye;
  for (int lane = 0; lane < kBlock; ++lane) {
    const double k = kappa[lane];
    const double radius = branch_free_sqrt(v * v + k * k);
    const double tau = 1.0 / radius;
    const double t = v * tau;
    const double t2 = t * t;
    const double correction = tau * log_series<K>(tau, t2);
    const double log_i_minus_v_log_k = radius - v * branch_free_log(v + radius) -
                                       0.5 * (pdml::detail::bessel::kLogTwoPi + branch_free_log(radius)) +
                                       correction;
    log_normalizer[lane] = -half_p_log_two_pi - log_i_minus_v_log_k;
    const double q = tau * ratio_series<K>(tau, t2);
    mean_resultant[lane] = k * tau * (radius / (radius + v) + q);
  }
}

template <int K, class T>
PDML_FORCE_INLINE void debye_loop_body(int p, const T* kappa, Index n, T* log_normalizer,
                                       T* mean_resultant) {
  const double v = 0.5 * p - 1.0;
  // Small orders: the Debye lanes hold only for kappa >= kDebyeMinArgument;
  // the other lanes of a block are re-evaluated by the scalar routine from
  // the block's copy of kappa (so the output may be the input array).
  const bool patch_small_arguments = v < pdml::detail::bessel::kDebyeMinOrder;
  const double half_p_log_two_pi = 0.5 * p * pdml::detail::bessel::kLogTwoPi;
  double in[kBlock];
  double out_log[kBlock];
  double out_mean[kBlock];
  for (Index start = 0; start < n; start += kBlock) {
    const Index count = n - start < kBlock ? n - start : kBlock;
    for (int lane = 0; lane < kBlock; ++lane) {
      // Padding lanes get a harmless argument; their results are dropped.
      in[lane] = lane < count ? static_cast<double>(kappa[start + lane]) : 1.0;
    }
    debye_block<K>(v, half_p_log_two_pi, in, out_log, out_mean);
    if (patch_small_arguments) {
      for (int lane = 0; lane < count; ++lane) {
        if (in[lane] < pdml::detail::bessel::kDebyeMinArgument) {
          out_log[lane] = pdml::detail::vmf::log_normalizer(p, in[lane]);
          out_mean[lane] = pdml::detail::bessel::ratio_part(v, in[lane], pdml::detail::bessel::RatioPart::ratio);
        }
      }
    }
    for (Index lane = 0; lane < count; ++lane) {
      log_normalizer[start + lane] = static_cast<T>(out_log[lane]);
      if (mean_resultant) mean_resultant[start + lane] = static_cast<T>(out_mean[lane]);
    }
  }
}

#if PDML_HAS_CPU_DISPATCH
// Run-time dispatched kernels (core/cpu_dispatch.hpp); the wider levels may
// contract multiply-adds into FMAs, so results agree to a few ulp.
template <int K, class T>
PDML_TARGET_AVX512 void debye_loop_avx512(int p, const T* kappa, Index n, T* log_normalizer,
                                          T* mean_resultant) {
  debye_loop_body<K>(p, kappa, n, log_normalizer, mean_resultant);
}
template <int K, class T>
PDML_TARGET_AVX2 void debye_loop_avx2(int p, const T* kappa, Index n, T* log_normalizer,
                                      T* mean_resultant) {
  debye_loop_body<K>(p, kappa, n, log_normalizer, mean_resultant);
}
#endif

template <int K, class T>
void debye_loop(int p, const T* kappa, Index n, T* log_normalizer, T* mean_resultant) {
#if PDML_HAS_CPU_DISPATCH
  switch (cpu_level()) {
    case CpuLevel::avx512: debye_loop_avx512<K>(p, kappa, n, log_normalizer, mean_resultant); return;
    case CpuLevel::avx2: debye_loop_avx2<K>(p, kappa, n, log_normalizer, mean_resultant); return;
    default: break;
  }
#endif
  debye_loop_body<K>(p, kappa, n, log_normalizer, mean_resultant);
}

}  // namespace vmf_batch
}  // namespace detail

/// log C_p(kappa[i]) into log_normalizer[i] and, when mean_resultant is not
/// null, A_p(kappa[i]) into mean_resultant[i], for i in [0, n). Outputs may
/// be the input array itself but must not otherwise overlap it.
/// Throws std::invalid_argument (before writing anything) unless p >= 2,
/// n >= 0, the pointers are non-null for n > 0 and every kappa is finite and
/// non-negative.
template <class T>
void vmf_log_normalizer_batch(int p, const T* kappa, Index n, T* log_normalizer, T* mean_resultant) {
  constexpr const char* kFunction = "pdml::vmf_log_normalizer_batch";
  if (p < 2) detail::throw_invalid(kFunction, "p", "must be at least 2");
  if (n < 0) detail::throw_invalid(kFunction, "n", "must be non-negative");
  if (n > 0 && kappa == nullptr) detail::throw_invalid(kFunction, "kappa", "is a null pointer");
  if (n > 0 && log_normalizer == nullptr) {
    detail::throw_invalid(kFunction, "log_normalizer", "is a null pointer");
  }
  for (Index i = 0; i < n; ++i) {
    if (!(kappa[i] >= T(0)) || !std::isfinite(kappa[i])) {
      detail::throw_invalid(kFunction, "kappa", "must hold finite, non-negative values");
    }
  }
  namespace bessel = detail::bessel;
  const double v = 0.5 * p - 1.0;
  switch (bessel::debye_terms(v)) {
    case 5: detail::vmf_batch::debye_loop<5>(p, kappa, n, log_normalizer, mean_resultant); break;
    case 6: detail::vmf_batch::debye_loop<6>(p, kappa, n, log_normalizer, mean_resultant); break;
    case 8: detail::vmf_batch::debye_loop<8>(p, kappa, n, log_normalizer, mean_resultant); break;
    case 11: detail::vmf_batch::debye_loop<11>(p, kappa, n, log_normalizer, mean_resultant); break;
    case 13: detail::vmf_batch::debye_loop<13>(p, kappa, n, log_normalizer, mean_resultant); break;
    default: detail::vmf_batch::debye_loop<20>(p, kappa, n, log_normalizer, mean_resultant); break;
  }
}

}  // namespace pdml
