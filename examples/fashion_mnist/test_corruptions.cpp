// SPDX-License-Identifier: MIT
// Tests of the corruption and ambiguity suite's pieces: the blur kernel and
// blur, occlusion, mean-preserving noise, two-class mixing, mixing partners,
// the nearest-neighbour correctness and the suite's AUROC and rejection wiring.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "corruption_suite.hpp"
#include "corruptions.hpp"
#include "mlp.hpp"

namespace {

// AUROC from its definition, every (clean, corrupted) pair: clean above counts 1, ties 1/2.
double pairwise_auroc(const std::vector<double>& clean, const std::vector<double>& corrupted) {
  double wins = 0;
  for (double a : clean) {
    for (double b : corrupted) wins += a > b ? 1.0 : (a == b ? 0.5 : 0.0);
  }
  return wins / (static_cast<double>(clean.size()) * static_cast<double>(corrupted.size()));
}

// A 12 x 10 image that is zero within `margin` pixels of the border.
std::vector<float> framed_image(int rows, int cols, int margin, std::uint64_t seed) {
  fmnist::NormalStream normal(seed);
  std::vector<float> image(static_cast<std::size_t>(rows * cols), 0.0f);
  for (int y = margin; y < rows - margin; ++y) {
    for (int x = margin; x < cols - margin; ++x) image[static_cast<std::size_t>(y * cols + x)] = float(normal.uniform());
  }
  return image;
}

}  // namespace

TEST_CASE("Gaussian kernel: normalized, symmetric, Gaussian ratios", "[fashion_mnist]") {
  for (double sigma : {0.3, 0.5, 1.0, 1.5, 3.0}) {
    CAPTURE(sigma);
    const auto k = fmnist::gaussian_kernel(sigma);
    const int radius = static_cast<int>(std::ceil(3 * sigma));
    REQUIRE(k.size() == static_cast<std::size_t>(2 * radius + 1));
    CHECK(std::accumulate(k.begin(), k.end(), 0.0) == Approx(1.0).epsilon(1e-14));
    for (int i = 0; i <= radius; ++i) {
      CHECK(k[static_cast<std::size_t>(radius + i)] == k[static_cast<std::size_t>(radius - i)]);
      // w(i) / w(0) = exp(-i^2 / (2 sigma^2)).
      CHECK(k[static_cast<std::size_t>(radius + i)] / k[static_cast<std::size_t>(radius)] ==
            Approx(std::exp(-0.5 * i * i / (sigma * sigma))).epsilon(1e-13));
    }
  }
  CHECK_THROWS_AS(fmnist::gaussian_kernel(0.0), std::invalid_argument);
  CHECK_THROWS_AS(fmnist::gaussian_kernel(std::nan("")), std::invalid_argument);
}

TEST_CASE("blur: a point spreads as the outer product of the kernel; the mean is kept inside the frame",
          "[fashion_mnist]") {
  const int rows = 12, cols = 10;
  std::vector<float> point(static_cast<std::size_t>(rows * cols), 0.0f), out(point.size());
  point[static_cast<std::size_t>(6 * cols + 5)] = 1.0f;
  fmnist::gaussian_blur(point.data(), rows, cols, 1.0, out.data());
  const auto k = fmnist::gaussian_kernel(1.0);  // radius 3
  for (int dy = -3; dy <= 3; ++dy) {
    for (int dx = -3; dx <= 3; ++dx) {
      CHECK(out[static_cast<std::size_t>((6 + dy) * cols + 5 + dx)] ==
            Approx(k[static_cast<std::size_t>(dy + 3)] * k[static_cast<std::size_t>(dx + 3)]).epsilon(1e-6));
    }
  }
  CHECK(out[0] == 0.0f);
  // Zero within the kernel radius (2 for sigma 0.5) of the border: no mass leaves the frame.
  const auto image = framed_image(rows, cols, 2, 3);
  fmnist::gaussian_blur(image.data(), rows, cols, 0.5, out.data());
  CHECK(fmnist::mean_intensity(out.data(), rows * cols) ==
        Approx(fmnist::mean_intensity(image.data(), rows * cols)).epsilon(1e-6));
  // Near the border mass is lost (zero padding), so the promise is only inside the frame.
  std::vector<float> edge(static_cast<std::size_t>(rows * cols), 0.0f);
  edge[0] = 1.0f;
  fmnist::gaussian_blur(edge.data(), rows, cols, 1.0, out.data());
  CHECK(fmnist::mean_intensity(out.data(), rows * cols) < fmnist::mean_intensity(edge.data(), rows * cols));
}

