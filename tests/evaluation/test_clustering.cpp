// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/evaluation/clustering.hpp>

using pdml::Index;

TEST_CASE("hand-computed NMI values", "[evaluation]") {
  const std::vector<std::int64_t> a{0, 0, 1, 1};
  const std::vector<std::int64_t> renamed{7, 7, 3, 3};
  const std::vector<std::int64_t> independent{0, 1, 0, 1};
  const std::vector<std::int64_t> single{4, 4, 4, 4};
  CHECK(pdml::normalized_mutual_information(a.data(), renamed.data(), 4) == Approx(1.0));
  CHECK(pdml::normalized_mutual_information(a.data(), independent.data(), 4) ==
        Approx(0.0).margin(1e-15));
  CHECK(pdml::normalized_mutual_information(single.data(), single.data(), 4) == 1.0);
  CHECK(pdml::normalized_mutual_information(a.data(), single.data(), 4) == 0.0);
  // a = {0,0,0,1,1,1}, b = {0,0,1,1,2,2}: H(a) = ln 2, H(b) = ln 3,
  // I = H(b) - H(b|a) = ln 3 - (2/3) ln 2 (b given a is uniform on 1 point w.p. 2/3... computed:
  // joint counts (0,0)=2 (0,1)=1 (1,1)=1 (1,2)=2 -> I = sum p log(p/(pa pb)).
  const std::vector<std::int64_t> x{0, 0, 0, 1, 1, 1};
  const std::vector<std::int64_t> y{0, 0, 1, 1, 2, 2};
  const double i_xy = (2.0 / 6) * std::log((2.0 / 6) / (0.5 / 3)) * 2 +
                      (1.0 / 6) * std::log((1.0 / 6) / (0.5 / 3)) * 2;
  const double expected = i_xy / (0.5 * (std::log(2.0) + std::log(3.0)));
  CHECK(pdml::normalized_mutual_information(x.data(), y.data(), 6) == Approx(expected));
}

TEST_CASE("k-means recovers well-separated blobs, deterministically", "[evaluation]") {
  std::mt19937_64 engine(2);
  std::normal_distribution<double> normal;
  const Index k = 5, per = 60, d = 3, n = k * per;
  std::vector<double> x(static_cast<std::size_t>(n * d));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    labels[i] = i % k;
    for (Index c = 0; c < d; ++c) x[i * d + c] = 20.0 * double(labels[i] == c) +
                                                 10.0 * double(labels[i] == 4) + normal(engine);
  }
  const pdml::ConstMatrixView<double> view{x.data(), n, d, d};
  pdml::KMeansOptions options;
  options.seed = 42;
  const auto first = pdml::kmeans(view, k, options);
  const auto second = pdml::kmeans(view, k, options);
  CHECK(first.assignments == second.assignments);
  CHECK(first.inertia == second.inertia);
  CHECK(pdml::normalized_mutual_information(first.assignments.data(), labels.data(), n) ==
        Approx(1.0));
  // The inertia is the sum of squared distances to the reported centroids,
  // and every point sits at its closest centroid (a Lloyd fixed point).
  double inertia = 0;
  for (Index i = 0; i < n; ++i) {
    double best = 1e300, own = 0;
    for (Index c = 0; c < k; ++c) {
      double dist = 0;
      for (Index j = 0; j < d; ++j) {
        const double diff = x[i * d + j] - first.centroids(c, j);
        dist += diff * diff;
      }
      best = std::min(best, dist);
      if (c == first.assignments[i]) own = dist;
    }
    CHECK(own == Approx(best));
    inertia += own;
  }
  CHECK(first.inertia == Approx(inertia));
  // The clustering NMI helper on the same data (Euclidean, as many clusters as labels).
  CHECK(pdml::clustering_nmi(view, labels.data(), pdml::Distance::euclidean, options) ==
        Approx(1.0));
  pdml::KMeansOptions other_block = options;
  other_block.block = 7;
  CHECK(pdml::kmeans(view, k, other_block).assignments.size() == first.assignments.size());
}

TEST_CASE("k-means handles duplicate points and k = N", "[evaluation]") {
  const std::vector<float> x{1, 1, 1, 1, 1, 1};
  const auto result = pdml::kmeans(pdml::ConstMatrixView<float>{x.data(), 3, 2, 2}, 3);
  CHECK(result.inertia == 0.0);
  CHECK(result.assignments.size() == 3);
}

TEST_CASE("k-means and NMI validate their arguments", "[evaluation]") {
  std::vector<double> x{0, 1, 2};
  auto message_of = [&](auto&& call) {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const pdml::ConstMatrixView<double> view{x.data(), 3, 1, 1};
  CHECK_THAT(message_of([&] { pdml::kmeans(view, 4); }), Catch::Contains("'n_clusters'"));
  pdml::KMeansOptions bad;
  bad.restarts = 0;
  CHECK_THAT(message_of([&] { pdml::kmeans(view, 2, bad); }),
             Catch::Contains("'options.restarts'"));
  CHECK_THAT(message_of([&] { pdml::normalized_mutual_information(nullptr, nullptr, 3); }),
             Catch::Contains("'labels_a'"));
  CHECK_THAT(message_of([&] { pdml::clustering_nmi<double>(view, nullptr); }),
             Catch::Contains("'labels'"));
}
