// SPDX-License-Identifier: MIT
// The host-side contract of pdml::cuda, checked on the CPU (no GPU in CI):
// * HandleScope's save / set / restore sequence on a caller's cuBLAS handle,
//   with the cuBLAS calls replaced by a recording table (the production
//   table, detail::CublasHandleCalls, forwards the same calls to cuBLAS);
// * the workspace carver's alignment of an arbitrary base address;
// * the criterion's device status word (DeviceStatus bits), written by the
//   very kernels of the CUDA criterion run on the host backend;
// * the number of kernels, GEMMs and memsets of one criterion step, counted by
//   the host backend (docs/performance.md, "GPU cost model").
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/cuda/core/blas.hpp>
#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/losses/detail/el_nivmf_criterion.hpp>

#include "host_test_support.hpp"

namespace {

// ------------------------------------------------------------ HandleScope

/// The state cuBLAS keeps per handle, as far as HandleScope touches it, and a
/// log of the calls made; a handle is a pointer to one of these.
struct FakeHandle {
  cudaStream_t stream = nullptr;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_DEVICE;
  cublasMath_t math_mode = CUBLAS_TF32_TENSOR_OP_MATH;
  cublasAtomicsMode_t atomics_mode = CUBLAS_ATOMICS_ALLOWED;
  int calls = 0;
  int fail_at_call = -1;  // this call (0-based) returns an error
  std::vector<std::string> log;
};

FakeHandle& state(cublasHandle_t h) { return *reinterpret_cast<FakeHandle*>(h); }
cublasHandle_t handle_of(FakeHandle& f) { return reinterpret_cast<cublasHandle_t>(&f); }

cublasStatus_t record(cublasHandle_t h, const char* what) {
  FakeHandle& f = state(h);
  f.log.push_back(what);
  return f.calls++ == f.fail_at_call ? CUBLAS_STATUS_INTERNAL_ERROR : CUBLAS_STATUS_SUCCESS;
}

/// The same interface as detail::CublasHandleCalls, on FakeHandle. There is
/// deliberately no set_stream / set_workspace: HandleScope must not need them.
struct FakeCalls {
  static cublasStatus_t get_stream(cublasHandle_t h, cudaStream_t* s) {
    *s = state(h).stream;
    return record(h, "get_stream");
  }
  static cublasStatus_t get_pointer_mode(cublasHandle_t h, cublasPointerMode_t* m) {
    *m = state(h).pointer_mode;
    return record(h, "get_pointer_mode");
  }
  static cublasStatus_t set_pointer_mode(cublasHandle_t h, cublasPointerMode_t m) {
    const cublasStatus_t s = record(h, "set_pointer_mode");
    if (s == CUBLAS_STATUS_SUCCESS) state(h).pointer_mode = m;
    return s;
  }
  static cublasStatus_t get_math_mode(cublasHandle_t h, cublasMath_t* m) {
    *m = state(h).math_mode;
    return record(h, "get_math_mode");
  }
  static cublasStatus_t set_math_mode(cublasHandle_t h, cublasMath_t m) {
    const cublasStatus_t s = record(h, "set_math_mode");
    if (s == CUBLAS_STATUS_SUCCESS) state(h).math_mode = m;
    return s;
  }
  static cublasStatus_t get_atomics_mode(cublasHandle_t h, cublasAtomicsMode_t* m) {
    *m = state(h).atomics_mode;
    return record(h, "get_atomics_mode");
  }
  static cublasStatus_t set_atomics_mode(cublasHandle_t h, cublasAtomicsMode_t m) {
    const cublasStatus_t s = record(h, "set_atomics_mode");
    if (s == CUBLAS_STATUS_SUCCESS) state(h).atomics_mode = m;
    return s;
  }
};

using Scope = pdml::cuda::detail::BasicHandleScope<FakeCalls>;

cudaStream_t stream_a() { return reinterpret_cast<cudaStream_t>(0x1000); }
cudaStream_t stream_b() { return reinterpret_cast<cudaStream_t>(0x2000); }

void require_callers_modes(const FakeHandle& f) {
  CHECK(f.pointer_mode == CUBLAS_POINTER_MODE_DEVICE);
  CHECK(f.math_mode == CUBLAS_TF32_TENSOR_OP_MATH);
  CHECK(f.atomics_mode == CUBLAS_ATOMICS_ALLOWED);
  CHECK(f.stream == stream_a());
}

TEST_CASE("HandleScope sets pdml's modes and restores the caller's", "[thrust-host]") {
  FakeHandle f;
  f.stream = stream_a();
  {
    Scope scope("fn", handle_of(f), stream_a());
    REQUIRE(scope.status() == cudaSuccess);
    CHECK(f.pointer_mode == CUBLAS_POINTER_MODE_HOST);
    CHECK(f.math_mode == CUBLAS_DEFAULT_MATH);
    CHECK(f.atomics_mode == CUBLAS_ATOMICS_NOT_ALLOWED);
    CHECK(f.stream == stream_a());
  }
  require_callers_modes(f);
}

TEST_CASE("HandleScope restores the handle when the call throws", "[thrust-host]") {
  FakeHandle f;
  f.stream = stream_a();
  try {
    Scope scope("fn", handle_of(f), stream_a());
    CHECK(f.math_mode == CUBLAS_DEFAULT_MATH);
    throw std::runtime_error("thrown inside the scope");
  } catch (const std::runtime_error&) {
  }
  require_callers_modes(f);
}

TEST_CASE("HandleScope rejects a handle bound to another stream, changing nothing",
          "[thrust-host]") {
  FakeHandle f;
  f.stream = stream_a();
  try {
    Scope scope("pdml::cuda::something", handle_of(f), stream_b());
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.find("pdml::cuda::something") != std::string::npos);
    CHECK(what.find("context.cublas") != std::string::npos);
  }
  require_callers_modes(f);
  CHECK(f.log == std::vector<std::string>{"get_stream"});
}

