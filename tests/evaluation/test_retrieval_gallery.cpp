// SPDX-License-Identifier: MIT
// Query / gallery retrieval against a brute-force reference, the recall_ks defaults,
// label widths and view kinds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pdml/core/eigen_map.hpp>
#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>

namespace {

using pdml::Distance;
using pdml::Index;
using Mat = pdml::RowMajorMatrix<double>;

struct Reference {
  std::vector<double> recall;
  double map_at_r = 0;
  Index map_queries = 0;
  std::vector<std::uint8_t> nearest_is_correct;
};

// Every query scored against every gallery row in long double, fully sorted (ties by
// gallery index), and the textbook formulas.
Reference reference(const Mat& q, const std::vector<std::int64_t>& ql, const Mat& g,
                    const std::vector<std::int64_t>& gl, const std::vector<Index>& ks,
                    Distance distance) {
  std::map<std::int64_t, Index> size;
  for (auto l : gl) ++size[l];
  Reference m;
  m.recall.assign(ks.size(), 0.0);
  double ap_sum = 0;
  for (Index i = 0; i < q.rows(); ++i) {
    std::vector<std::pair<long double, Index>> order;
    for (Index j = 0; j < g.rows(); ++j) {
      long double dot = 0, nq = 0, ng = 0, sq = 0;
      for (Index c = 0; c < q.cols(); ++c) {
        const long double a = q(i, c), b = g(j, c);
        dot += a * b;
        nq += a * a;
        ng += b * b;
        sq += (a - b) * (a - b);
      }
      order.emplace_back(distance == Distance::cosine ? dot / std::sqrt(nq * ng) : -sq, j);
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    const std::int64_t label = ql[static_cast<std::size_t>(i)];
    for (std::size_t t = 0; t < ks.size(); ++t) {
      bool hit = false;
      for (Index r = 0; r < ks[t]; ++r) hit = hit || gl[order[r].second] == label;
      m.recall[t] += hit ? 1.0 : 0.0;
    }
    m.nearest_is_correct.push_back(gl[order[0].second] == label ? 1 : 0);
    const Index r_count = size.count(label) ? size[label] : 0;
    if (r_count > 0) {
      double ap = 0;
      Index relevant = 0;
      for (Index r = 0; r < r_count; ++r) {
        if (gl[order[r].second] == label) {
          ++relevant;
          ap += double(relevant) / double(r + 1);
        }
      }
      ap_sum += ap / double(r_count);
      ++m.map_queries;
    }
  }
  for (auto& r : m.recall) r /= double(q.rows());
  m.map_at_r = ap_sum / double(m.map_queries);
  return m;
}

Mat clustered(std::mt19937_64& rng, const std::vector<std::int64_t>& labels, Index d) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Mat centers(8, d);
  for (Index i = 0; i < centers.size(); ++i) centers.data()[i] = normal(rng);
  Mat x(static_cast<Index>(labels.size()), d);
  for (Index i = 0; i < x.rows(); ++i) {
    for (Index c = 0; c < d; ++c) x(i, c) = centers(labels[i], c) + 0.9 * normal(rng);
  }
  return x;
}

std::vector<std::int64_t> random_labels(std::mt19937_64& rng, Index n, int classes) {
  std::uniform_int_distribution<int> u(0, classes - 1);
  std::vector<std::int64_t> y(static_cast<std::size_t>(n));
  for (auto& l : y) l = u(rng);
  return y;
}

}  // namespace

TEST_CASE("query / gallery retrieval matches the brute-force reference", "[evaluation]") {
  std::mt19937_64 rng(301);
  for (Distance distance : {Distance::cosine, Distance::euclidean}) {
    const auto ql = random_labels(rng, 37, 8);
    auto gl = random_labels(rng, 150, 7);  // class 7 has no gallery row: those queries miss
    const Mat q = clustered(rng, ql, 6), g = clustered(rng, gl, 6);
    pdml::RetrievalOptions options;
    options.distance = distance;
    options.recall_ks = {1, 3, 10};
    options.blocks = {5, 16};  // several blocks on both sides
    const auto got = pdml::evaluate_retrieval(pdml::view_of(q), ql.data(), pdml::view_of(g),
                                              gl.data(), options);
    const auto want = reference(q, ql, g, gl, options.recall_ks, distance);
    REQUIRE(got.recall_at_k.size() == 3);
    for (std::size_t t = 0; t < 3; ++t) CHECK(got.recall_at_k[t] == Approx(want.recall[t]));
    CHECK(got.map_at_r == Approx(want.map_at_r).epsilon(1e-12));
    CHECK(got.map_at_r_queries == want.map_queries);
    CHECK(got.nearest_is_correct == want.nearest_is_correct);
  }
}

