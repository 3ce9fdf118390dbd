// SPDX-License-Identifier: MIT
// The LibTorch adapter: autograd gradients equal pdml's backward, agree with finite
// differences, and optimizer steps on a LibTorch model reduce the loss.
// LibTorch first: its glog defines a CHECK macro that must not shadow Catch2's.
#include "pdml_torch.hpp"
#undef CHECK

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace {

struct Problem {
  torch::Tensor embeddings, labels, proxies, kappas, temperature;
};

Problem make_problem(torch::ScalarType dtype, std::int64_t b = 12, std::int64_t c = 4,
                     std::int64_t d = 16) {
  torch::manual_seed(7);
  const auto o = torch::TensorOptions().dtype(dtype);
  Problem p;
  p.labels = torch::arange(b, torch::kInt64).remainder(c);
  p.proxies = torch::randn({c, d}, o);
  // Embeddings near their class proxy, norms (concentrations) between 5 and 20.
  p.embeddings = (p.proxies.index_select(0, p.labels) + 0.7 * torch::randn({b, d}, o)) *
                 (5 + 15 * torch::rand({b, 1}, o));
  p.kappas = 2 + 3 * torch::rand({c, d}, o);
  p.temperature = torch::tensor(0.5, o);
  for (auto* t : {&p.embeddings, &p.proxies, &p.kappas, &p.temperature}) t->requires_grad_(true);
  return p;
}

pdml_torch::ElNivmfOptions guided_options() {
  pdml_torch::ElNivmfOptions options;
  options.n_samples = 4;
  options.guidance_weight = 0.3;
  return options;
}

torch::Tensor loss_of(const Problem& p, const pdml_torch::ElNivmfOptions& options,
                      pdml::RngKey rng) {
  return pdml_torch::el_nivmf_loss(p.embeddings, p.labels, p.proxies, p.kappas, p.temperature,
                                   options, rng);
}

double max_abs_diff(const torch::Tensor& a, const double* b) {
  auto ac = a.contiguous();
  double worst = 0;
  for (std::int64_t i = 0; i < ac.numel(); ++i) {
    worst = std::max(worst, std::abs(ac.data_ptr<double>()[i] - b[i]));
  }
  return worst;
}

}  // namespace

TEST_CASE("LibTorch autograd gradients equal pdml's backward", "[torch]") {
  Problem p = make_problem(torch::kFloat64);
  const auto options = guided_options();
  const pdml::RngKey rng{2024, 3};
  auto loss = loss_of(p, options, rng);
  loss.backward();

  // The same criterion called directly through pdml.
  using Loss = pdml::ElNivmfLoss<double>;
  const Loss direct(pdml_torch::detail::convert<double>(options));
  Loss::Saved saved;
  auto e = p.embeddings.detach().contiguous();
  auto v = p.proxies.detach().contiguous();
  auto k = p.kappas.detach().contiguous();
  const double value = direct.forward(pdml_torch::detail::const_view<double>(e),
                                      p.labels.data_ptr<std::int64_t>(),
                                      pdml_torch::detail::const_view<double>(v),
                                      pdml_torch::detail::const_view<double>(k), 0.5, rng, saved);
  std::vector<double> ge(static_cast<std::size_t>(e.numel())), gv(static_cast<std::size_t>(v.numel())),
      gk(static_cast<std::size_t>(k.numel()));
  double gt = 0;
  direct.backward(saved, 1.0, pdml::MatrixView<double>{ge.data(), e.size(0), e.size(1), e.size(1)},
                  pdml::MatrixView<double>{gv.data(), v.size(0), v.size(1), v.size(1)},
                  pdml::MatrixView<double>{gk.data(), k.size(0), k.size(1), k.size(1)}, &gt);

  CHECK(loss.item<double>() == value);
  CHECK(max_abs_diff(p.embeddings.grad(), ge.data()) == 0.0);
  CHECK(max_abs_diff(p.proxies.grad(), gv.data()) == 0.0);
  CHECK(max_abs_diff(p.kappas.grad(), gk.data()) == 0.0);
  CHECK(p.temperature.grad().item<double>() == gt);
}

