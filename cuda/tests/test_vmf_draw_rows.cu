// SPDX-License-Identifier: MIT
// The criterion's draw on the GPU, a warp per sample (pdml::cuda::detail::VmfSampleRows
// through CudaBackend's LaneGroup<32> rows): dw/dkappa with its quadrature nodes across
// the lanes against the device's own one-lane sum (same elementary functions, another
// order: a few ulp) and against the host's (the device's libm: 1e-13 relative), and the
// drawn samples against pdml::vmf_sample for the same key (docs/cuda.md, last-bit
// differences: 1e-12 relative in double, 1e-5 in float).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <pdml/cuda/distributions/detail/vmf_sample_functors.hpp>
#include <pdml/cuda/parallel/backend_cuda.hpp>
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/math/vmf_normalizer.hpp>

#include "device_test_support.hpp"

// A named namespace: nvcc cannot instantiate kernels on types of an anonymous one.
namespace pdml_test_vmf_draw_rows {

using pdml::Index;

struct DwPoint {
  int p;
  double kappa;
  double one_minus_w;
  double one_minus_mean;
};

/// Row r: out[2 r] from the nodes across the group, out[2 r + 1] from one lane's
/// panel-order sum (pdml::vmf_marginal_dw_dkappa through its device call).
struct DwRows {
  const DwPoint* points;
  double* out;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    const DwPoint q = points[r];
    const double across = pdml::cuda::detail::vmf_dw_dkappa_across(
        g, q.p, q.kappa, q.one_minus_w, 2.0 - q.one_minus_w, q.one_minus_mean);
    if (g.lane() == 0) {
      out[2 * r] = across;
      out[2 * r + 1] = pdml::cuda::detail::vmf_dw_dkappa(
          q.p, q.kappa, q.one_minus_w, 2.0 - q.one_minus_w, q.one_minus_mean);
    }
  }
};

double ulps(double a, double b) {
  const double ulp =
      std::nextafter(std::abs(b), std::numeric_limits<double>::infinity()) - std::abs(b);
  return std::abs(a - b) / ulp;
}

TEST_CASE("dw/dkappa across a warp's lanes", "[cuda]") {
  std::vector<DwPoint> points;
  for (int p : {2, 3, 4, 5, 16, 128, 512, 4096}) {
    for (double kappa : {0.1, 1.0, 12.0, 100.0, 1e4, 1e6}) {
      const double one_minus_mean = pdml::vmf_mean_resultant_complement(p, kappa);
      const double sd = std::sqrt(pdml::vmf_mean_resultant_derivative(p, kappa));
      for (double z : {-8.0, -3.0, -0.1, 0.1, 3.0, 8.0}) {
        const double y = one_minus_mean + z * sd;
        if (y > 0.0 && y < 2.0) points.push_back(DwPoint{p, kappa, y, one_minus_mean});
      }
    }
  }
  const Index rows = static_cast<Index>(points.size());
  pdml_test::CudaStream stream;
  const pdml::cuda::detail::CudaBackend be{stream, nullptr};
  const pdml_test::DeviceBuffer<DwPoint> device_points(points);
  pdml_test::DeviceBuffer<double> out(2 * points.size());
  REQUIRE(be.launch_rows<32>(rows, DwRows{device_points.get(), out.get()}) == cudaSuccess);
  const std::vector<double> device = out.download();
  double worst_order = 0, worst_host = 0;
  for (Index r = 0; r < rows; ++r) {
    const DwPoint& q = points[static_cast<std::size_t>(r)];
    const double across = device[static_cast<std::size_t>(2 * r)];
    const double one_lane = device[static_cast<std::size_t>(2 * r + 1)];
    const double host = pdml::vmf_marginal_dw_dkappa(q.p, q.kappa, q.one_minus_w,
                                                     2.0 - q.one_minus_w, q.one_minus_mean);
    CAPTURE(q.p, q.kappa, q.one_minus_w);
    CHECK(ulps(across, one_lane) <= 8.0);
    CHECK(std::abs(across - host) <= 1e-13 * std::abs(host));
    worst_order = std::max(worst_order, ulps(across, one_lane));
    worst_host = std::max(worst_host, std::abs(across - host) / std::abs(host));
  }
  WARN("dw/dkappa across 32 lanes vs one lane on the device: worst " << worst_order
                                                                     << " ulp; vs the host: "
                                                                     << worst_host);
}