TEST_CASE("recall_ks defaults fit the gallery; explicit ks say what to do", "[evaluation]") {
  std::mt19937_64 rng(302);
  const std::vector<std::int64_t> y = {0, 1, 0, 1, 2};
  const Mat x = clustered(rng, y, 4);
  const auto loo = pdml::evaluate_retrieval(pdml::view_of(x), y.data());
  CHECK(loo.recall_ks == std::vector<Index>{1, 2, 4});  // N - 1 = 4
  const auto qg = pdml::evaluate_retrieval(pdml::view_of(x.topRows(2)), y.data(),
                                           pdml::view_of(x.bottomRows(3)), y.data() + 2);
  CHECK(qg.recall_ks == std::vector<Index>{1, 2});  // G = 3
  const std::vector<std::int64_t> big = {0, 1, 0, 1, 2, 2, 0, 1, 2, 0};
  const Mat xb = clustered(rng, big, 4);
  CHECK(pdml::evaluate_retrieval(pdml::view_of(xb), big.data()).recall_ks ==
        std::vector<Index>{1, 2, 4, 8});
  pdml::RetrievalOptions options;
  options.recall_ks = {1, 5};
  CHECK_THROWS_WITH(pdml::evaluate_retrieval(pdml::view_of(x), y.data(), options),
                    Catch::Contains("'options.recall_ks'") &&
                        Catch::Contains("leave options.recall_ks empty"));
  options.recall_ks = {4};
  CHECK_THROWS_WITH(pdml::evaluate_retrieval(pdml::view_of(x.topRows(2)), y.data(),
                                             pdml::view_of(x.bottomRows(3)), y.data() + 2,
                                             options),
                    Catch::Contains("G = rows of gallery"));
  const Mat narrow = x.leftCols(3);
  CHECK_THROWS_WITH(pdml::evaluate_retrieval(pdml::view_of(x.topRows(2)), y.data(),
                                             pdml::view_of(narrow), y.data()),
                    Catch::Contains("'gallery' has 3 columns but 'queries' has 4"));
  const std::int64_t* no_labels = nullptr;
  CHECK_THROWS_WITH(pdml::evaluate_retrieval(pdml::view_of(x.topRows(2)), y.data(),
                                             pdml::view_of(x), no_labels),
                    Catch::Contains("'gallery_labels'"));
}

TEST_CASE("evaluation: int32 labels and every view kind give identical results",
          "[evaluation]") {
  std::mt19937_64 rng(303);
  const auto y = random_labels(rng, 60, 5);
  const std::vector<std::int32_t> y32(y.begin(), y.end());
  Mat x = clustered(rng, y, 5);
  const Mat& cx = x;
  const auto a = pdml::evaluate_retrieval(pdml::view_of(cx), y.data());
  const auto b = pdml::evaluate_retrieval(pdml::view_of(x), y32.data());  // mutable view
  Mat padded = Mat::Zero(64, 5);
  padded.middleRows(3, 60) = x;
  Eigen::Map<const Mat> map(x.data(), 60, 5);
  Eigen::Ref<Mat> ref(x);
  const auto c = pdml::evaluate_retrieval(pdml::view_of(padded.middleRows(3, 60)), y.data());
  const auto d = pdml::evaluate_retrieval(pdml::view_of(map), y.data());
  const auto e = pdml::evaluate_retrieval(pdml::view_of(ref), y32.data());
  for (const auto* m : {&b, &c, &d, &e}) {
    CHECK(m->recall_at_k == a.recall_at_k);
    CHECK(m->map_at_r == a.map_at_r);
    CHECK(m->nearest_is_correct == a.nearest_is_correct);
  }
  CHECK(pdml::norm_uncertainty_auroc(pdml::view_of(x), y32.data()) ==
        pdml::norm_uncertainty_auroc(pdml::view_of(cx), y.data()));
  CHECK(pdml::clustering_nmi(pdml::view_of(x), y32.data()) ==
        pdml::clustering_nmi(pdml::view_of(cx), y.data()));
}
