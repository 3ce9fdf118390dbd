// SPDX-License-Identifier: MIT
#pragma once
// The communicator the CUDA sharded criterion (losses/sharded_el_nivmf_loss.hpp)
// combines its per-shard statistics through: device buffers, stream-ordered,
// statuses instead of exceptions (pdml::cuda's conventions, core.hpp). A template
// parameter satisfied by the caller, so pdml::cuda needs no collective library:
//
//   cudaError_t all_reduce_max(T* device_data, std::size_t count, cudaStream_t stream);
//   cudaError_t all_reduce_sum(T* device_data, std::size_t count, cudaStream_t stream);
//
// In place, element-wise over the ranks, for the criterion's scalar T. Each call
// enqueues the reduction on `stream` (the criterion's context.stream): it reads
// the buffer after the work enqueued before it on that stream and the work
// enqueued after it sees the result; it need not (and should not) synchronize.
// Collectives: every rank calls them in the same order with the same count, and
// afterwards every rank holds the same bits. Adapters: SingleDeviceCommunicator
// below (one rank) and pdml::cuda::NcclCommunicator
// (cuda/pdml/cuda/distributed/nccl_communicator.hpp). The host communicator concept
// of the CPU criterion is pdml/losses/communicator.hpp.

#include <cstddef>
#include <type_traits>
#include <utility>

#include <cuda_runtime_api.h>

namespace pdml {
namespace cuda {

/// One rank: both reductions are the identity.
struct SingleDeviceCommunicator {
  template <class T>
  cudaError_t all_reduce_max(T*, std::size_t, cudaStream_t) {
    return cudaSuccess;
  }
  template <class T>
  cudaError_t all_reduce_sum(T*, std::size_t, cudaStream_t) {
    return cudaSuccess;
  }
};

namespace detail {

template <class C, class T, class = void>
struct IsDeviceCommunicator : std::false_type {};

template <class C, class T>
struct IsDeviceCommunicator<
    C, T,
    std::enable_if_t<
        std::is_same<decltype(std::declval<C&>().all_reduce_max(
                         std::declval<T*>(), std::size_t(0), std::declval<cudaStream_t>())),
                     cudaError_t>::value &&
        std::is_same<decltype(std::declval<C&>().all_reduce_sum(
                         std::declval<T*>(), std::size_t(0), std::declval<cudaStream_t>())),
                     cudaError_t>::value>> : std::true_type {};

/// A device communicator bound to the call's stream: the two-argument form the
/// Backend-generic algorithm calls (the thrust-host tests pass their own).
template <class Communicator>
struct StreamBoundCommunicator {
  Communicator* communicator;
  cudaStream_t stream;
  template <class T>
  cudaError_t all_reduce_max(T* device_data, std::size_t count) const {
    return communicator->all_reduce_max(device_data, count, stream);
  }
  template <class T>
  cudaError_t all_reduce_sum(T* device_data, std::size_t count) const {
    return communicator->all_reduce_sum(device_data, count, stream);
  }
};

}  // namespace detail

/// True when C offers the stream-ordered all_reduce_max and all_reduce_sum over
/// device buffers of T, returning cudaError_t.
template <class C, class T>
constexpr bool is_device_communicator_v = detail::IsDeviceCommunicator<C, T>::value;

}  // namespace cuda
}  // namespace pdml
