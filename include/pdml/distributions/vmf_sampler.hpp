// SPDX-License-Identifier: MIT
#pragma once
// Per-sample, device-callable building blocks of the exact von Mises-Fisher
// sampler and of its gradients (docs/math.md, section "vmf-sampler").
//
// A sample of vMF(mu, kappa) on S^{p-1} is x = w mu + sqrt(1 - w^2) t, where
// w = mu^T x has the density f(w) ~ (1 - w^2)^((p-3)/2) exp(kappa w) on
// [-1, 1] and t is uniform on the unit sphere of mu-perp, independent of w.
//  - w: Wood's (1994) rejection sampler in a cancellation-free form (p != 3),
//    exact inversion of the CDF for p = 3. w is always produced in double
//    together with 1 - w and 1 + w, each without cancellation.
//  - t: a standard Gaussian vector projected onto mu-perp and normalised.
//  - gradients: implicit reparameterisation in kappa,
//    dw/dkappa = -(dF(w; kappa)/dkappa) / f(w; kappa), evaluated by a
//    bounded Gauss-Legendre quadrature over the shorter tail; pathwise in mu.
//
// Draw order inside one RandomStream (the CUDA implementation reproduces it):
//   1. fill_normals<T>(p)           -- the Gaussian for the tangent part,
//                                     ceil(p/2) (double) / ceil(p/4) (float)
//                                     blocks starting at block 0;
//   2. the w draws, word by word from the next block on: p = 3: one
//      uniform<double>; otherwise per Wood attempt the Beta draw (p >= 4:
//      symmetric_beta_shape_at_least_one, whose two gammas share Box-Muller
//      pairs; p = 2: beta) and one exponential<double>.
// Device rules apply: no exceptions, no allocation, bounded loops.

#include <cmath>
#include <cstdint>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/random/random_stream.hpp"

