// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/evaluation/uncertainty.hpp>

using pdml::Index;

namespace {
// Reference: the definition, counting every (positive, negative) pair.
double pairwise_auroc(const std::vector<double>& s, const std::vector<std::uint8_t>& pos) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!pos[i]) continue;
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (pos[j]) continue;
      pairs += 1;
      wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
    }
  }
  return wins / pairs;
}
}  // namespace

TEST_CASE("hand-computed AUROC values", "[evaluation]") {
  const std::vector<double> s{1, 2, 3, 4};
  CHECK(pdml::auroc(s.data(), std::vector<std::uint8_t>{0, 0, 1, 1}.data(), 4) == 1.0);
  CHECK(pdml::auroc(s.data(), std::vector<std::uint8_t>{1, 1, 0, 0}.data(), 4) == 0.0);
  // Positives at ranks 2 and 4 of 4: pairs (2>1), (4>1), (4>3), (2<3) -> 3/4.
  CHECK(pdml::auroc(s.data(), std::vector<std::uint8_t>{0, 1, 0, 1}.data(), 4) == 0.75);
  const std::vector<double> tied{5, 5, 5, 5};
  CHECK(pdml::auroc(tied.data(), std::vector<std::uint8_t>{0, 1, 0, 1}.data(), 4) == 0.5);
  CHECK(std::isnan(pdml::auroc(s.data(), std::vector<std::uint8_t>{1, 1, 1, 1}.data(), 4)));
}

TEST_CASE("AUROC equals the pairwise definition with many ties", "[evaluation]") {
  std::mt19937_64 engine(1);
  std::uniform_int_distribution<int> level(0, 9);
  std::bernoulli_distribution coin(0.4);
  std::vector<double> s(500);
  std::vector<std::uint8_t> pos(500);
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = level(engine);
    pos[i] = coin(engine) || s[i] > 7;  // scores carry some signal
  }
  CHECK(pdml::auroc(s.data(), pos.data(), 500) == Approx(pairwise_auroc(s, pos)).epsilon(1e-14));
}

TEST_CASE("norm-uncertainty AUROC: the norm ranks correct retrievals above wrong ones",
          "[evaluation]") {
  // Two classes on a line (direction only matters for cosine, so use
  // Euclidean on 2-D points): confident points (large norm) sit in clean
  // class regions; small-norm points sit near the boundary among the other class.
  // Rows: class 0 at angle ~0, class 1 at angle ~pi/2; two ambiguous points.
  const std::vector<double> x{
      10, 0.1,  10, -0.1,  9, 0.2,      // class 0, large norm
      0.1, 10,  -0.1, 10,  0.2, 9,      // class 1, large norm
      0.5, 0.45,                        // class 0 but pointing nearer class 1, small norm
      0.45, 0.5};                       // class 1 but pointing nearer class 0? (no: nearer class 1)
  const std::vector<std::int64_t> labels{0, 0, 0, 1, 1, 1, 0, 1};
  const pdml::ConstMatrixView<double> view{x.data(), 8, 2, 2};
  pdml::RetrievalOptions options;
  options.recall_ks = {1};
  const auto m = pdml::evaluate_retrieval(view, labels.data(), options);
  // Row 6 (class 0) has row 7 (class 1) as nearest neighbour by angle, and vice versa:
  // both wrong, both small norms -> the norm separates perfectly.
  CHECK(m.nearest_is_correct == std::vector<std::uint8_t>{1, 1, 1, 1, 1, 1, 0, 0});
  CHECK(pdml::norm_uncertainty_auroc(view, m.nearest_is_correct) == 1.0);
  CHECK(pdml::norm_uncertainty_auroc(view, labels.data()) == 1.0);
}

TEST_CASE("AUROC helpers validate their arguments", "[evaluation]") {
  std::vector<double> s{1, NAN};
  std::vector<std::uint8_t> pos{0, 1};
  try {
    pdml::auroc(s.data(), pos.data(), 2);
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains("'scores'"));
  }
  std::vector<double> x{1, 2, 3, 4};
  try {
    pdml::norm_uncertainty_auroc(pdml::ConstMatrixView<double>{x.data(), 2, 2, 2},
                                 std::vector<std::uint8_t>{1});
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains("'nearest_is_correct'"));
  }
}
