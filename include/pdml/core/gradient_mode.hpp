// SPDX-License-Identifier: MIT
#pragma once
// GradientMode: whether a backward overwrites its gradient outputs (the
// default) or adds into them, as gradient accumulation over micro-batches
// needs. Every public CPU backward takes it as its last argument (ElNivmfLoss
// as Options::gradients).

#include <initializer_list>
#include <vector>

#include "pdml/core/matrix_view.hpp"

namespace pdml {

enum class GradientMode {
  overwrite,   ///< outputs = gradient
  accumulate,  ///< outputs += gradient
};

namespace detail {

/// Runs `overwrite()` (which overwrites `outputs` and *scalar when non-null) and,
/// in accumulate mode, adds back what the outputs held before. The previous
/// values are kept in `keep` (owned by the caller's Saved where there is one, so
/// a reused Saved allocates nothing after the first step).
template <class T, class Overwrite>
void with_gradient_mode(GradientMode mode, std::initializer_list<MatrixView<T>> outputs,
                        T* scalar, std::vector<T>& keep, Overwrite&& overwrite) {
  if (mode == GradientMode::overwrite) {
    overwrite();
    return;
  }
  Index total = 0;
  for (const MatrixView<T>& view : outputs) total += view.rows * view.cols;
  keep.resize(static_cast<std::size_t>(total));
  std::size_t at = 0;
  for (const MatrixView<T>& view : outputs) {
    for (Index r = 0; r < view.rows; ++r) {
      for (Index c = 0; c < view.cols; ++c) keep[at++] = view(r, c);
    }
  }
  const T previous_scalar = scalar != nullptr ? *scalar : T(0);
  overwrite();
  at = 0;
  for (const MatrixView<T>& view : outputs) {
    for (Index r = 0; r < view.rows; ++r) {
      for (Index c = 0; c < view.cols; ++c) view(r, c) += keep[at++];
    }
  }
  if (scalar != nullptr) *scalar += previous_scalar;
}

}  // namespace detail
}  // namespace pdml
