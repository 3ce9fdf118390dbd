// SPDX-License-Identifier: MIT
// Tests of the Fashion-MNIST trainer's pieces: IDX parsing, the MLP backward
// against finite differences, Adam, class-balanced batches, the command line
// and the pictures.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <zlib.h>

#include "adam.hpp"
#include "args.hpp"
#include "batches.hpp"
#include "criterion.hpp"
#include "idx.hpp"
#include "mlp.hpp"
#include "pictures.hpp"

namespace {

std::vector<std::uint8_t> idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> bytes{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

void write_raw(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no exception";
}

}  // namespace

TEST_CASE("IDX files are parsed, gzipped or plain, and malformed ones are rejected",
          "[fashion_mnist]") {
  // 3 images of 2 x 3 pixels with values 0..17, labels 7, 0, 9.
  std::vector<std::uint8_t> pixels(18);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 15);
  write_gz("pieces-images.gz", idx_bytes(0x08, {3, 2, 3}, pixels));
  write_raw("pieces-labels", idx_bytes(0x08, {3}, {7, 0, 9}));
  const fmnist::IdxArray images = fmnist::read_idx("pieces-images.gz");
  CHECK(images.dims == std::vector<std::uint32_t>{3, 2, 3});
  CHECK(images.data == pixels);

  const fmnist::Split split = fmnist::read_split("pieces-images.gz", "pieces-labels");
  CHECK(split.images.rows() == 3);
  CHECK(split.images.cols() == 6);
  CHECK(split.image_rows == 2);
  CHECK(split.image_cols == 3);
  CHECK(split.images(1, 2) == Approx(8 * 15 / 255.0));
  CHECK(split.labels == std::vector<std::int64_t>{7, 0, 9});
  const fmnist::Split high = fmnist::select_classes(split, 5, 9);
  CHECK(high.labels == std::vector<std::int64_t>{7, 9});
  CHECK(high.images(1, 0) == Approx(12 * 15 / 255.0));

  write_raw("pieces-bad-magic", {1, 0, 8, 1, 0, 0, 0, 1, 5});
  CHECK_THAT(error_of([] { fmnist::read_idx("pieces-bad-magic"); }), Catch::Contains("magic"));
  write_raw("pieces-bad-type", idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  CHECK_THAT(error_of([] { fmnist::read_idx("pieces-bad-type"); }), Catch::Contains("type"));
  auto truncated = idx_bytes(0x08, {4}, {1, 2, 3});
  write_gz("pieces-truncated.gz", truncated);
  CHECK_THAT(error_of([] { fmnist::read_idx("pieces-truncated.gz"); }),
             Catch::Contains("truncated"));
  write_raw("pieces-trailing", idx_bytes(0x08, {1}, {1, 2}));
  CHECK_THAT(error_of([] { fmnist::read_idx("pieces-trailing"); }), Catch::Contains("trailing"));
  CHECK_THAT(error_of([] { fmnist::read_idx("pieces-missing-file"); }),
             Catch::Contains("cannot open"));
  write_raw("pieces-labels-short", idx_bytes(0x08, {2}, {1, 2}));
  CHECK_THAT(error_of([] { fmnist::read_split("pieces-images.gz", "pieces-labels-short"); }),
             Catch::Contains("labels"));
}

TEST_CASE("MLP backward equals central finite differences", "[fashion_mnist]") {
  // L = sum(out .* R) is piecewise linear in every parameter (ReLU network),
  // so central differences are exact away from kinks; the tolerance covers
  // float rounding.
  fmnist::Mlp mlp({7, 9, 6, 4}, 3);
  fmnist::NormalStream normal(5);
  fmnist::Matrix x(5, 7), r(5, 4);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = float(normal());
  for (Eigen::Index i = 0; i < r.size(); ++i) r.data()[i] = float(normal());
  for (auto& b : mlp.biases()) {
    for (Eigen::Index i = 0; i < b.size(); ++i) b(i) = float(0.1 * normal());
  }
  auto loss = [&]() {
    fmnist::Matrix out;
    mlp.forward(x, out, nullptr);
    return double((out.cwiseProduct(r)).sum());
  };
  fmnist::Mlp::Saved saved;
  fmnist::Matrix out;
  mlp.forward(x, out, &saved);
  fmnist::Mlp::Gradients grads;
  fmnist::Matrix grad_x;
  mlp.backward(saved, r, grads, &grad_x);
  const float h = 1e-2f;
  double worst = 0;
  auto check = [&](float& value, double analytic) {
    const float keep = value;
    value = keep + h;
    const double up = loss();
    value = keep - h;
    const double down = loss();
    value = keep;
    const double numeric = (up - down) / (2.0 * double(h));
    const double error = std::abs(numeric - analytic) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, error);
  };
  for (std::size_t l = 0; l < mlp.layers(); ++l) {
    for (Eigen::Index i = 0; i < mlp.weights()[l].size(); ++i) {
      check(mlp.weights()[l].data()[i], grads.weights[l].data()[i]);
    }
    for (Eigen::Index i = 0; i < mlp.biases()[l].size(); ++i) {
      check(mlp.biases()[l].data()[i], grads.biases[l].data()[i]);
    }
  }
  for (Eigen::Index i = 0; i < x.size(); ++i) check(x.data()[i], grad_x.data()[i]);
  CAPTURE(worst);
  CHECK(worst < 2e-3);
}

