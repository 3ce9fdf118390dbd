// SPDX-License-Identifier: MIT
// The GPU groups (cuda/pdml/cuda/parallel/group_cuda.cuh) against the host's SerialGroup,
// bitwise: LaneGroup<W>::reduce<32> for every W from 1 to 32 and BlockGroup::reduce<256>,
// on sums and maxima of float and double rows, the running logsumexp and the integer OR
// of the status flags, over ragged lengths. Bitwise equality is what lets the thrust-host
// tests stand for the GPU: the tree is the same whatever the lane count. Also checks that
// for_each visits every element once and that rows past the end are left alone; the
// packet reductions (reduce_row_vec, float4 / double2 loads on aligned rows, scalar
// loads on the others) against the scalar tree of the same K, and for_each_vec's
// visits. Runs through the CudaBackend launchers the criterion uses.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <pdml/cuda/parallel/backend_cuda.hpp>
#include <pdml/cuda/math/logsumexp.hpp>
#include <pdml/cuda/parallel/group.hpp>

#include "device_test_support.hpp"

// A named namespace: nvcc cannot instantiate kernels on types of an anonymous one.
namespace pdml_test_groups {

using pdml::Index;
namespace par = pdml::cuda::parallel;

/// Row r of `rows` reduces x[r * n .. r * n + lengths[r]).
template <class T, int K, class Op>
struct ReduceRows {
  const T* x;
  const Index* lengths;
  Index n;
  T init;
  T* out;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    const T* row = x + r * n;
    const T v = g.template reduce<K>(lengths[r], init, [&](Index j) { return row[j]; }, Op{});
    if (g.lane() == 0) out[r] = v;
  }
};

template <class T>
struct LseRows {
  const T* x;
  const Index* lengths;
  Index n;
  par::LseState<T>* out;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    const T* row = x + r * n;
    const par::LseState<T> v = g.template reduce<par::kRowLanes>(
        lengths[r], par::lse_empty<T>(), [&](Index j) { return par::LseState<T>{row[j], T(1)}; },
        par::LseCombine{});
    if (g.lane() == 0) out[r] = v;
  }
};

struct OrRows {
  const std::uint32_t* x;
  const Index* lengths;
  Index n;
  std::uint32_t* out;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    const std::uint32_t* row = x + r * n;
    const std::uint32_t v = g.template reduce<par::kRowLanes>(
        lengths[r], 0u, [&](Index j) { return row[j]; }, par::BitOr{});
    if (g.lane() == 0) out[r] = v;
  }
};

/// Row r reduces x[r * n + offsets[r] ..) over lengths[r] elements in packets of V
/// (reduce_row_vec: vector loads where the row start is aligned and the length a
/// multiple of V), K logical lanes.
template <class T, int V, int K, class Op>
struct ReducePacketRows {
  const T* x;
  const Index* offsets;
  const Index* lengths;
  Index n;
  T init;
  T* out;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    const T* row = x + r * n + offsets[r];
    const T v = par::reduce_row_vec<V, K>(g, lengths[r], row, init, [](T e) { return e; }, Op{});
    if (g.lane() == 0) out[r] = v;
  }
};

/// Each element of row r gets 1 added by exactly one lane, packet by packet.
template <int V>
struct CountVisitsVec {
  Index n;
  int* counts;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    g.template for_each_vec<V>(n, [&](Index j, int count) {
      for (int e = 0; e < count; ++e) counts[r * n + j + e] += 1;
    });
  }
};

/// Each element of row r gets 1 added by exactly one lane.
struct CountVisits {
  Index n;
  int* counts;
  template <class G>
  PDML_HOST_DEVICE void operator()(const G& g, Index r) const {
    g.for_each(n, [&](Index j) { counts[r * n + j] += 1; });
  }
};

template <class T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

struct Problem {
  Index rows = 40, n = 1200;
  std::vector<Index> lengths;
  explicit Problem(std::mt19937_64& gen) {
    std::uniform_int_distribution<Index> length(0, n);
    for (Index r = 0; r < rows; ++r) lengths.push_back(r < 3 ? r : length(gen));
  }
};

