// SPDX-License-Identifier: MIT
// pdml::cuda::ShardedElNivmfLoss on the GPU against the single-process
// pdml::cuda::ElNivmfLoss on the same batch and classes, in double: loss and every
// gradient within 1e-12 relative, every rank holding the same loss and embedding gradient.
// * NCCL, one rank per visible GPU (ncclCommInitAll, one thread per rank): the
//   production adapter, pdml::cuda::NcclCommunicator.
// * R = 2, 3 and 4 ranks on one device (threads, one stream each) through a test
//   communicator that reduces on the host (it synchronizes the rank's stream: a test
//   device, not a production path), so several ranks are checked with a single GPU.
// Without a GPU the shared test main exits 77 (skipped).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <pdml/cuda/distributed/nccl_communicator.hpp>
#include <pdml/cuda/losses/el_nivmf_loss.hpp>
#include <pdml/cuda/losses/sharded_el_nivmf_loss.hpp>
#include <pdml/losses/class_shard.hpp>

#include "device_test_support.hpp"
#include "thread_communicator.hpp"

static_assert(pdml::cuda::is_device_communicator_v<pdml::cuda::NcclCommunicator, float>,
              "NCCL adapter satisfies the device communicator concept (float)");
static_assert(pdml::cuda::is_device_communicator_v<pdml::cuda::NcclCommunicator, double>,
              "NCCL adapter satisfies the device communicator concept (double)");

namespace {

using T = double;
using pdml::ClassShard;
using pdml::ConstMatrixView;
using pdml::Index;
using pdml::MatrixView;
using Loss = pdml::cuda::ElNivmfLoss<T>;
using Sharded = pdml::cuda::ShardedElNivmfLoss<T>;

constexpr T kTemperature = 0.4;
constexpr T kGradLoss = 0.75;
const pdml::RngKey kRng{2022u, 13u};

struct Problem {
  Index b, c, d, s;
  std::vector<T> samples, embeddings, proxies, kappas;
  std::vector<std::int64_t> labels;
};

/// Labels in [0, label_end): the shards above own no label of the batch.
Problem make_problem(Index b, Index c, Index d, Index s, std::int64_t label_end, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.05, 3.0);
  std::uniform_int_distribution<std::int64_t> label(0, label_end - 1);
  Problem p{b, c, d, s, {}, {}, {}, {}, {}};
  pdml_test::append_unit_rows(p.samples, s * b, d, gen, normal);
  for (Index i = 0; i < b * d; ++i) p.embeddings.push_back(2 * normal(gen));
  for (Index i = 0; i < c * d; ++i) p.proxies.push_back(normal(gen));
  for (Index i = 0; i < c * d; ++i) p.kappas.push_back(uniform(gen));
  for (Index i = 0; i < b; ++i) p.labels.push_back(label(gen));
  return p;
}

struct Output {
  std::string error;  // empty when every call succeeded
  T loss = 0, grad_temperature = 0;
  std::uint32_t device_status = 0;
  std::vector<T> grad_embeddings, grad_proxies, grad_kappas, grad_samples;
};

/// Device memory owned for one rank's run (no Catch2 assertions: ranks run on threads).
struct Allocations {
  std::vector<void*> pointers;
  ~Allocations() {
    for (void* p : pointers) cudaFree(p);
  }
  template <class U>
  cudaError_t allocate(U** out, std::size_t count) {
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(U));
    if (status == cudaSuccess) pointers.push_back(p);
    *out = static_cast<U*>(p);
    return status;
  }
  template <class U>
  cudaError_t upload(U** out, const U* host, std::size_t count) {
    const cudaError_t status = allocate(out, count);
    if (status != cudaSuccess) return status;
    return cudaMemcpy(*out, host, count * sizeof(U), cudaMemcpyHostToDevice);
  }
};

