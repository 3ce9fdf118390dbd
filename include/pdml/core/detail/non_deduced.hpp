// SPDX-License-Identifier: MIT
#pragma once
// NonDeduced<T>: T, but kept out of template argument deduction, so that a
// literal nullptr can be passed for an optional T* output (e.g.
// grad_temperature) of a function template. Shared by the CPU similarities
// and the CUDA entry points (which cannot include the Eigen-based CPU
// headers); dependency-free for that reason.

namespace pdml {
namespace detail {

template <class T>
struct NonDeducedHelper {
  using type = T;
};
template <class T>
using NonDeduced = typename NonDeducedHelper<T>::type;

}  // namespace detail
}  // namespace pdml
