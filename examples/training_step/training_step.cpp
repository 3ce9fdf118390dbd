// SPDX-License-Identifier: MIT
// One training loop with pdml::ElNivmfLoss (docs/api.md quotes this file verbatim).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <pdml/losses/el_nivmf_loss.hpp>

int main() {
  using Matrix = pdml::RowMajorMatrix<float>;
  const int batch = 32, classes = 8, dim = 64;
  // Stand-in for a network's output: embeddings are vMF natural parameters (B x D).
  Matrix embeddings = 10.0f * Matrix::Random(batch, dim);
  std::vector<std::int64_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % classes;
  // Parameters of the loss: proxy vectors and per-dimension concentrations (C x D).
  Matrix proxies = Matrix::Random(classes, dim), kappas = Matrix::Constant(classes, dim, 10.0f);
  // The temperature is learned through its logarithm (T = exp(log_temperature)): plain
  // SGD on T itself diverges at this learning rate (docs/api.md, "Learning the temperature").
  float log_temperature = std::log(0.1f);

  pdml::ElNivmfLoss<float>::Options options;  // S = 5 samples, paper's scoring rule
  options.guidance_weight = 1.0f;             // add the ProxyAnchor term
  options.log_temperature = true;             // forward takes log T, backward gives dL/dlog T
  const pdml::ElNivmfLoss<float> loss(options);
  pdml::ElNivmfLoss<float>::Saved saved;      // reused: no allocation after step 0
  Matrix grad_embeddings(batch, dim), grad_proxies(classes, dim), grad_kappas(classes, dim);
  float grad_log_temperature = 0, first = 0, last = 0;
  const float learning_rate = 0.05f;
  for (std::uint64_t step = 0; step < 100; ++step) {
    const float value = loss.forward(pdml::view_of(embeddings), labels.data(),
                                     pdml::view_of(proxies), pdml::view_of(kappas),
                                     log_temperature, pdml::RngKey{2022, step}, saved);
    loss.backward(saved, 1.0f, pdml::view_of(grad_embeddings), pdml::view_of(grad_proxies),
                  pdml::view_of(grad_kappas), &grad_log_temperature);
    // A network would backpropagate grad_embeddings; here SGD updates everything directly.
    embeddings -= learning_rate * grad_embeddings;
    proxies -= learning_rate * grad_proxies;
    kappas -= learning_rate * grad_kappas;
    log_temperature -= learning_rate * grad_log_temperature;
    if (step == 0) first = value;
    last = value;
  }
  std::printf("loss: step 0 %.4f, step 99 %.4f\n", first, last);
  return last < first ? 0 : 1;  // run as a test: training must reduce the loss
}
