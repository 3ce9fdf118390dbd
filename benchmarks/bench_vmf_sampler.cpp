// SPDX-License-Identifier: MIT
// Throughput of the exact vMF sampler (samples/s, one thread) for
// p in {3, 16, 128, 512, 1024, 4096}, float and double, kappa in
// {1, 12, 100, 1e4}; the peer in the same run is the cost of drawing the p
// standard normals of one sample with std::mt19937_64 +
// std::normal_distribution (a lower bound for any sampler that, like NumPy
// or PyTorch, builds the tangent from a Gaussian).
//
//   scripts/bench vmf_sampler
// Figures: docs/performance.md, section "samplers".

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include <pdml/distributions/vmf_sample.hpp>

namespace {

constexpr int kDistributions = 16;

int samples_per_call(int p) { return p >= 1024 ? 4 : (p >= 128 ? 16 : 64); }

template <class T>
void BM_VmfSample(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const double kappa = static_cast<double>(state.range(1));
  const int n_samples = samples_per_call(p);
  std::vector<T> eta(static_cast<std::size_t>(kDistributions * p));
  for (int n = 0; n < kDistributions; ++n) {
    double norm = 0;
    for (int j = 0; j < p; ++j) norm += std::pow(std::sin(1.0 + n + 0.7 * j), 2);
    for (int j = 0; j < p; ++j) {
      eta[static_cast<std::size_t>(n * p + j)] =
          static_cast<T>(kappa * std::sin(1.0 + n + 0.7 * j) / std::sqrt(norm));
    }
  }
  const pdml::Index rows = static_cast<pdml::Index>(n_samples) * kDistributions;
  std::vector<T> samples(static_cast<std::size_t>(rows * p));
  std::uint64_t offset = 0;
  for (auto _ : state) {
    pdml::vmf_sample<T>(pdml::ConstMatrixView<T>{eta.data(), kDistributions, p, p}, n_samples,
                        pdml::RngKey{42, offset++},
                        pdml::MatrixView<T>{samples.data(), rows, p, p});
    benchmark::DoNotOptimize(samples.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

template <class T>
void BM_VmfSampleWithSaved(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const double kappa = static_cast<double>(state.range(1));
  const int n_samples = samples_per_call(p);
  std::vector<T> eta(static_cast<std::size_t>(kDistributions * p), T(0));
  for (int n = 0; n < kDistributions; ++n) eta[static_cast<std::size_t>(n * p)] = static_cast<T>(kappa);
  const pdml::Index rows = static_cast<pdml::Index>(n_samples) * kDistributions;
  std::vector<T> samples(static_cast<std::size_t>(rows * p));
  std::vector<T> grad(static_cast<std::size_t>(rows * p), T(1));
  std::vector<T> grad_eta(static_cast<std::size_t>(kDistributions * p));
  pdml::VmfSampleSaved<T> saved;
  std::uint64_t offset = 0;
  for (auto _ : state) {
    pdml::vmf_sample<T>(pdml::ConstMatrixView<T>{eta.data(), kDistributions, p, p}, n_samples,
                        pdml::RngKey{42, offset++},
                        pdml::MatrixView<T>{samples.data(), rows, p, p}, &saved);
    pdml::vmf_sample_backward<T>(saved, pdml::ConstMatrixView<T>{grad.data(), rows, p, p},
                                 pdml::MatrixView<T>{grad_eta.data(), kDistributions, p, p});
    benchmark::DoNotOptimize(grad_eta.data());
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

// Peer: p standard normals per "sample" from the C++ standard library.
template <class T>
void BM_StdNormalPeer(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  std::mt19937_64 engine(42);
  std::normal_distribution<T> normal;
  std::vector<T> out(static_cast<std::size_t>(p));
  for (auto _ : state) {
    for (int j = 0; j < p; ++j) out[static_cast<std::size_t>(j)] = normal(engine);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void sampler_arguments(benchmark::internal::Benchmark* b) {
  for (int p : {3, 16, 128, 512, 1024, 4096}) {
    for (int kappa : {1, 12, 100, 10000}) b->Args({p, kappa});
  }
}

void peer_arguments(benchmark::internal::Benchmark* b) {
  for (int p : {3, 16, 128, 512, 1024, 4096}) b->Arg(p);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_VmfSample, float)->Apply(sampler_arguments);
BENCHMARK_TEMPLATE(BM_VmfSample, double)->Apply(sampler_arguments);
BENCHMARK_TEMPLATE(BM_StdNormalPeer, float)->Apply(peer_arguments);
BENCHMARK_TEMPLATE(BM_StdNormalPeer, double)->Apply(peer_arguments);
BENCHMARK_TEMPLATE(BM_VmfSampleWithSaved, float)->Args({128, 12})->Args({4096, 12});
BENCHMARK_TEMPLATE(BM_VmfSampleWithSaved, double)->Args({128, 12})->Args({4096, 12});

BENCHMARK_MAIN();
