// SPDX-License-Identifier: MIT
// The CUDA criterion's draw (pdml::cuda::detail::VmfSampleRows, one sample per row)
// sums dw/dkappa's quadrature nodes across the row's lanes (vmf_dw_dkappa_across, over
// pdml::VmfDwDkappaPlan). Here on the host's one-lane group, whose reduction tree is the
// device's (tests/host/test_groups_host.cpp): against an independent long double
// tanh-sinh evaluation of the same tail integral (tests/support), against the CPU's
// panel-order sum to a few ulp, and the draw launch against pdml::vmf_sample, on the one
// lane and on 32 threads that follow the device's lane schedule (which catches a missing
// sync; built with -fsanitize=thread it reports the race, see docs/cuda.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <pdml/cuda/distributions/detail/vmf_sample_functors.hpp>
#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/math/vmf_normalizer.hpp>

#include "host_test_support.hpp"
#include "vmf_marginal_reference.hpp"

namespace {

using pdml::Index;
using pdml::cuda::parallel::SerialGroup;

/// |a - b| in units of b's ulp.
double ulps(double a, double b) {
  const double ulp = std::nextafter(std::abs(b), std::numeric_limits<double>::infinity()) -
                     std::abs(b);
  return std::abs(a - b) / ulp;
}

}  // namespace

TEST_CASE("dw/dkappa with the nodes across lanes: tail integral reference and the CPU's sum",
          "[thrust-host]") {
  // The grid of the CPU's own check (tests/distributions/test_vmf_sampler.cpp), plus
  // points -8 and +8 standard deviations out; even p just below the mean exercises the
  // graded panels.
  double worst_reference = 0, worst_ulps = 0;
  int graded = 0, evaluated = 0;
  for (int p : {2, 3, 4, 5, 16, 128, 512, 4096}) {
    for (double kappa : {0.1, 1.0, 12.0, 100.0, 1e4, 1e6}) {
      const double one_minus_mean = pdml::vmf_mean_resultant_complement(p, kappa);
      const double sd = std::sqrt(pdml::vmf_mean_resultant_derivative(p, kappa));
      for (double z : {-8.0, -3.0, -0.1, 0.1, 3.0, 8.0}) {
        const double y = one_minus_mean + z * sd;
        if (!(y > 0.0 && y < 2.0)) continue;
        CAPTURE(p, kappa, z, y);
        const double across = pdml::cuda::detail::vmf_dw_dkappa_across(
            SerialGroup{}, p, kappa, y, 2 - y, one_minus_mean);
        const double cpu =
            pdml::vmf_marginal_dw_dkappa(p, kappa, y, 2 - y, one_minus_mean);
        const double reference = static_cast<double>(
            pdml_test::vmf_dw_dkappa_integral_reference<long double>(p, kappa, y));
        // The CPU's stated accuracy is 2.3e-14 at p = 4096 against 50 digits; the long
        // double reference itself is good to ~1e-15 here.
        CHECK(std::abs(across - reference) <= 1e-12 * std::abs(reference));
        // Same nodes, same terms, another summation order: a few ulp.
        CHECK(ulps(across, cpu) <= 8.0);
        worst_reference =
            std::max(worst_reference, std::abs(across - reference) / std::abs(reference));
        worst_ulps = std::max(worst_ulps, ulps(across, cpu));
        const pdml::VmfDwDkappaPlan plan =
            pdml::vmf_dw_dkappa_plan(p, kappa, y, 2 - y, one_minus_mean);
        graded += plan.graded_panels > 0 ? 1 : 0;
        ++evaluated;
      }
    }
  }
  CHECK(graded > 0);  // the graded panels were part of it
  WARN("dw/dkappa across lanes, " << evaluated << " points (" << graded
                                  << " with graded panels): worst relative difference to "
                                     "the tail-integral reference "
                                  << worst_reference << ", worst distance to the CPU "
                                  << worst_ulps << " ulp");
}

TEST_CASE("dw/dkappa with the nodes across lanes: the plan's short cuts", "[thrust-host]") {
  // w at the tail's end (m = 0): 0, as on the CPU.
  CHECK(pdml::cuda::detail::vmf_dw_dkappa_across(SerialGroup{}, 16, 5.0, 0.0, 2.0, 0.5) == 0.0);
  // kappa beyond 2^1000: the Gamma limit (1 - w) / kappa, no quadrature.
  const double huge = 0x1p+1001;
  const pdml::VmfDwDkappaPlan plan = pdml::vmf_dw_dkappa_plan(8, huge, 1e-300, 2.0, 1e-300);
  CHECK_FALSE(plan.quadrature);
  CHECK(pdml::cuda::detail::vmf_dw_dkappa_across(SerialGroup{}, 8, huge, 1e-300, 2.0, 1e-300) ==
        pdml::vmf_marginal_dw_dkappa(8, huge, 1e-300, 2.0, 1e-300, 2.0));
}