namespace pdml {

/// Maximum number of Wood proposals per sample. The acceptance probability
/// of Wood's envelope is above 0.5 for every (p, kappa) (measured minimum
/// over p in [2, 4096], kappa in [0, 1e6]: see the tests), so the cap is
/// reached with probability below 2^-100.
constexpr int kVmfMaxAttempts = 100;

/// The draw of w = mu^T x together with its complements.
struct VmfMarginalDraw {
  double w;
  double one_minus_w;  // 1 - w, without cancellation
  double one_plus_w;   // 1 + w, without cancellation
  int attempts;        // Wood proposals used (1 for p = 3)
  bool ok;             // false: iteration cap reached or invalid input (fields are NaN)
};

namespace detail {

PDML_HOST_DEVICE inline VmfMarginalDraw vmf_invalid_marginal(int attempts) {
  const double nan = detail::quiet_nan_<double>();
  return VmfMarginalDraw{nan, nan, nan, attempts, false};
}

PDML_HOST_DEVICE inline VmfMarginalDraw vmf_marginal_from_complements(double one_minus_w,
                                                                      double one_plus_w,
                                                                      int attempts) {
  // Take w from the smaller complement: that one is the accurate one.
  const double w = one_minus_w <= one_plus_w ? 1.0 - one_minus_w : one_plus_w - 1.0;
  return VmfMarginalDraw{w, one_minus_w, one_plus_w, attempts, true};
}

}  // namespace detail

/// Everything vmf_draw_marginal needs that depends on (p, kappa) only: Wood's
/// envelope, computed once per distribution and shared by its samples (its
/// hypot and logarithms cost as much as a p = 128 tangent's projection).
struct VmfMarginalParams {
  int p;
  double kappa;
  double b;                    // Wood's b, rationalised (no cancellation)
  double x0;                   // (1 - b) / (1 + b)
  double one_minus_x0;         // 2 b / (1 + b)
  double log_one_minus_x0_sq;  // log(1 - x0^2)
  SymmetricBetaShape<double> beta_shape;  // (p - 1) / 2, for p >= 4
  bool valid;                  // p >= 2 and 0 <= kappa < inf
};

/// The parameters of vmf_draw_marginal for vMF(., kappa) on S^{p-1}.
PDML_HOST_DEVICE inline VmfMarginalParams vmf_marginal_params(int p, double kappa) {
  VmfMarginalParams params{p, kappa, 0.0, 0.0, 0.0, 0.0, SymmetricBetaShape<double>(), false};
  if (p < 2 || !(kappa >= 0.0) || !(kappa < detail::infinity_<double>())) {
    return params;
  }
  params.valid = true;
  if (p == 3) return params;  // exact inversion: no envelope
  // Wood (1994). Envelope parameter b = (-2k + sqrt(4k^2 + (p-1)^2)) / (p-1),
  // rationalised so that it does not cancel for large kappa.
  const double pm1 = static_cast<double>(p - 1);
  // Beyond 2^1000, 2 kappa may overflow: the same b from (p-1) / (2 kappa).
  params.b = kappa < 0x1p+1000 ? pm1 / (2.0 * kappa + ::hypot(2.0 * kappa, pm1))
                               : (0.5 * pm1 / kappa) / (1.0 + ::hypot(1.0, 0.5 * pm1 / kappa));
  params.one_minus_x0 = 2.0 * params.b / (1.0 + params.b);
  params.x0 = (1.0 - params.b) / (1.0 + params.b);
  params.log_one_minus_x0_sq = ::log(4.0 * params.b) - 2.0 * ::log1p(params.b);
  if (p >= 4) params.beta_shape = SymmetricBetaShape<double>(0.5 * pm1);
  return params;
}

/// Draws w = mu^T x for x ~ vMF(mu, kappa) on S^{p-1} with the parameters
/// from vmf_marginal_params(p, kappa) (p >= 2, kappa >= 0, finite; invalid
/// parameters give ok = false). kappa = 0 yields the uniform sphere's marginal.
PDML_HOST_DEVICE inline VmfMarginalDraw vmf_draw_marginal(RandomStream& stream,
                                                          const VmfMarginalParams& params) {
  if (!params.valid) return detail::vmf_invalid_marginal(0);
  const int p = params.p;
  const double kappa = params.kappa;
  if (p == 3) {
    // F(w) = (e^{kappa w} - e^{-kappa}) / (e^{kappa} - e^{-kappa}); with
    // u = F(w) and v = 1 - u (exact on the uniform lattice):
    //   1 - w = -log(u + v e^{-2 kappa}) / kappa,
    //   1 + w =  log1p( u (e^{2 kappa} - 1)) / kappa.
    const double u = uniform<double>(stream);
    const double v = 1.0 - u;
    if (kappa == 0.0) return detail::vmf_marginal_from_complements(2.0 * v, 2.0 * u, 1);
    // log(1 - v (1 - e^{-2k})) = log(u + v e^{-2k}): log1p form while the
    // argument is near 1, the sum of positive terms once it is small (there
    // the log1p argument -v (1 - e^{-2k}) would carry a rounding error
    // amplified by 1 / (u + v e^{-2k})).
    const double shrunk = -v * ::expm1(-2.0 * kappa);
    const double one_minus_w =
        (shrunk < 0.5 ? -::log1p(-shrunk) : -::log(u + v * ::exp(-2.0 * kappa))) / kappa;
    double one_plus_w;
    if (kappa < 300.0) {
      one_plus_w = ::log1p(u * ::expm1(2.0 * kappa)) / kappa;
    } else {
      one_plus_w = 2.0 - one_minus_w;  // here 1 - w <= log(2^53) / 300 < 0.13
    }
    return detail::vmf_marginal_from_complements(one_minus_w, one_plus_w, 1);
  }
  const double pm1 = static_cast<double>(p - 1);
  const double shape = 0.5 * pm1;
  const double b = params.b;
  const double one_minus_x0 = params.one_minus_x0;
  const double x0 = params.x0;
  const double log_one_minus_x0_sq = params.log_one_minus_x0_sq;
  for (int attempt = 1; attempt <= kVmfMaxAttempts; ++attempt) {
    // p >= 4: shape >= 1.5, the log-free symmetric Beta (shared normal pairs).
    double z_value, z_complement;
    if (p >= 4) {
      const SymmetricBetaDraw<double> z =
          symmetric_beta_shape_at_least_one<double>(stream, params.beta_shape);
      if (!z.ok) return detail::vmf_invalid_marginal(attempt);
      z_value = z.value;
      z_complement = z.complement;
    } else {
      const BetaDraw<double> z = beta<double>(stream, shape, shape);
      if (!z.ok) return detail::vmf_invalid_marginal(attempt);
      z_value = z.value;
      z_complement = z.complement;
    }
    const double e = exponential<double>(stream);
    // w = (1 - (1 + b) z) / (1 - (1 - b) z); with den = (1 - z) + b z:
    //   1 - w = 2 b z / den,   1 + w = 2 (1 - z) / den.
    const double den = z_complement + b * z_value;
    const double one_minus_w = 2.0 * b * z_value / den;
    const double one_plus_w = 2.0 * z_complement / den;
    // Accept iff kappa (w - x0) + (p-1) log((1 - x0 w) / (1 - x0^2)) >= log U,
    // with w - x0 = (1 - x0) - (1 - w), 1 - x0 w = (1 - x0) + x0 (1 - w)
    // (no cancellation of large terms) and log U = -E.
    const double log_ratio =
        kappa * (one_minus_x0 - one_minus_w) +
        pm1 * (::log(one_minus_x0 + x0 * one_minus_w) - log_one_minus_x0_sq);
    if (log_ratio + e >= 0.0) {
      return detail::vmf_marginal_from_complements(one_minus_w, one_plus_w, attempt);
    }
  }
  return detail::vmf_invalid_marginal(kVmfMaxAttempts);
}

/// Draws w = mu^T x for x ~ vMF(mu, kappa) on S^{p-1} (p >= 2, kappa >= 0,
/// finite). kappa = 0 yields the uniform sphere's marginal.
PDML_HOST_DEVICE inline VmfMarginalDraw vmf_draw_marginal(RandomStream& stream, int p,
                                                          double kappa) {
  return vmf_draw_marginal(stream, vmf_marginal_params(p, kappa));
}

// --------------------------------------------------------------- dw / dkappa

namespace detail {

// The quadrature's node loop evaluates log, log1p and exp 128 times per
// sample. On hosts with AVX-512 it uses the elementary functions below,
// written (like the normals' in random_stream.hpp) with IEEE operations only
// so that the 16-node loop vectorises (libm calls do not): ~4x faster there.
// Elsewhere (device, SSE2/AVX2 hosts, where GCC does not vectorise this loop
// and the polynomials are slower than libm's scalar routines) libm is used.
// Both are accurate to ~1-2 ulp; results differ between the two in the last
// bits only (the same holds for host vs device libm). Builds for the x86
// baseline choose between the two at run time (vmf_tail_panel below).
#if !PDML_DEVICE_COMPILATION && defined(__AVX512F__)
#define PDML_VMF_SIMD_QUADRATURE 1
#else
#define PDML_VMF_SIMD_QUADRATURE 0
#endif

// log(x) for a positive normal x (random_stream.hpp's atanh series).
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_quadrature_log(double x) {
  return -0.5 * minus_two_log<kFma>(x);
}

// log1p(z) for z >= 0: log(1 + z) corrected by the rounding of 1 + z.
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_quadrature_log1p(double z) {
  const double u = 1.0 + z;
  return vmf_quadrature_log<kFma>(u) + (z - (u - 1.0)) / u;
}

// exp(v) for v clamped to [-700, 700]: v = k ln2 + r (Cody-Waite, |r| <=
// ln2 / 2), degree-13 Taylor polynomial of e^r (truncation < 5e-18), 2^k from
// the exponent bits. The clamp only touches nodes below e^-700 of the peak.
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_quadrature_exp(double v) {
  v = v < -700.0 ? -700.0 : (v > 700.0 ? 700.0 : v);
  constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer
  const double k = fused_as<kFma>(v, 1.4426950408889634, kShifter) - kShifter;
  double r = fused_as<kFma>(-k, 6.93147180559890330187e-01, v);  // ln2 high part (exact k * hi)
  r = fused_as<kFma>(-k, 5.49792301870837115524e-14, r);           // ln2 low part
  double poly = 1.0 / 6227020800.0;
  poly = fused_as<kFma>(poly, r, 1.0 / 479001600.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 39916800.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 3628800.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 362880.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 40320.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 5040.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 720.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 120.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 24.0);
  poly = fused_as<kFma>(poly, r, 1.0 / 6.0);
  poly = fused_as<kFma>(poly, r, 0.5);
  poly = fused_as<kFma>(poly, r, 1.0);
  poly = fused_as<kFma>(poly, r, 1.0);
  // k + 1023 in [323, 1723] sits in the low mantissa bits of k + 1.5 2^52 + 1023.
  const double scale = bits_as_double(double_as_bits(k + (kShifter + 1023.0)) << 52);
  return poly * scale;
}

// The log of the tail integrand of dw/dkappa in the variable x in [0, 1]
// (y = m x^2 is the distance from the nearer end of [-1, 1]), relative to its
// value at x = 1 (which is the sample w itself):
//   (2a + 1) log x + a log1p(m (1 - x^2) / (2 - m)) + s m (x^2 - 1),
// with a = (p - 3) / 2, s = -kappa (upper tail) or +kappa (lower tail).
struct VmfTailLogWeight {
  double jacobian_power;  // 2a + 1 = p - 2
  double a;
  double m;
  double m_over_two_minus_m;
  double slope;  // s m

