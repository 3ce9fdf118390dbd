// SPDX-License-Identifier: MIT
#pragma once
// Class-balanced batches: every batch holds `per_class` images of each of
// `classes_per_batch` classes, drawn without replacement from per-class
// permutations that are reshuffled when used up. Deterministic for a seed
// (hand-written Fisher-Yates over std::mt19937_64, whose stream is standard).

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fmnist {

class BalancedBatches {
 public:
  BalancedBatches(const std::vector<std::int64_t>& labels, int classes_per_batch, int per_class,
                  std::uint64_t seed)
      : classes_per_batch_(classes_per_batch), per_class_(per_class), engine_(seed) {
    if (per_class < 2) throw std::invalid_argument("BalancedBatches: per_class must be >= 2");
    std::map<std::int64_t, std::vector<std::int64_t>> by_class;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      by_class[labels[i]].push_back(static_cast<std::int64_t>(i));
    }
    for (auto& entry : by_class) {
      if (static_cast<int>(entry.second.size()) < per_class) {
        throw std::invalid_argument("BalancedBatches: class " + std::to_string(entry.first) +
                                    " has fewer images than per_class");
      }
      pools_.push_back(std::move(entry.second));
    }
    if (classes_per_batch < 1 || classes_per_batch > static_cast<int>(pools_.size())) {
      throw std::invalid_argument("BalancedBatches: classes_per_batch must lie in [1, classes]");
    }
    cursor_.assign(pools_.size(), 0);
    class_order_.resize(pools_.size());
    for (std::size_t c = 0; c < pools_.size(); ++c) {
      class_order_[c] = static_cast<std::int64_t>(c);
      shuffle(pools_[c]);
    }
    images_ = labels.size();
  }

  int batch_size() const { return classes_per_batch_ * per_class_; }
  /// Batches that see about every image once.
  long batches_per_epoch() const {
    return std::max<long>(1, static_cast<long>(images_) / batch_size());
  }

  /// The row indices of the next batch, grouped by class.
  std::vector<std::int64_t> next() {
    // The classes of this batch: a fresh random subset unless all are used.
    if (classes_per_batch_ < static_cast<int>(pools_.size())) shuffle(class_order_);
    std::vector<std::int64_t> batch;
    batch.reserve(static_cast<std::size_t>(batch_size()));
    for (int k = 0; k < classes_per_batch_; ++k) {
      const auto c = static_cast<std::size_t>(class_order_[static_cast<std::size_t>(k)]);
      for (int j = 0; j < per_class_; ++j) {
        if (cursor_[c] == pools_[c].size()) {
          shuffle(pools_[c]);
          cursor_[c] = 0;
        }
        batch.push_back(pools_[c][cursor_[c]++]);
      }
    }
    return batch;
  }

 private:
  void shuffle(std::vector<std::int64_t>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(engine_() % i);
      std::swap(v[i - 1], v[j]);
    }
  }

  int classes_per_batch_;
  int per_class_;
  std::mt19937_64 engine_;
  std::vector<std::vector<std::int64_t>> pools_;
  std::vector<std::size_t> cursor_;
  std::vector<std::int64_t> class_order_;
  std::size_t images_ = 0;
};

}  // namespace fmnist