template <int W, class T>
void check_lanes(const pdml::cuda::detail::CudaBackend& be, const Problem& p,
                 const std::vector<T>& x) {
  const pdml_test::DeviceBuffer<T> dx(x);
  const pdml_test::DeviceBuffer<Index> dl(p.lengths);
  pdml_test::DeviceBuffer<T> sums(static_cast<std::size_t>(p.rows));
  pdml_test::DeviceBuffer<T> maxima(static_cast<std::size_t>(p.rows));
  pdml_test::DeviceBuffer<par::LseState<T>> lse(static_cast<std::size_t>(p.rows));
  REQUIRE(be.launch_rows<W>(p.rows, ReduceRows<T, 32, par::Sum>{dx.get(), dl.get(), p.n, T(0),
                                                                 sums.get()}) == cudaSuccess);
  REQUIRE(be.launch_rows<W>(p.rows, ReduceRows<T, 32, par::Max>{
                                        dx.get(), dl.get(), p.n,
                                        -std::numeric_limits<T>::infinity(), maxima.get()}) ==
          cudaSuccess);
  REQUIRE(be.launch_rows<W>(p.rows, LseRows<T>{dx.get(), dl.get(), p.n, lse.get()}) ==
          cudaSuccess);
  const auto device_sums = sums.download();
  const auto device_maxima = maxima.download();
  const auto device_lse = lse.download();
  const par::SerialGroup host;
  for (Index r = 0; r < p.rows; ++r) {
    const T* row = x.data() + r * p.n;
    const auto value = [&](Index j) { return row[j]; };
    const Index len = p.lengths[static_cast<std::size_t>(r)];
    const auto k = static_cast<std::size_t>(r);
    CHECK(same_bits(device_sums[k], host.reduce<32>(len, T(0), value, par::Sum{})));
    CHECK(same_bits(device_maxima[k], host.reduce<32>(len, -std::numeric_limits<T>::infinity(),
                                                      value, par::Max{})));
    const par::LseState<T> expected = host.reduce<32>(
        len, par::lse_empty<T>(), [&](Index j) { return par::LseState<T>{row[j], T(1)}; },
        par::LseCombine{});
    CHECK(same_bits(device_lse[k].max, expected.max));
    CHECK(same_bits(device_lse[k].sum, expected.sum));
  }
}

TEMPLATE_TEST_CASE("lane groups reduce with the host's bits for every lane count", "[cuda]",
                   float, double) {
  using T = TestType;
  std::mt19937_64 gen(42);
  const Problem p(gen);
  std::lognormal_distribution<double> magnitude(0.0, 2.0);
  std::vector<T> x(static_cast<std::size_t>(p.rows * p.n));
  for (auto& v : x) v = static_cast<T>((gen() % 2 ? 1 : -1) * magnitude(gen));
  pdml_test::CudaStream stream;
  const pdml::cuda::detail::CudaBackend be{stream, nullptr};
  check_lanes<1>(be, p, x);
  check_lanes<2>(be, p, x);
  check_lanes<4>(be, p, x);
  check_lanes<8>(be, p, x);
  check_lanes<16>(be, p, x);
  check_lanes<32>(be, p, x);

  // A whole block per row, 256 logical lanes.
  const pdml_test::DeviceBuffer<T> dx(x);
  const pdml_test::DeviceBuffer<Index> dl(p.lengths);
  pdml_test::DeviceBuffer<T> sums(static_cast<std::size_t>(p.rows));
  REQUIRE(be.launch_blocks(p.rows, ReduceRows<T, 256, par::Sum>{dx.get(), dl.get(), p.n, T(0),
                                                                 sums.get()}) == cudaSuccess);
  const auto device_sums = sums.download();
  for (Index r = 0; r < p.rows; ++r) {
    const T* row = x.data() + r * p.n;
    CHECK(same_bits(device_sums[static_cast<std::size_t>(r)],
                    par::SerialGroup{}.reduce<256>(p.lengths[static_cast<std::size_t>(r)], T(0),
                                                   [&](Index j) { return row[j]; }, par::Sum{})));
  }
}

template <int W, int V, int K, class T>
void check_packet_lanes(const pdml::cuda::detail::CudaBackend& be, const Problem& p,
                        const std::vector<Index>& offsets, const std::vector<Index>& lengths,
                        const std::vector<T>& x) {
  const pdml_test::DeviceBuffer<T> dx(x);
  const pdml_test::DeviceBuffer<Index> doff(offsets);
  const pdml_test::DeviceBuffer<Index> dl(lengths);
  pdml_test::DeviceBuffer<T> sums(static_cast<std::size_t>(p.rows));
  pdml_test::DeviceBuffer<T> maxima(static_cast<std::size_t>(p.rows));
  const T minus_inf = -std::numeric_limits<T>::infinity();
  if constexpr (W == par::kThreadsPerBlock) {
    REQUIRE(be.launch_blocks(p.rows, ReducePacketRows<T, V, K, par::Sum>{
                                         dx.get(), doff.get(), dl.get(), p.n, T(0),
                                         sums.get()}) == cudaSuccess);
    REQUIRE(be.launch_blocks(p.rows, ReducePacketRows<T, V, K, par::Max>{
                                         dx.get(), doff.get(), dl.get(), p.n, minus_inf,
                                         maxima.get()}) == cudaSuccess);
  } else {
    REQUIRE(be.launch_rows<W>(p.rows, ReducePacketRows<T, V, K, par::Sum>{
                                          dx.get(), doff.get(), dl.get(), p.n, T(0),
                                          sums.get()}) == cudaSuccess);
    REQUIRE(be.launch_rows<W>(p.rows, ReducePacketRows<T, V, K, par::Max>{
                                          dx.get(), doff.get(), dl.get(), p.n, minus_inf,
                                          maxima.get()}) == cudaSuccess);
  }
  const auto device_sums = sums.download();
  const auto device_maxima = maxima.download();
  const par::SerialGroup host;
  for (Index r = 0; r < p.rows; ++r) {
    const auto k = static_cast<std::size_t>(r);
    const T* row = x.data() + r * p.n + offsets[k];
    const auto value = [&](Index j) { return row[j]; };
    // The scalar tree of the same K: vector loads and lane count change no bit.
    CHECK(same_bits(device_sums[k], host.reduce<K>(lengths[k], T(0), value, par::Sum{})));
    CHECK(same_bits(device_maxima[k], host.reduce<K>(lengths[k], minus_inf, value, par::Max{})));
  }
}

