#pragma once
// Device-memory helpers shared by the CUDA tests (Catch2 assertions on every
// CUDA call): buffers, strided matrices, a cuBLAS handle, comparisons.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <type_traits>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <pdml/core/matrix_view.hpp>

namespace pdml_test {

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    REQUIRE(cudaMalloc(&data_, std::max<std::size_t>(count, 1) * sizeof(T)) == cudaSuccess);
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const std::vector<T>& host) {
    REQUIRE(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) ==
            cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost) ==
            cudaSuccess);
    return host;
  }
  T* get() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
  std::size_t count_;
};

template <class T>
double tolerance() {
  return std::is_same<T, double>::value ? 1e-12 : 1e-5;
}

/// max |got - want| / max(1e-300, max |want|), over all elements.
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

template <class T>
std::size_t count_equal(const std::vector<T>& a, const std::vector<T>& b) {
  std::size_t equal = 0;
  for (std::size_t k = 0; k < a.size(); ++k) equal += a[k] == b[k] ? 1 : 0;
  return equal;
}

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(scale * normal(gen));
  return v;
}

struct CublasHandle {
  cublasHandle_t handle = nullptr;
  CublasHandle() { REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS); }
  ~CublasHandle() { cublasDestroy(handle); }
};

/// Copies a dense host matrix into a device matrix with row stride cols + pad.
template <class T>
struct StridedMatrix {
  DeviceBuffer<T> buffer;
  long rows, cols, stride;
  StridedMatrix(const std::vector<T>& dense, long rows_, long cols_, long pad)
      : buffer(static_cast<std::size_t>(rows_ * (cols_ + pad))),
        rows(rows_),
        cols(cols_),
        stride(cols_ + pad) {
    std::vector<T> padded(static_cast<std::size_t>(rows * stride), T(-1e30));
    for (long r = 0; r < rows; ++r) {
      for (long c = 0; c < cols; ++c) padded[r * stride + c] = dense[r * cols + c];
    }
    buffer.upload(padded);
  }
  pdml::MatrixView<T> view() const { return pdml::MatrixView<T>{buffer.get(), rows, cols, stride}; }
  std::vector<T> dense() const {
    const auto padded = buffer.download();
    std::vector<T> out(static_cast<std::size_t>(rows * cols));
    for (long r = 0; r < rows; ++r) {
      for (long c = 0; c < cols; ++c) out[r * cols + c] = padded[r * stride + c];
    }
    return out;
  }
};

}  // namespace pdml_test
