// SPDX-License-Identifier: MIT
// Fashion-MNIST trainer: an MLP embedding network trained with a pdml criterion
// on classes 0-4, evaluated by retrieval on the held-out classes 5-9
// (zero-shot) and on the test images of the seen classes (or trained on all
// ten classes and evaluated on their test images), followed by the corruption
// and ambiguity suite (corruption_suite.hpp). See --help.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>

#include "adam.hpp"
#include "args.hpp"
#include "batches.hpp"
#include "corruption_suite.hpp"
#include "corruptions.hpp"
#include "criterion.hpp"
#include "idx.hpp"
#include "mlp.hpp"
#include "pictures.hpp"
#include "progress.hpp"

namespace fmnist {
namespace {

struct Metrics {
  double recall[4] = {0, 0, 0, 0};  // R@1, R@2, R@4, R@8
  double map_at_r = 0;
  double nmi = 0;
  double norm_auroc = 0;
  double mean_norm = 0;
  long images = 0;
};

Matrix embed(const Mlp& mlp, const Matrix& images) {
  Matrix out(images.rows(), mlp.output_size());
  const Eigen::Index chunk = 2048;
  Matrix part;
  for (Eigen::Index r = 0; r < images.rows(); r += chunk) {
    const Eigen::Index n = std::min(chunk, images.rows() - r);
    mlp.forward(images.middleRows(r, n), part, nullptr);
    out.middleRows(r, n) = part;
  }
  return out;
}

pdml::ConstMatrixView<float> cview(const Matrix& m) {
  return pdml::ConstMatrixView<float>{m.data(), m.rows(), m.cols(), m.cols()};
}

Metrics evaluate(const Matrix& embeddings, const std::vector<std::int64_t>& labels,
                 std::uint64_t seed) {
  Metrics m;
  pdml::RetrievalOptions options;
  options.recall_ks = {1, 2, 4, 8};
  const auto retrieval = pdml::evaluate_retrieval(cview(embeddings), labels.data(), options);
  for (int t = 0; t < 4; ++t) m.recall[t] = retrieval.recall_at_k[static_cast<std::size_t>(t)];
  m.map_at_r = retrieval.map_at_r;
  pdml::KMeansOptions kmeans;
  kmeans.seed = seed;
  m.nmi = pdml::clustering_nmi(cview(embeddings), labels.data(), pdml::Distance::cosine, kmeans);
  m.norm_auroc = pdml::norm_uncertainty_auroc(cview(embeddings), retrieval.nearest_is_correct);
  m.mean_norm = embeddings.rowwise().norm().mean();
  m.images = embeddings.rows();
  return m;
}

double heldout_recall_at_1(const Matrix& embeddings, const std::vector<std::int64_t>& labels) {
  pdml::RetrievalOptions options;
  options.recall_ks = {1};
  options.compute_map_at_r = false;
  return pdml::evaluate_retrieval(cview(embeddings), labels.data(), options).recall_at_k[0];
}

bool file_exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

/// The IDX file for `stem`, gzipped or not; empty when neither exists.
std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {dir + "/" + stem + ".gz", dir + "/" + stem}) {
    if (file_exists(candidate)) return candidate;
  }
  return "";
}

void make_directories(const std::string& path) {
  std::string partial;
  std::stringstream stream(path);
  std::string piece;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(stream, piece, '/')) {
    if (piece.empty()) continue;
    partial += piece + "/";
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      throw std::runtime_error("cannot create directory '" + partial + "'");
    }
  }
}

std::string fixed(double v, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, v);
  return buffer;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

std::string metrics_json(const Metrics& m) {
  std::ostringstream os;
  os << "{\"images\": " << m.images << ", \"recall_at_1\": " << json_number(m.recall[0])
     << ", \"recall_at_2\": " << json_number(m.recall[1])
     << ", \"recall_at_4\": " << json_number(m.recall[2])
     << ", \"recall_at_8\": " << json_number(m.recall[3])
     << ", \"map_at_r\": " << json_number(m.map_at_r) << ", \"nmi\": " << json_number(m.nmi)
     << ", \"norm_auroc\": " << json_number(m.norm_auroc)
     << ", \"mean_norm\": " << json_number(m.mean_norm) << "}";
  return os.str();
}