TEST_CASE("HandleScope restores what it saved when a cuBLAS call fails", "[thrust-host]") {
  // Calls: 0 get_stream, 1-3 the three getters, 4-6 the three setters.
  for (int failing = 0; failing < 7; ++failing) {
    FakeHandle f;
    f.stream = stream_a();
    f.fail_at_call = failing;
    {
      Scope scope("fn", handle_of(f), stream_a());
      CHECK(scope.status() == cudaErrorUnknown);  // CUBLAS_STATUS_INTERNAL_ERROR
    }
    INFO("failing call " << failing);
    require_callers_modes(f);
  }
}

TEST_CASE("HandleScope makes no stream or workspace call", "[thrust-host]") {
  FakeHandle f;
  f.stream = stream_a();
  { Scope scope("fn", handle_of(f), stream_a()); }
  for (const std::string& call : f.log) {
    const bool stream_call = call.find("stream") != std::string::npos;
    CHECK((!stream_call || call == "get_stream"));
    CHECK(call.find("workspace") == std::string::npos);
  }
  CHECK(f.log.size() == 10u);  // 1 stream check, 3 saves, 3 sets, 3 restores
}

// -------------------------------------------------------------- workspace

TEST_CASE("WorkspaceCarver aligns any base and its size covers the slack", "[thrust-host]") {
  const std::size_t align = pdml::cuda::kWorkspaceAlignment;
  const auto carve = [](pdml::cuda::WorkspaceCarver& carver, std::vector<void*>& out) {
    out.push_back(carver.take<float>(3));
    out.push_back(carver.take<double>(100));
    out.push_back(carver.take<std::uint32_t>(1));
  };
  pdml::cuda::WorkspaceCarver planner(nullptr);
  std::vector<void*> none;
  carve(planner, none);
  const std::size_t bytes = planner.bytes();
  CHECK(bytes == 256 + 1024 + 256 + align - 1);
  std::vector<unsigned char> memory(bytes + align);
  for (std::size_t shift = 0; shift < align; shift += 17) {
    unsigned char* base = memory.data() + shift;
    pdml::cuda::WorkspaceCarver carver(base);
    std::vector<void*> buffers;
    carve(carver, buffers);
    CHECK(carver.bytes() == bytes);
    for (void* p : buffers) {
      CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
      CHECK(static_cast<unsigned char*>(p) >= base);
    }
    // The last buffer (one uint32) ends inside [base, base + bytes).
    CHECK(static_cast<unsigned char*>(buffers.back()) + sizeof(std::uint32_t) <= base + bytes);
  }
  pdml::cuda::WorkspaceCarver empty(nullptr);
  CHECK(empty.bytes() == 0);  // nothing taken: no workspace needed at all
}

