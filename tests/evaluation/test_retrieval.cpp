// SPDX-License-Identifier: MIT
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

#include <pdml/evaluation/retrieval.hpp>

namespace {

using pdml::Distance;
using pdml::Index;

struct NaiveMetrics {
  std::vector<double> recall;
  double map_at_r;
  std::vector<std::uint8_t> nearest_is_correct;
};

// Reference: full distance matrix, full sort per query, the textbook formulas.
NaiveMetrics naive_metrics(const std::vector<double>& x, const std::vector<std::int64_t>& labels,
                           Index d, const std::vector<Index>& ks, Distance distance) {
  const Index n = static_cast<Index>(labels.size());
  std::map<std::int64_t, Index> size;
  for (auto l : labels) ++size[l];
  NaiveMetrics m;
  m.recall.assign(ks.size(), 0.0);
  double ap_sum = 0.0;
  Index ap_count = 0;
  for (Index i = 0; i < n; ++i) {
    std::vector<std::pair<double, Index>> order;
    for (Index j = 0; j < n; ++j) {
      if (j == i) continue;
      double score = 0, ni = 0, nj = 0, dot = 0;
      for (Index c = 0; c < d; ++c) {
        const double a = x[i * d + c], b = x[j * d + c];
        dot += a * b;
        ni += a * a;
        nj += b * b;
        score -= (a - b) * (a - b);
      }
      if (distance == Distance::cosine) score = dot / std::sqrt(ni * nj);
      order.emplace_back(score, j);
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (std::size_t t = 0; t < ks.size(); ++t) {
      bool hit = false;
      for (Index r = 0; r < ks[t]; ++r) hit = hit || labels[order[r].second] == labels[i];
      m.recall[t] += hit ? 1.0 : 0.0;
    }
    m.nearest_is_correct.push_back(labels[order[0].second] == labels[i] ? 1 : 0);
    const Index r_count = size[labels[i]] - 1;
    if (r_count > 0) {
      double ap = 0;
      Index relevant = 0;
      for (Index r = 0; r < r_count; ++r) {
        if (labels[order[r].second] == labels[i]) {
          ++relevant;
          ap += double(relevant) / double(r + 1);
        }
      }
      ap_sum += ap / double(r_count);
      ++ap_count;
    }
  }
  for (auto& r : m.recall) r /= double(n);
  m.map_at_r = ap_sum / double(ap_count);
  return m;
}

}  // namespace

TEST_CASE("hand-computed Recall@k and mAP@R on a line", "[evaluation]") {
  // x = 0, 1, 2, 10, 11 with labels a, b, a, b, b (Euclidean).
  // Neighbours: 0 -> 1, 2, 3, 4       1 -> 0, 2 (tie, lower index first), 3, 4
  //             2 -> 1, 0, 3, 4       3 -> 4, 2, 1, 0        4 -> 3, 2, 1, 0
  const std::vector<double> x{0, 1, 2, 10, 11};
  const std::vector<std::int64_t> labels{0, 1, 0, 1, 1};
  pdml::RetrievalOptions options;
  options.distance = Distance::euclidean;
  options.recall_ks = {1, 2};
  const auto m = pdml::evaluate_retrieval(pdml::ConstMatrixView<double>{x.data(), 5, 1, 1},
                                          labels.data(), options);
  // R@1: 0 no, 1 no, 2 no, 3 yes, 4 yes -> 2/5; R@2: 0 yes, 1 no, 2 yes, 3 yes, 4 yes -> 4/5.
  CHECK(m.recall_at_k[0] == Approx(0.4));
  CHECK(m.recall_at_k[1] == Approx(0.8));
  // AP@R: query 0 (R=1): first neighbour wrong -> 0.  query 2 (R=1): 0.
  // query 1 (R=2, neighbours 0, 2): 0.  query 3 (R=2, neighbours 4, 2): 1/2.
  // query 4 (R=2, neighbours 3, 2): 1/2.  mAP@R = 1/5.
  CHECK(m.map_at_r == Approx(0.2));
  CHECK(m.map_at_r_queries == 5);
  CHECK(m.nearest_is_correct == std::vector<std::uint8_t>{0, 0, 0, 1, 1});
}

TEST_CASE("a query alone in its class is skipped by mAP@R but counts for recall",
          "[evaluation]") {
  const std::vector<double> x{0, 1, 2};
  const std::vector<std::int64_t> labels{5, 5, 9};
  pdml::RetrievalOptions options;
  options.distance = Distance::euclidean;
  options.recall_ks = {1};
  const auto m = pdml::evaluate_retrieval(pdml::ConstMatrixView<double>{x.data(), 3, 1, 1},
                                          labels.data(), options);
  CHECK(m.map_at_r_queries == 2);
  CHECK(m.map_at_r == Approx(1.0));
  CHECK(m.recall_at_k[0] == Approx(2.0 / 3.0));
}

TEST_CASE("evaluate_retrieval equals the full-matrix reference", "[evaluation]") {
  std::mt19937_64 engine(3);
  std::normal_distribution<double> normal;
  const Index n = 240, d = 8;
  std::vector<double> x(static_cast<std::size_t>(n * d));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  // Six classes of unequal sizes around noisy centres, so metrics are far from 0 and 1.
  std::vector<double> centres(6 * d);
  for (auto& c : centres) c = normal(engine);
  for (Index i = 0; i < n; ++i) {
    labels[i] = (i * i + 3) % 6;
    for (Index c = 0; c < d; ++c) x[i * d + c] = centres[labels[i] * d + c] + 0.9 * normal(engine);
  }
  const std::vector<Index> ks{1, 2, 4, 8, 16};
  for (Distance distance : {Distance::cosine, Distance::euclidean}) {
    const auto ref = naive_metrics(x, labels, d, ks, distance);
    pdml::RetrievalOptions options;
    options.distance = distance;
    options.recall_ks = ks;
    options.blocks = {17, 50};
    const auto m =
        pdml::evaluate_retrieval(pdml::ConstMatrixView<double>{x.data(), n, d, d}, labels.data(),
                                 options);
    for (std::size_t t = 0; t < ks.size(); ++t) CHECK(m.recall_at_k[t] == Approx(ref.recall[t]));
    CHECK(m.map_at_r == Approx(ref.map_at_r).epsilon(1e-12));
    CHECK(m.nearest_is_correct == ref.nearest_is_correct);
    CHECK(m.recall_at_k[0] > 0.3);
    CHECK(m.recall_at_k[0] < 0.99);
  }
}

TEST_CASE("float and double agree and the result does not depend on blocks", "[evaluation]") {
  std::mt19937_64 engine(5);
  std::normal_distribution<double> normal;
  const Index n = 180, d = 6;
  std::vector<double> x(static_cast<std::size_t>(n * d));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) labels[i] = i % 4;
  for (Index i = 0; i < n * d; ++i) x[i] = normal(engine) + 0.7 * double(labels[i / d] == i % d);
  std::vector<float> xf(x.begin(), x.end());
  pdml::RetrievalOptions a, b;
  b.blocks = {1, 7};
  const auto md = pdml::evaluate_retrieval(pdml::ConstMatrixView<double>{x.data(), n, d, d},
                                           labels.data(), a);
  const auto mf = pdml::evaluate_retrieval(pdml::ConstMatrixView<float>{xf.data(), n, d, d},
                                           labels.data(), b);
  for (std::size_t t = 0; t < a.recall_ks.size(); ++t) {
    CHECK(mf.recall_at_k[t] == Approx(md.recall_at_k[t]).margin(2.0 / n));
  }
  CHECK(mf.map_at_r == Approx(md.map_at_r).margin(0.01));
}

TEST_CASE("evaluate_retrieval validates its arguments", "[evaluation]") {
  std::vector<double> x{0, 1, 2, 3};
  std::vector<std::int64_t> labels{0, 0, 1, 1};
  const pdml::ConstMatrixView<double> view{x.data(), 4, 1, 1};
  auto message_of = [&](auto&& call) {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  pdml::RetrievalOptions bad_k;
  bad_k.recall_ks = {4};
  CHECK_THAT(message_of([&] { pdml::evaluate_retrieval(view, labels.data(), bad_k); }),
             Catch::Contains("'options.recall_ks'"));
  CHECK_THAT(message_of([&] { pdml::evaluate_retrieval<double>(view, nullptr); }),
             Catch::Contains("'labels'"));
  CHECK_THAT(message_of([&] {
               pdml::evaluate_retrieval(pdml::ConstMatrixView<double>{x.data(), 1, 1, 1},
                                        labels.data());
             }),
             Catch::Contains("'embeddings'"));
  x[2] = INFINITY;
  CHECK_THAT(message_of([&] { pdml::evaluate_retrieval(view, labels.data()); }),
             Catch::Contains("'embeddings'"));
}
