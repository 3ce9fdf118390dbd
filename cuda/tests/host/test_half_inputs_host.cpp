// SPDX-License-Identifier: MIT
// Half-precision inputs of pdml::cuda::ElNivmfLoss<float> (fp16 / bf16
// embeddings and proxy vectors, fp32 accumulation) on Thrust's CPP system
// with the host GEMM, through the same carving and forward
// (detail::el_nivmf_forward_from_half) as the public overloads, against the
// CPU criterion pdml::ElNivmfLoss<float> on the float-converted inputs:
//  * the conversion is exact (every fp16 / bf16 value is a float), checked
//    element by element, strided inputs included;
//  * the cosine similarity (pdml::cuda::cosine_similarity_forward's half
//    overload) against pdml::cosine_similarity_* likewise;
//  * loss and every gradient within 1e-5 relative, both scoring rules, with
//    and without ProxyAnchor, caller-drawn and self-drawn samples (the
//    samples drawn from the converted embeddings equal the CPU's bit for bit).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/losses/detail/el_nivmf_criterion.hpp>
#include <pdml/cuda/similarities/detail/half_inputs.hpp>
#include <pdml/cuda/similarities/detail/similarity_algorithms.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/similarities/cosine.hpp>

#include "half_test_support.hpp"
#include "host_test_support.hpp"