TEST_CASE("occlusion: a centred square filled with the image's mean, the rest untouched",
          "[fashion_mnist]") {
  const int rows = 12, cols = 10;
  const auto image = framed_image(rows, cols, 1, 5);
  const double mean = fmnist::mean_intensity(image.data(), rows * cols);
  const int side = fmnist::occlusion_side(rows, cols, 0.4);
  CHECK(side == 4);  // 0.4 of the shorter side, 10
  std::vector<float> out(image.size());
  fmnist::occlude(image.data(), rows, cols, side, out.data());
  int filled = 0;
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      const auto i = static_cast<std::size_t>(y * cols + x);
      const bool inside = y >= 4 && y < 8 && x >= 3 && x < 7;
      if (inside) {
        CHECK(out[i] == Approx(mean).epsilon(1e-6));
        ++filled;
      } else {
        CHECK(out[i] == image[i]);
      }
    }
  }
  CHECK(filled == 16);
}

TEST_CASE("noise: the mean intensity is kept and the added spread is the requested sd",
          "[fashion_mnist]") {
  const int pixels = 784;
  const auto image = framed_image(28, 28, 3, 7);
  std::vector<float> out(image.size());
  double spread = 0;
  const int trials = 50;
  for (int t = 0; t < trials; ++t) {
    fmnist::NormalStream normal(100 + static_cast<std::uint64_t>(t));
    fmnist::add_mean_preserving_noise(image.data(), pixels, 0.3, normal, out.data());
    CHECK(fmnist::mean_intensity(out.data(), pixels) ==
          Approx(fmnist::mean_intensity(image.data(), pixels)).margin(1e-6));
    for (int p = 0; p < pixels; ++p) {
      const double d = out[static_cast<std::size_t>(p)] - image[static_cast<std::size_t>(p)];
      spread += d * d;
    }
  }
  // E[sum (n - mean n)^2] = (P - 1) sd^2; 39 200 squares, relative sd of the estimate ~0.7%.
  const double sd = std::sqrt(spread / (trials * (pixels - 1.0)));
  CHECK(sd == Approx(0.3).epsilon(0.03));
}

TEST_CASE("mixing: (1 - l) a + l b, partners of another class, l limited to (0, 0.5]",
          "[fashion_mnist]") {
  const std::vector<float> a{1.0f, 0.0f, 0.5f}, b{0.0f, 1.0f, 0.5f};
  std::vector<float> out(3);
  for (double l : {0.1, 0.2, 0.3, 0.4, 0.5}) {
    fmnist::mix_images(a.data(), b.data(), 3, l, out.data());
    CHECK(out[0] == Approx(1.0 - l).epsilon(1e-7));
    CHECK(out[1] == Approx(l).epsilon(1e-7));
    CHECK(out[2] == Approx(0.5).epsilon(1e-7));
  }
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 60; ++i) labels.push_back(i % 3);
  const auto partners = fmnist::mixing_partners(labels, 9);
  REQUIRE(partners.size() == labels.size());
  std::vector<int> hits(3, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    CHECK(labels[static_cast<std::size_t>(partners[i])] != labels[i]);
    ++hits[static_cast<std::size_t>(labels[static_cast<std::size_t>(partners[i])])];
  }
  for (int h : hits) CHECK(h > 0);
  CHECK(fmnist::mixing_partners(labels, 9) == partners);
  CHECK_THROWS_AS(fmnist::mixing_partners(std::vector<std::int64_t>(5, 1), 0), std::invalid_argument);
  fmnist::Matrix images = fmnist::Matrix::Zero(2, 4);
  CHECK_THROWS_AS(fmnist::corrupt(images, 2, 2, fmnist::CorruptionKind::mix, 0.6, {1, 0}, 0),
                  std::invalid_argument);
  CHECK_THROWS_AS(fmnist::corrupt(images, 2, 2, fmnist::CorruptionKind::mix, 0.5, {1}, 0),
                  std::invalid_argument);
  CHECK_THROWS_AS(fmnist::corrupt(images, 3, 2, fmnist::CorruptionKind::blur, 1.0, {}, 0),
                  std::invalid_argument);
}

TEST_CASE("Pearson correlation", "[fashion_mnist]") {
  CHECK(fmnist::pearson({1, 2, 3, 4}, {2, 4, 6, 8}) == Approx(1.0).epsilon(1e-14));
  CHECK(fmnist::pearson({1, 2, 3, 4}, {8, 6, 4, 2}) == Approx(-1.0).epsilon(1e-14));
  // Hand-computed: x = 1,2,3; y = 1,3,2 -> cov 0.5 (x2), var 1, 1 -> r = 0.5.
  CHECK(fmnist::pearson({1, 2, 3}, {1, 3, 2}) == Approx(0.5).epsilon(1e-14));
}

