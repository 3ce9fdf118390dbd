// SPDX-License-Identifier: MIT
// The reduction tree of pdml::cuda's groups (cuda/pdml/cuda/parallel/group.hpp) does not
// depend on the number of physical lanes. The GPU groups (group_cuda.cuh) fold the
// logical lanes a physical lane owns in registers and the rest across lanes (xor
// shuffles in a warp, shared memory then a warp in a block). This test replays exactly
// that schedule on the host for every lane count a launch can use and checks the
// result, bitwise, against SerialGroup (the host backend's one lane): so the rows the
// thrust-host tests check on the CPU are the rows a GPU computes.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <pdml/cuda/math/logsumexp.hpp>
#include <pdml/cuda/parallel/group.hpp>

namespace {

using pdml::Index;
using pdml::cuda::parallel::LseCombine;
using pdml::cuda::parallel::LseState;
using pdml::cuda::parallel::Max;
using pdml::cuda::parallel::SerialGroup;
using pdml::cuda::parallel::Sum;

template <class T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

/// One lane's V slots in the device schedule of reduce_vec<V, K> over `lanes` lanes
/// (group_cuda.cuh, fold_in_lane): lane l loads the packets at (q lanes + l) V of each
/// K-block into its slots (q, e) and folds the halves >= V lanes in registers.
template <int V, int K, int kLanes, class T, class PacketValue, class Op>
std::array<T, V> lane_slots(int lane, Index n, T init, PacketValue packet_value, Op op) {
  constexpr int kPer = K / (V * kLanes);
  static_assert(kPer >= 1 && K % (V * kLanes) == 0, "V lanes divides K");
  std::vector<std::array<T, V>> acc(kPer);
  for (auto& slot : acc) slot.fill(init);
  for (Index base = 0; base < n; base += K) {
    for (int q = 0; q < kPer; ++q) {
      const Index j = base + (static_cast<Index>(q) * kLanes + lane) * V;
      if (j >= n) continue;
      const int count = pdml::cuda::parallel::packet_count<V>(j, n);
      const auto x = packet_value(j, count);
      for (int e = 0; e < count; ++e) acc[q][e] = op(acc[q][e], x.v[e]);
    }
  }
  for (int half_q = kPer / 2; half_q >= 1; half_q /= 2) {
    for (int q = 0; q < half_q; ++q) {
      for (int e = 0; e < V; ++e) acc[q][e] = op(acc[q][e], acc[q + half_q][e]);
    }
  }
  return acc[0];
}

/// The xor-shuffle folds of W lanes (every lane combining its value with its partner's:
/// op(mine, other)), slot by slot; lane 0's slots returned.
template <std::size_t W, class T, std::size_t V, class Op>
std::array<T, V> shuffle_fold(std::array<std::array<T, V>, W> lanes, Op op) {
  for (std::size_t half = W / 2; half >= 1; half /= 2) {
    auto next = lanes;
    for (std::size_t lane = 0; lane < W; ++lane) {
      for (std::size_t e = 0; e < V; ++e) next[lane][e] = op(lanes[lane][e], lanes[lane ^ half][e]);
    }
    lanes = next;
  }
  return lanes[0];
}

/// The device schedule of LaneGroup<W>::reduce_vec<V, K> (group_cuda.cuh; reduce<K> is
/// its V = 1 case): every lane's slots, the shuffles, then lane 0's V slots in halves.
template <int V, int K, int W, class T, class PacketValue, class Op>
T emulate_lanes_vec(Index n, T init, PacketValue packet_value, Op op) {
  std::array<std::array<T, V>, W> lanes;
  for (int lane = 0; lane < W; ++lane) {
    lanes[lane] = lane_slots<V, K, W>(lane, n, init, packet_value, op);
  }
  std::array<T, V> slots = shuffle_fold<W>(lanes, op);
  for (int half = V / 2; half >= 1; half /= 2) {
    for (int e = 0; e < half; ++e) slots[e] = op(slots[e], slots[e + half]);
  }
  return slots[0];
}

/// BlockGroup::reduce_vec<V, K>: thread t's slots (256 lanes), accumulator k in shared
/// slot k, the halves down to 32 there (k < half: slot[k] = op(slot[k], slot[k + half])),
/// then warp 0's shuffles.
template <int V, int K, class T, class PacketValue, class Op>
T emulate_block_vec(Index n, T init, PacketValue packet_value, Op op) {
  constexpr int kThreads = 256;
  std::vector<T> slots(static_cast<std::size_t>(V * kThreads));
  for (int t = 0; t < kThreads; ++t) {
    const std::array<T, V> mine = lane_slots<V, K, kThreads>(t, n, init, packet_value, op);
    for (int e = 0; e < V; ++e) slots[static_cast<std::size_t>(t * V + e)] = mine[e];
  }
  for (int half = V * kThreads / 2; half >= 32; half /= 2) {
    for (int k = 0; k < half; ++k) {
      slots[static_cast<std::size_t>(k)] =
          op(slots[static_cast<std::size_t>(k)], slots[static_cast<std::size_t>(k + half)]);
    }
  }
  std::array<std::array<T, 1>, 32> warp;
  for (int t = 0; t < 32; ++t) warp[t][0] = slots[static_cast<std::size_t>(t)];
  return shuffle_fold<32>(warp, op)[0];
}

/// The element values of reduce<K> as the width-1 packets of reduce_vec<1, K>.
template <class Value>
struct SingletonPackets {
  Value value;
  auto operator()(Index j, int) const {
    pdml::cuda::parallel::Packet<decltype(value(j)), 1> p;
    p.v[0] = value(j);
    return p;
  }
};

/// The device schedule of LaneGroup<W>::reduce<K>, which is reduce_vec<1, K>.
template <int K, int W, class T, class Value, class Op>
T emulate_lanes(Index n, T init, Value value, Op op) {
  return emulate_lanes_vec<1, K, W>(n, init, SingletonPackets<Value>{value}, op);
}

/// BlockGroup::reduce<256>, which is reduce_vec<1, 256>.
template <class T, class Value, class Op>
T emulate_block(Index n, T init, Value value, Op op) {
  return emulate_block_vec<1, 256>(n, init, SingletonPackets<Value>{value}, op);
}

template <int K, class T, class Value, class Op>
void check_all_widths(Index n, T init, Value value, Op op) {
  const T serial = SerialGroup{}.reduce<K>(n, init, value, op);
  CHECK(same_bits(serial, emulate_lanes<K, 1>(n, init, value, op)));
  CHECK(same_bits(serial, emulate_lanes<K, 2>(n, init, value, op)));
  CHECK(same_bits(serial, emulate_lanes<K, 4>(n, init, value, op)));
  CHECK(same_bits(serial, emulate_lanes<K, 8>(n, init, value, op)));
  CHECK(same_bits(serial, emulate_lanes<K, 16>(n, init, value, op)));
  CHECK(same_bits(serial, emulate_lanes<K, 32>(n, init, value, op)));
}

TEMPLATE_TEST_CASE("group reductions give the same bits for every lane count", "[thrust-host]",
                   float, double) {
  using T = TestType;
  std::mt19937_64 gen(20261206);
  std::lognormal_distribution<double> magnitude(0.0, 3.0);
  for (const Index n : {0, 1, 5, 31, 32, 33, 100, 128, 255, 256, 257, 511, 512, 1000, 11318}) {
    std::vector<T> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = static_cast<T>((gen() % 2 ? 1 : -1) * magnitude(gen));
    const auto value = [&](Index j) { return x[static_cast<std::size_t>(j)]; };
    check_all_widths<32>(n, T(0), value, Sum{});
    check_all_widths<32>(n, -std::numeric_limits<T>::infinity(), value, Max{});
    const auto as_lse = [&](Index j) { return LseState<T>{value(j), T(1)}; };
    const LseState<T> empty{-std::numeric_limits<T>::infinity(), T(0)};
    const LseState<T> serial = SerialGroup{}.reduce<32>(n, empty, as_lse, LseCombine{});
    const LseState<T> lanes = emulate_lanes<32, 32>(n, empty, as_lse, LseCombine{});
    CHECK(same_bits(serial.max, lanes.max));
    CHECK(same_bits(serial.sum, lanes.sum));
    const T block_serial = SerialGroup{}.reduce<256>(n, T(0), value, Sum{});
    CHECK(same_bits(block_serial, emulate_block(n, T(0), value, Sum{})));
    // And the tree is a sum: close to the exact one.
    long double exact = 0;
    for (const T v : x) exact += v;
    long double scale = 0;
    for (const T v : x) scale += std::fabs(v);
    CHECK(std::fabs(static_cast<long double>(SerialGroup{}.reduce<32>(n, T(0), value, Sum{})) -
                    exact) <= 64 * std::numeric_limits<T>::epsilon() * (scale + 1));
  }
}

/// Packets of row[j] as the device's reduce_row_vec forms them.
template <int V, class T>
struct RowPackets {
  const T* row;
  bool whole;
  pdml::cuda::parallel::Packet<T, V> operator()(Index j, int count) const {
    return pdml::cuda::parallel::load_packet<V>(row + j, count, whole);
  }
};

/// reduce_vec<V, K> over `row` against the scalar tree reduce<K> on the host (the tree
/// does not depend on V) and against the device schedule of every lane count that fits.
template <int V, int K, class T, class Op>
void check_packets(Index n, const T* row, T init, Op op) {
  const SerialGroup host;
  const auto value = [&](Index j) { return row[j]; };
  const T scalar = host.reduce<K>(n, init, value, op);
  const RowPackets<V, T> packets{row, pdml::cuda::parallel::packets_fit<V>(n, row)};
  CHECK(same_bits(scalar, host.reduce_vec<V, K>(n, init, packets, op)));
  CHECK(same_bits(scalar, pdml::cuda::parallel::reduce_row_vec<V, K>(
                              host, n, row, init, [](T x) { return x; }, op)));
  CHECK(same_bits(scalar, emulate_lanes_vec<V, K, 1>(n, init, packets, op)));
  CHECK(same_bits(scalar, emulate_lanes_vec<V, K, 2>(n, init, packets, op)));
  CHECK(same_bits(scalar, emulate_lanes_vec<V, K, 4>(n, init, packets, op)));
  CHECK(same_bits(scalar, emulate_lanes_vec<V, K, 8>(n, init, packets, op)));
  if constexpr (K % (16 * V) == 0) {
    CHECK(same_bits(scalar, emulate_lanes_vec<V, K, 16>(n, init, packets, op)));
  }
  if constexpr (K % (32 * V) == 0) {
    CHECK(same_bits(scalar, emulate_lanes_vec<V, K, 32>(n, init, packets, op)));
  }
  if constexpr (K % (256 * V) == 0) {
    CHECK(same_bits(scalar, emulate_block_vec<V, K>(n, init, packets, op)));
  }
}

TEMPLATE_TEST_CASE("packet reductions give the scalar tree's bits for every lane count and "
                   "alignment", "[thrust-host]", float, double) {
  using T = TestType;
  using pdml::cuda::parallel::kPacketRowLanes;
  using pdml::cuda::parallel::packet_width;
  constexpr int V = packet_width<T>;
  std::mt19937_64 gen(20261207);
  std::lognormal_distribution<double> magnitude(0.0, 3.0);
  const T minus_inf = -std::numeric_limits<T>::infinity();
  for (const Index n : {0, 1, 3, 4, 5, 7, 64, 127, 128, 129, 130, 512, 1021, 1024, 1027, 2048,
                        11318}) {
    // Room for a row at every offset 0 .. V within a 64-byte aligned buffer.
    std::vector<T> storage(static_cast<std::size_t>(n + 64));
    for (auto& v : storage) v = static_cast<T>((gen() % 2 ? 1 : -1) * magnitude(gen));
    const T* aligned = storage.data();
    while (!pdml::cuda::parallel::packet_aligned<V>(aligned)) ++aligned;
    for (int offset = 0; offset <= 1; ++offset) {
      const T* row = aligned + offset;
      CHECK(pdml::cuda::parallel::packets_fit<V>(n, row) == (offset == 0 && n % V == 0));
      check_packets<V, kPacketRowLanes>(n, row, T(0), Sum{});
      check_packets<V, kPacketRowLanes>(n, row, minus_inf, Max{});
      check_packets<2, 32>(n, row, T(0), Sum{});
      check_packets<4, 32>(n, row, T(0), Sum{});
      check_packets<1, 256>(n, row, T(0), Sum{});
      check_packets<4, 1024>(n, row, T(0), Sum{});
      check_packets<2, 1024>(n, row, T(0), Sum{});
      check_packets<4, 2048>(n, row, T(0), Sum{});
      // Two rows and a map, and a running logsumexp (a struct value).
      const T* other = aligned + 2 * V - offset;
      const auto product = [&](Index j) { return row[j] * other[j]; };
      CHECK(same_bits(SerialGroup{}.reduce<kPacketRowLanes>(n, T(0), product, Sum{}),
                      pdml::cuda::parallel::reduce_rows_vec<V, kPacketRowLanes>(
                          SerialGroup{}, n, row, other, T(0), [](T x, T y) { return x * y; },
                          Sum{})));
      const auto as_lse = [&](Index j) { return LseState<T>{row[j], T(1)}; };
      const LseState<T> empty{minus_inf, T(0)};
      const LseState<T> serial = SerialGroup{}.reduce<kPacketRowLanes>(n, empty, as_lse,
                                                                       LseCombine{});
      const auto lse_packets = [&](Index j, int count) {
        return pdml::cuda::parallel::map_packet<V, LseState<T>>(
            count, [&](int e) { return as_lse(j + e); });
      };
      const LseState<T> lanes =
          emulate_lanes_vec<V, kPacketRowLanes, 32>(n, empty, lse_packets, LseCombine{});
      CHECK(same_bits(serial.max, lanes.max));
      CHECK(same_bits(serial.sum, lanes.sum));
    }
  }
}

TEST_CASE("for_each_vec hands every element to exactly one lane, in whole packets",
          "[thrust-host]") {
  for (const Index n : {0, 1, 3, 4, 5, 127, 128, 129, 1027}) {
    // The device ownership (group_cuda.cuh) for W lanes, and SerialGroup's.
    for (const int w : {1, 2, 8, 32, 256}) {
      std::vector<int> visits(static_cast<std::size_t>(n), 0);
      for (int lane = 0; lane < w; ++lane) {
        for (Index j = static_cast<Index>(lane) * 4; j < n; j += static_cast<Index>(w) * 4) {
          const int count = pdml::cuda::parallel::packet_count<4>(j, n);
          CHECK(count == (n - j < 4 ? n - j : 4));
          for (int e = 0; e < count; ++e) ++visits[static_cast<std::size_t>(j + e)];
        }
      }
      for (const int v : visits) CHECK(v == 1);
    }
    std::vector<int> visits(static_cast<std::size_t>(n), 0);
    SerialGroup{}.for_each_vec<4>(n, [&](Index j, int count) {
      CHECK(j % 4 == 0);
      for (int e = 0; e < count; ++e) ++visits[static_cast<std::size_t>(j + e)];
    });
    for (const int v : visits) CHECK(v == 1);
  }
}

TEMPLATE_TEST_CASE("the logsumexp combine is symmetric and guards -inf", "[thrust-host]", float,
                   double) {
  using T = TestType;
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal(0.0, 30.0);
  std::uniform_real_distribution<double> sums(0.5, 50.0);
  for (int k = 0; k < 1000; ++k) {
    const LseState<T> a{static_cast<T>(normal(gen)), static_cast<T>(sums(gen))};
    const LseState<T> b{static_cast<T>(normal(gen)), static_cast<T>(sums(gen))};
    const LseState<T> ab = LseCombine{}(a, b), ba = LseCombine{}(b, a);
    CHECK(same_bits(ab.max, ba.max));
    CHECK(same_bits(ab.sum, ba.sum));
    // log(e^m1 l1 + e^m2 l2), in long double.
    const long double expected =
        std::log(std::exp(static_cast<long double>(a.max)) * a.sum +
                 std::exp(static_cast<long double>(b.max)) * b.sum);
    CHECK(std::fabs(ab.max + std::log(static_cast<long double>(ab.sum)) - expected) <=
          8 * std::numeric_limits<T>::epsilon() * (std::fabs(expected) + 1));
  }
  const T inf = std::numeric_limits<T>::infinity();
  const LseState<T> empty{-inf, T(0)};
  const LseState<T> both = LseCombine{}(empty, empty);
  CHECK(both.max == -inf);
  CHECK(both.sum == T(0));
  const LseState<T> one = LseCombine{}(empty, LseState<T>{T(2), T(3)});
  CHECK(one.max == T(2));
  CHECK(one.sum == T(3));
}

}  // namespace
