// SPDX-License-Identifier: MIT
// Throughput of the Power Spherical and nivMF samplers (samples per second,
// one thread), each next to the exact vMF sampler at the same p and
// concentration as the in-run peer, plus the backward passes.
//
//   scripts/bench bench_distributions

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_sample.hpp>

namespace {

constexpr int kDistributions = 64;

/// Batch sizes keep every run near 2^17 - 2^18 sampled coordinates.
int samples_for(int p) { return std::max(1, (1 << 18) / (p * kDistributions)); }

template <class T>
std::vector<T> unit_rows(int rows, int p, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<T> out(static_cast<std::size_t>(rows) * p);
  for (int r = 0; r < rows; ++r) {
    double s = 0;
    std::vector<double> v(p);
    for (double& x : v) {
      x = normal(gen);
      s += x * x;
    }
    for (int j = 0; j < p; ++j) out[r * p + j] = static_cast<T>(v[j] / std::sqrt(s));
  }
  return out;
}

template <class T>
void BM_VmfSample(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const T kappa = static_cast<T>(state.range(1));
  const int n = samples_for(p);
  std::vector<T> eta = unit_rows<T>(kDistributions, p, 1);
  for (T& e : eta) e *= kappa;
  std::vector<T> out(static_cast<std::size_t>(n) * kDistributions * p);
  std::uint64_t step = 0;
  for (auto _ : state) {
    pdml::vmf_sample(pdml::ConstMatrixView<T>{eta.data(), kDistributions, p, p}, n,
                     pdml::RngKey{7, step++},
                     pdml::MatrixView<T>{out.data(), n * kDistributions, p, p});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n * kDistributions);
}

template <class T>
void BM_PowerSphericalSample(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const T kappa = static_cast<T>(state.range(1));
  const int n = samples_for(p);
  const std::vector<T> mu = unit_rows<T>(kDistributions, p, 1);
  const std::vector<T> kappas(kDistributions, kappa);
  std::vector<T> out(static_cast<std::size_t>(n) * kDistributions * p);
  std::uint64_t step = 0;
  for (auto _ : state) {
    pdml::power_spherical_sample(pdml::ConstMatrixView<T>{mu.data(), kDistributions, p, p},
                                 pdml::ConstMatrixView<T>{kappas.data(), kDistributions, 1, 1}, n,
                                 pdml::RngKey{7, step++},
                                 pdml::MatrixView<T>{out.data(), n * kDistributions, p, p});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n * kDistributions);
}

template <class T>
void BM_PowerSphericalSampleBackward(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const T kappa = static_cast<T>(state.range(1));
  const int n = samples_for(p);
  const std::vector<T> mu = unit_rows<T>(kDistributions, p, 1);
  const std::vector<T> kappas(kDistributions, kappa);
  std::vector<T> out(static_cast<std::size_t>(n) * kDistributions * p);
  pdml::PowerSphericalSampleSaved<T> saved;
  pdml::power_spherical_sample(pdml::ConstMatrixView<T>{mu.data(), kDistributions, p, p},
                               pdml::ConstMatrixView<T>{kappas.data(), kDistributions, 1, 1}, n,
                               pdml::RngKey{7, 0},
                               pdml::MatrixView<T>{out.data(), n * kDistributions, p, p}, &saved);
  const std::vector<T> grad = unit_rows<T>(n * kDistributions, p, 2);
  std::vector<T> gd(static_cast<std::size_t>(kDistributions) * p), gk(kDistributions);
  for (auto _ : state) {
    pdml::power_spherical_sample_backward(
        saved, pdml::ConstMatrixView<T>{grad.data(), n * kDistributions, p, p},
        pdml::MatrixView<T>{gd.data(), kDistributions, p, p},
        pdml::MatrixView<T>{gk.data(), kDistributions, 1, 1});
    benchmark::DoNotOptimize(gd.data());
  }
  state.SetItemsProcessed(state.iterations() * n * kDistributions);
}

/// nivMF with concentrations spread around `kappa` (factor 2 anisotropy).
template <class T>
std::vector<T> nivmf_concentrations(int p, T kappa) {
  std::vector<T> k(static_cast<std::size_t>(kDistributions) * p);
  for (int r = 0; r < kDistributions; ++r) {
    for (int j = 0; j < p; ++j) k[r * p + j] = kappa * (T(1) + T(j % 7) / T(6));
  }
  return k;
}

template <class T>
void BM_NivmfSample(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const T kappa = static_cast<T>(state.range(1));
  const int n = samples_for(p);
  const std::vector<T> nu = unit_rows<T>(kDistributions, p, 1);
  const std::vector<T> k = nivmf_concentrations<T>(p, kappa);
  std::vector<T> out(static_cast<std::size_t>(n) * kDistributions * p);
  std::uint64_t step = 0;
  for (auto _ : state) {
    pdml::nivmf_sample(pdml::ConstMatrixView<T>{nu.data(), kDistributions, p, p},
                       pdml::ConstMatrixView<T>{k.data(), kDistributions, p, p}, n,
                       pdml::RngKey{7, step++},
                       pdml::MatrixView<T>{out.data(), n * kDistributions, p, p});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n * kDistributions);
}

template <class T>
void BM_NivmfSampleBackward(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const T kappa = static_cast<T>(state.range(1));
  const int n = samples_for(p);
  const std::vector<T> nu = unit_rows<T>(kDistributions, p, 1);
  const std::vector<T> k = nivmf_concentrations<T>(p, kappa);
  std::vector<T> out(static_cast<std::size_t>(n) * kDistributions * p);
  pdml::NivmfSampleSaved<T> saved;
  pdml::nivmf_sample(pdml::ConstMatrixView<T>{nu.data(), kDistributions, p, p},
                     pdml::ConstMatrixView<T>{k.data(), kDistributions, p, p}, n,
                     pdml::RngKey{7, 0}, pdml::MatrixView<T>{out.data(), n * kDistributions, p, p},
                     &saved);
  const std::vector<T> grad = unit_rows<T>(n * kDistributions, p, 2);
  std::vector<T> gd(static_cast<std::size_t>(kDistributions) * p), gk(gd.size());
  for (auto _ : state) {
    pdml::nivmf_sample_backward(saved, pdml::ConstMatrixView<T>{grad.data(), n * kDistributions, p, p},
                                pdml::MatrixView<T>{gd.data(), kDistributions, p, p},
                                pdml::MatrixView<T>{gk.data(), kDistributions, p, p});
    benchmark::DoNotOptimize(gd.data());
  }
  state.SetItemsProcessed(state.iterations() * n * kDistributions);
}

void Args(benchmark::internal::Benchmark* b) {
  for (int p : {3, 16, 128, 512, 4096}) {
    for (int kappa : {1, 12, 100, 10000}) b->Args({p, kappa});
  }
  b->ArgNames({"p", "kappa"});
  b->Unit(benchmark::kMillisecond);
}

/// nivMF: per-coordinate concentrations of this scale (|K nu| ~ 1.5 kappa).
void NivmfArgs(benchmark::internal::Benchmark* b) {
  for (int p : {3, 16, 128, 512, 4096}) {
    for (int kappa : {1, 12}) b->Args({p, kappa});
  }
  b->ArgNames({"p", "k"});
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_VmfSample, double)->Apply(Args);
BENCHMARK_TEMPLATE(BM_PowerSphericalSample, double)->Apply(Args);
BENCHMARK_TEMPLATE(BM_VmfSample, float)->Apply(Args);
BENCHMARK_TEMPLATE(BM_PowerSphericalSample, float)->Apply(Args);
BENCHMARK_TEMPLATE(BM_PowerSphericalSampleBackward, double)->Apply(Args);
BENCHMARK_TEMPLATE(BM_NivmfSample, double)->Apply(NivmfArgs);
BENCHMARK_TEMPLATE(BM_NivmfSample, float)->Apply(NivmfArgs);
BENCHMARK_TEMPLATE(BM_NivmfSampleBackward, double)->Apply(NivmfArgs);

BENCHMARK_MAIN();
