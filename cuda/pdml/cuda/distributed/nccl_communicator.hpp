// SPDX-License-Identifier: MIT
#pragma once
// NCCL adapter of pdml's communicator concept (pdml/losses/communicator.hpp) for device
// buffers: all_reduce_max / all_reduce_sum enqueue an in-place ncclAllReduce on the caller's
// stream (stream-ordered, no synchronization), for float and double. Meant for the CUDA
// sharded criterion (pdml::cuda::ShardedElNivmfLoss), whose per-row statistics and embedding
// gradient live in device memory;
// pdml::ShardedElNivmfLoss (CPU) reduces host buffers and takes pdml::mpi::Communicator or
// another host communicator instead. Needs nccl.h and libnccl (CMake finds them next to the
// CUDA toolkit; this header is outside cuda/pdml/cuda/*.hpp so pdml::cuda does not need NCCL).
//
// Errors follow pdml::cuda's convention of returned statuses rather than exceptions: the
// host concept's calls return void, so the first failing NCCL call is kept in status() and every
// later call enqueues nothing until clear_status(); check status() after each collective step.
// The overloads with a stream argument satisfy pdml::cuda's device communicator concept
// (cuda/pdml/cuda/losses/device_communicator.hpp) for pdml::cuda::ShardedElNivmfLoss, and
// return a cudaError_t as well.

#include <cstddef>
#include <type_traits>

#include <cuda_runtime_api.h>
#include <nccl.h>

namespace pdml {
namespace cuda {

namespace detail {
template <class T>
ncclDataType_t nccl_datatype() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "pdml::cuda::NcclCommunicator reduces float or double device buffers");
  return std::is_same<T, float>::value ? ncclFloat32 : ncclFloat64;
}
}  // namespace detail

/// One rank of an NCCL communicator (not owned) and the stream its reductions are ordered on.
/// Pointers passed to the reductions are device pointers on the communicator's device.
class NcclCommunicator {
 public:
  NcclCommunicator(ncclComm_t communicator, cudaStream_t stream)
      : communicator_(communicator), stream_(stream) {}

  template <class T>
  void all_reduce_max(T* device_data, std::size_t count) {
    all_reduce(device_data, count, ncclMax);
  }
  template <class T>
  void all_reduce_sum(T* device_data, std::size_t count) {
    all_reduce(device_data, count, ncclSum);
  }

  /// pdml::cuda's device communicator concept (losses/device_communicator.hpp), which the
  /// CUDA sharded criterion takes: the same reduction enqueued on `stream` (the criterion's
  /// context.stream; the communicator's own stream is not used), returning cudaSuccess, or
  /// cudaErrorUnknown when NCCL fails or an earlier call failed (status() tells which NCCL
  /// error; nothing is enqueued until clear_status()).
  template <class T>
  cudaError_t all_reduce_max(T* device_data, std::size_t count, cudaStream_t stream) {
    return all_reduce_on(device_data, count, ncclMax, stream);
  }
  template <class T>
  cudaError_t all_reduce_sum(T* device_data, std::size_t count, cudaStream_t stream) {
    return all_reduce_on(device_data, count, ncclSum, stream);
  }

  /// ncclSuccess, or the result of the first failing call since construction or clear_status().
  ncclResult_t status() const { return status_; }
  void clear_status() { status_ = ncclSuccess; }

  ncclComm_t handle() const { return communicator_; }
  cudaStream_t stream() const { return stream_; }

 private:
  template <class T>
  void all_reduce(T* device_data, std::size_t count, ncclRedOp_t op) {
    all_reduce_on(device_data, count, op, stream_);
  }
  template <class T>
  cudaError_t all_reduce_on(T* device_data, std::size_t count, ncclRedOp_t op,
                            cudaStream_t stream) {
    if (status_ == ncclSuccess && count > 0) {
      status_ = ncclAllReduce(device_data, device_data, count, detail::nccl_datatype<T>(), op,
                              communicator_, stream);
    }
    return status_ == ncclSuccess ? cudaSuccess : cudaErrorUnknown;
  }

  ncclComm_t communicator_;
  cudaStream_t stream_;
  ncclResult_t status_ = ncclSuccess;
};

}  // namespace cuda
}  // namespace pdml
