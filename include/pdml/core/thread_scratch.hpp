// SPDX-License-Identifier: MIT
#pragma once
// Per-thread scratch space owned by a Saved struct, so that a backward pass
// allocates nothing beyond what Saved holds: the buffer grows on the first
// backward (or when shapes or the thread count grow) and is reused afterwards.

#include <cstddef>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "pdml/core/matrix_view.hpp"

namespace pdml {
namespace detail {

template <class T>
class ThreadScratch {
 public:
  /// Makes room for `per_thread` elements for every thread of the next parallel
  /// region. Call outside the region.
  void reserve(Index per_thread) {
#if defined(_OPENMP)
    const std::size_t threads = static_cast<std::size_t>(omp_get_max_threads());
#else
    const std::size_t threads = 1;
#endif
    per_thread_ = static_cast<std::size_t>(per_thread);
    if (buffer_.size() < threads * per_thread_) buffer_.resize(threads * per_thread_);
  }

  /// The calling thread's slice (inside or outside a parallel region).
  T* local() {
#if defined(_OPENMP)
    return buffer_.data() + per_thread_ * static_cast<std::size_t>(omp_get_thread_num());
#else
    return buffer_.data();
#endif
  }

  std::size_t memory_bytes() const { return buffer_.size() * sizeof(T); }

 private:
  std::vector<T> buffer_;
  std::size_t per_thread_ = 0;
};

}  // namespace detail
}  // namespace pdml
