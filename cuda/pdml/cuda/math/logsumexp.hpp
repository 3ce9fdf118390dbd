// SPDX-License-Identifier: MIT
#pragma once
// The running logsumexp, as a value the reductions of parallel/group.hpp fold: the
// scores epilogue keeps one per lane over its classes, the finisher folds the chunks'.

#include "pdml/config.hpp"
#include "pdml/math/detail/scalar.hpp"

namespace pdml {
namespace cuda {
namespace parallel {

/// A running logsumexp: max m and sum l of exp(x - m).
template <class T>
struct LseState {
  T max;
  T sum;
};

/// The combine of two running logsumexps, symmetric in its arguments (so lanes that
/// fold in either order agree bitwise): M = max(m1, m2), l = l1 e^(m1 - M) + l2 e^(m2 - M).
/// Both maxima -inf (empty) gives (-inf, sum of the sums) instead of NaN; a NaN pushed on
/// either side gives a NaN sum.
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE LseState<T> lse_combine(LseState<T> a, LseState<T> b) {
  const T m = b.max > a.max ? b.max : a.max;
  // Both empty: the sums are zero, or NaN where a NaN was pushed, which must survive.
  if (a.max == -pdml::detail::infinity_<T>() && b.max == a.max) {
    return LseState<T>{a.max, a.sum + b.sum};
  }
  using pdml::detail::exp_;
  return LseState<T>{m, a.sum * exp_(a.max - m) + b.sum * exp_(b.max - m)};
}

/// The running logsumexp with one more value x.
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE LseState<T> lse_push(LseState<T> a, T x) {
  return lse_combine(a, LseState<T>{x, T(1)});
}

struct LseCombine {
  template <class T>
  PDML_HOST_DEVICE PDML_FORCE_INLINE LseState<T> operator()(LseState<T> a, LseState<T> b) const {
    return lse_combine(a, b);
  }
};

template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE LseState<T> lse_empty() {
  return LseState<T>{-pdml::detail::infinity_<T>(), T(0)};
}

}  // namespace parallel
}  // namespace cuda
}  // namespace pdml