TEST_CASE("Adam follows the bias-corrected update with group multipliers", "[fashion_mnist]") {
  std::vector<float> a{1.0f, -2.0f}, ga{0.5f, -4.0f};
  std::vector<float> b{3.0f}, gb{2.0f};
  fmnist::Adam adam(fmnist::AdamOptions{0.1f});
  adam.add_group("a", a.data(), ga.data(), 2, 1.0f);
  adam.add_group("b", b.data(), gb.data(), 1, 10.0f, 0.5f);
  adam.step();
  // First step: m_hat = g, v_hat = g^2, so the update is lr * sign(g) (eps negligible).
  CHECK(a[0] == Approx(1.0 - 0.1).epsilon(1e-6));
  CHECK(a[1] == Approx(-2.0 + 0.1).epsilon(1e-6));
  // Group b: lr 1, decoupled decay 0.5 -> 3 - 1*0.5*3 - 1 = 0.5.
  CHECK(b[0] == Approx(0.5).epsilon(1e-6));
  // Second step with the same gradient: m_hat = g, v_hat = g^2 again.
  adam.step();
  CHECK(a[0] == Approx(1.0 - 0.2).epsilon(1e-5));
  // A changing gradient: reference computed from the textbook recurrences in double.
  ga[0] = -1.0f;
  adam.step();
  const double m = 0.9 * (0.9 * 0.1 * 0.5 + 0.1 * 0.5) + 0.1 * -1.0;
  const double v = 0.999 * (0.999 * 0.001 * 0.25 + 0.001 * 0.25) + 0.001 * 1.0;
  const double m_hat = m / (1 - std::pow(0.9, 3)), v_hat = v / (1 - std::pow(0.999, 3));
  CHECK(a[0] == Approx(0.8 - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8)).epsilon(1e-5));
  CHECK(adam.steps() == 3);
}

TEST_CASE("class-balanced batches hold per_class images of each class", "[fashion_mnist]") {
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 60; ++i) labels.push_back(i % 5);
  fmnist::BalancedBatches batches(labels, 5, 4, 11);
  CHECK(batches.batch_size() == 20);
  CHECK(batches.batches_per_epoch() == 3);
  std::multiset<std::int64_t> seen;
  for (int b = 0; b < 3; ++b) {
    const auto rows = batches.next();
    REQUIRE(rows.size() == 20);
    std::map<std::int64_t, int> per_class;
    for (auto r : rows) {
      ++per_class[labels[static_cast<std::size_t>(r)]];
      seen.insert(r);
    }
    CHECK(per_class.size() == 5);
    for (const auto& entry : per_class) CHECK(entry.second == 4);
  }
  // One epoch visits every image exactly once (12 per class, 3 batches of 4).
  CHECK(seen.size() == 60);
  CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 60);
  fmnist::BalancedBatches again(labels, 5, 4, 11);
  fmnist::BalancedBatches other(labels, 5, 4, 12);
  fmnist::BalancedBatches first(labels, 5, 4, 11);
  CHECK(again.next() == first.next());
  CHECK(other.next() != again.next());
  fmnist::BalancedBatches subset(labels, 2, 3, 1);
  std::map<std::int64_t, int> per_class;
  for (auto r : subset.next()) ++per_class[labels[static_cast<std::size_t>(r)]];
  CHECK(per_class.size() == 2);
  CHECK_THAT(error_of([&] { fmnist::BalancedBatches(labels, 5, 1, 0); }),
             Catch::Contains("per_class"));
  CHECK_THAT(error_of([&] { fmnist::BalancedBatches(labels, 6, 2, 0); }),
             Catch::Contains("classes_per_batch"));
}

