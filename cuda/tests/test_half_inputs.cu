// SPDX-License-Identifier: MIT
// Half-precision inputs of pdml::cuda::ElNivmfLoss<float> on the device: the
// fp16 / bf16 overloads of forward and forward_with_samples give bitwise the
// same loss and gradients as the fp32 criterion on the float-converted inputs
// (same kernels, same data after the exact conversion; the CPU comparison is
// the thrust-host test test_half_inputs_host), for strided half inputs, both
// scoring rules, with ProxyAnchor; and they validate host-side arguments.
// Likewise the half-precision overload of cosine_similarity_forward.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <pdml/cuda/losses/el_nivmf_loss.hpp>
#include <pdml/cuda/similarities/similarities.hpp>

#include "device_test_support.hpp"
#include "half_test_support.hpp"

namespace {

using pdml_test::CublasHandle;
using pdml_test::DeviceBuffer;
using pdml_test::random_half_matrix;

struct Outputs {
  std::vector<float> loss, ge, gv, gk, gt, gx;
};

template <class In>
void check_half_equals_float(bool sampled, bool exact) {
  const long b = 10, c = 8, d = 12, s = 3, rows = s * b, pad = 3;
  std::mt19937_64 gen(7u);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.05, 3.0);
  // Half inputs with row stride d + pad, and their float values (dense).
  const auto eh = random_half_matrix<In>(b, d, pad, 2.0, gen, normal);
  const auto vh = random_half_matrix<In>(c, d, pad, 1.0, gen, normal);
  std::vector<float> kf, xf;
  for (long k = 0; k < c * d; ++k) kf.push_back(static_cast<float>(uniform(gen)));
  pdml_test::append_unit_rows(xf, rows, d, gen, normal);
  std::vector<std::int64_t> labels;
  for (long i = 0; i < b; ++i) labels.push_back((i * 3) % (c - 1));
  DeviceBuffer<In> d_eh(eh.data), d_vh(vh.data);
  DeviceBuffer<float> d_ef(eh.as_float), d_vf(vh.as_float), d_kf(kf), d_xf(xf);
  DeviceBuffer<std::int64_t> d_labels(labels);
  CublasHandle cublas;
  const pdml::cuda::Context context{nullptr, cublas.handle};
  pdml::cuda::ElNivmfLoss<float>::Options options;
  options.n_samples = static_cast<int>(s);
  options.guidance_weight = 0.5f;
  options.scoring =
      exact ? pdml::cuda::NivmfScoring::exact_density : pdml::cuda::NivmfScoring::paper_rule;
  const pdml::cuda::ElNivmfLoss<float> loss(options);
  const pdml::RngKey rng{123u, 9u};
  const pdml::ConstMatrixView<float> kv{d_kf.get(), c, d, d}, xv{d_xf.get(), rows, d, d};
  std::size_t half_bytes = 0, float_bytes = 0;
  const auto run = [&](bool half) {
    Outputs out;
    DeviceBuffer<float> d_loss(1), ge(static_cast<std::size_t>(b * d)),
        gv(static_cast<std::size_t>(c * d)), gk(static_cast<std::size_t>(c * d)), gt(1),
        gx(static_cast<std::size_t>(rows * d));
    pdml::cuda::ElNivmfLoss<float>::Saved saved;
    const pdml::MatrixView<const In> eh_view{d_eh.get(), b, d, d + pad},
        vh_view{d_vh.get(), c, d, d + pad};
    const pdml::ConstMatrixView<float> ef_view{d_ef.get(), b, d, d}, vf_view{d_vf.get(), c, d, d};
    const auto forward = [&](void* workspace, std::size_t& bytes) {
      if (half) {
        return sampled ? loss.forward(workspace, bytes, eh_view, d_labels.get(), vh_view, kv,
                                      0.1f, rng, d_loss.get(), saved, context)
                       : loss.forward_with_samples(workspace, bytes, xv, eh_view, d_labels.get(),
                                                   vh_view, kv, 0.1f, d_loss.get(), saved,
                                                   context);
      }
      return sampled ? loss.forward(workspace, bytes, ef_view, d_labels.get(), vf_view, kv, 0.1f,
                                    rng, d_loss.get(), saved, context)
                     : loss.forward_with_samples(workspace, bytes, xv, ef_view, d_labels.get(),
                                                 vf_view, kv, 0.1f, d_loss.get(), saved, context);
    };
    std::size_t& bytes = half ? half_bytes : float_bytes;
    REQUIRE(forward(nullptr, bytes) == cudaSuccess);
    DeviceBuffer<unsigned char> workspace(bytes);
    REQUIRE(forward(workspace.get(), bytes) == cudaSuccess);
    pdml::MatrixView<float> gx_view{gx.get(), rows, d, d};
    REQUIRE(loss.backward(saved, 0.8f, pdml::MatrixView<float>{ge.get(), b, d, d},
                          pdml::MatrixView<float>{gv.get(), c, d, d},
                          pdml::MatrixView<float>{gk.get(), c, d, d}, gt.get(),
                          sampled ? nullptr : &gx_view, context) == cudaSuccess);
    out.loss = d_loss.download();
    out.ge = ge.download();
    out.gv = gv.download();
    out.gk = gk.download();
    out.gt = gt.download();
    if (!sampled) out.gx = gx.download();
    return out;
  };
  const Outputs half = run(true), full = run(false);
  INFO("sampled " << sampled << " exact " << exact << ": loss " << half.loss[0] << " vs "
                  << full.loss[0]);
  CHECK(half.loss == full.loss);
  CHECK(half.ge == full.ge);
  CHECK(half.gv == full.gv);
  CHECK(half.gk == full.gk);
  CHECK(half.gt == full.gt);
  CHECK(half.gx == full.gx);
  CHECK(half_bytes > float_bytes);  // + the fp32 copies of the inputs
}