// ------------------------------------------------- criterion on the host

template <class T>
struct Step {
  pdml::Index b, c, d, s;
  std::vector<T> samples, embeddings, proxies, kappas;
  std::vector<std::int64_t> labels;
  T guidance_weight = T(0.5);
  bool exact = false;
  // Row stride of the caller's samples and sample gradients (forward_with_samples):
  // d (dense) or more.
  pdml::Index sample_stride = 0;

  Step(pdml::Index b_, pdml::Index c_, pdml::Index d_, pdml::Index s_) : b(b_), c(c_), d(d_), s(s_) {
    std::mt19937_64 gen(20240607u);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> uniform(0.2, 3.0);
    pdml_test::append_unit_rows(samples, s * b, d, gen, normal);
    for (pdml::Index i = 0; i < b * d; ++i) embeddings.push_back(static_cast<T>(2 * normal(gen)));
    for (pdml::Index i = 0; i < c * d; ++i) proxies.push_back(static_cast<T>(normal(gen)));
    for (pdml::Index i = 0; i < c * d; ++i) kappas.push_back(static_cast<T>(uniform(gen)));
    for (pdml::Index i = 0; i < b; ++i) labels.push_back(static_cast<std::int64_t>(i % c));
  }

  struct Result {
    std::uint32_t status;
    T loss;
    pdml::cuda::detail::LaunchCounts forward, backward;
    std::vector<T> grad_embeddings, grad_proxies, grad_kappas, grad_samples;
    T grad_temperature;
  };

