// SPDX-License-Identifier: MIT
#pragma once
// The two-norm of a row reduced across the lanes of a group (parallel/group.hpp), with
// the overflow and underflow guard of pdml::scaled_norm_of (core/scaled_norm.hpp): the
// sum of squares in double, and only when it leaves [2^-900, 2^900] a second pass scaled
// by the largest magnitude's exponent. The result is the norm as a double (it may
// exceed T's range; the caller decides). group_norm_rows is the same over two row
// pointers in packets (parallel/packet.hpp).

#include <cmath>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/parallel/group.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// The guarded norm from reduce(init, map, op): the group's reduction with `op` of
/// map(element_j) over the row's elements (group_norm, group_norm_rows).
template <class Reduce>
PDML_HOST_DEVICE double guarded_norm(Reduce reduce) {
  using parallel::Max;
  using parallel::Sum;
  const double sum_of_squares = reduce(0.0, [](double v) { return v * v; }, Sum{});
  if (sum_of_squares >= 0x1p-900 && sum_of_squares <= 0x1p+900) return ::sqrt(sum_of_squares);
  const double largest = reduce(0.0, [](double v) { return ::fabs(v); }, Max{});
  if (!(largest > 0.0)) return sum_of_squares == sum_of_squares ? 0.0 : sum_of_squares;
  const int exponent = ::ilogb(largest);
  const double scaled_sum = reduce(
      0.0,
      [exponent](double v) {
        const double scaled = ::scalbn(v, -exponent);
        return scaled * scaled;
      },
      Sum{});
  return ::ldexp(::sqrt(scaled_sum), exponent);
}

/// The norm of element(j), j in [0, n), reduced with g.reduce<K>.
template <int K, class G, class Element>
PDML_HOST_DEVICE double group_norm(const G& g, Index n, Element element) {
  return guarded_norm([&](double init, auto map, auto op) {
    return g.template reduce<K>(n, init, [&](Index j) { return map(element(j)); }, op);
  });
}

/// The norm of element(a[j], b[j]), j in [0, n), reduced in packets of V with
/// reduce_rows_vec<V, K> (vector loads where the rows allow): the bits of
/// group_norm<K> over the same elements.
template <int V, int K, class G, class A, class B, class Element>
PDML_HOST_DEVICE double group_norm_rows(const G& g, Index n, const A* a, const B* b,
                                        Element element) {
  return guarded_norm([&](double init, auto map, auto op) {
    return parallel::reduce_rows_vec<V, K>(
        g, n, a, b, init, [&](A x, B y) { return map(element(x, y)); }, op);
  });
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
