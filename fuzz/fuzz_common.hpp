// SPDX-License-Identifier: MIT
#pragma once
// Shared pieces of the libFuzzer harnesses (docs/reliability.md): a reader that
// turns the fuzzer's bytes into shapes and into values biased toward the extremes
// (ordinary numbers, powers of ten across the whole exponent range, subnormals,
// raw bit patterns: NaN and infinities included), and the contract checks.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <Eigen/Core>

namespace pdml_fuzz {

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A property of the contract failed: report and abort (libFuzzer saves the input).
[[noreturn]] inline void fail(const char* what, const std::string& detail = std::string()) {
  std::fprintf(stderr, "pdml contract violated: %s %s\n", what, detail.c_str());
  std::abort();
}

/// A value written exactly (hexadecimal floating point), for reproducing reports.
template <class T>
std::string hex(T value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%a", static_cast<double>(value));
  return buffer;
}

/// A matrix written exactly, row by row.
template <class T>
std::string hex(const Matrix<T>& m) {
  std::string out = "[";
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    out += r ? "; " : "";
    for (Eigen::Index c = 0; c < m.cols(); ++c) out += (c ? " " : "") + hex(m(r, c));
  }
  return out + "]";
}

inline void require(bool condition, const char* what) {
  if (!condition) fail(what);
}

/// The message of an std::invalid_argument must name one of the caller's arguments
/// (pdml writes them as 'name' or 'name.field').
inline void require_names_one_of(const std::invalid_argument& error,
                                 std::initializer_list<const char*> arguments) {
  const std::string what = error.what();
  for (const char* argument : arguments) {
    if (what.find(std::string("'") + argument) != std::string::npos) return;
  }
  fail("invalid_argument names no argument of the caller:", what);
}

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::uint8_t byte() { return position_ < size_ ? data_[position_++] : std::uint8_t(0); }

  /// An integer in [lo, hi].
  int integer(int lo, int hi) {
    const int span = hi - lo + 1;
    return lo + static_cast<int>(byte() % static_cast<unsigned>(span));
  }

  bool flag() { return (byte() & 1u) != 0; }

  /// A value of T: mostly ordinary, often extreme, sometimes any bit pattern.
  template <class T>
  T value() {
    using Bits = typename std::conditional<sizeof(T) == 8, std::uint64_t, std::uint32_t>::type;
    const std::uint8_t kind = byte();
    const double sign = (kind & 0x80u) ? -1.0 : 1.0;
    switch (kind % 8u) {
      case 0:
      case 1:
      case 2: {  // ordinary: k / 16 for k in [-2048, 2047]
        const int k = (static_cast<int>(byte()) << 4 | (byte() & 0x0f)) - 2048;
        return static_cast<T>(k / 16.0);
      }
      case 3: {  // a power of ten anywhere in (and beyond) T's range, times a mantissa
        const int max10 = std::numeric_limits<T>::max_exponent10;
        const int min10 = std::numeric_limits<T>::min_exponent10 - std::numeric_limits<T>::digits10;
        const int e = min10 + static_cast<int>(byte()) * (max10 - min10) / 255;
        const double mantissa = 1.0 + byte() / 32.0;
        return static_cast<T>(sign * mantissa * std::pow(10.0, e));
      }
      case 4: {  // near the largest finite value
        return static_cast<T>(sign) * std::numeric_limits<T>::max() / static_cast<T>(1 + byte() % 4);
      }
      case 5: {  // subnormal
        return static_cast<T>(sign) * std::numeric_limits<T>::denorm_min() * static_cast<T>(1 + byte());
      }
      case 6: {  // raw bit pattern
        Bits bits = 0;
        for (std::size_t i = 0; i < sizeof(Bits); ++i) bits = (bits << 8) | byte();
        T out;
        std::memcpy(&out, &bits, sizeof out);
        return out;
      }
      default:
        return static_cast<T>(sign * (byte() % 3));  // 0, +-1, +-2
    }
  }

  /// An ordinary value k / 16, |k| <= 2048 (for incoming gradients: see reliability.md).
  template <class T>
  T ordinary() {
    const int k = (static_cast<int>(byte()) << 4 | (byte() & 0x0f)) - 2048;
    return static_cast<T>(k / 16.0);
  }

  template <class T>
  Matrix<T> ordinary_matrix(int rows, int cols) {
    Matrix<T> m(rows, cols);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) m(r, c) = ordinary<T>();
    }
    return m;
  }

  template <class T>
  Matrix<T> matrix(int rows, int cols) {
    Matrix<T> m(rows, cols);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) m(r, c) = value<T>();
    }
    return m;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

template <class T>
bool all_finite(const Matrix<T>& m) {
  return m.allFinite();
}

/// Bitwise equality (NaN payloads included): "nothing was written".
template <class T>
bool same_bits(const Matrix<T>& a, const Matrix<T>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.size())) == 0);
}

}  // namespace pdml_fuzz
