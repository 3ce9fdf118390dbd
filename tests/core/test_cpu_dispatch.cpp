// SPDX-License-Identifier: MIT
// Run-time instruction-set dispatch (core/cpu_dispatch.hpp): every level the
// CPU supports is forced in turn and compared with the baseline level.
//  - random draws are bitwise identical: normals from fill_normals, and in
//    vmf_sample the marginal w (with its complements) and the number of Wood
//    proposals (the accept decisions);
//  - floating sums agree within stated bounds: sample coordinates (dot
//    products and norms accumulated with or without FMA contraction) within
//    64 eps, gradients through the sampler (dw/dkappa by the vectorised or the
//    libm quadrature) within 1e-9 (double) / 1e-4 (float) of the largest
//    entry, the batched log-normalizer and mean resultant within 16 eps
//    relative, EL-nivMF similarities and weights within 16 eps (relative to
//    max(1, |value|)).
// Levels the CPU lacks are skipped with a message (CI machines without
// AVX-512 still run the others); without dispatch compiled in (non-x86, or
// AVX-512 flags) the test says so and checks only that the level is baseline.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <pdml/core/cpu_dispatch.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/math/vmf_normalizer_batch.hpp>
#include <pdml/random/random_stream.hpp>
#include <pdml/similarities/el_nivmf.hpp>

