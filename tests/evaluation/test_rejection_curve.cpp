// SPDX-License-Identifier: MIT
// pdml::rejection_curve: accuracy of the most certain fraction of queries.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/evaluation/uncertainty.hpp>

using pdml::Index;

namespace {
// Reference for tied scores: the mean, over every permutation of the queries
// that lists them by non-increasing score, of the accuracy of the first k.
double accuracy_over_orderings(const std::vector<double>& s, const std::vector<std::uint8_t>& ok,
                               std::size_t k) {
  std::vector<std::size_t> order(s.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  double sum = 0.0;
  long orderings = 0;
  do {
    bool sorted = true;
    for (std::size_t i = 1; i < order.size() && sorted; ++i) sorted = s[order[i - 1]] >= s[order[i]];
    if (!sorted) continue;
    double hits = 0.0;
    for (std::size_t i = 0; i < k; ++i) hits += ok[order[i]];
    sum += hits / static_cast<double>(k);
    ++orderings;
  } while (std::next_permutation(order.begin(), order.end()));
  return sum / static_cast<double>(orderings);
}

std::string message_of(const std::vector<double>& s, const std::vector<std::uint8_t>& ok, Index n,
                       const std::vector<double>& q) {
  try {
    pdml::rejection_curve(s.empty() ? nullptr : s.data(), ok.empty() ? nullptr : ok.data(), n, q);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no exception";
}
}  // namespace

TEST_CASE("rejection curve: hand-computed values", "[evaluation]") {
  const std::vector<double> s{0.6, 0.9, 0.7, 0.8};
  const std::vector<std::uint8_t> ok{0, 1, 1, 0};  // by score: 1, 0, 1, 0
  const auto curve = pdml::rejection_curve(s.data(), ok.data(), 4, {0.25, 0.5, 0.75, 1.0});
  REQUIRE(curve.size() == 4);
  CHECK(curve[0] == 1.0);
  CHECK(curve[1] == 0.5);
  CHECK(curve[2] == Approx(2.0 / 3.0).epsilon(1e-15));
  CHECK(curve[3] == 0.5);
  // q n = 1.0000000000000002 in floating point keeps one query, not two.
  std::vector<float> ten(10);
  std::vector<std::uint8_t> ten_ok(10, 0);
  for (int i = 0; i < 10; ++i) ten[static_cast<std::size_t>(i)] = static_cast<float>(i);
  ten_ok[9] = 1;
  CHECK(pdml::rejection_curve(ten.data(), ten_ok.data(), 10, {0.1})[0] == 1.0);
  // A fraction below 1/n still keeps one query.
  CHECK(pdml::rejection_curve(ten.data(), ten_ok.data(), 10, {0.01})[0] == 1.0);
}

TEST_CASE("rejection curve: a constant score gives the overall accuracy (the random floor)",
          "[evaluation]") {
  std::mt19937_64 engine(3);
  std::vector<double> s(101, 2.5);
  std::vector<std::uint8_t> ok(101);
  double total = 0;
  for (auto& o : ok) {
    o = static_cast<std::uint8_t>(engine() % 3 != 0);
    total += o;
  }
  const std::vector<double> q{0.1, 0.2, 0.33, 0.5, 0.77, 1.0};
  for (double a : pdml::rejection_curve(s.data(), ok.data(), 101, q)) {
    CHECK(a == Approx(total / 101.0).epsilon(1e-13));
  }
}

TEST_CASE("rejection curve: ties straddling the cut count as the mean over tie orders",
          "[evaluation]") {
  std::mt19937_64 engine(11);
  for (int trial = 0; trial < 20; ++trial) {
    const std::size_t n = 7;
    std::vector<double> s(n);
    std::vector<std::uint8_t> ok(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = static_cast<double>(engine() % 3);  // heavy ties
      ok[i] = static_cast<std::uint8_t>(engine() % 2);
    }
    std::vector<double> q;
    for (std::size_t k = 1; k <= n; ++k) q.push_back(static_cast<double>(k) / static_cast<double>(n));
    const auto curve = pdml::rejection_curve(s.data(), ok.data(), static_cast<Index>(n), q);
    for (std::size_t k = 1; k <= n; ++k) {
      CAPTURE(trial, k);
      CHECK(curve[k - 1] == Approx(accuracy_over_orderings(s, ok, k)).epsilon(1e-12));
    }
  }
}

TEST_CASE("rejection curve: a perfect score is non-increasing and starts at 1", "[evaluation]") {
  std::mt19937_64 engine(5);
  std::vector<double> s(500);
  std::vector<std::uint8_t> ok(500);
  for (std::size_t i = 0; i < s.size(); ++i) {
    ok[i] = static_cast<std::uint8_t>(engine() % 4 != 0);
    s[i] = ok[i] + 0.5 * static_cast<double>(engine() % 1000) / 1000.0;
  }
  std::vector<double> q;
  for (int t = 1; t <= 10; ++t) q.push_back(t / 10.0);
  const auto curve = pdml::rejection_curve(s.data(), ok.data(), 500, q);
  CHECK(curve[0] == 1.0);
  for (std::size_t i = 1; i < curve.size(); ++i) CHECK(curve[i] <= curve[i - 1]);
}

TEST_CASE("rejection curve: bad arguments are named", "[evaluation]") {
  const std::vector<double> s{1.0, 2.0};
  const std::vector<std::uint8_t> ok{1, 0};
  CHECK_THAT(message_of(s, ok, 0, {1.0}), Catch::Contains("'n'"));
  CHECK_THAT(message_of({}, ok, 2, {1.0}), Catch::Contains("'scores'"));
  CHECK_THAT(message_of(s, {}, 2, {1.0}), Catch::Contains("'correct'"));
  const std::vector<double> bad{1.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THAT(message_of(bad, ok, 2, {1.0}), Catch::Contains("'scores'"));
  CHECK_THAT(message_of(s, ok, 2, {0.0}), Catch::Contains("'fractions'"));
  CHECK_THAT(message_of(s, ok, 2, {1.5}), Catch::Contains("'fractions'"));
  CHECK_THAT(message_of(s, ok, 2, {std::numeric_limits<double>::quiet_NaN()}),
             Catch::Contains("'fractions'"));
}
