// SPDX-License-Identifier: MIT
#pragma once
// Equality of two evaluations of the same pdml routine in different calling
// contexts (a batched API against its per-item routine). Without FMA
// contraction they are bit-identical, and that is what is checked. Where the
// compiler may contract a * b + c into a fused multiply-add (hosts built with
// FMA, e.g. -march=native, since GCC contracts by default), it may contract
// the two inlined copies of one expression differently; there a difference of
// a few units in the last place, relative to max(|want|, scale), is allowed.

#include <algorithm>
#include <cmath>
#include <limits>

namespace pdml_test {

#if defined(__FMA__) || defined(__aarch64__)
constexpr bool kMayContract = true;
#else
constexpr bool kMayContract = false;
#endif

template <class T>
bool same_evaluation(T got, T want, T scale = T(0)) {
  if (!kMayContract) return got == want;
  const T tolerance =
      T(16) * std::numeric_limits<T>::epsilon() * std::max(std::abs(want), scale);
  return std::abs(got - want) <= tolerance;
}

}  // namespace pdml_test