#define RANK_STEP(expr)                                                             \
  do {                                                                              \
    const cudaError_t rank_step_status_ = (expr);                                   \
    if (rank_step_status_ != cudaSuccess) {                                         \
      out.error = std::string(#expr) + ": " + cudaGetErrorString(rank_step_status_); \
      return out;                                                                   \
    }                                                                               \
  } while (0)

/// One rank on `device`: the sharded forward and backward (sampled, or on p.samples).
template <class Communicator>
Output run_rank(int device, const Problem& p, const Loss::Options& options, bool sampled,
                const ClassShard& shard, Communicator& communicator) {
  Output out;
  RANK_STEP(cudaSetDevice(device));
  const Index rows = p.s * p.b, n = shard.size(), d = p.d;
  cudaStream_t stream = nullptr;
  RANK_STEP(cudaStreamCreate(&stream));
  cublasHandle_t handle = nullptr;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    cudaStreamDestroy(stream);
    out.error = "cublasCreate failed";
    return out;
  }
  struct Release {
    cudaStream_t stream;
    cublasHandle_t handle;
    ~Release() {
      cublasDestroy(handle);
      cudaStreamDestroy(stream);
    }
  } release{stream, handle};
  if (cublasSetStream(handle, stream) != CUBLAS_STATUS_SUCCESS) {
    out.error = "cublasSetStream failed";
    return out;
  }
  Allocations memory;
  T *samples = nullptr, *embeddings = nullptr, *proxies = nullptr, *kappas = nullptr;
  std::int64_t* labels = nullptr;
  RANK_STEP(memory.upload(&samples, p.samples.data(), p.samples.size()));
  RANK_STEP(memory.upload(&embeddings, p.embeddings.data(), p.embeddings.size()));
  RANK_STEP(memory.upload(&proxies, p.proxies.data() + shard.first * d,
                          static_cast<std::size_t>(n * d)));
  RANK_STEP(memory.upload(&kappas, p.kappas.data() + shard.first * d,
                          static_cast<std::size_t>(n * d)));
  RANK_STEP(memory.upload(&labels, p.labels.data(), p.labels.size()));
  T *loss = nullptr, *grad_embeddings = nullptr, *grad_proxies = nullptr, *grad_kappas = nullptr,
    *grad_samples = nullptr, *grad_temperature = nullptr;
  RANK_STEP(memory.allocate(&loss, 1));
  RANK_STEP(memory.allocate(&grad_embeddings, static_cast<std::size_t>(p.b * d)));
  RANK_STEP(memory.allocate(&grad_proxies, static_cast<std::size_t>(n * d)));
  RANK_STEP(memory.allocate(&grad_kappas, static_cast<std::size_t>(n * d)));
  RANK_STEP(memory.allocate(&grad_samples, static_cast<std::size_t>(rows * d)));
  RANK_STEP(memory.allocate(&grad_temperature, 1));

  const Sharded criterion(options);
  const pdml::cuda::Context context{stream, handle, pdml::cuda::GemmPrecision::fp32};
  const ConstMatrixView<T> samples_view{samples, rows, d, d};
  const ConstMatrixView<T> embeddings_view{embeddings, p.b, d, d};
  const ConstMatrixView<T> proxies_view{proxies, n, d, d};
  const ConstMatrixView<T> kappas_view{kappas, n, d, d};
  Sharded::Saved saved;
  std::size_t bytes = 0;
  const auto forward = [&](void* workspace) {
    return sampled ? criterion.forward(workspace, bytes, embeddings_view, labels, proxies_view,
                                       kappas_view, kTemperature, kRng, shard, communicator,
                                       loss, saved, context)
                   : criterion.forward_with_samples(workspace, bytes, samples_view,
                                                    embeddings_view, labels, proxies_view,
                                                    kappas_view, kTemperature, shard,
                                                    communicator, loss, saved, context);
  };
  RANK_STEP(forward(nullptr));
  unsigned char* workspace = nullptr;
  RANK_STEP(memory.allocate(&workspace, bytes));
  RANK_STEP(forward(workspace));
  MatrixView<T> grad_samples_view{grad_samples, rows, d, d};
  RANK_STEP(criterion.backward(saved, kGradLoss, MatrixView<T>{grad_embeddings, p.b, d, d},
                               MatrixView<T>{grad_proxies, n, d, d},
                               MatrixView<T>{grad_kappas, n, d, d}, grad_temperature,
                               sampled ? nullptr : &grad_samples_view, communicator, context));
  RANK_STEP(cudaStreamSynchronize(stream));
  const auto download = [&](std::vector<T>& host, const T* source, Index count) {
    host.resize(static_cast<std::size_t>(count));
    return cudaMemcpy(host.data(), source, host.size() * sizeof(T), cudaMemcpyDeviceToHost);
  };
  RANK_STEP(download(out.grad_embeddings, grad_embeddings, p.b * d));
  RANK_STEP(download(out.grad_proxies, grad_proxies, n * d));
  RANK_STEP(download(out.grad_kappas, grad_kappas, n * d));
  if (!sampled) RANK_STEP(download(out.grad_samples, grad_samples, rows * d));
  RANK_STEP(cudaMemcpy(&out.loss, loss, sizeof(T), cudaMemcpyDeviceToHost));
  RANK_STEP(cudaMemcpy(&out.grad_temperature, grad_temperature, sizeof(T), cudaMemcpyDeviceToHost));
  RANK_STEP(cudaMemcpy(&out.device_status, saved.status(), sizeof(std::uint32_t),
                       cudaMemcpyDeviceToHost));
  return out;
}

