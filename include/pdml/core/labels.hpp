// SPDX-License-Identifier: MIT
#pragma once
// Labels: a non-owning pointer to class labels stored as std::int32_t or
// std::int64_t, so that every API that takes labels accepts either integer
// width without a copy. Converts implicitly from both pointer types (and from
// nullptr, which validation then rejects by the argument's name).

#include <cstddef>
#include <cstdint>

#include "pdml/core/matrix_view.hpp"

namespace pdml {

class Labels {
 public:
  Labels(const std::int64_t* wide) : wide_(wide) {}      // NOLINT: implicit on purpose
  Labels(const std::int32_t* narrow) : narrow_(narrow) {}  // NOLINT: implicit on purpose
  Labels(std::nullptr_t) {}                              // NOLINT: implicit on purpose

  bool is_null() const { return wide_ == nullptr && narrow_ == nullptr; }
  /// Label i, widened to 64 bits.
  std::int64_t operator[](Index i) const { return wide_ != nullptr ? wide_[i] : narrow_[i]; }

 private:
  const std::int64_t* wide_ = nullptr;
  const std::int32_t* narrow_ = nullptr;
};

}  // namespace pdml