  PDML_HOST_DEVICE double operator()(double x) const {
    const double one_minus_x2 = (1.0 - x) * (1.0 + x);
    double value = a * ::log1p(m_over_two_minus_m * one_minus_x2) - slope * one_minus_x2;
    if (jacobian_power != 0.0) value += jacobian_power * ::log(x);
    return value;
  }
};

// Truncation point of the quadrature: an x in [lo, hi] beyond which (away
// from the peak) weight < level, given weight(lo) < level <= weight(hi) when
// `increasing` (reversed otherwise). The level crossing only needs bracketing,
// not locating: bisection stops once the bracket is 1/1024 of the distance
// from its inner end to the peak, and the outer end is returned, so the
// interval keeps everything above the level and is at most ~0.1% wider than
// needed (a tighter bracket does not change the quadrature's accuracy).
// Fixed cap of 40 steps (the old full-precision count).
PDML_HOST_DEVICE inline double vmf_bisect_level(const VmfTailLogWeight& weight, double lo,
                                                double hi, double level, bool increasing) {
  const double peak = increasing ? hi : lo;
  for (int step = 0; step < 40; ++step) {
    const double inner_distance = increasing ? peak - hi : lo - peak;
    if (hi - lo <= 0.0009765625 * inner_distance) break;
    const double mid = 0.5 * (lo + hi);
    const bool above = weight(mid) >= level;
    if (above == increasing) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return increasing ? lo : hi;
}

constexpr int kVmfPanelNodes = 16;

// The 16-node Gauss-Legendre rule on [-1, 1], nodes in ascending order
// (negative half first). Callers hold it in a local constexpr (a table the
// vectoriser sees as loop-invariant).
struct VmfPanelRule {
  double node[kVmfPanelNodes];
  double weight[kVmfPanelNodes];
};

PDML_HOST_DEVICE constexpr VmfPanelRule vmf_panel_rule() {
  return VmfPanelRule{
      {-0.98940093499164993260, -0.94457502307323257608, -0.86563120238783174388,
       -0.75540440835500303390, -0.61787624440264374845, -0.45801677765722738634,
       -0.28160355077925891323, -0.09501250983763744018, 0.09501250983763744018,
       0.28160355077925891323, 0.45801677765722738634, 0.61787624440264374845,
       0.75540440835500303390, 0.86563120238783174388, 0.94457502307323257608,
       0.98940093499164993260},
      {0.02715245941175409485, 0.06225352393864789286, 0.09515851168249278481,
       0.12462897125553387205, 0.14959598881657673208, 0.16915651939500253819,
       0.18260341504492358887, 0.18945061045506849629, 0.18945061045506849629,
       0.18260341504492358887, 0.16915651939500253819, 0.14959598881657673208,
       0.12462897125553387205, 0.09515851168249278481, 0.06225352393864789286,
       0.02715245941175409485}};
}

// A node's term of the dw/dkappa tail integral at v = 1 - x (0 < v < 1), relative
// to the integrand's peak: gauss_weight ((c - m) + m (1 - x^2)) exp(weight(x) - peak).
// Both terms of (c - m) + m (1 - x^2) are non-negative. kSimd: the vectorisable
// elementary functions above (with fused_as<kFma>), else libm's.
template <bool kSimd, bool kFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_tail_node_term(const VmfTailLogWeight& weight,
                                                             double c_minus_m, double m,
                                                             double peak, double v,
                                                             double gauss_weight) {
  const double one_minus_x2 = v * (2.0 - v);
  if constexpr (kSimd) {
    // weight(x) of VmfTailLogWeight with the vectorisable functions;
    // log x = log1p(-v) (nodes are interior: 0 < v < 1).
    const double safe_v = v < 1.0 - 0x1p-53 ? v : 1.0 - 0x1p-53;
    const double log_weight =
        weight.a * vmf_quadrature_log1p<kFma>(weight.m_over_two_minus_m * one_minus_x2) -
        weight.slope * one_minus_x2 + weight.jacobian_power * vmf_quadrature_log1p<kFma>(-safe_v);
    return gauss_weight * (c_minus_m + m * one_minus_x2) *
           vmf_quadrature_exp<kFma>(log_weight - peak);
  } else {
    double log_weight =
        weight.a * ::log1p(weight.m_over_two_minus_m * one_minus_x2) - weight.slope * one_minus_x2;
    if (weight.jacobian_power != 0.0) log_weight += weight.jacobian_power * ::log1p(-v);
    return gauss_weight * (c_minus_m + m * one_minus_x2) * ::exp(log_weight - peak);
  }
}

// One 16-node Gauss-Legendre panel of the dw/dkappa tail integral, given in
// v = 1 - x in [v_lo, v_hi]: the half width times the sum of
//   w_i ((c - m) + m (1 - x_i^2)) exp(weight(x_i) - peak).
// Nodes are placed in v, not x, because where the integrand lives near
// x = 1 (the lower tail of a concentrated distribution) 1 - x^2 = v (2 - v)
// must keep its relative precision: kappa m (1 - x^2) is the exponent, and
// 1 - x from a rounded x near 1 would be off by ~1e-10 relative at
// kappa = 1e6.
template <bool kSimd, bool kFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_tail_panel_body(const VmfTailLogWeight& weight,
                                                              double c_minus_m, double m,
                                                              double peak, double v_lo,
                                                              double v_hi) {
  constexpr VmfPanelRule rule = vmf_panel_rule();
  const double half = 0.5 * (v_hi - v_lo);
  const double center = v_lo + half;
  // Node-parallel (summed afterwards in a fixed order).
  double terms[kVmfPanelNodes];
  if constexpr (kSimd) {
  PDML_SIMD_LOOP
  for (int i = 0; i < kVmfPanelNodes; ++i) {
    terms[i] = vmf_tail_node_term<true, kFma>(weight, c_minus_m, m, peak,
                                              center + half * rule.node[i], rule.weight[i]);
  }
  } else {
  for (int i = 0; i < kVmfPanelNodes; ++i) {
    terms[i] = vmf_tail_node_term<false, kFma>(weight, c_minus_m, m, peak,
                                               center + half * rule.node[i], rule.weight[i]);
  }
  }
  double panel_sum = 0.0;
  for (int i = 0; i < kVmfPanelNodes; ++i) panel_sum += terms[i];
  return half * panel_sum;
}

#if PDML_HAS_CPU_DISPATCH
// Run-time dispatched (core/cpu_dispatch.hpp): the vectorised node loop at
// the AVX-512 level, libm below it (as PDML_VMF_SIMD_QUADRATURE chooses at
// compile time). The two agree to a few ulp.
PDML_TARGET_AVX512 inline double vmf_tail_panel_avx512(const VmfTailLogWeight& weight,
                                                       double c_minus_m, double m, double peak,
                                                       double v_lo, double v_hi) {
  return vmf_tail_panel_body<true, true>(weight, c_minus_m, m, peak, v_lo, v_hi);
}
#endif

PDML_HOST_DEVICE inline double vmf_tail_panel(const VmfTailLogWeight& weight, double c_minus_m,
                                              double m, double peak, double v_lo, double v_hi) {
#if PDML_HAS_CPU_DISPATCH
  if (cpu_level() == CpuLevel::avx512) {
    return vmf_tail_panel_avx512(weight, c_minus_m, m, peak, v_lo, v_hi);
  }
#endif
  return vmf_tail_panel_body<PDML_VMF_SIMD_QUADRATURE != 0, kFusedFma>(weight, c_minus_m, m, peak,
                                                                        v_lo, v_hi);
}

#if PDML_HAS_CPU_DISPATCH
PDML_TARGET_AVX512 inline double vmf_tail_node_term_avx512(const VmfTailLogWeight& weight,
                                                          double c_minus_m, double m, double peak,
                                                          double v, double gauss_weight) {
  return vmf_tail_node_term<true, true>(weight, c_minus_m, m, peak, v, gauss_weight);
}
#endif

// One node's term with the elementary functions vmf_tail_panel would use on this
// host (the device: libm's), for callers that spread the nodes over lanes.
PDML_HOST_DEVICE inline double vmf_tail_node_term_dispatched(const VmfTailLogWeight& weight,
                                                             double c_minus_m, double m,
                                                             double peak, double v,
                                                             double gauss_weight) {
#if PDML_HAS_CPU_DISPATCH
  if (cpu_level() == CpuLevel::avx512) {
    return vmf_tail_node_term_avx512(weight, c_minus_m, m, peak, v, gauss_weight);
  }
#endif
  return vmf_tail_node_term<PDML_VMF_SIMD_QUADRATURE != 0, kFusedFma>(weight, c_minus_m, m, peak,
                                                                       v, gauss_weight);
}

// Panels of the dw/dkappa quadrature: at most 32 graded ones, then 8 equal ones.
constexpr int kVmfGradedPanels = 32;
constexpr int kVmfEqualPanels = 8;

}  // namespace detail

/// Everything of the dw/dkappa quadrature but the integrand's sum over the nodes
/// (vmf_marginal_dw_dkappa below): the tail's log-weight, its peak, the truncation
/// and every panel's bounds. The bounds depend on the geometry only (the peak and
/// the truncation points from the log-weight, the grading from the branch point's
/// distance), never on integrand sums, so they are all known before any node is
/// evaluated: the sum over the flat node index j in [0, nodes()) may run in any
/// order or on any number of lanes (the CUDA sampler's rows reduce it across a
/// warp), each node term from node_term(j).
struct VmfDwDkappaPlan {
  bool quadrature;  // false: dw/dkappa = direct, no nodes
  double direct;
  detail::VmfTailLogWeight weight;
  double c_minus_m;  // (c - m) of the integrand, c = distance of the mean from the tail's end
  double m;          // distance of w from the tail's end
  double peak;       // the log-weight's maximum over the tail
  int graded_panels;
  // Graded panel k spans [graded_bounds[k], graded_bounds[k + 1]] in v = 1 - x.
  double graded_bounds[detail::kVmfGradedPanels + 1];
  // The equal panels: near_panels of them from graded_bounds[graded_panels] to split
  // (between the truncation next to w and the peak), the rest from split to v_end.
  double split;
  double v_end;
  int near_panels;

