// SPDX-License-Identifier: MIT
#pragma once
// A device-callable stream of random numbers addressed by (RngKey, stream
// index), with uniform, normal, exponential, gamma and beta draws.
//
// Counter layout (docs/math.md, section "random"):
//   Philox key   : key0 = low 32 bits of seed, key1 = high 32 bits of seed
//   counter word0: block counter inside the stream (0, 1, 2, ...)
//   counter word1..word3: the 96-bit number  offset * 2^32 + stream_index
//                  (word1 = low 32 bits, word3 = high 32 bits)
// Distinct (offset, stream_index) pairs with stream_index < 2^32 therefore
// address disjoint counter ranges; a stream owns 2^32 blocks (2^34 words).
// The bits drawn depend only on (seed, offset, stream_index) and on the order
// of draws inside the stream: never on threads, batch layout or host/device.
//
// Everything here follows the device rules (no exceptions, no allocation,
// bounded loops); rejection samplers report failure through `ok` flags.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/core/cpu_dispatch.hpp"
#include "pdml/math/detail/scalar.hpp"
#include "pdml/random/philox.hpp"

// Asks the host compiler to vectorise a lane loop with `#pragma omp simd`, when
// the pragma is understood: -fopenmp, or -fopenmp-simd (which defines no macro of
// its own, so pdml::pdml and pdml.pc add PDML_OPENMP_SIMD with it). Elsewhere the
// pragma is left out rather than risk an unknown-pragma warning.
#if !PDML_DEVICE_COMPILATION && (defined(_OPENMP) || defined(PDML_OPENMP_SIMD))
#define PDML_SIMD_LOOP _Pragma("omp simd")
#else
#define PDML_SIMD_LOOP
#endif

namespace pdml {

/// One random stream: Philox4x32-10 blocks for a fixed (key, stream index)
/// and an increasing block counter. Words are handed out in block order
/// (word0, word1, word2, word3, then the next block).
class RandomStream {
 public:
  PDML_HOST_DEVICE RandomStream(RngKey key, std::uint64_t stream_index)
      : key0_(static_cast<std::uint32_t>(key.seed)),
        key1_(static_cast<std::uint32_t>(key.seed >> 32)),
        word1_(static_cast<std::uint32_t>(stream_index)),
        word23_(key.offset + (stream_index >> 32)),
        block_counter_(0),
        buffered_(0) {}

  /// The next whole block. Any words left over from a partially consumed
  /// block are discarded, so bulk draws always start at a block boundary.
  PDML_HOST_DEVICE PDML_FORCE_INLINE PhiloxBlock next_block() {
    buffered_ = 0;
    return block_at(block_counter_++);
  }

  /// The block `index` of this stream, without advancing the stream.
  PDML_HOST_DEVICE PDML_FORCE_INLINE PhiloxBlock block_at(std::uint32_t index) const {
    PhiloxBlock counter{{index, word1_, static_cast<std::uint32_t>(word23_),
                         static_cast<std::uint32_t>(word23_ >> 32)}};
    return philox4x32_10(counter, key0_, key1_);
  }

  /// Blocks first .. first + kLanes - 1 of this stream, word-major
  /// (words[w][lane]); written lane-parallel so that compilers vectorise it.
  template <int kLanes>
  PDML_HOST_DEVICE PDML_FORCE_INLINE void blocks_at(std::uint32_t first,
                                                    std::uint32_t (&words)[4][kLanes]) const {
    // One lane per block; the ten rounds are unrolled inside the lane loop so
    // that the lane loop itself is the one the compiler vectorises.
    PDML_SIMD_LOOP
    for (int l = 0; l < kLanes; ++l) {
      std::uint32_t c0 = first + static_cast<std::uint32_t>(l);
      std::uint32_t c1 = word1_;
      std::uint32_t c2 = static_cast<std::uint32_t>(word23_);
      std::uint32_t c3 = static_cast<std::uint32_t>(word23_ >> 32);
      std::uint32_t k0 = key0_, k1 = key1_;
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#pragma GCC unroll 10
#endif
      for (int round = 0; round < 10; ++round) {
        const std::uint64_t p0 = static_cast<std::uint64_t>(detail::kPhiloxMultiplier0) * c0;
        const std::uint64_t p1 = static_cast<std::uint64_t>(detail::kPhiloxMultiplier1) * c2;
        c0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
        c2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
        c1 = static_cast<std::uint32_t>(p1);
        c3 = static_cast<std::uint32_t>(p0);
        k0 += detail::kPhiloxWeyl0;
        k1 += detail::kPhiloxWeyl1;
      }
      words[0][l] = c0;
      words[1][l] = c1;
      words[2][l] = c2;
      words[3][l] = c3;
    }
  }