  /// One forward (+ backward) of the CUDA criterion on the host backend, as
  /// ElNivmfLoss::forward (sampled) or forward_with_samples runs it.
  Result run(bool sampled, bool with_grad_temperature = true) {
    using pdml::ConstMatrixView;
    using pdml::MatrixView;
    namespace detail = pdml::cuda::detail;
    detail::ElNivmfState<T> st;
    st.batch = b;
    st.classes = c;
    st.dims = d;
    st.samples = s;
    st.temperature = T(0.1);
    st.guidance_weight = guidance_weight;
    st.exact = exact;
    const pdml::Index stride = sample_stride == 0 ? d : sample_stride;
    std::vector<T> strided(static_cast<std::size_t>(s * b * stride), T(0));
    for (pdml::Index i = 0; i < s * b; ++i) {
      for (pdml::Index j = 0; j < d; ++j) strided[i * stride + j] = samples[i * d + j];
    }
    st.samples_view = ConstMatrixView<T>{strided.data(), s * b, d, stride};
    st.embeddings = ConstMatrixView<T>{embeddings.data(), b, d, d};
    st.proxies = ConstMatrixView<T>{proxies.data(), c, d, d};
    st.kappas = ConstMatrixView<T>{kappas.data(), c, d, d};
    st.labels = labels.data();
    T* drawn = nullptr;
    detail::VmfSampleBuffers<T> sampler;
    auto carve = [&](pdml::cuda::WorkspaceCarver& carver) {
      detail::carve_el_nivmf<T>(carver, st, sampled, &drawn);
      if (sampled) sampler = detail::carve_vmf_sample_buffers<T>(carver, s, b, d, true);
    };
    auto workspace = pdml_test::carve_host_workspace(carve);
    *st.status = 0xffffffffu;  // stale bits of an earlier step: the forward clears them
    Result r{};
    const detail::HostBackend forward_backend{&r.forward};
    const RngKeyT rng{7u, 1u};
    if (sampled) {
      REQUIRE(detail::el_nivmf_forward_sampled(forward_backend, st, sampler, drawn, rng, &r.loss) ==
              cudaSuccess);
    } else {
      REQUIRE(detail::el_nivmf_forward_given_samples(forward_backend, st, &r.loss) == cudaSuccess);
    }
    r.status = *st.status;
    std::vector<T> ge(static_cast<std::size_t>(b * d)), gv(static_cast<std::size_t>(c * d)),
        gk(static_cast<std::size_t>(c * d)), gx(static_cast<std::size_t>(s * b * stride));
    T gt = 0;
    MatrixView<T> gx_view{gx.data(), s * b, d, stride};
    const detail::HostBackend backward_backend{&r.backward};
    REQUIRE(detail::el_nivmf_backward_step(
                backward_backend, st, sampled ? &sampler : nullptr, T(1),
                MatrixView<T>{ge.data(), b, d, d}, MatrixView<T>{gv.data(), c, d, d},
                MatrixView<T>{gk.data(), c, d, d}, with_grad_temperature ? &gt : nullptr,
                sampled ? nullptr : &gx_view) == cudaSuccess);
    r.grad_embeddings = ge;
    r.grad_proxies = gv;
    r.grad_kappas = gk;
    for (pdml::Index i = 0; i < s * b; ++i) {
      for (pdml::Index j = 0; j < d; ++j) r.grad_samples.push_back(gx[i * stride + j]);
    }
    r.grad_temperature = gt;
    return r;
  }
  using RngKeyT = pdml::RngKey;
};

TEST_CASE("criterion status word: zero on valid data, one bit per kind of invalid data",
          "[thrust-host]") {
  using Bits = pdml::cuda::DeviceStatus;
  for (const bool sampled : {false, true}) {
    INFO("sampled " << sampled);
    {
      Step<float> step(6, 5, 8, 3);
      const auto r = step.run(sampled);
      CHECK(r.status == 0u);
      CHECK(std::isfinite(r.loss));
    }
    {
      Step<float> step(6, 5, 8, 3);
      step.labels[2] = 5;  // == C
      const auto r = step.run(sampled);
      CHECK((r.status & Bits::label_out_of_range) != 0u);
      CHECK((r.status & Bits::non_finite_loss) != 0u);  // the loss is NaN then
      step.labels[2] = -1;
      CHECK((step.run(sampled).status & Bits::label_out_of_range) != 0u);
    }
    {
      Step<float> step(6, 5, 8, 3);
      for (pdml::Index j = 0; j < step.d; ++j) step.proxies[static_cast<std::size_t>(3 * step.d + j)] = 0.0f;
      const auto r = step.run(sampled);
      CHECK((r.status & Bits::zero_proxy) != 0u);
      CHECK((r.status & Bits::label_out_of_range) == 0u);
    }
    {
      Step<float> step(6, 5, 8, 3);
      step.kappas[7] = std::numeric_limits<float>::infinity();
      CHECK((step.run(sampled).status & Bits::non_finite_proxy) != 0u);
      step.kappas[7] = 1.0f;
      step.proxies[9] = std::numeric_limits<float>::quiet_NaN();
      CHECK((step.run(sampled).status & Bits::non_finite_proxy) != 0u);
    }
    {
      // A NaN embedding is seen by the sampler (sampled) and by the
      // ProxyAnchor preparation (guidance on), in either forward.
      Step<float> step(6, 5, 8, 3);
      step.embeddings[4] = std::numeric_limits<float>::quiet_NaN();
      const auto r = step.run(sampled);
      CHECK((r.status & Bits::non_finite_embedding) != 0u);
      CHECK((r.status & (Bits::zero_proxy | Bits::label_out_of_range)) == 0u);
    }
  }
  {
    // Caller samples with an infinity: only the loss tells.
    Step<float> step(6, 5, 8, 3);
    step.guidance_weight = 0.0f;
    step.samples[11] = std::numeric_limits<float>::infinity();
    CHECK(step.run(false).status == Bits::non_finite_loss);
  }
}