TEMPLATE_TEST_CASE("packet reductions (vector loads where aligned) give the scalar tree's bits",
                   "[cuda]", float, double) {
  using T = TestType;
  constexpr int V = par::packet_width<T>;
  std::mt19937_64 gen(43);
  const Problem p(gen);  // rows of n = 1200 elements: every row start 16-byte aligned
  std::vector<Index> offsets, lengths;
  for (Index r = 0; r < p.rows; ++r) {
    // Alternately aligned and misaligned starts, lengths a multiple of V or not.
    offsets.push_back(r % 2 == 0 ? 0 : 1);
    const Index length = p.lengths[static_cast<std::size_t>(r)] - 1 < 0
                             ? 0
                             : p.lengths[static_cast<std::size_t>(r)] - 1;
    lengths.push_back(r % 4 < 2 ? length / V * V : length);
  }
  std::lognormal_distribution<double> magnitude(0.0, 2.0);
  std::vector<T> x(static_cast<std::size_t>(p.rows * p.n));
  for (auto& v : x) v = static_cast<T>((gen() % 2 ? 1 : -1) * magnitude(gen));
  pdml_test::CudaStream stream;
  const pdml::cuda::detail::CudaBackend be{stream, nullptr};
  constexpr int K = par::kPacketRowLanes;
  check_packet_lanes<1, V, K>(be, p, offsets, lengths, x);
  check_packet_lanes<2, V, K>(be, p, offsets, lengths, x);
  check_packet_lanes<4, V, K>(be, p, offsets, lengths, x);
  check_packet_lanes<8, V, K>(be, p, offsets, lengths, x);
  check_packet_lanes<16, V, K>(be, p, offsets, lengths, x);
  check_packet_lanes<32, V, K>(be, p, offsets, lengths, x);
  check_packet_lanes<par::kThreadsPerBlock, V, V * par::kThreadsPerBlock>(be, p, offsets,
                                                                           lengths, x);
  check_packet_lanes<par::kThreadsPerBlock, V, 2 * V * par::kThreadsPerBlock>(be, p, offsets,
                                                                               lengths, x);
}

TEST_CASE("status flags fold by OR; for_each visits every element once", "[cuda]") {
  std::mt19937_64 gen(3);
  const Problem p(gen);
  std::vector<std::uint32_t> flags(static_cast<std::size_t>(p.rows * p.n), 0u);
  for (auto& f : flags) f = gen() % 97 == 0 ? (1u << (gen() % 5)) : 0u;
  pdml_test::CudaStream stream;
  const pdml::cuda::detail::CudaBackend be{stream, nullptr};
  const pdml_test::DeviceBuffer<std::uint32_t> dx(flags);
  const pdml_test::DeviceBuffer<Index> dl(p.lengths);
  pdml_test::DeviceBuffer<std::uint32_t> out(static_cast<std::size_t>(p.rows));
  REQUIRE(be.launch_rows<32>(p.rows, OrRows{dx.get(), dl.get(), p.n, out.get()}) == cudaSuccess);
  const auto device = out.download();
  for (Index r = 0; r < p.rows; ++r) {
    std::uint32_t expected = 0u;
    for (Index j = 0; j < p.lengths[static_cast<std::size_t>(r)]; ++j) {
      expected |= flags[static_cast<std::size_t>(r * p.n + j)];
    }
    CHECK(device[static_cast<std::size_t>(r)] == expected);
  }

  // 37 rows of 70 (two slices per warp at W = 16, a ragged last block), one extra row
  // of the buffer that no launch owns.
  const Index rows = 37, n = 70;
  pdml_test::DeviceBuffer<int> counts(std::vector<int>(static_cast<std::size_t>((rows + 1) * n), 0));
  REQUIRE(be.launch_rows<16>(rows, CountVisits{n, counts.get()}) == cudaSuccess);
  REQUIRE(be.launch_rows<32>(rows, CountVisits{n, counts.get()}) == cudaSuccess);
  REQUIRE(be.launch_blocks(rows, CountVisits{n, counts.get()}) == cudaSuccess);
  REQUIRE(be.launch_rows<8>(rows, CountVisitsVec<4>{n, counts.get()}) == cudaSuccess);
  REQUIRE(be.launch_rows<32>(rows, CountVisitsVec<2>{n, counts.get()}) == cudaSuccess);
  REQUIRE(be.launch_blocks(rows, CountVisitsVec<4>{n, counts.get()}) == cudaSuccess);
  const auto visited = counts.download();
  for (Index k = 0; k < rows * n; ++k) CHECK(visited[static_cast<std::size_t>(k)] == 6);
  for (Index k = rows * n; k < (rows + 1) * n; ++k) CHECK(visited[static_cast<std::size_t>(k)] == 0);
}

}  // namespace pdml_test_groups
