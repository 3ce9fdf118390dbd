// SPDX-License-Identifier: MIT
// A whole criterion step (forward + backward) captured into a CUDA graph on a
// non-default stream and replayed: every replay must give the eager step's
// results bit for bit (nothing in the step allocates, synchronizes, copies to
// the host or branches on device data, and the launch configuration depends
// only on shapes and options). The graph's kernel and memset nodes are counted
// against the host backend's launch count (test_cuda_contract_host). The
// temperature and the RNG key are host values, frozen into the graph: a new
// value needs a new capture (docs/cuda.md). Exits 77 without a device.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <pdml/cuda/losses/el_nivmf_loss.hpp>

#include "device_test_support.hpp"

namespace {

using pdml_test::CublasHandle;
using pdml_test::CudaStream;
using pdml_test::DeviceBuffer;
using pdml_test::random_vector;

constexpr long kB = 16, kC = 300, kD = 32, kS = 3;

struct Step {
  std::vector<float> loss, grad_embeddings, grad_proxies, grad_kappas, grad_temperature;
  bool operator==(const Step& o) const {
    const auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    };
    return same(loss, o.loss) && same(grad_embeddings, o.grad_embeddings) &&
           same(grad_proxies, o.grad_proxies) && same(grad_kappas, o.grad_kappas) &&
           same(grad_temperature, o.grad_temperature);
  }
};

TEST_CASE("a criterion step captured in a CUDA graph replays the eager step bit for bit",
          "[cuda][graph]") {
  std::vector<float> kappas = random_vector<float>(kC * kD, 23u);
  for (auto& k : kappas) k = 0.3f + std::abs(k);
  std::vector<std::int64_t> host_labels;
  for (long i = 0; i < kB; ++i) host_labels.push_back((i * 37) % kC);
  DeviceBuffer<float> e(random_vector<float>(kB * kD, 21u, 2.0)),
      v(random_vector<float>(kC * kD, 22u)), k(kappas), loss_out(1), gt(1), ge(kB * kD),
      gv(kC * kD), gk(kC * kD);
  DeviceBuffer<std::int64_t> labels(host_labels);
  const CudaStream stream;
  CublasHandle cublas;
  REQUIRE(cublasSetStream(cublas.handle, stream) == CUBLAS_STATUS_SUCCESS);
  // The caller's cuBLAS workspace (set after cublasSetStream, which resets it),
  // as PyTorch does: nothing allocates inside the captured calls.
  DeviceBuffer<unsigned char> cublas_workspace(32u << 20);
  REQUIRE(cublasSetWorkspace(cublas.handle, cublas_workspace.get(), 32u << 20) ==
          CUBLAS_STATUS_SUCCESS);
  const pdml::cuda::Context context{stream, cublas.handle};

  pdml::cuda::ElNivmfLoss<float>::Options options;
  options.n_samples = static_cast<int>(kS);
  options.guidance_weight = 0.5f;
  const pdml::cuda::ElNivmfLoss<float> loss(options);
  pdml::cuda::ElNivmfLoss<float>::Saved saved;
  const pdml::ConstMatrixView<float> ev{e.get(), kB, kD, kD}, vv{v.get(), kC, kD, kD},
      kv{k.get(), kC, kD, kD};
  std::size_t bytes = 0;
  const pdml::RngKey rng{4242u, 9u};
  REQUIRE(loss.forward(nullptr, bytes, ev, labels.get(), vv, kv, 0.1f, rng, loss_out.get(), saved,
                       context) == cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes);
  const auto step = [&] {
    REQUIRE(loss.forward(workspace.get(), bytes, ev, labels.get(), vv, kv, 0.1f, rng,
                         loss_out.get(), saved, context) == cudaSuccess);
    REQUIRE(loss.backward(saved, 1.0f, pdml::MatrixView<float>{ge.get(), kB, kD, kD},
                          pdml::MatrixView<float>{gv.get(), kC, kD, kD},
                          pdml::MatrixView<float>{gk.get(), kC, kD, kD}, gt.get(), nullptr,
                          context) == cudaSuccess);
  };
  const auto results = [&] {
    REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
    return Step{loss_out.download(), ge.download(), gv.download(), gk.download(), gt.download()};
  };
  const auto clear_outputs = [&] {
    for (void* p : {static_cast<void*>(loss_out.get()), static_cast<void*>(gt.get())}) {
      REQUIRE(cudaMemsetAsync(p, 0xff, sizeof(float), stream) == cudaSuccess);
    }
    REQUIRE(cudaMemsetAsync(ge.get(), 0xff, kB * kD * sizeof(float), stream) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(gv.get(), 0xff, kC * kD * sizeof(float), stream) == cudaSuccess);
    REQUIRE(cudaMemsetAsync(gk.get(), 0xff, kC * kD * sizeof(float), stream) == cudaSuccess);
  };

  step();  // eager, also the warm-up (cuBLAS heuristics, module loading)
  const Step eager = results();

  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  step();
  REQUIRE(cudaStreamEndCapture(stream, &graph) == cudaSuccess);
  REQUIRE(graph != nullptr);
  std::size_t count = 0;
  REQUIRE(cudaGraphGetNodes(graph, nullptr, &count) == cudaSuccess);
  std::vector<cudaGraphNode_t> nodes(count);
  REQUIRE(cudaGraphGetNodes(graph, nodes.data(), &count) == cudaSuccess);
  long kernels = 0, memsets = 0;
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType type;
    REQUIRE(cudaGraphNodeGetType(node, &type) == cudaSuccess);
    if (type == cudaGraphNodeTypeKernel) ++kernels;
    if (type == cudaGraphNodeTypeMemset) ++memsets;
  }
  INFO("graph nodes " << count << ", kernels " << kernels << ", memsets " << memsets);
  // pdml's own: 8 + 6 kernels and 1 memset (the host count); each of the 6
  // GEMMs is at least one cuBLAS kernel.
  CHECK(memsets == 1);
  CHECK(kernels >= 14 + 6);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  for (int replay = 0; replay < 3; ++replay) {
    clear_outputs();
    REQUIRE(cudaGraphLaunch(exec, stream) == cudaSuccess);
    CHECK(results() == eager);
  }
  std::uint32_t status = 1;
  REQUIRE(cudaMemcpy(&status, saved.status(), sizeof(status), cudaMemcpyDeviceToHost) ==
          cudaSuccess);
  CHECK(status == 0u);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

}  // namespace
