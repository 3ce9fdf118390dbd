// SPDX-License-Identifier: MIT
#pragma once
// The contiguous class range one rank holds in a sharded criterion: the CPU
// pdml::ShardedElNivmfLoss (losses/sharded_el_nivmf_loss.hpp) and the CUDA
// pdml::cuda::ShardedElNivmfLoss (cuda/pdml/cuda/losses/sharded_el_nivmf_loss.hpp)
// share it. Header of its own so the CUDA side needs neither Eigen nor the CPU criterion.

#include <algorithm>
#include <sstream>

#include "pdml/config.hpp"
#include "pdml/core/validate.hpp"

namespace pdml {

/// The classes [first, end) of `total` that one rank holds.
struct ClassShard {
  Index first = 0;
  Index end = 0;
  Index total = 0;
  Index size() const { return end - first; }
};

/// Rank `rank` of `ranks`: `total` classes split into contiguous ranges whose sizes differ
/// by at most one (the first total % ranks ranges are one larger). Requires
/// 1 <= ranks <= total and 0 <= rank < ranks (std::invalid_argument otherwise).
inline ClassShard even_class_shard(Index total, int rank, int ranks) {
  const char* fn = "pdml::even_class_shard";
  if (ranks < 1) detail::throw_invalid(fn, "ranks", "must be >= 1");
  if (rank < 0 || rank >= ranks) detail::throw_invalid(fn, "rank", "must be in [0, ranks)");
  if (total < ranks) detail::throw_invalid(fn, "total", "must be >= ranks (every shard non-empty)");
  const Index base = total / ranks, extra = total % ranks;
  const Index r = rank;
  const Index first = r * base + std::min(r, extra);
  return ClassShard{first, first + base + (r < extra ? 1 : 0), total};
}

namespace detail {

/// A shard that is a non-empty range of its classes: 1 <= total and
/// 0 <= first < end <= total (std::invalid_argument naming `argument` otherwise).
inline void check_class_shard(const char* function, const char* argument, const ClassShard& shard) {
  if (shard.total < 1) throw_invalid(function, argument, "has total < 1");
  if (shard.first < 0 || shard.first >= shard.end || shard.end > shard.total) {
    std::ostringstream os;
    os << "is [" << shard.first << ", " << shard.end << ") of " << shard.total
       << " classes (needs 0 <= first < end <= total)";
    throw_invalid(function, argument, os.str());
  }
}

}  // namespace detail
}  // namespace pdml
