// SPDX-License-Identifier: MIT
// The sharded criterion against the single-process one (itself checked against direct
// formulas and finite differences in test_el_nivmf_loss.cpp), with R ranks emulated by
// threads of this process. The same comparison runs across MPI processes in tests/mpi.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/losses/communicator.hpp>
#include <pdml/losses/sharded_el_nivmf_loss.hpp>

#include "sharded_case.hpp"
#include "thread_communicator.hpp"

using namespace pdml_test;

namespace {

using Sharded = pdml::ShardedElNivmfLoss<double>;
using Mat = pdml::RowMajorMatrix<double>;

template <class M>
auto cview(const M& m) {
  return const_view_of(m);
}
template <class M>
auto mview(M& m) {
  return view_of_dense(m);
}

std::vector<pdml::ClassShard> shards_from(const std::vector<pdml::Index>& bounds) {
  std::vector<pdml::ClassShard> shards;
  for (std::size_t r = 0; r + 1 < bounds.size(); ++r) {
    shards.push_back({bounds[r], bounds[r + 1], bounds.back()});
  }
  return shards;
}

std::vector<pdml::ClassShard> even_shards(pdml::Index total, int ranks) {
  std::vector<pdml::ClassShard> shards;
  for (int r = 0; r < ranks; ++r) shards.push_back(pdml::even_class_shard(total, r, ranks));
  return shards;
}

template <class T>
std::vector<CriterionResult<T>> run_ranks(const typename pdml::ShardedElNivmfLoss<T>::Options& o,
                                          const ShardedCase<T>& c,
                                          const std::vector<pdml::ClassShard>& shards) {
  ThreadGroup group(static_cast<int>(shards.size()));
  std::vector<CriterionResult<T>> results(shards.size());
  group.run([&](int rank) {
    ThreadCommunicator communicator{&group, rank};
    results[static_cast<std::size_t>(rank)] =
        run_shard(o, c, shards[static_cast<std::size_t>(rank)], communicator);
  });
  return results;
}

}  // namespace