TEST_CASE("the command line is parsed and bad arguments are explained", "[fashion_mnist]") {
  auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "fashion_mnist");
    return fmnist::parse_arguments(static_cast<int>(args.size()), args.data());
  };
  const fmnist::Config c = parse({"--loss", "proxyanchor", "--epochs", "3", "--hidden", "256,128",
                                  "--lr", "2e-4", "--quiet", "--seed", "9"});
  CHECK(c.loss == fmnist::LossKind::proxy_anchor);
  CHECK(c.epochs == 3);
  CHECK(c.hidden == std::vector<long>{256, 128});
  CHECK(c.learning_rate == Approx(2e-4));
  CHECK(c.quiet);
  CHECK(c.seed == 9);
  CHECK(parse({"--help"}).help);
  CHECK(c.protocol == fmnist::Protocol::zero_shot);
  CHECK(c.suite_images == 2000);
  const fmnist::Config seen = parse({"--protocol", "seen", "--suite-images", "0"});
  CHECK(seen.protocol == fmnist::Protocol::seen);
  CHECK(seen.suite_images == 0);
  CHECK_THAT(error_of([&] { parse({"--protocol", "fewshot"}); }),
             Catch::Contains("unknown protocol 'fewshot'"));
  CHECK_THAT(error_of([&] { parse({"--suite-images", "-1"}); }), Catch::Contains("--suite-images"));
  CHECK_THAT(error_of([&] { parse({"--loss", "triplet"}); }), Catch::Contains("unknown loss 'triplet'"));
  CHECK_THAT(error_of([&] { parse({"--epochs"}); }), Catch::Contains("--epochs needs a value"));
  CHECK_THAT(error_of([&] { parse({"--epochs", "2.5"}); }), Catch::Contains("--epochs"));
  CHECK_THAT(error_of([&] { parse({"--per-class", "1"}); }), Catch::Contains("--per-class"));
  CHECK_THAT(error_of([&] { parse({"--lr", "nan"}); }), Catch::Contains("--lr"));
  CHECK_THAT(error_of([&] { parse({"--lr", "-1"}); }), Catch::Contains("--lr"));
  CHECK_THAT(error_of([&] { parse({"--hidden", "64,,2"}); }), Catch::Contains("--hidden"));
  CHECK_THAT(error_of([&] { parse({"--frobnicate", "1"}); }),
             Catch::Contains("unknown option '--frobnicate'"));
  CHECK_THAT(error_of([&] { parse({"stray"}); }), Catch::Contains("unexpected argument 'stray'"));
}