// With a fixed key the loss is a smooth function of every input, and the gradient is
// exact for the directions mu_i, the proxies, the concentrations and the temperature. The
// radial (kappa_i) part of the embedding gradient is the implicit-reparameterization
// gradient, which is exact in expectation but couples the random numbers differently from
// the sampler's proposal transform, so it is checked separately below.
TEST_CASE("LibTorch gradients agree with central finite differences", "[torch]") {
  Problem p = make_problem(torch::kFloat64);
  const auto options = guided_options();
  const pdml::RngKey rng{99, 0};
  auto loss = loss_of(p, options, rng);
  loss.backward();

  torch::manual_seed(11);
  const double h = 1e-6;
  for (auto* param : {&p.embeddings, &p.proxies, &p.kappas, &p.temperature}) {
    for (int trial = 0; trial < 3; ++trial) {
      auto direction = torch::randn_like(*param);
      if (param == &p.embeddings) {  // tangent to each row's sphere: kappa_i fixed
        const auto e = p.embeddings.detach();
        direction -= (direction * e).sum(1, true) / (e * e).sum(1, true) * e;
      }
      const double analytic = (param->grad() * direction).sum().item<double>();
      double plus = 0, minus = 0;
      {
        torch::NoGradGuard no_grad;
        param->add_(h * direction);
        plus = loss_of(p, options, rng).item<double>();
        param->sub_(2 * h * direction);
        minus = loss_of(p, options, rng).item<double>();
        param->add_(h * direction);
      }
      const double numeric = (plus - minus) / (2 * h);
      INFO("parameter " << (param - &p.embeddings) << " analytic " << analytic << " numeric "
                         << numeric);
      CHECK(std::abs(analytic - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
    }
  }
}

// d/dt E[L(e + t r)] along the radial direction r (kappa_i changes): the mean of the
// analytic derivative over many keys against the finite difference of the mean loss over
// the same keys. The step h is large on purpose: with a fixed key, a tiny step never flips
// a rejection-sampling decision, and the finite difference would then reproduce the
// biased pathwise-through-the-proposal gradient; a larger step captures the flips, at a
// bias of O(h^2). The threshold is 4 standard errors of the per-key difference.
TEST_CASE("LibTorch radial embedding gradients are unbiased", "[torch]") {
  Problem p = make_problem(torch::kFloat64, 8, 3, 8);
  const auto options = guided_options();
  const auto radial = p.embeddings.detach() / p.embeddings.detach().norm(2, 1, true);
  const double h = 0.1;
  const int keys = 3000;
  double sum = 0, sum_sq = 0, sum_analytic = 0;
  for (int key = 0; key < keys; ++key) {
    const pdml::RngKey rng{12345, static_cast<std::uint64_t>(key)};
    p.embeddings.mutable_grad() = torch::Tensor();
    loss_of(p, options, rng).backward();
    const double analytic = (p.embeddings.grad() * radial).sum().item<double>();
    double plus = 0, minus = 0;
    {
      torch::NoGradGuard no_grad;
      p.embeddings.add_(h * radial);
      plus = loss_of(p, options, rng).item<double>();
      p.embeddings.sub_(2 * h * radial);
      minus = loss_of(p, options, rng).item<double>();
      p.embeddings.add_(h * radial);
    }
    const double difference = analytic - (plus - minus) / (2 * h);
    sum += difference;
    sum_sq += difference * difference;
    sum_analytic += analytic;
  }
  const double mean = sum / keys;
  const double standard_error = std::sqrt((sum_sq / keys - mean * mean) / (keys - 1));
  INFO("mean radial derivative " << sum_analytic / keys << ", mean difference " << mean
                                 << " +- " << standard_error);
  CHECK(std::abs(mean) <= 4 * standard_error + 1e-9);
}

TEST_CASE("float32 tensors work and bad arguments are rejected", "[torch]") {
  Problem p = make_problem(torch::kFloat32);
  auto loss = loss_of(p, guided_options(), pdml::RngKey{1, 0});
  loss.backward();
  CHECK(std::isfinite(loss.item<float>()));
  CHECK(torch::isfinite(p.embeddings.grad()).all().item<bool>());

  Problem q = make_problem(torch::kFloat64);
  auto bad_labels = q.labels.clone();
  bad_labels[0] = 99;
  CHECK_THROWS_AS(pdml_torch::el_nivmf_loss(q.embeddings, bad_labels, q.proxies, q.kappas,
                                            q.temperature, guided_options(), pdml::RngKey{1, 0}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml_torch::el_nivmf_loss(q.embeddings, q.labels, q.proxies.to(torch::kFloat32),
                                            q.kappas, q.temperature, guided_options(),
                                            pdml::RngKey{1, 0}),
                  std::invalid_argument);
}

TEST_CASE("Adam steps on a LibTorch model reduce the EL-nivMF loss", "[torch]") {
  torch::manual_seed(3);
  const std::int64_t b = 32, c = 4, in = 10, d = 8;
  auto labels = torch::arange(b, torch::kInt64).remainder(c);
  auto centers = 2 * torch::randn({c, in});
  auto inputs = centers.index_select(0, labels) + torch::randn({b, in});
  torch::nn::Linear model(in, d);
  auto proxies = torch::randn({c, d}).requires_grad_(true);
  auto kappas = torch::full({c, d}, 3.0).requires_grad_(true);
  auto temperature = torch::tensor(1.0f).requires_grad_(true);
  std::vector<torch::Tensor> params = model->parameters();
  params.insert(params.end(), {proxies, kappas, temperature});
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(0.05));
  const auto options = guided_options();
  const pdml::RngKey eval_key{5, 0};
  auto evaluate = [&] {
    torch::NoGradGuard no_grad;
    return pdml_torch::el_nivmf_loss(model->forward(inputs), labels, proxies, kappas,
                                     temperature, options, eval_key)
        .item<float>();
  };
  const float before = evaluate();
  for (std::uint64_t step = 0; step < 40; ++step) {
    optimizer.zero_grad();
    auto loss = pdml_torch::el_nivmf_loss(model->forward(inputs), labels, proxies, kappas,
                                          temperature, options, pdml::RngKey{17, step});
    loss.backward();
    optimizer.step();
  }
  const float after = evaluate();
  INFO("loss before " << before << " after " << after);
  CHECK(after < 0.5f * before);
}
