// SPDX-License-Identifier: MIT
#pragma once
// Shared by the consumer programs of tests/consumers/: one forward and backward of
// the EL-nivMF criterion (with the ProxyAnchor guidance term) on a small batch,
// through the installed headers, and a check that everything it returns is finite.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <pdml/pdml.hpp>

namespace consumer {

using Matrix = pdml::RowMajorMatrix<float>;

struct CriterionResult {
  float loss = 0;
  float grad_temperature = 0;
  Matrix grad_embeddings, grad_proxies, grad_kappas;
};

inline CriterionResult run_criterion(int batch, int classes, int dim) {
  Matrix embeddings(batch, dim), proxies(classes, dim), kappas(classes, dim);
  // Fixed, varied inputs (no RNG needed): embedding norms around 10, kappas in [5, 15].
  for (int i = 0; i < batch; ++i)
    for (int j = 0; j < dim; ++j) embeddings(i, j) = 10.0f * std::sin(0.7f * i + 1.3f * j + 0.1f);
  for (int c = 0; c < classes; ++c)
    for (int j = 0; j < dim; ++j) {
      proxies(c, j) = std::cos(0.9f * c + 0.4f * j);
      kappas(c, j) = 10.0f + 5.0f * std::sin(0.3f * c * dim + j);
    }
  std::vector<std::int64_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % classes;

  pdml::ElNivmfLoss<float>::Options options;
  options.guidance_weight = 0.5f;
  const pdml::ElNivmfLoss<float> loss(options);
  pdml::ElNivmfLoss<float>::Saved saved;
  CriterionResult result;
  result.grad_embeddings.resize(batch, dim);
  result.grad_proxies.resize(classes, dim);
  result.grad_kappas.resize(classes, dim);
  result.loss = loss.forward(pdml::view_of<float>(embeddings), labels.data(),
                             pdml::view_of<float>(proxies), pdml::view_of<float>(kappas),
                             /*temperature*/ 0.1f, pdml::RngKey{2022, 0}, saved);
  loss.backward(saved, 1.0f, pdml::view_of<float>(result.grad_embeddings),
                pdml::view_of<float>(result.grad_proxies), pdml::view_of<float>(result.grad_kappas),
                &result.grad_temperature);
  return result;
}

inline bool all_finite(const CriterionResult& r) {
  return std::isfinite(r.loss) && std::isfinite(r.grad_temperature) && r.grad_embeddings.allFinite() &&
         r.grad_proxies.allFinite() && r.grad_kappas.allFinite();
}

inline bool bitwise_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

/// Runs the criterion once and reports; the exit status of a consumer program.
inline int check_criterion(const char* consumer_name) {
  const CriterionResult r = run_criterion(16, 4, 32);
  const bool ok = all_finite(r) && r.grad_embeddings.squaredNorm() > 0;
  std::printf("%s: pdml %s, loss %.6f, |grad embeddings| %.6g: %s\n", consumer_name,
              PDML_VERSION_STRING, r.loss, r.grad_embeddings.norm(), ok ? "ok" : "NOT FINITE");
  return ok ? 0 : 1;
}

}  // namespace consumer
