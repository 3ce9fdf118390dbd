// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by every CUDA agreement test, whichever backend runs the
// code under test: the device tests (*.cu, through device_test_support.hpp)
// and the Thrust-host tests (host/*.cpp, through host/host_test_support.hpp).
// Plain host C++ (no device code), so nvcc and the host compiler both take it.
// One definition of the tolerances and of the comparison keeps the two kinds
// of test holding the CUDA code to the same standard.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <type_traits>
#include <vector>

#include <pdml/core/matrix_view.hpp>

namespace pdml_test {

/// Agreement with the CPU API: 1e-12 relative in double, 1e-5 in float.
template <class T>
double tolerance() {
  return std::is_same<T, double>::value ? 1e-12 : 1e-5;
}

/// max |got - want| / max(1e-300, max |want|), over all elements. An all-zero
/// `want` therefore asks for an exact match (up to 1e-300 times the tolerance).
template <class T>
double relative_difference(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 0, diff = 0;
  for (std::size_t k = 0; k < want.size(); ++k) {
    scale = std::max(scale, std::abs(static_cast<double>(want[k])));
    diff = std::max(diff, std::abs(static_cast<double>(got[k]) - static_cast<double>(want[k])));
  }
  return diff / std::max(scale, 1e-300);
}

/// How many positions hold bitwise-equal values (a and b of the same size).
template <class T>
std::size_t count_equal(const std::vector<T>& a, const std::vector<T>& b) {
  std::size_t equal = 0;
  for (std::size_t k = 0; k < a.size(); ++k) equal += a[k] == b[k] ? 1 : 0;
  return equal;
}

/// n values shift + scale N(0, 1), deterministic in the seed.
template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed, double scale = 1.0,
                             double shift = 0.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(shift + scale * normal(gen));
  return v;
}

/// rows unit vectors of dimension p (normalised Gaussians, computed in
/// double), appended row by row to out. The distribution is the caller's:
/// a test that draws more normals from it afterwards sees the same stream as
/// if it had drawn these itself.
template <class T>
void append_unit_rows(std::vector<T>& out, pdml::Index rows, pdml::Index p, std::mt19937_64& gen,
                      std::normal_distribution<double>& normal) {
  std::vector<double> x(static_cast<std::size_t>(p));
  for (pdml::Index i = 0; i < rows; ++i) {
    double nn = 0;
    for (auto& v : x) {
      v = normal(gen);
      nn += v * v;
    }
    for (auto v : x) out.push_back(static_cast<T>(v / std::sqrt(nn)));
  }
}

/// Scales every row of the rows x cols row-major x to unit length (norm in
/// double).
template <class T>
void normalize_rows(std::vector<T>& x, pdml::Index rows, pdml::Index cols) {
  for (pdml::Index i = 0; i < rows; ++i) {
    T* row = x.data() + i * cols;
    double nn = 0;
    for (pdml::Index j = 0; j < cols; ++j) nn += double(row[j]) * row[j];
    for (pdml::Index j = 0; j < cols; ++j) row[j] = static_cast<T>(row[j] / std::sqrt(nn));
  }
}

/// rows x p unit rows from a fresh N(0, 1) on gen.
template <class T>
std::vector<T> unit_rows(pdml::Index rows, pdml::Index p, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  std::vector<T> out;
  append_unit_rows(out, rows, p, gen, normal);
  return out;
}

/// Copies rows x cols elements between two row-major layouts (row strides
/// from_stride and to_stride).
template <class T>
void copy_rows(const std::vector<T>& from, pdml::Index from_stride, std::vector<T>& to,
               pdml::Index to_stride, pdml::Index rows, pdml::Index cols) {
  for (pdml::Index i = 0; i < rows; ++i) {
    for (pdml::Index j = 0; j < cols; ++j) {
      to[static_cast<std::size_t>(i * to_stride + j)] =
          from[static_cast<std::size_t>(i * from_stride + j)];
    }
  }
}

/// A dense rows x cols row-major matrix laid out with row stride `stride`
/// (>= cols); the padding holds `padding`, a value that must survive.
template <class T>
std::vector<T> pad_rows(const std::vector<T>& dense, pdml::Index rows, pdml::Index cols,
                        pdml::Index stride, T padding) {
  std::vector<T> padded(static_cast<std::size_t>(rows * stride), padding);
  copy_rows(dense, cols, padded, stride, rows, cols);
  return padded;
}

/// The dense rows x cols part of a matrix stored with row stride `stride`.
template <class T>
std::vector<T> unpad_rows(const std::vector<T>& padded, pdml::Index rows, pdml::Index cols,
                          pdml::Index stride) {
  std::vector<T> dense(static_cast<std::size_t>(rows * cols));
  copy_rows(padded, stride, dense, cols, rows, cols);
  return dense;
}

/// Inputs of a batched log-density test (pdml_test::cpu_log_prob's kinds:
/// 0 vMF, 1 nivMF, 2 Power Spherical): N distributions with concentrations
/// log-uniform in (0.05, 500) and S unit points each.
template <class T>
struct DensityCase {
  pdml::Index n = 0, p = 0, s = 0;
  std::vector<T> first;   // N x p: eta = kappa mu (vMF) or the unit mean directions
  std::vector<T> second;  // N x p (nivMF) or N x 1 (Power Spherical) concentrations; empty for vMF
  std::vector<T> points;  // (S N) x p
  std::vector<T> grad;    // (S N) x 1, the gradient of the log-densities
};

template <class T>
DensityCase<T> make_density_case(int kind, pdml::Index n, pdml::Index p, pdml::Index s,
                                 unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> log_uniform(std::log(0.05), std::log(500.0));
  std::normal_distribution<double> normal;
  DensityCase<T> c;
  c.n = n;
  c.p = p;
  c.s = s;
  c.first = unit_rows<T>(n, p, gen);
  if (kind == 0) {  // eta = kappa mu
    for (pdml::Index i = 0; i < n; ++i) {
      const double kappa = std::exp(log_uniform(gen));
      for (pdml::Index j = 0; j < p; ++j) {
        auto& value = c.first[static_cast<std::size_t>(i * p + j)];
        value = static_cast<T>(kappa * value);
      }
    }
  } else {
    const pdml::Index cols = kind == 1 ? p : 1;
    for (pdml::Index k = 0; k < n * cols; ++k) {
      c.second.push_back(static_cast<T>(std::exp(log_uniform(gen))));
    }
  }
  c.points = unit_rows<T>(s * n, p, gen);
  for (pdml::Index i = 0; i < s * n; ++i) c.grad.push_back(static_cast<T>(normal(gen)));
  return c;
}

}  // namespace pdml_test
