// SPDX-License-Identifier: MIT
// Fashion-MNIST trainer: an MLP embedding network trained with a pdml criterion
// on classes 0-4, evaluated by retrieval on the held-out classes 5-9
// (zero-shot) and on the test images of the seen classes. See --help.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
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
  Split train = select_classes(train_all, 0, 4, config.train_per_class);
  Split seen = select_classes(test_all, 0, 4);
  Split heldout = select_classes(test_all, 5, 9);
  if (train.labels.empty() || heldout.labels.empty()) {
    std::cerr << "fashion_mnist: error: the dataset holds no images of classes 0-4 or 5-9\n";
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
  const Matrix seen_x = standardize(seen.images);
  const Matrix heldout_x = standardize(heldout.images);
  std::printf("Fashion-MNIST: %ld training images (classes 0-4), %ld seen-class test images,"
              " %ld held-out test images (classes 5-9)\n",
              long(train_x.rows()), long(seen_x.rows()), long(heldout_x.rows()));
  std::printf("loss %s, %d epochs, batches of 5 x %d, MLP 784", loss_name(config.loss),
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
  Criterion criterion(config, 5, config.dim);
  {
    // Warm start: proxies from class means of the initial embeddings (up to 400 per class).
    const Split sample = select_classes(train, 0, 4, 400);
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
  const double initial_r1 = heldout_recall_at_1(embed(mlp, heldout_x), heldout.labels);
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
      r1 = heldout_recall_at_1(embed(mlp, heldout_x), heldout.labels);
    }
    curve.push_back({epoch, step, epoch_loss / double(steps_per_epoch), r1,
                     double(criterion.temperature()), epoch_norm / double(steps_per_epoch)});
    if (config.quiet || isatty(fileno(stderr)) == 0) {
      std::printf("epoch %d/%d  loss %.4f  held-out R@1 %s  T %.4f  mean |e| %.2f  (%.0f s)\n",
                  epoch, config.epochs, curve.back().loss,
                  std::isfinite(r1) ? fixed(100 * r1, 2).c_str() : "-", curve.back().temperature,
                  curve.back().mean_norm, progress.elapsed_seconds());
      std::fflush(stdout);
    }
  }
  const double train_seconds = progress.elapsed_seconds();

  // ------------------------------------------------------------ evaluation
  const Matrix heldout_e = embed(mlp, heldout_x);
  const Matrix seen_e = embed(mlp, seen_x);
  const Metrics heldout_m = evaluate(heldout_e, heldout.labels, config.seed);
  const Metrics seen_m = evaluate(seen_e, seen.labels, config.seed);

  // ------------------------------------------------------------ outputs
  make_directories(config.out_dir);
  const std::string base = config.out_dir + "/" + loss_name(config.loss);
  const std::string json_path = base + "_results.json";
  const std::string csv_path = base + "_metrics.csv";
  const std::string curve_csv_path = base + "_curve.csv";
  const std::string curve_svg_path = base + "_training_curve.svg";
  const std::string grid_path = base + "_certainty_grid.png";
  {
    std::ofstream csv(csv_path);
    csv << "loss,split,images,recall_at_1,recall_at_2,recall_at_4,recall_at_8,map_at_r,nmi,"
           "norm_auroc,mean_norm\n";
    for (const auto& entry : {std::make_pair("heldout", &heldout_m), std::make_pair("seen", &seen_m)}) {
      const Metrics& m = *entry.second;
      csv << loss_name(config.loss) << "," << entry.first << "," << m.images;
      for (double r : m.recall) csv << "," << json_number(r);
      csv << "," << json_number(m.map_at_r) << "," << json_number(m.nmi) << ","
          << json_number(m.norm_auroc) << "," << json_number(m.mean_norm) << "\n";
    }
    if (!csv) throw std::runtime_error("cannot write '" + csv_path + "'");
  }
  {
    std::ofstream csv(curve_csv_path);
    csv << "epoch,step,train_loss,heldout_recall_at_1,temperature,mean_norm\n";
    for (const CurvePoint& p : curve) {
      csv << p.epoch << "," << p.step << "," << json_number(p.loss) << ","
          << json_number(p.heldout_r1) << "," << json_number(p.temperature) << ","
          << json_number(p.mean_norm) << "\n";
    }
    if (!csv) throw std::runtime_error("cannot write '" + curve_csv_path + "'");
  }
  {
    // Loss per step (smoothed over ~1/20 epoch) and held-out Recall@1 per epoch.
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
    Curve recall_curve{"held-out Recall@1 (%)", "#d62728", {}, {}};
    for (const CurvePoint& p : curve) {
      if (!std::isfinite(p.heldout_r1)) continue;
      recall_curve.x.push_back(p.epoch);
      recall_curve.y.push_back(100.0 * p.heldout_r1);
    }
    write_svg_panels(curve_svg_path,
                     std::string("Fashion-MNIST, ") + loss_name(config.loss) +
                         " (train classes 0-4, held-out classes 5-9)",
                     {{"training loss", {loss_curve}}, {"held-out Recall@1 (%)", {recall_curve}}},
                     "epoch");
  }
  {
    // Held-out images sorted by embedding norm: the most certain (largest
    // norm) in the top rows, the least certain (smallest norm) in the bottom rows.
    std::vector<Eigen::Index> order(static_cast<std::size_t>(heldout_e.rows()));
    std::iota(order.begin(), order.end(), Eigen::Index(0));
    const Eigen::VectorXf norms = heldout_e.rowwise().norm();
    std::stable_sort(order.begin(), order.end(),
                     [&](Eigen::Index a, Eigen::Index b) { return norms(a) > norms(b); });
    const int per_row = 16, rows_each = 2;
    std::vector<std::vector<const float*>> grid;
    for (int r = 0; r < rows_each; ++r) {
      grid.emplace_back();
      for (int c = 0; c < per_row; ++c) {
        grid.back().push_back(heldout.images.row(order[static_cast<std::size_t>(r * per_row + c)]).data());
      }
    }
    for (int r = rows_each; r-- > 0;) {
      grid.emplace_back();
      for (int c = per_row; c-- > 0;) {
        grid.back().push_back(
            heldout.images.row(order[order.size() - 1 - static_cast<std::size_t>(r * per_row + c)]).data());
      }
    }
    write_image_grid(grid_path, grid, heldout.image_rows, heldout.image_cols);
  }
  const double total_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  {
    std::ofstream json(json_path);
    json << "{\n  \"loss\": \"" << loss_name(config.loss) << "\",\n  \"seed\": " << config.seed
         << ",\n  \"epochs\": " << config.epochs << ",\n  \"steps\": " << total_steps
         << ",\n  \"batch\": \"5 classes x " << config.per_class << " images\""
         << ",\n  \"embedding_dim\": " << config.dim
         << ",\n  \"final_temperature\": " << json_number(criterion.temperature())
         << ",\n  \"train_seconds\": " << json_number(train_seconds)
         << ",\n  \"total_seconds\": " << json_number(total_seconds)
         << ",\n  \"heldout\": " << metrics_json(heldout_m)
         << ",\n  \"seen\": " << metrics_json(seen_m) << "\n}\n";
    if (!json) throw std::runtime_error("cannot write '" + json_path + "'");
  }

  // ------------------------------------------------------------ table
  const std::string header = std::string("split (") + loss_name(config.loss) + ")";
  std::printf("\n%-28s %9s %9s %9s %9s %9s %9s %11s\n", header.c_str(), "R@1", "R@2", "R@4", "R@8", "mAP@R", "NMI", "norm AUROC");
  for (const auto& entry : {std::make_pair("held-out classes 5-9", &heldout_m),
                            std::make_pair("seen classes 0-4 (test)", &seen_m)}) {
    const Metrics& m = *entry.second;
    std::printf("%-28s %9s %9s %9s %9s %9s %9s %11s\n", entry.first,
                fixed(100 * m.recall[0], 2).c_str(), fixed(100 * m.recall[1], 2).c_str(),
                fixed(100 * m.recall[2], 2).c_str(), fixed(100 * m.recall[3], 2).c_str(),
                fixed(100 * m.map_at_r, 2).c_str(), fixed(100 * m.nmi, 2).c_str(),
                fixed(m.norm_auroc, 3).c_str());
  }
  std::printf("(Recall@k, mAP@R, NMI in %%; norm AUROC: how well |e| predicts a correct nearest"
              " neighbour, 0.5 = chance)\n");
  std::printf("training %.0f s, total %.0f s\n\n", train_seconds, total_seconds);
  std::printf("results:        %s\n", json_path.c_str());
  std::printf("metrics CSV:    %s\n", csv_path.c_str());
  std::printf("curve CSV:      %s\n", curve_csv_path.c_str());
  std::printf("training curve: %s\n", curve_svg_path.c_str());
  std::printf("certainty grid: %s (top two rows: most certain held-out images, largest norm;"
              " bottom two rows: least certain, smallest norm)\n",
              grid_path.c_str());
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
