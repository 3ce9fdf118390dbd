// SPDX-License-Identifier: MIT
// docs/api.md promises that reusing one Saved across steps of equal shapes
// allocates nothing after the first step (apart from Eigen's GEMM packing
// buffers, which stay on the stack for these sizes): checked here for the
// criterion, the samplers and the similarities. This file replaces the
// global operator new to count heap allocations made during a later step.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <vector>

#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/sharded_el_nivmf_loss.hpp>
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/nivmf_point.hpp>

// AddressSanitizer supplies its own operator new and reports a replacement
// that frees with free() as a mismatch, so under ASan nothing is counted
// (the ASan+UBSan CI step still runs every step below for memory errors).
#if defined(__SANITIZE_ADDRESS__)
#define PDML_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PDML_TEST_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef PDML_TEST_COUNTS_ALLOCATIONS
#define PDML_TEST_COUNTS_ALLOCATIONS 1
#endif

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

#if PDML_TEST_COUNTS_ALLOCATIONS
void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

using Matrix = pdml::RowMajorMatrix<float>;

long allocations_during(const std::function<void()>& work) {
  const long before = g_allocations.load();
  work();
  return g_allocations.load() - before;
}

}  // namespace

TEST_CASE("The allocation counter counts", "[allocation]") {
#if PDML_TEST_COUNTS_ALLOCATIONS
  // Positive control: a zero count below must mean "no allocation", not "not counted".
  CHECK(allocations_during([] {
          std::vector<int> v(100);
          v[0] = 1;
          CHECK(v[0] == 1);
        }) == 1);
#else
  WARN("allocations are not counted under AddressSanitizer");
#endif
}

TEST_CASE("A training step with a reused Saved allocates nothing after the first",
          "[losses][allocation]") {
  const int batch = 16, classes = 6, dim = 32;
  Matrix embeddings = 8.0f * Matrix::Random(batch, dim);
  std::vector<std::int64_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % classes;
  const Matrix proxies = Matrix::Random(classes, dim);
  const Matrix kappas = Matrix::Constant(classes, dim, 10.0f);
  Matrix grad_embeddings(batch, dim), grad_proxies(classes, dim), grad_kappas(classes, dim);
  float grad_temperature = 0;
  for (const float guidance : {0.0f, 1.0f}) {
    CAPTURE(guidance);
    pdml::ElNivmfLoss<float>::Options options;
    options.guidance_weight = guidance;
    const pdml::ElNivmfLoss<float> loss(options);
    pdml::ElNivmfLoss<float>::Saved saved;
    auto step = [&](std::uint64_t offset) {
      loss.forward(pdml::view_of<float>(embeddings), labels.data(),
                   pdml::view_of<float>(proxies), pdml::view_of<float>(kappas), 0.1f,
                   pdml::RngKey{7, offset}, saved);
      loss.backward(saved, 1.0f, pdml::view_of<float>(grad_embeddings),
                    pdml::view_of<float>(grad_proxies), pdml::view_of<float>(grad_kappas),
                    &grad_temperature);
    };
    step(0);
    step(1);  // thread pools, first-touch scratch: warm
    CHECK(allocations_during([&] { step(2); }) == 0);
  }
}

TEST_CASE("vmf_sample and its backward with a reused Saved allocate nothing after the first",
          "[distributions][allocation]") {
  const int count = 8, p = 24, n_samples = 3;
  const Matrix eta = 5.0f * Matrix::Random(count, p);
  Matrix samples(n_samples * count, p), grad(n_samples * count, p), grad_eta(count, p);
  grad.setOnes();
  pdml::VmfSampleSaved<float> saved;
  auto step = [&](std::uint64_t offset) {
    pdml::vmf_sample<float>(pdml::view_of<float>(eta), n_samples, pdml::RngKey{3, offset},
                            pdml::view_of<float>(samples), &saved);
    pdml::vmf_sample_backward<float>(saved, pdml::view_of<float>(grad),
                                     pdml::view_of<float>(grad_eta));
  };
  step(0);
  step(1);
  CHECK(allocations_during([&] { step(2); }) == 0);
}

TEST_CASE("nivMF and Power Spherical sampling with a reused Saved allocate nothing after the first",
          "[distributions][allocation]") {
  const int count = 5, p = 16, n_samples = 4;
  Matrix directions = Matrix::Random(count, p);
  directions.rowwise().normalize();
  Matrix samples(n_samples * count, p), grad(n_samples * count, p), grad_directions(count, p);
  grad.setOnes();
  {
    const Matrix concentrations = Matrix::Constant(count, p, 6.0f);
    Matrix grad_concentrations(count, p);
    pdml::NivmfSampleSaved<float> saved;
    auto step = [&](std::uint64_t offset) {
      pdml::nivmf_sample<float>(pdml::view_of<float>(directions),
                                pdml::view_of<float>(concentrations), n_samples,
                                pdml::RngKey{5, offset}, pdml::view_of<float>(samples), &saved);
      pdml::nivmf_sample_backward<float>(saved, pdml::view_of<float>(grad),
                                         pdml::view_of<float>(grad_directions),
                                         pdml::view_of<float>(grad_concentrations));
    };
    step(0);
    step(1);
    CHECK(allocations_during([&] { step(2); }) == 0);
  }
  {
    const Matrix concentrations = Matrix::Constant(count, 1, 20.0f);
    Matrix grad_concentrations(count, 1);
    pdml::PowerSphericalSampleSaved<float> saved;
    auto step = [&](std::uint64_t offset) {
      pdml::power_spherical_sample<float>(pdml::view_of<float>(directions),
                                          pdml::view_of<float>(concentrations), n_samples,
                                          pdml::RngKey{6, offset}, pdml::view_of<float>(samples),
                                          &saved);
      pdml::power_spherical_sample_backward<float>(saved, pdml::view_of<float>(grad),
                                                   pdml::view_of<float>(grad_directions),
                                                   pdml::view_of<float>(grad_concentrations));
    };
    step(0);
    step(1);
    CHECK(allocations_during([&] { step(2); }) == 0);
  }
}

