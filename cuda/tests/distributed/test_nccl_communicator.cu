// SPDX-License-Identifier: MIT
// pdml::cuda::NcclCommunicator with one rank per visible GPU (ncclCommInitAll in this
// process): in-place max and sum over float and double device buffers, checked exactly
// (the values are small integers and halves). Satisfies pdml's communicator concept.
// Without a GPU the shared test main exits 77 (skipped).
#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <pdml/cuda/distributed/nccl_communicator.hpp>
#include <pdml/losses/communicator.hpp>

static_assert(pdml::is_communicator_v<pdml::cuda::NcclCommunicator, float>, "concept (float)");
static_assert(pdml::is_communicator_v<pdml::cuda::NcclCommunicator, double>, "concept (double)");

namespace {

// Rank r's buffer: element j = (r + 1) * (j % 7) - 0.5 r; sum and max over ranks are exact.
template <class T>
T value(int rank, std::size_t j) {
  return T(rank + 1) * T(j % 7) - T(0.5) * T(rank);
}

template <class T>
void check_reductions(const std::vector<ncclComm_t>& comms, std::size_t count) {
  const int ranks = static_cast<int>(comms.size());
  std::vector<cudaStream_t> streams(comms.size());
  std::vector<T*> sums(comms.size()), maxima(comms.size());
  std::vector<T> host(count);
  for (int r = 0; r < ranks; ++r) {
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    REQUIRE(cudaStreamCreate(&streams[r]) == cudaSuccess);
    REQUIRE(cudaMalloc(&sums[r], count * sizeof(T)) == cudaSuccess);
    REQUIRE(cudaMalloc(&maxima[r], count * sizeof(T)) == cudaSuccess);
    for (std::size_t j = 0; j < count; ++j) host[j] = value<T>(r, j);
    REQUIRE(cudaMemcpy(sums[r], host.data(), count * sizeof(T), cudaMemcpyHostToDevice) ==
            cudaSuccess);
    REQUIRE(cudaMemcpy(maxima[r], host.data(), count * sizeof(T), cudaMemcpyHostToDevice) ==
            cudaSuccess);
  }
  std::vector<pdml::cuda::NcclCommunicator> communicators;
  for (int r = 0; r < ranks; ++r) communicators.emplace_back(comms[r], streams[r]);
  // One thread drives every rank, so the collectives of all ranks form one group.
  REQUIRE(ncclGroupStart() == ncclSuccess);
  for (int r = 0; r < ranks; ++r) communicators[r].all_reduce_sum(sums[r], count);
  REQUIRE(ncclGroupEnd() == ncclSuccess);
  REQUIRE(ncclGroupStart() == ncclSuccess);
  for (int r = 0; r < ranks; ++r) communicators[r].all_reduce_max(maxima[r], count);
  REQUIRE(ncclGroupEnd() == ncclSuccess);
  for (int r = 0; r < ranks; ++r) {
    CHECK(communicators[r].status() == ncclSuccess);
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(streams[r]) == cudaSuccess);
    std::vector<T> got_sum(count), got_max(count);
    REQUIRE(cudaMemcpy(got_sum.data(), sums[r], count * sizeof(T), cudaMemcpyDeviceToHost) ==
            cudaSuccess);
    REQUIRE(cudaMemcpy(got_max.data(), maxima[r], count * sizeof(T), cudaMemcpyDeviceToHost) ==
            cudaSuccess);
    std::size_t wrong = 0;
    for (std::size_t j = 0; j < count; ++j) {
      T sum = 0, top = value<T>(0, j);
      for (int q = 0; q < ranks; ++q) {
        sum += value<T>(q, j);
        top = value<T>(q, j) > top ? value<T>(q, j) : top;
      }
      wrong += (got_sum[j] != sum) + (got_max[j] != top);
    }
    CHECK(wrong == 0);
    cudaFree(sums[r]);
    cudaFree(maxima[r]);
    cudaStreamDestroy(streams[r]);
  }
}

}  // namespace

TEST_CASE("NcclCommunicator: in-place sum and max over device buffers, one rank per GPU",
          "[cuda][nccl]") {
  int devices = 0;
  REQUIRE(cudaGetDeviceCount(&devices) == cudaSuccess);
  std::vector<ncclComm_t> comms(static_cast<std::size_t>(devices));
  REQUIRE(ncclCommInitAll(comms.data(), devices, nullptr) == ncclSuccess);
  check_reductions<float>(comms, 3);
  check_reductions<double>(comms, 3);
  check_reductions<float>(comms, 100003);
  check_reductions<double>(comms, 100003);
  for (auto comm : comms) ncclCommDestroy(comm);
}
