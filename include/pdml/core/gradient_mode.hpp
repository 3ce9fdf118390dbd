// SPDX-License-Identifier: MIT
#pragma once
// GradientMode: whether a backward overwrites its gradient outputs (the
// default) or adds into them, as gradient accumulation over micro-batches
// needs. Every public CPU backward takes it as its last argument (ElNivmfLoss
// as Options::gradients).

#include <initializer_list>
#include <vector>

#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"

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

/// GradientMode for a free backward function: checks each output's structure and that
/// no two outputs overlap (before anything is read or written), then runs
/// with_gradient_mode with a temporary copy of the previous values (the overwrite
/// backward validates the shapes before it writes anything).
template <class T, class Overwrite>
void backward_with_mode(const char* function, GradientMode mode,
                        std::initializer_list<NamedView<T>> outputs, T* scalar,
                        Overwrite&& overwrite) {
  if (mode != GradientMode::overwrite && mode != GradientMode::accumulate) {
    throw_invalid(function, "mode", "is not a GradientMode value");
  }
  for (const NamedView<T>& output : outputs) {
    if (output.view.data != nullptr || output.view.rows != 0) {
      check_view(function, output.name, output.view);
    }
  }
  check_no_overlap(function, outputs);
  if (mode == GradientMode::overwrite) {
    overwrite();
    return;
  }
  std::vector<T> keep;
  std::vector<MatrixView<T>> views;
  views.reserve(outputs.size());
  Index total = 0;
  for (const NamedView<T>& output : outputs) {
    const MatrixView<T> v = output.view.data != nullptr ? output.view : MatrixView<T>{nullptr, 0, 0, 0};
    views.push_back(v);
    total += v.rows * v.cols;
  }
  keep.reserve(static_cast<std::size_t>(total));
  for (const MatrixView<T>& v : views) {
    for (Index r = 0; r < v.rows; ++r) {
      for (Index c = 0; c < v.cols; ++c) keep.push_back(v(r, c));
    }
  }
  const T previous_scalar = scalar != nullptr ? *scalar : T(0);
  overwrite();
  std::size_t at = 0;
  for (const MatrixView<T>& v : views) {
    for (Index r = 0; r < v.rows; ++r) {
      for (Index c = 0; c < v.cols; ++c) v(r, c) += keep[at++];
    }
  }
  if (scalar != nullptr) *scalar += previous_scalar;
}

}  // namespace detail
}  // namespace pdml
