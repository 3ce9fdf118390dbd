// SPDX-License-Identifier: MIT
// Retrieval evaluation: the blocked exact search (bounded memory) against the
// naive full-matrix peer (one N x N product, then a partial sort per row), in
// the same run, float, one thread under scripts/bench. (Results leave the loop
// through counters: benchmark 1.7's DoNotOptimize on a double can clobber it.)

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <Eigen/Core>

#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/retrieval.hpp>

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Data {
  Matrix x;
  std::vector<std::int64_t> labels;
};

// Unit-norm rows around 100 class centres (a realistic retrieval geometry).
const Data& data(pdml::Index n, pdml::Index d) {
  static std::vector<std::pair<std::pair<pdml::Index, pdml::Index>, Data>> cache;
  for (auto& entry : cache) {
    if (entry.first == std::make_pair(n, d)) return entry.second;
  }
  std::mt19937_64 engine(1);
  std::normal_distribution<float> normal;
  Matrix centres(100, d);
  for (pdml::Index i = 0; i < centres.size(); ++i) centres.data()[i] = normal(engine);
  Data out;
  out.x.resize(n, d);
  out.labels.resize(static_cast<std::size_t>(n));
  for (pdml::Index i = 0; i < n; ++i) {
    out.labels[static_cast<std::size_t>(i)] = i % 100;
    for (pdml::Index c = 0; c < d; ++c) out.x(i, c) = centres(i % 100, c) + 1.5f * normal(engine);
    out.x.row(i).normalize();
  }
  cache.emplace_back(std::make_pair(n, d), std::move(out));
  return cache.back().second;
}

void BM_RecallBlocked(benchmark::State& state) {
  const Data& d = data(state.range(0), 128);
  pdml::RetrievalOptions options;
  options.recall_ks = {1, 2, 4, 8};
  options.compute_map_at_r = false;
  double r1 = 0;
  for (auto _ : state) {
    const auto m = pdml::evaluate_retrieval(
        pdml::ConstMatrixView<float>{d.x.data(), d.x.rows(), d.x.cols(), d.x.cols()},
        d.labels.data(), options);
    r1 = m.recall_at_k[0];
    benchmark::DoNotOptimize(m.recall_at_k.data());
    benchmark::ClobberMemory();
  }
  state.counters["recall_at_1"] = r1;
}

// The naive peer: the whole N x N similarity matrix at once (N^2 floats), then
// for every row a partial sort of the 8 best other rows.
void BM_RecallFullMatrix(benchmark::State& state) {
  const Data& d = data(state.range(0), 128);
  const pdml::Index n = d.x.rows();
  double r1 = 0;
  for (auto _ : state) {
    Matrix sim(n, n);
    sim.noalias() = d.x * d.x.transpose();
    std::vector<std::int64_t> hits(4, 0);
    std::vector<pdml::Index> order(static_cast<std::size_t>(n));
    for (pdml::Index i = 0; i < n; ++i) {
      sim(i, i) = -std::numeric_limits<float>::infinity();
      std::iota(order.begin(), order.end(), pdml::Index(0));
      std::partial_sort(order.begin(), order.begin() + 8, order.end(),
                        [&](pdml::Index a, pdml::Index b) {
                          return sim(i, a) > sim(i, b) || (sim(i, a) == sim(i, b) && a < b);
                        });
      pdml::Index first = 8;
      for (pdml::Index r = 0; r < 8; ++r) {
        if (d.labels[static_cast<std::size_t>(order[static_cast<std::size_t>(r)])] ==
            d.labels[static_cast<std::size_t>(i)]) {
          first = r;
          break;
        }
      }
      const pdml::Index ks[4] = {1, 2, 4, 8};
      for (int t = 0; t < 4; ++t) hits[static_cast<std::size_t>(t)] += first < ks[t];
    }
    r1 = double(hits[0]) / double(n);
    benchmark::DoNotOptimize(hits.data());
    benchmark::ClobberMemory();
  }
  state.counters["recall_at_1"] = r1;
}

void BM_MapAtRBlocked(benchmark::State& state) {
  const Data& d = data(state.range(0), 128);
  pdml::RetrievalOptions options;
  options.recall_ks = {1};
  for (auto _ : state) {
    const auto m = pdml::evaluate_retrieval(
        pdml::ConstMatrixView<float>{d.x.data(), d.x.rows(), d.x.cols(), d.x.cols()},
        d.labels.data(), options);
    benchmark::DoNotOptimize(m.recall_at_k.data());
    benchmark::ClobberMemory();
    state.counters["map_at_r"] = m.map_at_r;
  }
}

void BM_KMeansNmi(benchmark::State& state) {
  const Data& d = data(state.range(0), 128);
  for (auto _ : state) {
    const double nmi = pdml::clustering_nmi(
        pdml::ConstMatrixView<float>{d.x.data(), d.x.rows(), d.x.cols(), d.x.cols()},
        d.labels.data());
    state.counters["nmi"] = nmi;
  }
}

}  // namespace

BENCHMARK(BM_RecallBlocked)->Arg(10000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecallFullMatrix)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MapAtRBlocked)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KMeansNmi)->Arg(20000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
