// SPDX-License-Identifier: MIT
#pragma once
// R ranks emulated by R threads of one process: a communicator (pdml/losses/communicator.hpp)
// whose all-reduces combine the ranks' buffers in rank order, so every rank gets the same
// bits. Lets the sharded criterion's logic be tested without MPI.

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pdml_test {

class ThreadGroup {
 public:
  explicit ThreadGroup(int ranks) : ranks_(ranks), buffers_(static_cast<std::size_t>(ranks)) {}
  int ranks() const { return ranks_; }

  /// Element-wise reduction over the ranks' buffers (count elements each), in place.
  template <class T, class Combine>
  void all_reduce(int rank, T* data, std::size_t count, Combine combine) {
    buffers_[static_cast<std::size_t>(rank)] = data;
    barrier();  // every buffer published
    std::vector<T> result(static_cast<const T*>(buffers_[0]),
                          static_cast<const T*>(buffers_[0]) + count);
    for (int r = 1; r < ranks_; ++r) {
      const T* other = static_cast<const T*>(buffers_[static_cast<std::size_t>(r)]);
      for (std::size_t j = 0; j < count; ++j) result[j] = combine(result[j], other[j]);
    }
    barrier();  // every rank has read every buffer
    std::copy(result.begin(), result.end(), data);
  }

  /// Runs body(rank) on one thread per rank; rethrows the first exception after all joined.
  void run(const std::function<void(int)>& body) {
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks_));
    for (int r = 0; r < ranks_; ++r) {
      threads.emplace_back([&, r] {
        try {
          body(r);
        } catch (...) {
          errors[static_cast<std::size_t>(r)] = std::current_exception();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
  }

 private:
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == ranks_) {
      arrived_ = 0;
      ++generation_;
      released_.notify_all();
    } else {
      released_.wait(lock, [&] { return generation_ != generation; });
    }
  }

  int ranks_;
  std::vector<const void*> buffers_;
  std::mutex mutex_;
  std::condition_variable released_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
};

/// Rank `rank`'s view of a ThreadGroup.
struct ThreadCommunicator {
  ThreadGroup* group;
  int rank;
  template <class T>
  void all_reduce_max(T* data, std::size_t count) {
    group->all_reduce(rank, data, count, [](T a, T b) { return std::max(a, b); });
  }
  template <class T>
  void all_reduce_sum(T* data, std::size_t count) {
    group->all_reduce(rank, data, count, [](T a, T b) { return a + b; });
  }
};

}  // namespace pdml_test
