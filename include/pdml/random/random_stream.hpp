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
#include <limits>

#include "pdml/config.hpp"
#include "pdml/random/philox.hpp"

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
PDML_HOST_DEVICE PDML_FORCE_INLINE double uniform_from_bits(std::uint64_t bits) {
  const std::uint64_t k = bits >> 12;
  return (static_cast<double>(k) + 0.5) * 0x1.0p-52;
}

/// ... or from one 32-bit integer (float).
PDML_HOST_DEVICE PDML_FORCE_INLINE float uniform_from_bits(std::uint32_t bits) {
  const std::uint32_t k = bits >> 9;
  return (static_cast<float>(k) + 0.5f) * 0x1.0p-23f;
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

namespace detail {
template <class T>
struct TwoPi;
template <>
struct TwoPi<double> {
  static constexpr double value = 6.283185307179586476925286766559;
};
template <>
struct TwoPi<float> {
  static constexpr float value = 6.283185307179586476925286766559f;
};

PDML_HOST_DEVICE PDML_FORCE_INLINE void sin_cos(double x, double& s, double& c) {
  s = ::sin(x);
  c = ::cos(x);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE void sin_cos(float x, float& s, float& c) {
  s = ::sinf(x);
  c = ::cosf(x);
}
PDML_HOST_DEVICE PDML_FORCE_INLINE double log_(double x) { return ::log(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float log_(float x) { return ::logf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double sqrt_(double x) { return ::sqrt(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float sqrt_(float x) { return ::sqrtf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double exp_(double x) { return ::exp(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float exp_(float x) { return ::expf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double log1p_(double x) { return ::log1p(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float log1p_(float x) { return ::log1pf(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE double expm1_(double x) { return ::expm1(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float expm1_(float x) { return ::expm1f(x); }
}  // namespace detail

/// Box-Muller: two independent standard normals from two uniforms u1, u2:
/// radius sqrt(-2 log u1), angle 2 pi u2. Exact transformation; the only
/// approximation is the uniform lattice, which truncates |z| at
/// sqrt(2 log 2^53) = 8.57 for double (tail mass 1e-17) and
/// sqrt(2 log 2^24) = 5.77 for float (tail mass 8e-9).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE void box_muller(T u1, T u2, T& z0, T& z1) {
  const T radius = detail::sqrt_(T(-2) * detail::log_(u1));
  T s, c;
  detail::sin_cos(detail::TwoPi<T>::value * u2, s, c);
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
  const T u1 = uniform<T>(stream);
  const T u2 = uniform<T>(stream);
  const T radius = detail::sqrt_(T(-2) * detail::log_(u1));
  T s, c;
  detail::sin_cos(detail::TwoPi<T>::value * u2, s, c);
  return radius * c;
}

/// Fills out[0 .. count) with standard normals, starting at a fresh block:
/// block j supplies normals 2j, 2j + 1 (double: u1 = words 0,1; u2 = words 2,3)
/// or 4j .. 4j + 3 (float: one word per uniform). Consumes
/// ceil(count / 2) (double) or ceil(count / 4) (float) blocks.
template <class T>
PDML_HOST_DEVICE void fill_normals(RandomStream& stream, T* out, int count);

template <>
PDML_HOST_DEVICE inline void fill_normals<double>(RandomStream& stream, double* out, int count) {
  const int blocks = (count + 1) / 2;
  const std::uint32_t first = stream.blocks_used();
  for (int j = 0; j < blocks; ++j) {
    const PhiloxBlock b = stream.block_at(first + static_cast<std::uint32_t>(j));
    const double u1 = uniform_from_bits(static_cast<std::uint64_t>(b.word[0]) |
                                        (static_cast<std::uint64_t>(b.word[1]) << 32));
    const double u2 = uniform_from_bits(static_cast<std::uint64_t>(b.word[2]) |
                                        (static_cast<std::uint64_t>(b.word[3]) << 32));
    double z0, z1;
    box_muller(u1, u2, z0, z1);
    out[2 * j] = z0;
    if (2 * j + 1 < count) out[2 * j + 1] = z1;
  }
  stream.skip_blocks(static_cast<std::uint32_t>(blocks));
}

template <>
PDML_HOST_DEVICE inline void fill_normals<float>(RandomStream& stream, float* out, int count) {
  const int blocks = (count + 3) / 4;
  const std::uint32_t first = stream.blocks_used();
  for (int j = 0; j < blocks; ++j) {
    const PhiloxBlock b = stream.block_at(first + static_cast<std::uint32_t>(j));
    float z[4];
    box_muller(uniform_from_bits(b.word[0]), uniform_from_bits(b.word[1]), z[0], z[1]);
    box_muller(uniform_from_bits(b.word[2]), uniform_from_bits(b.word[3]), z[2], z[3]);
    for (int i = 0; i < 4; ++i) {
      if (4 * j + i < count) out[4 * j + i] = z[i];
    }
  }
  stream.skip_blocks(static_cast<std::uint32_t>(blocks));
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
  const T nan = std::numeric_limits<T>::quiet_NaN();
  if (!(shape > T(0)) || !(shape < std::numeric_limits<T>::infinity())) {
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
  const T nan = std::numeric_limits<T>::quiet_NaN();
  if (!x.ok || !y.ok) return BetaDraw<T>{nan, nan, nan, nan, false};
  const T tiny = std::numeric_limits<T>::min();
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