TEST_CASE("pictures: the PNG grid reads back and the SVG holds the curves", "[fashion_mnist]") {
  std::vector<float> white(4, 0.0f), black(4, 1.0f);
  fmnist::write_image_grid("pieces-grid.png", {{white.data(), black.data()}, {black.data()}}, 2, 2, 1);
  std::FILE* f = std::fopen("pieces-grid.png", "rb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_read_info(png, info);
  const auto width = png_get_image_width(png, info);
  const auto height = png_get_image_height(png, info);
  // 2 columns of 2 px + 3 gaps of 2 px; 2 rows of 2 px + 3 row gaps of 6 px.
  CHECK(width == 2 * 2 + 3 * 2);
  CHECK(height == 2 * 2 + 3 * 6);
  std::vector<std::uint8_t> row(width);
  for (int y = 0; y < 7; ++y) png_read_row(png, row.data(), nullptr);  // row 6 = first image row
  CHECK(int(row[2]) == 255);  // pixel value 0 drawn white
  CHECK(int(row[6]) == 0);    // pixel value 1 drawn black
  png_destroy_read_struct(&png, &info, nullptr);
  std::fclose(f);

  fmnist::Curve curve{"loss", "#000", {0, 1, 2}, {3, 2, 1}};
  fmnist::write_svg_panels("pieces-curve.svg", "a <title>", {{"panel", {curve}}}, "epoch");
  std::ifstream in("pieces-curve.svg");
  std::stringstream text;
  text << in.rdbuf();
  CHECK_THAT(text.str(), Catch::Contains("<polyline"));
  CHECK_THAT(text.str(), Catch::Contains("a &lt;title&gt;"));
  CHECK_THAT(text.str(), Catch::EndsWith("</svg>\n"));
}

TEST_CASE("every criterion trains a small MLP on separable synthetic classes", "[fashion_mnist]") {
  // Five Gaussian classes in 12 dimensions; an MLP 12-24-8 with the trainer's
  // criterion, Adam groups and warm start. 60 steps must lower the loss and
  // leave every parameter finite.
  fmnist::NormalStream normal(21);
  const Eigen::Index per_class = 16, classes = 5, n = per_class * classes, in = 12;
  fmnist::Matrix centres(classes, in);
  for (Eigen::Index i = 0; i < centres.size(); ++i) centres.data()[i] = float(2.0 * normal());
  for (fmnist::LossKind kind : {fmnist::LossKind::el_nivmf, fmnist::LossKind::proxy_anchor,
                                fmnist::LossKind::proxy_nca, fmnist::LossKind::el_vmf}) {
    CAPTURE(fmnist::loss_name(kind));
    fmnist::Config config;
    config.loss = kind;
    config.samples = 4;
    config.kappa_init = 8.0f;
    fmnist::Mlp mlp({in, 24, 8}, 5, 4.0f);
    fmnist::Criterion criterion(config, classes, 8);
    fmnist::Matrix x(n, in);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) {
      labels[static_cast<std::size_t>(i)] = i % classes;
      for (Eigen::Index c = 0; c < in; ++c) x(i, c) = centres(i % classes, c) + float(normal());
    }
    fmnist::Matrix e;
    mlp.forward(x, e, nullptr);
    criterion.warm_start(e, labels);
    fmnist::Mlp::Gradients grads;
    grads.weights = {fmnist::Matrix::Zero(in, 24), fmnist::Matrix::Zero(24, 8)};
    grads.biases = {fmnist::RowVector::Zero(24), fmnist::RowVector::Zero(8)};
    fmnist::Adam adam(fmnist::AdamOptions{3e-3f});
    for (std::size_t l = 0; l < 2; ++l) {
      adam.add_group("w", mlp.weights()[l].data(), grads.weights[l].data(), mlp.weights()[l].size(), 1.0f);
      adam.add_group("b", mlp.biases()[l].data(), grads.biases[l].data(), mlp.biases()[l].size(), 1.0f);
    }
    adam.add_group("proxies", criterion.proxies.data(), criterion.grad_proxies.data(),
                   criterion.proxies.size(), 10.0f);
    if (criterion.has_kappas()) {
      adam.add_group("kappas", criterion.kappas.data(), criterion.grad_kappas.data(),
                     criterion.kappas.size(), 10.0f);
    }
    if (criterion.has_temperature()) {
      adam.add_group("log_t", &criterion.log_temperature, &criterion.grad_log_temperature, 1, 1.0f);
    }
    fmnist::Mlp::Saved saved;
    fmnist::Matrix grad_e;
    double first = 0, last = 0;
    for (int step = 0; step < 60; ++step) {
      mlp.forward(x, e, &saved);
      const float loss = criterion.forward_backward(e, labels, pdml::RngKey{7, std::uint64_t(step)}, grad_e);
      REQUIRE(std::isfinite(loss));
      REQUIRE(grad_e.allFinite());
      mlp.backward(saved, grad_e, grads);
      adam.step();
      if (step < 5) first += loss / 5.0;
      if (step >= 55) last += loss / 5.0;
    }
    CAPTURE(first, last);
    CHECK(last < 0.8 * first);
    CHECK(criterion.proxies.allFinite());
    CHECK(std::isfinite(criterion.temperature()));
  }
}
