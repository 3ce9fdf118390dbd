// SPDX-License-Identifier: MIT
#pragma once
// Device-memory helpers shared by the CUDA tests (Catch2 assertions on every
// CUDA call): buffers, strided matrices, a cuBLAS handle, a stream, test
// inputs; the comparisons and random inputs they share with the Thrust-host
// tests are in test_support_common.hpp.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <pdml/core/matrix_view.hpp>

#include "test_support_common.hpp"

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

struct CublasHandle {
  cublasHandle_t handle = nullptr;
  CublasHandle() { REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS); }
  ~CublasHandle() { cublasDestroy(handle); }
};

/// A non-default stream, destroyed with the object; converts to cudaStream_t.
class CudaStream {
 public:
  CudaStream() { REQUIRE(cudaStreamCreate(&stream_) == cudaSuccess); }
  ~CudaStream() { cudaStreamDestroy(stream_); }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  operator cudaStream_t() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

/// A device matrix with row stride cols + pad; the padding holds -1e30, which
/// would show in any result that read it.
template <class T>
struct StridedMatrix {
  DeviceBuffer<T> buffer;
  long rows, cols, stride;
  /// A copy of the dense host matrix (rows x cols, row-major).
  StridedMatrix(const std::vector<T>& dense, long rows_, long cols_, long pad)
      : buffer(static_cast<std::size_t>(rows_ * (cols_ + pad))),
        rows(rows_),
        cols(cols_),
        stride(cols_ + pad) {
    buffer.upload(pad_rows(dense, rows, cols, stride, T(-1e30)));
  }
  /// Every element `fill` (an output that the call under test overwrites).
  StridedMatrix(long rows_, long cols_, long pad, T fill = T(0))
      : StridedMatrix(std::vector<T>(static_cast<std::size_t>(rows_ * cols_), fill), rows_, cols_,
                      pad) {}
  pdml::MatrixView<T> view() const { return pdml::MatrixView<T>{buffer.get(), rows, cols, stride}; }
  std::vector<T> dense() const { return unpad_rows(buffer.download(), rows, cols, stride); }
};

/// count raw nivMF concentrations |N(0, 3^2)| (seeded), with element 0 below
/// min_kappa = 0.1 and element 5 exactly at it: both clamped, zero gradient.
template <class T>
std::vector<T> clamped_concentrations(std::size_t count, unsigned seed) {
  std::vector<T> k = random_vector<T>(count, seed);
  for (auto& value : k) value = std::abs(value) * T(3);
  k[0] = T(0.01);
  k[5] = T(0.1);
  return k;
}

}  // namespace pdml_test