  PDML_HOST_DEVICE int panels() const { return graded_panels + detail::kVmfEqualPanels; }
  PDML_HOST_DEVICE int nodes() const { return panels() * detail::kVmfPanelNodes; }

  /// The bounds of panel k in v = 1 - x; false for an empty equal panel (no nodes).
  PDML_HOST_DEVICE bool panel_bounds(int k, double& lo, double& hi) const {
    if (k < graded_panels) {
      lo = graded_bounds[k];
      hi = graded_bounds[k + 1];
      return true;
    }
    const int panel = k - graded_panels;
    const double v = graded_bounds[graded_panels];
    const int far_panels = detail::kVmfEqualPanels - near_panels;
    const bool near = panel < near_panels;
    const double width = near ? (split - v) / near_panels
                              : (v_end - split) / (far_panels > 0 ? far_panels : 1);
    if (!(width > 0.0)) return false;
    lo = (near ? v : split) + static_cast<double>(near ? panel : panel - near_panels) * width;
    hi = near && panel == near_panels - 1
             ? split
             : (!near && panel == detail::kVmfEqualPanels - 1 ? v_end : lo + width);
    return true;
  }

  /// Node j's term, scaled so that dw/dkappa = finish(sum of all node terms): panel
  /// j / 16's half width times its Gauss-Legendre term (0 for an empty panel).
  PDML_HOST_DEVICE double node_term(int j) const {
    constexpr detail::VmfPanelRule rule = detail::vmf_panel_rule();
    const int i = j % detail::kVmfPanelNodes;
    double lo, hi;
    if (!panel_bounds(j / detail::kVmfPanelNodes, lo, hi)) return 0.0;
    const double half = 0.5 * (hi - lo);
    const double center = lo + half;
    return half * detail::vmf_tail_node_term_dispatched(weight, c_minus_m, m, peak,
                                                        center + half * rule.node[i],
                                                        rule.weight[i]);
  }