namespace {

using pdml::detail::CpuLevel;

const CpuLevel kLevels[] = {CpuLevel::baseline, CpuLevel::avx2, CpuLevel::avx512};

// Restores the process's level at scope exit.
struct LevelGuard {
  CpuLevel saved = pdml::detail::cpu_level();
  ~LevelGuard() { pdml::detail::set_cpu_level(saved); }
};

// Runs `compute` at the baseline level, then at every other supported level,
// and hands (baseline result, level result) to `compare`.
template <class Compute, class Compare>
void for_each_level(Compute compute, Compare compare) {
  LevelGuard guard;
  REQUIRE(pdml::detail::set_cpu_level(CpuLevel::baseline));
  const auto reference = compute();
  for (const CpuLevel level : kLevels) {
    if (level == CpuLevel::baseline) continue;
    if (!pdml::detail::set_cpu_level(level)) {
      WARN("skipped: this CPU does not support dispatch level "
           << pdml::detail::cpu_level_name(level));
      continue;
    }
    INFO("dispatch level " << pdml::detail::cpu_level_name(level));
    compare(reference, compute());
  }
}

template <class T>
T max_abs(const std::vector<T>& v) {
  T m = T(0);
  for (const T x : v) m = std::max(m, std::abs(x));
  return m;
}

template <class T>
std::vector<T> normals(int count, std::uint64_t stream_index) {
  pdml::RandomStream stream(pdml::RngKey{2024, 7}, stream_index);
  std::vector<T> out(static_cast<std::size_t>(count) + 1, T(-99));
  pdml::fill_normals<T>(stream, out.data(), count);
  // What the stream draws next shows that every level consumed the same blocks.
  out.back() = pdml::uniform<T>(stream);
  return out;
}

template <class T>
struct SamplerRun {
  std::vector<T> samples;
  std::vector<double> w, one_minus_w, one_plus_w;
  std::vector<int> attempts;
  std::vector<T> grad_eta;
};

template <class T>
SamplerRun<T> run_sampler(int p, const std::vector<double>& kappas, int n_samples) {
  const int n = static_cast<int>(kappas.size());
  std::vector<T> eta(static_cast<std::size_t>(n * p));
  for (int i = 0; i < n; ++i) {
    double norm = 0;
    for (int j = 0; j < p; ++j) norm += std::pow(std::sin(0.3 + i + 1.7 * j), 2);
    for (int j = 0; j < p; ++j) {
      eta[static_cast<std::size_t>(i * p + j)] =
          static_cast<T>(kappas[static_cast<std::size_t>(i)] * std::sin(0.3 + i + 1.7 * j) /
                         std::sqrt(norm));
    }
  }
  const pdml::Index rows = static_cast<pdml::Index>(n_samples) * n;
  SamplerRun<T> run;
  run.samples.assign(static_cast<std::size_t>(rows * p), T(0));
  pdml::VmfSampleSaved<T> saved;
  pdml::vmf_sample<T>(pdml::ConstMatrixView<T>{eta.data(), n, p, p}, n_samples,
                      pdml::RngKey{99, 3}, pdml::MatrixView<T>{run.samples.data(), rows, p, p},
                      &saved);
  for (const auto& d : saved.draws) {
    run.w.push_back(d.w);
    run.one_minus_w.push_back(d.one_minus_w);
    run.one_plus_w.push_back(d.one_plus_w);
    run.attempts.push_back(d.attempts);
  }
  std::vector<T> grad(run.samples.size());
  for (std::size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<T>(std::cos(0.1 * i));
  run.grad_eta.assign(eta.size(), T(0));
  pdml::vmf_sample_backward(saved, pdml::ConstMatrixView<T>{grad.data(), rows, p, p},
                            pdml::MatrixView<T>{run.grad_eta.data(), n, p, p});
  return run;
}

}  // namespace

TEST_CASE("cpu dispatch: the level in use is supported and can be lowered", "[cpu_dispatch]") {
  LevelGuard guard;
  const CpuLevel supported = pdml::detail::cpu_level_supported();
  CHECK(static_cast<int>(pdml::detail::cpu_level()) <= static_cast<int>(supported));
#if PDML_HAS_CPU_DISPATCH
  WARN("dispatch compiled in; this CPU supports up to "
       << pdml::detail::cpu_level_name(supported));
  CHECK(pdml::detail::set_cpu_level(CpuLevel::baseline));
  CHECK(pdml::detail::cpu_level() == CpuLevel::baseline);
  if (supported != CpuLevel::avx512) CHECK_FALSE(pdml::detail::set_cpu_level(CpuLevel::avx512));
#else
  WARN("skipped: no run-time dispatch in this build (non-x86 host or AVX-512 flags)");
  CHECK(pdml::detail::cpu_level() == CpuLevel::baseline);
  CHECK_FALSE(pdml::detail::set_cpu_level(CpuLevel::avx2));
#endif
}

TEMPLATE_TEST_CASE("cpu dispatch: fill_normals draws the same bits at every level",
                   "[cpu_dispatch]", float, double) {
  for (const int count : {1, 3, 4, 5, 17, 64, 127, 128, 513, 4096}) {
    INFO("count " << count);
    for_each_level([&] { return normals<TestType>(count, static_cast<std::uint64_t>(count)); },
                   [](const std::vector<TestType>& a, const std::vector<TestType>& b) {
                     CHECK(a == b);
                   });
  }
}

TEMPLATE_TEST_CASE("cpu dispatch: vmf_sample draws the same marginals and accept decisions",
                   "[cpu_dispatch]", float, double) {
  using T = TestType;
  const std::vector<double> kappas = {0.0, 0.5, 12.0, 100.0, 1e4};
  for (const int p : {3, 16, 128, 515}) {
    INFO("p " << p);
    for_each_level([&] { return run_sampler<T>(p, kappas, 6); },
                   [&](const SamplerRun<T>& a, const SamplerRun<T>& b) {
                     CHECK(a.attempts == b.attempts);
                     CHECK(a.w == b.w);
                     CHECK(a.one_minus_w == b.one_minus_w);
                     CHECK(a.one_plus_w == b.one_plus_w);
                     double worst = 0;
                     for (std::size_t i = 0; i < a.samples.size(); ++i) {
                       worst = std::max(worst, std::abs(static_cast<double>(a.samples[i]) -
                                                        static_cast<double>(b.samples[i])));
                     }
                     CHECK(worst <= 64 * static_cast<double>(std::numeric_limits<T>::epsilon()));
                     double grad_worst = 0;
                     for (std::size_t i = 0; i < a.grad_eta.size(); ++i) {
                       grad_worst =
                           std::max(grad_worst, std::abs(static_cast<double>(a.grad_eta[i]) -
                                                         static_cast<double>(b.grad_eta[i])));
                     }
                     const double bound = (sizeof(T) == 4 ? 1e-4 : 1e-9) *
                                          std::max(1.0, static_cast<double>(max_abs(a.grad_eta)));
                     CHECK(grad_worst <= bound);
                   });
  }
}

TEMPLATE_TEST_CASE("cpu dispatch: batched log-normalizer agrees at every level",
                   "[cpu_dispatch]", float, double) {
  using T = TestType;
  std::vector<T> kappa;
  for (int i = 0; i < 203; ++i) kappa.push_back(static_cast<T>(std::pow(10.0, -2.0 + 0.04 * i)));
  for (const int p : {2, 3, 16, 50, 128, 512, 4096}) {
    INFO("p " << p);
    for_each_level(
        [&] {
          std::vector<T> out(2 * kappa.size());
          pdml::vmf_log_normalizer_batch(p, kappa.data(), static_cast<pdml::Index>(kappa.size()),
                                         out.data(), out.data() + kappa.size());
          return out;
        },
        [](const std::vector<T>& a, const std::vector<T>& b) {
          for (std::size_t i = 0; i < a.size(); ++i) {
            INFO("entry " << i << ": " << a[i] << " vs " << b[i]);
            CHECK(std::abs(a[i] - b[i]) <= 16 * std::numeric_limits<T>::epsilon() * std::abs(a[i]));
          }
        });
  }
}

TEMPLATE_TEST_CASE("cpu dispatch: EL-nivMF similarity softmax agrees at every level",
                   "[cpu_dispatch]", float, double) {
  using T = TestType;
  const int b = 5, c = 37, d = 24, s = 4;
  std::vector<T> samples(static_cast<std::size_t>(s * b * d)), proxies(c * d), kappas(c * d);
  for (std::size_t i = 0; i < samples.size(); ++i) samples[i] = static_cast<T>(std::sin(0.7 * i));
  for (std::size_t i = 0; i < proxies.size(); ++i) {
    proxies[i] = static_cast<T>(std::cos(0.3 * i));
    kappas[i] = static_cast<T>(1.0 + std::abs(std::sin(1.1 * i)) * 20.0);
  }
  struct Out {
    std::vector<T> sim, weights, mean;
  };
  for_each_level(
      [&] {
        Out out;
        out.sim.assign(static_cast<std::size_t>(b * c), T(0));
        pdml::ElNivmfSimilaritySaved<T> saved;
        pdml::el_nivmf_similarity_forward<T>(
            pdml::ConstMatrixView<T>{samples.data(), s * b, d, d}, s,
            pdml::ConstMatrixView<T>{proxies.data(), c, d, d},
            pdml::ConstMatrixView<T>{kappas.data(), c, d, d}, T(0.1), T(0.05),
            pdml::NivmfScoring::paper_rule, pdml::MatrixView<T>{out.sim.data(), b, c, c}, saved);
        out.weights.assign(saved.weights.data(), saved.weights.data() + saved.weights.size());
        out.mean.assign(saved.mean_scaled.data(),
                        saved.mean_scaled.data() + saved.mean_scaled.size());
        return out;
      },
      [](const Out& a, const Out& bb) {
        const T eps = std::numeric_limits<T>::epsilon();
        auto close = [eps](const std::vector<T>& x, const std::vector<T>& y) {
          REQUIRE(x.size() == y.size());
          for (std::size_t i = 0; i < x.size(); ++i) {
            INFO("entry " << i << ": " << x[i] << " vs " << y[i]);
            CHECK(std::abs(x[i] - y[i]) <= 16 * eps * std::max(T(1), std::abs(x[i])));
          }
        };
        close(a.sim, bb.sim);
        close(a.weights, bb.weights);
        close(a.mean, bb.mean);
      });
}
