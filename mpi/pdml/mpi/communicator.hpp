// SPDX-License-Identifier: MIT
#pragma once
// MPI adapter of pdml's communicator concept (pdml/losses/communicator.hpp): in-place
// MPI_Allreduce over host buffers with MPI_MAX / MPI_SUM, for float and double. Header-only;
// the caller initializes MPI and links it (CMake: target pdml::mpi, defined when
// find_package(MPI) succeeds). Kept out of include/pdml so that pdml's core and its
// umbrella header need no MPI.
//
//   pdml::mpi::Communicator comm(MPI_COMM_WORLD);
//   const auto shard = pdml::even_class_shard(classes, comm.rank(), comm.size());
//   loss.forward(..., shard, comm, saved);

// Only MPI's C API is used: keep the deprecated C++ bindings out.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace pdml {
namespace mpi {

namespace detail {
template <class T>
MPI_Datatype datatype() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "pdml::mpi::Communicator reduces float or double buffers");
  return std::is_same<T, float>::value ? MPI_FLOAT : MPI_DOUBLE;
}
}  // namespace detail

/// All-reduces over an MPI communicator (not owned; it must outlive this object). Every rank
/// of it takes part in each call. Errors: with the communicator's default handler
/// (MPI_ERRORS_ARE_FATAL) MPI aborts the job; with MPI_ERRORS_RETURN a failed call throws
/// std::runtime_error carrying MPI's message.
class Communicator {
 public:
  explicit Communicator(MPI_Comm communicator) : communicator_(communicator) {}

  int rank() const {
    int r = 0;
    check(MPI_Comm_rank(communicator_, &r), "MPI_Comm_rank");
    return r;
  }
  int size() const {
    int n = 0;
    check(MPI_Comm_size(communicator_, &n), "MPI_Comm_size");
    return n;
  }
  MPI_Comm handle() const { return communicator_; }

  template <class T>
  void all_reduce_max(T* data, std::size_t count) {
    all_reduce(data, count, MPI_MAX);
  }
  template <class T>
  void all_reduce_sum(T* data, std::size_t count) {
    all_reduce(data, count, MPI_SUM);
  }

 private:
  template <class T>
  void all_reduce(T* data, std::size_t count, MPI_Op op) {
    // MPI counts are int: larger buffers go in pieces.
    while (count > 0) {
      const std::size_t piece = std::min<std::size_t>(count, std::size_t(INT_MAX));
      check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(piece), detail::datatype<T>(), op,
                          communicator_),
            "MPI_Allreduce");
      data += piece;
      count -= piece;
    }
  }

  static void check(int status, const char* call) {
    if (status == MPI_SUCCESS) return;
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, message, &length);
    throw std::runtime_error(std::string("pdml::mpi::Communicator: ") + call + " failed: " +
                             std::string(message, static_cast<std::size_t>(length)));
  }

  MPI_Comm communicator_;
};

}  // namespace mpi
}  // namespace pdml
