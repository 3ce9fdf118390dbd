// SPDX-License-Identifier: MIT
// The generic (Thrust) EL-nivMF algorithm of pdml::cuda, run on Thrust's CPP
// system with the host GEMM, against the CPU criterion pdml::ElNivmfLoss on
// identical inputs: the code path of the CUDA criterion, executed without a GPU.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/losses/detail/el_nivmf_criterion.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>

#include "host_test_support.hpp"

namespace {

using pdml_test::relative_difference;

template <class T>
struct Problem {
  pdml::Index b, c, d, s;
  std::vector<T> samples, embeddings, proxies, kappas;
  std::vector<std::int64_t> labels;
};

template <class T>
Problem<T> make_problem(pdml::Index b, pdml::Index c, pdml::Index d, pdml::Index s,
                        unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.05, 3.0);
  Problem<T> p{b, c, d, s, {}, {}, {}, {}, {}};
  pdml_test::append_unit_rows(p.samples, s * b, d, gen, normal);
  for (pdml::Index i = 0; i < b * d; ++i) p.embeddings.push_back(static_cast<T>(2 * normal(gen)));
  for (pdml::Index j = 0; j < d; ++j) p.embeddings[static_cast<std::size_t>(d + j)] = T(0);  // uniform vMF
  for (pdml::Index i = 0; i < c * d; ++i) p.proxies.push_back(static_cast<T>(normal(gen)));
  // Some concentrations below min_kappa = 0.1, to exercise the clamp.
  for (pdml::Index i = 0; i < c * d; ++i) p.kappas.push_back(static_cast<T>(uniform(gen)));
  for (pdml::Index i = 0; i < b; ++i) p.labels.push_back(static_cast<std::int64_t>(i % (c - 1)));
  return p;
}

