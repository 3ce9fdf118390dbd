// SPDX-License-Identifier: MIT
// pdml's log-space Bessel functions and vMF log-normalizer against Boost.Math
// cyl_bessel_i (double, one thread), measured in the same run on the same
// points: random (p, kappa) with p uniform in [2, 8192] (order v = p/2 - 1 in
// [0, 4095]) and kappa log-uniform in [1e-2, 1e7], restricted to the points
// where Boost returns a finite, non-zero I_v (and I_{v+1} for the ratio);
// Boost runs with a policy that ignores errors instead of throwing.
// Also: pdml over all points; a small-order subset (p in [2, 64], x in
// [1e-2, 700], where Boost is finite and at its fastest); and the batched
// form's throughput against the scalar loop.
//
// Run: scripts/bench bessel

#include <benchmark/benchmark.h>

#include <boost/math/special_functions/bessel.hpp>
#include <cmath>
#include <random>
#include <vector>

#include <pdml/math/log_bessel.hpp>
#include <pdml/math/vmf_normalizer.hpp>
#include <pdml/math/vmf_normalizer_batch.hpp>

namespace {

namespace bmp = boost::math::policies;
using NoThrow = bmp::policy<bmp::domain_error<bmp::ignore_error>, bmp::pole_error<bmp::ignore_error>,
                            bmp::overflow_error<bmp::ignore_error>, bmp::underflow_error<bmp::ignore_error>,
                            bmp::denorm_error<bmp::ignore_error>, bmp::evaluation_error<bmp::ignore_error>,
                            bmp::indeterminate_result_error<bmp::ignore_error>>;

double boost_i(double v, double x) { return boost::math::cyl_bessel_i(v, x, NoThrow()); }

bool usable(double value) { return std::isfinite(value) && value > 0.0; }

struct Points {
  std::vector<int> p;
  std::vector<double> v;
  std::vector<double> x;
};

struct PointSets {
  Points all;           // the whole domain sample
  Points boost_finite;  // Boost's I_v finite and non-zero
  Points ratio_finite;  // Boost's I_v and I_{v+1} finite and non-zero
  Points small;         // p in [2, 64], x log-uniform in [1e-2, 700]: Boost's home ground
};

const PointSets& point_sets() {
  static const PointSets sets = [] {
    PointSets s;
    std::mt19937_64 rng(2022);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const int p = 2 + static_cast<int>(8191 * unit(rng));
      const double v = 0.5 * p - 1.0;
      const double x = std::pow(10.0, -2.0 + 9.0 * unit(rng));
      s.all.p.push_back(p);
      s.all.v.push_back(v);
      s.all.x.push_back(x);
      const double i_v = boost_i(v, x);
      if (usable(i_v)) {
        s.boost_finite.p.push_back(p);
        s.boost_finite.v.push_back(v);
        s.boost_finite.x.push_back(x);
        if (usable(boost_i(v + 1.0, x))) {
          s.ratio_finite.p.push_back(p);
          s.ratio_finite.v.push_back(v);
          s.ratio_finite.x.push_back(x);
        }
      }
    }
    for (int i = 0; i < 4000; ++i) {
      const int p = 2 + static_cast<int>(63 * unit(rng));
      const double x = std::pow(10.0, -2.0 + std::log10(7e4) * unit(rng));
      if (!usable(boost_i(0.5 * p - 1.0, x)) || !usable(boost_i(0.5 * p, x))) continue;
      s.small.p.push_back(p);
      s.small.v.push_back(0.5 * p - 1.0);
      s.small.x.push_back(x);
    }
    return s;
  }();
  return sets;
}

