// SPDX-License-Identifier: MIT
// GPU benchmarks of pdml::cuda (Google Benchmark, manual time from CUDA
// events): log-normalizer evaluations/s (float, double), vMF samples/s, nivMF
// samples/s (forward + backward, proxy shapes) and the
// EL-nivMF criterion forward + backward (float, the training precision; double
// would double the nvcc time of this file) at the CUB-like and SOP-like shapes,
// each with the achieved fraction of the device's memory bandwidth (for the
// memory-bound element-wise kernels) or FLOP rate (for the criterion, counting
// its GEMM flops; the criterion forward and backward also timed separately,
// with the fraction of the FP32 roofline of docs/performance.md's cost model).
// Without a CUDA device it prints a skip message and exits 0 (scripts/gpu-check
// --run counts that as a failure).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <pdml/cuda/losses/el_nivmf_loss.hpp>
#include <pdml/cuda/math/functions.hpp>
#include <pdml/cuda/distributions/sampling.hpp>

namespace {

struct DeviceFacts {
  std::string name;
  double bandwidth = 0;   // bytes/s, theoretical
  double fp32_flops = 0;  // FLOP/s, theoretical (FMA = 2)
  double fp64_flops = 0;
};

DeviceFacts& device_facts() {
  static DeviceFacts facts;
  return facts;
}

void query_device() {
  int device = 0, mem_clock_khz = 0, bus_bits = 0, clock_khz = 0, sms = 0, major = 0, minor = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, device);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  DeviceFacts& f = device_facts();
  f.name = prop.name;
  // Double data rate: two transfers per memory clock.
  f.bandwidth = 2.0 * mem_clock_khz * 1e3 * (bus_bits / 8.0);
  // CUDA cores per SM (FP32 / FP64 FMA lanes) of the data-center parts pdml
  // targets (sm_80: A100, sm_90: H100/H200); other parts: FP32 128, FP64 2.
  double fp32_lanes = 128, fp64_lanes = 2;
  if (major == 8 && minor == 0) {
    fp32_lanes = 64;
    fp64_lanes = 32;
  } else if (major == 9 && minor == 0) {
    fp32_lanes = 128;
    fp64_lanes = 64;
  }
  f.fp32_flops = 2.0 * fp32_lanes * sms * clock_khz * 1e3;
  f.fp64_flops = 2.0 * fp64_lanes * sms * clock_khz * 1e3;
  std::printf("device: %s, sm_%d%d, %d SMs, %.0f GB/s, %.1f TFLOP/s fp32, %.1f TFLOP/s fp64 "
              "(theoretical, without tensor cores)\n",
              prop.name, major, minor, sms, f.bandwidth / 1e9, f.fp32_flops / 1e12,
              f.fp64_flops / 1e12);
}

/// Times body() with CUDA events on the default stream (manual time).
template <class Body>
void time_with_events(benchmark::State& state, Body&& body) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  body();  // warm-up (first-launch costs, cuBLAS heuristics)
  cudaDeviceSynchronize();
  for (auto _ : state) {
    cudaEventRecord(start);
    body();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) state.SkipWithError(cudaGetErrorString(status));
}

template <class T>
T* device_copy(const std::vector<T>& host) {
  T* device = nullptr;
  cudaMalloc(&device, host.size() * sizeof(T));
  cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  return device;
}

// ------------------------------------------------------------ log-normalizer
template <class T>
void BM_log_normalizer(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const pdml::Index n = pdml::Index(1) << 24;
  std::vector<T> kappa(static_cast<std::size_t>(n));
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> log_k(-3, 5);
  for (auto& k : kappa) k = static_cast<T>(std::pow(10.0, log_k(gen)));
  T* d_kappa = device_copy(kappa);
  T* d_out = nullptr;
  cudaMalloc(&d_out, kappa.size() * sizeof(T));
  time_with_events(state, [&] { pdml::cuda::vmf_log_normalizer(p, d_kappa, d_out, n); });
  state.counters["evals/s"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["bandwidth_fraction"] = benchmark::Counter(
      2.0 * n * sizeof(T) * state.iterations() / device_facts().bandwidth,
      benchmark::Counter::kIsRate);
  cudaFree(d_kappa);
  cudaFree(d_out);
}
BENCHMARK_TEMPLATE(BM_log_normalizer, float)->Arg(128)->Arg(512)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_log_normalizer, double)->Arg(128)->Arg(512)->UseManualTime()->Unit(benchmark::kMicrosecond);