TEST_CASE("ShardedElNivmfLoss equals the single-process criterion (ranks as threads)",
          "[losses][sharded]") {
  const pdml::Index classes = 37, batch = 12, dim = 8;
  const std::vector<std::vector<pdml::ClassShard>> layouts = {
      even_shards(classes, 1),
      even_shards(classes, 2),
      shards_from({0, 3, 37}),
      even_shards(classes, 3),
      shards_from({0, 20, 21, 37}),
      even_shards(classes, 4),
      shards_from({0, 1, 5, 30, 37}),
  };
  double worst = 0;
  int runs = 0;
  for (const bool narrow_labels : {false, true}) {
    // Narrow: every label in [0, 4), so most shards own no label of the batch.
    const auto c = make_sharded_case<double>(11, batch, classes, dim, 0, narrow_labels ? 4 : classes);
    for (const double guidance : {0.0, 0.3}) {
      for (const auto scoring : {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
        Sharded::Options o;
        o.criterion.n_samples = 3;
        o.criterion.guidance_weight = guidance;
        o.criterion.scoring = scoring;
        const auto reference = single_process<double>(o.criterion, c);
        for (const pdml::Index block : {pdml::Index(3), pdml::Index(1000)}) {
          o.block_classes = block;
          for (const auto& shards : layouts) {
            const auto results = run_ranks<double>(o, c, shards);
            for (std::size_t r = 0; r < shards.size(); ++r) {
              const double diff = worst_shard_difference(results[r], reference, shards[r]);
              INFO("ranks " << shards.size() << " rank " << r << " [" << shards[r].first << ", "
                            << shards[r].end << ") block " << block << " guidance " << guidance
                            << " exact " << (scoring == pdml::NivmfScoring::exact_density)
                            << " narrow labels " << narrow_labels << ": " << diff);
              CHECK(diff <= 1e-12);
              worst = std::max(worst, diff);
              // Every rank returns the same loss and the same summed gradients, bit for bit.
              CHECK(results[r].loss == results[0].loss);
              CHECK(results[r].grad_temperature == results[0].grad_temperature);
              CHECK(results[r].grad_embeddings == results[0].grad_embeddings);
            }
            ++runs;
          }
        }
      }
    }
  }
  INFO("worst relative difference over " << runs << " runs: " << worst);
  CHECK(runs == 2 * 2 * 2 * 2 * 7);
}

TEST_CASE("ShardedElNivmfLoss in float agrees with the single-process float criterion",
          "[losses][sharded]") {
  const auto c = make_sharded_case<float>(12, 10, 23, 6, 0, 23);
  pdml::ShardedElNivmfLoss<float>::Options o;
  o.criterion.n_samples = 4;
  o.criterion.guidance_weight = 0.3f;
  o.block_classes = 4;
  const auto reference = single_process<float>(o.criterion, c);
  const auto shards = shards_from({0, 2, 15, 23});
  const auto results = run_ranks<float>(o, c, shards);
  for (std::size_t r = 0; r < shards.size(); ++r) {
    const double diff = worst_shard_difference(results[r], reference, shards[r]);
    INFO("rank " << r << ": " << diff);
    CHECK(diff <= 1e-4);  // float rounding of differently ordered sums
  }
}

TEST_CASE("ShardedElNivmfLoss with one rank and SingleProcessCommunicator; Saved reuse",
          "[losses][sharded]") {
  const auto c = make_sharded_case<double>(13, 9, 17, 5, 0, 17);
  Sharded::Options o;
  o.criterion.guidance_weight = 0.5;
  o.block_classes = 5;  // blocks 5, 5, 5, 2
  const auto reference = single_process<double>(o.criterion, c);
  pdml::SingleProcessCommunicator communicator;
  const pdml::ClassShard all{0, 17, 17};
  const auto first = run_shard(o, c, all, communicator);
  CHECK(worst_shard_difference(first, reference, all) <= 1e-12);

  // Two steps through one Saved: the second equals a fresh run.
  const Sharded loss(o);
  Sharded::Saved saved;
  Mat ge(9, 5), gv(17, 5), gk(17, 5);
  double gt = 0;
  for (int step = 0; step < 2; ++step) {
    const double value =
        loss.forward(cview(c.embeddings), c.labels.data(), cview(c.proxies), cview(c.kappas),
                     c.temperature, c.key, all, communicator, saved);
    loss.backward(saved, 1.3, cview(c.proxies), cview(c.kappas), mview(ge), mview(gv), mview(gk),
                  &gt, communicator);
    CHECK(value == first.loss);
    CHECK(ge == first.grad_embeddings);
    CHECK(gv == first.grad_proxies);
    CHECK(gk == first.grad_kappas);
    CHECK(gt == first.grad_temperature);
  }
}

TEST_CASE("even_class_shard covers the classes with sizes differing by at most one",
          "[losses][sharded]") {
  for (const pdml::Index total : {pdml::Index(1), pdml::Index(7), pdml::Index(1000003)}) {
    for (int ranks = 1; ranks <= std::min<pdml::Index>(total, 9); ++ranks) {
      pdml::Index next = 0, smallest = total, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto s = pdml::even_class_shard(total, r, ranks);
        CHECK(s.first == next);
        CHECK(s.total == total);
        next = s.end;
        smallest = std::min(smallest, s.size());
        largest = std::max(largest, s.size());
      }
      CHECK(next == total);
      CHECK(largest - smallest <= 1);
      CHECK(smallest >= 1);
    }
  }
  CHECK_THROWS_AS(pdml::even_class_shard(3, 0, 4), std::invalid_argument);
  CHECK_THROWS_AS(pdml::even_class_shard(8, 4, 4), std::invalid_argument);
  CHECK_THROWS_AS(pdml::even_class_shard(8, -1, 4), std::invalid_argument);
  CHECK_THROWS_AS(pdml::even_class_shard(8, 0, 0), std::invalid_argument);
}

