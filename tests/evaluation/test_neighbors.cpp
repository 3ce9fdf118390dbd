// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pdml/evaluation/neighbors.hpp>

namespace {

using pdml::Distance;
using pdml::Index;

// Full-matrix reference: every pair scored directly, then a full sort by
// (score descending, index ascending), the documented order.
template <class T>
std::vector<Index> naive_neighbors(const std::vector<T>& x, Index n, Index d, Index k,
                                   Distance distance) {
  std::vector<Index> out(static_cast<std::size_t>(n * k));
  for (Index i = 0; i < n; ++i) {
    std::vector<std::pair<double, Index>> scored;
    for (Index j = 0; j < n; ++j) {
      if (j == i) continue;
      double score = 0.0;
      if (distance == Distance::euclidean) {
        for (Index c = 0; c < d; ++c) {
          const double diff = double(x[i * d + c]) - double(x[j * d + c]);
          score -= diff * diff;
        }
      } else {
        double dot = 0, ni = 0, nj = 0;
        for (Index c = 0; c < d; ++c) {
          dot += double(x[i * d + c]) * double(x[j * d + c]);
          ni += double(x[i * d + c]) * double(x[i * d + c]);
          nj += double(x[j * d + c]) * double(x[j * d + c]);
        }
        score = (ni > 0 && nj > 0) ? dot / std::sqrt(ni * nj) : 0.0;
      }
      scored.emplace_back(score, j);
    }
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (Index r = 0; r < k; ++r) out[static_cast<std::size_t>(i * k + r)] = scored[r].second;
  }
  return out;
}

template <class T>
std::vector<Index> blocked_neighbors(const std::vector<T>& x, Index n, Index d, Index k,
                                     Distance distance, pdml::SearchBlocks blocks,
                                     std::vector<T>* distances = nullptr) {
  std::vector<Index> out(static_cast<std::size_t>(n * k));
  std::vector<T> dist(static_cast<std::size_t>(n * k));
  pdml::nearest_neighbors(pdml::ConstMatrixView<T>{x.data(), n, d, d}, k, distance,
                          pdml::MatrixView<Index>{out.data(), n, k, k},
                          pdml::MatrixView<T>{dist.data(), n, k, k}, blocks);
  if (distances) *distances = dist;
  return out;
}

}  // namespace

TEST_CASE("hand-computed neighbours on a line, with ties broken by lower index", "[evaluation]") {
  // Points on a line at 0, 1, 2, 4: for point 1 (x=1) the points 0 and 2 are
  // tied at distance 1, so 0 comes first.
  const std::vector<double> x{0.0, 1.0, 2.0, 4.0};
  std::vector<double> dist;
  const auto nn = blocked_neighbors(x, 4, 1, 2, Distance::euclidean, {1, 1}, &dist);
  const std::vector<Index> expected{1, 2, 0, 2, 1, 0, 2, 1};
  CHECK(nn == expected);
  CHECK(dist[0] == Approx(1.0));
  CHECK(dist[1] == Approx(2.0));
  CHECK(dist[6] == Approx(2.0));
  CHECK(dist[7] == Approx(3.0));
}

TEST_CASE("cosine neighbours ignore the norm and tie exact duplicates by index", "[evaluation]") {
  // Rows 1 and 2 point the same way as row 0 (different norms): both are at
  // cosine distance 0 from row 0, ordered by index.
  const std::vector<double> x{1, 0, 2, 0, 5, 0, 0, 1};
  std::vector<double> dist;
  const auto nn = blocked_neighbors(x, 4, 2, 3, Distance::cosine, {2, 3}, &dist);
  CHECK(nn[0] == 1);
  CHECK(nn[1] == 2);
  CHECK(nn[2] == 3);
  CHECK(dist[0] == Approx(0.0).margin(1e-15));
  CHECK(dist[2] == Approx(1.0));
}

