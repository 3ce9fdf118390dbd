// SPDX-License-Identifier: MIT
#pragma once
// The communicator a sharded criterion (losses/sharded_el_nivmf_loss.hpp) combines its
// per-shard statistics through. It is a template parameter satisfied by the caller, so
// pdml's core compiles and runs without any message-passing library:
//
//   void all_reduce_max(T* data, std::size_t count);  // in place, element-wise max over ranks
//   void all_reduce_sum(T* data, std::size_t count);  // in place, element-wise sum over ranks
//
// for the criterion's scalar T (float or double). Both are collectives: every rank of the
// group calls them in the same order with the same count, and on return every rank holds
// the same result. Adapters: SingleProcessCommunicator below (one rank),
// mpi/pdml/mpi/communicator.hpp (MPI, host buffers) and
// cuda/pdml/cuda/distributed/nccl_communicator.hpp (NCCL, device buffers). The CUDA sharded
// criterion takes the stream-ordered, status-returning device form of this concept
// (cuda/pdml/cuda/losses/device_communicator.hpp).

#include <cstddef>
#include <type_traits>
#include <utility>

namespace pdml {

/// One rank: both reductions are the identity.
struct SingleProcessCommunicator {
  template <class T>
  void all_reduce_max(T*, std::size_t) {}
  template <class T>
  void all_reduce_sum(T*, std::size_t) {}
};

namespace detail {

template <class C, class T, class = void>
struct IsCommunicator : std::false_type {};

template <class C, class T>
struct IsCommunicator<
    C, T,
    decltype(void(std::declval<C&>().all_reduce_max(std::declval<T*>(), std::size_t(0))),
             void(std::declval<C&>().all_reduce_sum(std::declval<T*>(), std::size_t(0))))>
    : std::true_type {};

}  // namespace detail

/// True when C offers all_reduce_max and all_reduce_sum over buffers of T.
template <class C, class T>
constexpr bool is_communicator_v = detail::IsCommunicator<C, T>::value;

}  // namespace pdml
