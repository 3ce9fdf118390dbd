// SPDX-License-Identifier: MIT
#pragma once
// fp16 / bf16 test inputs shared by the device test test_half_inputs.cu and
// the Thrust-host test host/test_half_inputs_host.cpp: a strided half matrix
// together with the exact float values of its elements, which is what the
// half-precision overloads convert it to. Host-side data only.

#include <cstddef>
#include <random>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <pdml/core/matrix_view.hpp>
#include <pdml/cuda/similarities/detail/half_inputs.hpp>

namespace pdml_test {

inline __half from_float(float x, __half) { return __float2half(x); }
inline __nv_bfloat16 from_float(float x, __nv_bfloat16) { return __float2bfloat16(x); }

/// A rows x cols matrix in In (__half or __nv_bfloat16) with row stride
/// cols + pad, and its exact float value. The padding holds 1e4, which would
/// show in any result that read it.
template <class In>
struct HalfMatrix {
  pdml::Index rows = 0, cols = 0, stride = 0;
  std::vector<In> data;         // rows x stride
  std::vector<float> as_float;  // dense rows x cols
  pdml::MatrixView<const In> view() const {
    return pdml::MatrixView<const In>{data.data(), rows, cols, stride};
  }
};

/// Elements scale N(0, 1) rounded to In, drawn row by row from the caller's
/// normal distribution on gen.
template <class In>
HalfMatrix<In> random_half_matrix(pdml::Index rows, pdml::Index cols, pdml::Index pad,
                                  double scale, std::mt19937_64& gen,
                                  std::normal_distribution<double>& normal) {
  HalfMatrix<In> m;
  m.rows = rows;
  m.cols = cols;
  m.stride = cols + pad;
  m.data.assign(static_cast<std::size_t>(rows * m.stride), from_float(1e4f, In()));
  for (pdml::Index i = 0; i < rows; ++i) {
    for (pdml::Index j = 0; j < cols; ++j) {
      const In value = from_float(static_cast<float>(scale * normal(gen)), In());
      m.data[static_cast<std::size_t>(i * m.stride + j)] = value;
      m.as_float.push_back(pdml::cuda::detail::to_float(value));
    }
  }
  return m;
}

/// The same from a fresh N(0, 1).
template <class In>
HalfMatrix<In> random_half_matrix(pdml::Index rows, pdml::Index cols, pdml::Index pad,
                                  double scale, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  return random_half_matrix<In>(rows, cols, pad, scale, gen, normal);
}

}  // namespace pdml_test
