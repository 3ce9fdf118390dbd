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

/// The device schedule of LaneGroup<W>::reduce<K> (group_cuda.cuh), lane by lane: each
/// lane's registers filled and folded for the halves >= W, then the xor-shuffle folds
/// (every lane combining its value with its partner's: op(mine, other)), lane 0 read.
template <int K, int W, class T, class Value, class Op>
T emulate_lanes(Index n, T init, Value value, Op op) {
  constexpr int kPer = K / W;
  std::array<T, W> lane_value;
  for (int lane = 0; lane < W; ++lane) {
    std::array<T, kPer> acc;
    acc.fill(init);
    for (Index base = 0; base < n; base += K) {
      for (int q = 0; q < kPer; ++q) {
        const Index j = base + lane + static_cast<Index>(q) * W;
        if (j < n) acc[q] = op(acc[q], value(j));
      }
    }
    for (int half_q = kPer / 2; half_q >= 1; half_q /= 2) {
      for (int q = 0; q < half_q; ++q) acc[q] = op(acc[q], acc[q + half_q]);
    }
    lane_value[lane] = acc[0];
  }
  for (int half = W / 2; half >= 1; half /= 2) {
    std::array<T, W> next;
    for (int lane = 0; lane < W; ++lane) next[lane] = op(lane_value[lane], lane_value[lane ^ half]);
    lane_value = next;
  }
  return lane_value[0];
}

/// BlockGroup::reduce<256>: one logical lane per thread, halves 128..32 through shared
/// slots (thread t < half: slot[t] = op(slot[t], slot[t + half])), then warp 0's shuffles.
template <class T, class Value, class Op>
T emulate_block(Index n, T init, Value value, Op op) {
  constexpr int kThreads = 256;
  std::array<T, kThreads> slots;
  for (int t = 0; t < kThreads; ++t) {
    T acc = init;
    for (Index j = t; j < n; j += kThreads) acc = op(acc, value(j));
    slots[t] = acc;
  }
  for (int half = kThreads / 2; half >= 32; half /= 2) {
    for (int t = 0; t < half; ++t) slots[t] = op(slots[t], slots[t + half]);
  }
  std::array<T, 32> warp;
  for (int t = 0; t < 32; ++t) warp[t] = slots[t];
  for (int half = 16; half >= 1; half /= 2) {
    std::array<T, 32> next;
    for (int t = 0; t < 32; ++t) next[t] = op(warp[t], warp[t ^ half]);
    warp = next;
  }
  return warp[0];
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
