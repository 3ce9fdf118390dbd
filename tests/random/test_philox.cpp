// SPDX-License-Identifier: MIT
// Philox4x32-10 known answers, the stream layout, and the distributions of the
// uniform, normal, exponential, gamma and beta draws (KS tests against Boost
// CDFs; Bonferroni-corrected thresholds stated per test case).

#include <catch2/catch.hpp>

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include <pdml/random/philox.hpp>
#include <pdml/random/random_stream.hpp>

#include "sampling_stats.hpp"

namespace {

void check_block(pdml::PhiloxBlock counter, std::uint32_t k0, std::uint32_t k1,
                 std::uint32_t e0, std::uint32_t e1, std::uint32_t e2, std::uint32_t e3) {
  const pdml::PhiloxBlock r = pdml::philox4x32_10(counter, k0, k1);
  CHECK(r.word[0] == e0);
  CHECK(r.word[1] == e1);
  CHECK(r.word[2] == e2);
  CHECK(r.word[3] == e3);
}

}  // namespace

TEST_CASE("Philox4x32-10 reproduces the Random123 known-answer vectors", "[random][philox]") {
  // Random123 kat_vectors (philox4x32 10 rounds); cuRAND agrees.
  check_block({{0u, 0u, 0u, 0u}}, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
  check_block({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
              0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
  check_block({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
              0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

TEST_CASE("RandomStream lays out seed, offset, stream index and block counter as documented",
          "[random][philox]") {
  const pdml::RngKey key{0x0123456789abcdefULL, 0x1122334455667788ULL};
  const std::uint64_t stream_index = 0x00000005deadbeefULL;
  pdml::RandomStream stream(key, stream_index);
  // word1..3 = offset * 2^32 + stream_index (96 bits), word0 = block counter.
  const std::uint64_t high = key.offset + (stream_index >> 32);
  for (std::uint32_t block = 0; block < 3; ++block) {
    const pdml::PhiloxBlock expected = pdml::philox4x32_10(
        {{block, static_cast<std::uint32_t>(stream_index), static_cast<std::uint32_t>(high),
          static_cast<std::uint32_t>(high >> 32)}},
        0x89abcdefu, 0x01234567u);
    for (int w = 0; w < 4; ++w) CHECK(stream.next_u32() == expected.word[w]);
  }
  CHECK(stream.blocks_used() == 3u);
  // next_u64: low word first.
  pdml::RandomStream again(key, stream_index);
  const std::uint64_t first = again.next_u64();
  pdml::RandomStream words(key, stream_index);
  const std::uint64_t lo = words.next_u32();
  const std::uint64_t hi = words.next_u32();
  CHECK(first == (lo | (hi << 32)));
  // next_block discards the rest of a partially used block.
  pdml::RandomStream partial(key, stream_index);
  partial.next_u32();
  const pdml::PhiloxBlock b1 = partial.next_block();
  CHECK(b1.word[0] == pdml::RandomStream(key, stream_index).block_at(1).word[0]);
}

TEST_CASE("Streams are reproducible and distinct across seeds, offsets and indices",
          "[random][philox]") {
  std::set<std::uint64_t> seen;
  for (std::uint64_t seed : {0ULL, 1ULL, 0x100000000ULL}) {
    for (std::uint64_t offset : {0ULL, 1ULL, 7ULL}) {
      for (std::uint64_t index : {0ULL, 1ULL, 2ULL, 0xffffffffULL}) {
        pdml::RandomStream a({seed, offset}, index);
        pdml::RandomStream b({seed, offset}, index);
        const std::uint64_t va = a.next_u64();
        CHECK(va == b.next_u64());
        seen.insert(va);
      }
    }
  }
  CHECK(seen.size() == 36u);
}

TEST_CASE("Uniforms lie on the symmetric open lattice", "[random][uniform]") {
  // Extremes of the lattice.
  CHECK(pdml::uniform_from_bits(std::uint64_t{0}) == 0x1.0p-53);
  CHECK(pdml::uniform_from_bits(~std::uint64_t{0}) == 1.0 - 0x1.0p-53);
  CHECK(pdml::uniform_from_bits(std::uint32_t{0}) == 0x1.0p-24f);
  CHECK(pdml::uniform_from_bits(~std::uint32_t{0}) == 1.0f - 0x1.0p-24f);
  pdml::RandomStream stream({42, 0}, 3);
  for (int i = 0; i < 10000; ++i) {
    const double u = pdml::uniform<double>(stream);
    REQUIRE(u > 0.0);
    REQUIRE(u < 1.0);
    // 1 - u is again a lattice point: scaled by 2^52 it is k + 1/2.
    const double scaled = (1.0 - u) * 0x1.0p52;
    REQUIRE(scaled - std::floor(scaled) == 0.5);
    const float f = pdml::uniform<float>(stream);
    REQUIRE(f > 0.0f);
    REQUIRE(f < 1.0f);
  }
}

// Every KS test below uses n = 20000 and requires p-value > 1e-4 / 28 (28 KS
// tests in this file: family-wise false-alarm rate 1e-4).
namespace {
constexpr double kKsAlpha = 1e-4 / 28.0;
constexpr int kKsCount = 20000;

template <class Draw, class Cdf>
double ks_p(Draw draw, Cdf cdf) {
  std::vector<double> values;
  values.reserve(kKsCount);
  for (int i = 0; i < kKsCount; ++i) values.push_back(draw(i));
  const double d = pdml_test::ks_statistic(values, cdf);
  return pdml_test::ks_p_value(d, values.size());
}
}  // namespace

TEMPLATE_TEST_CASE("Uniform, normal and exponential draws follow their laws", "[random]", float,
                   double) {
  const pdml::RngKey key{2024, 11};
  boost::math::normal_distribution<double> gauss;
  boost::math::exponential_distribution<double> expo;
  SECTION("uniform") {
    const double p = ks_p(
        [&](int i) {
          pdml::RandomStream s(key, static_cast<std::uint64_t>(i));
          return static_cast<double>(pdml::uniform<TestType>(s));
        },
        [](double x) { return x; });
    CHECK(p > kKsAlpha);
  }
  SECTION("normal") {
    const double p = ks_p(
        [&](int i) {
          pdml::RandomStream s(key, static_cast<std::uint64_t>(i));
          return static_cast<double>(pdml::normal<TestType>(s));
        },
        [&](double x) { return boost::math::cdf(gauss, x); });
    CHECK(p > kKsAlpha);
  }
  SECTION("fill_normals") {
    pdml::RandomStream s(key, 77);
    std::vector<TestType> z(kKsCount + 3);
    pdml::fill_normals<TestType>(s, z.data(), static_cast<int>(z.size()));
    const std::uint32_t per_block = sizeof(TestType) == 4 ? 4u : 2u;
    CHECK(s.blocks_used() == (static_cast<std::uint32_t>(z.size()) + per_block - 1) / per_block);
    std::vector<double> values(z.begin(), z.end());
    const double d =
        pdml_test::ks_statistic(values, [&](double x) { return boost::math::cdf(gauss, x); });
    CHECK(pdml_test::ks_p_value(d, values.size()) > kKsAlpha);
  }
  SECTION("exponential") {
    const double p = ks_p(
        [&](int i) {
          pdml::RandomStream s(key, static_cast<std::uint64_t>(i));
          return static_cast<double>(pdml::exponential<TestType>(s));
        },
        [&](double x) { return boost::math::cdf(expo, x); });
    CHECK(p > kKsAlpha);
  }
}

TEMPLATE_TEST_CASE("Gamma draws follow Gamma(shape, 1)", "[random][gamma]", float, double) {
  for (double shape : {0.05, 0.5, 1.0, 2.5, 1000.0}) {
    CAPTURE(shape);
    boost::math::gamma_distribution<double> law(shape);
    bool all_ok = true;
    double worst_log_error = 0.0;
    const double p = ks_p(
        [&](int i) {
          pdml::RandomStream s({7, 1}, static_cast<std::uint64_t>(i));
          const auto g = pdml::gamma<TestType>(s, static_cast<TestType>(shape));
          all_ok = all_ok && g.ok;
          if (g.value > std::numeric_limits<TestType>::min()) {
            worst_log_error = std::max(
                worst_log_error, std::abs(std::log(static_cast<double>(g.value)) - g.log_value));
          }
          return static_cast<double>(g.value);
        },
        [&](double x) { return boost::math::cdf(law, x); });
    CHECK(all_ok);
    CHECK(p > kKsAlpha);
    CHECK(worst_log_error < 64 * std::numeric_limits<TestType>::epsilon());
  }
  pdml::RandomStream s({7, 1}, 0);
  CHECK_FALSE(pdml::gamma<TestType>(s, TestType(0)).ok);
  CHECK_FALSE(pdml::gamma<TestType>(s, std::numeric_limits<TestType>::quiet_NaN()).ok);
}

TEMPLATE_TEST_CASE("Beta draws follow Beta(a, b) with exact complements", "[random][beta]",
                   float, double) {
  const double shapes[][2] = {{0.5, 0.5}, {2.0, 5.0}, {63.5, 63.5}};
  for (const auto& ab : shapes) {
    CAPTURE(ab[0], ab[1]);
    boost::math::beta_distribution<double> law(ab[0], ab[1]);
    bool consistent = true;
    const double p = ks_p(
        [&](int i) {
          pdml::RandomStream s({99, 4}, static_cast<std::uint64_t>(i));
          const auto b =
              pdml::beta<TestType>(s, static_cast<TestType>(ab[0]), static_cast<TestType>(ab[1]));
          const double tol = 8 * std::numeric_limits<TestType>::epsilon();
          consistent = consistent && b.ok &&
                       std::abs(static_cast<double>(b.value) + b.complement - 1.0) < tol &&
                       std::abs(std::log(static_cast<double>(b.value)) - b.log_value) < tol * 8 &&
                       std::abs(std::log(static_cast<double>(b.complement)) - b.log_complement) <
                           tol * 8;
          return static_cast<double>(b.value);
        },
        [&](double x) { return boost::math::cdf(law, x); });
    CHECK(consistent);
    CHECK(p > kKsAlpha);
  }
  // Tiny shapes: the gammas underflow and the log-space path takes over.
  pdml::RandomStream s({5, 5}, 5);
  for (int i = 0; i < 100; ++i) {
    const auto b = pdml::beta<TestType>(s, TestType(1e-3), TestType(1e-3));
    REQUIRE(b.ok);
    REQUIRE(std::isfinite(b.log_value));
    REQUIRE(std::isfinite(b.log_complement));
    REQUIRE(b.value >= TestType(0));
    REQUIRE(b.value <= TestType(1));
  }
}

TEST_CASE("The log-free symmetric Beta follows Beta(a, a) with exact complements",
          "[random][beta]") {
  // Its two gammas share Box-Muller pairs; if that made them dependent, the
  // ratio would not follow Beta(a, a).
  for (double a : {1.0, 1.5, 63.5, 2047.5}) {
    CAPTURE(a);
    boost::math::beta_distribution<double> law(a, a);
    bool consistent = true;
    const double p = ks_p(
        [&](int i) {
          pdml::RandomStream s({3, 1}, static_cast<std::uint64_t>(i));
          const auto b = pdml::symmetric_beta_shape_at_least_one<double>(s, a);
          consistent = consistent && b.ok && b.value > 0.0 && b.complement > 0.0 &&
                       std::abs(b.value + b.complement - 1.0) < 4e-16;
          return b.value;
        },
        [&](double x) { return boost::math::cdf(law, x); });
    CHECK(consistent);
    CHECK(p > kKsAlpha);
  }
  // Successive draws from one stream are independent too (the spare normal
  // of a pair is never carried over to the next Beta draw): lag-1 correlation.
  pdml::RandomStream s({3, 2}, 0);
  const int n = 20000;
  double sum_xy = 0.0, sum_x = 0.0, sum_x2 = 0.0, previous = 0.0;
  for (int i = 0; i < n; ++i) {
    const double value = pdml::symmetric_beta_shape_at_least_one<double>(s, 63.5).value;
    if (i > 0) sum_xy += (previous - 0.5) * (value - 0.5);
    sum_x += value - 0.5;
    sum_x2 += (value - 0.5) * (value - 0.5);
    previous = value;
  }
  const double variance = sum_x2 / n - (sum_x / n) * (sum_x / n);
  const double correlation = sum_xy / (n - 1) / variance;
  CHECK(std::abs(correlation) < 4.5 / std::sqrt(static_cast<double>(n)));  // |z| < 4.5
}
