// SPDX-License-Identifier: MIT
// The packet row routines give the same bits whichever way their rows move: every routine
// that reads and writes whole float4 / double2 packets where its rows are aligned
// (UnitRows, UnitRowsBackward, ProxyPrepareRows, ProxyBackwardRows, ScoresEpilogue) runs
// on the GPU once with 16-byte aligned rows (vector accesses) and once with the same
// values at rows shifted by one element (element-by-element accesses), and every output
// must agree bit for bit. This is the device half of the claim that the bits do not
// depend on the path; cuda/tests/host/test_groups_host.cpp checks the reduction tree.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <pdml/cuda/math/unit_rows.hpp>
#include <pdml/cuda/parallel/backend_cuda.hpp>
#include <pdml/cuda/parallel/group.hpp>
#include <pdml/cuda/similarities/detail/el_nivmf_rows.hpp>

#include "device_test_support.hpp"

// A named namespace: nvcc cannot instantiate kernels on types of an anonymous one.
namespace pdml_test_packet_rows {

using pdml::Index;
namespace par = pdml::cuda::parallel;
namespace det = pdml::cuda::detail;
using Backend = pdml::cuda::detail::CudaBackend;

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// A rows x cols device matrix placed either densely from a 256-byte aligned base
/// (every row 16-byte aligned when cols % 4 == 0) or one element further on with a
/// stride of cols + 4 (every row misaligned by one element).
template <class T>
struct Placed {
  Index rows, cols;
  bool aligned;
  pdml_test::DeviceBuffer<T> buffer;
  Placed(const std::vector<T>& dense, Index r, Index c, bool a)
      : rows(r), cols(c), aligned(a), buffer(static_cast<std::size_t>(r * (c + 4) + 4)) {
    std::vector<T> host(static_cast<std::size_t>(r * (c + 4) + 4), T(-3));
    for (Index i = 0; i < r; ++i) {
      for (Index j = 0; j < c; ++j) {
        host[static_cast<std::size_t>(offset() + i * stride() + j)] =
            dense[static_cast<std::size_t>(i * c + j)];
      }
    }
    buffer.upload(host);
  }
  Index offset() const { return aligned ? 0 : 1; }
  Index stride() const { return aligned ? cols : cols + 4; }
  T* data() const { return buffer.get() + offset(); }
  pdml::MatrixView<T> view() const { return pdml::MatrixView<T>{data(), rows, cols, stride()}; }
  pdml::ConstMatrixView<T> const_view() const {
    return pdml::ConstMatrixView<T>{data(), rows, cols, stride()};
  }
  std::vector<T> dense() const {
    const std::vector<T> host = buffer.download();
    std::vector<T> out(static_cast<std::size_t>(rows * cols));
    for (Index i = 0; i < rows; ++i) {
      for (Index j = 0; j < cols; ++j) {
        out[static_cast<std::size_t>(i * cols + j)] =
            host[static_cast<std::size_t>(offset() + i * stride() + j)];
      }
    }
    return out;
  }
};

template <class T>
std::vector<T> random_values(std::mt19937_64& gen, Index count, double low, double high) {
  std::uniform_real_distribution<double> u(low, high);
  std::vector<T> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = static_cast<T>(u(gen));
  return v;
}

constexpr Index kDims = 132;  // a multiple of 4: aligned rows pack for float and double

TEMPLATE_TEST_CASE("unit rows and their backward: vector and scalar rows agree bitwise",
                   "[cuda]", float, double) {
  using T = TestType;
  std::mt19937_64 gen(11);
  const Index rows = 37, d = kDims;
  const auto x = random_values<T>(gen, rows * d, -2.0, 2.0);
  const auto grad = random_values<T>(gen, rows * d, -1.0, 1.0);
  const auto prior = random_values<T>(gen, rows * d, -1.0, 1.0);
  pdml_test::CudaStream stream;
  const Backend be{stream, nullptr};
  std::vector<T> unit[2], norms[2], grad_x[2], grad_acc[2];
  for (int path = 0; path < 2; ++path) {
    const bool aligned = path == 0;
    const Placed<T> input(x, rows, d, aligned);
    pdml_test::DeviceBuffer<T> u(static_cast<std::size_t>(rows * d));
    pdml_test::DeviceBuffer<T> n(static_cast<std::size_t>(rows));
    REQUIRE(be.launch_rows<par::kRowLanes>(
                rows, det::UnitRows<T>{input.const_view(), u.get(), n.get()}) == cudaSuccess);
    unit[path] = u.download();
    norms[path] = n.download();
    const pdml_test::DeviceBuffer<T> g(grad);
    Placed<T> out(prior, rows, d, aligned);
    REQUIRE(be.launch_rows<par::kRowLanes>(
                rows, det::UnitRowsBackward<T>{u.get(), n.get(), g.get(), d, false, out.view()}) ==
            cudaSuccess);
    grad_x[path] = out.dense();
    Placed<T> acc(prior, rows, d, aligned);
    REQUIRE(be.launch_rows<par::kRowLanes>(
                rows, det::UnitRowsBackward<T>{u.get(), n.get(), g.get(), d, true, acc.view()}) ==
            cudaSuccess);
    grad_acc[path] = acc.dense();
  }
  CHECK(same_bits(unit[0], unit[1]));
  CHECK(same_bits(norms[0], norms[1]));
  CHECK(same_bits(grad_x[0], grad_x[1]));
  CHECK(same_bits(grad_acc[0], grad_acc[1]));
}

TEMPLATE_TEST_CASE("proxy rows and their backward: vector and scalar rows agree bitwise",
                   "[cuda]", float, double) {
  using T = TestType;
  std::mt19937_64 gen(12);
  const Index c = 29, d = kDims;
  const auto v = random_values<T>(gen, c * d, -1.0, 1.0);
  const auto k = random_values<T>(gen, c * d, 0.5, 40.0);
  const auto ga = random_values<T>(gen, c * d, -1.0, 1.0);
  const auto gk2 = random_values<T>(gen, c * d, -0.1, 0.1);
  const auto gb = random_values<T>(gen, c, -1.0, 1.0);
  const auto anchor = random_values<T>(gen, c * d, -1.0, 1.0);
  const T min_kappa = T(1);
  pdml_test::CudaStream stream;
  const Backend be{stream, nullptr};
  for (const bool exact : {false, true}) {
    std::vector<T> prepared[2][6], grads[2][2];
    for (int path = 0; path < 2; ++path) {
      const bool aligned = path == 0;
      const Placed<T> proxies(v, c, d, aligned), kappas(k, c, d, aligned);
      const auto cd = static_cast<std::size_t>(c * d);
      pdml_test::DeviceBuffer<T> nu(cd), kc(cd), a(cd), k2(cd);
      pdml_test::DeviceBuffer<T> vnorm(static_cast<std::size_t>(c));
      pdml_test::DeviceBuffer<T> bias(static_cast<std::size_t>(c));
      REQUIRE(be.launch_rows<par::kRowLanes>(
                  c, det::ProxyPrepareRows<T>{proxies.const_view(), kappas.const_view(),
                                              min_kappa, exact, nu.get(), kc.get(), a.get(),
                                              k2.get(), vnorm.get(), bias.get()}) == cudaSuccess);
      prepared[path][0] = nu.download();
      prepared[path][1] = kc.download();
      prepared[path][2] = a.download();
      prepared[path][3] = exact ? k2.download() : std::vector<T>{};
      prepared[path][4] = vnorm.download();
      prepared[path][5] = bias.download();
      const pdml_test::DeviceBuffer<T> dga(ga), dgk2(gk2), dgb(gb), danchor(anchor);
      Placed<T> grad_v(std::vector<T>(cd, T(0)), c, d, aligned);
      Placed<T> grad_k(std::vector<T>(cd, T(0)), c, d, aligned);
      REQUIRE(be.launch_rows<par::kRowLanes>(
                  c, det::ProxyBackwardRows<T>{kappas.const_view(), min_kappa, exact, nu.get(),
                                               kc.get(), vnorm.get(), dga.get(), dgk2.get(),
                                               dgb.get(), danchor.get(), d, grad_v.view(),
                                               grad_k.view()}) == cudaSuccess);
      grads[path][0] = grad_v.dense();
      grads[path][1] = grad_k.dense();
    }
    for (int q = 0; q < 6; ++q) CHECK(same_bits(prepared[0][q], prepared[1][q]));
    CHECK(same_bits(grads[0][0], grads[1][0]));
    CHECK(same_bits(grads[0][1], grads[1][1]));
  }
}

TEMPLATE_TEST_CASE("scores epilogue: vector and scalar rows agree bitwise", "[cuda]", float,
                   double) {
  using T = TestType;
  std::mt19937_64 gen(13);
  // 300 classes: a full chunk of 256 and a partial one; both multiples of 4.
  const Index batch = 5, classes = 300, samples = 3;
  const Index chunks = det::score_chunks(classes);
  const auto g = random_values<T>(gen, samples * batch * classes, -20.0, 20.0);
  const auto bias = random_values<T>(gen, classes, -5.0, 5.0);
  pdml_test::CudaStream stream;
  const Backend be{stream, nullptr};
  std::vector<T> z[2], sim[2];
  std::vector<par::LseState<T>> part[2];
  for (int path = 0; path < 2; ++path) {
    // The scalar path: sim one element off its 256-byte aligned buffer, so no row of the
    // routine may move as vectors.
    pdml_test::DeviceBuffer<T> dz(g);
    const pdml_test::DeviceBuffer<T> dbias(bias);
    pdml_test::DeviceBuffer<T> dsim(static_cast<std::size_t>(batch * classes + 1));
    pdml_test::DeviceBuffer<par::LseState<T>> dpart(static_cast<std::size_t>(batch * chunks));
    T* sim_at = dsim.get() + (path == 0 ? 0 : 1);
    REQUIRE(be.launch_rows<par::kRowLanes>(
                batch * chunks,
                det::ScoresEpilogue<T>{dz.get(), dbias.get(), sim_at, batch, classes, samples,
                                       T(1) / T(0.7), std::log(T(samples)), dpart.get(),
                                       chunks}) == cudaSuccess);
    z[path] = dz.download();
    const std::vector<T> s = dsim.download();
    sim[path].assign(s.begin() + (path == 0 ? 0 : 1),
                     s.begin() + (path == 0 ? 0 : 1) + batch * classes);
    part[path] = dpart.download();
  }
  CHECK(same_bits(z[0], z[1]));
  CHECK(same_bits(sim[0], sim[1]));
  CHECK(same_bits(part[0], part[1]));
}

}  // namespace pdml_test_packet_rows