#undef RANK_STEP

/// The single-process criterion on device 0 (main thread).
Output single_process(const Problem& p, const Loss::Options& options, bool sampled) {
  REQUIRE(cudaSetDevice(0) == cudaSuccess);
  const Index rows = p.s * p.b, d = p.d;
  pdml_test::CudaStream stream;
  pdml_test::CublasHandle handle;
  REQUIRE(cublasSetStream(handle.handle, stream) == CUBLAS_STATUS_SUCCESS);
  pdml_test::DeviceBuffer<T> samples(p.samples), embeddings(p.embeddings), proxies(p.proxies),
      kappas(p.kappas);
  pdml_test::DeviceBuffer<std::int64_t> labels(p.labels);
  pdml_test::DeviceBuffer<T> loss(1), ge(static_cast<std::size_t>(p.b * d)),
      gv(p.proxies.size()), gk(p.kappas.size()), gx(p.samples.size()), gt(1);
  const Loss criterion(options);
  const pdml::cuda::Context context{stream, handle.handle, pdml::cuda::GemmPrecision::fp32};
  Loss::Saved saved;
  std::size_t bytes = 0;
  const ConstMatrixView<T> ev{embeddings.get(), p.b, d, d}, vv{proxies.get(), p.c, d, d},
      kv{kappas.get(), p.c, d, d}, xv{samples.get(), rows, d, d};
  const auto forward = [&](void* workspace) {
    return sampled ? criterion.forward(workspace, bytes, ev, labels.get(), vv, kv, kTemperature,
                                       kRng, loss.get(), saved, context)
                   : criterion.forward_with_samples(workspace, bytes, xv, ev, labels.get(), vv,
                                                    kv, kTemperature, loss.get(), saved, context);
  };
  REQUIRE(forward(nullptr) == cudaSuccess);
  pdml_test::DeviceBuffer<unsigned char> workspace(bytes);
  REQUIRE(forward(workspace.get()) == cudaSuccess);
  MatrixView<T> gx_view{gx.get(), rows, d, d};
  REQUIRE(criterion.backward(saved, kGradLoss, MatrixView<T>{ge.get(), p.b, d, d},
                             MatrixView<T>{gv.get(), p.c, d, d},
                             MatrixView<T>{gk.get(), p.c, d, d}, gt.get(),
                             sampled ? nullptr : &gx_view, context) == cudaSuccess);
  Output out;
  out.loss = loss.download()[0];
  out.grad_temperature = gt.download()[0];
  out.grad_embeddings = ge.download();
  out.grad_proxies = gv.download();
  out.grad_kappas = gk.download();
  if (!sampled) out.grad_samples = gx.download();
  return out;
}

void compare(const Problem& p, const Loss::Options& options, bool sampled,
             const std::vector<ClassShard>& shards, const std::vector<Output>& got) {
  const Output want = single_process(p, options, sampled);
  const double tol = pdml_test::tolerance<T>();
  std::vector<T> grad_proxies, grad_kappas;
  for (std::size_t r = 0; r < got.size(); ++r) {
    INFO("rank " << r << " of " << got.size() << ", classes [" << shards[r].first << ", "
                 << shards[r].end << "), guidance " << options.guidance_weight
                 << (sampled ? ", sampled" : ", given samples"));
    const Output& g = got[r];
    INFO(g.error);
    REQUIRE(g.error.empty());
    CHECK(g.device_status == 0);
    CHECK(g.loss == got[0].loss);
    CHECK(g.grad_embeddings == got[0].grad_embeddings);
    CHECK(std::abs(g.loss - want.loss) <= tol * std::max(T(1), std::abs(want.loss)));
    CHECK(pdml_test::relative_difference(g.grad_embeddings, want.grad_embeddings) <= tol);
    CHECK(std::abs(g.grad_temperature - want.grad_temperature) <=
          tol * std::max(T(1), std::abs(want.grad_temperature)));
    if (!sampled) {
      CHECK(pdml_test::relative_difference(g.grad_samples, want.grad_samples) <= tol);
    }
    grad_proxies.insert(grad_proxies.end(), g.grad_proxies.begin(), g.grad_proxies.end());
    grad_kappas.insert(grad_kappas.end(), g.grad_kappas.begin(), g.grad_kappas.end());
  }
  CHECK(pdml_test::relative_difference(grad_proxies, want.grad_proxies) <= tol);
  CHECK(pdml_test::relative_difference(grad_kappas, want.grad_kappas) <= tol);
}