/// The corruption suite's summary table and rejection figures for one split.
void print_suite(const SuiteResult& suite, const std::string& title) {
  std::printf("\nCorruption suite, %s: %ld test images (clean R@1 %.2f). AUROC of clean vs corrupted,"
              " ranked by |e|,\nby the mean intensity (ink) and by the untrained network's |e|"
              " (0.5 = chance); corr(|e|, ink) on clean images %.2f (untrained %.2f)\n",
              title.c_str(), suite.images, 100 * suite.clean_recall_at_1,
              suite.norm_intensity_correlation, suite.untrained_norm_intensity_correlation);
  std::printf("%-10s %9s %10s %10s %10s %12s %8s\n", "corruption", "strength", "|e|/clean",
              "AUROC |e|", "AUROC ink", "AUROC untr.", "R@1");
  for (const SuiteRow& row : suite.rows) {
    std::printf("%-10s %9s %10s %10s %10s %12s %8s\n", corruption_name(row.kind),
                fixed(row.strength, 2).c_str(), fixed(row.relative_norm, 3).c_str(),
                fixed(row.auroc[0], 3).c_str(), fixed(row.auroc[1], 3).c_str(),
                fixed(row.auroc[2], 3).c_str(), fixed(100 * row.recall_at_1, 2).c_str());
  }
  std::printf("Retrieval with rejection: R@1 (%%) of the most certain 10%% / 50%% of the queries"
              " (each pool: clean + all strengths)\n");
  std::printf("%-10s %14s %14s %14s %8s\n", "pool", "by |e|", "by ink", "by untr. |e|", "random");
  for (const RejectionCurve& c : suite.curves) {
    std::printf("%-10s", c.pool.c_str());
    for (int s = 0; s < 3; ++s) {
      std::printf(" %14s", (fixed(100 * c.recall[s][0], 1) + " / " + fixed(100 * c.recall[s][4], 1)).c_str());
    }
    std::printf(" %8s\n", fixed(100 * c.random_floor, 1).c_str());
  }
}