TEST_CASE("ShardedElNivmfLoss rejects bad input before writing anything", "[losses][sharded]") {
  const auto c = make_sharded_case<double>(14, 6, 10, 4, 0, 10);
  Sharded::Options o;
  o.criterion.guidance_weight = 0.2;
  {
    Sharded::Options bad = o;
    bad.block_classes = 0;
    CHECK_THROWS_AS(Sharded(bad), std::invalid_argument);
    bad = o;
    bad.criterion.n_samples = 0;
    CHECK_THROWS_AS(Sharded(bad), std::invalid_argument);
    // Single-process-only options are refused by name, not ignored.
    auto refuses = [](const Sharded::Options& options, const std::string& name) {
      try {
        Sharded refused(options);
        FAIL("accepted " << name);
      } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find(name) != std::string::npos);
      }
    };
    bad = o;
    bad.criterion.reduction = pdml::Reduction::sum;
    refuses(bad, "options.criterion.reduction");
    bad = o;
    bad.criterion.ignore_label = -1;
    refuses(bad, "options.criterion.ignore_label");
    bad = o;
    bad.criterion.log_temperature = true;
    refuses(bad, "options.criterion.log_temperature");
    bad = o;
    bad.criterion.gradients = pdml::GradientMode::accumulate;
    refuses(bad, "options.criterion.gradients");
  }
  const Sharded loss(o);
  pdml::SingleProcessCommunicator comm;
  const pdml::ClassShard shard{4, 7, 10};
  const Mat v = c.proxies.middleRows(4, 3), k = c.kappas.middleRows(4, 3);
  auto forward = [&](pdml::ClassShard s, const Mat& proxies, const Mat& kappas,
                     const std::vector<std::int64_t>& labels, double t) {
    Sharded::Saved saved;
    try {
      loss.forward(cview(c.embeddings), labels.data(), cview(proxies), cview(kappas), t, c.key,
                   s, comm, saved);
    } catch (const std::invalid_argument&) {
      CHECK(saved.batch == 0);  // nothing written
      CHECK(saved.samples.size() == 0);
      throw;
    }
  };
  CHECK_NOTHROW(forward(shard, v, k, c.labels, 0.5));
  CHECK_THROWS_AS(forward({4, 4, 10}, v, k, c.labels, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(forward({5, 4, 10}, v, k, c.labels, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(forward({8, 11, 10}, v, k, c.labels, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(forward({-1, 2, 10}, v, k, c.labels, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(forward({4, 8, 10}, v, k, c.labels, 0.5), std::invalid_argument);  // rows
  CHECK_THROWS_AS(forward(shard, v, c.kappas, c.labels, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(forward(shard, v, k, c.labels, 0.0), std::invalid_argument);
  auto labels = c.labels;
  labels[2] = 10;  // outside [0, total)
  CHECK_THROWS_AS(forward(shard, v, k, labels, 0.5), std::invalid_argument);
  Mat zero_row = v;
  zero_row.row(1).setZero();
  CHECK_THROWS_AS(forward(shard, zero_row, k, c.labels, 0.5), std::invalid_argument);
  try {
    forward({4, 4, 10}, v, k, c.labels, 0.5);
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("shard") != std::string::npos);
  }

  Sharded::Saved saved;
  Mat ge(6, 4), gv(3, 4), gk(3, 4);
  ge.setConstant(7);
  gv.setConstant(7);
  gk.setConstant(7);
  double gt = 7;
  CHECK_THROWS_AS(loss.backward(saved, 1.0, cview(v), cview(k), mview(ge), mview(gv), mview(gk),
                                &gt, comm),
                  std::invalid_argument);  // no forward pass
  loss.forward(cview(c.embeddings), c.labels.data(), cview(v), cview(k), 0.5, c.key, shard, comm,
               saved);
  Mat gv_wrong(4, 4);
  CHECK_THROWS_AS(loss.backward(saved, 1.0, cview(v), cview(k), mview(ge), mview(gv_wrong),
                                mview(gk), &gt, comm),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss.backward(saved, 1.0, cview(c.proxies), cview(k), mview(ge), mview(gv),
                                mview(gk), &gt, comm),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss.backward(saved, std::nan(""), cview(v), cview(k), mview(ge), mview(gv),
                                mview(gk), &gt, comm),
                  std::invalid_argument);
  CHECK((ge.array() == 7).all());
  CHECK((gv.array() == 7).all());
  CHECK((gk.array() == 7).all());
  CHECK(gt == 7);
}