template <class T>
void compare_with_cpu(T guidance_weight, T temperature,
                      pdml::NivmfScoring scoring = pdml::NivmfScoring::paper_rule,
                      bool sampled = false) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  const auto p = make_problem<T>(9, 6, 7, 3, 1234u);
  const pdml::Index rows = p.s * p.b;
  const ConstMatrixView<T> samples{p.samples.data(), rows, p.d, p.d};
  const ConstMatrixView<T> embeddings{p.embeddings.data(), p.b, p.d, p.d};
  const ConstMatrixView<T> proxies{p.proxies.data(), p.c, p.d, p.d};
  const ConstMatrixView<T> kappas{p.kappas.data(), p.c, p.d, p.d};

  // CPU reference.
  typename pdml::ElNivmfLoss<T>::Options cpu_options;
  cpu_options.n_samples = static_cast<int>(p.s);
  cpu_options.guidance_weight = guidance_weight;
  cpu_options.scoring = scoring;
  const pdml::ElNivmfLoss<T> cpu(cpu_options);
  typename pdml::ElNivmfLoss<T>::Saved cpu_saved;
  const pdml::RngKey rng{31337u, 5u};
  const T cpu_loss = sampled ? cpu.forward(embeddings, p.labels.data(), proxies, kappas,
                                           temperature, rng, cpu_saved)
                             : cpu.forward_with_samples(samples, embeddings, p.labels.data(),
                                                        proxies, kappas, temperature, cpu_saved);
  std::vector<T> ge(p.b * p.d), gv(p.c * p.d), gk(p.c * p.d), gx(rows * p.d);
  T gt = 0;
  MatrixView<T> gx_view{gx.data(), rows, p.d, p.d};
  cpu.backward(cpu_saved, T(0.75), MatrixView<T>{ge.data(), p.b, p.d, p.d},
               MatrixView<T>{gv.data(), p.c, p.d, p.d}, MatrixView<T>{gk.data(), p.c, p.d, p.d},
               &gt, sampled ? nullptr : &gx_view);

  // The CUDA algorithm on the host backend.
  pdml::cuda::detail::ElNivmfState<T> st;
  pdml_test::set_el_nivmf_sizes_and_options(st, cpu_options, p.b, p.c, p.d, temperature);
  st.samples_view = samples;
  st.embeddings = embeddings;
  st.proxies = proxies;
  st.kappas = kappas;
  st.labels = p.labels.data();
  // The same carving sequence as pdml::cuda::ElNivmfLoss::forward.
  T* drawn = nullptr;
  pdml::cuda::detail::VmfSampleBuffers<T> sampler;
  auto carve = [&](pdml::cuda::WorkspaceCarver& carver) {
    pdml::cuda::detail::carve_el_nivmf<T>(carver, st, sampled, &drawn);
    if (sampled) {
      sampler = pdml::cuda::detail::carve_vmf_sample_buffers<T>(carver, p.s, p.b, p.d, true);
    }
  };
  const auto workspace = pdml_test::carve_host_workspace(carve);

  const pdml::cuda::detail::HostBackend backend;
  T loss = 0;
  if (sampled) {
    REQUIRE(pdml::cuda::detail::el_nivmf_forward_sampled(backend, st, sampler, drawn, rng,
                                                         &loss) == cudaSuccess);
    // Same code, same compiler: the samples are bitwise those of pdml::vmf_sample.
    CHECK(std::equal(drawn, drawn + rows * p.d, cpu_saved.samples.data()));
  } else {
    REQUIRE(pdml::cuda::detail::el_nivmf_forward(backend, st, &loss) == cudaSuccess);
  }
  std::vector<T> he(ge.size(), T(-7)), hv(gv.size()), hk(gk.size()), hx(gx.size());
  T ht = 0;
  MatrixView<T> hx_view{hx.data(), rows, p.d, p.d};
  REQUIRE(pdml::cuda::detail::el_nivmf_backward_step(
              backend, st, sampled ? &sampler : nullptr, T(0.75),
              MatrixView<T>{he.data(), p.b, p.d, p.d}, MatrixView<T>{hv.data(), p.c, p.d, p.d},
              MatrixView<T>{hk.data(), p.c, p.d, p.d}, &ht, &hx_view) == cudaSuccess);

  INFO("loss cpu " << cpu_loss << " generic " << loss);
  const double tol = pdml_test::tolerance<T>();
  CHECK(std::abs(loss - cpu_loss) <= tol * std::max(T(1), std::abs(cpu_loss)));
  CHECK(relative_difference(he, ge) <= tol);
  CHECK(relative_difference(hv, gv) <= tol);
  CHECK(relative_difference(hk, gk) <= tol);
  if (!sampled) CHECK(relative_difference(hx, gx) <= tol);
  CHECK(std::abs(ht - gt) <= tol * std::max(T(1), std::abs(gt)));

  // Bitwise reproducible: a second backward gives the same bits.
  std::vector<T> he2(ge.size()), hv2(gv.size()), hk2(gk.size()), hx2(gx.size());
  T ht2 = 0;
  MatrixView<T> hx2_view{hx2.data(), rows, p.d, p.d};
  REQUIRE(pdml::cuda::detail::el_nivmf_backward_step(
              backend, st, sampled ? &sampler : nullptr, T(0.75),
              MatrixView<T>{he2.data(), p.b, p.d, p.d}, MatrixView<T>{hv2.data(), p.c, p.d, p.d},
              MatrixView<T>{hk2.data(), p.c, p.d, p.d}, &ht2, &hx2_view) == cudaSuccess);
  CHECK(he2 == he);
  CHECK(hv2 == hv);
  CHECK(hk2 == hk);
  CHECK(hx2 == hx);
  CHECK(ht2 == ht);
}

}  // namespace

TEST_CASE("generic EL-nivMF criterion equals the CPU criterion (double)", "[thrust-host]") {
  compare_with_cpu<double>(0.0, 0.1);
  compare_with_cpu<double>(0.5, 0.05);
  compare_with_cpu<double>(0.5, 0.2, pdml::NivmfScoring::exact_density);
}

TEST_CASE("generic EL-nivMF criterion with its own samples equals the CPU criterion",
          "[thrust-host]") {
  // Samples equal bit for bit; gradients through the sampler within the tolerance.
  compare_with_cpu<double>(0.0, 0.1, pdml::NivmfScoring::paper_rule, true);
  compare_with_cpu<double>(0.5, 0.05, pdml::NivmfScoring::paper_rule, true);
  compare_with_cpu<float>(0.5f, 0.05f, pdml::NivmfScoring::paper_rule, true);
}

TEST_CASE("generic EL-nivMF criterion equals the CPU criterion (float)", "[thrust-host]") {
  compare_with_cpu<float>(0.0f, 0.1f);
  compare_with_cpu<float>(0.5f, 0.05f);
  compare_with_cpu<float>(0.5f, 0.2f, pdml::NivmfScoring::exact_density);
}