int run(const Config& config) {
  const auto wall_start = std::chrono::steady_clock::now();
  // ------------------------------------------------------------ data
  const std::string train_images = find_idx(config.data_dir, "train-images-idx3-ubyte");
  const std::string train_labels = find_idx(config.data_dir, "train-labels-idx1-ubyte");
  const std::string test_images = find_idx(config.data_dir, "t10k-images-idx3-ubyte");
  const std::string test_labels = find_idx(config.data_dir, "t10k-labels-idx1-ubyte");
  if (train_images.empty() || train_labels.empty() || test_images.empty() || test_labels.empty()) {
    std::cerr << "fashion_mnist: error: the Fashion-MNIST IDX files were not found in '"
              << config.data_dir
              << "'.\n  Expected train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,"
                 " t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzipped or not).\n"
                 "  Install Debian's dataset-fashion-mnist package (scripts/install-deps does)"
                 " or pass --data-dir DIR.\n";
    return 3;
  }
  const Split train_all = read_split(train_images, train_labels);
  const Split test_all = read_split(test_images, test_labels);
  const bool zero_shot = config.protocol == Protocol::zero_shot;
  const std::int64_t last_train_class = zero_shot ? 4 : 9;
  const Eigen::Index train_classes = last_train_class + 1;
  Split train = select_classes(train_all, 0, last_train_class, config.train_per_class);
  // The evaluated splits; the first is the one tracked during training.
  struct EvalSet {
    std::string name;   // in file names and CSV rows
    std::string title;  // in printed tables
    Split split;
    Matrix x;           // standardized
    Matrix e;           // embeddings after training
  };
  std::vector<EvalSet> sets;
  if (zero_shot) {
    sets.push_back({"heldout", "held-out classes 5-9", select_classes(test_all, 5, 9), {}, {}});
    sets.push_back({"seen", "seen classes 0-4 (test)", select_classes(test_all, 0, 4), {}, {}});
  } else {
    sets.push_back({"test", "test images, classes 0-9", select_classes(test_all, 0, 9), {}, {}});
  }
  for (const EvalSet& set : sets) {
    if (set.split.labels.size() < 2) {
      std::cerr << "fashion_mnist: error: the dataset holds too few test images for '" << set.name << "'\n";
      return 3;
    }
  }
  if (train.labels.empty()) {
    std::cerr << "fashion_mnist: error: the dataset holds no training images of classes 0-"
              << last_train_class << "\n";
    return 3;
  }
  // Standardize pixels with the training images' mean and deviation.
  const double mean = train.images.mean();
  const double deviation =
      std::sqrt((train.images.array() - float(mean)).square().mean());
  auto standardize = [&](const Matrix& images) {
    return Matrix(((images.array() - float(mean)) / float(deviation)).matrix());
  };
  const Matrix train_x = standardize(train.images);
  for (EvalSet& set : sets) set.x = standardize(set.split.images);
  const Matrix& primary_x = sets.front().x;
  const std::vector<std::int64_t>& primary_labels = sets.front().split.labels;
  if (zero_shot) {
    std::printf("Fashion-MNIST: %ld training images (classes 0-4), %ld seen-class test images,"
                " %ld held-out test images (classes 5-9)\n",
                long(train_x.rows()), long(sets[1].x.rows()), long(sets[0].x.rows()));
  } else {
    std::printf("Fashion-MNIST, seen-class protocol: %ld training images (classes 0-9),"
                " %ld test images (classes 0-9)\n",
                long(train_x.rows()), long(sets[0].x.rows()));
  }
  std::printf("loss %s, %d epochs, batches of 5 classes x %d, MLP 784", loss_name(config.loss),
              config.epochs, config.per_class);
  for (long h : config.hidden) std::printf("-%ld", h);
  std::printf("-%d, seed %llu\n", config.dim, static_cast<unsigned long long>(config.seed));
  std::fflush(stdout);

  // ------------------------------------------------------------ model
  std::vector<Eigen::Index> sizes{train_x.cols()};
  for (long h : config.hidden) sizes.push_back(h);
  sizes.push_back(config.dim);
  Mlp mlp(sizes, config.seed);
  {
    // Scale the last layer so the initial embedding norms (the vMF
    // concentrations) have the chosen mean.
    const Matrix probe = embed(mlp, train_x.topRows(std::min<Eigen::Index>(2000, train_x.rows())));
    const float norm = probe.rowwise().norm().mean();
    if (norm > 0) {
      mlp.weights().back() *= config.init_norm / norm;
      mlp.biases().back() *= config.init_norm / norm;
    }
  }
  // The untrained network (after the scaling): the control of the corruption suite.
  const Mlp untrained = mlp;
  Criterion criterion(config, train_classes, config.dim);
  {
    // Warm start: proxies from class means of the initial embeddings (up to 400 per class).
    const Split sample = select_classes(train, 0, last_train_class, 400);
    const Matrix e = embed(mlp, standardize(sample.images));
    criterion.warm_start(e, sample.labels);
  }

  Mlp::Gradients grads;
  grads.weights.resize(mlp.layers());
  grads.biases.resize(mlp.layers());
  for (std::size_t l = 0; l < mlp.layers(); ++l) {
    grads.weights[l] = Matrix::Zero(mlp.weights()[l].rows(), mlp.weights()[l].cols());
    grads.biases[l] = RowVector::Zero(mlp.biases()[l].cols());
  }
  Adam adam(AdamOptions{config.learning_rate});
  for (std::size_t l = 0; l < mlp.layers(); ++l) {
    adam.add_group("weight" + std::to_string(l), mlp.weights()[l].data(), grads.weights[l].data(),
                   mlp.weights()[l].size(), 1.0f, config.weight_decay);
    adam.add_group("bias" + std::to_string(l), mlp.biases()[l].data(), grads.biases[l].data(),
                   mlp.biases()[l].size(), 1.0f);
  }
  adam.add_group("proxies", criterion.proxies.data(), criterion.grad_proxies.data(),
                 criterion.proxies.size(), config.proxy_lr_multiplier);
  if (criterion.has_kappas()) {
    adam.add_group("kappas", criterion.kappas.data(), criterion.grad_kappas.data(),
                   criterion.kappas.size(), config.kappa_lr_multiplier);
  }
  if (criterion.has_temperature()) {
    adam.add_group("log_temperature", &criterion.log_temperature,
                   &criterion.grad_log_temperature, 1, config.temperature_lr_multiplier);
  }

  // ------------------------------------------------------------ training
  BalancedBatches batches(train.labels, 5, config.per_class, config.seed + 1);
  const long steps_per_epoch = batches.batches_per_epoch();
  const long total_steps = steps_per_epoch * config.epochs;
  ProgressBar progress(total_steps, !config.quiet);
  struct CurvePoint {
    int epoch;
    long step;
    double loss;
    double heldout_r1;
    double temperature;
    double mean_norm;
  };
  std::vector<CurvePoint> curve;
  std::vector<double> step_losses;
  Matrix batch_x(batches.batch_size(), train_x.cols());
  std::vector<std::int64_t> batch_labels(static_cast<std::size_t>(batches.batch_size()));
  Matrix embeddings, grad_embeddings;
  Mlp::Saved saved;
  long step = 0;
  double running_loss = 0.0;
  const double initial_r1 = heldout_recall_at_1(embed(mlp, primary_x), primary_labels);
  curve.push_back({0, 0, std::nan(""), initial_r1, double(criterion.temperature()), 0.0});
  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    double epoch_loss = 0.0;
    double epoch_norm = 0.0;
    for (long s = 0; s < steps_per_epoch; ++s, ++step) {
      const double progress_fraction = static_cast<double>(step) / static_cast<double>(total_steps);
      const double cosine = 0.5 * (1.0 + std::cos(3.141592653589793 * progress_fraction));
      adam.set_learning_rate(static_cast<float>(
          config.learning_rate * (config.lr_decay + (1.0 - config.lr_decay) * cosine)));
      const std::vector<std::int64_t> rows = batches.next();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        batch_x.row(static_cast<Eigen::Index>(i)) = train_x.row(rows[i]);
        batch_labels[i] = train.labels[static_cast<std::size_t>(rows[i])];
      }
      mlp.forward(batch_x, embeddings, &saved);
      // Independent vMF samples per step: the Philox key is a mix of seed and step.
      std::uint64_t z = config.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step) + 1;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      const pdml::RngKey key{z ^ (z >> 31), 0};
      const float loss = criterion.forward_backward(embeddings, batch_labels, key, grad_embeddings);
      if (!std::isfinite(loss)) {
        std::cerr << "\nfashion_mnist: error: the loss became " << loss << " at step " << step
                  << " (try a smaller --lr)\n";
        return 4;
      }
      mlp.backward(saved, grad_embeddings, grads);
      adam.step();
      step_losses.push_back(loss);
      epoch_loss += loss;
      epoch_norm += embeddings.rowwise().norm().mean();
      running_loss = step == 0 ? loss : 0.95 * running_loss + 0.05 * loss;
      progress.update(step + 1, epoch, config.epochs, running_loss);
    }
    double r1 = std::nan("");
    if (config.eval_every > 0 && (epoch % config.eval_every == 0 || epoch == config.epochs)) {
      r1 = heldout_recall_at_1(embed(mlp, primary_x), primary_labels);
    }
    curve.push_back({epoch, step, epoch_loss / double(steps_per_epoch), r1,
                     double(criterion.temperature()), epoch_norm / double(steps_per_epoch)});
    if (config.quiet || isatty(fileno(stderr)) == 0) {
      std::printf("epoch %d/%d  loss %.4f  %s R@1 %s  T %.4f  mean |e| %.2f  (%.0f s)\n",
                  epoch, config.epochs, curve.back().loss, zero_shot ? "held-out" : "test",
                  std::isfinite(r1) ? fixed(100 * r1, 2).c_str() : "-", curve.back().temperature,
                  curve.back().mean_norm, progress.elapsed_seconds());
      std::fflush(stdout);
    }
  }
  const double train_seconds = progress.elapsed_seconds();

  // ------------------------------------------------------------ evaluation
  std::vector<Metrics> metrics;
  for (EvalSet& set : sets) {
    set.e = embed(mlp, set.x);
    metrics.push_back(evaluate(set.e, set.split.labels, config.seed));
  }
  std::vector<SuiteResult> suites;
  if (config.suite_images > 0) {
    const std::function<Matrix(const Matrix&)> embed_trained = [&](const Matrix& raw) {
      return embed(mlp, standardize(raw));
    };
    const std::function<Matrix(const Matrix&)> embed_untrained = [&](const Matrix& raw) {
      return embed(untrained, standardize(raw));
    };
    for (const EvalSet& set : sets) {
      // The subset and mixing partners are fixed (seed 2026), the same for every run.
      suites.push_back(run_corruption_suite(set.name, set.split.images, set.split.labels,
                                            set.split.image_rows, set.split.image_cols,
                                            config.suite_images, 2026, embed_trained,
                                            embed_untrained));
    }
  }

  // ------------------------------------------------------------ outputs
  make_directories(config.out_dir);
  const std::string base = config.out_dir + "/" + loss_name(config.loss) + (zero_shot ? "" : "_seen");
  const std::string json_path = base + "_results.json";
  const std::string csv_path = base + "_metrics.csv";
  const std::string curve_csv_path = base + "_curve.csv";
  const std::string curve_svg_path = base + "_training_curve.svg";
  const std::string grid_path = base + "_certainty_grid.png";
  const std::string suite_csv_path = base + "_corruptions.csv";
  const std::string rejection_csv_path = base + "_rejection.csv";
  const std::string suite_svg_path = base + "_concentration_vs_strength.svg";
  const std::string rejection_svg_path = base + "_rejection.svg";
  const std::string strength_grid_path = base + "_corruption_grid.png";
  {
    std::ofstream csv(csv_path);
    csv << "loss,split,images,recall_at_1,recall_at_2,recall_at_4,recall_at_8,map_at_r,nmi,"
           "norm_auroc,mean_norm\n";
    for (std::size_t k = 0; k < sets.size(); ++k) {
      const Metrics& m = metrics[k];
      csv << loss_name(config.loss) << "," << sets[k].name << "," << m.images;
      for (double r : m.recall) csv << "," << json_number(r);
      csv << "," << json_number(m.map_at_r) << "," << json_number(m.nmi) << ","
          << json_number(m.norm_auroc) << "," << json_number(m.mean_norm) << "\n";
    }
    if (!csv) throw std::runtime_error("cannot write '" + csv_path + "'");
  }
  {
    std::ofstream csv(curve_csv_path);
    csv << "epoch,step,train_loss," << sets.front().name << "_recall_at_1,temperature,mean_norm\n";
    for (const CurvePoint& p : curve) {
      csv << p.epoch << "," << p.step << "," << json_number(p.loss) << ","
          << json_number(p.heldout_r1) << "," << json_number(p.temperature) << ","
          << json_number(p.mean_norm) << "\n";
    }
    if (!csv) throw std::runtime_error("cannot write '" + curve_csv_path + "'");
  }
  const std::string tracked = zero_shot ? "held-out Recall@1 (%)" : "test Recall@1 (%)";
  {
    // Loss per step (smoothed over ~1/20 epoch) and the tracked Recall@1 per epoch.
    Curve loss_curve{"training loss (moving average)", "#1f77b4", {}, {}};
    const long window = std::max<long>(1, steps_per_epoch / 20);
    double sum = 0;
    for (std::size_t i = 0; i < step_losses.size(); ++i) {
      sum += step_losses[i];
      if (i >= static_cast<std::size_t>(window)) sum -= step_losses[i - static_cast<std::size_t>(window)];
      const double count = static_cast<double>(std::min<std::size_t>(i + 1, static_cast<std::size_t>(window)));
      loss_curve.x.push_back(static_cast<double>(i + 1) / static_cast<double>(steps_per_epoch));
      loss_curve.y.push_back(sum / count);
    }
    Curve recall_curve{tracked, "#d62728", {}, {}};
    for (const CurvePoint& p : curve) {
      if (!std::isfinite(p.heldout_r1)) continue;
      recall_curve.x.push_back(p.epoch);
      recall_curve.y.push_back(100.0 * p.heldout_r1);
    }
    write_svg_panels(curve_svg_path,
                     std::string("Fashion-MNIST, ") + loss_name(config.loss) +
                         (zero_shot ? " (train classes 0-4, held-out classes 5-9)"
                                    : " (train and test classes 0-9)"),
                     {{"training loss", {loss_curve}}, {tracked, {recall_curve}}}, "epoch");
  }
  {
    // Images of the first split sorted by embedding norm: the most certain
    // (largest norm) in the top rows, the least certain (smallest) in the bottom rows.
    const Matrix& first_e = sets.front().e;
    const Split& first = sets.front().split;
    std::vector<Eigen::Index> order(static_cast<std::size_t>(first_e.rows()));
    std::iota(order.begin(), order.end(), Eigen::Index(0));
    const Eigen::VectorXf norms = first_e.rowwise().norm();
    std::stable_sort(order.begin(), order.end(),
                     [&](Eigen::Index a, Eigen::Index b) { return norms(a) > norms(b); });
    const int per_row = 16, rows_each = 2;
    if (order.size() >= static_cast<std::size_t>(2 * per_row * rows_each)) {
      std::vector<std::vector<const float*>> grid;
      for (int r = 0; r < rows_each; ++r) {
        grid.emplace_back();
        for (int c = 0; c < per_row; ++c) {
          grid.back().push_back(first.images.row(order[static_cast<std::size_t>(r * per_row + c)]).data());
        }
      }
      for (int r = rows_each; r-- > 0;) {
        grid.emplace_back();
        for (int c = per_row; c-- > 0;) {
          grid.back().push_back(
              first.images.row(order[order.size() - 1 - static_cast<std::size_t>(r * per_row + c)]).data());
        }
      }
      write_image_grid(grid_path, grid, first.image_rows, first.image_cols);
    }
  }
  if (!suites.empty()) {
    const std::vector<double> fractions = rejection_fractions();
    {
      std::ofstream csv(suite_csv_path);
      csv << "loss,split,corruption,strength,images,relative_norm,relative_untrained_norm,"
             "relative_intensity,auroc_norm,auroc_intensity,auroc_untrained_norm,recall_at_1,"
             "clean_recall_at_1,corr_norm_intensity,corr_untrained_norm_intensity\n";
      for (const SuiteResult& suite : suites) {
        for (const SuiteRow& row : suite.rows) {
          csv << loss_name(config.loss) << "," << suite.split << "," << corruption_name(row.kind)
              << "," << json_number(row.strength) << "," << suite.images << ","
              << json_number(row.relative_norm) << "," << json_number(row.relative_untrained_norm)
              << "," << json_number(row.relative_intensity);
          for (double a : row.auroc) csv << "," << json_number(a);
          csv << "," << json_number(row.recall_at_1) << "," << json_number(suite.clean_recall_at_1)
              << "," << json_number(suite.norm_intensity_correlation) << ","
              << json_number(suite.untrained_norm_intensity_correlation) << "\n";
        }
      }
      if (!csv) throw std::runtime_error("cannot write '" + suite_csv_path + "'");
    }
    {
      std::ofstream csv(rejection_csv_path);
      csv << "loss,split,pool,score,kept_fraction,recall_at_1\n";
      for (const SuiteResult& suite : suites) {
        for (const RejectionCurve& c : suite.curves) {
          for (std::size_t q = 0; q < fractions.size(); ++q) {
            for (CertaintyScore score : all_scores()) {
              csv << loss_name(config.loss) << "," << suite.split << "," << c.pool << ","
                  << score_name(score) << "," << json_number(fractions[q]) << ","
                  << json_number(c.recall[static_cast<int>(score)][q]) << "\n";
            }
            csv << loss_name(config.loss) << "," << suite.split << "," << c.pool << ",random,"
                << json_number(fractions[q]) << "," << json_number(c.random_floor) << "\n";
          }
        }
      }
      if (!csv) throw std::runtime_error("cannot write '" + rejection_csv_path + "'");
    }
    {
      // Mean |e| relative to clean against strength, one panel per corruption.
      const char* colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd"};
      std::vector<std::pair<std::string, std::vector<Curve>>> panels;
      for (CorruptionKind kind : all_corruptions()) {
        std::vector<Curve> curves;
        for (std::size_t k = 0; k < suites.size(); ++k) {
          Curve trained{std::string(loss_name(config.loss)) + " |e|, " + suites[k].split,
                        colors[2 * k % 4], {0.0}, {1.0}};
          Curve control{"untrained |e|, " + suites[k].split, colors[(2 * k + 1) % 4], {0.0}, {1.0}};
          for (const SuiteRow& row : suites[k].rows) {
            if (row.kind != kind) continue;
            trained.x.push_back(row.strength);
            trained.y.push_back(row.relative_norm);
            control.x.push_back(row.strength);
            control.y.push_back(row.relative_untrained_norm);
          }
          curves.push_back(trained);
          curves.push_back(control);
        }
        panels.push_back({std::string(corruption_name(kind)) + ": mean |e| relative to clean, against " +
                              strength_meaning(kind), curves});
      }
      write_svg_panels(suite_svg_path,
                       std::string("Concentration under corruption, ") + loss_name(config.loss),
                       panels, "strength (0 = clean)");
    }
    {
      // Rejection curves of the first split: one panel per pool.
      const SuiteResult& suite = suites.front();
      const char* colors[] = {"#d62728", "#ff7f0e", "#7f7f7f"};
      std::vector<std::pair<std::string, std::vector<Curve>>> panels;
      for (const RejectionCurve& c : suite.curves) {
        std::vector<Curve> curves;
        for (CertaintyScore score : all_scores()) {
          Curve curve{std::string("ranked by ") + score_name(score), colors[static_cast<int>(score)], {}, {}};
          for (std::size_t q = 0; q < fractions.size(); ++q) {
            curve.x.push_back(100.0 * fractions[q]);
            curve.y.push_back(100.0 * c.recall[static_cast<int>(score)][q]);
          }
          curves.push_back(curve);
        }
        curves.push_back(Curve{"random order", "#000000", {10.0, 100.0},
                               {100.0 * c.random_floor, 100.0 * c.random_floor}});
        panels.push_back({suite.split + ", queries: " + c.pool +
                              (c.pool == "clean" ? "" : " (clean + all strengths)") +
                              "; Recall@1 (%) of the most certain",
                          curves});
      }
      write_svg_panels(rejection_svg_path,
                       std::string("Retrieval with rejection, ") + loss_name(config.loss),
                       panels, "queries kept, most certain first (%)");
    }
    {
      // One image of the first split at increasing strength, |e| under each.
      const Split& first = sets.front().split;
      const int rows = first.image_rows, cols = first.image_cols;
      const Matrix one = first.images.topRows(1);
      std::vector<Eigen::Index> partner{0};
      for (Eigen::Index i = 1; i < first.images.rows(); ++i) {
        if (first.labels[static_cast<std::size_t>(i)] != first.labels[0]) {
          partner[0] = i;
          break;
        }
      }
      Matrix pair(2, one.cols());
      pair.row(0) = one.row(0);
      pair.row(1) = first.images.row(partner[0]);
      std::vector<Matrix> kept;  // owns the pixels the grid points at
      std::vector<std::vector<const float*>> grid;
      std::vector<std::vector<std::string>> labels;
      for (CorruptionKind kind : all_corruptions()) {
        std::vector<double> strengths = corruption_strengths(kind);
        strengths.insert(strengths.begin(), 0.0);
        grid.emplace_back();
        labels.emplace_back();
        for (double strength : strengths) {
          Matrix x = strength == 0.0 ? Matrix(pair.topRows(1))
                                     : Matrix(corrupt(pair, rows, cols, kind, strength, {1, 0}, 2028).topRows(1));
          const double norm = embed(mlp, standardize(x)).row(0).norm();
          kept.push_back(std::move(x));
          labels.back().push_back(fixed(norm, 1));
        }
      }
      for (std::size_t r = 0, i = 0; r < grid.size(); ++r) {
        for (std::size_t c = 0; c < labels[r].size(); ++c) grid[r].push_back(kept[i++].data());
      }
      write_labelled_image_grid(strength_grid_path, grid, labels, rows, cols, 3);
    }
  }
  const double total_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  {
    std::ofstream json(json_path);
    json << "{\n  \"loss\": \"" << loss_name(config.loss) << "\",\n  \"protocol\": \""
         << protocol_name(config.protocol) << "\",\n  \"seed\": " << config.seed
         << ",\n  \"epochs\": " << config.epochs << ",\n  \"steps\": " << total_steps
         << ",\n  \"batch\": \"5 classes x " << config.per_class << " images\""
         << ",\n  \"embedding_dim\": " << config.dim
         << ",\n  \"final_temperature\": " << json_number(criterion.temperature())
         << ",\n  \"train_seconds\": " << json_number(train_seconds)
         << ",\n  \"total_seconds\": " << json_number(total_seconds);
    for (std::size_t k = 0; k < sets.size(); ++k) {
      json << ",\n  \"" << sets[k].name << "\": " << metrics_json(metrics[k]);
    }
    json << "\n}\n";
    if (!json) throw std::runtime_error("cannot write '" + json_path + "'");
  }

  // ------------------------------------------------------------ table
  const std::string header = std::string("split (") + loss_name(config.loss) + ")";
  std::printf("\n%-28s %9s %9s %9s %9s %9s %9s %11s\n", header.c_str(), "R@1", "R@2", "R@4", "R@8", "mAP@R", "NMI", "norm AUROC");
  for (std::size_t k = 0; k < sets.size(); ++k) {
    const Metrics& m = metrics[k];
    std::printf("%-28s %9s %9s %9s %9s %9s %9s %11s\n", sets[k].title.c_str(),
                fixed(100 * m.recall[0], 2).c_str(), fixed(100 * m.recall[1], 2).c_str(),
                fixed(100 * m.recall[2], 2).c_str(), fixed(100 * m.recall[3], 2).c_str(),
                fixed(100 * m.map_at_r, 2).c_str(), fixed(100 * m.nmi, 2).c_str(),
                fixed(m.norm_auroc, 3).c_str());
  }
  std::printf("(Recall@k, mAP@R, NMI in %%; norm AUROC: how well |e| predicts a correct nearest"
              " neighbour, 0.5 = chance)\n");
  for (std::size_t k = 0; k < suites.size(); ++k) print_suite(suites[k], sets[k].title);
  std::printf("training %.0f s, total %.0f s\n\n", train_seconds, total_seconds);
  std::printf("results:        %s\n", json_path.c_str());
  std::printf("metrics CSV:    %s\n", csv_path.c_str());
  std::printf("curve CSV:      %s\n", curve_csv_path.c_str());
  std::printf("training curve: %s\n", curve_svg_path.c_str());
  std::printf("certainty grid: %s (top two rows: most certain %s images, largest norm;"
              " bottom two rows: least certain, smallest norm)\n",
              grid_path.c_str(), sets.front().name.c_str());
  if (!suites.empty()) {
    std::printf("corruptions:    %s, %s\n", suite_csv_path.c_str(), rejection_csv_path.c_str());
    std::printf("pictures:       %s, %s, %s\n", suite_svg_path.c_str(), rejection_svg_path.c_str(),
                strength_grid_path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace fmnist

int main(int argc, char** argv) {
  fmnist::Config config;
  try {
    config = fmnist::parse_arguments(argc, argv);
  } catch (const fmnist::ArgumentError& e) {
    std::cerr << "fashion_mnist: error: " << e.what() << "\n(run with --help for the options)\n";
    return 2;
  }
  if (config.help) {
    std::cout << fmnist::usage();
    return 0;
  }
  try {
    return fmnist::run(config);
  } catch (const std::exception& e) {
    std::cerr << "\nfashion_mnist: error: " << e.what() << "\n";
    return 1;
  }
}