template <class In>
void check_cosine_half_equals_float() {
  const long b = 9, c = 6, d = 10, pad = 2;
  std::mt19937_64 gen(11u);
  std::normal_distribution<double> normal;
  const auto eh = random_half_matrix<In>(b, d, pad, 2.0, gen, normal);
  const auto vh = random_half_matrix<In>(c, d, pad, 1.0, gen, normal);
  std::vector<float> g;
  for (long k = 0; k < b * c; ++k) g.push_back(static_cast<float>(normal(gen)));
  DeviceBuffer<In> d_eh(eh.data), d_vh(vh.data);
  DeviceBuffer<float> d_ef(eh.as_float), d_vf(vh.as_float), d_g(g);
  CublasHandle cublas;
  const pdml::cuda::Context context{nullptr, cublas.handle};
  const auto run = [&](bool half) {
    Outputs out;
    DeviceBuffer<float> sim(static_cast<std::size_t>(b * c)), ge(static_cast<std::size_t>(b * d)),
        gv(static_cast<std::size_t>(c * d)), gt(1);
    pdml::cuda::CosineSimilaritySaved<float> saved;
    const pdml::MatrixView<float> sim_view{sim.get(), b, c, c};
    const auto forward = [&](void* workspace, std::size_t& bytes) {
      if (half) {
        return pdml::cuda::cosine_similarity_forward(
            workspace, bytes, pdml::MatrixView<const In>{d_eh.get(), b, d, d + pad},
            pdml::MatrixView<const In>{d_vh.get(), c, d, d + pad}, 0.3f, sim_view, saved, context);
      }
      return pdml::cuda::cosine_similarity_forward<float>(
          workspace, bytes, pdml::ConstMatrixView<float>{d_ef.get(), b, d, d},
          pdml::ConstMatrixView<float>{d_vf.get(), c, d, d}, 0.3f, sim_view, saved, context);
    };
    std::size_t bytes = 0;
    REQUIRE(forward(nullptr, bytes) == cudaSuccess);
    DeviceBuffer<unsigned char> workspace(bytes);
    REQUIRE(forward(workspace.get(), bytes) == cudaSuccess);
    REQUIRE(pdml::cuda::cosine_similarity_backward<float>(
                saved, pdml::ConstMatrixView<float>{d_g.get(), b, c, c},
                pdml::MatrixView<float>{ge.get(), b, d, d},
                pdml::MatrixView<float>{gv.get(), c, d, d}, gt.get(), context) == cudaSuccess);
    out.loss = sim.download();
    out.ge = ge.download();
    out.gv = gv.download();
    out.gt = gt.download();
    return out;
  };
  const Outputs half = run(true), full = run(false);
  CHECK(half.loss == full.loss);  // the similarities
  CHECK(half.ge == full.ge);
  CHECK(half.gv == full.gv);
  CHECK(half.gt == full.gt);
}

}  // namespace

TEST_CASE("fp16 and bf16 inputs: the cosine similarity equals the fp32 one on the converted "
          "inputs",
          "[cuda][similarity]") {
  check_cosine_half_equals_float<__half>();
  check_cosine_half_equals_float<__nv_bfloat16>();
}

TEST_CASE("fp16 and bf16 inputs: the criterion equals the fp32 one on the converted inputs",
          "[cuda][criterion]") {
  for (bool sampled : {false, true}) {
    for (bool exact : {false, true}) {
      check_half_equals_float<__half>(sampled, exact);
      check_half_equals_float<__nv_bfloat16>(sampled, exact);
    }
  }
}

TEST_CASE("half-precision criterion inputs are validated on the host", "[cuda][criterion]") {
  __half dummy_half{};
  float dummy = 0;
  std::int64_t label = 0;
  CublasHandle cublas;
  const pdml::cuda::Context context{nullptr, cublas.handle};
  const pdml::cuda::ElNivmfLoss<float> loss(pdml::cuda::ElNivmfLoss<float>::Options{});
  pdml::cuda::ElNivmfLoss<float>::Saved saved;
  std::size_t bytes = 0;
  const pdml::MatrixView<const __half> e{&dummy_half, 2, 4, 4}, v{&dummy_half, 3, 4, 4};
  const pdml::ConstMatrixView<float> k{&dummy, 3, 4, 4};
  CHECK(loss.forward(nullptr, bytes, e, &label, v, k, 0.1f, pdml::RngKey{1, 0}, &dummy, saved,
                     context) == cudaSuccess);
  CHECK(bytes > 0);
  CHECK_THROWS_AS(loss.forward(nullptr, bytes, e, &label, pdml::MatrixView<const __half>{
                                                              &dummy_half, 3, 5, 5},
                               k, 0.1f, pdml::RngKey{1, 0}, &dummy, saved, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss.forward(nullptr, bytes, e, &label, v, k, -0.1f, pdml::RngKey{1, 0}, &dummy,
                               saved, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss.forward_with_samples(nullptr, bytes,
                                            pdml::ConstMatrixView<float>{&dummy, 9, 4, 4}, e,
                                            &label, v, k, 0.1f, &dummy, saved, context),
                  std::invalid_argument);  // samples must be (5 x 2) x 4
}
