// SPDX-License-Identifier: MIT
#pragma once
// How a loss turns its per-sample losses into the value it returns.

namespace pdml {

enum class Reduction {
  mean,  ///< average over the kept rows (rows with the ignore label are not counted)
  sum,   ///< sum over the kept rows
  none,  ///< forward returns the sum; the per-sample losses are read from Saved and
         ///< the *_per_sample backward takes one upstream gradient per sample
};

}  // namespace pdml
