// SPDX-License-Identifier: MIT
#pragma once
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy
// as 1, 2, 3", SC 2011): a counter-based generator. A 128-bit counter and a
// 64-bit key are mapped through ten rounds of a bijection to 128 random bits,
// so any block of any stream can be produced directly, on host or device,
// without state shared between threads.
//
// pdml addresses randomness by an RngKey plus a 64-bit stream index (one
// stream per distribution/sample being drawn); see random_stream.hpp for how
// (seed, offset, stream index, draw counter) are laid out in the key and
// counter words, and docs/math.md, section "random".

#include <cstdint>

#include "pdml/config.hpp"

namespace pdml {

/// The address of a family of random streams. `seed` selects the Philox key;
/// `offset` selects a disjoint region of counter space (advance it, e.g. once
/// per training step, to get fresh, non-overlapping randomness for every call
/// that uses the same seed).
struct RngKey {
  std::uint64_t seed;
  std::uint64_t offset;
};

/// 128 bits: four 32-bit words.
struct PhiloxBlock {
  std::uint32_t word[4];
};

namespace detail {

constexpr std::uint32_t kPhiloxMultiplier0 = 0xD2511F53u;
constexpr std::uint32_t kPhiloxMultiplier1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxWeyl0 = 0x9E3779B9u;  // golden ratio
constexpr std::uint32_t kPhiloxWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1

PDML_HOST_DEVICE PDML_FORCE_INLINE void philox_mulhilo(std::uint32_t a, std::uint32_t b,
                                                        std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t product = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
  hi = static_cast<std::uint32_t>(product >> 32);
  lo = static_cast<std::uint32_t>(product);
}

}  // namespace detail

/// Philox4x32 with 10 rounds: the 128-bit output for `counter` under `key`.
/// Matches the Random123 reference implementation (and cuRAND's
/// curand_Philox4x32_10) bit for bit.
PDML_HOST_DEVICE inline PhiloxBlock philox4x32_10(PhiloxBlock counter, std::uint32_t key0,
                                                  std::uint32_t key1) {
  std::uint32_t c0 = counter.word[0];
  std::uint32_t c1 = counter.word[1];
  std::uint32_t c2 = counter.word[2];
  std::uint32_t c3 = counter.word[3];
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::philox_mulhilo(detail::kPhiloxMultiplier0, c0, hi0, lo0);
    detail::philox_mulhilo(detail::kPhiloxMultiplier1, c2, hi1, lo1);
    const std::uint32_t n0 = hi1 ^ c1 ^ key0;
    const std::uint32_t n2 = hi0 ^ c3 ^ key1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    // The key schedule bumps the key between rounds; bumping after the last
    // round as well is harmless because that key is never used.
    key0 += detail::kPhiloxWeyl0;
    key1 += detail::kPhiloxWeyl1;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

}  // namespace pdml