namespace {

/// W lanes as W host threads, with the device's schedule (parallel/group_cuda.cuh):
/// for_each hands lane l the indices l, l + W, ...; reduce<K> folds each lane's logical
/// lanes in registers, then across lanes in halves (partner lane ^ half) and returns
/// lane 0's value; sync() is a barrier. A routine that reads another lane's writes
/// without a sync, or whose lanes disagree on a branch around a reduce, fails or hangs
/// here, which the one-lane SerialGroup cannot show.
template <int W>
struct ThreadedLanes {
  std::mutex mutex;
  std::condition_variable wake;
  int arrived = 0;
  std::uint64_t generation = 0;
  alignas(64) unsigned char slots[W][64];

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    const std::uint64_t mine = generation;
    if (++arrived == W) {
      arrived = 0;
      ++generation;
      wake.notify_all();
    } else {
      wake.wait(lock, [&] { return generation != mine; });
    }
  }
};

template <int W>
struct ThreadLaneGroup {
  static constexpr int lanes = W;
  ThreadedLanes<W>* shared;
  int lane_;

  int lane() const { return lane_; }
  void sync() const { shared->barrier(); }

  template <class F>
  void for_each(Index n, F f) const {
    for (Index j = lane_; j < n; j += W) f(j);
  }

  template <int K, class T, class Value, class Op>
  T reduce(Index n, T init, Value value, Op op) const {
    static_assert(K % W == 0 && sizeof(T) <= 64, "lanes divide K; T fits a slot");
    constexpr int kPer = K / W;
    T acc[kPer];
    for (int q = 0; q < kPer; ++q) acc[q] = init;
    for (Index base = 0; base < n; base += K) {
      for (int q = 0; q < kPer; ++q) {
        const Index j = base + lane_ + static_cast<Index>(q) * W;
        if (j < n) acc[q] = op(acc[q], value(j));
      }
    }
    for (int half_q = kPer / 2; half_q >= 1; half_q /= 2) {
      for (int q = 0; q < half_q; ++q) acc[q] = op(acc[q], acc[q + half_q]);
    }
    T v = acc[0];
    for (int half = W / 2; half >= 1; half /= 2) {
      std::memcpy(shared->slots[lane_], &v, sizeof(T));
      shared->barrier();
      T other;
      std::memcpy(&other, shared->slots[lane_ ^ half], sizeof(T));
      shared->barrier();
      v = op(v, other);
    }
    std::memcpy(shared->slots[lane_], &v, sizeof(T));
    shared->barrier();
    std::memcpy(&v, shared->slots[0], sizeof(T));
    shared->barrier();
    return v;
  }
};

/// Runs f(group, row) for every row with W threads per row.
template <int W, class F>
void run_rows_on_threads(Index rows, const F& f) {
  for (Index row = 0; row < rows; ++row) {
    ThreadedLanes<W> shared;
    std::vector<std::thread> lanes;
    for (int l = 0; l < W; ++l) {
      lanes.emplace_back([&, l] { f(ThreadLaneGroup<W>{&shared, l}, row); });
    }
    for (auto& lane : lanes) lane.join();
  }
}