template <class F>
void run(benchmark::State& state, const Points& points, F f) {
  const std::size_t n = points.x.size();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f(points, i));
    i = i + 1 == n ? 0 : i + 1;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["points"] = static_cast<double>(n);
  state.counters["ns_per_eval"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

double pdml_log_i(const Points& s, std::size_t i) { return pdml::log_bessel_i(s.v[i], s.x[i]); }
double boost_log_i(const Points& s, std::size_t i) { return std::log(boost_i(s.v[i], s.x[i])); }

double pdml_log_c(const Points& s, std::size_t i) { return pdml::vmf_log_normalizer(s.p[i], s.x[i]); }
double boost_log_c(const Points& s, std::size_t i) {
  const double half_p = 0.5 * s.p[i];
  return (half_p - 1.0) * std::log(s.x[i]) - half_p * std::log(2.0 * 3.14159265358979323846) -
         std::log(boost_i(half_p - 1.0, s.x[i]));
}

double pdml_ratio(const Points& s, std::size_t i) { return pdml::bessel_i_ratio(s.v[i], s.x[i]); }
double boost_ratio(const Points& s, std::size_t i) {
  return boost_i(s.v[i] + 1.0, s.x[i]) / boost_i(s.v[i], s.x[i]);
}

void BM_log_bessel_i_pdml(benchmark::State& state) { run(state, point_sets().boost_finite, pdml_log_i); }
void BM_log_bessel_i_boost(benchmark::State& state) { run(state, point_sets().boost_finite, boost_log_i); }
void BM_log_bessel_i_pdml_whole_domain(benchmark::State& state) { run(state, point_sets().all, pdml_log_i); }
void BM_vmf_log_normalizer_pdml(benchmark::State& state) { run(state, point_sets().boost_finite, pdml_log_c); }
void BM_vmf_log_normalizer_boost(benchmark::State& state) { run(state, point_sets().boost_finite, boost_log_c); }
void BM_bessel_i_ratio_pdml(benchmark::State& state) { run(state, point_sets().ratio_finite, pdml_ratio); }
void BM_bessel_i_ratio_boost(benchmark::State& state) { run(state, point_sets().ratio_finite, boost_ratio); }
void BM_bessel_i_ratio_pdml_whole_domain(benchmark::State& state) { run(state, point_sets().all, pdml_ratio); }
void BM_small_orders_log_bessel_i_pdml(benchmark::State& state) { run(state, point_sets().small, pdml_log_i); }
void BM_small_orders_log_bessel_i_boost(benchmark::State& state) { run(state, point_sets().small, boost_log_i); }
void BM_small_orders_ratio_pdml(benchmark::State& state) { run(state, point_sets().small, pdml_ratio); }
void BM_small_orders_ratio_boost(benchmark::State& state) { run(state, point_sets().small, boost_ratio); }

/// Batched log C_p and A_p for one p over 4096 concentrations (log-uniform
/// in [1e-2, 1e7]); the scalar loop over the same array is the peer.
std::vector<double> batch_kappas() {
  std::mt19937_64 rng(2023);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<double> kappa(4096);
  for (double& k : kappa) k = std::pow(10.0, -2.0 + 9.0 * unit(rng));
  return kappa;
}

void BM_vmf_batch(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const std::vector<double> kappa = batch_kappas();
  std::vector<double> log_c(kappa.size()), mean(kappa.size());
  for (auto _ : state) {
    pdml::vmf_log_normalizer_batch(p, kappa.data(), static_cast<pdml::Index>(kappa.size()), log_c.data(),
                                   mean.data());
    benchmark::DoNotOptimize(log_c.data());
    benchmark::DoNotOptimize(mean.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kappa.size()));
}

void BM_vmf_scalar_loop(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const std::vector<double> kappa = batch_kappas();
  std::vector<double> log_c(kappa.size()), mean(kappa.size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < kappa.size(); ++i) {
      log_c[i] = pdml::vmf_log_normalizer(p, kappa[i]);
      mean[i] = pdml::vmf_mean_resultant(p, kappa[i]);
    }
    benchmark::DoNotOptimize(log_c.data());
    benchmark::DoNotOptimize(mean.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kappa.size()));
}

}  // namespace

BENCHMARK(BM_log_bessel_i_pdml);
BENCHMARK(BM_log_bessel_i_boost);
BENCHMARK(BM_log_bessel_i_pdml_whole_domain);
BENCHMARK(BM_vmf_log_normalizer_pdml);
BENCHMARK(BM_vmf_log_normalizer_boost);
BENCHMARK(BM_bessel_i_ratio_pdml);
BENCHMARK(BM_bessel_i_ratio_boost);
BENCHMARK(BM_bessel_i_ratio_pdml_whole_domain);
BENCHMARK(BM_small_orders_log_bessel_i_pdml);
BENCHMARK(BM_small_orders_log_bessel_i_boost);
BENCHMARK(BM_small_orders_ratio_pdml);
BENCHMARK(BM_small_orders_ratio_boost);
BENCHMARK(BM_vmf_batch)->Arg(3)->Arg(128)->Arg(512)->Arg(4096);
BENCHMARK(BM_vmf_scalar_loop)->Arg(3)->Arg(128)->Arg(512)->Arg(4096);

BENCHMARK_MAIN();