// ------------------------------------------------------------------- samples
template <class T>
void BM_vmf_sample(benchmark::State& state) {
  const pdml::Index d = state.range(0);
  const double kappa = static_cast<double>(state.range(1));
  const pdml::Index b = 4096, s = 5;
  std::vector<T> eta(static_cast<std::size_t>(b * d));
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal;
  for (pdml::Index i = 0; i < b; ++i) {
    double nn = 0;
    std::vector<double> row(static_cast<std::size_t>(d));
    for (auto& v : row) { v = normal(gen); nn += v * v; }
    for (pdml::Index j = 0; j < d; ++j) eta[i * d + j] = static_cast<T>(kappa * row[j] / std::sqrt(nn));
  }
  T* d_eta = device_copy(eta);
  T* d_samples = nullptr;
  cudaMalloc(&d_samples, static_cast<std::size_t>(s * b * d) * sizeof(T));
  std::size_t bytes = 0;
  const pdml::ConstMatrixView<T> eta_view{d_eta, b, d, d};
  const pdml::MatrixView<T> sample_view{d_samples, s * b, d, d};
  pdml::cuda::vmf_sample(nullptr, bytes, eta_view, static_cast<int>(s), pdml::RngKey{1, 0},
                         sample_view, static_cast<pdml::cuda::VmfSampleSaved<T>*>(nullptr));
  void* workspace = nullptr;
  cudaMalloc(&workspace, bytes + 1);
  std::uint64_t offset = 0;
  time_with_events(state, [&] {
    pdml::cuda::vmf_sample(workspace, bytes, eta_view, static_cast<int>(s),
                           pdml::RngKey{1, offset++}, sample_view,
                           static_cast<pdml::cuda::VmfSampleSaved<T>*>(nullptr));
  });
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(s * b) * state.iterations(),
                                                   benchmark::Counter::kIsRate);
  state.counters["bandwidth_fraction"] = benchmark::Counter(
      static_cast<double>((s + 1) * b * d) * sizeof(T) * state.iterations() /
          device_facts().bandwidth,
      benchmark::Counter::kIsRate);
  cudaFree(workspace);
  cudaFree(d_eta);
  cudaFree(d_samples);
}
BENCHMARK_TEMPLATE(BM_vmf_sample, float)->Args({128, 12})->Args({512, 12})->Args({512, 1000})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);

/// The exact nivMF sampler, forward + backward, at proxy-sampling shapes:
/// C distributions of dimension D (concentrations log-normal around `scale`),
/// S = 5 samples each.
template <class T>
void BM_nivmf_sample_forward_backward(benchmark::State& state) {
  const pdml::Index c = state.range(0), d = state.range(1), s = 5;
  const double scale = static_cast<double>(state.range(2));
  std::vector<T> directions(static_cast<std::size_t>(c * d)), concentrations(directions.size());
  std::mt19937_64 gen(13);
  std::normal_distribution<double> normal;
  for (pdml::Index i = 0; i < c; ++i) {
    double nn = 0;
    std::vector<double> row(static_cast<std::size_t>(d));
    for (auto& v : row) { v = normal(gen); nn += v * v; }
    for (pdml::Index j = 0; j < d; ++j) {
      directions[i * d + j] = static_cast<T>(row[j] / std::sqrt(nn));
      concentrations[i * d + j] = static_cast<T>(scale * std::exp(0.5 * normal(gen)));
    }
  }
  const std::vector<T> grad(static_cast<std::size_t>(s * c * d), T(1));
  T* d_dir = device_copy(directions);
  T* d_conc = device_copy(concentrations);
  T* d_grad = device_copy(grad);
  T *d_samples = nullptr, *d_gd = nullptr, *d_gk = nullptr;
  cudaMalloc(&d_samples, static_cast<std::size_t>(s * c * d) * sizeof(T));
  cudaMalloc(&d_gd, static_cast<std::size_t>(c * d) * sizeof(T));
  cudaMalloc(&d_gk, static_cast<std::size_t>(c * d) * sizeof(T));
  const pdml::ConstMatrixView<T> dir{d_dir, c, d, d}, conc{d_conc, c, d, d},
      grad_view{d_grad, s * c, d, d};
  const pdml::MatrixView<T> sample_view{d_samples, s * c, d, d}, gd{d_gd, c, d, d},
      gk{d_gk, c, d, d};
  pdml::cuda::NivmfSampleSaved<T> saved;
  std::size_t bytes = 0;
  pdml::cuda::nivmf_sample(nullptr, bytes, dir, conc, static_cast<int>(s), pdml::RngKey{2, 0},
                           sample_view, &saved);
  void* workspace = nullptr;
  cudaMalloc(&workspace, bytes + 1);
  std::uint64_t offset = 0;
  time_with_events(state, [&] {
    pdml::cuda::nivmf_sample(workspace, bytes, dir, conc, static_cast<int>(s),
                             pdml::RngKey{2, offset++}, sample_view, &saved);
    pdml::cuda::nivmf_sample_backward(saved, grad_view, gd, gk);
  });
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(s * c) * state.iterations(),
                                                   benchmark::Counter::kIsRate);
  // Traffic: forward reads the parameters (2 C D), writes the preimage means (C D),
  // samples and tangents (2 S C D); backward reads parameters and means (3 C D),
  // samples, tangents and the incoming gradient (3 S C D), writes two C x D gradients.
  state.counters["bandwidth_fraction"] = benchmark::Counter(
      static_cast<double>((8 + 5 * s) * c * d) * sizeof(T) * state.iterations() /
          device_facts().bandwidth,
      benchmark::Counter::kIsRate);
  cudaFree(workspace);
  cudaFree(d_dir);
  cudaFree(d_conc);
  cudaFree(d_grad);
  cudaFree(d_samples);
  cudaFree(d_gd);
  cudaFree(d_gk);
}
BENCHMARK_TEMPLATE(BM_nivmf_sample_forward_backward, float)
    ->Args({100, 128, 10})->Args({11318, 512, 10})->Args({11318, 512, 1000})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);