TEST_CASE("nearest_is_correct skips the source image and accepts either label of a mixture",
          "[fashion_mnist]") {
  // Gallery directions: rows 0 and 1 along x (labels 0, 1), row 2 along y (label 2).
  fmnist::Matrix gallery(3, 2);
  gallery << 1, 0, 2, 0.01f, 0, 1;
  const std::vector<std::int64_t> gallery_labels{0, 1, 2};
  fmnist::Matrix queries(2, 2);
  queries << 3, 0, 0, 5;
  // Query 0 is gallery row 0's corrupted copy: its neighbour is row 1 (label 1).
  auto correct = fmnist::nearest_is_correct(queries, gallery, gallery_labels, {0, 1}, {0, 2}, {0, 2});
  CHECK(correct == std::vector<std::uint8_t>{0, 1});
  correct = fmnist::nearest_is_correct(queries, gallery, gallery_labels, {0, 1}, {0, 2}, {1, 2});
  CHECK(correct == std::vector<std::uint8_t>{1, 1});
  correct = fmnist::nearest_is_correct(queries, gallery, gallery_labels, {2, 2}, {0, 2}, {0, 2});
  CHECK(correct == std::vector<std::uint8_t>{1, 0});
}

TEST_CASE("the suite's AUROCs, relative means and rejection curves are wired to their scores",
          "[fashion_mnist]") {
  // 40 images of 12 x 10 in 4 classes; the "network" is the identity (|e| = the
  // pixel norm) and the "untrained network" twice the identity (the same ranking).
  const int rows = 12, cols = 10, n = 40;
  fmnist::Matrix images(n, rows * cols);
  std::vector<std::int64_t> labels;
  for (int i = 0; i < n; ++i) {
    const auto image = framed_image(rows, cols, 3, 50 + static_cast<std::uint64_t>(i));
    for (int p = 0; p < rows * cols; ++p) images(i, p) = image[static_cast<std::size_t>(p)] * float(1 + i % 4);
    labels.push_back(i % 4);
  }
  const std::function<fmnist::Matrix(const fmnist::Matrix&)> identity = [](const fmnist::Matrix& x) { return x; };
  const std::function<fmnist::Matrix(const fmnist::Matrix&)> twice = [](const fmnist::Matrix& x) {
    return fmnist::Matrix(2.0f * x);
  };
  const fmnist::SuiteResult suite =
      fmnist::run_corruption_suite("toy", images, labels, rows, cols, n, 1, identity, twice);
  CHECK(suite.images == n);
  REQUIRE(suite.rows.size() == 20);
  std::vector<double> clean_norms, clean_means;
  for (int i = 0; i < n; ++i) {
    clean_norms.push_back(images.row(i).norm());
    clean_means.push_back(fmnist::mean_intensity(images.row(i).data(), rows * cols));
  }
  for (const fmnist::SuiteRow& row : suite.rows) {
    CAPTURE(fmnist::corruption_name(row.kind), row.strength);
    CHECK(row.auroc[2] == Approx(row.auroc[0]).epsilon(1e-12));
    CHECK(row.relative_untrained_norm == Approx(row.relative_norm).epsilon(1e-6));
    if (row.kind == fmnist::CorruptionKind::noise) {
      CHECK(row.relative_intensity == Approx(1.0).epsilon(1e-6));
    }
    if (row.kind == fmnist::CorruptionKind::mix) continue;  // partners follow the subset's order
    if (row.kind == fmnist::CorruptionKind::noise) continue;  // noise is seeded by subset row
    // Blur and occlusion act per image: the subset's order (a permutation of all
    // 40) cannot change the AUROCs, so they must equal the pairwise definition.
    const fmnist::Matrix x = fmnist::corrupt(images, rows, cols, row.kind, row.strength, {}, 0);
    std::vector<double> norms, means;
    for (int i = 0; i < n; ++i) {
      norms.push_back(x.row(i).norm());
      means.push_back(fmnist::mean_intensity(x.row(i).data(), rows * cols));
    }
    CHECK(row.auroc[0] == Approx(pairwise_auroc(clean_norms, norms)).epsilon(1e-12));
    CHECK(row.auroc[1] == Approx(pairwise_auroc(clean_means, means)).epsilon(1e-12));
    const double mean_ratio = std::accumulate(norms.begin(), norms.end(), 0.0) /
                              std::accumulate(clean_norms.begin(), clean_norms.end(), 0.0);
    CHECK(row.relative_norm == Approx(mean_ratio).epsilon(1e-6));
  }
  REQUIRE(suite.curves.size() == 5);
  CHECK(suite.curves[0].pool == "clean");
  for (const fmnist::RejectionCurve& c : suite.curves) {
    CAPTURE(c.pool);
    for (int s = 0; s < 3; ++s) {
      REQUIRE(c.recall[s].size() == 10);
      CHECK(c.recall[s].back() == Approx(c.random_floor).epsilon(1e-12));  // q = 100%
    }
    CHECK(c.recall[2] == c.recall[0]);
  }
}