  /// dw/dkappa from the sum of all node terms (equivalently of vmf_tail_panel's
  /// half-width-scaled panel sums, which the CPU adds in panel order).
  PDML_HOST_DEVICE double finish(double sum) const { return 2.0 * m * sum * ::exp(peak); }
};

/// The plan of vmf_marginal_dw_dkappa (same arguments); cheap next to the nodes, so
/// lanes that share a sample may each compute it.
PDML_HOST_DEVICE inline VmfDwDkappaPlan vmf_dw_dkappa_plan(int p, double kappa,
                                                           double one_minus_w, double one_plus_w,
                                                           double one_minus_mean) {
  VmfDwDkappaPlan plan{};
  // Beyond 2^1000 (where 4 kappa below may overflow) u = kappa (1 - w) follows
  // Gamma((p-1)/2, 1) up to relative terms O(p / kappa) < 1e-290, and the integral
  // is exactly u / kappa^2 for that law: dw/dkappa = (1 - w) / kappa.
  if (kappa >= 0x1p+1000) {
    plan.direct = one_minus_w / kappa;
    return plan;
  }
  // (1 + A) - (1 + w) is taken as (1 - w) - (1 - A): no cancellation.
  const bool upper = one_minus_w <= one_minus_mean;
  const double m = upper ? one_minus_w : one_plus_w;
  if (!(m > 0.0)) return plan;  // direct = 0
  const double a = 0.5 * static_cast<double>(p - 3);
  const detail::VmfTailLogWeight weight{static_cast<double>(p - 2), a, m,
                                        m / (upper ? one_plus_w : one_minus_w),
                                        (upper ? -kappa : kappa) * m};

  // Location of the maximum of the integrand's log-weight over x in [0, 1]
  // (in y = m x^2: a root of a quadratic, solved without cancellation).
  double x_peak = 1.0;
  if (p == 2) {
    if (upper && weight(0.0) > 0.0) x_peak = 0.0;
  } else {
    const double k = kappa;
    double y_peak;
    if (upper) {
      const double bb = 4.0 * a + 1.0 + 4.0 * k;
      // sqrt(16 k^2 - 8 k + (4a + 1)^2) = hypot(4k - 1, sqrt(8a (2a + 1))):
      // a sum of non-negative terms that cannot overflow.
      const double root = ::hypot(4.0 * k - 1.0, ::sqrt(8.0 * a * (2.0 * a + 1.0)));
      y_peak = 4.0 * (2.0 * a + 1.0) / (bb + root);
    } else {
      const double bb = 4.0 * k - 4.0 * a - 1.0;
      const double root = ::hypot(bb, ::sqrt(16.0 * k * (2.0 * a + 1.0)));
      y_peak = bb <= 0.0 ? 4.0 * (2.0 * a + 1.0) / (root - bb) : (bb + root) / (4.0 * k);
    }
    x_peak = y_peak >= m ? 1.0 : ::sqrt(y_peak / m);
  }
  const double peak = weight(x_peak);
  const double level = peak - 60.0;
  double x_lo = 0.0;
  if (x_peak > 0.0 && (p > 2 || weight(0.0) < level)) {
    x_lo = detail::vmf_bisect_level(weight, 0.0, x_peak, level, true);
  }
  double x_hi = 1.0;
  if (x_peak < 1.0 && weight(1.0) < level) {
    x_hi = detail::vmf_bisect_level(weight, x_peak, 1.0, level, false);
  }
  plan.quadrature = true;
  plan.weight = weight;
  plan.m = m;
  plan.peak = peak;
  plan.c_minus_m = upper ? one_minus_mean - one_minus_w : one_minus_w - one_minus_mean;
  // Panels are laid out in v = 1 - x (see vmf_tail_panel), from v_start =
  // 1 - x_hi up to v_end = 1 - x_lo.
  plan.v_end = 1.0 - x_lo;
  double v = 1.0 - x_hi;
  plan.graded_bounds[0] = v;
  // Even p: the far end's factor (2 - m x^2)^a (a half-integer) has a branch
  // point at x_s = sqrt(2 / m) > 1, which comes within 1 - A of x = 1 when
  // the lower tail of a concentrated distribution is integrated (w just
  // below its mean). Equal panels then converge slowly (p = 2: 1e-6 relative
  // error). Panels next to x_hi are therefore graded geometrically: each is
  // as wide as its distance from x_s (the singularity sits one panel width
  // beyond it: 16-node Gauss-Legendre error ~(3 + sqrt 8)^-32 ~ 1e-24), until
  // they reach the width of the equal panels. Odd p: a is a non-negative
  // integer, the factor is a polynomial, nothing to grade.
  if (p % 2 == 0) {
    const double other = upper ? one_plus_w : one_minus_w;  // 2 - m, exact
    // x_s - 1 = (2/m - 1) / (sqrt(2/m) + 1), without cancellation.
    double gap = (other / m) / (::sqrt(2.0 / m) + 1.0) + v;
    const double equal_width = 0.125 * (plan.v_end - v);
    while (plan.graded_panels < detail::kVmfGradedPanels && gap < equal_width && v < plan.v_end) {
      const double next = v + gap < plan.v_end ? v + gap : plan.v_end;
      plan.graded_bounds[++plan.graded_panels] = next;
      gap += next - v;
      v = next;
    }
  }
  // Eight equal panels of 16 nodes over the rest, split between the two
  // sides of the peak.
  const double v_peak = 1.0 - x_peak;
  plan.split = v_peak > v ? v_peak : v;
  const double near_width = plan.split - v;    // between x_hi and the peak
  const double far_width = plan.v_end - plan.split;  // between the peak and x_lo
  plan.near_panels = near_width > 0.0 ? (far_width > 0.0 ? 4 : 8) : 0;
  return plan;
}

/// The implicit-reparameterisation derivative dw/dkappa of a sample w of the
/// vMF marginal f(w) ~ (1 - w^2)^((p-3)/2) exp(kappa w):
///   dw/dkappa = -(dF(w)/dkappa) / f(w)
///             = int_w^1 (t - A) f(t) dt / f(w) = int_{-1}^w (A - t) f(t) dt / f(w),
/// A = A_p(kappa) = E[w]. The tail on the far side of w from A is
/// integrated (its integrand has one sign, so nothing cancels), in
/// y = m x^2 with m the distance of w from that end, by composite 16-node
/// Gauss-Legendre: eight equal panels around the integrand's maximum,
/// truncated where it falls below e^-60 of that maximum, preceded for even p
/// by panels graded towards the far end's branch point when it is near
/// (AVX-512 hosts: vectorised node loop, see PDML_VMF_SIMD_QUADRATURE).
/// Nodes are placed in 1 - x so that 1 - x^2 keeps its relative precision.
/// Inputs: 1 - w, 1 + w, 1 - A (all without cancellation; (1 + A) - (1 + w)
/// is taken as (1 - w) - (1 - A)). Measured relative accuracy against a 50-digit tanh-sinh
/// evaluation of the same integral, p in {2, 3, 4, 5, 16, 128, 512, 4096},
/// kappa in [0, 1e6], w from -8 to +8 standard deviations around its mean:
/// at most 1.1e-15 for p <= 16, 8.4e-15 for p = 512, 2.3e-14 for p = 4096.
/// The plan (vmf_dw_dkappa_plan) and the panels' sums in panel order here; the
/// CUDA sampler sums the same node terms across lanes instead (docs/cuda.md).
PDML_HOST_DEVICE inline double vmf_marginal_dw_dkappa(int p, double kappa, double one_minus_w,
                                                      double one_plus_w, double one_minus_mean) {
  const VmfDwDkappaPlan plan = vmf_dw_dkappa_plan(p, kappa, one_minus_w, one_plus_w,
                                                  one_minus_mean);
  if (!plan.quadrature) return plan.direct;
  double sum = 0.0;
  for (int k = 0; k < plan.panels(); ++k) {
    double lo, hi;
    if (!plan.panel_bounds(k, lo, hi)) continue;
    sum += detail::vmf_tail_panel(plan.weight, plan.c_minus_m, plan.m, plan.peak, lo, hi);
  }
  return plan.finish(sum);
}

/// The same with 1 + A as well, which the integral does not need (kept for source
/// compatibility; prefer the five-argument form, which spares the caller computing it).
PDML_HOST_DEVICE inline double vmf_marginal_dw_dkappa(int p, double kappa, double one_minus_w,
                                                      double one_plus_w, double one_minus_mean,
                                                      double /*one_plus_mean*/) {
  return vmf_marginal_dw_dkappa(p, kappa, one_minus_w, one_plus_w, one_minus_mean);
}

// ----------------------------------------------------------- the full sample

namespace detail {

// Dot products and squared norms accumulate in double, in kVmfDotLanes
// interleaved accumulators summed pairwise at the end. The lane count is what
// makes the loops fast: each accumulator's add waits for its previous one, so
// 16 independent ones keep the FMA units busy (4 would leave them mostly
// idle for p <= 512); it also keeps the rounding error of a p = 4096 sum
// within a few ulp. The order is fixed, so host and device agree. The
// lane loop is marked for SIMD: without the mark GCC vectorises the outer
// loop instead, with shuffles, ~10x slower for double.
constexpr int kVmfDotLanes = 16;

// Pairwise sum of the kVmfDotLanes accumulators (fixed order).
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_sum_lanes(const double (&acc)[kVmfDotLanes]) {
  double half[kVmfDotLanes / 2];
  for (int k = 0; k < kVmfDotLanes / 2; ++k) half[k] = acc[k] + acc[k + kVmfDotLanes / 2];
  double quarter[kVmfDotLanes / 4];
  for (int k = 0; k < kVmfDotLanes / 4; ++k) quarter[k] = half[k] + half[k + kVmfDotLanes / 4];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

// The multiply-adds are written as fused_as<kFma>: the dispatched kernels
// (kFma = true) leave the compiler nothing to contract, so a kernel gives the
// same bits wherever it is inlined or cloned.
template <bool kFma, class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_dot_body(const T* a, const T* b, int n) {
  // Below one lane-width (small p) a single accumulator is cheaper.
  double tail = 0.0;
  int i = n - n % kVmfDotLanes;
  for (int j = i; j < n; ++j) {
    tail = fused_as<kFma>(static_cast<double>(a[j]), static_cast<double>(b[j]), tail);
  }
  if (i == 0) return tail;
  double acc[kVmfDotLanes] = {};
  for (int start = 0; start < i; start += kVmfDotLanes) {
    PDML_SIMD_LOOP
    for (int k = 0; k < kVmfDotLanes; ++k) {
      acc[k] = fused_as<kFma>(static_cast<double>(a[start + k]), static_cast<double>(b[start + k]),
                              acc[k]);
    }
  }
  return vmf_sum_lanes(acc) + tail;
}

// mu^T g and |g|^2 in one pass (same accumulation scheme as vmf_dot).
template <bool kFma, class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE void vmf_dot_and_norm_body(const T* mu, const T* g, int n,
                                                              double& dot, double& norm2) {
  double dot_tail = 0.0;
  double norm_tail = 0.0;
  const int i = n - n % kVmfDotLanes;
  for (int j = i; j < n; ++j) {
    const double gj = static_cast<double>(g[j]);
    dot_tail = fused_as<kFma>(static_cast<double>(mu[j]), gj, dot_tail);
    norm_tail = fused_as<kFma>(gj, gj, norm_tail);
  }
  if (i == 0) {
    dot = dot_tail;
    norm2 = norm_tail;
    return;
  }
  double d[kVmfDotLanes] = {};
  double q[kVmfDotLanes] = {};
  for (int start = 0; start < i; start += kVmfDotLanes) {
    PDML_SIMD_LOOP
    for (int k = 0; k < kVmfDotLanes; ++k) {
      const double gk = static_cast<double>(g[start + k]);
      d[k] = fused_as<kFma>(static_cast<double>(mu[start + k]), gk, d[k]);
      q[k] = fused_as<kFma>(gk, gk, q[k]);
    }
  }
  dot = vmf_sum_lanes(d) + dot_tail;
  norm2 = vmf_sum_lanes(q) + norm_tail;
}

#if PDML_HAS_CPU_DISPATCH
// Run-time dispatched kernels (core/cpu_dispatch.hpp); the wider levels fuse
// the accumulation, so their sums agree with the baseline level's to a few ulp.
template <class T>
PDML_TARGET_AVX512 inline double vmf_dot_avx512(const T* a, const T* b, int n) {
  return vmf_dot_body<true>(a, b, n);
}
template <class T>
PDML_TARGET_AVX2 inline double vmf_dot_avx2(const T* a, const T* b, int n) {
  return vmf_dot_body<true>(a, b, n);
}
template <class T>
PDML_TARGET_AVX512 inline void vmf_dot_and_norm_avx512(const T* mu, const T* g, int n,
                                                        double& dot, double& norm2) {
  vmf_dot_and_norm_body<true>(mu, g, n, dot, norm2);
}
template <class T>
PDML_TARGET_AVX2 inline void vmf_dot_and_norm_avx2(const T* mu, const T* g, int n, double& dot,
                                                    double& norm2) {
  vmf_dot_and_norm_body<true>(mu, g, n, dot, norm2);
}
#endif

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_dot(const T* a, const T* b, int n) {
#if PDML_HAS_CPU_DISPATCH
  switch (cpu_level()) {
    case CpuLevel::avx512: return vmf_dot_avx512(a, b, n);
    case CpuLevel::avx2: return vmf_dot_avx2(a, b, n);
    default: break;
  }
#endif
  return vmf_dot_body<kFusedFma>(a, b, n);
}

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE void vmf_dot_and_norm(const T* mu, const T* g, int n,
                                                         double& dot, double& norm2) {
#if PDML_HAS_CPU_DISPATCH
  switch (cpu_level()) {
    case CpuLevel::avx512: vmf_dot_and_norm_avx512(mu, g, n, dot, norm2); return;
    case CpuLevel::avx2: vmf_dot_and_norm_avx2(mu, g, n, dot, norm2); return;
    default: break;
  }
#endif
  vmf_dot_and_norm_body<kFusedFma>(mu, g, n, dot, norm2);
}

}  // namespace detail

/// kappa = |eta| and mu = eta / kappa (overflow- and underflow-safe: the
/// scaled norm of core/scaled_norm.hpp); for eta = 0 returns 0 and mu = e_1
/// (any direction gives the same, uniform, distribution). A |eta| above the
/// largest T comes back as +inf (vmf_sample rejects such rows).
template <class T>
PDML_HOST_DEVICE T vmf_mean_direction(const T* eta, int p, T* mu) {
  // |eta|^2 accumulated in double (vectorised lanes); the scaled pass only
  // runs where that sum overflowed or lost precision to underflow.
  const ScaledNorm norm = scaled_norm_given_sum_of_squares(eta, p, 1, detail::vmf_dot(eta, eta, p));
  if (!(norm.value > 0.0)) {
    for (int i = 0; i < p; ++i) mu[i] = T(i == 0 ? 1 : 0);
    return T(0);
  }
  divide_by_scaled_norm(eta, p, 1, norm, mu);
  return static_cast<T>(norm.to_double());
}

/// Below this concentration, sqrt of the smallest normal T (1.5e-154 in double,
/// 1.1e-19 in float), vMF(mu, kappa) is the uniform distribution to T's precision
/// (they differ by O(kappa)) while the pathwise derivative of a sample, ~1/kappa,
/// could overflow T: the batched backward (vmf_sample.hpp, and the CUDA sampler's
/// functors, cuda/pdml/cuda/distributions/detail/vmf_sample_functors.hpp) then uses the kappa = 0
/// estimator (vmf_sample_one_backward_uniform), exact in expectation up to O(kappa).
template <class T>
PDML_HOST_DEVICE constexpr T vmf_uniform_kappa() {
  return sizeof(T) == sizeof(float) ? T(1.0842021724855044e-19) : T(1.4916681462400413e-154);
}

/// Everything about one sample that its backward needs, besides the unit
/// tangent itself.
template <class T>
struct VmfSampleDraw {
  double w;
  double one_minus_w;
  double one_plus_w;
  T projection_ratio;  // (mu^T g) / |g - (mu^T g) mu| for the Gaussian g
  int attempts;        // Wood proposals used
  bool ok;             // false: iteration cap reached; x is NaN then
};

namespace detail {

// The steps of vmf_sample_one, shared with the CUDA sampler's rows (which spread each
// step's loop over p across a group of lanes; cuda/pdml/cuda/distributions/detail/
// vmf_sample_functors.hpp).

// Usual case (|mu^T g| <= |g| / 2): one projection pass is accurate to
// 2 eps and |v|^2 = |g|^2 - (mu^T g)^2 does not cancel, so v is never
// stored: two passes over p in all. Otherwise (g nearly parallel to mu,
// frequent for small p) the projection leaves a component along mu of
// relative size eps |g| / |v|: project twice (vmf_project_twice) and measure
// |v| directly.
PDML_HOST_DEVICE PDML_FORCE_INLINE bool vmf_one_projection(double mu_dot_g, double g_norm2) {
  return mu_dot_g * mu_dot_g <= 0.25 * g_norm2;
}

PDML_HOST_DEVICE PDML_FORCE_INLINE double vmf_projected_norm(double mu_dot_g, double g_norm2) {
  return ::sqrt(g_norm2 - mu_dot_g * mu_dot_g);
}

// v = g - coefficient mu, then v -= (mu^T v) mu (v may be g itself).
template <class T>
PDML_HOST_DEVICE void vmf_project_twice(int p, const T* mu, const T* g, T coefficient, T* v) {
  for (int i = 0; i < p; ++i) v[i] = g[i] - coefficient * mu[i];
  const T residual = static_cast<T>(vmf_dot(mu, v, p));
  for (int i = 0; i < p; ++i) v[i] -= residual * mu[i];
}

// The record of a draw; not ok (NaN projection ratio) when the marginal failed or
// the projected Gaussian vanished.
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE VmfSampleDraw<T> vmf_sample_record(
    const VmfMarginalDraw& marginal, double mu_dot_g, double norm) {
  if (!marginal.ok || !(norm > 0.0)) {
    return VmfSampleDraw<T>{marginal.w, marginal.one_minus_w, marginal.one_plus_w,
                            quiet_nan_<T>(), marginal.attempts, false};
  }
  return VmfSampleDraw<T>{marginal.w, marginal.one_minus_w, marginal.one_plus_w,
                          static_cast<T>(mu_dot_g / norm), marginal.attempts, true};
}

// Step 3, x = w mu + sqrt(1 - w^2) v / |v| element by element, with v = source -
// coefficient mu (source: g, or the twice projected v with coefficient 0).
template <class T>
struct VmfSampleCombine {
  T along;
  T across;
  T inv_norm;
  T coefficient;
  PDML_HOST_DEVICE PDML_FORCE_INLINE T tangent_part(T source, T mu) const {
    return source - coefficient * mu;
  }
  PDML_HOST_DEVICE PDML_FORCE_INLINE T sample(T mu, T v) const { return along * mu + across * v; }
  PDML_HOST_DEVICE PDML_FORCE_INLINE T unit_tangent(T v) const { return v * inv_norm; }
};

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE VmfSampleCombine<T> vmf_sample_combine(
    const VmfMarginalDraw& marginal, double norm, T coefficient) {
  return VmfSampleCombine<T>{static_cast<T>(marginal.w),
                             static_cast<T>(::sqrt(marginal.one_minus_w * marginal.one_plus_w) /
                                            norm),
                             static_cast<T>(1.0 / norm), coefficient};
}

}  // namespace detail

/// Draws x ~ vMF(mu, kappa) on S^{p-1} into x[0 .. p). mu must be a unit
/// vector, kappa >= 0. `unit_tangent` (p values, may be null) receives t, the
/// unit vector of mu-perp with x = w mu + sqrt(1 - w^2) t.
/// `marginal` = vmf_marginal_params(p, kappa), computed once per distribution.
template <class T>
PDML_HOST_DEVICE VmfSampleDraw<T> vmf_sample_one(RandomStream& stream, int p, const T* mu,
                                                 const VmfMarginalParams& marginal_params, T* x,
                                                 T* unit_tangent) {
  // 1. Tangent: g ~ N(0, I_p) projected onto mu-perp. x holds g meanwhile.
  fill_normals<T>(stream, x, p);
  double mu_dot_g, g_norm2;
  detail::vmf_dot_and_norm(mu, x, p, mu_dot_g, g_norm2);
  const T* source = x;  // holds g (one projection) or v (two)
  T coefficient = static_cast<T>(mu_dot_g);
  double norm;
  if (detail::vmf_one_projection(mu_dot_g, g_norm2)) {
    norm = detail::vmf_projected_norm(mu_dot_g, g_norm2);
  } else {
    T* v = unit_tangent != nullptr ? unit_tangent : x;
    detail::vmf_project_twice(p, mu, x, coefficient, v);
    norm = ::sqrt(detail::vmf_dot(v, v, p));
    source = v;
    coefficient = T(0);
  }
  // 2. The marginal w.
  const VmfMarginalDraw marginal = vmf_draw_marginal(stream, marginal_params);
  const VmfSampleDraw<T> draw = detail::vmf_sample_record<T>(marginal, mu_dot_g, norm);
  if (!draw.ok) {
    const T nan = detail::quiet_nan_<T>();
    for (int i = 0; i < p; ++i) {
      x[i] = nan;
      if (unit_tangent != nullptr) unit_tangent[i] = nan;
    }
    return draw;
  }
  // 3. x = w mu + sqrt(1 - w^2) v / |v|.
  const detail::VmfSampleCombine<T> combine =
      detail::vmf_sample_combine<T>(marginal, norm, coefficient);
  if (unit_tangent != nullptr) {
    for (int i = 0; i < p; ++i) {
      const T v = combine.tangent_part(source[i], mu[i]);
      x[i] = combine.sample(mu[i], v);
      unit_tangent[i] = combine.unit_tangent(v);
    }
  } else {
    for (int i = 0; i < p; ++i) {
      x[i] = combine.sample(mu[i], combine.tangent_part(source[i], mu[i]));
    }
  }
  return draw;
}

/// The same with the marginal's parameters computed here.
template <class T>
PDML_HOST_DEVICE VmfSampleDraw<T> vmf_sample_one(RandomStream& stream, int p, const T* mu,
                                                 T kappa, T* x, T* unit_tangent) {
  return vmf_sample_one(stream, p, mu, vmf_marginal_params(p, static_cast<double>(kappa)), x,
                        unit_tangent);
}

/// Backward of one sample for kappa > 0: adds dL/d(eta) to grad_eta[0 .. p)
/// given G = dL/dx, the sample's mean direction mu, concentration kappa, unit
/// tangent t, w (with 1 - w, 1 + w), the projection ratio s and
/// dw/dkappa. With Gm = G^T mu, Gt = G^T t, r = sqrt(1 - w^2):
///   dL/dkappa = (Gm - (w / r) Gt) dw/dkappa
///   (I - mu mu^T) dL/dmu = (w - s r)(G - Gm mu) + r (s Gt - Gm) t
///   dL/deta = dL/dkappa mu + (I - mu mu^T) dL/dmu / kappa.
/// The coefficients of that backward, dL/deta = g G + m mu + t_coef t, from Gm and Gt
/// (shared with the CUDA rows, which reduce Gm and Gt across lanes).
template <class T>
struct VmfSampleBackwardCoefficients {
  T g;
  T mu;
  T tangent;
};

template <class T>
PDML_HOST_DEVICE VmfSampleBackwardCoefficients<T> vmf_sample_backward_coefficients(
    double gm, double gt, T kappa, double w, double one_minus_w, double one_plus_w,
    T projection_ratio, double dw_dkappa) {
  const double r = ::sqrt(one_minus_w * one_plus_w);
  const double dl_dw = r > 0.0 ? gm - (w / r) * gt : gm;
  const double dl_dkappa = dl_dw * dw_dkappa;
  const double inv_kappa = 1.0 / static_cast<double>(kappa);
  const double s = static_cast<double>(projection_ratio);
  return VmfSampleBackwardCoefficients<T>{static_cast<T>((w - s * r) * inv_kappa),
                                          static_cast<T>(dl_dkappa - (w - s * r) * gm * inv_kappa),
                                          static_cast<T>(r * (s * gt - gm) * inv_kappa)};
}

template <class T>
PDML_HOST_DEVICE void vmf_sample_one_backward(int p, const T* mu, T kappa, const T* unit_tangent,
                                              double w, double one_minus_w, double one_plus_w,
                                              T projection_ratio, double dw_dkappa,
                                              const T* grad_x, T* grad_eta) {
  const double gm = detail::vmf_dot(grad_x, mu, p);
  const double gt = detail::vmf_dot(grad_x, unit_tangent, p);
  const VmfSampleBackwardCoefficients<T> coef = vmf_sample_backward_coefficients(
      gm, gt, kappa, w, one_minus_w, one_plus_w, projection_ratio, dw_dkappa);
  for (int i = 0; i < p; ++i) {
    grad_eta[i] += coef.g * grad_x[i] + coef.mu * mu[i] + coef.tangent * unit_tangent[i];
  }
}

/// Backward of one sample drawn at kappa = 0 (eta = 0, x uniform). The
/// pathwise derivative in mu does not exist there, so an unbiased estimator
/// of d E[L] / d eta at eta = 0 is used instead: with a direction nu drawn
/// uniformly (independently of x), w = nu^T x, t = (x - w nu) / sqrt(1 - w^2),
///   grad = p (dL/dkappa along nu) nu,
/// whose expectation over nu is E[L(x) x] = dE[L]/d eta. nu is drawn from the
/// same RandomStream (callers position it at block 2^31, see vmf_sample.hpp).
/// `scratch` holds 2p values.
template <class T>
PDML_HOST_DEVICE void vmf_sample_one_backward_uniform(RandomStream& stream, int p, const T* x,
                                                      const T* grad_x, T* scratch, T* grad_eta) {
  T* nu = scratch;
  T* tangent = scratch + p;
  fill_normals<T>(stream, nu, p);
  const double nu_norm = ::sqrt(detail::vmf_dot(nu, nu, p));
  if (!(nu_norm > 0.0)) return;
  for (int i = 0; i < p; ++i) nu[i] = static_cast<T>(nu[i] / nu_norm);
  const double w = detail::vmf_dot(nu, x, p);
  double one_minus = 1.0 - w;
  double one_plus = 1.0 + w;
  // For |w| near 1 the complements come from |x - nu|^2 / 2 (x, nu unit).
  if (w > 0.5 || w < -0.5) {
    double sq = 0.0;
    const double sign = w > 0.0 ? 1.0 : -1.0;
    for (int i = 0; i < p; ++i) {
      const double d = static_cast<double>(x[i]) - sign * static_cast<double>(nu[i]);
      sq += d * d;
    }
    if (w > 0.0) {
      one_minus = 0.5 * sq;
      one_plus = 2.0 - one_minus;
    } else {
      one_plus = 0.5 * sq;
      one_minus = 2.0 - one_plus;
    }
  }
  const double r = ::sqrt(one_minus * one_plus);
  if (!(r > 0.0)) return;
  for (int i = 0; i < p; ++i) {
    tangent[i] = static_cast<T>((static_cast<double>(x[i]) - w * nu[i]) / r);
  }
  const double gm = detail::vmf_dot(grad_x, nu, p);
  const double gt = detail::vmf_dot(grad_x, tangent, p);
  const double dw_dkappa = vmf_marginal_dw_dkappa(p, 0.0, one_minus, one_plus, 1.0);
  const double dl_dkappa = (gm - (w / r) * gt) * dw_dkappa;
  const T coef = static_cast<T>(static_cast<double>(p) * dl_dkappa);
  for (int i = 0; i < p; ++i) grad_eta[i] += coef * nu[i];
}

}  // namespace pdml