TEST_CASE("launches of one criterion step (host backend count)", "[thrust-host]") {
  // The launch sequence depends on the options, never on B, C, D or S (each
  // fused step is one launch over its whole row range), so small shapes count
  // the launches of the benchmark shapes too; C = 300 spans two score chunks.
  const auto total = [](const auto& counts) { return counts.kernels + counts.gemms + counts.memsets; };
  for (const pdml::Index classes : {5, 300}) {
    Step<float> step(6, classes, 8, 3);
    const auto sampled = step.run(true);
    // Prepare (eta split + proxy rows + image rows + the GEMM batch's pointers); draw;
    // batched GEMM (G = X A^T in S blocks, M = mu Nu^T); scores epilogue + ProxyAnchor
    // per class; finisher (which writes the status word whole: no memset).
    CHECK(sampled.forward.kernels == 4);
    CHECK(sampled.forward.gemms == 1);
    CHECK(sampled.forward.memsets == 0);
    // Pair pass (Proxy-NCA and ProxyAnchor pairs, per-class sums, the backward batch's
    // pointers); batched GEMM (dX in S blocks, dmu); GEMM dA; GEMM dnu; proxy rows +
    // image rows with the sampler's backward + dT fold.
    CHECK(sampled.backward.kernels == 2);
    CHECK(sampled.backward.gemms == 3);
    CHECK(sampled.backward.memsets == 0);
    CHECK(total(sampled.forward) + total(sampled.backward) == 10);
    // Caller samples with dense rows: the same batches, no draw.
    const auto given = step.run(false);
    CHECK(given.forward.kernels == 3);
    CHECK(given.forward.gemms == 1);
    CHECK(given.backward.kernels == 2);
    CHECK(given.backward.gemms == 3);
  }
  // Caller samples whose rows are not dense cannot share a batch with mu's: the
  // separate GEMMs, 12 launches, and the same numbers (the host GEMM sums in k order
  // either way).
  for (const bool exact : {false, true}) {
    INFO("exact " << exact);
    Step<float> dense(6, 300, 8, 3);
    dense.exact = exact;
    Step<float> padded = dense;
    padded.sample_stride = 11;
    const auto a = dense.run(false);
    const auto p = padded.run(false);
    CHECK(a.forward.gemms + a.backward.gemms == (exact ? 7 : 4));
    CHECK(p.forward.gemms + p.backward.gemms == (exact ? 9 : 6));
    CHECK(p.forward.kernels + p.backward.kernels == a.forward.kernels + a.backward.kernels);
    CHECK(p.loss == a.loss);
    CHECK(p.grad_embeddings == a.grad_embeddings);
    CHECK(p.grad_proxies == a.grad_proxies);
    CHECK(p.grad_kappas == a.grad_kappas);
    CHECK(p.grad_samples == a.grad_samples);
    CHECK(p.grad_temperature == a.grad_temperature);
  }
  // Without ProxyAnchor (guidance weight 0): 9 launches per step.
  for (const pdml::Index classes : {5, 300}) {
    Step<float> plain(6, classes, 8, 3);
    plain.guidance_weight = 0.0f;
    const auto r = plain.run(true, false);
    CHECK(r.forward.kernels == 4);
    CHECK(r.forward.gemms == 1);
    CHECK(r.forward.memsets == 0);
    CHECK(r.backward.kernels == 2);
    CHECK(r.backward.gemms == 2);
    CHECK(total(r.forward) + total(r.backward) == 9);
  }
}

}  // namespace
