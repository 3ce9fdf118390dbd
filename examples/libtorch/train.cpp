// SPDX-License-Identifier: MIT
// A LibTorch model trained with pdml's EL-nivMF criterion through the autograd adapter.
//
// Data: C well-separated Gaussian classes in R^20 (generated, seeded). Model: a two-layer
// torch::nn MLP to R^D. Proxies, per-dimension concentrations and the temperature are
// torch parameters too, each with the learning-rate multiplier the paper uses for its
// parameter group. Prints the loss and the Recall@1 (pdml's evaluation) before and after,
// and exits non-zero unless training lowered the loss and raised Recall@1.
//
//   libtorch_train [--steps N] [--seed S]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <pdml/evaluation/retrieval.hpp>

#include "pdml_torch.hpp"

namespace {

double recall_at_1(const torch::Tensor& embeddings, const torch::Tensor& labels) {
  auto e = embeddings.detach().to(torch::kFloat64).contiguous();
  auto l = labels.contiguous();
  pdml::RetrievalOptions options;
  options.recall_ks = {1};
  options.compute_map_at_r = false;
  const auto metrics = pdml::evaluate_retrieval<double>(
      pdml::ConstMatrixView<double>{e.data_ptr<double>(), e.size(0), e.size(1), e.size(1)},
      l.data_ptr<std::int64_t>(), options);
  return metrics.recall_at_k[0];
}

}  // namespace

int main(int argc, char** argv) {
  long steps = 200;
  long seed = 1;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--steps") == 0 && has_value) {
      steps = std::strtol(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--seed") == 0 && has_value) {
      seed = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--steps N] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  if (steps < 1) {
    std::fprintf(stderr, "error: --steps must be >= 1\n");
    return 2;
  }

  torch::manual_seed(static_cast<std::uint64_t>(seed));
  const std::int64_t classes = 8, per_class = 16, in = 20, hidden = 64, dim = 16;
  auto labels = torch::arange(classes * per_class, torch::kInt64).remainder(classes);
  auto centers = 1.5 * torch::randn({classes, in});
  auto inputs = centers.index_select(0, labels) + torch::randn({classes * per_class, in});

  torch::nn::Sequential model(torch::nn::Linear(in, hidden), torch::nn::ReLU(),
                              torch::nn::Linear(hidden, dim));
  auto proxies = torch::randn({classes, dim}).requires_grad_(true);
  auto kappas = torch::full({classes, dim}, 4.0).requires_grad_(true);
  auto temperature = torch::tensor(0.5f).requires_grad_(true);

  const double lr = 1e-3;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(model->parameters(), std::make_unique<torch::optim::AdamOptions>(lr));
  groups.emplace_back(std::vector<torch::Tensor>{proxies},
                      std::make_unique<torch::optim::AdamOptions>(lr * 20));
  groups.emplace_back(std::vector<torch::Tensor>{kappas},
                      std::make_unique<torch::optim::AdamOptions>(lr * 20));
  groups.emplace_back(std::vector<torch::Tensor>{temperature},
                      std::make_unique<torch::optim::AdamOptions>(lr * 5));
  torch::optim::Adam optimizer(std::move(groups));

  pdml_torch::ElNivmfOptions options;
  options.n_samples = 5;
  options.guidance_weight = 0.3;
  const pdml::RngKey eval_key{static_cast<std::uint64_t>(seed), ~std::uint64_t(0)};
  auto evaluate_loss = [&] {
    torch::NoGradGuard no_grad;
    return pdml_torch::el_nivmf_loss(model->forward(inputs), labels, proxies, kappas,
                                     temperature, options, eval_key)
        .item<float>();
  };

  const float loss_before = evaluate_loss();
  const double recall_before = recall_at_1(model->forward(inputs), labels);
  for (long step = 0; step < steps; ++step) {
    optimizer.zero_grad();
    auto loss = pdml_torch::el_nivmf_loss(
        model->forward(inputs), labels, proxies, kappas, temperature, options,
        pdml::RngKey{static_cast<std::uint64_t>(seed), static_cast<std::uint64_t>(step)});
    loss.backward();
    optimizer.step();
    if ((step + 1) % 50 == 0 || step + 1 == steps) {
      std::printf("step %4ld  loss %.4f\n", step + 1, loss.item<float>());
    }
  }
  const float loss_after = evaluate_loss();
  const double recall_after = recall_at_1(model->forward(inputs), labels);
  std::printf("loss %.4f -> %.4f, Recall@1 %.3f -> %.3f\n", loss_before, loss_after,
              recall_before, recall_after);
  const bool improved = loss_after < loss_before && recall_after >= recall_before;
  if (!improved) std::fprintf(stderr, "error: training did not improve the model\n");
  return improved ? 0 : 1;
}