  /// Skips `count` whole blocks (used after bulk draws done with block_at).
  PDML_HOST_DEVICE void skip_blocks(std::uint32_t count) {
    buffered_ = 0;
    block_counter_ += count;
  }

  PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint32_t next_u32() {
    if (buffered_ == 0) {
      buffer_ = block_at(block_counter_++);
      buffered_ = 4;
    }
    return buffer_.word[4 - buffered_--];
  }

  /// Two consecutive words; the first one is the low half.
  PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint64_t next_u64() {
    const std::uint64_t low = next_u32();
    const std::uint64_t high = next_u32();
    return low | (high << 32);
  }

  /// Number of blocks started so far (the next fresh block's index).
  PDML_HOST_DEVICE std::uint32_t blocks_used() const { return block_counter_; }

 private:
  std::uint32_t key0_;
  std::uint32_t key1_;
  std::uint32_t word1_;
  std::uint64_t word23_;
  std::uint32_t block_counter_;
  int buffered_;
  PhiloxBlock buffer_{};
};

// ------------------------------------------------------------------ uniforms
//
// Uniforms lie on the lattice (k + 1/2) 2^-m, k = 0 .. 2^m - 1, with m = 52
// for double and m = 23 for float: every value is exact, the interval is open
// (no 0 for log, no 1 for log1p(-u)), and 1 - u is again an exact lattice
// point, so complements never lose precision. m is one less than the
// significand width because (2k + 1) must stay representable.

/// Uniform in (0, 1) from one 64-bit integer (double) ...
/// (1 + k 2^-52) - (1 - 2^-53) = (k + 1/2) 2^-52 exactly (Sterbenz), which
/// avoids an integer-to-double conversion (not vectorisable on AVX2).
PDML_HOST_DEVICE PDML_FORCE_INLINE double uniform_from_bits(std::uint64_t bits) {
  const std::uint64_t one_plus = (bits >> 12) | 0x3ff0000000000000ULL;
  double value;
  std::memcpy(&value, &one_plus, sizeof value);
  return value - 0x1.fffffffffffffp-1;
}

/// ... or from one 32-bit integer (float).
PDML_HOST_DEVICE PDML_FORCE_INLINE float uniform_from_bits(std::uint32_t bits) {
  const std::uint32_t one_plus = (bits >> 9) | 0x3f800000u;
  float value;
  std::memcpy(&value, &one_plus, sizeof value);
  return value - 0x1.fffffep-1f;
}

namespace detail {
template <class T>
struct UniformDraw;
template <>
struct UniformDraw<double> {
  PDML_HOST_DEVICE static double draw(RandomStream& s) { return uniform_from_bits(s.next_u64()); }
};
template <>
struct UniformDraw<float> {
  PDML_HOST_DEVICE static float draw(RandomStream& s) { return uniform_from_bits(s.next_u32()); }
};
}  // namespace detail

/// Uniform in the open interval (0, 1): one word (float) or two (double).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T uniform(RandomStream& stream) {
  return detail::UniformDraw<T>::draw(stream);
}

// -------------------------------------------------------------------- normals
//
// Box-Muller with pdml's own -2 log(u) and sin/cos(2 pi u): only IEEE
// operations that are correctly rounded everywhere (+, -, *, /, sqrt, fma,
// floor, bit casts), every multiply-add written as an explicit fma. So the
// normals are bit-identical on host and device (no libm differences, no
// compiler-dependent contraction) whenever the host is compiled with FMA
// (see `fused`).