TEST_CASE("deterministic two-level sum on the host backend", "[thrust-host]") {
  const pdml::cuda::detail::HostBackend backend;
  std::vector<double> values(1000);
  for (std::size_t k = 0; k < values.size(); ++k) values[k] = 1.0 / static_cast<double>(k + 1);
  std::vector<double> partial(pdml::cuda::detail::chunk_count(1000));
  double total = 0;
  struct Store {
    double* out;
    void operator()(double v) const { *out = v; }
  };
  REQUIRE(pdml::cuda::detail::deterministic_sum<double>(
              backend, 1000, pdml::cuda::detail::ArrayValues<double>{values.data()},
              partial.data(), Store{&total}) == cudaSuccess);
  double expected = 0;
  for (pdml::Index chunk = 0; chunk < 4; ++chunk) {
    double part = 0;
    for (pdml::Index k = chunk * 256; k < std::min<pdml::Index>(1000, chunk * 256 + 256); ++k) {
      part += values[static_cast<std::size_t>(k)];
    }
    expected += part;
  }
  CHECK(total == expected);
}

namespace {

/// The generic vMF sampler and its backward against pdml::vmf_sample /
/// vmf_sample_backward for rows whose kappa = |eta| lies below, at and above
/// pdml::vmf_uniform_kappa<T>() (where the host switches from the pathwise
/// backward to the kappa = 0 estimator), plus a zero row and an ordinary row.
template <class T>
void check_vmf_sampler_at_tiny_kappa() {
  using pdml::ConstMatrixView;
  using pdml::Index;
  using pdml::MatrixView;
  const Index n = 6, p = 4;
  const int s = 3;
  const Index rows = n * s;
  const double threshold = static_cast<double>(pdml::vmf_uniform_kappa<T>());
  // kappa: 1e-3 x, just below, at, 4 x the threshold, 0, and an ordinary 2.5.
  const double kappas[n] = {1e-3 * threshold, 0.5 * threshold, threshold, 4 * threshold, 0, 2.5};
  const double direction[p] = {0.5, -0.5, 0.5, 0.5};
  std::vector<T> eta(static_cast<std::size_t>(n * p));
  for (Index r = 0; r < n; ++r) {
    for (Index j = 0; j < p; ++j) {
      eta[static_cast<std::size_t>(r * p + j)] = static_cast<T>(kappas[r] * direction[j]);
    }
  }
  std::vector<T> grad(static_cast<std::size_t>(rows * p));
  {
    std::mt19937_64 gen(91u);
    std::normal_distribution<double> normal;
    for (auto& g : grad) g = static_cast<T>(normal(gen));
  }
  const pdml::RngKey rng{424242u, 9u};
  const ConstMatrixView<T> ev{eta.data(), n, p, p}, gv{grad.data(), rows, p, p};

  std::vector<T> cpu_samples(static_cast<std::size_t>(rows * p)), cpu_ge(eta.size());
  pdml::VmfSampleSaved<T> cpu_saved;
  pdml::vmf_sample(ev, s, rng, MatrixView<T>{cpu_samples.data(), rows, p, p}, &cpu_saved);
  pdml::vmf_sample_backward(cpu_saved, gv, MatrixView<T>{cpu_ge.data(), n, p, p});

  pdml::cuda::detail::VmfSampleBuffers<T> buffers;
  const auto workspace = pdml_test::carve_host_workspace([&](pdml::cuda::WorkspaceCarver& carver) {
    buffers = pdml::cuda::detail::carve_vmf_sample_buffers<T>(carver, s, n, p);
  });
  const pdml::cuda::detail::HostBackend be;
  std::vector<T> samples(cpu_samples.size()), ge(cpu_ge.size(), T(13));
  REQUIRE(pdml::cuda::detail::vmf_sample_run(be, ev, s, rng,
                                             MatrixView<T>{samples.data(), rows, p, p},
                                             buffers) == cudaSuccess);
  REQUIRE(pdml::cuda::detail::vmf_sample_backward_run(be, buffers, ev, s, gv,
                                                      MatrixView<T>{ge.data(), n, p, p},
                                                      false) == cudaSuccess);
  CHECK(samples == cpu_samples);
  for (Index r = 0; r < n; ++r) {
    for (Index j = 0; j < p; ++j) {
      const std::size_t k = static_cast<std::size_t>(r * p + j);
      INFO("kappa " << kappas[r] << " (threshold " << threshold << ") component " << j
                    << ": generic " << ge[k] << ", CPU " << cpu_ge[k]);
      REQUIRE(std::isfinite(ge[k]));
      CHECK(std::abs(static_cast<double>(ge[k]) - static_cast<double>(cpu_ge[k])) <=
            pdml_test::tolerance<T>() * std::max(1.0, std::abs(static_cast<double>(cpu_ge[k]))));
    }
  }
}

}  // namespace

TEST_CASE("generic vMF sampler: below sqrt(smallest normal) kappa the backward uses the CPU's "
          "kappa = 0 estimator",
          "[thrust-host]") {
  check_vmf_sampler_at_tiny_kappa<double>();
  check_vmf_sampler_at_tiny_kappa<float>();
}