/// A test device communicator for ranks sharing one GPU: copies the buffer to the host
/// (synchronizing the rank's stream), reduces across the threads in rank order, copies back.
struct HostStagedCommunicator {
  pdml_test::ThreadCommunicator ranks;
  template <class U>
  cudaError_t all_reduce_max(U* data, std::size_t count, cudaStream_t stream) {
    return staged(data, count, stream, true);
  }
  template <class U>
  cudaError_t all_reduce_sum(U* data, std::size_t count, cudaStream_t stream) {
    return staged(data, count, stream, false);
  }
  template <class U>
  cudaError_t staged(U* data, std::size_t count, cudaStream_t stream, bool max) {
    std::vector<U> host(count);
    cudaError_t status =
        cudaMemcpyAsync(host.data(), data, count * sizeof(U), cudaMemcpyDeviceToHost, stream);
    if (status == cudaSuccess) status = cudaStreamSynchronize(stream);
    // Every rank enters the collective even after a failure, so none is left waiting.
    if (max) {
      ranks.all_reduce_max(host.data(), count);
    } else {
      ranks.all_reduce_sum(host.data(), count);
    }
    if (status != cudaSuccess) return status;
    status = cudaMemcpyAsync(data, host.data(), count * sizeof(U), cudaMemcpyHostToDevice, stream);
    return status == cudaSuccess ? cudaStreamSynchronize(stream) : status;
  }
};

std::vector<ClassShard> even_shards(Index total, int ranks) {
  std::vector<ClassShard> shards;
  for (int r = 0; r < ranks; ++r) shards.push_back(pdml::even_class_shard(total, r, ranks));
  return shards;
}

Loss::Options options_with(T guidance_weight) {
  Loss::Options o;
  o.n_samples = 3;
  o.guidance_weight = guidance_weight;
  return o;
}

}  // namespace

TEST_CASE("sharded criterion, R ranks on one GPU, equals the single-process criterion",
          "[cuda][sharded]") {
  // C = 10, labels in [0, 4): the last ranks own no label of the batch.
  const Problem p = make_problem(9, 10, 6, 3, 4, 97u);
  for (const bool sampled : {false, true}) {
    for (const T w : {T(0), T(0.5)}) {
      const Loss::Options o = options_with(w);
      for (int ranks = 1; ranks <= 4; ++ranks) {
        const std::vector<ClassShard> shards =
            ranks == 3 ? std::vector<ClassShard>{{0, 1, 10}, {1, 8, 10}, {8, 10, 10}}
                       : even_shards(p.c, ranks);
        pdml_test::ThreadGroup group(ranks);
        std::vector<Output> got(shards.size());
        group.run([&](int rank) {
          HostStagedCommunicator communicator{pdml_test::ThreadCommunicator{&group, rank}};
          const auto k = static_cast<std::size_t>(rank);
          got[k] = run_rank(0, p, o, sampled, shards[k], communicator);
        });
        compare(p, o, sampled, shards, got);
      }
    }
  }
}

TEST_CASE("sharded criterion over NCCL, one rank per GPU, equals the single-process criterion",
          "[cuda][sharded][nccl]") {
  int devices = 0;
  REQUIRE(cudaGetDeviceCount(&devices) == cudaSuccess);
  std::vector<ncclComm_t> comms(static_cast<std::size_t>(devices));
  REQUIRE(ncclCommInitAll(comms.data(), devices, nullptr) == ncclSuccess);
  const Problem p = make_problem(9, 10, 6, 3, 4, 97u);
  const std::vector<ClassShard> shards = even_shards(p.c, devices);
  for (const bool sampled : {false, true}) {
    for (const T w : {T(0), T(0.5)}) {
      const Loss::Options o = options_with(w);
      pdml_test::ThreadGroup threads(devices);
      std::vector<Output> got(shards.size());
      std::vector<ncclResult_t> nccl_status(shards.size(), ncclSuccess);
      threads.run([&](int rank) {
        const auto k = static_cast<std::size_t>(rank);
        pdml::cuda::NcclCommunicator communicator(comms[k], nullptr);
        got[k] = run_rank(rank, p, o, sampled, shards[k], communicator);
        nccl_status[k] = communicator.status();
      });
      for (const ncclResult_t status : nccl_status) CHECK(status == ncclSuccess);
      compare(p, o, sampled, shards, got);
    }
  }
  for (ncclComm_t comm : comms) ncclCommDestroy(comm);
}