namespace {

using pdml::ConstMatrixView;
using pdml::Index;
using pdml::MatrixView;
using pdml_test::random_half_matrix;
using pdml_test::relative_difference;
using pdml_test::tolerance;
namespace pc = pdml::cuda;

template <class In>
void compare_with_cpu(float guidance_weight, pdml::NivmfScoring scoring, bool sampled) {
  const Index b = 8, c = 6, d = 7, s = 3, rows = s * b;
  std::mt19937_64 gen(4242u);
  const auto embeddings = random_half_matrix<In>(b, d, 2, 2.0, gen);
  const auto proxies = random_half_matrix<In>(c, d, 3, 1.0, gen);
  std::vector<float> kappas;
  std::uniform_real_distribution<double> uniform(0.05, 3.0);
  for (Index k = 0; k < c * d; ++k) kappas.push_back(static_cast<float>(uniform(gen)));
  const std::vector<float> samples = pdml_test::unit_rows<float>(rows, d, gen);
  std::vector<std::int64_t> labels;
  for (Index i = 0; i < b; ++i) labels.push_back(static_cast<std::int64_t>(i % (c - 1)));
  const ConstMatrixView<float> kv{kappas.data(), c, d, d}, xv{samples.data(), rows, d, d};
  const float temperature = 0.1f, grad_loss = 0.75f;
  const pdml::RngKey rng{99u, 4u};

  // CPU criterion on the float values of the half inputs.
  pdml::ElNivmfLoss<float>::Options cpu_options;
  cpu_options.n_samples = static_cast<int>(s);
  cpu_options.guidance_weight = guidance_weight;
  cpu_options.scoring = scoring;
  const pdml::ElNivmfLoss<float> cpu(cpu_options);
  pdml::ElNivmfLoss<float>::Saved cpu_saved;
  const ConstMatrixView<float> ev{embeddings.as_float.data(), b, d, d},
      vv{proxies.as_float.data(), c, d, d};
  const float cpu_loss =
      sampled ? cpu.forward(ev, labels.data(), vv, kv, temperature, rng, cpu_saved)
              : cpu.forward_with_samples(xv, ev, labels.data(), vv, kv, temperature, cpu_saved);
  std::vector<float> ge(static_cast<std::size_t>(b * d)), gv(static_cast<std::size_t>(c * d)),
      gk(gv.size()), gx(static_cast<std::size_t>(rows * d));
  float gt = 0;
  MatrixView<float> gx_view{gx.data(), rows, d, d};
  cpu.backward(cpu_saved, grad_loss, MatrixView<float>{ge.data(), b, d, d},
               MatrixView<float>{gv.data(), c, d, d}, MatrixView<float>{gk.data(), c, d, d}, &gt,
               sampled ? nullptr : &gx_view);

  // The generic algorithm, carved and run as ElNivmfLoss<float>::forward's
  // half-precision overloads do.
  pc::detail::ElNivmfState<float> st;
  pc::detail::HalfInputBuffers converted;
  pc::detail::VmfSampleBuffers<float> sampler;
  float* drawn = nullptr;
  const auto carve = [&](pc::WorkspaceCarver& carver) {
    converted = pc::detail::carve_half_inputs(carver, b, c, d);
    st = pc::detail::ElNivmfState<float>{};
    pdml_test::set_el_nivmf_sizes_and_options(st, cpu_options, b, c, d, temperature);
    st.embeddings = ConstMatrixView<float>{converted.embeddings, b, d, d};
    st.proxies = ConstMatrixView<float>{converted.proxies, c, d, d};
    st.kappas = kv;
    st.labels = labels.data();
    pc::detail::carve_el_nivmf<float>(carver, st, sampled, &drawn);
    if (sampled) {
      sampler = pc::detail::carve_vmf_sample_buffers<float>(carver, s, b, d, true);
    } else {
      st.samples_view = xv;
    }
  };
  const auto workspace = pdml_test::carve_host_workspace(carve);
  const pc::detail::HostBackend be;
  float loss = 0;
  REQUIRE(pc::detail::el_nivmf_forward_from_half(be, st, converted, embeddings.view(),
                                                 proxies.view(), sampled ? &sampler : nullptr,
                                                 drawn, rng, &loss) == cudaSuccess);
  // The conversion is exact.
  CHECK(std::equal(embeddings.as_float.begin(), embeddings.as_float.end(), converted.embeddings));
  CHECK(std::equal(proxies.as_float.begin(), proxies.as_float.end(), converted.proxies));
  if (sampled) CHECK(std::equal(drawn, drawn + rows * d, cpu_saved.samples.data()));
  std::vector<float> he(ge.size(), -7.0f), hv(gv.size()), hk(gk.size()), hx(gx.size());
  float ht = 0;
  MatrixView<float> hx_view{hx.data(), rows, d, d};
  REQUIRE(pc::detail::el_nivmf_backward_step(be, st, sampled ? &sampler : nullptr, grad_loss,
                                             MatrixView<float>{he.data(), b, d, d},
                                             MatrixView<float>{hv.data(), c, d, d},
                                             MatrixView<float>{hk.data(), c, d, d}, &ht,
                                             &hx_view) == cudaSuccess);
  const double tol = tolerance<float>();
  INFO("guidance " << guidance_weight << " exact "
                   << (scoring == pdml::NivmfScoring::exact_density) << " sampled " << sampled
                   << ": loss " << loss << " vs " << cpu_loss << ", d/de "
                   << relative_difference(he, ge) << ", d/dv " << relative_difference(hv, gv)
                   << ", d/dk " << relative_difference(hk, gk));
  CHECK(std::abs(loss - cpu_loss) <= tol * std::max(1.0f, std::abs(cpu_loss)));
  CHECK(relative_difference(he, ge) <= tol);
  CHECK(relative_difference(hv, gv) <= tol);
  CHECK(relative_difference(hk, gk) <= tol);
  if (!sampled) CHECK(relative_difference(hx, gx) <= tol);
  CHECK(std::abs(ht - gt) <= tol * std::max(1.0f, std::abs(gt)));
}

template <class In>
void compare_all() {
  for (bool sampled : {false, true}) {
    compare_with_cpu<In>(0.0f, pdml::NivmfScoring::paper_rule, sampled);
    compare_with_cpu<In>(0.5f, pdml::NivmfScoring::paper_rule, sampled);
    compare_with_cpu<In>(0.5f, pdml::NivmfScoring::exact_density, sampled);
  }
}

template <class In>
void compare_cosine() {
  const Index b = 9, c = 5, d = 11;
  std::mt19937_64 gen(77u);
  const auto embeddings = random_half_matrix<In>(b, d, 1, 3.0, gen);
  const auto proxies = random_half_matrix<In>(c, d, 2, 1.0, gen);
  std::vector<float> grad;
  std::normal_distribution<double> normal;
  for (Index k = 0; k < b * c; ++k) grad.push_back(static_cast<float>(normal(gen)));
  const float temperature = 0.2f;
  // CPU on the float values.
  std::vector<float> sim(static_cast<std::size_t>(b * c)), ge(static_cast<std::size_t>(b * d)),
      gv(static_cast<std::size_t>(c * d));
  float gt = 0;
  pdml::CosineSimilaritySaved<float> cpu_saved;
  pdml::cosine_similarity_forward(ConstMatrixView<float>{embeddings.as_float.data(), b, d, d},
                                  ConstMatrixView<float>{proxies.as_float.data(), c, d, d},
                                  temperature, MatrixView<float>{sim.data(), b, c, c}, cpu_saved);
  pdml::cosine_similarity_backward(cpu_saved, ConstMatrixView<float>{grad.data(), b, c, c},
                                   MatrixView<float>{ge.data(), b, d, d},
                                   MatrixView<float>{gv.data(), c, d, d}, &gt);
  // Generic code, carved as the public half overload does.
  pc::detail::CosineState<float> st;
  st.rows = b;
  st.classes = c;
  st.dims = d;
  st.temperature = temperature;
  pc::detail::HalfInputBuffers converted;
  const auto carve = [&](pc::WorkspaceCarver& carver) {
    converted = pc::detail::carve_half_inputs(carver, b, c, d);
    pc::detail::carve_cosine(carver, st);
  };
  const auto workspace = pdml_test::carve_host_workspace(carve);
  const pc::detail::HostBackend be;
  std::vector<float> hsim(sim.size()), hge(ge.size()), hgv(gv.size());
  float hgt = 0;
  REQUIRE(pc::detail::cosine_forward_from_half(be, st, converted, embeddings.view(),
                                               proxies.view(),
                                               MatrixView<float>{hsim.data(), b, c, c}) ==
          cudaSuccess);
  REQUIRE(pc::detail::cosine_backward(be, st, ConstMatrixView<float>{grad.data(), b, c, c},
                                      MatrixView<float>{hge.data(), b, d, d},
                                      MatrixView<float>{hgv.data(), c, d, d}, &hgt) ==
          cudaSuccess);
  CHECK(std::equal(embeddings.as_float.begin(), embeddings.as_float.end(), converted.embeddings));
  CHECK(std::equal(proxies.as_float.begin(), proxies.as_float.end(), converted.proxies));
  INFO("cosine: sim " << relative_difference(hsim, sim) << ", d/de "
                      << relative_difference(hge, ge) << ", d/dv "
                      << relative_difference(hgv, gv) << ", d/dT " << hgt << " vs " << gt);
  const double tol = tolerance<float>();
  CHECK(relative_difference(hsim, sim) <= tol);
  CHECK(relative_difference(hge, ge) <= tol);
  CHECK(relative_difference(hgv, gv) <= tol);
  CHECK(std::abs(hgt - gt) <= 1e-5f * std::max(1.0f, std::abs(gt)));
}

}  // namespace

TEST_CASE("fp16 and bf16 inputs: the cosine similarity equals the CPU one on the converted "
          "inputs",
          "[thrust-host]") {
  compare_cosine<__half>();
  compare_cosine<__nv_bfloat16>();
}

TEST_CASE("fp16 inputs: the criterion equals the CPU one on the converted inputs",
          "[thrust-host]") {
  compare_all<__half>();
}

TEST_CASE("bf16 inputs: the criterion equals the CPU one on the converted inputs",
          "[thrust-host]") {
  compare_all<__nv_bfloat16>();
}