template <class T>
void check_draw(Index p) {
  CAPTURE(p);
  const Index n = 7;
  const int s = 5;
  const Index rows = n * s;
  std::vector<T> eta(static_cast<std::size_t>(n * p));
  std::mt19937_64 gen(99u);
  std::normal_distribution<double> normal;
  for (auto& e : eta) e = static_cast<T>(2.0 * normal(gen));
  const pdml::RngKey rng{5150u, 1u};
  std::vector<T> cpu_samples(static_cast<std::size_t>(rows * p));
  pdml::VmfSampleSaved<T> cpu;
  pdml::vmf_sample(pdml::ConstMatrixView<T>{eta.data(), n, p, p}, s, rng,
                   pdml::MatrixView<T>{cpu_samples.data(), rows, p, p}, &cpu);

  const pdml_test::DeviceBuffer<T> device_eta(eta);
  pdml_test::DeviceBuffer<T> device_samples(cpu_samples.size());
  pdml::cuda::WorkspaceCarver planner(nullptr);
  pdml::cuda::detail::carve_vmf_sample_buffers<T>(planner, s, n, p, true);
  pdml_test::DeviceBuffer<unsigned char> workspace(planner.bytes());
  pdml::cuda::WorkspaceCarver carver(workspace.get());
  const auto b = pdml::cuda::detail::carve_vmf_sample_buffers<T>(carver, s, n, p, true);
  pdml_test::CudaStream stream;
  const pdml::cuda::detail::CudaBackend be{stream, nullptr};
  const pdml::ConstMatrixView<T> ev{device_eta.get(), n, p, p};
  REQUIRE(pdml::cuda::detail::for_each_index(
              be, n,
              pdml::cuda::detail::VmfSplitEta<T>{ev, b.directions, b.kappas, b.marginal_params,
                                                 nullptr, b.one_minus_mean}) ==
          cudaSuccess);
  REQUIRE(be.launch_rows<32>(
              rows, pdml::cuda::detail::VmfSampleRows<T>{pdml::cuda::detail::VmfSampleRow<T>{
                        n, static_cast<int>(p), rng, b.directions, b.kappas, b.marginal_params,
                        pdml::MatrixView<T>{device_samples.get(), rows, p, p}, b.tangents,
                        b.draws},
                    b.dw_dkappa, b.one_minus_mean}) ==
          cudaSuccess);
  const std::vector<T> samples = device_samples.download();
  std::vector<double> dw(static_cast<std::size_t>(rows));
  REQUIRE(cudaMemcpy(dw.data(), b.dw_dkappa, dw.size() * sizeof(double),
                     cudaMemcpyDeviceToHost) == cudaSuccess);
  const double tol = pdml_test::tolerance<T>();
  for (std::size_t k = 0; k < samples.size(); ++k) {
    CHECK(std::abs(static_cast<double>(samples[k]) - static_cast<double>(cpu_samples[k])) <=
          tol * std::max(1.0, std::abs(static_cast<double>(cpu_samples[k]))));
  }
  for (Index i = 0; i < rows; ++i) {
    const auto& draw = cpu.draws[static_cast<std::size_t>(i)];
    const double kappa = static_cast<double>(cpu.kappas[static_cast<std::size_t>(i % n)]);
    const double expected = pdml::vmf_marginal_dw_dkappa(
        static_cast<int>(p), kappa, draw.one_minus_w, draw.one_plus_w,
        pdml::vmf_mean_resultant_complement(static_cast<int>(p), kappa));
    CAPTURE(i);
    CHECK(std::abs(dw[static_cast<std::size_t>(i)] - expected) <= tol * std::abs(expected));
  }
}

TEST_CASE("the criterion's draw, a warp per sample, agrees with pdml::vmf_sample", "[cuda]") {
  for (const Index p : {3, 37, 512}) {
    check_draw<double>(p);
    check_draw<float>(p);
  }
}

}  // namespace pdml_test_vmf_draw_rows