TEST_CASE("blocked search equals the full-matrix reference on integer data with many ties",
          "[evaluation]") {
  // Small integer coordinates make every Euclidean score exact in floating
  // point, so ties are real and the order must match exactly.
  std::mt19937_64 engine(7);
  std::uniform_int_distribution<int> coordinate(-2, 2);
  const Index n = 157, d = 5, k = 9;
  std::vector<float> x(static_cast<std::size_t>(n * d));
  for (auto& v : x) v = static_cast<float>(coordinate(engine));
  const auto reference = naive_neighbors(x, n, d, k, Distance::euclidean);
  for (auto blocks : {pdml::SearchBlocks{1, 1}, pdml::SearchBlocks{7, 13},
                      pdml::SearchBlocks{64, 2048}, pdml::SearchBlocks{200, 3}}) {
    CAPTURE(blocks.query_block, blocks.database_block);
    CHECK(blocked_neighbors(x, n, d, k, Distance::euclidean, blocks) == reference);
  }
}

TEST_CASE("blocked search equals the full-matrix reference on Gaussian data", "[evaluation]") {
  std::mt19937_64 engine(11);
  std::normal_distribution<double> normal;
  const Index n = 300, d = 16, k = 12;
  std::vector<double> x(static_cast<std::size_t>(n * d));
  for (auto& v : x) v = normal(engine);
  for (Distance distance : {Distance::cosine, Distance::euclidean}) {
    const auto reference = naive_neighbors(x, n, d, k, distance);
    CHECK(blocked_neighbors(x, n, d, k, distance, {32, 50}) == reference);
    CHECK(blocked_neighbors(x, n, d, k, distance, {5, 1000}) == reference);
  }
  // k = N - 1: every other row, all of them ranked.
  const Index n_small = 20;
  std::vector<double> y(x.begin(), x.begin() + n_small * d);
  CHECK(blocked_neighbors(y, n_small, d, n_small - 1, Distance::cosine, {3, 4}) ==
        naive_neighbors(y, n_small, d, n_small - 1, Distance::cosine));
}

TEST_CASE("a zero row scores 0 against everything under cosine", "[evaluation]") {
  const std::vector<double> x{0, 0, 1, 0, -1, 0};
  std::vector<double> dist;
  const auto nn = blocked_neighbors(x, 3, 2, 2, Distance::cosine, {}, &dist);
  // Row 1 (direction +x): row 0 scores 0, row 2 scores -1.
  CHECK(nn[2] == 0);
  CHECK(nn[3] == 2);
  CHECK(dist[2] == Approx(1.0));
  CHECK(dist[3] == Approx(2.0));
}

TEST_CASE("nearest_neighbors validates its arguments before writing", "[evaluation]") {
  std::vector<double> x{0, 1, 2, 3, 4, 5};
  std::vector<Index> out(6, -7);
  std::vector<double> dist(6, -7.0);
  const pdml::ConstMatrixView<double> view{x.data(), 3, 2, 2};
  auto message_of = [&](auto&& call) {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  CHECK_THAT(message_of([&] {
               pdml::nearest_neighbors(view, 3, Distance::cosine, {out.data(), 3, 3, 3},
                                       {dist.data(), 3, 3, 3});
             }),
             Catch::Contains("'k'"));
  CHECK_THAT(message_of([&] {
               pdml::nearest_neighbors(view, 2, Distance::cosine, {out.data(), 3, 1, 1},
                                       {dist.data(), 3, 2, 2});
             }),
             Catch::Contains("'neighbors'"));
  CHECK_THAT(message_of([&] {
               pdml::nearest_neighbors(view, 2, Distance::cosine, {out.data(), 3, 2, 2},
                                       {dist.data(), 2, 2, 2});
             }),
             Catch::Contains("'distances'"));
  CHECK_THAT(message_of([&] {
               pdml::nearest_neighbors(view, 2, Distance::cosine, {out.data(), 3, 2, 2},
                                       {dist.data(), 3, 2, 2}, {0, 4});
             }),
             Catch::Contains("'blocks.query_block'"));
  x[3] = std::nan("");
  CHECK_THAT(message_of([&] {
               pdml::nearest_neighbors(view, 2, Distance::cosine, {out.data(), 3, 2, 2},
                                       {dist.data(), 3, 2, 2});
             }),
             Catch::Contains("'embeddings'"));
  CHECK(std::all_of(out.begin(), out.end(), [](Index v) { return v == -7; }));
  CHECK(std::all_of(dist.begin(), dist.end(), [](double v) { return v == -7.0; }));
}