/// The criterion's draw launch (one sample per row, VmfSampleRows) on the host backend:
/// samples and tangents bitwise those of pdml::vmf_sample, dw/dkappa within a few ulp of
/// the CPU's for the same draw, 0 where the host takes the kappa = 0 estimator.
/// p = 3: the second projection (g nearly parallel to mu) is frequent; p below 16: the
/// dot products are their tail alone; 37 and 128: accumulators across lanes (+ a tail).
template <class T>
void check_draw_rows(Index p) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  CAPTURE(p);
  const Index n = 5;
  const int s = 8;
  const Index rows = n * s;
  std::vector<T> eta(static_cast<std::size_t>(n * p));
  {
    std::mt19937_64 gen(2024u);
    std::normal_distribution<double> normal;
    for (auto& e : eta) e = static_cast<T>(3.0 * normal(gen));
  }
  // A zero row: the kappa = 0 estimator, no dw/dkappa.
  std::fill(eta.begin() + 2 * p, eta.begin() + 3 * p, T(0));
  const pdml::RngKey rng{777u, 3u};
  const ConstMatrixView<T> ev{eta.data(), n, p, p};

  std::vector<T> cpu_samples(static_cast<std::size_t>(rows * p));
  pdml::VmfSampleSaved<T> cpu;
  pdml::vmf_sample(ev, s, rng, MatrixView<T>{cpu_samples.data(), rows, p, p}, &cpu);

  pdml::cuda::detail::VmfSampleBuffers<T> b;
  const auto workspace = pdml_test::carve_host_workspace([&](pdml::cuda::WorkspaceCarver& c) {
    b = pdml::cuda::detail::carve_vmf_sample_buffers<T>(c, s, n, p, true);
  });
  const pdml::cuda::detail::HostBackend be;
  REQUIRE(pdml::cuda::detail::for_each_index(
              be, n,
              pdml::cuda::detail::VmfSplitEta<T>{ev, b.directions, b.kappas, b.marginal_params,
                                                 nullptr, b.one_minus_mean}) ==
          cudaSuccess);
  std::vector<T> samples(cpu_samples.size());
  const MatrixView<T> drawn{samples.data(), rows, p, p};
  REQUIRE(pdml::cuda::detail::for_each_row<pdml::cuda::parallel::kRowLanes>(
              be, rows,
              pdml::cuda::detail::VmfSampleRows<T>{pdml::cuda::detail::VmfSampleRow<T>{
                  n, static_cast<int>(p), rng, b.directions, b.kappas, b.marginal_params, drawn,
                  b.tangents, b.draws},
              b.dw_dkappa, b.one_minus_mean}) ==
          cudaSuccess);
  CHECK(samples == cpu_samples);
  CHECK(std::equal(b.tangents, b.tangents + rows * p, cpu.tangents.begin()));

  // The same routine on 32 threaded lanes (the device's LaneGroup<32> schedule): the
  // same bits as on the host's one lane, dw/dkappa included.
  {
    std::vector<double> serial_dw(b.dw_dkappa, b.dw_dkappa + rows);
    std::vector<T> lane_samples(samples.size(), T(-1));
    const auto saved_tangents = std::vector<T>(b.tangents, b.tangents + rows * p);
    std::fill(b.tangents, b.tangents + rows * p, T(-1));
    std::fill(b.dw_dkappa, b.dw_dkappa + rows, -1.0);
    const pdml::cuda::detail::VmfSampleRows<T> lanes_routine{pdml::cuda::detail::VmfSampleRow<T>{
        n, static_cast<int>(p), rng, b.directions, b.kappas, b.marginal_params,
        MatrixView<T>{lane_samples.data(), rows, p, p}, b.tangents, b.draws},
        b.dw_dkappa, b.one_minus_mean};
    run_rows_on_threads<pdml::cuda::parallel::kRowLanes>(rows, lanes_routine);
    CHECK(lane_samples == samples);
    CHECK(std::equal(b.tangents, b.tangents + rows * p, saved_tangents.begin()));
    CHECK(std::equal(b.dw_dkappa, b.dw_dkappa + rows, serial_dw.begin()));
  }
  // The second projection ran where |mu^T g| > |g| / 2, i.e. |projection ratio| >
  // 1 / sqrt(3): make sure p = 3 took it.
  int twice = 0;
  for (const auto& draw : cpu.draws) twice += std::abs(draw.projection_ratio) > T(0.6) ? 1 : 0;
  if (p == 3) CHECK(twice > 0);
  for (Index i = 0; i < rows; ++i) {
    const Index d = i % n;
    const auto& draw = cpu.draws[static_cast<std::size_t>(i)];
    CAPTURE(i, d);
    REQUIRE(draw.ok);
    CHECK(b.draws[i].w == draw.w);
    CHECK(b.draws[i].projection_ratio == draw.projection_ratio);
    CHECK(b.draws[i].attempts == draw.attempts);
    const double kappa = static_cast<double>(cpu.kappas[static_cast<std::size_t>(d)]);
    if (!(cpu.kappas[static_cast<std::size_t>(d)] > pdml::vmf_uniform_kappa<T>())) {
      CHECK(b.dw_dkappa[i] == 0.0);
      continue;
    }
    const double expected = pdml::vmf_marginal_dw_dkappa(
        static_cast<int>(p), kappa, draw.one_minus_w, draw.one_plus_w,
        pdml::vmf_mean_resultant_complement(static_cast<int>(p), kappa));
    CHECK(ulps(b.dw_dkappa[i], expected) <= 8.0);
  }
}

}  // namespace

TEST_CASE("the criterion's draw, one sample per row, equals pdml::vmf_sample", "[thrust-host]") {
  for (const Index p : {3, 6, 37, 128}) {
    check_draw_rows<double>(p);
    check_draw_rows<float>(p);
  }
}