// ----------------------------------------------------------------- criterion
// The cost model of docs/performance.md ("GPU cost model"), float, paper
// rule, sampled forward, guidance on: essential FP32 flops are the GEMMs'
// (forward G = X A^T and M = mu Nu^T: 2 (N + B) C D; backward four products:
// 4 (N + B) C D); essential bytes are the inputs read and the gradients
// written once (forward 4 (B D + 2 C D) + 8 B; backward 8 (B D + 2 C D)).
// roofline_fraction = max(flops / peak FP32, bytes / peak bandwidth) / time.
struct CriterionCost {
  double flops = 0, bytes = 0;
};

CriterionCost criterion_cost(double b, double c, double d, double s, int part) {
  const double n = s * b;
  const double inputs = 4.0 * (b * d + 2.0 * c * d);
  CriterionCost forward{2.0 * (n + b) * c * d, inputs + 8.0 * b};
  CriterionCost backward{4.0 * (n + b) * c * d, 2.0 * inputs};
  if (part == 0) return forward;
  if (part == 1) return backward;
  return CriterionCost{forward.flops + backward.flops, forward.bytes + backward.bytes};
}

/// part: 0 forward only, 1 backward only (after one forward), 2 both, 3 both captured
/// once into a CUDA graph and replayed (the launch latencies of a captured step: what a
/// trainer that captures its step pays; the RngKey is frozen into the graph).
template <class T>
void BM_el_nivmf(benchmark::State& state, int part) {
  const pdml::Index b = state.range(0), c = state.range(1), d = state.range(2), s = state.range(3);
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(1.0, 20.0);
  std::vector<T> e(static_cast<std::size_t>(b * d)), v(static_cast<std::size_t>(c * d)),
      k(static_cast<std::size_t>(c * d));
  for (auto& x : e) x = static_cast<T>(3 * normal(gen));
  for (auto& x : v) x = static_cast<T>(normal(gen));
  for (auto& x : k) x = static_cast<T>(uniform(gen));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(b));
  for (pdml::Index i = 0; i < b; ++i) labels[static_cast<std::size_t>(i)] = (i * 7919) % c;
  T* d_e = device_copy(e);
  T* d_v = device_copy(v);
  T* d_k = device_copy(k);
  std::int64_t* d_labels = device_copy(labels);
  T *d_loss = nullptr, *d_ge = nullptr, *d_gv = nullptr, *d_gk = nullptr, *d_gt = nullptr;
  cudaMalloc(&d_loss, sizeof(T));
  cudaMalloc(&d_gt, sizeof(T));
  cudaMalloc(&d_ge, e.size() * sizeof(T));
  cudaMalloc(&d_gv, v.size() * sizeof(T));
  cudaMalloc(&d_gk, k.size() * sizeof(T));
  cublasHandle_t handle;
  cublasCreate(&handle);  // bound to the default stream, the one used below
  typename pdml::cuda::ElNivmfLoss<T>::Options options;
  options.n_samples = static_cast<int>(s);
  options.guidance_weight = T(0.25);
  const pdml::cuda::ElNivmfLoss<T> loss(options);
  typename pdml::cuda::ElNivmfLoss<T>::Saved saved;
  const pdml::ConstMatrixView<T> ev{d_e, b, d, d}, vv{d_v, c, d, d}, kv{d_k, c, d, d};
  pdml::cuda::Context context{nullptr, handle};
  cudaStream_t capture_stream = nullptr;
  void* cublas_workspace = nullptr;
  if (part == 3) {
    // Capture needs a stream of its own (not the legacy default stream) and a cuBLAS
    // workspace of the caller's, so that cuBLAS allocates nothing during capture.
    const std::size_t cublas_bytes = std::size_t(32) << 20;
    cudaStreamCreate(&capture_stream);
    cudaMalloc(&cublas_workspace, cublas_bytes);
    cublasSetStream(handle, capture_stream);
    cublasSetWorkspace(handle, cublas_workspace, cublas_bytes);
    context.stream = capture_stream;
  }
  std::size_t bytes = 0;
  loss.forward(nullptr, bytes, ev, d_labels, vv, kv, T(0.1), pdml::RngKey{5, 0}, d_loss, saved,
               context);
  void* workspace = nullptr;
  cudaMalloc(&workspace, bytes);
  std::uint64_t offset = 0;
  cudaError_t status = cudaSuccess;
  const auto forward = [&] {
    const cudaError_t st = loss.forward(workspace, bytes, ev, d_labels, vv, kv, T(0.1),
                                        pdml::RngKey{5, offset++}, d_loss, saved, context);
    if (st != cudaSuccess) status = st;
  };
  const auto backward = [&] {
    const cudaError_t st = loss.backward(saved, T(1), pdml::MatrixView<T>{d_ge, b, d, d},
                                         pdml::MatrixView<T>{d_gv, c, d, d},
                                         pdml::MatrixView<T>{d_gk, c, d, d}, d_gt, nullptr,
                                         context);
    if (st != cudaSuccess) status = st;
  };
  if (part == 0) {
    time_with_events(state, forward);
  } else if (part == 1) {
    forward();
    time_with_events(state, backward);
  } else if (part == 2) {
    time_with_events(state, [&] {
      forward();
      backward();
    });
  } else {
    forward();  // eager first: cuBLAS picks its kernels outside the capture
    backward();
    cudaStreamSynchronize(capture_stream);
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    cudaStreamBeginCapture(capture_stream, cudaStreamCaptureModeThreadLocal);
    forward();
    backward();
    const cudaError_t captured = cudaStreamEndCapture(capture_stream, &graph);
    if (captured != cudaSuccess) status = captured;
    if (status == cudaSuccess) {
      const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
      if (made != cudaSuccess) status = made;
    }
    // The legacy default stream, on which time_with_events records its events,
    // orders itself with the (blocking) capture stream.
    if (status == cudaSuccess) {
      time_with_events(state, [&] {
        const cudaError_t st = cudaGraphLaunch(exec, capture_stream);
        if (st != cudaSuccess) status = st;
      });
    }
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (graph != nullptr) cudaGraphDestroy(graph);
  }
  if (status != cudaSuccess) state.SkipWithError(cudaGetErrorString(status));
  const CriterionCost cost =
      criterion_cost(double(b), double(c), double(d), double(s), part == 3 ? 2 : part);
  const double peak = sizeof(T) == 4 ? device_facts().fp32_flops : device_facts().fp64_flops;
  const double roofline_s = std::max(cost.flops / peak, cost.bytes / device_facts().bandwidth);
  state.counters["roofline_fraction"] =
      benchmark::Counter(roofline_s * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["roofline_us"] = roofline_s * 1e6;
  state.counters["workspace_MiB"] = static_cast<double>(bytes) / (1 << 20);
  cublasDestroy(handle);
  if (capture_stream != nullptr) cudaStreamDestroy(capture_stream);
  for (void* ptr : {static_cast<void*>(d_e), static_cast<void*>(d_v), static_cast<void*>(d_k),
                    static_cast<void*>(d_labels), static_cast<void*>(d_loss),
                    static_cast<void*>(d_gt), static_cast<void*>(d_ge), static_cast<void*>(d_gv),
                    static_cast<void*>(d_gk), workspace, cublas_workspace}) {
    cudaFree(ptr);
  }
}
template <class T>
void BM_el_nivmf_forward(benchmark::State& state) {
  BM_el_nivmf<T>(state, 0);
}
template <class T>
void BM_el_nivmf_backward(benchmark::State& state) {
  BM_el_nivmf<T>(state, 1);
}
template <class T>
void BM_el_nivmf_forward_backward(benchmark::State& state) {
  BM_el_nivmf<T>(state, 2);
}
template <class T>
void BM_el_nivmf_step_graph(benchmark::State& state) {
  BM_el_nivmf<T>(state, 3);
}
BENCHMARK_TEMPLATE(BM_el_nivmf_forward, float)
    ->Args({64, 100, 128, 5})
    ->Args({64, 11318, 512, 5})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_el_nivmf_backward, float)
    ->Args({64, 100, 128, 5})
    ->Args({64, 11318, 512, 5})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_el_nivmf_forward_backward, float)
    ->Args({64, 100, 128, 5})
    ->Args({64, 11318, 512, 5})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_el_nivmf_step_graph, float)
    ->Args({64, 100, 128, 5})
    ->Args({64, 11318, 512, 5})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device available (%s); GPU benchmarks not run\n",
                status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
    return 0;
  }
  query_device();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
