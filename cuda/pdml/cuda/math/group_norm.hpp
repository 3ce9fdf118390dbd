// SPDX-License-Identifier: MIT
#pragma once
// The two-norm of a row reduced across the lanes of a group (parallel/group.hpp), with
// the overflow and underflow guard of pdml::scaled_norm_of (core/scaled_norm.hpp): the
// sum of squares in double, and only when it leaves [2^-900, 2^900] a second pass scaled
// by the largest magnitude's exponent. The result is the norm as a double (it may
// exceed T's range; the caller decides).

#include <cmath>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace detail {

template <int K, class G, class Element>
PDML_HOST_DEVICE double group_norm(const G& g, Index n, Element element) {
  using parallel::Max;
  using parallel::Sum;
  const double sum_of_squares = g.template reduce<K>(
      n, 0.0,
      [&](Index j) {
        const double v = element(j);
        return v * v;
      },
      Sum{});
  if (sum_of_squares >= 0x1p-900 && sum_of_squares <= 0x1p+900) return ::sqrt(sum_of_squares);
  const double largest =
      g.template reduce<K>(n, 0.0, [&](Index j) { return ::fabs(element(j)); }, Max{});
  if (!(largest > 0.0)) return sum_of_squares == sum_of_squares ? 0.0 : sum_of_squares;
  const int exponent = ::ilogb(largest);
  const double scaled_sum = g.template reduce<K>(
      n, 0.0,
      [&](Index j) {
        const double v = ::scalbn(element(j), -exponent);
        return v * v;
      },
      Sum{});
  return ::ldexp(::sqrt(scaled_sum), exponent);
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