TEST_CASE("The similarities with a reused Saved allocate nothing after the first step",
          "[similarities][allocation]") {
  const int batch = 12, classes = 5, dim = 16;
  const Matrix embeddings = 6.0f * Matrix::Random(batch, dim);
  const Matrix proxies = Matrix::Random(classes, dim);
  const Matrix scalar_kappas = Matrix::Constant(classes, 1, 8.0f);
  const Matrix kappas = Matrix::Constant(classes, dim, 8.0f);
  Matrix sim(batch, classes), grad_sim = Matrix::Ones(batch, classes);
  Matrix grad_embeddings(batch, dim), grad_proxies(classes, dim), grad_scalar_kappas(classes, 1),
      grad_kappas(classes, dim);
  float grad_temperature = 0;
  auto check = [&](const std::function<void()>& step) {
    step();
    step();
    CHECK(allocations_during(step) == 0);
  };
  const auto e = pdml::view_of<float>(embeddings);
  const auto v = pdml::view_of<float>(proxies);
  {
    pdml::PpkSimilaritySaved<float> saved;
    check([&] {
      pdml::ppk_similarity_forward<float>(e, v, pdml::view_of<float>(scalar_kappas), 1e-3f, 0.1f,
                                          pdml::PpkOrder::expected_likelihood,
                                          pdml::view_of<float>(sim), saved);
      pdml::ppk_similarity_backward<float>(saved, pdml::view_of<float>(grad_sim),
                                           pdml::view_of<float>(grad_embeddings),
                                           pdml::view_of<float>(grad_proxies),
                                           pdml::view_of<float>(grad_scalar_kappas),
                                           &grad_temperature);
    });
  }
  {
    pdml::KlSimilaritySaved<float> saved;
    check([&] {
      pdml::kl_similarity_forward<float>(e, v, pdml::view_of<float>(scalar_kappas), 1e-3f, 0.1f,
                                         pdml::view_of<float>(sim), saved);
      pdml::kl_similarity_backward<float>(saved, pdml::view_of<float>(grad_sim),
                                          pdml::view_of<float>(grad_embeddings),
                                          pdml::view_of<float>(grad_proxies),
                                          pdml::view_of<float>(grad_scalar_kappas),
                                          &grad_temperature);
    });
  }
  {
    pdml::CosineSimilaritySaved<float> saved;
    check([&] {
      pdml::cosine_similarity_forward<float>(e, v, 0.1f, pdml::view_of<float>(sim), saved);
      pdml::cosine_similarity_backward<float>(saved, pdml::view_of<float>(grad_sim),
                                              pdml::view_of<float>(grad_embeddings),
                                              pdml::view_of<float>(grad_proxies),
                                              &grad_temperature);
    });
  }
  {
    pdml::NivmfPointSimilaritySaved<float> saved;
    check([&] {
      pdml::nivmf_point_similarity_forward<float>(e, v, pdml::view_of<float>(kappas), 1e-3f, 0.1f,
                                                  pdml::NivmfScoring::paper_rule,
                                                  pdml::view_of<float>(sim), saved);
      pdml::nivmf_point_similarity_backward<float>(saved, pdml::view_of<float>(grad_sim),
                                                   pdml::view_of<float>(grad_embeddings),
                                                   pdml::view_of<float>(grad_proxies),
                                                   pdml::view_of<float>(grad_kappas),
                                                   &grad_temperature);
    });
  }
}

TEST_CASE("A sharded training step with a reused Saved allocates nothing after the first",
          "[losses][allocation][sharded]") {
  // Shard [3, 13) of 13 classes in blocks of 4: full blocks and a shorter last one.
  const int batch = 16, classes = 13, dim = 32;
  const pdml::ClassShard shard{3, 13, classes};
  Matrix embeddings = 8.0f * Matrix::Random(batch, dim);
  std::vector<std::int64_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % classes;
  const Matrix proxies = Matrix::Random(shard.size(), dim);
  const Matrix kappas = Matrix::Constant(shard.size(), dim, 10.0f);
  Matrix grad_embeddings(batch, dim), grad_proxies(shard.size(), dim),
      grad_kappas(shard.size(), dim);
  float grad_temperature = 0;
  pdml::SingleProcessCommunicator communicator;
  for (const float guidance : {0.0f, 1.0f}) {
    CAPTURE(guidance);
    pdml::ShardedElNivmfLoss<float>::Options options;
    options.criterion.guidance_weight = guidance;
    options.block_classes = 4;
    const pdml::ShardedElNivmfLoss<float> loss(options);
    pdml::ShardedElNivmfLoss<float>::Saved saved;
    auto step = [&](std::uint64_t offset) {
      loss.forward(pdml::view_of<float>(embeddings), labels.data(),
                   pdml::view_of<float>(proxies), pdml::view_of<float>(kappas), 0.1f,
                   pdml::RngKey{7, offset}, shard, communicator, saved);
      loss.backward(saved, 1.0f, pdml::view_of<float>(proxies), pdml::view_of<float>(kappas),
                    pdml::view_of<float>(grad_embeddings), pdml::view_of<float>(grad_proxies),
                    pdml::view_of<float>(grad_kappas), &grad_temperature, communicator);
    };
    step(0);
    step(1);
    CHECK(allocations_during([&] { step(2); }) == 0);
  }
}