namespace detail {

// fused multiply-add where the hardware has it (always on CUDA devices; on
// x86 hosts when compiled with FMA, e.g. -march=haswell or -march=native).
// Without hardware FMA, ::fma is a slow software routine, so the host falls
// back to a * b + c: the normals then differ from the device's in the last
// bits (they remain correct to ~1 ulp). Exception: fill_normals in builds
// with run-time dispatch (core/cpu_dispatch.hpp) always fuses (see there).
#if PDML_DEVICE_COMPILATION || defined(__FMA__) || defined(__aarch64__)
#define PDML_FUSED_FMA 1
#else
#define PDML_FUSED_FMA 0
#endif
constexpr bool kFusedFma = PDML_FUSED_FMA != 0;
// The same with the choice made by the caller: the run-time dispatched
// kernels (core/cpu_dispatch.hpp) always fuse, whatever the flags, so that
// every dispatch level draws the same bits.
template <bool kFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double fused_as(double a, double b, double c) {
  if constexpr (kFma) {
    return ::fma(a, b, c);
  } else {
    return a * b + c;
  }
}
template <bool kFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE float fused_as(float a, float b, float c) {
  if constexpr (kFma) {
    return ::fmaf(a, b, c);
  } else {
    return a * b + c;
  }
}
PDML_HOST_DEVICE PDML_FORCE_INLINE double fused(double a, double b, double c) {
  return fused_as<kFusedFma>(a, b, c);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE float fused(float a, float b, float c) {
  return fused_as<kFusedFma>(a, b, c);
}

// Bit casts: __builtin_bit_cast where available (GCC's vectoriser does not
// see through memcpy), memcpy otherwise; CUDA device code uses intrinsics.
#if defined(__CUDA_ARCH__)
PDML_HOST_DEVICE PDML_FORCE_INLINE double bits_as_double(std::uint64_t bits) {
  return __longlong_as_double(static_cast<long long>(bits));
}
PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint64_t double_as_bits(double value) {
  return static_cast<std::uint64_t>(__double_as_longlong(value));
}
PDML_HOST_DEVICE PDML_FORCE_INLINE float bits_as_float(std::uint32_t bits) {
  return __uint_as_float(bits);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint32_t float_as_bits(float value) {
  return __float_as_uint(value);
}
#elif defined(__has_builtin)
#if __has_builtin(__builtin_bit_cast)
#define PDML_HAS_BIT_CAST 1
#endif
#endif
#if !defined(__CUDA_ARCH__)
template <class To, class From>
PDML_HOST_DEVICE PDML_FORCE_INLINE To bit_cast_(From from) {
#if defined(PDML_HAS_BIT_CAST)
  return __builtin_bit_cast(To, from);
#else
  To to;
  std::memcpy(&to, &from, sizeof to);
  return to;
#endif
}
PDML_HOST_DEVICE PDML_FORCE_INLINE double bits_as_double(std::uint64_t bits) {
  return bit_cast_<double>(bits);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint64_t double_as_bits(double value) {
  return bit_cast_<std::uint64_t>(value);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE float bits_as_float(std::uint32_t bits) {
  return bit_cast_<float>(bits);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE std::uint32_t float_as_bits(float value) {
  return bit_cast_<std::uint32_t>(value);
}
#endif

// -2 log(u) for a normal number u in (0, 1): u = 2^e m with m in
// [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 0.1716,
// by its Taylor series (12 terms: truncation < 1e-18 relative).
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double minus_two_log(double u) {
  const std::uint64_t bits = double_as_bits(u);
  const bool high = (bits & 0x000fffffffffffffULL) > 0x6a09e667f3bcdULL;  // m > sqrt(2)
  // The biased exponent as a double without an int64 conversion (AVX2 has
  // none): 2^52 + E, then subtract 2^52 + bias.
  const double exponent =
      bits_as_double(0x4330000000000000ULL | ((bits >> 52) & 0x7ff)) -
      (high ? 4503599627371518.0 : 4503599627371519.0);
  const double m = bits_as_double((bits & 0x000fffffffffffffULL) |
                                  (high ? 0x3fe0000000000000ULL : 0x3ff0000000000000ULL));
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  double poly = 4.347826086956521739072e-02;
  poly = fused_as<kFma>(poly, z, 4.761904761904761904697e-02);
  poly = fused_as<kFma>(poly, z, 5.263157894736842105156e-02);
  poly = fused_as<kFma>(poly, z, 5.882352941176470588255e-02);
  poly = fused_as<kFma>(poly, z, 6.666666666666666666983e-02);
  poly = fused_as<kFma>(poly, z, 7.692307692307692307797e-02);
  poly = fused_as<kFma>(poly, z, 9.090909090909090909337e-02);
  poly = fused_as<kFma>(poly, z, 1.111111111111111111096e-01);
  poly = fused_as<kFma>(poly, z, 1.428571428571428571409e-01);
  poly = fused_as<kFma>(poly, z, 2.000000000000000000027e-01);
  poly = fused_as<kFma>(poly, z, 3.333333333333333333424e-01);
  poly = fused_as<kFma>(poly, z, 1.0);
  const double log_m = (2.0 * s) * poly;
  return -2.0 * fused_as<kFma>(exponent, 6.931471805599453094287e-01, log_m);
}

template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE float minus_two_log(float u) {
  const std::uint32_t bits = float_as_bits(u);
  const bool high = (bits & 0x7fffffu) > 0x3504f3u;  // m > sqrt(2)
  const float exponent = bits_as_float(0x4b000000u | ((bits >> 23) & 0xffu)) -
                         (high ? 8388734.0f : 8388735.0f);
  const float m = bits_as_float((bits & 0x7fffffu) | (high ? 0x3f000000u : 0x3f800000u));
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  float poly = 1.111111111111111111096e-01f;
  poly = fused_as<kFma>(poly, z, 1.428571428571428571409e-01f);
  poly = fused_as<kFma>(poly, z, 2.000000000000000000027e-01f);
  poly = fused_as<kFma>(poly, z, 3.333333333333333333424e-01f);
  poly = fused_as<kFma>(poly, z, 1.0f);
  const float log_m = (2.0f * s) * poly;
  return -2.0f * fused_as<kFma>(exponent, 6.931471805599453094287e-01f, log_m);
}

// sin and cos of 2 pi u for u in (0, 1): 4u = q + r exactly (q integer, |r| <=
// 1/2), so 2 pi u = q pi/2 + (pi/2) r with no reduction error; Taylor
// polynomials of sin((pi/2) r), cos((pi/2) r) (truncation < 1e-18 / 1e-9).
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE void sin_cos_two_pi(double u, double& s, double& c) {
  const double t = 4.0 * u;
  // Round to nearest by adding and subtracting 2^52 (t is never a half
  // integer, and this vectorises where floor() does not).
  const double q = (t + 4503599627370496.0) - 4503599627370496.0;
  const double r = t - q;
  const double z = r * r;
  double sp = -4.377065467313742278522e-14;
  sp = fused_as<kFma>(sp, z, 6.066935731106195668720e-12);
  sp = fused_as<kFma>(sp, z, -6.688035109811467234220e-10);
  sp = fused_as<kFma>(sp, z, 5.692172921967926812936e-08);
  sp = fused_as<kFma>(sp, z, -3.598843235212085340899e-06);
  sp = fused_as<kFma>(sp, z, 1.604411847873598218960e-04);
  sp = fused_as<kFma>(sp, z, -4.681754135318688101454e-03);
  sp = fused_as<kFma>(sp, z, 7.969262624616704512561e-02);
  sp = fused_as<kFma>(sp, z, -6.459640975062462536901e-01);
  sp = fused_as<kFma>(sp, z, 1.570796326794896619256e+00);
  double cp = -5.294400200734623763561e-13;
  cp = fused_as<kFma>(cp, z, 6.565963114979472364403e-11);
  cp = fused_as<kFma>(cp, z, -6.386603083791852242753e-09);
  cp = fused_as<kFma>(cp, z, 4.710874778818171504513e-07);
  cp = fused_as<kFma>(cp, z, -2.520204237306060548562e-05);
  cp = fused_as<kFma>(cp, z, 9.192602748394265803395e-04);
  cp = fused_as<kFma>(cp, z, -2.086348076335296087533e-02);
  cp = fused_as<kFma>(cp, z, 2.536695079010480136474e-01);
  cp = fused_as<kFma>(cp, z, -1.233700550136169827426e+00);
  cp = fused_as<kFma>(cp, z, 1.0);
  const double sin_r = r * sp;
  // q in {0, .., 4}; quadrant q mod 4 decided by comparisons, not integers.
  const bool odd = q == 1.0 || q == 3.0;
  const bool negate_sin = q == 2.0 || q == 3.0;
  const bool negate_cos = q == 1.0 || q == 2.0;
  const double sin_abs = odd ? cp : sin_r;
  const double cos_abs = odd ? sin_r : cp;
  s = negate_sin ? -sin_abs : sin_abs;
  c = negate_cos ? -cos_abs : cos_abs;
}

template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE void sin_cos_two_pi(float u, float& s, float& c) {
  const float t = 4.0f * u;
  const float q = (t + 8388608.0f) - 8388608.0f;
  const float r = t - q;
  const float z = r * r;
  float sp = 1.604411847873598218960e-04f;
  sp = fused_as<kFma>(sp, z, -4.681754135318688101454e-03f);
  sp = fused_as<kFma>(sp, z, 7.969262624616704512561e-02f);
  sp = fused_as<kFma>(sp, z, -6.459640975062462536901e-01f);
  sp = fused_as<kFma>(sp, z, 1.570796326794896619256e+00f);
  float cp = -2.520204237306060548562e-05f;
  cp = fused_as<kFma>(cp, z, 9.192602748394265803395e-04f);
  cp = fused_as<kFma>(cp, z, -2.086348076335296087533e-02f);
  cp = fused_as<kFma>(cp, z, 2.536695079010480136474e-01f);
  cp = fused_as<kFma>(cp, z, -1.233700550136169827426e+00f);
  cp = fused_as<kFma>(cp, z, 1.0f);
  const float sin_r = r * sp;
  const bool odd = q == 1.0f || q == 3.0f;
  const bool negate_sin = q == 2.0f || q == 3.0f;
  const bool negate_cos = q == 1.0f || q == 2.0f;
  const float sin_abs = odd ? cp : sin_r;
  const float cos_abs = odd ? sin_r : cp;
  s = negate_sin ? -sin_abs : sin_abs;
  c = negate_cos ? -cos_abs : cos_abs;
}

// sqrt(x) for the Box-Muller radius (x >= 2^-52, finite): reciprocal square
// root from the exponent-halving bit trick, refined by Newton steps (4 for
// double, 3 for float: relative error ~1 ulp), times x. Unlike ::sqrt it
// carries no errno branch, so the lane loops vectorise; and it is the same
// sequence of correctly rounded operations on host and device.
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE double radius_sqrt(double x) {
  double y = bits_as_double(0x5fe6eb50c7b537a9ULL - (double_as_bits(x) >> 1));
  const double half_x = 0.5 * x;
  y = y * fused_as<kFma>(-half_x * y, y, 1.5);
  y = y * fused_as<kFma>(-half_x * y, y, 1.5);
  y = y * fused_as<kFma>(-half_x * y, y, 1.5);
  y = y * fused_as<kFma>(-half_x * y, y, 1.5);
  const double root = x * y;
  // One last correction of the root itself: r + (x - r^2) / (2 r).
  return fused_as<kFma>(fused_as<kFma>(-root, root, x), 0.5 * y, root);
}
template <bool kFma = kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE float radius_sqrt(float x) {
  float y = bits_as_float(0x5f3759dfu - (float_as_bits(x) >> 1));
  const float half_x = 0.5f * x;
  y = y * fused_as<kFma>(-half_x * y, y, 1.5f);
  y = y * fused_as<kFma>(-half_x * y, y, 1.5f);
  y = y * fused_as<kFma>(-half_x * y, y, 1.5f);
  const float root = x * y;
  return fused_as<kFma>(fused_as<kFma>(-root, root, x), 0.5f * y, root);
}

}  // namespace detail

/// Box-Muller: two independent standard normals from two uniforms u1, u2:
/// radius sqrt(-2 log u1), angle 2 pi u2. Exact transformation; the only
/// approximation is the uniform lattice, which truncates |z| at
/// sqrt(2 log 2^53) = 8.57 for double (tail mass 1e-17) and
/// sqrt(2 log 2^24) = 5.77 for float (tail mass 8e-9).
template <class T, bool kFma = detail::kFusedFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE void box_muller(T u1, T u2, T& z0, T& z1) {
  const T radius = detail::radius_sqrt<kFma>(detail::minus_two_log<kFma>(u1));
  T s, c;
  detail::sin_cos_two_pi<kFma>(u2, s, c);
  z0 = radius * c;
  z1 = radius * s;
}

/// Two standard normals (two uniforms of type T).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE void normal_pair(RandomStream& stream, T& z0, T& z1) {
  const T u1 = uniform<T>(stream);
  const T u2 = uniform<T>(stream);
  box_muller(u1, u2, z0, z1);
}

/// One standard normal (the cosine branch of Box-Muller; two uniforms).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T normal(RandomStream& stream) {
  T z0, z1;
  normal_pair<T>(stream, z0, z1);
  return z0;
}

namespace detail {
// Blocks per chunk of the bulk normal fill (the SIMD width of its loops).
constexpr int kNormalLanes = 8;
}  // namespace detail

/// Fills out[0 .. count) with standard normals, starting at a fresh block:
/// block j supplies normals 2j, 2j + 1 (double: u1 = words 0,1; u2 = words 2,3)
/// or 4j .. 4j + 3 (float: normals 4j, 4j+1 from words 0, 1 and 4j+2, 4j+3
/// from words 2, 3). Consumes ceil(count / 2) (double) or ceil(count / 4)
/// (float) blocks.
template <class T>
PDML_HOST_DEVICE void fill_normals(RandomStream& stream, T* out, int count);

namespace detail {

template <bool kFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE void fill_normals_body(RandomStream& stream, double* out,
                                                     int count) {
  constexpr int kLanes = kNormalLanes;
  const int blocks = (count + 1) / 2;
  const std::uint32_t first = stream.blocks_used();
  for (int j = 0; j < blocks; j += kLanes) {
    std::uint32_t words[4][kLanes];
    stream.blocks_at<kLanes>(first + static_cast<std::uint32_t>(j), words);
    double z[2][kLanes];
    PDML_SIMD_LOOP
    for (int l = 0; l < kLanes; ++l) {
      const double u1 = uniform_from_bits(static_cast<std::uint64_t>(words[0][l]) |
                                          (static_cast<std::uint64_t>(words[1][l]) << 32));
      const double u2 = uniform_from_bits(static_cast<std::uint64_t>(words[2][l]) |
                                          (static_cast<std::uint64_t>(words[3][l]) << 32));
      double z0, z1;
      box_muller<double, kFma>(u1, u2, z0, z1);
      z[0][l] = z0;
      z[1][l] = z1;
    }
    const int base = 2 * j;
    const int available = count - base < 2 * kLanes ? count - base : 2 * kLanes;
    for (int i = 0; i < available; ++i) out[base + i] = z[i & 1][i >> 1];
  }
  stream.skip_blocks(static_cast<std::uint32_t>(blocks));
}

template <bool kFma>
PDML_HOST_DEVICE PDML_FORCE_INLINE void fill_normals_body(RandomStream& stream, float* out,
                                                     int count) {
  constexpr int kLanes = kNormalLanes;
  const int blocks = (count + 3) / 4;
  const std::uint32_t first = stream.blocks_used();
  for (int j = 0; j < blocks; j += kLanes) {
    std::uint32_t words[4][kLanes];
    stream.blocks_at<kLanes>(first + static_cast<std::uint32_t>(j), words);
    float z[4][kLanes];
    PDML_SIMD_LOOP
    for (int l = 0; l < kLanes; ++l) {
      float z0, z1, z2, z3;
      box_muller<float, kFma>(uniform_from_bits(words[0][l]), uniform_from_bits(words[1][l]),
                              z0, z1);
      box_muller<float, kFma>(uniform_from_bits(words[2][l]), uniform_from_bits(words[3][l]),
                              z2, z3);
      z[0][l] = z0;
      z[1][l] = z1;
      z[2][l] = z2;
      z[3][l] = z3;
    }
    const int base = 4 * j;
    const int available = count - base < 4 * kLanes ? count - base : 4 * kLanes;
    for (int i = 0; i < available; ++i) out[base + i] = z[i & 3][i >> 2];
  }
  stream.skip_blocks(static_cast<std::uint32_t>(blocks));
}

#if PDML_HAS_CPU_DISPATCH
// Run-time dispatched kernels (core/cpu_dispatch.hpp). Every level fuses its
// multiply-adds (the baseline level through libm's correctly rounded fma,
// only used on CPUs without AVX2/FMA), so all levels give the same normals,
// and these are the bits of -march=native builds and of the CUDA device.
template <class T>
PDML_TARGET_AVX512 inline void fill_normals_avx512(RandomStream& stream, T* out, int count) {
  fill_normals_body<true>(stream, out, count);
}
template <class T>
PDML_TARGET_AVX2 inline void fill_normals_avx2(RandomStream& stream, T* out, int count) {
  fill_normals_body<true>(stream, out, count);
}
template <class T>
inline void fill_normals_dispatch(RandomStream& stream, T* out, int count) {
  switch (cpu_level()) {
    case CpuLevel::avx512: fill_normals_avx512(stream, out, count); break;
    case CpuLevel::avx2: fill_normals_avx2(stream, out, count); break;
    default: fill_normals_body<true>(stream, out, count); break;
  }
}
#endif

}  // namespace detail

template <>
PDML_HOST_DEVICE inline void fill_normals<double>(RandomStream& stream, double* out, int count) {
#if PDML_HAS_CPU_DISPATCH
  detail::fill_normals_dispatch(stream, out, count);
#else
  detail::fill_normals_body<detail::kFusedFma>(stream, out, count);
#endif
}

template <>
PDML_HOST_DEVICE inline void fill_normals<float>(RandomStream& stream, float* out, int count) {
#if PDML_HAS_CPU_DISPATCH
  detail::fill_normals_dispatch(stream, out, count);
#else
  detail::fill_normals_body<detail::kFusedFma>(stream, out, count);
#endif
}

// ---------------------------------------------------------------- exponential

/// Standard exponential, -log(u) with u uniform in (0, 1).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T exponential(RandomStream& stream) {
  return -detail::log_(uniform<T>(stream));
}

// ---------------------------------------------------------------------- gamma

/// A Gamma(shape, 1) draw. `log_value` stays accurate when `value`
/// underflows (shape << 1). `ok` is false when the rejection loop hit its
/// iteration cap or the shape was invalid; value and log_value are NaN then.
template <class T>
struct GammaDraw {
  T value;
  T log_value;
  bool ok;
};

/// Maximum Marsaglia-Tsang attempts. The acceptance probability is above
/// 0.95 for every shape >= 1 (the boost trick handles shape < 1), so the cap
/// fails with probability below 0.05^64 ~ 5e-84.
constexpr int kGammaMaxAttempts = 64;

/// Gamma(shape, 1) by Marsaglia & Tsang (2000), with the acceptance test in
/// log space; shape < 1 uses Gamma(shape) = Gamma(shape + 1) U^(1 / shape).
template <class T>
PDML_HOST_DEVICE GammaDraw<T> gamma(RandomStream& stream, T shape) {
  const T nan = detail::quiet_nan_<T>();
  if (!(shape > T(0)) || !(shape < detail::infinity_<T>())) {
    return GammaDraw<T>{nan, nan, false};
  }
  const bool boost = shape < T(1);
  const T d = (boost ? shape + T(1) : shape) - T(1) / T(3);
  const T c = T(1) / detail::sqrt_(T(9) * d);
  for (int attempt = 0; attempt < kGammaMaxAttempts; ++attempt) {
    const T x = normal<T>(stream);
    const T t = T(1) + c * x;
    if (!(t > T(0))) continue;
    const T v = t * t * t;
    const T u = uniform<T>(stream);
    const T x2 = x * x;
    // Squeeze first: accepts ~98% without logarithms.
    const bool squeeze = u < T(1) - T(0.0331) * x2 * x2;
    const T log_v = T(3) * detail::log_(t);
    if (squeeze || detail::log_(u) < T(0.5) * x2 + d * (T(1) - v + log_v)) {
      T log_value = detail::log_(d) + log_v;
      if (boost) log_value += detail::log_(uniform<T>(stream)) / shape;
      const T value = boost ? detail::exp_(log_value) : d * v;
      return GammaDraw<T>{value, log_value, true};
    }
  }
  return GammaDraw<T>{nan, nan, false};
}

namespace detail {

/// Standard normals handed out one at a time from Box-Muller pairs drawn
/// from `stream`: the second normal of a pair is kept for the next request
/// instead of being discarded, so consumers that need several (the two
/// gammas of a symmetric Beta) pay one Box-Muller transform per two normals.
template <class T>
struct NormalPairSource {
  RandomStream& stream;
  T spare;
  bool has_spare;

  PDML_HOST_DEVICE explicit NormalPairSource(RandomStream& s)
      : stream(s), spare(T(0)), has_spare(false) {}

  PDML_HOST_DEVICE PDML_FORCE_INLINE T next() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    T first;
    normal_pair<T>(stream, first, spare);
    has_spare = true;
    return first;
  }
};

/// Gamma(shape, 1) for shape >= 1, value only: Marsaglia-Tsang as in gamma(),
/// without the logarithms that only log_value needs (the log-space test runs
/// only when the squeeze rejects), with its normals from `normals` and its
/// uniforms from the same stream. d = shape - 1/3, c = 1 / sqrt(9 d) (see
/// SymmetricBetaShape). NaN when capped.
template <class T>
PDML_HOST_DEVICE T gamma_value_shape_at_least_one(NormalPairSource<T>& normals, T d, T c) {
  for (int attempt = 0; attempt < kGammaMaxAttempts; ++attempt) {
    const T x = normals.next();
    const T t = T(1) + c * x;
    if (!(t > T(0))) continue;
    const T v = t * t * t;
    const T u = uniform<T>(normals.stream);
    const T x2 = x * x;
    if (u < T(1) - T(0.0331) * x2 * x2 ||
        log_(u) < T(0.5) * x2 + d * (T(1) - v + T(3) * log_(t))) {
      return d * v;
    }
  }
  return detail::quiet_nan_<T>();
}

}  // namespace detail

/// Beta(a, a) for a >= 1 as (value, complement) only, B = X / (X + Y) and
/// 1 - B = Y / (X + Y) for independent X, Y ~ Gamma(a): distributed as
/// beta(stream, a, a) but cheaper (no logarithms; X and Y share Box-Muller
/// pairs, so the draws differ from beta()'s). `ok` false when a gamma hit
/// its cap.
template <class T>
struct SymmetricBetaDraw {
  T value;
  T complement;
  bool ok;
};

/// The shape a >= 1 of symmetric_beta_shape_at_least_one with its
/// Marsaglia-Tsang constants d = a - 1/3 and c = 1 / sqrt(9 d), so that
/// callers drawing many Betas of one shape compute them once.
template <class T>
struct SymmetricBetaShape {
  T d;
  T c;
  PDML_HOST_DEVICE explicit SymmetricBetaShape(T a = T(1))
      : d(a - T(1) / T(3)), c(T(1) / detail::sqrt_(T(9) * (a - T(1) / T(3)))) {}
};

template <class T>
PDML_HOST_DEVICE SymmetricBetaDraw<T> symmetric_beta_shape_at_least_one(
    RandomStream& stream, const SymmetricBetaShape<T>& shape) {
  detail::NormalPairSource<T> normals(stream);
  const T x = detail::gamma_value_shape_at_least_one<T>(normals, shape.d, shape.c);
  const T y = detail::gamma_value_shape_at_least_one<T>(normals, shape.d, shape.c);
  const T sum = x + y;
  const bool ok = sum == sum;  // NaN from a capped gamma
  return SymmetricBetaDraw<T>{x / sum, y / sum, ok};
}

template <class T>
PDML_HOST_DEVICE SymmetricBetaDraw<T> symmetric_beta_shape_at_least_one(RandomStream& stream,
                                                                         T a) {
  return symmetric_beta_shape_at_least_one(stream, SymmetricBetaShape<T>(a));
}

// ----------------------------------------------------------------------- beta

/// A Beta(a, b) draw B together with its complement 1 - B and both logs,
/// each computed without cancellation (B = X / (X + Y), 1 - B = Y / (X + Y)
/// for X ~ Gamma(a), Y ~ Gamma(b)). `ok` is false when a gamma draw failed.
template <class T>
struct BetaDraw {
  T value;
  T complement;
  T log_value;
  T log_complement;
  bool ok;
};

template <class T>
PDML_HOST_DEVICE BetaDraw<T> beta(RandomStream& stream, T a, T b) {
  const GammaDraw<T> x = gamma<T>(stream, a);
  const GammaDraw<T> y = gamma<T>(stream, b);
  const T nan = detail::quiet_nan_<T>();
  if (!x.ok || !y.ok) return BetaDraw<T>{nan, nan, nan, nan, false};
  const T tiny = detail::min_normal_<T>();
  if (x.value >= tiny && y.value >= tiny) {
    const T sum = x.value + y.value;
    const T log_sum = detail::log_(sum);
    return BetaDraw<T>{x.value / sum, y.value / sum, x.log_value - log_sum,
                       y.log_value - log_sum, true};
  }
  // Shapes << 1: the gammas underflow, so normalise in log space.
  const T high = x.log_value > y.log_value ? x.log_value : y.log_value;
  const T low = x.log_value > y.log_value ? y.log_value : x.log_value;
  const T log_sum = high + detail::log1p_(detail::exp_(low - high));
  const T log_value = x.log_value - log_sum;
  const T log_complement = y.log_value - log_sum;
  return BetaDraw<T>{detail::exp_(log_value), detail::exp_(log_complement), log_value,
                     log_complement, true};
}

}  // namespace pdml
