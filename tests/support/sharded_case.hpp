// SPDX-License-Identifier: MIT
#pragma once
// Shared by the sharded-criterion tests (in-process ranks in tests/losses, MPI ranks in
// tests/mpi): one batch and one set of classes, the single-process criterion's loss and
// gradients on all classes, one shard's results, and their relative differences.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/sharded_el_nivmf_loss.hpp>

namespace pdml_test {

template <class T>
struct ShardedCase {
  pdml::RowMajorMatrix<T> embeddings, proxies, kappas;  // B x D, C x D, C x D
  std::vector<std::int64_t> labels;
  T temperature = T(0.5);
  pdml::RngKey key{2022, 7};
};

/// Labels drawn from [label_first, label_end) (a narrow range leaves shards without labels).
template <class T>
ShardedCase<T> make_sharded_case(std::uint64_t seed, pdml::Index batch, pdml::Index classes,
                                 pdml::Index dim, std::int64_t label_first,
                                 std::int64_t label_end) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.5, 4.0);
  std::uniform_int_distribution<std::int64_t> label(label_first, label_end - 1);
  ShardedCase<T> c;
  c.embeddings.resize(batch, dim);
  c.proxies.resize(classes, dim);
  c.kappas.resize(classes, dim);
  for (pdml::Index i = 0; i < c.embeddings.size(); ++i) {
    c.embeddings.data()[i] = T(3.0 * normal(rng));
  }
  for (pdml::Index i = 0; i < c.proxies.size(); ++i) c.proxies.data()[i] = T(normal(rng));
  for (pdml::Index i = 0; i < c.kappas.size(); ++i) c.kappas.data()[i] = T(uniform(rng));
  // A few concentrations below the clamp, so that masked gradients are compared too.
  c.kappas(0, 0) = T(0.05);
  c.kappas(classes - 1, dim - 1) = T(0.01);
  c.labels.resize(static_cast<std::size_t>(batch));
  for (auto& y : c.labels) y = label(rng);
  return c;
}

template <class T>
struct CriterionResult {
  T loss = 0;
  pdml::RowMajorMatrix<T> grad_embeddings, grad_proxies, grad_kappas;
  T grad_temperature = 0;
};

template <class M>
pdml::ConstMatrixView<typename M::Scalar> const_view_of(const M& m) {
  return pdml::ConstMatrixView<typename M::Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}
template <class M>
pdml::MatrixView<typename M::Scalar> view_of_dense(M& m) {
  return pdml::MatrixView<typename M::Scalar>{m.data(), m.rows(), m.cols(), m.cols()};
}

/// The single-process criterion on all classes, grad_loss = 1.3.
template <class T>
CriterionResult<T> single_process(const typename pdml::ElNivmfLoss<T>::Options& options,
                                  const ShardedCase<T>& c) {
  const pdml::ElNivmfLoss<T> loss(options);
  typename pdml::ElNivmfLoss<T>::Saved saved;
  CriterionResult<T> r;
  r.loss = loss.forward(const_view_of(c.embeddings), c.labels.data(), const_view_of(c.proxies),
                        const_view_of(c.kappas), c.temperature, c.key, saved);
  r.grad_embeddings.resize(c.embeddings.rows(), c.embeddings.cols());
  r.grad_proxies.resize(c.proxies.rows(), c.proxies.cols());
  r.grad_kappas.resize(c.kappas.rows(), c.kappas.cols());
  loss.backward(saved, T(1.3), view_of_dense(r.grad_embeddings), view_of_dense(r.grad_proxies),
                view_of_dense(r.grad_kappas), &r.grad_temperature);
  return r;
}

/// One rank's sharded forward and backward (grad_loss = 1.3); collective over communicator.
/// The proxies and kappas of the shard are copied into a matrix with a wider stride, so that
/// strided views are exercised.
template <class T, class Communicator>
CriterionResult<T> run_shard(const typename pdml::ShardedElNivmfLoss<T>::Options& options,
                             const ShardedCase<T>& c, pdml::ClassShard shard,
                             Communicator& communicator) {
  const pdml::ShardedElNivmfLoss<T> loss(options);
  typename pdml::ShardedElNivmfLoss<T>::Saved saved;
  const pdml::Index n = shard.size(), d = c.proxies.cols();
  pdml::RowMajorMatrix<T> local(n, 2 * d + 1);  // proxies | kappas | padding
  local.leftCols(d) = c.proxies.middleRows(shard.first, n);
  local.middleCols(d, d) = c.kappas.middleRows(shard.first, n);
  local.col(2 * d).setConstant(T(-1));
  const pdml::ConstMatrixView<T> proxies{local.data(), n, d, 2 * d + 1};
  const pdml::ConstMatrixView<T> kappas{local.data() + d, n, d, 2 * d + 1};
  CriterionResult<T> r;
  r.loss = loss.forward(const_view_of(c.embeddings), c.labels.data(), proxies, kappas,
                        c.temperature, c.key, shard, communicator, saved);
  r.grad_embeddings.resize(c.embeddings.rows(), c.embeddings.cols());
  r.grad_proxies.resize(n, d);
  r.grad_kappas.resize(n, d);
  loss.backward(saved, T(1.3), proxies, kappas, view_of_dense(r.grad_embeddings),
                view_of_dense(r.grad_proxies), view_of_dense(r.grad_kappas),
                &r.grad_temperature, communicator);
  return r;
}

/// max |a - b| / max |b| (b the reference); 0 when both are exactly 0.
template <class A, class B>
double max_relative(const A& a, const B& b) {
  const double scale = static_cast<double>(b.cwiseAbs().maxCoeff());
  const double diff = static_cast<double>((a - b).cwiseAbs().maxCoeff());
  if (scale == 0) return diff == 0 ? 0.0 : INFINITY;
  return diff / scale;
}

inline double scalar_relative(double a, double b) {
  const double scale = std::abs(b);
  if (scale == 0) return a == 0 ? 0.0 : INFINITY;
  return std::abs(a - b) / scale;
}

/// The largest relative difference between one shard's results and the single-process ones:
/// loss, embedding and temperature gradients (full, summed over shards) and the shard's rows
/// of the proxy and concentration gradients.
template <class T>
double worst_shard_difference(const CriterionResult<T>& shard_result,
                              const CriterionResult<T>& reference, pdml::ClassShard shard) {
  const pdml::Index n = shard.size();
  double worst = scalar_relative(double(shard_result.loss), double(reference.loss));
  worst = std::max(worst, max_relative(shard_result.grad_embeddings, reference.grad_embeddings));
  worst = std::max(worst, scalar_relative(double(shard_result.grad_temperature),
                                          double(reference.grad_temperature)));
  worst = std::max(worst, max_relative(shard_result.grad_proxies,
                                       reference.grad_proxies.middleRows(shard.first, n)));
  worst = std::max(worst, max_relative(shard_result.grad_kappas,
                                       reference.grad_kappas.middleRows(shard.first, n)));
  return worst;
}

}  // namespace pdml_test
